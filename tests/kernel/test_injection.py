"""Injection and tampering, on real processes (scenarios A9, I5, I6):
LD_PRELOAD in a job and writes of /etc/ld.so.preload (preload-injection),
ptrace and /proc/PID/mem of a job process from outside (job-memory-access),
signals to the daemon and taking its pinned maps (sensor-tamper)."""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"
LIBM = "/usr/lib/x86_64-linux-gnu/libm.so.6"  # a real shared object, harmless to preload

# An outsider attaching to a process with ptrace, through libc (no gdb needed).
PTRACE_ATTACH = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
pid = int(sys.argv[1])
if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
    sys.exit("attach: " + os.strerror(ctypes.get_errno()))
os.waitpid(pid, 0)
libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
"""

# Reading a process's memory through /proc/PID/mem: 64 bytes of its first readable mapping.
READ_MEM = r"""
def read_mem(pid):
    for line in open(f"/proc/{pid}/maps"):
        if line.split()[1].startswith("r"):
            addr = int(line.split("-")[0], 16)
            break
    with open(f"/proc/{pid}/mem", "rb") as m:
        m.seek(addr)
        assert len(m.read(64)) == 64
"""


def alerts(events, job=None):
    out = [e for e in events if "rule" in e]
    if job is not None:
        out = [a for a in out if a.get("job", {}).get("id") == job]
    return out


class InjectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.pin_dir = f"/sys/fs/bpf/fts-kt-{os.getpid()}-{random.randint(0, 1 << 30)}"
        cls.d = Daemon({"ft.yaml": cls.t.policy()},
                       extra_config=f"sensor: {{ pin: true, pin_dir: {cls.pin_dir} }}\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        shutil.rmtree(cls.pin_dir, ignore_errors=True)

    def job(self, *argv, rc=0):
        r = self.d.cli("run", "--policy", "ft", "--", *argv, timeout=120)
        self.assertEqual(r.returncode, rc, r.stderr + r.stdout)
        return r.stderr.split("job ")[1].split()[0]

    def ended(self, job):
        """Every record, once the job ended and the daemon passed the barrier."""
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), what="job_end")
        return self.d.sync()

    def settle(self, job):
        """The job's alerts once it ended and the daemon passed the barrier."""
        return alerts(self.ended(job), job)

    def held_job(self, *argv):
        """A job that runs until the test closes its stdin (a pipe: no file outside
        the approved data is read): (runner, job id)."""
        runner = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", *argv],
                                  stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        start = self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_start")
                                           if x["job_info"]["root_pid"] == runner.pid] or None, what="job_start")
        return runner, start[0]["job"]["id"]

    def release(self, runner):
        runner.stdin.close()
        self.assertEqual(runner.wait(timeout=60), 0)
        runner.stderr.close()

    # --- A9: preload-injection ---

    def test_a9_child_with_ld_preload(self):
        self.assertTrue(os.path.exists(LIBM))
        code = ("import os, subprocess, sys\n"
                "subprocess.run(['/bin/true'], env=dict(os.environ, LD_PRELOAD=sys.argv[1]), check=True)\n")
        job = self.job(PY, "-c", code, LIBM)
        al = self.settle(job)
        self.assertEqual([a["rule"] for a in al], ["preload-injection"], al)
        a = al[0]
        self.assertEqual(a["severity"], "high")
        self.assertEqual(a["mitre"]["attack"], ["T1574.006"])
        self.assertEqual(a["process"]["exe"], "/usr/bin/true")
        self.assertIn(f"LD_PRELOAD={LIBM}", a["message"])
        # the exec event carries the value for the journal
        ex = [e for e in harness.of_kind(self.d.events(), "exec", job=job) if e["process"]["exe"] == "/usr/bin/true"]
        self.assertEqual(ex[0]["process"]["ld_preload"], LIBM)

    def test_a9_child_without_ld_preload_is_quiet(self):
        # The control: the same training process then reads a credential, which
        # must raise credential-read; the child's exec must be seen.
        code = ("import subprocess, sys\nsubprocess.run(['/bin/true'], check=True)\n"
                "open(sys.argv[1]).read()\n")
        job = self.job(PY, "-c", code, self.t.hf_token)
        al = self.settle(job)
        ex = [e for e in harness.of_kind(self.d.events(), "exec", job=job) if e["process"]["exe"] == "/usr/bin/true"]
        self.assertEqual(len(ex), 1)
        self.assertNotIn("ld_preload", ex[0]["process"])
        self.assertEqual([(a["rule"], a["file"]["path"]) for a in al], [("credential-read", self.t.hf_token)], al)

    def test_outsider_writing_ld_so_preload(self):
        # A private mount namespace with a temp dir over /etc: the kernel's path is
        # /etc/ld.so.preload (the walk crosses the mount), the host's /etc is untouched.
        host = "/etc/ld.so.preload"
        before = open(host, "rb").read() if os.path.exists(host) else None
        etc = tempfile.mkdtemp(prefix="fts-kt-etc-")
        try:
            p = subprocess.Popen(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                                  f"mount --bind {etc} /etc && echo > /etc/ld.so.preload"])
            self.assertEqual(p.wait(timeout=30), 0)
            # the usual way: write a temp file, rename it over the list
            mv = subprocess.Popen(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c",
                                   f"mount --bind {etc} /etc && echo > /etc/.pl.tmp && "
                                   "exec /bin/mv /etc/.pl.tmp /etc/ld.so.preload"])
            self.assertEqual(mv.wait(timeout=30), 0)
            self.assertTrue(os.path.exists(f"{etc}/ld.so.preload"), "the write went to the bind-mounted dir")
            self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == p.pid] or None,
                            what="preload-injection")
            a = [x for x in alerts(self.d.sync()) if x["process"]["pid"] == p.pid]
            self.assertEqual([x["rule"] for x in a], ["preload-injection"], a)
            self.assertEqual(a[0]["severity"], "critical")
            self.assertEqual(a[0]["file"]["path"], "/etc/ld.so.preload")
            self.assertNotIn("job", a[0])
            r = self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == mv.pid] or None,
                                what="preload-injection for the rename")
            self.assertEqual([x["rule"] for x in r], ["preload-injection"], r)
            self.assertEqual(r[0]["file"]["path"], "/etc/ld.so.preload")
            self.assertEqual(r[0]["file"]["access"], "rename")
        finally:
            shutil.rmtree(etc)
            after = open(host, "rb").read() if os.path.exists(host) else None
            self.assertEqual(before, after, "the host's /etc/ld.so.preload is unchanged")

    # --- I5: job-memory-access ---

    def test_i5_outsiders_ptrace_and_read_mem_of_the_training_process(self):
        runner, job = self.held_job(PY, "-c", "import sys\nsys.stdin.read()")
        try:
            tracer = subprocess.Popen([PY, "-c", PTRACE_ATTACH, str(runner.pid)], stderr=subprocess.PIPE, text=True)
            self.assertEqual(tracer.wait(timeout=30), 0, tracer.stderr.read())
            tracer.stderr.close()
            reader = subprocess.Popen([PY, "-c", READ_MEM + "import sys\nread_mem(int(sys.argv[1]))\n",
                                       str(runner.pid)], stderr=subprocess.PIPE, text=True)
            self.assertEqual(reader.wait(timeout=30), 0, reader.stderr.read())
            reader.stderr.close()
        finally:
            self.release(runner)
        al = self.settle(job)
        # The tracer's detach repeats its attach: counted, and summed up at job end.
        summaries = [a for a in al if "repeats" in a]
        self.assertTrue(all(a["rule"] == "job-memory-access" for a in summaries), summaries)
        al = [a for a in al if "repeats" not in a]
        self.assertEqual([a["rule"] for a in al], ["job-memory-access"] * 2, al)
        by_pid = {a["process"]["pid"]: a for a in al}
        self.assertEqual(set(by_pid), {tracer.pid, reader.pid}, "one alert per accessor, naming it")
        for a in al:
            self.assertEqual(a["job"]["id"], job)
            self.assertEqual(a["severity"], "high")
            self.assertEqual(a["mitre"]["attack"], ["T1055.008"])
            self.assertIn(f"(pid {runner.pid})", a["message"])
        self.assertIn("ptrace attach", by_pid[tracer.pid]["message"])
        self.assertIn(f"/proc/{runner.pid}/mem", by_pid[reader.pid]["message"])
        ev = harness.of_kind(self.d.events(), "process_access", job=job)
        # every event: the attach, the detach (another request), the open; the alert is one per accessor
        self.assertEqual(sorted((e["process"]["pid"], e["access"]["op"], e["access"].get("request", "")) for e in ev),
                         sorted([(tracer.pid, "ptrace", "attach"), (tracer.pid, "ptrace", "detach"),
                                 (reader.pid, "mem_open", "")]))
        for e in ev:
            self.assertEqual(e["access"]["target_pid"], runner.pid)
            self.assertIn(e["access"]["target_exe"], (PY, os.path.realpath(PY)))

    def test_the_jobs_own_memory_is_quiet(self):
        # The job reads its own memory and a child's: one trust domain, no alert.
        # The control: the same process then reads a credential (credential-read).
        code = (READ_MEM + "import os, sys, time\n"
                "child = os.fork()\n"
                "if child == 0:\n    time.sleep(2)\n    os._exit(0)\n"
                "read_mem(os.getpid())\nread_mem(child)\nos.waitpid(child, 0)\n"
                "open(sys.argv[1]).read()\nprint(os.getpid(), child)\n")
        r = self.d.cli("run", "--policy", "ft", "--", PY, "-c", code, self.t.aws, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        job = r.stderr.split("job ")[1].split()[0]
        pid, child = map(int, r.stdout.split())
        evs = self.ended(job)
        al = alerts(evs, job)
        self.assertEqual([(a["rule"], a["process"]["pid"]) for a in al], [("credential-read", pid)], al)
        # The same sensor's control: the read of the child's memory is reported (an event, the rules
        # decide), the job's read of its own is not.
        ev = harness.of_kind(evs, "process_access", job=job)
        self.assertEqual([(e["process"]["pid"], e["access"]["op"], e["access"]["target_pid"],
                           e["access"].get("target_job", {}).get("id")) for e in ev],
                         [(pid, "mem_open", child, job)], [harness.summary(e) for e in ev])

    # --- I6: sensor-tamper ---

    def test_i6_stop_and_continue_the_daemon(self):
        stop = subprocess.Popen(["/bin/kill", "-STOP", str(self.d.proc.pid)])
        try:
            self.assertEqual(stop.wait(timeout=10), 0)
        finally:
            cont = subprocess.Popen(["/bin/kill", "-CONT", str(self.d.proc.pid)])
            self.assertEqual(cont.wait(timeout=10), 0)
        def theirs(evs):
            return [x for x in alerts(evs) if x["rule"] == "sensor-tamper" and x["process"]["pid"] in (stop.pid, cont.pid)]
        self.d.wait_for(lambda e: len(theirs(e)) >= 2 or None, what="two sensor-tamper alerts")
        a = theirs(self.d.sync())  # both kills have exited: every record of them is in
        self.assertEqual(len(a), 2, a)
        by_pid = {x["process"]["pid"]: x for x in a}
        self.assertIn("SIGSTOP", by_pid[stop.pid]["message"])
        self.assertEqual(by_pid[stop.pid]["severity"], "high")
        self.assertIn("SIGCONT", by_pid[cont.pid]["message"])
        self.assertEqual(by_pid[cont.pid]["mitre"]["attack"], ["T1562.001"])
        ev = [e for e in harness.of_kind(self.d.events(), "sensor_touch") if e["process"]["pid"] == stop.pid]
        self.assertEqual(ev[0]["sensor_touch"]["signal_name"], "SIGSTOP")
        self.assertEqual(ev[0]["sensor_touch"]["daemon_pid"], self.d.proc.pid)

    def test_i6_taking_a_pinned_map(self):
        pinned = os.path.join(self.pin_dir, "tasks")
        self.assertTrue(os.path.exists(pinned))
        p = subprocess.Popen(["bpftool", "map", "show", "pinned", pinned], stdout=subprocess.DEVNULL)
        self.assertEqual(p.wait(timeout=30), 0)
        self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == p.pid] or None,
                        what="sensor-tamper for bpftool")
        a = [x for x in alerts(self.d.sync()) if x["process"]["pid"] == p.pid]  # bpftool has exited
        self.assertEqual([x["rule"] for x in a], ["sensor-tamper"])
        self.assertIn("tasks", a[0]["message"])
        self.assertEqual(a[0]["severity"], "high")

    def test_taking_someone_elses_pinned_map_is_quiet(self):
        other = f"/sys/fs/bpf/fts-kt-other-{os.getpid()}-{random.randint(0, 1 << 30)}"
        try:
            subprocess.run(["bpftool", "map", "create", other, "type", "hash", "key", "4", "value", "4", "entries",
                            "1", "name", "fts_kt_other"], check=True, timeout=30)
            # One bpftool process takes the other map, then (the control) one of ours:
            # exactly one alert for it, naming ours.
            batch = os.path.join(self.d.tmp, "bpftool.batch")
            with open(batch, "w") as f:
                f.write(f"map show pinned {other}\nmap show pinned {os.path.join(self.pin_dir, 'settings')}\n")
            p = subprocess.Popen(["bpftool", "batch", "file", batch], stdout=subprocess.DEVNULL)
            self.assertEqual(p.wait(timeout=30), 0)
            self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == p.pid] or None,
                            what="the control's sensor-tamper")
            a = [x for x in alerts(self.d.sync()) if x["process"]["pid"] == p.pid]
            self.assertEqual([x["rule"] for x in a], ["sensor-tamper"], a)
            self.assertIn("settings", a[0]["message"])
            self.assertNotIn("fts_kt_other", a[0]["message"])
        finally:
            if os.path.exists(other):
                os.unlink(other)


if __name__ == "__main__":
    harness.main()
