"""Rules on real events: each scenario raises exactly the expected rules, and
a benign job raises none. (The network scenarios come with the network
sensor.)"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"


def alerts(events, job=None):
    out = [e for e in events if "rule" in e]
    if job is not None:
        out = [a for a in out if a.get("job", {}).get("id") == job]
    return out


class RulesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        extra = 'process:\n  deny_exec: ["**/curl", "**/wget", "**/nc"]\n'
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def job(self, *argv, rc=0):
        r = self.d.cli("run", "--policy", "ft", "--", *argv, timeout=120)
        self.assertEqual(r.returncode, rc, r.stderr + r.stdout)
        return r.stderr.split("job ")[1].split()[0]

    def settle(self, job):
        """The job's alerts once it ended and the daemon passed the barrier."""
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), what="job_end")
        return alerts(self.d.sync(), job)

    def rules_of(self, al):
        return sorted({a["rule"] for a in al})

    def test_b1_benign_job_raises_nothing(self):
        t = self.t
        code = ("import sys, os, json\nfor s in sys.argv[1:4]:\n    [json.loads(l) for l in open(s)]\n"
                "os.makedirs(sys.argv[4] + '/checkpoint-1', exist_ok=True)\n"
                "open(sys.argv[4] + '/checkpoint-1/model.bin', 'wb').write(b'w' * 1024)\n")
        job = self.job(PY, "-c", code, *t.shards, t.ckpt)
        al = self.settle(job)
        # The control: the daemon saw this job read every shard and write its checkpoint.
        files = [e for e in self.d.events() if e.get("kind") == "file" and e.get("job", {}).get("id") == job]
        seen = {e["file"]["path"] for e in files}
        for path in [*t.shards, f"{t.ckpt}/checkpoint-1/model.bin"]:
            self.assertIn(path, seen)
        self.assertEqual(al, [])

    def test_a4_credential_read(self):
        job = self.job(PY, "-c", "import sys\nopen(sys.argv[1]).read(); open(sys.argv[2]).read()", self.t.hf_token,
                       self.t.aws)
        al = self.settle(job)
        self.assertEqual(self.rules_of(al), ["credential-read"])
        self.assertEqual({a["file"]["path"] for a in al}, {self.t.hf_token, self.t.aws})
        a = al[0]
        self.assertEqual(a["severity"], "high")
        self.assertEqual(a["mitre"]["attack"], ["T1552.001"])
        self.assertEqual(a["mitre"]["atlas"], ["AML.T0055"])
        self.assertTrue(a["evidence"])
        self.assertTrue(a["id"])
        self.assertIn("python3", a["process"]["exe"])

    def test_a5_unapproved_read_and_no_repeat(self):
        code = "import sys\nfor _ in range(3):\n    open(sys.argv[1]).read()"
        job = self.job(PY, "-c", code, self.t.unapproved_file)
        al = self.settle(job)
        self.assertEqual(self.rules_of(al), ["unapproved-data-read"])
        self.assertEqual(len(al), 1, "the same read by the same process is one alert")
        self.assertEqual(al[0]["file"]["path"], self.t.unapproved_file)

    def test_a6_io_uring(self):
        out = tempfile.mkdtemp(prefix="fts-kt-fio-")
        try:
            job = self.job(shutil.which("fio"), "--name=a6", "--ioengine=io_uring", "--rw=write",
                           f"--filename={out}/w.bin", "--size=128k", "--bs=4k")
            al = self.settle(job)
            # fio reads its own files, all under the base list (/usr, /proc, /sys)
            self.assertEqual(self.rules_of(al), ["io-uring-in-job"], al)
        finally:
            shutil.rmtree(out)

    def test_a7_shell_under_training_process(self):
        job = self.job(PY, "-c", "import os\nos.system('sh -c true')")
        al = self.settle(job)
        self.assertEqual(self.rules_of(al), ["shell-in-job"])
        # a wrapper shell run by the launcher is not one
        job2 = self.job("/bin/sh", "-c", f"{PY} -c 'print(1)'")
        al2 = self.settle(job2)
        # the control: the daemon saw the wrapper run python in that job
        execs = harness.of_kind(self.d.events(), "exec", job=job2)
        self.assertIn(["-c", "print(1)"], [e["process"]["args"][1:] for e in execs])
        self.assertEqual(al2, [])

    def test_a8_fileless_exec(self):
        # memfd_create + execveat(fd, "", AT_EMPTY_PATH): no path names the program.
        code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                "fd = os.memfd_create('payload')\nos.write(fd, open('/bin/true', 'rb').read())\n"
                "pid = os.fork()\nif pid == 0:\n"
                "    argv = (ctypes.c_char_p * 2)(b'payload', None)\n"
                "    envp = (ctypes.c_char_p * 1)(None)\n"
                "    libc.syscall(322, fd, b'', argv, envp, 0x1000)  # execveat, AT_EMPTY_PATH\n"
                "    os._exit(100 + ctypes.get_errno())\n"
                "_, status = os.waitpid(pid, 0)\nassert os.waitstatus_to_exitcode(status) == 0, status\n"
                "print(pid)")
        r = self.d.cli("run", "--policy", "ft", "--", PY, "-c", code, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        job = r.stderr.split("job ")[1].split()[0]
        child = int(r.stdout)
        al = self.settle(job)
        self.assertEqual(self.rules_of(al), ["fileless-exec"], al)
        self.assertEqual([a["process"]["pid"] for a in al], [child])
        self.assertIn("memfd:payload", al[0]["process"]["exe"])

    def test_transfer_tool_exec(self):
        tool = os.path.join(tempfile.mkdtemp(prefix="fts-kt-bin-"), "curl")
        shutil.copy("/bin/true", tool)
        try:
            job = self.job(tool, "--version")
            al = self.settle(job)
            self.assertEqual(self.rules_of(al), ["transfer-tool-exec"])
        finally:
            shutil.rmtree(os.path.dirname(tool))

    def test_i1_protected_write_by_outsider(self):
        p = subprocess.Popen(["/bin/sh", "-c", f"echo poison >> {self.t.shards[0]}"])
        p.wait()
        self.d.wait_for(lambda e: [x for x in alerts(e) if x["rule"] == "protected-data-write"
                                   and x["process"]["pid"] == p.pid] or None, what="protected-data-write")
        a = [x for x in alerts(self.d.sync()) if x["process"]["pid"] == p.pid]
        self.assertEqual(len(a), 1)
        self.assertEqual(a[0]["rule"], "protected-data-write")
        self.assertEqual(a[0]["file"]["path"], self.t.shards[0])
        self.assertNotIn("job", a[0])

    def test_i3_checkpoint_tamper_while_job_runs(self):
        t = self.t
        fifo = os.path.join(self.d.tmp, "hold")
        os.mkfifo(fifo)
        runner = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", "/bin/sh",
                                   "-c", f"read x < {fifo}"], stderr=subprocess.PIPE, text=True)
        start = self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_start")
                                           if x["job_info"]["root_pid"] == runner.pid] or None, what="job_start")
        job = start[0]["job"]["id"]
        target = f"{t.ckpt}/checkpoint-9.bin"
        p = subprocess.Popen(["/bin/sh", "-c", f"echo tampered > {target}"])
        p.wait()
        self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == p.pid] or None,
                        what="alert on the tamper")
        a = [x for x in alerts(self.d.sync()) if x["process"]["pid"] == p.pid]
        self.assertEqual(sorted({x["rule"] for x in a}), ["checkpoint-tamper"])
        self.assertEqual(a[0]["job"]["id"], job)
        with open(fifo, "w") as f:
            f.write("go\n")
        runner.wait(timeout=30)


if __name__ == "__main__":
    harness.main()
