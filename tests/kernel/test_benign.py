"""Benign runs of scenarios.md raise zero alerts, on the real sensors:

B1  a real PyTorch (Debian's python3-torch) training loop reads every approved
    shard through a DataLoader with worker processes, trains a few steps and
    writes checkpoint directories; run by `ftsentinel run` and under a
    launcher found by `jobs.exec`.
B3  during it, unrelated processes open, write and connect all over the
    machine; nothing about them is reported.
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"

TRAIN = r'''
import json, os, sys
import torch
from torch.utils.data import DataLoader, Dataset

shards, ckpt = sys.argv[1:-1], sys.argv[-1]


class Shards(Dataset):
    """One item per line of every shard; each worker opens the shards itself."""
    def __init__(self, paths):
        self.index = []
        for p in paths:
            with open(p) as f:
                self.index += [(p, i) for i, _ in enumerate(f)]

    def __len__(self):
        return len(self.index)

    def __getitem__(self, k):
        path, line = self.index[k]
        with open(path) as f:
            for i, text in enumerate(f):
                if i == line:
                    break
        t = json.loads(text)["text"].encode()
        x = torch.zeros(64)
        x[: min(64, len(t))] = torch.tensor(list(t[:64]), dtype=torch.float32) / 255
        return x, torch.tensor(float(len(t) % 2))


torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
loader = DataLoader(Shards(shards), batch_size=16, shuffle=True, num_workers=2)
seen = 0
for epoch in range(2):
    for step, (x, y) in enumerate(loader):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        seen += len(x)
    out = os.path.join(ckpt, f"checkpoint-{epoch}")
    os.makedirs(out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(out, "model.pt"))
    torch.save(opt.state_dict(), os.path.join(out, "optimizer.pt"))
print(f"trained on {seen} examples")
'''


def alerts(events):
    return [e for e in events if "rule" in e]


class Busy:
    """B3: unrelated processes (not in any job) open, write and connect while the job runs."""

    def __init__(self, tree):
        self.tree = tree
        self.stop = threading.Event()
        self.pids = set()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        script = (f"import socket, os, tempfile\n"
                  f"d = tempfile.mkdtemp(prefix='fts-kt-busy-')\n"
                  f"for i in range(20):\n"
                  f"    open(os.path.join(d, f'f{{i}}'), 'w').write('x' * 4096)\n"
                  f"    open('/etc/hostname').read()\n"
                  f"    open('{self.tree.shards[0]}').read()\n"
                  f"    s = socket.create_connection(('127.0.0.1', {port}))\n"
                  f"    s.sendall(b'y' * 1000)\n"
                  f"    s.close()\n"
                  f"os.system('rm -rf ' + d)\n"
                  # the control: anyone's read of `sensitive` is reported
                  f"open('{self.tree.aws}').read()\n")
        for _ in range(200):  # bounded: ends when the job does or after 200 rounds
            if self.stop.is_set():
                break
            p = subprocess.Popen([PY, "-c", script], stdout=subprocess.DEVNULL)
            self.pids.add(p.pid)
            while p.poll() is None:
                try:
                    srv.settimeout(0.5)
                    c, _ = srv.accept()
                    c.recv(65536)
                    c.close()
                except OSError:
                    pass
        srv.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)


class BenignTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.code = os.path.join(cls.t.root, "code")
        os.makedirs(cls.code)
        cls.train = os.path.join(cls.code, "train.py")
        with open(cls.train, "w") as f:
            f.write(TRAIN)
        # The launcher a jobs.exec pattern names: a script that runs the trainer.
        cls.bindir = tempfile.mkdtemp(prefix="fts-kt-bin-")
        cls.launcher = os.path.join(cls.bindir, "fts-kt-launcher")
        with open(cls.launcher, "w") as f:
            f.write(f"#!/bin/sh\nexec {PY} \"$@\"\n")
        os.chmod(cls.launcher, 0o755)
        # The job's own code is part of what it may read: data.base extends the base list.
        extra = f'  base: ["{cls.code}/**"]\n'
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.bindir, ignore_errors=True)
        cls.t.cleanup()

    def settle(self, job):
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), timeout=30, what="job_end")
        return self.d.sync()

    def check_run(self, job, events, ckpt):
        self.assertEqual([harness.summary(a) for a in alerts(events)], [], "a benign run raises no alert")
        mine = [e for e in events if e.get("job", {}).get("id") == job]
        # The control for "no alert": the daemon saw the job read every shard.
        read = {e["file"]["path"] for e in mine if e.get("kind") == "file" and "read" in e["file"].get("access", [])}
        for shard in self.t.shards:
            self.assertIn(shard, read)
        # The DataLoader's workers are the job's processes: forked by the trainer, seen by the sensor.
        forks = harness.of_kind(mine, "fork", job=job)
        self.assertGreaterEqual(len({e["process"]["pid"] for e in forks}), 2, "DataLoader workers are in the job")
        for epoch in (0, 1):
            self.assertTrue(os.path.exists(os.path.join(ckpt, f"checkpoint-{epoch}", "model.pt")))

    def test_b1_b3_training_run_by_ftsentinel_run(self):
        ckpt = os.path.join(self.t.ckpt, "run")  # made by the job: an outsider writing there is checkpoint tamper
        with Busy(self.t) as busy:
            r = self.d.cli("run", "--policy", "ft", "--", PY, self.train, *self.t.shards, ckpt, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("trained on 300 examples", r.stdout)
        job = r.stderr.split("job ")[1].split()[0]
        events = self.settle(job)
        self.check_run(job, events, ckpt)
        # B3: nothing about the busy processes, which opened, wrote and connected throughout.
        self.assertTrue(busy.pids, "the busy processes ran")
        about_busy = [e for e in events if e.get("process", {}).get("pid") in busy.pids]
        # each of them is seen (its credential read, the control) and nothing else is
        self.assertEqual({e["process"]["pid"] for e in about_busy}, busy.pids)
        self.assertEqual([harness.summary(e) for e in about_busy
                          if (e.get("kind"), e.get("file", {}).get("path")) != ("file", self.t.aws)], [],
                         "unrelated processes are not reported")

    def test_b1_training_run_under_launcher(self):
        ckpt = os.path.join(self.t.ckpt, "launched")
        r = subprocess.run([self.launcher, self.train, *self.t.shards, ckpt], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("trained on 300 examples", r.stdout)
        starts = self.d.wait_for(
            lambda e: [s for s in harness.of_kind(e, "job_start")
                       if s.get("job_info", {}).get("started_by") == "exec"], what="launcher job_start")
        job = starts[-1]["job"]["id"]
        events = self.settle(job)
        self.check_run(job, events, ckpt)


if __name__ == "__main__":
    harness.main()
