#!/usr/bin/python3
"""A small real fine-tune loop for tests/bench/run_bench.py.

    /usr/bin/python3 tests/bench/train_loop.py prepare DATA_DIR [--shards 64]
    /usr/bin/python3 tests/bench/train_loop.py train DATA_DIR CKPT_DIR [--steps 60] [--workers 2]

`prepare` writes the shards once (torch.save of token tensors, one file per
shard). `train` fine-tunes a small transformer on them: a DataLoader with
worker processes opens and reads one shard file per sample (what a data
loader over millions of small files does), Adam steps, and a checkpoint
(torch.save of the model and optimizer state, then a rename) every
--ckpt-every steps. It prints the mean step time in nanoseconds over the
steps after the warm-up (model build, worker start-up and the first steps are
not in the figure), like fts_bench_loops prints ns per op.
"""

import argparse
import os
import sys
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

SEQ = 64
VOCAB = 512
WARMUP_STEPS = 5


class Shards(Dataset):
    """One sample per shard file, read from disk at every access."""

    def __init__(self, data_dir):
        self.files = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.endswith(".pt"))
        if not self.files:
            raise SystemExit("train_loop.py: no shards in %s (run prepare first)" % data_dir)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        tokens = torch.load(self.files[i])
        return tokens[:-1], tokens[1:]


def model():
    layer = nn.TransformerEncoderLayer(d_model=32, nhead=2, dim_feedforward=64, batch_first=True)
    return nn.Sequential(nn.Embedding(VOCAB, 32), nn.TransformerEncoder(layer, num_layers=1), nn.Linear(32, VOCAB))


def prepare(args):
    os.makedirs(args.data_dir, exist_ok=True)
    g = torch.Generator().manual_seed(1)
    for i in range(args.shards):
        torch.save(torch.randint(0, VOCAB, (SEQ + 1,), generator=g), os.path.join(args.data_dir, "shard-%05d.pt" % i))
    return 0


def train(args):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    m = model()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(Shards(args.data_dir), batch_size=args.batch, shuffle=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)
    os.makedirs(args.ckpt_dir, exist_ok=True)
    step, t0 = 0, None
    while step < WARMUP_STEPS + args.steps:
        for x, y in loader:
            if step == WARMUP_STEPS:
                t0 = time.monotonic_ns()
            opt.zero_grad()
            loss = loss_fn(m(x).reshape(-1, VOCAB), y.reshape(-1))
            loss.backward()
            opt.step()
            step += 1
            if step % args.ckpt_every == 0:
                tmp = os.path.join(args.ckpt_dir, "ckpt.pt.tmp")
                torch.save({"model": m.state_dict(), "opt": opt.state_dict(), "step": step}, tmp)
                os.replace(tmp, os.path.join(args.ckpt_dir, "ckpt.pt"))
            if step >= WARMUP_STEPS + args.steps:
                break
    print("%.1f" % ((time.monotonic_ns() - t0) / args.steps))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("data_dir")
    p.add_argument("--shards", type=int, default=64)
    t = sub.add_parser("train")
    t.add_argument("data_dir")
    t.add_argument("ckpt_dir")
    t.add_argument("--steps", type=int, default=40)
    t.add_argument("--batch", type=int, default=8)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--ckpt-every", type=int, default=10)
    args = ap.parse_args()
    return prepare(args) if args.cmd == "prepare" else train(args)


if __name__ == "__main__":
    sys.exit(main())
