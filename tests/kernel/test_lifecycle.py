"""Start, stop and refuse cleanly: programs detach on SIGTERM, nothing stays
pinned unless configured, and missing privileges are named in one line."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon  # noqa: E402

POLICY = 'name: lc\nmode: monitor\njobs:\n  exec: ["**/fts-kt-none"]\n'


def prog_exists(prog_id):
    return subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True).returncode == 0


class LifecycleTest(unittest.TestCase):
    def test_sigterm_detaches_everything(self):
        d = Daemon({"lc.yaml": POLICY}).start()
        try:
            st = json.loads(d.cli("status", "--json").stdout)
            ids = [p["id"] for p in st["programs"]]
            self.assertGreaterEqual(len(ids), 30)  # process, cgroup, file and io_uring programs
            self.assertTrue(all(prog_exists(i) for i in ids))
            self.assertEqual(d.stop(), 0)
            # The kernel frees programs after an RCU grace period: allow it a moment.
            deadline = time.time() + 5
            while [i for i in ids if prog_exists(i)] and time.time() < deadline:
                time.sleep(0.1)
            self.assertFalse([i for i in ids if prog_exists(i)], "programs left loaded after stop")
            self.assertFalse(os.path.exists(d.socket), "control socket left behind")
            self.assertFalse(os.path.exists("/sys/fs/bpf/ftsentinel"), "pinned without being asked to")
        finally:
            d.cleanup()

    def test_pinned_when_configured(self):
        pin_dir = f"/sys/fs/bpf/fts-kt-{os.getpid()}"
        d = Daemon({"lc.yaml": POLICY}, extra_config=f"sensor: {{ pin: true, pin_dir: {pin_dir} }}\n").start()
        try:
            self.assertEqual(d.stop(), 0)
            self.assertTrue(os.path.exists(os.path.join(pin_dir, "tasks")))
            self.assertTrue(os.path.exists(os.path.join(pin_dir, "counters")))
        finally:
            d.cleanup()
            subprocess.run(["rm", "-rf", pin_dir])

    def test_not_root_is_one_clear_line(self):
        d = Daemon({"lc.yaml": POLICY})
        try:
            os.chmod(d.tmp, 0o755)
            r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                harness.DAEMON, "--config", d.config], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1)
            lines = [l for l in r.stderr.splitlines() if "critical" in l]
            self.assertEqual(len(lines), 1, r.stderr)
            self.assertIn("needs root", lines[0])
        finally:
            d.cleanup()

    def test_status_reports_counters(self):
        with Daemon({"lc.yaml": POLICY}) as d:
            r = d.cli("run", "--policy", "lc", "--", "/bin/true")
            self.assertEqual(r.returncode, 0, r.stderr)
            d.wait_for(lambda e: harness.of_kind(e, "job_end"), what="job_end")
            st = json.loads(d.cli("status", "--json").stdout)
            self.assertGreaterEqual(int(st["events_seen"]), 2)  # exec + exit at least
            self.assertEqual(st.get("ringbuf_drops", "0"), "0")
            self.assertEqual(len(st["ringbuf_drops_per_cpu"]), os.cpu_count())
            self.assertEqual(st["policies"], ["lc"])
            human = d.cli("status").stdout
            self.assertIn(f"{len(st['programs'])} attached", human)
            self.assertIn("drops:", human)


if __name__ == "__main__":
    harness.main()
