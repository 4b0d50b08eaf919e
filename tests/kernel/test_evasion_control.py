"""The control plane under attack (issue 12), against a real daemon, each
attack performed for real beside a benign control in the same test:

- a job runs `ftsentinel run --policy <monitor policy>` to leave its enforce
  job: it stays in its job (still blocked), and it is reported;
- a job asks for reload / alert-test: refused (root's, never a job's);
- a job scrapes the metrics endpoint: 401 without the token; the operator's
  scrape with it works;
- a group member floods the socket (1,000 idle connections, garbage frames,
  4 GiB length prefixes, alert-test): a job still starts, its records are out
  at `ftsentinel sync`, `status` answers, and nothing is lost uncounted;
- the daemon out of fds: accept backs off (counted, not spinning) and
  fanotify changes it cannot place are counted and raised as sensor-tamper.
"""
import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import CLI, Daemon, Listener  # noqa: E402

PY = "/usr/bin/python3"

# Connects to 127.0.0.1:PORT and prints the errno (0: connected).
CONNECT = """
import socket, sys
s = socket.socket()
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
    print(0)
except OSError as e:
    print(e.errno)
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def alerts(events, job=None, rule=None):
    return [e for e in events if "rule" in e and (job is None or e.get("job", {}).get("id") == job)
            and (rule is None or e["rule"] == rule)]


def job_id(stderr):
    return stderr.split("job ")[1].split()[0]


class ControlEvasionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.allowed = Listener()
        cls.denied = Listener()
        egress = f'network:\n  egress: ["127.0.0.1/32:{cls.allowed.port}"]\n'
        enf = cls.t.policy(name="enf", mode="enforce", extra=egress).replace("fts-kt-launcher", "fts-kt-launcher-enf")
        mon = cls.t.policy(name="mon", mode="monitor", extra='network:\n  egress: ["127.0.0.0/8"]\n')
        cls.metrics_port = free_port()
        cls.d = Daemon({"enf.yaml": enf, "mon.yaml": mon},
                       extra_config=f'metrics: {{ listen: "127.0.0.1:{cls.metrics_port}" }}\n').start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.allowed.close()
        cls.denied.close()
        cls.t.cleanup()

    def run_job(self, policy, *argv, name=None):
        args = ["run", "--policy", policy] + (["--name", name] if name else []) + ["--", *argv]
        r = self.d.cli(*args, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return job_id(r.stderr), r

    def jobs(self):
        r = self.d.cli("jobs", "--all", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout).get("jobs", [])

    def test_nested_run_cannot_leave_an_enforce_job(self):
        # The attack: inside an enforce job, `ftsentinel run --policy mon` and
        # connect where enf does not allow. It must stay blocked and be reported.
        inner = (f'{CLI} --socket {self.d.socket} run --policy mon --name escape -- '
                 f'{PY} -c \'{CONNECT}\' {self.denied.port}')
        outer, r = self.run_job("enf", "/bin/sh", "-c", inner)
        self.assertIn(f"job {outer} (policy enf): already in that job", r.stderr)
        self.assertEqual(r.stdout.strip(), "1", "the connect is refused with EPERM: the job is still enforced")
        # The control: the same command, not nested, is a new monitor job.
        plain, rp = self.run_job("mon", PY, "-c", CONNECT, str(self.denied.port), name="plain")
        self.assertNotEqual(plain, outer)
        self.assertEqual(rp.stdout.strip(), "0", "monitor mode connects")
        events = self.d.sync()

        nested = harness.of_kind(events, "nested_run")
        self.assertEqual(len(nested), 1, [harness.summary(e) for e in nested])
        n = nested[0]
        self.assertEqual(n["job"]["id"], outer)
        self.assertEqual(n["job"]["policy"], "enf")
        self.assertEqual(n["nested_run"]["policy"], "mon")
        self.assertEqual(n["nested_run"]["name"], "escape")
        self.assertEqual(n["nested_run"]["outcome"], "stayed")
        self.assertEqual(n["nested_run"]["argv"][0], PY)
        self.assertTrue(n["process"]["exe"].endswith("/ftsentinel"), n["process"])

        tamper = alerts(events, job=outer, rule="sensor-tamper")
        self.assertEqual(len(tamper), 1, tamper)
        self.assertEqual(tamper[0]["severity"], "high")
        self.assertIn("ftsentinel run --policy mon --name escape", tamper[0]["message"])
        self.assertIn("stays in job " + outer, tamper[0]["message"])
        self.assertEqual(tamper[0]["mitre"]["attack"], ["T1562.001"])
        blocked = alerts(events, job=outer, rule="egress-not-allowed")
        self.assertEqual([(a["action"], a["network"]["dport"]) for a in blocked], [("blocked", self.denied.port)])
        self.assertEqual(blocked[0]["job"]["policy"], "enf")

        # The kernel entry of the outer job was never overwritten: no job "escape".
        names = {(j["name"], j["policy"]) for j in self.jobs()}
        self.assertNotIn(("escape", "mon"), names)
        self.assertIn(("plain", "mon"), names)
        self.assertEqual(alerts(events, job=plain, rule="sensor-tamper"), [], "a plain run is not tamper")
        self.assertEqual([a["action"] for a in alerts(events, job=plain, rule="egress-not-allowed")], [],
                         "mon allows 127.0.0.0/8")
        self.assertEqual(harness.of_kind(events, "nested_run", job=plain), [])

    def test_a_job_may_not_reload_or_raise_test_alerts(self):
        cmd = f"{CLI} --socket {self.d.socket} reload; echo rc=$?; " \
              f"{CLI} --socket {self.d.socket} alert-test --count 100000; echo rc=$?"
        job, r = self.run_job("mon", "/bin/sh", "-c", cmd)
        self.assertEqual(r.stdout.count("rc=1"), 2, r.stdout + r.stderr)
        self.assertEqual(r.stderr.count("not from inside a job"), 2, r.stderr)
        # The control: root outside any job may.
        ok = self.d.cli("reload")
        self.assertEqual(ok.returncode, 0, ok.stderr + ok.stdout)
        at = self.d.cli("alert-test", "--message", "operator check")
        self.assertEqual(at.returncode, 0, at.stderr + at.stdout)
        events = self.d.sync()
        tests = [a for a in alerts(events, rule="test-alert")]
        self.assertEqual([a["message"] for a in tests], ["operator check"])

    def scrape(self, token=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_metrics_need_the_token_a_job_does_not_have(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        job, r = self.run_job("mon", "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url)
        self.assertEqual(r.stdout.strip(), "401", "a job's scrape without the token")
        forged, _ = self.run_job("mon", "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 "-H", "Authorization: Bearer 00", url)
        self.assertEqual(_.stdout.strip(), "401", "a wrong token")
        token_file = os.path.join(self.d.tmp, "state", "metrics.token")
        st = os.stat(token_file)
        self.assertEqual(st.st_mode & 0o007, 0, "the token is not for everyone")
        self.assertEqual(st.st_uid, 0)
        with open(token_file) as f:
            token = f.read().strip()
        code, text = self.scrape(token)
        self.assertEqual(code, 200)
        self.assertIn("# TYPE ftsentinel_jobs_live gauge", text)
        self.assertIn("ftsentinel_control_sessions", text)


class BadPeerTest(unittest.TestCase):
    """A group member (a throw-away user in a throw-away group) against the
    control socket of a real daemon."""

    @classmethod
    def setUpClass(cls):
        suffix = f"{os.getpid() % 100000}{random.randint(0, 999)}"
        cls.group = f"ftskt{suffix}"
        cls.user = f"ftsktu{suffix}"
        subprocess.run(["groupadd", cls.group], check=True)
        subprocess.run(["useradd", "-M", "-N", "-g", cls.group, "-s", "/usr/sbin/nologin", cls.user], check=True)
        cls.t = DataTree()
        cls.d = Daemon({"mon.yaml": cls.t.policy(name="mon")},
                       extra_config='metrics: { listen: "off" }\nsensor: { flow_report_seconds: 1 }\n')
        with open(cls.d.config) as f:
            text = f.read()
        with open(cls.d.config, "w") as f:
            f.write(text.replace(f"control: {{ socket: {cls.d.socket} }}",
                                 f"control: {{ socket: {cls.d.socket}, group: {cls.group}, idle_timeout_seconds: 3 }}"))
        os.chmod(cls.d.tmp, 0o755)  # the member reaches the socket; the socket itself is root:group 0660
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.d.cleanup()
            cls.t.cleanup()
        finally:
            subprocess.run(["userdel", cls.user], check=False)
            subprocess.run(["groupdel", cls.group], check=False)

    def status(self):
        r = self.d.cli("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def as_member(self, script, *args):
        """The script as the group user, with room for 4,096 fds."""
        def demote():
            resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
        return subprocess.Popen(["setpriv", f"--reuid={self.user}", f"--regid={self.group}", "--init-groups",
                                 PY, "-c", script, self.d.socket, *args],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=demote)

    def test_member_status_works(self):
        # The positive control: the group member is served at all.
        p = self.as_member(f"import subprocess, sys\n"
                           f"r = subprocess.run(['{CLI}', '--socket', sys.argv[1], 'status'])\n"
                           f"sys.exit(r.returncode)")
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, out + err)

    def test_flood_of_idle_garbage_huge_and_alert_test(self):
        attack = r"""
import json, os, socket, struct, sys
path = sys.argv[1]
res = {"idle": 0, "connect_failed": 0, "garbage_answered": 0, "huge_answered": 0, "alert_test": {}}
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s
def answer(s):
    try:
        head = b""
        while len(head) < 4:
            b = s.recv(4 - len(head))
            if not b:
                return None
            head += b
        n = struct.unpack(">I", head)[0]
        body = b""
        while len(body) < n:
            b = s.recv(n - len(body))
            if not b:
                return None
            body += b
        return body
    except OSError:
        return None
# garbage frames and 4 GiB length prefixes, each on a new connection
for i in range(50):
    try:
        s = conn()
        s.sendall(struct.pack(">I", 64) + b"\xff" * 64)  # not a protobuf
        if answer(s) is not None:
            res["garbage_answered"] += 1
        s.close()
    except OSError:
        pass
for i in range(5):
    try:
        s = conn()
        s.sendall(b"\xff\xff\xff\xff" + b"x" * 1000)
        if answer(s) is not None:
            res["huge_answered"] += 1
        s.close()
    except OSError:
        pass
# alert-test, the most a request may ask (field 20: TestAlertRequest{count=100000})
req = bytes([0xa2, 0x01, 0x04, 0x08, 0xa0, 0x8d, 0x06])
for i in range(200):
    try:
        s = conn()
        s.sendall(struct.pack(">I", len(req)) + req)
        body = answer(s)
        key = "closed" if body is None else ("root only" if b"root only" in body else
                                             "busy" if b"busy" in body else repr(body[:60]))
        res["alert_test"][key] = res["alert_test"].get(key, 0) + 1
        s.close()
    except OSError as e:
        res["alert_test"]["error " + str(e.errno)] = res["alert_test"].get("error " + str(e.errno), 0) + 1
held = []
for i in range(1000):
    try:
        held.append(conn())
        res["idle"] += 1
    except OSError:
        res["connect_failed"] += 1
print(json.dumps(res), flush=True)
sys.stdin.read()  # hold the idle connections until the test is done
"""
        before = self.status()
        p = self.as_member(attack)
        try:
            line = p.stdout.readline()
            self.assertTrue(line, p.stderr.read() if p.poll() is not None else "no report from the attacker")
            res = json.loads(line)
            # While the member holds its connections: a job starts, its records
            # are out at the barrier, status answers.
            r = self.d.cli("run", "--policy", "mon", "--", PY, "-c", "import sys; open(sys.argv[1]).read()",
                           self.t.unapproved_file, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            job = job_id(r.stderr)
            events = self.d.sync()
            reads = alerts(events, job=job, rule="unapproved-data-read")
            self.assertEqual([a["file"]["path"] for a in reads], [self.t.unapproved_file])
            self.assertEqual(len(harness.of_kind(events, "job_end", job=job)), 1)
            during = self.status()
            # The member's idle sessions (it still holds them) are closed after
            # idle_timeout_seconds (3); bounded poll, the close is the daemon's timer.
            deadline = time.time() + 20
            while int(self.status()["control"].get("idle_closed", 0)) < 16 and time.time() < deadline:
                time.sleep(0.2)
            idle_closed = int(self.status()["control"].get("idle_closed", 0))
        finally:
            p.stdin.close()
            p.wait(timeout=30)
            p.stdout.close()
            p.stderr.close()

        self.assertEqual(res["idle"] + res["connect_failed"], 1000)
        self.assertEqual(res["garbage_answered"], 50, "garbage is answered, then closed")
        self.assertEqual(res["huge_answered"], 5, "a 4 GiB length is refused before any allocation")
        self.assertEqual(res["alert_test"], {"root only": 200}, res)
        c0, c = before.get("control", {}), during["control"]
        # The member got its share of sessions, the rest were turned away.
        self.assertLessEqual(int(c.get("live", 0)), 16 + 2, c)
        self.assertGreaterEqual(int(c.get("refused_busy", 0)) - int(c0.get("refused_busy", 0)),
                                res["idle"] - 16, c)
        self.assertGreaterEqual(int(c.get("dropped", 0)) - int(c0.get("dropped", 0)), 55, c)
        self.assertEqual(int(during.get("alerts_emitted", 0)) - int(before.get("alerts_emitted", 0)), 1,
                         "the one alert is the job's read: no test alert from a member")
        self.assertGreaterEqual(idle_closed, 16, "the member's idle sessions are closed")

        # Nothing lost that is not counted: every ring-buffer drop is in a
        # sensor_drops event and a sensor-tamper alert; no output dropped.
        events = self.d.sync()
        after = self.status()
        said = sum(int(e["sensor"].get("ringbuf_drops", 0)) for e in harness.of_kind(events, "sensor_drops"))
        self.assertEqual(said, int(after.get("ringbuf_drops", 0)))
        for s in after.get("sinks", []):
            self.assertEqual(int(s.get("dropped", 0)), 0, s)

    def test_root_alert_test_is_chunked_and_jobs_keep_flowing(self):
        # A big alert-test from root (allowed) while a job runs: the job's
        # records are out at the barrier, and every test alert is out.
        at = subprocess.Popen([CLI, "--socket", self.d.socket, "alert-test", "--count", "20000"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        r = self.d.cli("run", "--policy", "mon", "--", PY, "-c", "import sys; open(sys.argv[1]).read()",
                       self.t.unapproved_file, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = job_id(r.stderr)
        out, err = at.communicate(timeout=120)
        self.assertEqual(at.returncode, 0, out + err)
        events = self.d.sync()
        self.assertEqual(len(alerts(events, job=job, rule="unapproved-data-read")), 1)
        self.assertGreaterEqual(len(alerts(events, rule="test-alert")), 20000)
        second = self.d.cli("alert-test")
        self.assertEqual(second.returncode, 0, second.stderr)


class FdExhaustionTest(unittest.TestCase):
    """The daemon at its fd limit (lowered with prlimit): accept backs off and
    counts, fanotify changes it cannot place are counted and raised."""

    def test_accept_backs_off_and_fanotify_loss_is_raised(self):
        t = DataTree()
        d = Daemon({"mon.yaml": t.policy(name="mon")}, extra_config='metrics: { listen: "off" }\n')
        with d:
            d.sync()
            pid = d.proc.pid
            soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
            used = {int(x) for x in os.listdir(f"/proc/{pid}/fd")}
            lowest_free = next(i for i in range(len(used) + 1) if i not in used)
            blocked = []
            try:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
                # Connections the daemon cannot accept, and changes under a
                # protected tree whose directory it cannot open by handle.
                for _ in range(3):
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(d.socket)
                    blocked.append(s)
                for i in range(20):
                    with open(f"{t.approved}/while-exhausted-{i}.jsonl", "w") as f:
                        f.write("x\n")
                time.sleep(2)  # the daemon is unreachable: nothing to wait on but time
            finally:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            for s in blocked:
                s.close()
            events = d.sync()
            st = json.loads(d.cli("status", "--json").stdout)
            fails = int(st["control"].get("accept_failures", 0))
            self.assertGreaterEqual(fails, 1, st["control"])
            self.assertLess(fails, 100, "accept must back off, not spin")
            tamper = [a["message"] for a in alerts(events, rule="sensor-tamper")]
            self.assertTrue(any("cannot accept control connections" in m for m in tamper), tamper)
            self.assertGreater(int(st.get("fanotify_unresolved", 0)), 0, st)
            self.assertTrue(any("fanotify backstop" in m for m in tamper), tamper)
        t.cleanup()


if __name__ == "__main__":
    harness.main()
