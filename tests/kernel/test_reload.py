"""Policy reload, end to end: a job runs under an enforce-mode policy; the
policy changes under it through `ftsentinel reload` and SIGHUP, and the
kernel follows (a connect refused before succeeds after, a new sensitive path
is reported); a broken policy is refused with file:line:column and the old
enforcement stays exactly as it was. Servers on 127.0.0.1, ports the kernel
picks."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import CLI, Daemon  # noqa: E402

PY = "/usr/bin/python3"

# The job: one command per line on stdin, one JSON answer per line.
#   connect PORT -> {"errno": 0 | E}   read PATH -> {"read": N}
JOB = r"""
import json, socket, sys
for line in sys.stdin:
    cmd, arg = line.split()
    if cmd == "connect":
        try:
            c = socket.create_connection(("127.0.0.1", int(arg)), timeout=5)
            c.sendall(b"x")
            c.close()
            print(json.dumps({"errno": 0}), flush=True)
        except OSError as e:
            print(json.dumps({"errno": e.errno}), flush=True)
    elif cmd == "read":
        print(json.dumps({"read": len(open(arg, "rb").read())}), flush=True)
"""

EPERM = 1


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


class ReloadTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree(prefix="fts-kt-reload-")
        cls.servers = [listener() for _ in range(3)]
        cls.a, cls.b, cls.c = (s.getsockname()[1] for s in cls.servers)
        # Two credential files in a directory no policy names yet.
        cls.keys = os.path.join(cls.t.root, "home", ".gcloud")
        os.makedirs(cls.keys)
        cls.key_before = os.path.join(cls.keys, "before.json")
        cls.key_after = os.path.join(cls.keys, "after.json")
        for p in (cls.key_before, cls.key_after):
            with open(p, "w") as f:
                f.write('{"private_key": "x"}\n')
        cls.d = Daemon({"enf.yaml": cls.policy([cls.a])}).start()
        cls.policy_file = os.path.join(cls.d.tmp, "pol", "enf.yaml")
        env = dict(os.environ, FTSENTINEL_SOCKET=cls.d.socket)
        cls.job = subprocess.Popen([CLI, "run", "--policy", "enf", "--name", "reload-job", "--", PY, "-c", JOB],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.job.stdin.close()
            cls.job.wait(timeout=10)
        except Exception:
            cls.job.kill()
        cls.d.cleanup()
        for s in cls.servers:
            s.close()
        cls.t.cleanup()

    @classmethod
    def policy(cls, ports, sensitive=(), egress_extra=""):
        egress = ", ".join(f'"127.0.0.1/32:{p}"' for p in ports)
        text = cls.t.policy(name="enf", mode="enforce", extra=f"network:\n  egress: [{egress}{egress_extra}]\n")
        for s in sensitive:
            text = text.replace('  sensitive: [', f'  sensitive: ["{s}", ')
        return text

    def write_policy(self, text):
        tmp = self.policy_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, self.policy_file)

    def ask(self, cmd):
        self.job.stdin.write(cmd + "\n")
        self.job.stdin.flush()
        line = self.job.stdout.readline()
        if not line:
            raise AssertionError("the job died:\n" + self.job.stderr.read())
        return json.loads(line)

    def connect(self, port):
        return self.ask(f"connect {port}")["errno"]

    def status(self):
        r = self.d.cli("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def credential_reads(self, path):
        return [e for e in self.d.events() if e.get("rule") == "credential-read" and e.get("file", {}).get("path") == path]

    def test_reload_changes_the_kernel_and_a_broken_policy_changes_nothing(self):
        # Generation 1: only server a.
        self.assertEqual(self.connect(self.a), 0)
        self.assertEqual(self.connect(self.b), EPERM)
        self.assertGreater(self.ask(f"read {self.key_before}")["read"], 0)
        self.assertEqual(self.status()["policy_generation"], "1")

        # `ftsentinel reload`: b allowed, the new directory sensitive.
        self.write_policy(self.policy([self.a, self.b], sensitive=[f"{self.keys}/**"]))
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("reloaded: generation 2, policies: enf", r.stdout)
        self.assertIn("now under the reloaded policy 'enf'", r.stdout)
        self.assertEqual(self.connect(self.b), 0, "the added egress entry lets the running job connect")
        self.assertEqual(self.connect(self.a), 0)
        self.assertEqual(self.connect(self.c), EPERM)
        self.assertGreater(self.ask(f"read {self.key_after}")["read"], 0)
        alert = self.d.wait_for(lambda evs: self.credential_reads(self.key_after), what="credential-read after reload")
        self.assertEqual(alert[0]["job"]["name"], "reload-job")
        self.assertEqual(self.credential_reads(self.key_before), [], "not sensitive before the reload")
        st = self.status()
        self.assertEqual(st["policy_generation"], "2")
        self.assertTrue(st["last_reload"]["applied"])
        jobs = json.loads(self.d.cli("jobs", "--json").stdout)["jobs"]
        self.assertEqual([(j["name"], j["policy"], j["mode"]) for j in jobs], [("reload-job", "enf", "enforce")])

        # A broken policy: refused with its position; the kernel keeps generation 2.
        broken = self.policy([self.a, self.b, self.c]).replace(f'"127.0.0.1/32:{self.c}"', '"127.0.0.1/33"')
        self.write_policy(broken)
        line = next(i + 1 for i, l in enumerate(broken.splitlines()) if "127.0.0.1/33" in l)
        col = broken.splitlines()[line - 1].index('"127.0.0.1/33"') + 1
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{self.policy_file}:{line}:{col}: network.egress[2]: bad egress entry '127.0.0.1/33'", r.stderr)
        self.assertIn("refused, 1 error(s); still running generation 2: enf", r.stderr)
        self.assertEqual(self.connect(self.b), 0, "the old policy still allows b")
        self.assertEqual(self.connect(self.c), EPERM, "and still refuses c")
        st = self.status()
        self.assertEqual(st["policy_generation"], "2")
        self.assertFalse(st["last_reload"].get("applied", False))
        self.assertIn(f"{self.policy_file}:{line}:{col}:", st["last_reload"]["first_error"])
        self.assertIn(f"{self.policy_file}:{line}:{col}:", self.d.stderr())

        # SIGHUP does the same: b refused again.
        self.write_policy(self.policy([self.a]))
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while self.status()["policy_generation"] != "3":
            self.assertLess(time.time(), deadline, "SIGHUP did not reload:\n" + self.d.stderr())
            time.sleep(0.05)
        self.assertEqual(self.connect(self.b), EPERM)
        self.assertEqual(self.connect(self.a), 0)

        # SIGHUP with a syntax error: logged with its position, nothing changes.
        self.write_policy("name: enf\nmode: enforce\nnetwork:\n  egress: [\"127.0.0.1/32\"\n")
        self.d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while "last_reload" not in self.status() or self.status()["last_reload"].get("applied", False):
            self.assertLess(time.time(), deadline, "SIGHUP with a broken policy was not refused:\n" + self.d.stderr())
            time.sleep(0.05)
        self.assertEqual(self.status()["policy_generation"], "3")
        self.assertIn(f"{self.policy_file}:5:1:", self.d.stderr())
        self.assertEqual(self.connect(self.b), EPERM, "a refused reload must not open anything")
        self.assertEqual(self.connect(self.a), 0)
        self.assertIsNone(self.d.proc.poll(), "the daemon keeps running")


class RemovedPolicyTest(unittest.TestCase):
    """A job whose policy is removed by a reload keeps it, in the kernel too,
    until it ends; no new job can start under it."""

    @classmethod
    def setUpClass(cls):
        cls.t = DataTree(prefix="fts-kt-reload-rm-")
        cls.servers = [listener() for _ in range(2)]
        cls.a, cls.b = (s.getsockname()[1] for s in cls.servers)
        enf = cls.t.policy(name="enf", mode="enforce", extra=f'network:\n  egress: ["127.0.0.1/32:{cls.a}"]\n')
        other = "name: other\nmode: monitor\njobs:\n  exec: [\"**/fts-kt-other-launcher\"]\n"
        cls.d = Daemon({"enf.yaml": enf, "other.yaml": other}).start()
        env = dict(os.environ, FTSENTINEL_SOCKET=cls.d.socket)
        cls.job = subprocess.Popen([CLI, "run", "--policy", "enf", "--name", "orphan", "--", PY, "-c", JOB],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.job.stdin.close()
            cls.job.wait(timeout=10)
        except Exception:
            cls.job.kill()
        cls.d.cleanup()
        for s in cls.servers:
            s.close()
        cls.t.cleanup()

    ask = ReloadTest.ask
    connect = ReloadTest.connect

    def test_the_job_keeps_its_removed_policy(self):
        self.assertEqual(self.connect(self.a), 0)
        self.assertEqual(self.connect(self.b), EPERM)
        os.unlink(os.path.join(self.d.tmp, "pol", "enf.yaml"))
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("policy 'enf' is gone; the job keeps it until it ends", r.stdout)
        self.assertIn("reloaded: generation 2, policies: other", r.stdout)
        self.assertIn("policy 'enf' is gone", self.d.stderr())
        self.assertEqual(self.connect(self.b), EPERM, "still enforced")
        self.assertEqual(self.connect(self.a), 0, "its egress list is still in the kernel")
        # A second reload while it runs: still the removed policy.
        with open(os.path.join(self.d.tmp, "pol", "third.yaml"), "w") as f:
            f.write("name: third\nmode: monitor\njobs:\n  exec: [\"**/fts-kt-third-launcher\"]\n")
        r = self.d.cli("reload")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(self.connect(self.b), EPERM)
        self.assertEqual(self.connect(self.a), 0)
        jobs = json.loads(self.d.cli("jobs", "--json").stdout)["jobs"]
        self.assertEqual([(j["name"], j["policy"]) for j in jobs], [("orphan", "enf")])
        r = self.d.cli("run", "--policy", "enf", "--", "/bin/true")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("unknown policy 'enf'", r.stderr)


if __name__ == "__main__":
    harness.main()
