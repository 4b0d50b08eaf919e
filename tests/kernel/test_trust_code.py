"""Code is not data, and a job's classes are its own policy's (issue 11, 2).

B4  a real project: train.py, a local package, a YAML config and a JSONL
    dataset under `training`, launched by `torchrun --nproc-per-node 2
    train.py` from the project directory and by `ftsentinel run … python3
    train.py`: zero alerts; the same program reading an unapproved dataset
    that sits in the project directory raises exactly unapproved-data-read.
    A first `cat /etc/hostname` in a job raises nothing.
Classes: with two policies loaded, a job's records carry its own policy's
    classes, not the other policy's (the kernel's map holds both).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import trust  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = trust.PY

TRAIN = r'''
import argparse, json, os, sys
import torch
import yaml
from mypkg.model import make_model
from mypkg import data

ap = argparse.ArgumentParser()
ap.add_argument("--config", default="configs/run.yaml")
ap.add_argument("--extra", default="")
args = ap.parse_args()
with open(args.config) as f:
    cfg = yaml.safe_load(f)
rank = int(os.environ.get("RANK", "0"))
xs = data.load(cfg["shards"])
if args.extra:
    xs += data.load([args.extra])
model = make_model(cfg["width"])
opt = torch.optim.SGD(model.parameters(), lr=cfg["lr"])
for step in range(3):
    x = torch.tensor([[float(len(t) % 7)] * cfg["width"] for t in xs[:16]])
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
os.makedirs(cfg["ckpt"], exist_ok=True)
torch.save(model.state_dict(), os.path.join(cfg["ckpt"], f"model-{rank}.pt"))
print(f"rank {rank}: {len(xs)} examples")
'''

MODEL = r'''
import torch


def make_model(width):
    return torch.nn.Sequential(torch.nn.Linear(width, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
'''

DATA = r'''
import json


def load(paths):
    out = []
    for p in paths:
        with open(p) as f:
            out += [json.loads(line)["text"] for line in f]
    return out
'''


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CodeIsNotDataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t = cls.t = DataTree()
        # The project: its code, its config, and a dataset nobody approved.
        p = cls.proj = os.path.join(t.root, "proj")
        os.makedirs(os.path.join(p, "mypkg"))
        os.makedirs(os.path.join(p, "configs"))
        for name, text in (("train.py", TRAIN), ("mypkg/__init__.py", ""), ("mypkg/model.py", MODEL),
                           ("mypkg/data.py", DATA)):
            with open(os.path.join(p, name), "w") as f:
                f.write(text)
        with open(os.path.join(p, "configs/run.yaml"), "w") as f:
            f.write(f"shards: {json.dumps(t.shards)}\nwidth: 4\nlr: 0.1\nckpt: {t.ckpt}/b4\n")
        cls.extra = os.path.join(p, "extra.jsonl")
        with open(cls.extra, "w") as f:
            f.write('{"text": "scraped, never approved"}\n')
        # A second policy whose outputs are where the first policy's jobs scribble.
        cls.scratch = os.path.join(t.root, "scratch")
        os.makedirs(cls.scratch)
        ft = t.policy(extra='network:\n  egress: ["127.0.0.1/32", "[::1]/128"]\n').replace(
            'exec: ["**/fts-kt-launcher"]', 'exec: ["**/torchrun"]')
        slurm = (f'name: slurm\nmode: monitor\njobs:\n  exec: ["**/fts-kt-slurm-launcher"]\n'
                 f'data:\n  outputs: ["{cls.scratch}/**"]\n')
        cls.d = Daemon({"ft.yaml": ft, "slurm.yaml": slurm},
                       extra_config="journal: { seal_interval_seconds: 1 }\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def judged(self, job):
        trust.ended(self.d, job)
        return trust.alerts(self.d, job)

    def test_b4_project_code_is_not_data(self):
        # Positive control first: the same program reading a dataset that sits
        # beside its code raises exactly one unapproved-data-read, for that file.
        leak = trust.run_job(self.d, "ft", PY, "train.py", "--extra", "extra.jsonl", cwd=self.proj)
        al = self.judged(leak)
        self.assertEqual(trust.rules(al), ["unapproved-data-read"], [a["message"] for a in al])
        self.assertEqual(al[0]["file"]["path"], self.extra)
        # Its code was read, reported as code.
        for code in ("train.py", "mypkg/model.py", "configs/run.yaml"):
            evs = trust.file_events(self.d, leak, os.path.join(self.proj, code))
            self.assertTrue(evs, f"{code} read, and reported")
            self.assertEqual(evs[0]["file"]["classes"], ["code"], evs[0]["file"])

        # `ftsentinel run … python3 train.py` from the project directory.
        job = trust.run_job(self.d, "ft", PY, "train.py", cwd=self.proj)
        self.assertEqual(self.judged(job), [])

        # `torchrun --nproc_per_node 2 train.py` (this torch's spelling) from the project directory: a
        # job by jobs.exec, two ranks.
        port = free_port()
        # (Debian's torch 1.13 on Python 3.11 cannot parse the default "0" of
        # --redirects/--tee: stdout to per-rank logs, kept with the outputs.)
        p = subprocess.Popen(["/usr/bin/torchrun", "--nproc_per_node", "2", "--master_port", str(port),
                              "--redirects", "1", "--tee", "1", "--log_dir", f"{self.t.ckpt}/torchelastic", "train.py"],
                             cwd=self.proj, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        out, _ = p.communicate(timeout=180)
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("rank 1: ", out)
        job = trust.wait_job_started_by(self.d, p.pid)
        al = self.judged(job)
        self.assertEqual(al, [], "\n".join(a["message"] for a in al))
        ranks = [e for e in harness.of_kind(self.d.events(), "exec", job=job)
                 if "train.py" in e["process"]["args"] and not any("torchrun" in a for a in e["process"]["args"])]
        self.assertEqual(len(ranks), 2, "both ranks ran in the job")

    def test_system_files_every_program_reads(self):
        # The same `cat` reads the host's name and an unapproved dataset: one alert, for the dataset.
        job = trust.run_job(self.d, "ft", "/bin/cat", "/etc/hostname", "/etc/os-release", "/etc/machine-id",
                            self.extra)
        al = self.judged(job)
        self.assertEqual(trust.rules(al), ["unapproved-data-read"], [a["message"] for a in al])
        self.assertEqual(al[0]["file"]["path"], self.extra)
        job = trust.run_job(self.d, "ft", "/bin/cat", "/etc/hostname")
        self.assertEqual(self.judged(job), [])

    def test_classes_come_from_the_jobs_own_policy(self):
        write = ("import sys\nopen(sys.argv[1], 'w').write('x')\nopen(sys.argv[2]).read()\n")
        # Positive control: a slurm job's write there is its output.
        out_s = os.path.join(self.scratch, "slurm.bin")
        sj = trust.run_job(self.d, "slurm", PY, "-c", write, out_s, self.t.shards[0])
        out_f = os.path.join(self.scratch, "ft.bin")
        fj = trust.run_job(self.d, "ft", PY, "-c", write, out_f, self.t.shards[0])
        trust.ended(self.d, sj)
        trust.ended(self.d, fj)
        # Every view of each change (the syscall's open, fanotify's create and writes).
        ws = trust.file_events(self.d, sj, out_s)
        self.assertTrue(ws)
        self.assertEqual({tuple(e["file"].get("classes", [])) for e in ws}, {("outputs",)})
        wf = trust.file_events(self.d, fj, out_f)
        self.assertTrue(wf)
        self.assertEqual({tuple(e["file"].get("classes", [])) for e in wf}, {()}, "not the other policy's outputs")
        [rf] = trust.file_events(self.d, fj, self.t.shards[0])
        self.assertEqual(rf["file"]["classes"], ["training", "protected"])
        [rs] = trust.file_events(self.d, sj, self.t.shards[0])
        self.assertEqual(rs["file"].get("classes", []), [], "slurm's policy names no data")
        # The journal's review of the ft job says the same.
        rv = self.review(fj)
        written = {w["path"]: w for w in rv["written"]}
        self.assertEqual(written[out_f].get("classes", []), [], written[out_f])
        self.assertNotIn("[outputs]", self.d.cli("review", fj).stdout)
        self.assertEqual(self.review(sj)["written"][0].get("classes"), ["outputs"])

    def review(self, job):
        deadline = time.time() + 20
        while True:
            r = self.d.cli("review", job, "--json")
            rv = json.loads(r.stdout) if r.returncode == 0 else {}
            if rv.get("run", {}).get("job", {}).get("end_time") and rv.get("written"):
                return rv
            if time.time() > deadline:
                self.fail(f"the journal never had job {job}: {r.stdout[:2000]} {r.stderr}")
            time.sleep(0.2)


if __name__ == "__main__":
    harness.main()
