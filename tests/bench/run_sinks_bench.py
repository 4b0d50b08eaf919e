#!/usr/bin/python3
"""Alerts per second through the file sink and the TLS syslog sink (spool
on, to a local rsyslog with a test CA), alternating rounds; prints the
median with min and max. Not run by ctest.

    /usr/bin/python3 tests/bench/run_sinks_bench.py --build-dir BUILD [--rounds 3] [--count 100000]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import siem  # noqa: E402


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    m = re.search(r"caller (\d+) alerts/s \(([\d.]+) us each\); end-to-end (\d+)", out.stdout)
    return int(m.group(1)), float(m.group(2)), int(m.group(3))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=100000)
    a = ap.parse_args()
    binary = os.path.join(a.build_dir, "tests", "bench", "fts_bench_sinks")
    tmp = tempfile.mkdtemp(prefix="fts-bench-sinks-")
    try:
        pki = siem.make_ca(tmp)
        port = siem.free_port()
        rs = siem.Rsyslog(os.path.join(tmp, "rs"), pki, port)
        rs.start()
        res = {"file": [], "syslog-tls": []}
        for r in range(a.rounds):
            path = os.path.join(tmp, f"f{r}.jsonl")
            res["file"].append(run([binary, "file", path, str(a.count)]))
            os.unlink(path)
            state = os.path.join(tmp, f"state{r}")
            res["syslog-tls"].append(run([binary, "syslog", f"tls://127.0.0.1:{port}", pki["ca"], state,
                                          str(a.count)]))
        rs.stop()
        print(f"{a.count} alerts per round, {a.rounds} rounds (median [min..max])")
        for k, v in res.items():
            caller = [x[0] for x in v]
            us = [x[1] for x in v]
            e2e = [x[2] for x in v]
            print(f"  {k:11s} caller {statistics.median(caller):>9.0f} alerts/s [{min(caller)}..{max(caller)}]"
                  f"  ({statistics.median(us):.2f} us/alert on the pipeline thread)"
                  f"  end-to-end {statistics.median(e2e):>8.0f} alerts/s [{min(e2e)}..{max(e2e)}]")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
