"""Survival and identity (issue 12): a job that kills, stops or fools its
sentinel. Each test performs the attack for real against the real daemon and
its BPF programs, with a benign control in the same test:

- the daemon is SIGKILLed and restarted while `ftsentinel run` jobs run: they
  are still jobs after it, with their ids, policy and read history;
- a job SIGTERMs the daemon: the sensor-tamper alert naming the job is out
  before the daemon exits;
- a job swaps its output for a symlink to a FIFO: the daemon's hasher (root)
  never opens it, says why, and keeps serving;
- a job's argv carries tokens: no output (events, alerts, journal, logs)
  holds them.
"""
import ctypes
import hashlib
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402
from test_network import SinkServer  # noqa: E402

PY = "/usr/bin/python3"


def alerts(events, rule=None, job=None):
    out = [e for e in events if "rule" in e]
    if rule is not None:
        out = [a for a in out if a["rule"] == rule]
    if job is not None:
        out = [a for a in out if a.get("job", {}).get("id") == job]
    return out


def start_job(d, policy, name, *argv):
    """`ftsentinel run` in the background; returns (Popen, job id) once the job is registered."""
    p = subprocess.Popen([harness.CLI, "--socket", d.socket, "run", "--policy", policy, "--name", name, "--", *argv],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    err = ""
    while time.time() < deadline:
        ready, _, _ = select.select([p.stderr], [], [], 0.5)
        if ready:
            line = p.stderr.readline()
            err += line
            if "job " in line:
                return p, line.split("job ")[1].split()[0]
            if not line and p.poll() is not None:
                break
    p.kill()
    raise AssertionError(f"ftsentinel run did not register the job:\n{err}")


def wait_file(path, timeout=30):
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if time.time() > deadline:
            raise AssertionError(f"{path} never appeared")
        time.sleep(0.02)


# Job program for the restart test: reads what argv[1] names (or nothing),
# says so, waits for the go file, then forks a child that connects out and
# sends, and waits for it. The go file and the flag files are how the test
# steps it; every wait is bounded.
STEPPED_JOB = r"""
import os, socket, sys, time
read_path, step_dir, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if read_path != "-":
    open(read_path).read()
open(os.path.join(step_dir, "read"), "w").close()
deadline = time.time() + 60
while not os.path.exists(os.path.join(step_dir, "go")):
    if time.time() > deadline:
        sys.exit(3)
    time.sleep(0.02)
pid = os.fork()
if pid == 0:
    with open(os.path.join(step_dir, "child"), "w") as f:
        f.write(str(os.getpid()))
    c = socket.create_connection((host, port))
    c.sendall(b"x" * 4096)
    c.close()
    os._exit(0)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


class RestartKeepsJobs(unittest.TestCase):
    def test_sigkill_and_restart_keep_the_run_jobs(self):
        t = DataTree()
        denied = SinkServer(socket.AF_INET, "127.0.0.1")
        steps = tempfile.mkdtemp(prefix="fts-kt-steps-")
        pol = t.policy(name="ft", extra='network:\n  egress: ["127.0.0.1/32:1"]\n')
        d = Daemon({"ft.yaml": pol}).start()
        procs = []
        try:
            # The attack's job reads a shard; the control's reads nothing.
            os.makedirs(f"{steps}/a")
            os.makedirs(f"{steps}/b")
            pa, job_a = start_job(d, "ft", "reader", PY, "-c", STEPPED_JOB, t.shards[0], f"{steps}/a", "127.0.0.1",
                                  str(denied.port))
            pb, job_b = start_job(d, "ft", "quiet", PY, "-c", STEPPED_JOB, "-", f"{steps}/b", "127.0.0.1",
                                  str(denied.port))
            procs = [pa, pb]
            wait_file(f"{steps}/a/read")
            wait_file(f"{steps}/b/read")
            d.wait_for(lambda evs: [e for e in harness.of_kind(evs, "file", job=job_a)
                                    if e["file"]["path"] == t.shards[0]], what="the shard read by job a")
            d.sync()  # the barrier: what the daemon saw is saved for the next one

            # The watchdog, the OOM killer or a root job: SIGKILL, nothing drained.
            old_pid = d.proc.pid
            d.proc.kill()
            d.proc.wait()
            d.start()
            self.assertNotEqual(d.proc.pid, old_pid)
            jobs = d.cli("jobs", "--json")
            self.assertEqual(jobs.returncode, 0, jobs.stderr)
            for j in (job_a, job_b):
                self.assertIn(j, jobs.stdout, "the restarted daemon lists the job")

            for s in ("a", "b"):
                open(f"{steps}/{s}/go", "w").close()
            for p in procs:
                self.assertEqual(p.wait(timeout=60), 0, p.stderr.read())
            child_a = int(open(f"{steps}/a/child").read())
            d.wait_for(lambda evs: alerts(evs, "exfil-chain", job_a), timeout=30, what="exfil-chain of job a")
            d.wait_for(lambda evs: alerts(evs, "egress-not-allowed", job_b), timeout=30, what="job b's connect")
            evs = d.sync()
            chain = alerts(evs, "exfil-chain", job_a)
            self.assertEqual(len(chain), 1, chain)
            self.assertIn(t.shards[0], chain[0]["message"], "the read from before the restart")
            self.assertEqual(chain[0]["job"]["policy"], "ft")
            self.assertEqual(chain[0]["job"]["name"], "reader")
            self.assertEqual(chain[0]["process"]["pid"], child_a, "the child forked after the restart")
            # The child forked after the restart is in the job in the kernel's view too.
            nets = [e for e in harness.of_kind(evs, "network", pid=child_a)]
            self.assertTrue(nets, "the child's connect was seen")
            self.assertEqual({e["job"]["id"] for e in nets}, {job_a})
            # The control: the same connect after the same restart, without a read before.
            self.assertEqual(alerts(evs, "exfil-chain", job_b), [])
            self.assertTrue(alerts(evs, "egress-not-allowed", job_b))
            ends = {e["job"]["id"] for e in harness.of_kind(evs, "job_end")}
            self.assertTrue({job_a, job_b} <= ends, "each job ends once its processes exit")
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            d.cleanup()
            denied.close()
            t.cleanup()
            subprocess.run(["rm", "-rf", steps])


class SigtermFromAJob(unittest.TestCase):
    def test_the_tamper_alert_is_out_before_the_daemon_exits(self):
        t = DataTree()
        d = Daemon({"ft.yaml": t.policy(name="ft")}).start()
        try:
            # The control: a job that leaves the daemon alone raises nothing.
            r = d.cli("run", "--policy", "ft", "--", PY, "-c", "import os; os.getpid()", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            quiet = r.stderr.split("job ")[1].split()[0]
            d.wait_for(lambda evs: harness.of_kind(evs, "job_end", job=quiet), what="the control's end")
            r = d.cli("run", "--policy", "ft", "--name", "stopper", "--", PY, "-c",
                      f"import os, signal; os.kill({d.proc.pid}, signal.SIGTERM)", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            job = r.stderr.split("job ")[1].split()[0]
            self.assertEqual(d.proc.wait(timeout=20), 0, "a clean stop (systemd's Restart=always restarts it)")
            evs = d.events()  # the daemon has exited: everything it wrote is there
            tamper = alerts(evs, "sensor-tamper", job)
            self.assertEqual(len(tamper), 1, [harness.summary(e) for e in evs[-20:]])
            self.assertIn("SIGTERM", tamper[0]["message"])
            self.assertEqual(tamper[0]["job"]["name"], "stopper")
            self.assertEqual(tamper[0]["severity"], "medium")
            self.assertEqual(alerts(evs, job=quiet), [])
        finally:
            d.cleanup()
            t.cleanup()


class Inotify:
    """IN_OPEN on one path: did anyone open it?"""
    IN_OPEN = 0x20

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or self.libc.inotify_add_watch(self.fd, path.encode(), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), "inotify")

    def opens(self):
        n = 0
        try:
            buf = os.read(self.fd, 65536)
        except BlockingIOError:
            return 0
        off = 0
        while off < len(buf):
            _, mask, _, length = struct.unpack_from("iIII", buf, off)
            n += bool(mask & self.IN_OPEN)
            off += 16 + length
        return n

    def close(self):
        os.close(self.fd)


# A job writes its output, then puts a symlink to a FIFO in its place (an
# atomic rename, like a checkpoint writer would).
SWAP_JOB = r"""
import os, sys
out, fifo = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    f.write("weights\n")
os.symlink(fifo, out + ".tmp")
os.rename(out + ".tmp", out)
"""
WRITE_JOB = "import sys\nwith open(sys.argv[1], 'w') as f:\n    f.write('weights\\n')\n"


class HasherSymlinkSwap(unittest.TestCase):
    def test_a_symlink_to_a_fifo_is_never_opened(self):
        t = DataTree()
        fifo_dir = tempfile.mkdtemp(prefix="fts-kt-fifo-")
        fifo = os.path.join(fifo_dir, "trap")
        os.mkfifo(fifo, 0o600)
        watch = Inotify(fifo)
        d = Daemon({"ft.yaml": t.policy(name="ft")}).start()
        try:
            out, other = f"{t.ckpt}/model.bin", f"{t.ckpt}/other.bin"
            r = d.cli("run", "--policy", "ft", "--", PY, "-c", SWAP_JOB, out, fifo, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            job = r.stderr.split("job ")[1].split()[0]
            self.assertTrue(os.path.islink(out))
            # The control: a job whose output stays a file.
            r = d.cli("run", "--policy", "ft", "--", PY, "-c", WRITE_JOB, other, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            control = r.stderr.split("job ")[1].split()[0]
            for j in (job, control):
                d.wait_for(lambda evs: harness.of_kind(evs, "job_end", job=j), what="job_end")

            def hashes(evs, path):
                return [e for e in harness.of_kind(evs, "file_hash") if e["file"]["path"] == path
                        and e["job"]["id"] in (job, control)]
            d.wait_for(lambda evs: [e for e in hashes(evs, out) if e["hash"].get("error")], what="the refused hash")
            d.wait_for(lambda evs: [e for e in hashes(evs, other) if e["hash"].get("sha256")], what="the control hash")
            evs = d.sync()
            refused = [e for e in hashes(evs, out) if e["hash"].get("error")]
            self.assertTrue(refused)
            self.assertEqual({e["hash"]["error"] for e in refused}, {"a symbolic link: not followed"})
            # Hashed at most as the file it was before the swap, never through the link.
            weights = hashlib.sha256(b"weights\n").hexdigest()
            self.assertEqual({e["hash"]["sha256"] for e in hashes(evs, out) if e["hash"].get("sha256")} - {weights},
                             set())
            self.assertEqual(watch.opens(), 0, "the daemon opened the FIFO behind the symlink")
            # The positive controls: the other output was hashed, the daemon
            # serves, and the watch does see an open of the FIFO.
            self.assertEqual(len([e for e in hashes(evs, other) if e["hash"].get("sha256")]) >= 1, True)
            self.assertEqual(d.cli("status").returncode, 0)
            fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
            os.close(fd)
            self.assertEqual(watch.opens(), 1, "the inotify watch sees opens")
        finally:
            watch.close()
            d.cleanup()
            t.cleanup()
            subprocess.run(["rm", "-rf", fifo_dir])


HF = "hf_" + "Zq8RkT3vLm0PwX5sYb7NcJ2dGh4FaE1uQi"
GH = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


class SecretsInArgv(unittest.TestCase):
    def test_tokens_leave_in_no_output(self):
        t = DataTree()
        # A second output that takes alerts only (appended to the harness's outputs list).
        d = Daemon({"ft.yaml": t.policy(name="ft")},
                   extra_config="  - { type: file, path: alerts-only.jsonl, events: alerts }\n").start()
        try:
            # The job reads a credential (an alert with its process) with the
            # tokens in its argv; --tokenizer is the benign look-alike that stays.
            r = d.cli("run", "--policy", "ft", "--name", "push", "--", PY, "-c",
                      "import sys; open(sys.argv[1]).read()", t.hf_token, f"--hf-token={HF}", "--token", GH,
                      "--tokenizer=gpt2", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            job = r.stderr.split("job ")[1].split()[0]
            d.wait_for(lambda evs: harness.of_kind(evs, "job_end", job=job), what="job_end")
            d.wait_for(lambda evs: alerts(evs, "credential-read", job), what="credential-read")
            evs = d.sync()
            cred = alerts(evs, "credential-read", job)[0]
            self.assertTrue(cred.get("redacted"), cred)
            self.assertEqual(cred["process"]["args"][-4:],
                             ["--hf-token=[REDACTED]", "--token", "[REDACTED]", "--tokenizer=gpt2"])
            execs = harness.of_kind(evs, "exec", job=job)
            self.assertTrue(execs)
            self.assertTrue(all(e["process"].get("redacted") for e in execs))
            review = d.cli("review", job, "--json")
            self.assertEqual(review.returncode, 0, review.stderr)
            self.assertIn("--tokenizer=gpt2", review.stdout, "the journal holds the job's argv")
            d.stop()
            outputs = {}
            for root, _, files in os.walk(d.tmp):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        outputs[os.path.join(root, name)] = f.read()
            # The positive controls: argv is in each output, as it is, raw bytes
            # included (the journal's rows).
            for name in ("alerts-only.jsonl", "events.jsonl", "journal.db"):
                self.assertTrue(any(b"--tokenizer=gpt2" in b for p, b in outputs.items() if name in p), name)
            for secret in (HF, GH):
                self.assertNotIn(secret, review.stdout)
                leaks = [p for p, b in outputs.items() if secret.encode() in b]
                self.assertEqual(leaks, [], f"{secret[:3]}… left in")
        finally:
            d.cleanup()
            t.cleanup()


if __name__ == "__main__":
    harness.main()
