#!/usr/bin/python3
"""Overhead of ftsentineld on the workloads of fts_bench_loops.

Run as root, after a build (this script builds nothing):

    sudo /usr/bin/python3 tests/bench/run_bench.py [--bin-dir build/daemon] [--rounds 5]

For each workload and each round it measures the baseline (daemon stopped),
then the same loop with a daemon running (started for this pair, stopped after
it), so the two conditions alternate: baseline, daemon, baseline, daemon, ...
These machines are noisy (about +-20% between runs of the same loop), so it
prints the median ns/op of each condition and the median ratio daemon/baseline
over the rounds with its min and max, never absolute verdicts. It never gates
CI.

Workloads:
  open/close, untracked     the loop is in no job: the cost every process pays
  fork/exec, untracked
  open/close, job           the loop runs as a job (`ftsentinel run --policy
  fork/exec, job            bench -- fts_bench_loops ...`); its baseline is the
                            loop run directly, since the CLI cannot register a
                            job without a daemon.
  tcp 1GiB, untracked       loopback TCP: 1 GiB in 64 KiB writes to a child
  tcp 1GiB, job             that drains it (ns per 64 KiB); the network sensor's
  connect/close, untracked  sock_send_length and cgroup hooks
  connect/close, job
(--only picks workloads by substring, e.g. --only tcp --only connect.)

The loop times itself (CLOCK_MONOTONIC around the loop only), so the daemon's
start, the CLI's registration and process start-up are not in the figures.
The binaries are copied to a temp dir first, so a rebuild during the run
cannot mix two versions. The daemon is stopped and the temp dir removed on
exit, Ctrl-C or SIGTERM included.
"""

import argparse
import threading
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN_DIR = os.path.join(REPO, "build", "daemon")

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOOP_TIMEOUT_S = 120.0
# After the daemon is ready and after it exits, so that neither its start-up nor
# the kernel's freeing of its programs and maps lands in the next measurement.
SETTLE_S = 0.25

CONFIG = """\
state_dir: {tmp}/state
policies_dir: pol
control: {{ socket: {tmp}/control.sock }}
outputs:
  - {{ type: file, path: events.jsonl }}
log:
  level: info
"""

POLICY = """\
name: bench
mode: monitor
jobs:
  exec: ["**/fts-bench-launcher"]
"""


class BenchError(Exception):
    pass


def find_loops(bin_dir, explicit):
    if explicit:
        cands = [explicit]
    else:
        cands = [
            os.path.join(bin_dir, "fts_bench_loops"),
            os.path.join(os.path.dirname(os.path.normpath(bin_dir)), "tests", "bench", "fts_bench_loops"),
        ]
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    raise BenchError("fts_bench_loops not found (looked at %s); build target fts_bench_loops or pass --loops"
                     % ", ".join(cands))


def other_daemons(own_pid):
    """Pids of ftsentineld processes that are not ours (they would skew the baseline)."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == own_pid:
            continue
        try:
            with open("/proc/%s/comm" % d) as f:
                if f.read().strip() == "ftsentineld":
                    pids.append(int(d))
        except OSError:
            pass
    return pids


class Daemon:
    """One ftsentineld in the temp dir; start() waits until the CLI gets a status."""

    def __init__(self, tmp, daemon_bin, cli_bin):
        self.tmp = tmp
        self.daemon_bin = daemon_bin
        self.cli_bin = cli_bin
        self.cfg = os.path.join(tmp, "ftsentinel.yaml")
        self.sock = os.path.join(tmp, "control.sock")
        self.state = os.path.join(tmp, "state")
        self.log = os.path.join(tmp, "ftsentineld.log")
        self.proc = None
        self.starts = 0
        os.makedirs(os.path.join(tmp, "pol"))
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(tmp=tmp))
        with open(os.path.join(tmp, "pol", "bench.yaml"), "w") as f:
            f.write(POLICY)

    def status(self):
        r = subprocess.run([self.cli_bin, "--socket", self.sock, "status", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=10)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        shutil.rmtree(self.state, ignore_errors=True)
        with open(self.log, "ab") as log:
            # Own session: a Ctrl-C reaches us, and we stop the daemon ourselves.
            self.proc = subprocess.Popen([self.daemon_bin, "--config", self.cfg], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        self.starts += 1
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("ftsentineld exited with status %d during start-up:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.sock) and self.status() is not None:
                time.sleep(SETTLE_S)
                return
            time.sleep(0.05)
        raise BenchError("ftsentineld not ready after %.0f s:\n%s" % (READY_TIMEOUT_S, self.log_tail()))

    def stop(self):
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT_S). Safe to call when not running."""
        p = self.proc
        if p is None:
            return
        if p.poll() is not None:
            self.proc = None
            raise BenchError("ftsentineld exited by itself (status %d) while the loop ran:\n%s"
                             % (p.returncode, self.log_tail()))
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise BenchError("ftsentineld ignored SIGTERM for %.0f s; killed" % STOP_TIMEOUT_S)
        finally:
            if p.returncode is not None:
                self.proc = None
        if p.returncode != 0:
            raise BenchError("ftsentineld stopped with status %d:\n%s" % (p.returncode, self.log_tail()))
        time.sleep(SETTLE_S)

    def log_tail(self, n=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


def run_loop(argv):
    """Runs one loop; returns its ns/op."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=LOOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise BenchError("%s did not finish in %.0f s" % (" ".join(argv), LOOP_TIMEOUT_S))
    finally:
        # Timeout, Ctrl-C or SIGTERM: no loop outlives the bench.
        if p.poll() is None:
            p.kill()
            p.wait()
    if p.returncode != 0:
        raise BenchError("%s exited with status %d: %s" % (" ".join(argv), p.returncode, err.strip()))
    try:
        return float(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError("%s printed no number: %r" % (" ".join(argv), out))


def fmt_ns(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f us" % (ns / 1e3)
    return "%.0f ns" % ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=DEFAULT_BIN_DIR,
                    help="where ftsentineld and ftsentinel are (default %(default)s); fts_bench_loops is "
                         "looked for there, then in BIN_DIR/../tests/bench")
    ap.add_argument("--loops", help="path of fts_bench_loops (overrides the lookup above)")
    ap.add_argument("--rounds", type=int, default=5, help="baseline/daemon pairs per workload (default 5)")
    ap.add_argument("--open-n", type=int, default=200000, help="open/close per run (default 200000)")
    ap.add_argument("--forkexec-n", type=int, default=1000, help="fork/exec/wait per run (default 1000)")
    ap.add_argument("--file", default="/etc/hostname", help="file the open loop opens (default %(default)s)")
    ap.add_argument("--tcp-n", type=int, default=16384, help="64 KiB loopback writes per run (default 16384: 1 GiB)")
    ap.add_argument("--connect-n", type=int, default=5000, help="loopback connect/close per run (default 5000)")
    ap.add_argument("--only", action="append", default=[], help="run only workloads whose label contains this")
    args = ap.parse_args()

    if os.geteuid() != 0:
        print("run_bench.py: ftsentineld needs root", file=sys.stderr)
        return 2
    if args.rounds < 1 or args.open_n < 1 or args.forkexec_n < 1:
        ap.error("--rounds, --open-n and --forkexec-n must be positive")

    # SIGTERM takes the same way out as Ctrl-C (finally: stop the daemon, remove the temp dir).
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="fts-bench-")
    daemon = None
    try:
        bin_dir = os.path.abspath(args.bin_dir)
        srcs = {
            "ftsentineld": os.path.join(bin_dir, "ftsentineld"),
            "ftsentinel": os.path.join(bin_dir, "ftsentinel"),
            "fts_bench_loops": find_loops(bin_dir, args.loops),
        }
        bins = {}
        os.makedirs(os.path.join(tmp, "bin"))
        for name, src in srcs.items():
            if not os.access(src, os.X_OK):
                raise BenchError("%s not found at %s (see --bin-dir)" % (name, src))
            bins[name] = os.path.join(tmp, "bin", name)
            shutil.copy2(src, bins[name])

        daemon = Daemon(tmp, bins["ftsentineld"], bins["ftsentinel"])
        loops, cli = bins["fts_bench_loops"], bins["ftsentinel"]
        job = [cli, "--socket", daemon.sock, "run", "--policy", "bench", "--"]
        open_args = ["open", str(args.open_n), args.file]
        fe_args = ["forkexec", str(args.forkexec_n)]
        tcp_args = ["tcp", str(args.tcp_n)]
        conn_args = ["connect", str(args.connect_n)]
        # (label, baseline argv, daemon argv, alerts flooding the outputs meanwhile)
        workloads = [
            ("open/close, untracked", [loops] + open_args, [loops] + open_args, False),
            ("fork/exec, untracked", [loops] + fe_args, [loops] + fe_args, False),
            ("open/close, job", [loops] + open_args, job + [loops] + open_args, False),
            ("fork/exec, job", [loops] + fe_args, job + [loops] + fe_args, False),
            # The sensor's rate while the sinks are busy: compare with the row above.
            ("fork/exec, job +alerts", [loops] + fe_args, job + [loops] + fe_args, True),
            ("tcp 1GiB, untracked", [loops] + tcp_args, [loops] + tcp_args, False),
            ("tcp 1GiB, job", [loops] + tcp_args, job + [loops] + tcp_args, False),
            ("connect/close, untracked", [loops] + conn_args, [loops] + conn_args, False),
            ("connect/close, job", [loops] + conn_args, job + [loops] + conn_args, False),
        ]
        if args.only:
            workloads = [w for w in workloads if any(o in w[0] for o in args.only)]
            if not workloads:
                raise BenchError("--only matched no workload")
        results = {w[0]: {"base": [], "daemon": []} for w in workloads}
        alerts_sent = [0]

        def flood(stop):
            # `ftsentinel alert-test` batches through every output until the loop ends.
            while not stop.is_set():
                r = subprocess.run([cli, "--socket", daemon.sock, "alert-test", "--count", "500"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
                if r.returncode == 0:
                    alerts_sent[0] += 500
        drops = 0
        others_seen = set()

        # Warm the page cache (binaries, /bin/true, the daemon) so round 1 is not the cold one.
        run_loop([loops, "open", "1000", args.file])
        run_loop([loops, "forkexec", "10"])
        run_loop([loops, "tcp", "16"])
        daemon.start()
        daemon.stop()

        load_start = os.getloadavg()
        t_start = time.monotonic()
        print("ftsentinel bench: %d rounds; open/close x%d (%s), fork+exec+wait /bin/true x%d; %d CPUs, "
              "kernel %s" % (args.rounds, args.open_n, args.file, args.forkexec_n, os.cpu_count(),
                             os.uname().release), flush=True)
        for r in range(args.rounds):
            for label, base_argv, daemon_argv, with_alerts in workloads:
                others_seen.update(other_daemons(os.getpid()))
                b = run_loop(base_argv)
                daemon.start()
                stop = threading.Event()
                flooder = threading.Thread(target=flood, args=(stop,)) if with_alerts else None
                try:
                    if flooder:
                        flooder.start()
                    d = run_loop(daemon_argv)
                    st = daemon.status()
                    if st is not None:
                        drops += int(st.get("ringbuf_drops", 0))
                finally:
                    stop.set()
                    if flooder:
                        flooder.join()
                    daemon.stop()
                results[label]["base"].append(b)
                results[label]["daemon"].append(d)
                print("  round %d/%d  %-22s baseline %10s  daemon %10s  x%.3f"
                      % (r + 1, args.rounds, label, fmt_ns(b), fmt_ns(d), d / b), file=sys.stderr, flush=True)
        elapsed = time.monotonic() - t_start
        load_end = os.getloadavg()

        head = ("workload", "baseline ns/op", "with daemon ns/op", "ratio median [min-max]")
        rows = []
        for label, _, _, _ in workloads:
            base, dmn = results[label]["base"], results[label]["daemon"]
            ratios = [d / b for b, d in zip(base, dmn)]
            rows.append((label, "%.0f" % statistics.median(base), "%.0f" % statistics.median(dmn),
                         "%.3f [%.3f-%.3f]" % (statistics.median(ratios), min(ratios), max(ratios))))
        widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
        line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
        print()
        print(line(head))
        print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
        for row in rows:
            print(line(row))
        print()
        print("medians over %d alternating rounds (baseline, daemon, ...); ratio = with daemon / baseline "
              "of the same round." % args.rounds)
        print("%.0f s; load average %.2f at start, %.2f at end; ring-buffer drops with the daemon: %d; "
              "daemon starts: %d; test alerts written during '+alerts' rounds: %d"
              % (elapsed, load_start[0], load_end[0], drops, daemon.starts, alerts_sent[0]))
        if others_seen:
            print("warning: other ftsentineld processes ran during the bench (pids %s); their hooks are in "
                  "the baseline too" % ", ".join(map(str, sorted(others_seen))))
        return 0
    except BenchError as e:
        print("run_bench.py: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_bench.py: interrupted", file=sys.stderr)
        return 130
    finally:
        # Ignore further Ctrl-C / SIGTERM while cleaning up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if daemon is not None:
            try:
                daemon.stop()
            except BenchError as e:
                print("run_bench.py: %s" % e, file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
