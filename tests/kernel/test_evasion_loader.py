"""Loader injection against the real daemon (issue 12, "the kernel view"):
every way a job can make the dynamic loader run code of its choosing, done for
real, ends in the right rule with the value glibc uses; an ordinary (and a
large but complete) environment stays quiet in the same job.

- the *last* LD_PRELOAD of an environment (glibc's), behind an allowed first one;
- LD_AUDIT;
- `ld.so --preload X prog` and `ld.so --audit X prog`;
- `ld.so /usr/bin/curl`: the exe is ld-linux, the program is curl (deny_exec);
- an LD_PRELOAD hidden behind more environment than the kernel scans: the cut
  scan is reported (env_scan_truncated)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"
LDSO = "/lib64/ld-linux-x86-64.so.2"
LIBM = "/usr/lib/x86_64-linux-gnu/libm.so.6"          # allowed by the policy
LIBUTIL = "/usr/lib/x86_64-linux-gnu/libutil.so.1"    # a real, harmless library the policy does not allow
TRUE = "/usr/bin/true"

# execve with the environment exactly as given (duplicates and order kept:
# os.execve would fold them through a dict), from a forked child; exits with
# the child's status. argv[1]: the program; argv[2:]: its args; stdin: env lines.
EXECVE_RAW = r"""
import ctypes, os, sys
env = [l.rstrip("\n").encode() for l in sys.stdin if l.strip()]
argv = [a.encode() for a in sys.argv[1:]]
pid = os.fork()
if pid == 0:
    libc = ctypes.CDLL(None, use_errno=True)
    A = ctypes.c_char_p * (len(argv) + 1)
    E = ctypes.c_char_p * (len(env) + 1)
    libc.execve(argv[0], A(*argv, None), E(*env, None))
    os._exit(127)
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st))
"""


def alerts(events, job):
    return [e for e in events if "rule" in e and e.get("job", {}).get("id") == job]


class LoaderEvasionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for f in (LDSO, LIBM, LIBUTIL, TRUE, "/usr/bin/curl"):
            assert os.path.exists(f), f
        cls.t = DataTree()
        extra = f'process:\n  deny_exec: ["**/curl", "**/wget"]\n  allow_preload: ["{LIBM}"]\n'
        # curl reads /etc/ldap/ldap.conf, outside the built-in base list: without
        # this line the curl test also raises unapproved-data-read for it.
        pol = cls.t.policy(extra=extra).replace("data:\n", 'data:\n  base: ["/etc/ldap/**"]\n')
        cls.d = Daemon({"ft.yaml": pol}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def job(self, *argv, stdin=None):
        r = harness.subprocess.run([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", *argv],
                                   input=stdin, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stderr.split("job ")[1].split()[0]

    def settle(self, job):
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), what="job_end")
        return alerts(self.d.sync(), job)

    def execs(self, job, exe):
        return [e for e in harness.of_kind(self.d.events(), "exec", job=job) if e["process"]["exe"] == exe]

    def raw_exec(self, env, *argv):
        """A job whose root execs argv with exactly `env` (a list of NAME=VALUE)."""
        return self.job(PY, "-c", EXECVE_RAW, *argv, stdin="\n".join(env) + "\n")

    def test_the_last_ld_preload_is_the_one_reported(self):
        # glibc loads the last LD_PRELOAD; the first (allowed) one is a decoy.
        env = ["PATH=/usr/bin:/bin", f"LD_PRELOAD={LIBM}", "HOME=/root", f"LD_PRELOAD={LIBUTIL}"]
        job = self.raw_exec(env, TRUE)
        al = self.settle(job)
        self.assertEqual([(a["rule"], a["process"]["exe"]) for a in al], [("preload-injection", TRUE)], al)
        self.assertIn(f"LD_PRELOAD={LIBUTIL}", al[0]["message"])
        ex = self.execs(job, TRUE)
        self.assertEqual(len(ex), 1)
        self.assertEqual(ex[0]["process"]["ld_preload"], LIBUTIL)
        # Control, same daemon: the allowed library alone (first and last) is quiet,
        # while the same job's credential read is seen.
        clean = self.job(PY, "-c", f"open({self.t.hf_token!r}).read()\n" + EXECVE_RAW, TRUE,
                         stdin=f"PATH=/bin\nLD_PRELOAD={LIBM}\n")
        al = self.settle(clean)
        self.assertEqual([(a["rule"], a.get("file", {}).get("path")) for a in al],
                         [("credential-read", self.t.hf_token)], al)
        self.assertEqual(self.execs(clean, TRUE)[0]["process"]["ld_preload"], LIBM)

    def test_ld_audit(self):
        job = self.raw_exec(["PATH=/bin", f"LD_AUDIT={LIBM}"], TRUE)
        al = self.settle(job)
        self.assertEqual([(a["rule"], a["process"]["exe"]) for a in al], [("preload-injection", TRUE)], al)
        self.assertEqual(al[0]["severity"], "high")
        self.assertEqual(al[0]["mitre"]["attack"], ["T1574.006"])
        self.assertIn(f"LD_AUDIT={LIBM}", al[0]["message"], "an auditor is never allow-listed")
        ex = self.execs(job, TRUE)[0]["process"]
        self.assertEqual(ex["ld_audit"], LIBM)
        self.assertIn("ld_audit", ex["flags"])

    def test_ld_so_preload_and_audit_options(self):
        code = ("import subprocess, sys\n"
                f"subprocess.run([{LDSO!r}, '--preload', {LIBUTIL!r}, {TRUE!r}], check=True)\n"
                f"subprocess.run([{LDSO!r}, '--audit', {LIBM!r}, {TRUE!r}], check=True)\n"
                f"subprocess.run([{LDSO!r}, {TRUE!r}], check=True)\n")  # the control: nothing injected
        job = self.job(PY, "-c", code)
        al = self.settle(job)
        ldso = os.path.realpath(LDSO)
        self.assertEqual(sorted((a["rule"], a["process"]["exe"], a["process"]["args"][1]) for a in al),
                         [("preload-injection", ldso, "--audit"), ("preload-injection", ldso, "--preload")], al)
        by_opt = {a["process"]["args"][1]: a["message"] for a in al}
        self.assertIn(f"ld.so --audit {LIBM}", by_opt["--audit"])
        self.assertIn(f"ld.so --preload {LIBUTIL}", by_opt["--preload"])
        runs = self.execs(job, ldso)
        self.assertEqual(len(runs), 3)
        self.assertEqual({r["process"].get("loaded_program") for r in runs}, {TRUE})

    def test_curl_through_the_loader_is_curl(self):
        code = ("import subprocess\n"
                f"subprocess.run([{LDSO!r}, '/usr/bin/curl', '--version'], check=True, stdout=subprocess.DEVNULL)\n"
                # the control: curl named only as an argument of what runs
                f"subprocess.run([{LDSO!r}, '/usr/bin/echo', '/usr/bin/curl'], check=True, stdout=subprocess.DEVNULL)\n")
        job = self.job(PY, "-c", code)
        al = self.settle(job)
        self.assertEqual([(a["rule"], a["process"]["args"][1]) for a in al],
                         [("transfer-tool-exec", "/usr/bin/curl")], al)
        self.assertIn("/usr/bin/curl through the dynamic loader", al[0]["message"])
        self.assertEqual(al[0]["process"]["exe"], os.path.realpath(LDSO))
        progs = sorted(e["process"].get("loaded_program") for e in self.execs(job, os.path.realpath(LDSO)))
        self.assertEqual(progs, ["/usr/bin/curl", "/usr/bin/echo"])

    def test_environment_too_large_to_scan_is_reported_and_a_large_complete_one_is_not(self):
        # 1,500 strings: scanned to the end, nothing to say (the control).
        big = [f"FTS_PAD_{i}=x" for i in range(1500)]
        clean = self.raw_exec(["PATH=/bin"] + big, TRUE)
        al = self.settle(clean)
        self.assertEqual(al, [])
        ex = self.execs(clean, TRUE)
        self.assertEqual(len(ex), 1)
        self.assertNotIn("env_scan_truncated", ex[0]["process"].get("flags", []))
        # 10,000 strings, then the LD_PRELOAD glibc will use: past what the kernel reads.
        huge = [f"FTS_PAD_{i}=x" for i in range(10000)] + [f"LD_PRELOAD={LIBUTIL}"]
        job = self.raw_exec(["PATH=/bin"] + huge, TRUE)
        al = self.settle(job)
        self.assertEqual([(a["rule"], a["severity"], a["process"]["exe"]) for a in al],
                         [("preload-injection", "medium", TRUE)], al)
        self.assertIn("env_scan_truncated", al[0]["message"])
        ex = self.execs(job, TRUE)
        self.assertIn("env_scan_truncated", ex[0]["process"]["flags"])
        self.assertNotIn("ld_preload", ex[0]["process"], "the kernel never reached it")


if __name__ == "__main__":
    harness.main()
