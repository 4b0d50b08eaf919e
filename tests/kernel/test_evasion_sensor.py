"""Blinding the sensor, done for real against the daemon (issue 12, "the kernel
view"): taking an fd to its maps, programs and links by id and detaching a
link (sensor-tamper), filling the tasks map (counted, alerted, and in
enforce mode the untracked child is still judged by its job's policy), and
overflowing the fanotify queue (counted and alerted). Each has its benign
control in the same test: bpftool on objects that are not the daemon's, a
process outside any job, a small burst of creates."""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import FORK_PAST_MAP, Daemon, overflow_fanotify, tamper, tamper_added  # noqa: E402

PY = "/usr/bin/python3"
BPFTOOL = shutil.which("bpftool") or "/usr/sbin/bpftool"


def bpf_fds(pid):
    """{(kind, id): name-less} of the BPF objects process `pid` holds, from its
    fdinfo (no bpf() call, so reading it is not itself a touch)."""
    out = {}
    base = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(base):
        try:
            with open(f"{base}/{fd}") as f:
                info = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        for key, kind in (("map_id", "map"), ("prog_id", "prog"), ("link_id", "link")):
            if key in info and (kind != "prog" or "link_id" not in info):
                out[(kind, int(info[key]))] = {k: v.strip() for k, v in info.items()}
    return out


def bpftool(*args, check=True):
    r = subprocess.run([BPFTOOL, *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"bpftool {' '.join(args)}: {r.returncode}\n{r.stderr}")
    return r


class ObjectTamperTest(unittest.TestCase):
    """I8: an fd to the daemon's maps/programs/links by id, a link detached."""

    def setUp(self):
        self.t = DataTree()
        self.d = Daemon({"ft.yaml": self.t.policy()}).start()
        self.pin = f"/sys/fs/bpf/fts-kt-ctl-{os.getpid()}-{random.randint(0, 1 << 30)}"

    def tearDown(self):
        self.d.cleanup()
        self.t.cleanup()
        if os.path.exists(self.pin):
            os.unlink(self.pin)

    def test_fd_by_id_of_daemon_objects_is_tamper_and_of_others_is_not(self):
        # The control first: a map of the test's own, dumped and shown by id.
        bpftool("map", "create", self.pin, "type", "hash", "key", "4", "value", "4", "entries", "8", "name", "ftsktctl")
        ctl_id = json.loads(bpftool("-j", "map", "show", "pinned", self.pin).stdout)["id"]
        bpftool("map", "dump", "id", str(ctl_id))
        bpftool("map", "update", "id", str(ctl_id), "key", "1", "0", "0", "0", "value", "2", "0", "0", "0")
        self.assertEqual(tamper(self.d.sync()), [], "bpftool on an object that is not the daemon's")

        # The daemon's own: the ids its fds hold (fdinfo; no bpf() call).
        objs = bpf_fds(self.d.proc.pid)
        # a hash map (map_type 1: dumpable), whichever it is
        maps = sorted(oid for (kind, oid), info in objs.items() if kind == "map" and info.get("map_type") == "1")
        progs = sorted(oid for kind, oid in objs if kind == "prog")
        self.assertTrue(maps and progs, objs)
        st = json.loads(self.d.cli("status", "--json").stdout)
        prog_ids = {int(p["id"]): p["name"] for p in st["programs"]}
        map_id = maps[0]
        bpftool("map", "dump", "id", str(map_id))
        exit_bpf = [i for i, n in prog_ids.items() if n == "fts_exit_bpf"][0]
        bpftool("prog", "show", "id", str(exit_bpf))
        al = self.d.wait_for(lambda e: (lambda t: t if len(t) >= 2 else None)(tamper(e, "by its id")),
                             what="two fd_by_id alerts")
        al = tamper(self.d.sync(), "by its id")
        msgs = [a["message"] for a in al]
        # (`prog show` also takes the program's maps by id: more map alerts, each one named)
        self.assertEqual(len([m for m in msgs if f"(map id {map_id}) by its id (bpf(BPF_MAP_GET_FD_BY_ID))" in m]), 1, msgs)
        self.assertEqual(len([m for m in msgs if f"prog fts_exit_bpf (prog id {exit_bpf}) by its id "
                              "(bpf(BPF_PROG_GET_FD_BY_ID))" in m]), 1, msgs)
        self.assertNotIn(f"id {ctl_id})", " ".join(msgs))
        for a in al:
            self.assertEqual(a["severity"], "high")
            self.assertEqual(a["mitre"]["attack"], ["T1562.001"])
            self.assertEqual(a["process"]["exe"], os.path.realpath(BPFTOOL))
        touch = [e for e in self.d.events() if e.get("kind") == "sensor_touch"
                 and e["sensor_touch"]["op"] == "fd_by_id"]
        touched = {(t["sensor_touch"]["object_type"], t["sensor_touch"]["object_id"]) for t in touch}
        self.assertLessEqual({("map", map_id), ("prog", exit_bpf)}, touched)
        self.assertLessEqual(touched, {(k, i) for k, i in objs}, "only the daemon's own objects")

    def test_detaching_a_daemon_link_is_tamper(self):
        objs = bpf_fds(self.d.proc.pid)
        st = json.loads(self.d.cli("status", "--json").stdout)
        names = {int(p["id"]): p["name"] for p in st["programs"]}
        # a cgroup hook's link: cgroup links can be detached (BPF_LINK_DETACH)
        links = {oid: info for (kind, oid), info in objs.items() if kind == "link"}
        bind4 = [oid for oid, info in links.items() if names.get(int(info.get("prog_id", 0))) == "fts_bind4"]
        self.assertEqual(len(bind4), 1, (links, names))
        bpftool("link", "detach", "id", str(bind4[0]))
        self.d.wait_for(lambda e: tamper(e, "BPF_LINK_DETACH") or None, what="link detach alert")
        evs = self.d.sync()  # bpftool has exited: every record of it is in
        al = tamper(evs, "BPF_LINK_DETACH")
        self.assertEqual(len(al), 1)
        self.assertEqual(al[0]["severity"], "critical")
        self.assertIn(f"detach ftsentinel's link of program fts_bind4 (link id {bind4[0]})", al[0]["message"])
        got = tamper(evs, "BPF_LINK_GET_FD_BY_ID")
        self.assertEqual(len(got), 1, "bpftool took the link by its id first")


class FailOpenTest(unittest.TestCase):
    """The tasks map full and the fanotify queue overflowed: counted, alerted, and
    in enforce mode the untracked child's egress still judged."""

    CAP = 64
    FLOWS = 256

    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.allowed = socket.socket()
        cls.allowed.bind(("127.0.0.1", 0))
        cls.allowed.listen(256)
        cls.denied = socket.socket()
        cls.denied.bind(("127.0.0.1", 0))
        cls.denied.listen(256)
        egress = f'network:\n  egress: ["127.0.0.1/32:{cls.allowed.getsockname()[1]}"]\n'
        cls.d = Daemon({"enf.yaml": cls.t.policy(name="enf", mode="enforce", extra=egress)},
                       extra_config=f"sensor: {{ tasks_max: {cls.CAP}, flows_max: {cls.FLOWS} }}\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.allowed.close()
        cls.denied.close()
        cls.t.cleanup()

    def connect(self, port):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            return 0
        except OSError as e:
            return e.errno
        finally:
            s.close()

    def test_a_job_forking_past_the_tasks_map(self):
        a, dn = self.allowed.getsockname()[1], self.denied.getsockname()[1]
        # The control: outside any job, the denied port is open (no walk before an
        # overflow, and none finds a job for an outsider after one).
        self.assertEqual(self.connect(dn), 0)
        r = subprocess.run([harness.CLI, "--socket", self.d.socket, "run", "--policy", "enf", "--", PY, "-c",
                            FORK_PAST_MAP, str(self.CAP + 40), str(a), str(dn)],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = r.stderr.split("job ")[1].split()[0]
        res = json.loads(r.stdout)
        self.assertEqual(res, {"allowed": 0, "denied": 1}, "the untracked child: allowed passes, EPERM for the rest")
        al = self.d.wait_for(lambda e: tamper(e, "tasks map is full") or None, timeout=15, what="tasks-full alert")
        self.assertIn(f"(capacity {self.CAP})", al[0]["message"])
        self.assertRegex(al[0]["message"], r": \d+ processes of jobs were not tracked")
        def refused(events):  # each loss report says what it adds
            return tamper_added(events, "tasks map is full")
        # root + 63 children fill the map: the other 41 children and the last one are refused
        self.d.wait_for(lambda e: refused(e) >= 40 or None, timeout=15, what="every refusal reported")
        events = self.d.sync()
        blocked = [e for e in events if e.get("rule") == "egress-not-allowed"
                   and e.get("job", {}).get("id") == job]
        self.assertEqual(len(blocked), 1, blocked)
        self.assertEqual(blocked[0]["action"], "blocked")
        self.assertEqual(blocked[0]["network"]["dport"], dn)
        net = [e for e in self.d.events() if e.get("kind") == "network" and e.get("job", {}).get("id") == job
               and e["network"].get("op") == "connect" and e["network"].get("untracked")]
        self.assertEqual(sorted(e["network"]["dport"] for e in net), sorted([a, dn]))
        st = json.loads(self.d.cli("status", "--json").stdout)
        self.assertEqual(int(st["tasks_map_capacity"]), self.CAP)
        # The loss reports come from the daemon's 1 s timer (sync does not run
        # it): wait until they add up to the kernel's live counter.
        full = int(st["tasks_map_full"])
        events = self.d.wait_for(lambda e: e if refused(e) == full else None, timeout=15,
                                 what=f"the loss reports adding up to the counter ({full})")
        self.assertEqual(int(st["tasks_map_full"]), refused(events))
        self.assertEqual(int(st["untracked_refused"]), 1)
        # The outsider after the overflow: still not a job's, still open.
        self.assertEqual(self.connect(dn), 0)

    # A job holding `n` connected UDP sockets open at once (one datagram each),
    # then closing them all.
    SOCKETS = r"""
import socket, sys
n, port = int(sys.argv[1]), int(sys.argv[2])
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    s.send(b"x" * 100)
    socks.append(s)
for s in socks:
    s.close()
"""

    def flow_job(self, n):
        r = subprocess.run([harness.CLI, "--socket", self.d.socket, "run", "--policy", "enf", "--", PY, "-c",
                            self.SOCKETS, str(n), str(self.allowed.getsockname()[1])],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stderr.split("job ")[1].split()[0]

    def test_flows_evicted_from_the_full_flows_map(self):
        def evicted(events):
            return tamper_added(events, "flows map is full")
        # The control: fewer sockets than the map holds, each closed and reported.
        small = self.flow_job(20)
        def small_flows(e):
            return [x for x in e if x.get("kind") == "network" and x.get("job", {}).get("id") == small
                    and x["network"].get("op") == "flow"]
        self.d.wait_for(lambda e: len(small_flows(e)) >= 20, what="20 flows")
        self.assertEqual(len(small_flows(self.d.sync())), 20)
        before = json.loads(self.d.cli("status", "--json").stdout)
        self.assertEqual(int(before.get("flows_evicted", 0)), 0)
        # Past the map: the oldest flows are evicted while the job still holds them.
        n = 400
        job = self.flow_job(n)
        def closed(events):
            return [x for x in events if x.get("kind") == "network" and x.get("job", {}).get("id") == job
                    and x["network"].get("op") == "flow"]
        # Every socket is either a flow record (closed while in the map) or counted as evicted.
        self.d.wait_for(lambda e: evicted(e) + len(closed(e)) == n or None, timeout=20,
                        what="each flow closed or counted evicted")
        events = self.d.sync()
        total = evicted(events)
        self.assertGreaterEqual(total, n - self.FLOWS, "the map holds FLOWS at most")
        self.assertEqual(total + len(closed(events)), n)
        st = json.loads(self.d.cli("status", "--json").stdout)
        self.assertEqual(int(st["flows_evicted"]), total)

    def test_fanotify_queue_overflow(self):
        flood = os.path.join(self.t.outside, "flood")  # same filesystem as the protected trees, outside them
        os.makedirs(flood)
        # The control: a burst the daemon keeps up with.
        for i in range(200):
            open(os.path.join(flood, f"c{i}"), "w").close()
        self.assertEqual(tamper(self.d.sync(), "fanotify"), [])
        # The alert comes from the 1 s loss-report timer, which sync does not run; the counter
        # it reports is bumped when sync reads the queue: none for the burst.
        st = json.loads(self.d.cli("status", "--json").stdout)
        self.assertEqual(int(st.get("fanotify_overflows", 0)), 0, "a burst the daemon keeps up with: no overflow")
        # Stop the reader, create past the queue (16384 events by default), resume.
        overflow_fanotify(self.d, flood)
        al = self.d.wait_for(lambda e: tamper(e, "fanotify queue overflowed") or None, timeout=20,
                             what="fanotify overflow alert")
        self.assertEqual(al[0]["severity"], "high")
        self.assertIn("changes to protected and outputs trees were dropped unseen", al[0]["message"])
        st = json.loads(self.d.cli("status", "--json").stdout)
        self.assertGreaterEqual(int(st["fanotify_overflows"]), 1)
        shutil.rmtree(flood)


if __name__ == "__main__":
    harness.main()
