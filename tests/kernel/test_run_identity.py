"""Run identity on every record (issue 14): the cluster-wide run a job is part
of and each process's rank, as the kernel saw them.

- A Slurm-shaped cgroup tree (`…/slurmstepd.scope/job_42/step_0`) made by the
  test, with a job inside: every record carries run `slurm:42` (the cgroup wins
  over a SLURM_JOB_ID the task claims), its rank is its SLURM_PROCID, and the
  step's job ends when its cgroup goes.
- `torchrun --nproc_per_node 2` (Debian's python3-torch) with
  TORCHELASTIC_RUN_ID set: every record of the job carries the run, each worker
  (and what it forks) its rank.
- A process that writes over its environment after exec keeps the run and rank
  the kernel read at its exec; a child it execs with a new environment gets that
  one (the positive control: the scan reads each exec).
- slurmstepd's BPF_PROG_TYPE_CGROUP_DEVICE programs are not `sensor-tamper`.
"""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Daemon, of_kind  # noqa: E402

PY = "/usr/bin/python3"
HOST = "gpu-node-7"


def job_records(evs, job):
    """Every event and alert of the job."""
    return [e for e in evs if e.get("job", {}).get("id") == job]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SlurmTree:
    """`/fts-kt-slurm-N/slurmstepd.scope/job_42/step_0` under the cgroup v2 mount."""

    def __init__(self):
        self.mount = harness.cgroup2_mount()
        if not self.mount:
            harness.skip_or_fail("no cgroup v2 mount")
        self.top = f"/fts-kt-slurm-{os.getpid()}-{random.randint(0, 1 << 30)}"
        self.step = self.top + "/slurmstepd.scope/job_42/step_0"
        os.makedirs(self.mount + self.step)

    def procs_file(self):
        return self.mount + self.step + "/cgroup.procs"

    def remove_step(self):
        os.rmdir(self.mount + self.step)

    def remove(self):
        # Leftover tasks back to the root, then the directories leaf first.
        d = self.mount + self.step
        while len(d) > len(self.mount) + 1:
            try:
                with open(d + "/cgroup.procs") as f:
                    for p in f.read().split():
                        try:
                            with open(self.mount + "/cgroup.procs", "w") as r:
                                r.write(p)
                        except OSError:
                            pass
                os.rmdir(d)
            except FileNotFoundError:
                pass
            d = os.path.dirname(d)


# Reads a file, forks a child that reads it too, and waits: records of the
# process and of its fork, each with the environment it exec'd with.
READER = """
import os, sys
open(sys.argv[1]).read()
pid = os.fork()
if pid == 0:
    open(sys.argv[1]).read()
    os._exit(0)
os.waitpid(pid, 0)
"""

# Writes over its own environment block in place (what /proc/PID/environ
# shows), then reads a file, forks, and execs a child with a new environment.
REWRITER = r"""
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None)
env = ctypes.cast(ctypes.c_void_p.in_dll(libc, "environ").value, ctypes.POINTER(ctypes.c_void_p))
i = 0
while env[i]:
    s = ctypes.string_at(env[i])
    for name, new in ((b"RANK=", b"7"), (b"TORCHELASTIC_RUN_ID=", b"run-z")):
        if s.startswith(name):
            ctypes.memmove(env[i] + len(name), new + b"\0", len(new) + 1)
    i += 1
with open("/proc/self/environ", "rb") as f:
    now = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
print(now[b"RANK"].decode(), now[b"TORCHELASTIC_RUN_ID"].decode(), flush=True)
open(sys.argv[1]).read()
pid = os.fork()
if pid == 0:
    open(sys.argv[1]).read()
    os._exit(0)
os.waitpid(pid, 0)
child = dict(os.environ, RANK="6", TORCHELASTIC_RUN_ID="run-b")
subprocess.run(["/bin/cat", sys.argv[1]], env=child, stdout=subprocess.DEVNULL, check=True)
"""


class RunIdentityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="fts-kt-run-")
        cls.data = os.path.join(cls.tmp, "shard.jsonl")
        with open(cls.data, "w") as f:
            f.write('{"text": "x"}\n' * 20)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_slurm_step_cgroup_names_the_run_and_ranks(self):
        tree = SlurmTree()
        policy = ('name: slurm\nmode: monitor\njobs:\n'
                  f'  cgroup: ["{tree.top}/slurmstepd.scope/job_*/step_*"]\n')
        try:
            with Daemon({"slurm.yaml": policy}, extra_config=f"host: {HOST}\n") as d:
                # As slurmstepd starts a task: into the step's cgroup, then exec
                # with the task's environment (one that lies about its job id).
                env = dict(os.environ, SLURM_JOB_ID="999", SLURM_PROCID="3", SLURM_CLUSTER_NAME="gpu-a")
                p = subprocess.Popen(["/bin/sh", "-c", f'echo $$ > {tree.procs_file()}; exec "$0" "$@"',
                                      PY, "-c", READER, self.data], env=env)
                self.assertEqual(p.wait(timeout=60), 0)
                evs = d.wait_for(lambda e: [s for s in of_kind(e, "job_start")
                                            if s["job_info"].get("labels", {}).get("slurm_job_id") == "42"] and
                                 [x for x in of_kind(e, "exit") if x["process"]["pid"] == p.pid] and e,
                                 what="the step's job and its task's exit")
                [start] = [s for s in of_kind(evs, "job_start") if s["job_info"]["labels"].get("slurm_job_id") == "42"]
                job = start["job"]["id"]
                info = start["job_info"]
                self.assertEqual(info["run"], "slurm:42")
                self.assertEqual(info["run_source"], "cgroup")
                self.assertEqual(info["host"], HOST)
                self.assertEqual(info["labels"]["slurm_step"], "0")
                evs = d.sync()
                recs = job_records(evs, job)
                kinds = sorted({r.get("kind", "alert") for r in recs})
                self.assertTrue({"job_start", "exec", "fork", "file", "exit"} <= set(kinds), kinds)
                for r in recs:
                    self.assertEqual(r.get("run"), "slurm:42", harness.summary(r))
                    self.assertEqual(r.get("host"), HOST)
                # The task and its fork: rank 3 (SLURM_PROCID), both reads.
                task = [r for r in of_kind(recs, "exec") if r["process"]["pid"] == p.pid]
                self.assertEqual(len(task), 1)
                self.assertEqual(task[0]["process"]["rank"], 3)
                reads = [r for r in of_kind(recs, "file") if r["file"]["path"] == self.data]
                self.assertEqual(len({r["process"]["pid"] for r in reads}), 2, [harness.summary(r) for r in reads])
                for r in reads:
                    self.assertEqual(r["process"]["rank"], 3)
                # The step ends when slurmstepd removes its cgroup.
                tree.remove_step()
                d.wait_for(lambda e: of_kind(e, "job_end", job=job), what="the step's job_end")
                runs = json.loads(d.cli("jobs", "--all", "--json").stdout)["jobs"]
                self.assertEqual([j["run"] for j in runs if j["id"] == job], ["slurm:42"])
        finally:
            tree.remove()

    def test_torchrun_workers_carry_the_run_and_their_rank(self):
        policy = 'name: tr\nmode: monitor\njobs:\n  exec: ["**/torchrun"]\n'
        work = os.path.join(self.tmp, "tr")
        os.makedirs(work, exist_ok=True)
        script = os.path.join(work, "worker.py")
        with open(script, "w") as f:
            f.write(READER)
        with Daemon({"tr.yaml": policy}, extra_config=f"host: {HOST}\n") as d:
            env = dict(os.environ, TORCHELASTIC_RUN_ID="ft-run-7")
            # (Debian's torch 1.13 on Python 3.11 cannot parse the default "0" of
            # --redirects/--tee: per-rank logs instead.)
            p = subprocess.Popen(["/usr/bin/torchrun", "--nproc_per_node", "2", "--master_port", str(free_port()),
                                  "--redirects", "1", "--tee", "1", "--log_dir", os.path.join(work, "logs"),
                                  script, self.data], cwd=work, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            out, _ = p.communicate(timeout=240)
            self.assertEqual(p.returncode, 0, out)
            job = d.wait_for(lambda e: [s["job"]["id"] for s in of_kind(e, "job_start")
                                        if s["job_info"]["root_pid"] == p.pid], what="torchrun's job")[0]
            d.wait_for(lambda e: of_kind(e, "job_end", job=job), timeout=60, what="torchrun's job_end")
            evs = d.sync()
            recs = job_records(evs, job)
            self.assertGreater(len(recs), 10)
            for r in recs:
                self.assertEqual(r.get("run"), "torchelastic:ft-run-7", harness.summary(r))
                self.assertEqual(r.get("host"), HOST)
            [start] = of_kind(evs, "job_start", job=job)
            self.assertEqual(start["job_info"]["run_source"], "env")
            # Each worker: its exec with RANK/LOCAL_RANK/WORLD_SIZE, its reads and its fork's.
            workers = [r for r in of_kind(recs, "exec") if script in r["process"].get("args", [])
                       and "/usr/bin/torchrun" not in r["process"]["args"]]
            self.assertEqual(sorted(w["process"].get("rank") for w in workers), [0, 1],
                             [harness.summary(w) for w in workers])
            for w in workers:
                self.assertEqual(w["process"]["world_size"], 2)
                self.assertEqual(w["process"]["local_rank"], w["process"]["rank"])
            by_pid = {w["process"]["pid"]: w["process"]["rank"] for w in workers}
            reads = [r for r in of_kind(recs, "file") if r["file"]["path"] == self.data]
            self.assertEqual(len(reads), 4, "two workers and their two forks read the shard")
            for r in reads:
                pid, ppid = r["process"]["pid"], r["process"]["ppid"]
                self.assertEqual(r["process"]["rank"], by_pid.get(pid, by_pid.get(ppid)), harness.summary(r))
            # The launcher itself has no rank.
            [root] = [r for r in of_kind(recs, "exec") if r["process"]["pid"] == p.pid]
            self.assertNotIn("rank", root["process"])

    def test_a_rewritten_environment_keeps_the_run_and_rank_of_exec(self):
        policy = 'name: rw\nmode: monitor\njobs:\n  exec: ["**/fts-kt-never"]\n'
        with Daemon({"rw.yaml": policy}, extra_config=f"host: {HOST}\n") as d:
            env = dict(os.environ, RANK="5", TORCHELASTIC_RUN_ID="run-a")
            r = subprocess.run([harness.CLI, "--socket", d.socket, "run", "--policy", "rw", "--",
                                PY, "-c", REWRITER, self.data], env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            # The control: what /proc/PID/environ says after the rewrite.
            self.assertEqual(r.stdout.split(), ["7", "run-z"])
            job = r.stderr.split("job ")[1].split()[0]
            d.wait_for(lambda e: of_kind(e, "job_end", job=job), timeout=60, what="job_end")
            recs = job_records(d.sync(), job)
            [py] = [x for x in of_kind(recs, "exec") if x["process"]["exe"].startswith("/usr/bin/python3")]
            pid = py["process"]["pid"]
            reads = [x for x in of_kind(recs, "file") if x["file"]["path"] == self.data]
            mine = [x for x in reads if pid in (x["process"]["pid"], x["process"]["ppid"])
                    and not x["process"]["exe"].endswith("/cat")]
            self.assertEqual(len(mine), 2, [harness.summary(x) for x in reads])
            for x in mine + [py]:
                self.assertEqual(x["run"], "torchelastic:run-a", harness.summary(x))
                self.assertEqual(x["process"]["rank"], 5, harness.summary(x))
            # A child exec'd with a new environment: the kernel read that one.
            [cat] = [x for x in of_kind(recs, "exec") if x["process"]["exe"] == "/usr/bin/cat"]
            self.assertEqual(cat["process"]["rank"], 6)
            self.assertEqual(cat["run"], "torchelastic:run-b")

    def test_a_cgroup_device_program_is_not_sensor_tamper(self):
        # What slurmstepd does for every job: load a BPF_PROG_TYPE_CGROUP_DEVICE
        # program and attach it to the job's cgroup.
        bpftool = shutil.which("bpftool") or "/usr/sbin/bpftool"
        clang = shutil.which("clang")
        if not os.path.exists(bpftool) or not clang:
            self.fail("bpftool and clang are needed to load a cgroup/dev program")
        src = os.path.join(self.tmp, "dev.bpf.c")
        obj = os.path.join(self.tmp, "dev.bpf.o")
        with open(src, "w") as f:
            # (the context as uapi's bpf.h has it: no system headers for -target bpf)
            f.write('struct bpf_cgroup_dev_ctx { unsigned int access_type, major, minor; };\n'
                    '__attribute__((section("cgroup/dev"), used)) int allow(struct bpf_cgroup_dev_ctx *c) '
                    '{ return 1; }\nchar _license[] __attribute__((section("license"), used)) = "GPL";\n')
        r = subprocess.run([clang, "-O2", "-target", "bpf", "-c", src, "-o", obj], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        cg = harness.Cgroup("fts-kt-slurmdev")
        pin = f"/sys/fs/bpf/fts-kt-dev-{os.getpid()}"
        try:
            with Daemon({"p.yaml": 'name: p\nmode: monitor\njobs:\n  cgroup: ["/fts-kt-slurmdev-*"]\n'}) as d:
                r = subprocess.run([bpftool, "prog", "load", obj, pin, "type", "cgroup/dev"], capture_output=True,
                                   text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = subprocess.run([bpftool, "cgroup", "attach", cg.dir, "device", "pinned", pin],
                                   capture_output=True, text=True)
                self.assertEqual(r.returncode, 0, r.stderr)
                r = subprocess.run([bpftool, "cgroup", "show", cg.dir], capture_output=True, text=True)
                self.assertIn("cgroup_device", r.stdout + r.stderr)
                # The positive control: taking one of the daemon's own programs by id is.
                st = json.loads(d.cli("status", "--json").stdout)
                [exit_bpf] = [int(x["id"]) for x in st["programs"] if x["name"] == "fts_exit_bpf"]
                subprocess.run([bpftool, "prog", "show", "id", str(exit_bpf)], capture_output=True)
                d.wait_for(lambda e: [a for a in e if a.get("rule") == "sensor-tamper"], what="the control's alert")
                tamper = [a for a in d.sync() if a.get("rule") == "sensor-tamper"]
                msgs = [a["message"] for a in tamper]
                self.assertTrue([m for m in msgs if f"prog id {exit_bpf})" in m], msgs)
                # Every alert is the control's (by id, the daemon's objects): none for the device program.
                self.assertEqual([m for m in msgs if "by its id" not in m], [], msgs)
        finally:
            subprocess.run([bpftool, "cgroup", "detach", cg.dir, "device", "pinned", pin], capture_output=True)
            if os.path.exists(pin):
                os.unlink(pin)
            cg.remove()


if __name__ == "__main__":
    harness.main()
