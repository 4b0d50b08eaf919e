"""GPU and RDMA devices, on real processes and real character devices, no GPU
needed (issue 14: "GPU and interconnect devices", "RDMA egress is
kernel-bypass").

This machine has no GPU and no RDMA device, so the test configures which
/proc/devices and /proc/misc names count, and says so: devices.classes makes
the "mem" driver's minor 7 (what /dev/full is) a GPU and one misc device
(vga_arbiter, or another this kernel has) an RDMA device. The nodes are made
by the test with mknod under a private directory of /dev (devices.dev_dir);
what is proved is that the daemon resolves the names to device numbers at
start, that the kernel recognises a job's open by the device number of the
opened inode (a node the job makes itself elsewhere included, and not the
"mem" driver's other minors), and that an outsider's open of a node it
marked is raised as gpu-access-outside-job unless the exe is the policy's
agent. A real GPU's driver names (nvidia, nvidia-uvm, drm render nodes) are
the defaults; no test depends on one.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"
DD = "/usr/bin/dd"
MEM_FULL = (1, 7)  # the "mem" driver's minor 7 (/dev/full): counted as a GPU here
MEM_NULL = (1, 3)  # the same driver's minor 3 (/dev/null): not counted

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

# A job process that opens the devices named in argv, then waits for stdin to close.
HOLD = r"""
import os, sys
fds = [os.open(p, os.O_RDONLY) for p in sys.argv[1:]]
print("opened", flush=True)
sys.stdin.read()
"""


def misc_device():
    """A misc device this kernel has whose open is harmless: (name, minor)."""
    with open("/proc/misc") as f:
        misc = {line.split()[1]: int(line.split()[0]) for line in f if len(line.split()) == 2}
    for name in ("vga_arbiter", "cpu_dma_latency", "hw_random", "loop-control"):
        if name in misc:
            return name, misc[name]
    raise AssertionError(f"none of the misc devices this test knows is in /proc/misc: {sorted(misc)}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def alerts(events, rule=None, job=None):
    out = [e for e in events if "rule" in e]
    if rule is not None:
        out = [a for a in out if a["rule"] == rule]
    if job is not None:
        out = [a for a in out if a.get("job", {}).get("id") == job]
    return out


class DevicesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.dev_dir = tempfile.mkdtemp(prefix="fts-kt-dev-", dir="/dev")
        cls.gpu = os.path.join(cls.dev_dir, "gpu0")
        cls.other = os.path.join(cls.dev_dir, "other0")
        cls.rdma = os.path.join(cls.dev_dir, "uverbs0")
        cls.misc_name, misc_minor = misc_device()
        os.mknod(cls.gpu, 0o666 | 0o020000, os.makedev(*MEM_FULL))
        os.mknod(cls.other, 0o666 | 0o020000, os.makedev(*MEM_NULL))
        os.mknod(cls.rdma, 0o666 | 0o020000, os.makedev(10, misc_minor))
        cls.rdma_number = f"10:{misc_minor}"
        # The monitoring agent, bound by its path; the same program elsewhere is not it.
        cls.bin = tempfile.mkdtemp(prefix="fts-kt-agent-")
        cls.agent = os.path.join(cls.bin, "agent", "nvidia-smi")
        cls.impostor = os.path.join(cls.bin, "elsewhere", "nvidia-smi")
        for p in (cls.agent, cls.impostor):
            os.makedirs(os.path.dirname(p))
            shutil.copy2(DD, p)
        agents = f'devices:\n  agents: ["{cls.agent}"]\n'
        allow = cls.t.policy(name="ft", extra=agents)
        deny = cls.t.policy(name="ftdeny", extra=agents + 'network:\n  rdma: deny\n').replace(
            "fts-kt-launcher", "fts-kt-launcher-deny")
        cls.metrics_port = free_port()
        cls.d = Daemon({"ft.yaml": allow, "ftdeny.yaml": deny}, extra_config=(
            f'metrics: {{ listen: "127.0.0.1:{cls.metrics_port}" }}\n'
            f"devices:\n  dev_dir: {cls.dev_dir}\n  classes:\n"
            "    - { class: gpu, proc_devices: [mem], minor_min: 7, minor_max: 7 }\n"
            f"    - {{ class: rdma, misc: [{cls.misc_name}] }}\n")).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        shutil.rmtree(cls.dev_dir, ignore_errors=True)
        shutil.rmtree(cls.bin, ignore_errors=True)

    def held_job(self, *paths, policy="ft"):
        """A job whose process opens `paths` and holds them until release(): (runner, job id)."""
        runner = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", policy, "--",
                                   PY, "-c", HOLD, *paths],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.assertEqual(runner.stdout.readline().strip(), "opened", runner.stderr.read() if runner.poll() else "")
        start = self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_start")
                                           if x["job_info"]["root_pid"] == runner.pid] or None, what="job_start")
        return runner, start[0]["job"]["id"]

    def release(self, runner, job):
        runner.stdin.close()
        self.assertEqual(runner.wait(timeout=60), 0)
        runner.stdout.close()
        runner.stderr.close()
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), what="job_end")

    def outsider(self, exe, path):
        """`exe` (a copy of dd) reads one byte of the device node, outside any job: its pid."""
        p = subprocess.run([exe, f"if={path}", "of=/dev/null", "bs=1", "count=1"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def since(self, mark):
        """The events after `mark` (a count of events), once the barrier passed: the
        daemon is shared by the tests of this file."""
        return self.d.sync()[mark:]

    def scrape(self):
        with open(os.path.join(self.d.tmp, "state", "metrics.token")) as f:
            token = f.read().strip()
        req = urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}/metrics",
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read().decode()

    def test_a_jobs_devices_are_recognised_by_number_and_reported(self):
        # The job opens the marked node, the same driver's minor that does not
        # count, and a node of the same device it made itself outside dev_dir.
        own_dir = tempfile.mkdtemp(prefix="fts-kt-own-")
        own = os.path.join(own_dir, "renamed-gpu")
        os.mknod(own, 0o666 | 0o020000, os.makedev(*MEM_FULL))
        try:
            runner, job = self.held_job(self.gpu, self.other, own)
            try:
                events = self.d.sync()
                dev = harness.of_kind(events, "device", job=job)
                self.assertEqual(sorted(e["device"]["path"] for e in dev), sorted([self.gpu, own]),
                                 "the two nodes of 1:7, never 1:3")
                for e in dev:
                    self.assertEqual(e["process"]["pid"], runner.pid, "`ftsentinel run` execs the command")
                    self.assertEqual((e["device"]["class"], e["device"]["major"], e["device"]["minor"]),
                                     ("gpu", *MEM_FULL))
                    self.assertEqual(e["device"]["source"], "syscall")
                    self.assertEqual(e["device"]["access"], ["read"])
                    self.assertGreaterEqual(int(e["device"]["result"]), 3)
                # `ftsentinel jobs`: what the job holds.
                r = self.d.cli("jobs", "--json")
                self.assertEqual(r.returncode, 0, r.stderr)
                info = [j for j in json.loads(r.stdout)["jobs"] if j["id"] == job][0]
                self.assertEqual([(x["device"], x["class"], x["number"]) for x in info["devices"]],
                                 [(self.gpu, "gpu", "1:7")], "one device (1:7), named by the node first opened")
                self.assertEqual(info["devices"][0]["opens"], "2")
                text = self.d.cli("jobs").stdout
                self.assertIn(f"gpu {self.gpu} (1:7)", text)
                # The metric, per job, run and device.
                metrics = self.scrape()
                self.assertIn(f'ftsentinel_job_devices{{job="{job}",run="',  metrics)
                self.assertRegex(metrics, rf'ftsentinel_job_devices{{job="{job}",run="[^"]+",device="{self.gpu}",'
                                          rf'class="gpu"}} 1')
            finally:
                self.release(runner, job)
            # Journaled: the review of the job lists the device.
            review = self.d.cli("review", job, "--timeline", "--kind", "device")
            self.assertEqual(review.returncode, 0, review.stderr)
            self.assertIn(self.gpu, review.stdout)
            # An ended job holds nothing: the metric is gone.
            self.assertNotIn(f'job="{job}"', self.scrape())
        finally:
            shutil.rmtree(own_dir, ignore_errors=True)

    def test_gpu_access_outside_job_fires_for_outsiders_not_the_agent(self):
        # Before any job holds the device, an outsider's open is nobody's business.
        mark = len(self.d.sync())
        early = self.outsider(DD, self.gpu)
        self.assertEqual(alerts(self.since(mark), rule="gpu-access-outside-job"), [], early)
        runner, job = self.held_job(self.gpu)
        try:
            self.d.wait_for(lambda e: harness.of_kind(e, "device", job=job), what="the job's device record")
            self.outsider(self.agent, self.gpu)     # the policy's agent: allowed
            self.outsider(self.impostor, self.gpu)  # the same name elsewhere: not the agent
            self.outsider(DD, self.gpu)             # anyone else
            self.outsider(DD, self.other)           # a node that is not a GPU: nothing
            events = self.d.sync()
        finally:
            self.release(runner, job)
        al = alerts(events, rule="gpu-access-outside-job", job=job)
        self.assertEqual(sorted(a["process"]["exe"] for a in al), sorted([self.impostor, DD]), al)
        for a in al:
            self.assertEqual(a["job"]["id"], job, "the alert is about the job holding the device")
            self.assertEqual(a["severity"], "high")
            self.assertEqual(a["mitre"], {"attack": ["T1005"], "atlas": ["AML.T0025"]})
            self.assertEqual((a["device"]["path"], a["device"]["class"], a["device"]["source"]),
                             (self.gpu, "gpu", "fanotify"))
            self.assertIn("held by job ", a["message"])
        # Every outsider's open of the held device is an event of the job, the agent's too.
        opens = [e for e in harness.of_kind(events, "device", job=job) if e["device"]["source"] == "fanotify"]
        self.assertEqual(sorted(e["process"]["exe"] for e in opens), sorted([self.agent, self.impostor, DD]))

    def test_attaching_to_a_jobs_gpu_process(self):
        runner, job = self.held_job(self.gpu)
        try:
            self.d.wait_for(lambda e: harness.of_kind(e, "device", job=job), what="the job's device record")
            tracer = subprocess.run([PY, "-c", PTRACE_ATTACH, str(runner.pid)], capture_output=True, text=True,
                                    timeout=30)
            self.assertEqual(tracer.returncode, 0, tracer.stderr)
            events = self.d.sync()
        finally:
            self.release(runner, job)
        rules = sorted(a["rule"] for a in alerts(events, job=job) if "repeats" not in a)
        self.assertIn("job-memory-access", rules)
        gpu = alerts(events, rule="gpu-access-outside-job", job=job)
        self.assertEqual(len([a for a in gpu if "repeats" not in a]), 1, gpu)
        self.assertIn(f"which holds GPU {self.gpu}", gpu[0]["message"])

    def test_rdma_open_after_protected_data_with_rdma_deny(self):
        shard = self.t.shards[0]
        mark = len(self.d.sync())
        # network.rdma: deny, data read, then the verbs device: raised.
        r = self.d.cli("run", "--policy", "ftdeny", "--", PY, "-c",
                       f"open({shard!r}).read(); import os; os.open({self.rdma!r}, os.O_RDONLY)", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        deny_job = r.stderr.split("job ")[1].split()[0]
        # The same under the default (allow): the device is reported, nothing raised.
        r = self.d.cli("run", "--policy", "ft", "--", PY, "-c",
                       f"open({shard!r}).read(); import os; os.open({self.rdma!r}, os.O_RDONLY)", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        allow_job = r.stderr.split("job ")[1].split()[0]
        events = self.since(mark)
        al = alerts(events, rule="rdma-egress")
        self.assertEqual([a["job"]["id"] for a in al], [deny_job], al)
        a = al[0]
        self.assertEqual(a["severity"], "critical")
        self.assertEqual(a["mitre"], {"attack": ["T1048"], "atlas": ["AML.T0025"]})
        self.assertEqual((a["device"]["path"], a["device"]["class"]), (self.rdma, "rdma"))
        self.assertIn(shard, a["message"])
        for job in (deny_job, allow_job):
            dev = harness.of_kind(events, "device", job=job)
            self.assertEqual([(e["device"]["path"], e["device"]["class"],
                               f'{e["device"]["major"]}:{e["device"]["minor"]}') for e in dev],
                             [(self.rdma, "rdma", self.rdma_number)])

    def test_rdma_device_without_data_read_is_reported_not_raised(self):
        # deny, but the job read no protected data: the open is an event, no alert.
        # The control: a second job of the same policy that reads data first.
        code = f"import os; os.open({self.rdma!r}, os.O_RDONLY)"
        r = self.d.cli("run", "--policy", "ftdeny", "--", PY, "-c", code, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        quiet = r.stderr.split("job ")[1].split()[0]
        r = self.d.cli("run", "--policy", "ftdeny", "--", PY, "-c",
                       f"import os; os.open({self.rdma!r}, os.O_RDONLY); open({self.t.shards[1]!r}).read()",
                       timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        loud = r.stderr.split("job ")[1].split()[0]
        events = self.d.sync()
        self.assertEqual([a["job"]["id"] for a in alerts(events, rule="rdma-egress") if a["job"]["id"] in
                          (quiet, loud)], [loud], "data read after the open counts too")
        self.assertEqual(len(harness.of_kind(events, "device", job=quiet)), 1)


if __name__ == "__main__":
    harness.main()
