"""Faults, done for real against the daemon (issue 16, "Faults"): SIGKILL in
the middle of a flood, state_dir on a full filesystem, the wall clock stepped
back, a policy file edited while a reload reads it, a job forking past the
tasks map, the fanotify queue overflowed. (The SIEM flapping for a minute is
test_faults_siem.py.) Each test prints one FIGURE line — records lost (0, or
counted and alerted), alerts delivered, recovery time — and asserts what a
user would check: the journal still verifies, the SIEM has every record once
per id, the outputs hold whole JSON lines."""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import FORK_PAST_MAP, Daemon, Listener, of_kind, overflow_fanotify, tamper, tamper_added  # noqa: E402

PY = "/usr/bin/python3"
FILE_LOSS = re.compile(r"could not write (\d+) records")


def figure(name, **values):
    """The line each fault test ends with (ctest -V shows it)."""
    print(f"\nFIGURE {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)


def status(d):
    r = d.cli("status", "--json")
    if r.returncode != 0:
        raise AssertionError(f"status failed: {r.stderr}")
    return json.loads(r.stdout)


def output(st, name):
    """The output called `name` (a file output without a name is called by its path)."""
    found = [o for o in st["sinks"] if name in (o["name"], os.path.basename(o.get("target", "")))]
    if not found:
        raise AssertionError(f"no output {name} in status: {st['sinks']}")
    return found[0]


def not_written(records, name):
    """What the loss alerts of file output `name` add up to ("could not write N records")."""
    return sum(int(m.group(1)) for a in tamper(records, f"/{name})") for m in [FILE_LOSS.search(a["message"])] if m)


def verify(d):
    """`ftsentinel verify` on the daemon's journal: (exit status, report)."""
    r = d.cli("verify", "--json")
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = r.stdout + r.stderr
    return r.returncode, rep


class Siem:
    """A SIEM stand-in on loopback: HTTP/1.1 POSTs of JSON (an array, or one
    object per line), every record kept as it arrived, resends included.
    `down()` closes the port and every connection (the daemon is refused);
    `up()` listens on the same port again. `delay` makes each answer slow."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.records = []
        self.posts = 0
        self.lock = threading.Lock()
        self.port = 0
        self.lsock = None
        self.conns = set()
        self.up()

    def url(self):
        return f"http://127.0.0.1:{self.port}/ingest"

    def is_up(self):
        return self.lsock is not None

    def up(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        with self.lock:
            self.lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def down(self):
        with self.lock:
            s, self.lsock = self.lsock, None
            conns, self.conns = self.conns, set()
        if s is None:
            return
        for c in [s, *conns]:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self):
        self.down()

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            with self.lock:
                if self.lsock is not s:
                    c.close()
                    return
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                length = 0
                while True:
                    h = f.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode().partition(":")
                    if k.strip().lower() == "content-length":
                        length = int(v)
                body = f.read(length)
                self._keep(body)
                if self.delay:
                    time.sleep(self.delay)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ValueError):
            return
        finally:
            with self.lock:
                self.conns.discard(c)
            c.close()

    def _keep(self, body):
        text = body.decode()
        recs = json.loads(text) if text.startswith("[") else [json.loads(l) for l in text.splitlines() if l]
        with self.lock:
            self.posts += 1
            self.records.extend(recs)

    def received(self):
        with self.lock:
            return list(self.records)


def resends(records):
    """(records sent more than once, [problems]): a record delivered twice must
    carry the same id both times, and two different records never share one,
    so a receiver that drops repeated ids loses nothing and keeps no copy."""
    by_id, by_body = {}, {}
    for r in records:
        key = (r.get("rule") is not None, r.get("id"))
        canon = json.dumps(r, sort_keys=True)
        by_id.setdefault(key, set()).add(canon)
        if "rule" not in r:  # an event: its content, less the id, is unique (pid, time)
            body = dict(r)
            body.pop("id", None)
            by_body.setdefault(json.dumps(body, sort_keys=True), set()).add(r.get("id"))
    problems = [f"id {k[1]} names {len(v)} different records: {sorted(v)[:2]}" for k, v in by_id.items() if len(v) > 1]
    problems += [f"one event under ids {sorted(v)}: {b[:300]}" for b, v in by_body.items() if len(v) > 1]
    return len(records) - len(by_id), problems


def test_alerts(records):
    """{n: id} of the `alert-test` alerts ("ftsentinel test alert n/N") among `records`."""
    out = {}
    for r in records:
        if r.get("rule") == "test-alert" and r["message"].startswith("ftsentinel test alert "):
            out.setdefault(int(r["message"].split()[3].split("/")[0]), set()).add(r["id"])
    return out


def siem_output(siem, extra=""):
    return (f'  - {{ type: http, name: siem, url: "{siem.url()}", retry_min_ms: 50, retry_max_ms: 400, '
            f'timeout_ms: 2000{extra} }}\n')


def job_loop(d, stop, policy="ft", body="/bin/true"):
    """A job running BODY in a loop until the file `stop` exists: a steady flood of
    fork/exec/exit records. Returns the `ftsentinel run` process."""
    return subprocess.Popen([harness.CLI, "--socket", d.socket, "run", "--policy", policy, "--", "/bin/sh", "-c",
                             f"while [ ! -e {stop} ]; do {body}; done"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def run_job(d, *argv, policy="ft", name=None):
    """`ftsentinel run` to its end: the job id."""
    r = subprocess.run([harness.CLI, "--socket", d.socket, "run", "--policy", policy,
                        *(["--name", name] if name else []), "--", *argv],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"run {argv}: {r.returncode}\n{r.stderr}")
    return r.stderr.split("job ")[1].split()[0]


def wait(pred, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class CrashTest(unittest.TestCase):
    """SIGKILL while a job floods and the SIEM is behind: the journal still
    verifies, the spool replays after the restart, and whatever the SIEM got
    twice came with the same id."""

    ALERTS = 3000

    def test_sigkill_in_a_flood(self):
        t = DataTree()
        siem = Siem(delay=0.03)  # a slow SIEM: the spool has a backlog when the daemon dies
        try:
            with Daemon({"ft.yaml": t.policy()}, extra_config=siem_output(siem, ", batch_max: 100, events: all")
                        + "journal: { seal_interval_seconds: 1 }\n") as d:
                self.kill_in_flood(d, siem)
        finally:
            siem.close()
            t.cleanup()

    def kill_in_flood(self, d, siem):
        stop = os.path.join(d.tmp, "stop")
        job = job_loop(d, stop)
        d.wait_for(lambda e: of_kind(e, "exec") or None, what="the job's first exec")
        r = d.cli("alert-test", "--count", str(self.ALERTS))
        self.assertEqual(r.returncode, 0, r.stderr)
        # Mid-delivery: the SIEM has some of the alerts, the spool the rest.
        wait(lambda: len(test_alerts(siem.received())) >= 300, 60, "300 test alerts at the SIEM")
        d.proc.kill()
        d.proc.wait()
        at_kill = len(test_alerts(siem.received()))
        self.assertLess(at_kill, self.ALERTS, "the spool had a backlog when the daemon died")
        restart = time.monotonic()
        d.start()
        got = wait(lambda: (lambda a: a if len(a) == self.ALERTS else None)(test_alerts(siem.received())), 120,
                   f"all {self.ALERTS} test alerts at the SIEM after the restart")
        recovery = time.monotonic() - restart
        open(stop, "w").close()
        job.wait(timeout=60)
        d.sync()
        wait(lambda: int(output(status(d), "siem").get("spooled", 0)) == 0, 60, "the spool drained")
        records = siem.received()
        dup, problems = resends(records)
        self.assertEqual(problems, [])
        self.assertEqual(sorted(got), list(range(1, self.ALERTS + 1)))
        self.assertEqual([n for n, ids in got.items() if len(ids) != 1], [], "each test alert under one id")
        events = [r for r in records if "rule" not in r and r.get("kind") in ("exec", "fork", "exit")]
        self.assertGreater(len(events), 0)
        # The journal survived the kill: every chain and seal verifies.
        rc, rep = verify(d)
        self.assertEqual(rc, 0, rep)
        figure("sigkill-in-a-flood", alerts_requested=self.ALERTS, alerts_at_siem_when_killed=at_kill,
               alerts_delivered=len(got), alerts_lost=self.ALERTS - len(got), resent_same_id=dup,
               job_events_delivered=len(events), recovery_s=f"{recovery:.2f}", journal_verify="intact")

def lines_of(path):
    """The JSON records of a JSON-lines file; fails on a line that is not JSON."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def of_job(records, job):
    return [r for r in records if "rule" not in r and r.get("job", {}).get("id") == job]


class FullDiskTest(unittest.TestCase):
    """state_dir on a filesystem that fills up (a 12 MiB tmpfs): the events
    file, the journal and the SIEM's spool cannot write. What is lost is
    counted and alerted (through an output on another filesystem, and to the
    SIEM once there is room), nothing is torn, and all of it writes again
    once space returns."""

    def test_state_dir_on_a_full_filesystem(self):
        t = DataTree()
        siem = Siem()
        elsewhere = tempfile.mkdtemp(prefix="fts-kt-else-")
        outside = os.path.join(elsewhere, "outside.jsonl")
        d = Daemon({"ft.yaml": t.policy()},
                   extra_config=f"  - {{ type: file, name: outside, path: {outside} }}\n"
                   + siem_output(siem, ", events: alerts") + "journal: { seal_interval_seconds: 1 }\n")
        state = os.path.join(d.tmp, "state")
        os.makedirs(state)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m,mode=0700", "fts-kt-full", state], check=True)
        try:
            with d:
                self.fill_and_free(d, state, siem, outside)
        finally:
            subprocess.run(["umount", "-l", state], check=False)
            subprocess.run(["rm", "-rf", d.tmp], check=False)
            siem.close()
            t.cleanup()
            subprocess.run(["rm", "-rf", elsewhere], check=False)

    def fill_and_free(self, d, state, siem, outside):
        ok_job = run_job(d, "/bin/true", name="room")
        d.sync()
        self.assertTrue(of_job(d.events(), ok_job), "the control: with room, the job is in the events file")
        filler = os.path.join(state, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * (1 << 16)) > 0:
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        full = run_job(d, "/bin/sh", "-c", "for i in $(seq 60); do /bin/true; done", name="full")
        d.sync()
        at_outside = of_job(lines_of(outside), full)
        self.assertGreater(len(at_outside), 100, "the other filesystem's output has the job")
        # Counted and alerted, through the output that can still write.
        al = wait(lambda: tamper(lines_of(outside), "events.jsonl) could not write") or None, 15,
                  "the events file's loss alert in the other output")
        jal = wait(lambda: tamper(lines_of(outside), "journal loss") or None, 15, "the journal's loss alert")
        st = status(d)
        dropped = int(output(st, "events.jsonl").get("dropped", 0))
        self.assertGreater(dropped, 0, st)
        self.assertIn("No space left on device", output(st, "events.jsonl").get("last_error", ""))
        self.assertGreater(int(st["journal"].get("dropped", 0)), 0, st["journal"])
        # Space returns: everything writes again.
        freed = time.monotonic()
        os.unlink(filler)
        after = run_job(d, "/bin/sh", "-c", "/bin/true; /bin/true", name="after")
        d.wait_for(lambda e: len(of_kind(of_job(e, after), "exec")) >= 3 or None, timeout=30,
                   what="the events file writing again")
        recovery = time.monotonic() - freed
        events = d.sync()
        in_file = of_job(events, full)
        lost = len(at_outside) - len(in_file)
        self.assertGreater(lost, 0, "the filesystem was full while the job ran")
        # Each loss reported once and in full (the last report lands once the file can take it).
        dropped = int(output(status(d), "events.jsonl")["dropped"])
        reported = wait(lambda: (lambda r: r if r == dropped else None)(not_written(lines_of(outside), "events.jsonl")),
                        15, f"loss reports adding up to {dropped}")
        self.assertGreaterEqual(reported, lost)
        # The SIEM's spool was on the full filesystem too: its alerts were held, not lost.
        alerts = {a["id"] for a in lines_of(outside) if "rule" in a}
        wait(lambda: alerts <= {r["id"] for r in siem.received()}, 30, "every alert at the SIEM")
        self.assertEqual(int(output(status(d), "siem").get("dropped", 0)), 0)
        rc, rep = verify(d)
        self.assertEqual(rc, 0, rep)
        review = d.cli("review", after, "--json")
        self.assertEqual(review.returncode, 0, review.stderr)
        figure("state-dir-full", job_records=len(at_outside), lost_in_events_file=lost,
               counted_dropped=reported, alerts_about_it=len(al) + len(jal), siem_alerts_delivered=len(alerts),
               siem_lost=0, recovery_s=f"{recovery:.2f}", journal_verify="intact")


class ClockStepTest(unittest.TestCase):
    """CLOCK_REALTIME stepped back (as ntpd -g or an operator's `date -s` does),
    then forward again: records carry the wall clock of the moment (as the
    host's other logs do), each record agrees with itself (a process never
    starts after its event), the ids keep their order, and the journal
    verifies and still reviews each job."""

    STEP = 30  # seconds back: small, so other tests' deadlines on this machine only stretch

    def test_wall_clock_stepped_back_and_restored(self):
        t = DataTree()
        try:
            with Daemon({"ft.yaml": t.policy()}, extra_config="journal: { seal_interval_seconds: 1 }\n") as d:
                self.step(d)
        finally:
            t.cleanup()

    def step(self, d):
        before = run_job(d, "/bin/true", name="before")
        d.sync()
        mono0, real0 = time.monotonic(), time.time()
        time.clock_settime(time.CLOCK_REALTIME, real0 - self.STEP)
        try:
            stepped_at = time.time()
            stepped = run_job(d, "/bin/sh", "-c", "/bin/true; /bin/true", name="stepped")
            d.cli("alert-test", "--count", "1", "--message", "during the step")
            d.sync()
            stepped_end = time.time()
        finally:
            time.clock_settime(time.CLOCK_REALTIME, real0 + (time.monotonic() - mono0))
        restored = time.time()
        after = run_job(d, "/bin/true", name="after")
        events = d.sync()
        ts = lambda r: datetime_s(r["time"])  # noqa: E731
        ids = [r["id"] for r in events if "rule" not in r]
        self.assertEqual(ids, sorted(ids), "event ids keep the order records were made in")
        self.assertEqual(len(ids), len(set(ids)))
        for job, lo, hi in ((stepped, stepped_at, stepped_end), (after, restored, time.time())):
            recs = of_job(events, job)
            self.assertTrue(recs)
            off = [(r["kind"], r["time"]) for r in recs if not lo - 2 <= ts(r) <= hi + 2]
            self.assertEqual(off, [], f"records of job {job} on the wall clock of their moment")
        for r in of_job(events, stepped) + of_job(events, after):
            if "start_time" in r.get("process", {}):
                self.assertLessEqual(datetime_s(r["process"]["start_time"]), ts(r) + 0.001,
                                     f"a process started after its own record: {r}")
        al = [a for a in events if a.get("message") == "during the step"]
        self.assertEqual(len(al), 1)
        self.assertLess(ts(al[0]), real0 - self.STEP + 5)
        rc, rep = verify(d)
        self.assertEqual(rc, 0, rep)
        for job in (before, stepped, after):
            rv = d.cli("review", job, "--timeline", "--json")
            self.assertEqual(rv.returncode, 0, rv.stderr)
            self.assertIn("exec", rv.stdout)
        figure("clock-stepped-back", step_s=self.STEP, records_lost=0, records_during_step=len(of_job(events, stepped)),
               alerts_delivered=len(al), journal_verify="intact", recovery_s="0 (each record on its own clock)")


def datetime_s(rfc3339):
    """Seconds since the epoch of an RFC 3339 UTC time with microseconds."""
    from datetime import datetime, timezone
    return datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


class ReloadEditTest(unittest.TestCase):
    """A policy file rewritten in place (truncate, then written in two parts,
    as `cat > file` or an editor without rename does) while reloads run: each
    applied reload runs a whole version of the file, never the half that was
    on disk for a moment, and the last edit is what runs at the end."""

    HEAD = "name: edit\nmode: monitor\njobs:\n  exec: [\"**/fts-kt-edit\"]\n"

    def version(self, v):
        tail = "".join(f'    - "/nonexistent/{v}/{i}/**"\n' for i in range(40))
        return self.HEAD, f"data:\n  training:\n{tail}"

    def test_policy_file_edited_during_reloads(self):
        d = Daemon({"edit.yaml": "".join(self.version("a"))})
        path = os.path.join(d.tmp, "pol", "edit.yaml")
        digest = lambda text: hashlib.sha256(text.encode()).hexdigest()  # noqa: E731
        whole = {digest("".join(self.version(v))) for v in "ab"}
        half = {digest(self.version(v)[0]) for v in "ab"}
        with d:
            # The control: the first half alone is a valid policy, and its digest is what a reload reports.
            with open(path, "w") as f:
                f.write(self.HEAD)
            r = self.reload(d)
            self.assertTrue(r.get("applied"), r)
            self.assertEqual(self.digests(r), {digest(self.HEAD)})
            stop = threading.Event()
            writes = [0]

            def editor():
                v = 0
                while not stop.is_set():
                    head, tail = self.version("ab"[v % 2])
                    with open(path, "w") as f:
                        f.write(head)
                        f.flush()
                        time.sleep(0.03)  # the half-written file sits on disk
                        f.write(tail)
                    writes[0] += 1
                    v += 1
                    stop.wait(0.6)  # an editor saves now and then, not in a loop

            th = threading.Thread(target=editor)
            th.start()
            began = time.monotonic()
            seen = []
            try:
                for _ in range(12):
                    seen.append(self.reload(d))
            finally:
                stop.set()
                th.join()
            took = time.monotonic() - began
            applied = [r for r in seen if r.get("applied")]
            loaded = [self.digests(r) for r in applied]
            self.assertEqual([x for x in loaded if not x <= whole], [], "a reload ran a half-written file")
            self.assertTrue(applied, seen)
            for r in seen:
                if not r.get("applied"):
                    self.assertIn("changed while", " ".join(r.get("errors", [])), r)
            final = self.reload(d)
            self.assertEqual(self.digests(final), {digest(open(path).read())})
            self.assertFalse(self.digests(final) & half)
            figure("policy-edited-during-reload", edits=writes[0], reloads=len(seen), applied=len(applied),
                   refused_changing=len(seen) - len(applied), torn_loaded=0,
                   seconds_per_reload=f"{took / len(seen):.2f}")

    def reload(self, d):
        r = d.cli("reload", "--json", timeout=60)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"reload --json: {r.returncode}\n{r.stdout}{r.stderr}")

    def digests(self, reply):
        return {f.split()[-1].split(":")[-1] for f in reply.get("policy_files", [])}


class TasksMapTest(unittest.TestCase):
    """A job forking past the tasks map's capacity (`sensor.tasks_max`): each
    refusal counted and alerted; once the job ends, a new job's processes are
    tracked again."""

    CAP = 64

    def test_job_forks_past_the_tasks_map(self):
        t = DataTree()
        ln = Listener()
        try:
            with Daemon({"ft.yaml": t.policy()}, extra_config=f"sensor: {{ tasks_max: {self.CAP} }}\n") as d:
                big = run_job(d, PY, "-c", FORK_PAST_MAP, str(self.CAP + 40), str(ln.port), str(ln.port))
                refused = lambda e: tamper_added(e, "tasks map is full")  # noqa: E731
                d.wait_for(lambda e: refused(e) >= 40 or None, timeout=20, what="every refusal reported")
                ended = time.monotonic()
                d.sync()
                st = status(d)
                full = int(st["tasks_map_full"])  # the kernel's counter, live; the job has ended
                # The alerts come from the 1 s loss-report timer (sync does not run it): wait until they
                # add up to the counter, so a late report can neither fake nor break the checks below.
                events = d.wait_for(lambda e: e if refused(e) == full else None, timeout=20,
                                    what=f"the loss reports adding up to the counter ({full})")
                self.assertEqual(int(st["tasks_map_full"]), refused(events))
                before = len(tamper(events, "tasks map is full"))
                # Room again: a new job's children are the job's.
                again = run_job(d, "/bin/sh", "-c", "/bin/true; /bin/true", name="again")
                d.wait_for(lambda e: len(of_kind(of_job(e, again), "exec")) >= 3 or None, timeout=20,
                           what="the next job tracked")
                recovery = time.monotonic() - ended
                d.sync()
                self.assertEqual(int(status(d)["tasks_map_full"]), full, "no refusal counted for the next job")
                events = d.wait_for(lambda e: e if refused(e) == full else None, timeout=20,
                                    what=f"the loss reports adding up to the counter ({full})")
                self.assertEqual(len(tamper(events, "tasks map is full")), before, "no refusal for the next job")
                forks = of_kind(of_job(events, big), "fork")
                figure("tasks-map-full", capacity=self.CAP, processes=self.CAP + 42, tracked_forks=len(forks),
                       refused_counted=refused(events), alerts_delivered=before, recovery_s=f"{recovery:.2f}")
        finally:
            ln.close()
            t.cleanup()


class FanotifyOverflowTest(unittest.TestCase):
    """The fanotify queue overflowed while the daemon was stopped: counted and
    alerted; a change to a protected file after it is reported again."""

    def test_fanotify_queue_overflow_and_after(self):
        t = DataTree()
        try:
            with Daemon({"ft.yaml": t.policy()}) as d:
                flood = os.path.join(t.outside, "flood")
                os.makedirs(flood)
                overflow_fanotify(d, flood)
                resumed = time.monotonic()
                al = d.wait_for(lambda e: tamper(e, "fanotify queue overflowed") or None, timeout=30,
                                what="fanotify overflow alert")
                # After it: an outsider's write to a protected shard is seen again.
                shard = t.shards[0]
                subprocess.run(["/bin/sh", "-c", f"echo '{{}}' >> {shard}"], check=True)
                seen = d.wait_for(lambda e: [x for x in e if x.get("kind") == "file" and
                                             x["file"].get("path") == shard and "write" in x["file"].get("access", [])]
                                  or None, timeout=30, what="the write after the overflow")
                recovery = time.monotonic() - resumed
                st = status(d)
                self.assertGreaterEqual(int(st["fanotify_overflows"]), 1)
                self.assertEqual(al[0]["severity"], "high")
                figure("fanotify-overflow", files_created=20000, overflows_counted=st["fanotify_overflows"],
                       alerts_delivered=len(al), records_lost="uncountable (the kernel drops them), alerted",
                       next_change_seen=len(seen) > 0, recovery_s=f"{recovery:.2f}")
        finally:
            t.cleanup()


if __name__ == "__main__":
    harness.main()
