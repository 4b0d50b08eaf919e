#!/usr/bin/python3
"""What the egress program (bpf/dns.bpf.c fts_dns_egress, with lib/tls.h's
ClientHello look) costs per packet, from the kernel's own accounting
(kernel.bpf_stats_enabled: run_time_ns / run_cnt of that program, the
daemon's own instance), so load on the machine does not skew it.

Run as root after a build, once per daemon to compare (e.g. main's and this
branch's), in the same minutes:

    /usr/bin/python3 tests/bench/tls_hook_cost.py --bin-dir build/daemon [--rounds 5]

Per round, two loads of 5000 small TCP sends over loopback (TCP_NODELAY, one
packet each, both directions counted by the program at egress):
  untracked   a process outside every job: a cookie and one flows miss
  job flow    a job's one connection, after its first payload was looked at
It prints ns per program run, median [min..max] over the rounds. It never
gates CI."""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kernel"))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402

SENDS = 5000
SEND = r'''
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for _ in range(int(sys.argv[2])):
    c.sendall(b"x" * 64)
c.close()
'''


def sink():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)

    def loop():
        for _ in range(1000):
            try:
                c, _ = s.accept()
            except OSError:
                return
            while c.recv(1 << 16):
                pass
            c.close()
    threading.Thread(target=loop, daemon=True).start()
    return s


def prog_ids(pid):
    """The ids of the programs the process holds fds of (its fdinfo)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def prog_stats(pid):
    ids = prog_ids(pid)
    out = json.loads(subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                                    check=True).stdout)
    for p in out:
        if p.get("name") == "fts_dns_egress" and p.get("id") in ids:
            return p.get("run_time_ns", 0), p.get("run_cnt", 0)
    raise AssertionError("the daemon's fts_dns_egress is not loaded")


def measure(d, fn):
    t0, c0 = prog_stats(d.proc.pid)
    fn()
    t1, c1 = prog_stats(d.proc.pid)
    return (t1 - t0) / max(1, c1 - c0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", default="build/daemon")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    harness.DAEMON = os.path.join(os.path.abspath(args.bin_dir), "ftsentineld")
    harness.CLI = os.path.join(os.path.abspath(args.bin_dir), "ftsentinel")
    s = sink()
    port = s.getsockname()[1]
    t = DataTree()
    d = harness.Daemon({"ft.yaml": t.policy(extra=f'network:\n  egress: ["127.0.0.1/32:{port}"]\n')}).start()
    old = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    res = {"untracked": [], "job flow": []}
    try:
        for _ in range(args.rounds):
            res["untracked"].append(measure(d, lambda: subprocess.run(
                ["/usr/bin/python3", "-c", SEND, str(port), str(SENDS)], check=True)))
            res["job flow"].append(measure(d, lambda: d.cli(
                "run", "--policy", "ft", "--", "/usr/bin/python3", "-c", SEND, str(port), str(SENDS), timeout=120)))
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={old}"], check=False)
        d.cleanup()
        t.cleanup()
        s.close()
    for k, v in res.items():
        print(f"{k:10s} {statistics.median(v):7.1f} ns/run [{min(v):.1f}..{max(v):.1f}]  ({args.bin_dir})")


if __name__ == "__main__":
    main()
