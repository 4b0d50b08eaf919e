#!/usr/bin/python3
"""ftsentineld against no tracing, a bpftrace one-liner and auditd, on the same loops.

Run as root, after a build (this script builds nothing):

    sudo /usr/bin/python3 tests/bench/run_bench.py [--bin-dir build/daemon] [--rounds 5]

It prints the README's "Performance" table: for each workload, the ratio of
each tool's run to the no-tracing run of the same round, median [min..max]
over the rounds, then what each tool itself cost (RSS, CPU seconds).

Tools (conditions), one started before each run and stopped after it:
  none        nothing traces: the baseline of the round
  ftsentinel  ftsentineld with the bench policy (the data tree is training
              data and protected, the checkpoint dir outputs, ~/.ssh sensitive)
  empty-bpf   bpftrace with an empty program `{ }` on each tracepoint
              ftsentinel attaches to: the floor any tracepoint-based sensor
              pays (the syscall slow path, a program call per event)
  bpftrace    `bpftrace -e 'tracepoint:syscalls:sys_enter_open,
              tracepoint:syscalls:sys_enter_openat { printf(pid, comm, path) }'`
              writing to a file: what one would type to record opens with paths
  auditd      auditd (-n, its log in the temp dir) with `auditctl -w DATA -p rwa`:
              a watch on the data tree
Rounds are interleaved: in each round every workload runs once with nothing,
then once under each tool (the tools' order turns round by round). These VMs
vary by +-20 % run to run, so the figures are ratios to the baseline of the
same round, never absolute verdicts. It never gates CI. A tool that is not
installed is left out, and said so (bpftrace and auditd are Debian packages
the bench alone needs: apt-get install --no-install-recommends bpftrace auditd).

Workloads (fts_bench_loops and train_loop.py time themselves, so start-up,
the CLI's registration and process creation are not in the figures):
  open, untracked            open+close of /etc/hostname, outside every watched tree
  open shard, untracked      open+close of a shard in the data tree, outside a job
  open shard, job            the same as a job (`ftsentinel run --policy bench --`;
                             the other tools have no jobs: the loop runs as is)
  fork/exec, untracked       fork + execve(/bin/true) + waitpid
  fork/exec, job
  fork/exec, job +alerts     ftsentinel only: the outputs flooded by `alert-test`
  tcp 1GiB, untracked/job    1 GiB in 64 KiB writes to a loopback child (ns per 64 KiB)
  connect/close, untracked/job
  open, untracked, a model loading
                             ftsentinel only: the open loop while a job holds a
                             .pt file open (a load window), so the close hook
                             looks up every close on the node
  fine-tune step, job        train_loop.py: a small transformer fine-tuned on the
                             shards, DataLoader workers reading one shard file per
                             sample, a checkpoint every 10 steps (ns per step)
(--only picks workloads by substring, --tools picks tools.)

--bpf-stats adds, for the ftsentinel runs, each of the daemon's BPF programs'
invocations and run time per operation of the loop (kernel.bpf_stats_enabled,
`bpftool prog show`): the per-hook cost, independent of the machine's load.

The binaries are copied to a temp dir first, so a rebuild during the run
cannot mix two versions. Every tool is stopped and the temp dir removed on
exit, Ctrl-C or SIGTERM included.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BIN_DIR = os.path.join(REPO, "build", "daemon")
TRAIN_LOOP = os.path.join(HERE, "train_loop.py")
PYTHON = "/usr/bin/python3"  # Debian's python3-torch serves this interpreter only

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
LOOP_TIMEOUT_S = 300.0
# After a tool is ready and after it exits, so that neither its start-up nor
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
data:
  training: ["{data}/**"]
  protected: ["{data}/**"]
  outputs: ["{ckpt}/**"]
  sensitive: ["/root/.ssh/**"]
"""

BPFTRACE_PROG = ('tracepoint:syscalls:sys_enter_open,tracepoint:syscalls:sys_enter_openat '
                 '{ printf("%d %s %s\\n", pid, comm, str(args->filename)); }')

AUDITD_CONF = """\
log_file = {tmp}/audit/audit.log
log_format = ENRICHED
flush = INCREMENTAL_ASYNC
freq = 50
max_log_file = 1024
max_log_file_action = ROTATE
num_logs = 2
space_left = 64
space_left_action = IGNORE
admin_space_left = 32
admin_space_left_action = IGNORE
disk_full_action = IGNORE
disk_error_action = IGNORE
write_logs = yes
local_events = yes
"""
AUDIT_KEY = "fts-bench"


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


def proc_usage(pid):
    """(CPU seconds, RSS bytes, peak RSS bytes) of a live process, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/%d/status" % pid) as f:
            status = dict(l.split(":", 1) for l in f if ":" in l)
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    kib = lambda k: int(status.get(k, "0 kB").split()[0]) * 1024
    return ((int(fields[11]) + int(fields[12])) / tick, kib("VmRSS"), kib("VmHWM"))


class Tool:
    """A process traced around each run: start() returns when it is ready."""

    name = "?"
    stop_timeout_s = STOP_TIMEOUT_S

    def __init__(self, tmp):
        self.tmp = tmp
        self.log = os.path.join(tmp, self.name + ".log")
        self.proc = None
        self.starts = 0

    def pid(self):
        return self.proc.pid if self.proc else None

    def spawn(self, argv, stdout=subprocess.DEVNULL):
        with open(self.log, "ab") as log:
            # Own session: a Ctrl-C reaches us, and we stop the tool ourselves.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log,
                                         start_new_session=True)
        self.starts += 1

    def wait_ready(self, ready):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("%s exited with status %d during start-up:\n%s"
                                 % (self.name, self.proc.returncode, self.log_tail()))
            if ready():
                time.sleep(SETTLE_S)
                return
            time.sleep(0.05)
        raise BenchError("%s not ready after %.0f s:\n%s" % (self.name, READY_TIMEOUT_S, self.log_tail()))

    def stop(self):
        """SIGTERM and wait (SIGKILL after STOP_TIMEOUT_S). Safe to call when not running."""
        p = self.proc
        if p is None:
            return
        if p.poll() is not None:
            self.proc = None
            raise BenchError("%s exited by itself (status %d) while the loop ran:\n%s"
                             % (self.name, p.returncode, self.log_tail()))
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=self.stop_timeout_s)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise BenchError("%s ignored SIGTERM for %.0f s; killed" % (self.name, self.stop_timeout_s))
        finally:
            if p.returncode is not None:
                self.proc = None
        if p.returncode != 0:
            raise BenchError("%s stopped with status %d:\n%s" % (self.name, p.returncode, self.log_tail()))
        time.sleep(SETTLE_S)

    def log_tail(self, n=20):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


class Daemon(Tool):
    """One ftsentineld in the temp dir; ready when the CLI gets a status."""

    name = "ftsentinel"

    def __init__(self, tmp, daemon_bin, cli_bin, data, ckpt):
        super().__init__(tmp)
        self.daemon_bin = daemon_bin
        self.cli_bin = cli_bin
        self.cfg = os.path.join(tmp, "ftsentinel.yaml")
        self.sock = os.path.join(tmp, "control.sock")
        self.state = os.path.join(tmp, "state")
        os.makedirs(os.path.join(tmp, "pol"))
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(tmp=tmp))
        with open(os.path.join(tmp, "pol", "bench.yaml"), "w") as f:
            f.write(POLICY.format(data=data, ckpt=ckpt))

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
        self.spawn([self.daemon_bin, "--config", self.cfg])
        self.wait_ready(lambda: os.path.exists(self.sock) and self.status() is not None)

    def job(self, argv):
        return [self.cli_bin, "--socket", self.sock, "run", "--policy", "bench", "--"] + argv


class Bpftrace(Tool):
    """The one-liner, printing each open's pid, command and path to a file."""

    name = "bpftrace"

    def start(self):
        out = os.path.join(self.tmp, "bpftrace.out")
        with open(out, "wb") as f:
            self.spawn(["bpftrace", "-B", "full", "-e", BPFTRACE_PROG], stdout=f)

        def attached():
            with open(out, "rb") as f:
                return b"Attaching" in f.read(4096)
        self.wait_ready(attached)

    def stop(self):
        try:
            super().stop()
        finally:
            out = os.path.join(self.tmp, "bpftrace.out")
            if os.path.exists(out):
                os.unlink(out)


def sensor_tracepoints():
    """The tracepoints ftsentinel's programs attach to, as bpftrace probes: the
    syscall ones as they are, the tp_btf ones as the classic tracepoint of the
    same event (bpftrace 0.17 has no raw/BTF tracepoints; the classic one also
    builds its record, so this floor is, if anything, too high for those)."""
    names = set()
    for src in sorted(os.listdir(os.path.join(REPO, "bpf"))):
        if src.endswith(".bpf.c"):
            with open(os.path.join(REPO, "bpf", src)) as f:
                names.update(re.findall(r'SEC\("(tracepoint/[\w/]+|tp_btf/\w+)"\)', f.read()))
    probes = []
    for n in sorted(names):
        kind, rest = n.split("/", 1)
        if kind == "tracepoint":
            probes.append("tracepoint:" + rest.replace("/", ":"))
            continue
        for root in ("/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"):
            hits = [d for d in (os.listdir(root) if os.path.isdir(root) else [])
                    if os.path.isdir(os.path.join(root, d, rest))]
            if hits:
                probes.append("tracepoint:%s:%s" % (hits[0], rest))
                break
    return probes


class EmptyBpf(Tool):
    """The floor of any tracepoint-based sensor: an empty BPF program (bpftrace
    `{ }`) on every tracepoint ftsentinel's programs attach to. What remains
    between this and ftsentinel is the programs' own work; what this costs is
    the kernel's: the syscall slow path every task takes while a syscall
    tracepoint is on, and a program call per event."""

    name = "empty-bpf"
    # bpftrace closes its 45 tracepoint perf events one by one, each close
    # waiting twice in synchronize_rcu_tasks_trace (perf_event_detach_bpf_prog,
    # perf_trace_event_unreg; /proc/PID/stack in D state): ~2.5 s on a quiet
    # VM, now and then over 60 s (two full runs were killed there, session
    # 12). Outside every measurement, so it may take its time.
    stop_timeout_s = 300.0

    def start(self):
        out = os.path.join(self.tmp, "empty-bpf.out")
        with open(out, "wb") as f:
            self.spawn(["bpftrace", "-e", ",".join(sensor_tracepoints()) + " { }"], stdout=f)

        def attached():
            with open(out, "rb") as f:
                return b"Attaching" in f.read(4096)
        self.wait_ready(attached)


class Auditd(Tool):
    """auditd in the foreground with its log in the temp dir, and a watch on the data tree."""

    name = "auditd"

    def __init__(self, tmp, data):
        super().__init__(tmp)
        self.data = data
        self.conf_dir = os.path.join(tmp, "auditd")
        os.makedirs(self.conf_dir)
        os.makedirs(os.path.join(tmp, "audit"))
        with open(os.path.join(self.conf_dir, "auditd.conf"), "w") as f:
            f.write(AUDITD_CONF.format(tmp=tmp))
        os.chmod(os.path.join(self.conf_dir, "auditd.conf"), 0o640)
        self.enabled_before = self.audit_status().get("enabled", "0")

    @staticmethod
    def audit_status():
        r = subprocess.run(["auditctl", "-s"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return dict(l.split(None, 1) for l in r.stdout.splitlines() if " " in l)

    def start(self):
        self.spawn(["auditd", "-n", "-c", self.conf_dir])
        self.wait_ready(lambda: self.audit_status().get("pid", "0").strip() == str(self.proc.pid))
        r = subprocess.run(["auditctl", "-w", self.data, "-p", "rwa", "-k", AUDIT_KEY],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            raise BenchError("auditctl -w %s: %s" % (self.data, r.stderr.strip()))

    def stop(self):
        if self.proc is None:
            return
        subprocess.run(["auditctl", "-W", self.data, "-p", "rwa", "-k", AUDIT_KEY],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            super().stop()
        finally:
            subprocess.run(["auditctl", "-e", self.enabled_before.strip()], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            shutil.rmtree(os.path.join(self.tmp, "audit"), ignore_errors=True)
            os.makedirs(os.path.join(self.tmp, "audit"), exist_ok=True)


class BpfStats:
    """Per-program invocations and run time of the daemon's programs over one run."""

    def __init__(self):
        self.was = None
        self.per_op = {}  # label -> {program: [(calls per op, ns per op), ...]}

    def enable(self):
        with open("/proc/sys/kernel/bpf_stats_enabled") as f:
            self.was = f.read().strip()
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write("1")

    def restore(self):
        if self.was is not None:
            with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
                f.write(self.was)

    @staticmethod
    def prog_ids(pid):
        """Ids of the BPF programs @pid holds fds to (fdinfo's prog_id): other daemons' are not ours."""
        ids = set()
        fd_dir = "/proc/%d/fdinfo" % pid
        for fd in os.listdir(fd_dir):
            try:
                with open(os.path.join(fd_dir, fd)) as f:
                    for line in f:
                        if line.startswith("prog_id:"):
                            ids.add(int(line.split()[1]))
            except OSError:
                pass
        return ids

    @classmethod
    def snapshot(cls, pid):
        ids = cls.prog_ids(pid)
        r = subprocess.run(["bpftool", "prog", "show", "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        out = {}
        for p in json.loads(r.stdout or "[]"):
            if p["id"] in ids:
                out[p.get("name", str(p["id"]))] = (p.get("run_cnt", 0), p.get("run_time_ns", 0))
        return out

    def add(self, label, before, after, ops):
        progs = self.per_op.setdefault(label, {})
        for name, (cnt, ns) in after.items():
            c0, t0 = before.get(name, (0, 0))
            if cnt > c0:
                progs.setdefault(name, []).append(((cnt - c0) / ops, (ns - t0) / ops))

    def print(self):
        print()
        print("BPF programs per operation of the loop (ftsentinel runs; medians over the rounds):")
        for label, progs in self.per_op.items():
            total = sum(statistics.median(x[1] for x in v) for v in progs.values())
            print("  %s: %.0f ns of BPF per op" % (label, total))
            for name, v in sorted(progs.items(), key=lambda kv: -statistics.median(x[1] for x in kv[1])):
                calls = statistics.median(x[0] for x in v)
                ns = statistics.median(x[1] for x in v)
                print("    %-28s %8.2f calls/op %9.0f ns/op %7.0f ns/call" % (name, calls, ns, ns / calls))


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


def fmt_ratios(ratios):
    if not ratios:
        return "—"
    return "%.3f [%.2f..%.2f]" % (statistics.median(ratios), min(ratios), max(ratios))


def print_table(head, rows):
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


class Workload:
    def __init__(self, label, argv, ops, job=False, tools=None, alerts=False, model=None):
        self.label, self.argv, self.ops, self.job, self.tools, self.alerts = label, argv, ops, job, tools, alerts
        self.model = model  # a model file a job holds open while the run lasts
        self.base = []
        self.runs = {}   # tool -> [ns/op]
        self.ratios = {}  # tool -> [ratio to the round's baseline]
        self.cpu = {}    # tool -> [CPU seconds of the tool during the run]

    def argv_for(self, tool):
        return tool.job(self.argv) if self.job and isinstance(tool, Daemon) else self.argv


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=DEFAULT_BIN_DIR,
                    help="where ftsentineld and ftsentinel are (default %(default)s); fts_bench_loops is "
                         "looked for there, then in BIN_DIR/../tests/bench")
    ap.add_argument("--loops", help="path of fts_bench_loops (overrides the lookup above)")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    ap.add_argument("--open-n", type=int, default=200000, help="open/close per run (default 200000)")
    ap.add_argument("--forkexec-n", type=int, default=1000, help="fork/exec/wait per run (default 1000)")
    ap.add_argument("--tcp-n", type=int, default=16384, help="64 KiB loopback writes per run (default 16384: 1 GiB)")
    ap.add_argument("--connect-n", type=int, default=5000, help="loopback connect/close per run (default 5000)")
    ap.add_argument("--train-steps", type=int, default=40, help="fine-tune steps per run (default 40)")
    ap.add_argument("--only", action="append", default=[], help="run only workloads whose label contains this")
    ap.add_argument("--tools", default="ftsentinel,empty-bpf,bpftrace,auditd",
                    help="comma-separated tools to compare with no tracing (default %(default)s)")
    ap.add_argument("--bpf-stats", action="store_true",
                    help="also print the daemon's BPF programs' calls and ns per op (kernel.bpf_stats_enabled)")
    args = ap.parse_args()
    if args.rounds < 1 or args.open_n < 1 or args.forkexec_n < 1 or args.train_steps < 1:
        ap.error("--rounds, --open-n, --forkexec-n and --train-steps must be positive")
    return args


def make_tools(args, tmp, bins, data, ckpt):
    tools, missing = [], []
    for name in [t.strip() for t in args.tools.split(",") if t.strip()]:
        if name == "ftsentinel":
            tools.append(Daemon(tmp, bins["ftsentineld"], bins["ftsentinel"], data, ckpt))
        elif name == "bpftrace":
            (tools.append(Bpftrace(tmp)) if shutil.which("bpftrace") else missing.append(name))
        elif name == "empty-bpf":
            (tools.append(EmptyBpf(tmp)) if shutil.which("bpftrace") else missing.append(name))
        elif name == "auditd":
            (tools.append(Auditd(tmp, data)) if shutil.which("auditd") and shutil.which("auditctl")
             else missing.append(name))
        else:
            raise BenchError("unknown tool %r (ftsentinel, empty-bpf, bpftrace, auditd)" % name)
    return tools, missing


def make_workloads(args, loops, data, ckpt):
    shard = os.path.join(data, "shard-00000.pt")
    o, fe = [loops, "open", str(args.open_n)], [loops, "forkexec", str(args.forkexec_n)]
    tcp, conn = [loops, "tcp", str(args.tcp_n)], [loops, "connect", str(args.connect_n)]
    train = [PYTHON, TRAIN_LOOP, "train", data, ckpt, "--steps", str(args.train_steps)]
    ws = [
        Workload("open, untracked", o + ["/etc/hostname"], args.open_n),
        Workload("open shard, untracked", o + [shard], args.open_n),
        Workload("open shard, job", o + [shard], args.open_n, job=True),
        Workload("fork/exec, untracked", fe, args.forkexec_n),
        Workload("fork/exec, job", fe, args.forkexec_n, job=True),
        Workload("fork/exec, job +alerts", fe, args.forkexec_n, job=True, tools=["ftsentinel"], alerts=True),
        Workload("tcp 1GiB, untracked", tcp, args.tcp_n),
        Workload("tcp 1GiB, job", tcp, args.tcp_n, job=True),
        Workload("connect/close, untracked", conn, args.connect_n),
        Workload("connect/close, job", conn, args.connect_n, job=True),
        Workload("fine-tune step, job", train, args.train_steps, job=True),
        Workload("open, untracked, a model loading", o + ["/etc/hostname"], args.open_n, tools=["ftsentinel"],
                 model=shard),
    ]
    if args.only:
        ws = [w for w in ws if any(o in w.label for o in args.only)]
        if not ws:
            raise BenchError("--only matched no workload")
    return ws


class Flood:
    """`ftsentinel alert-test` batches through every output while a run lasts."""

    def __init__(self, daemon):
        self.daemon, self.sent, self.stop_ev, self.thread = daemon, 0, threading.Event(), None

    def start(self):
        self.stop_ev.clear()
        self.thread = threading.Thread(target=self.loop)
        self.thread.start()

    def loop(self):
        while not self.stop_ev.is_set():
            r = subprocess.run([self.daemon.cli_bin, "--socket", self.daemon.sock, "alert-test", "--count", "500"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
            if r.returncode == 0:
                self.sent += 500

    def stop(self):
        if self.thread:
            self.stop_ev.set()
            self.thread.join()
            self.thread = None


# A load in progress: a job process with a model file open until its stdin closes.
HOLD = "import sys\nf = open(sys.argv[1], 'rb')\nprint('open', flush=True)\nsys.stdin.read()\n"


class Bench:
    def __init__(self, args, tools, workloads, stats):
        self.args, self.tools, self.workloads, self.stats = args, tools, workloads, stats
        self.drops = 0
        self.peak_rss = {}
        self.others_seen = set()
        daemons = [t for t in tools if isinstance(t, Daemon)]
        self.flood = Flood(daemons[0]) if daemons else None

    def measure(self, w, tool):
        """One run of @w under @tool: ns/op, and the tool's CPU seconds meanwhile."""
        tool.start()
        try:
            pid = tool.pid()
            u0 = proc_usage(pid)
            s0 = self.stats.snapshot(pid) if self.stats and isinstance(tool, Daemon) else None
            if w.alerts:
                self.flood.start()
            holder = None
            if w.model and isinstance(tool, Daemon):
                holder = subprocess.Popen(tool.job([PYTHON, "-c", HOLD, w.model]), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                holder.stdout.readline()
            try:
                ns = run_loop(w.argv_for(tool))
            finally:
                self.flood and self.flood.stop()
                if holder:
                    holder.stdin.close()
                    holder.wait(timeout=30)
            u1 = proc_usage(pid)
            if s0 is not None:
                self.stats.add(w.label, s0, self.stats.snapshot(pid), w.ops)
            if isinstance(tool, Daemon):
                st = tool.status()
                self.drops += int(st.get("ringbuf_drops", 0)) if st else 0
        finally:
            tool.stop()
        if u0 and u1:
            w.cpu.setdefault(tool.name, []).append(u1[0] - u0[0])
            self.peak_rss[tool.name] = max(self.peak_rss.get(tool.name, 0), u1[2])
        return ns

    def round(self, r):
        n = len(self.tools)
        order = self.tools[r % n:] + self.tools[:r % n] if n else []
        for w in self.workloads:
            self.others_seen.update(other_daemons(os.getpid()))
            b = run_loop(w.argv)
            w.base.append(b)
            msg = ["  round %d/%d  %-24s none %10s" % (r + 1, self.args.rounds, w.label, fmt_ns(b))]
            for tool in order:
                if w.tools and tool.name not in w.tools:
                    continue
                ns = self.measure(w, tool)
                w.runs.setdefault(tool.name, []).append(ns)
                w.ratios.setdefault(tool.name, []).append(ns / b)
                msg.append("%s x%.3f" % (tool.name, ns / b))
            print("  ".join(msg), file=sys.stderr, flush=True)

    def report(self, elapsed, load_start, load_end, missing):
        names = [t.name for t in self.tools]
        print()
        print_table(["workload", "none, ns/op"] + names,
                    [[w.label, "%.0f" % statistics.median(w.base)] + [fmt_ratios(w.ratios.get(n, [])) for n in names]
                     for w in self.workloads])
        print()
        print("ratio = run under the tool / run with nothing, same round: median [min..max] over %d rounds."
              % self.args.rounds)
        print()
        print("What each tool cost itself (its own process; kernel-side work is in the ratios above):")
        print_table(["workload"] + ["%s CPU s" % n for n in names],
                    [[w.label] + ["%.2f" % statistics.median(w.cpu[n]) if w.cpu.get(n) else "—" for n in names]
                     for w in self.workloads])
        print()
        print("peak RSS: " + ", ".join("%s %.1f MiB" % (n, self.peak_rss.get(n, 0) / 2**20) for n in names))
        print("%.0f s; load average %.2f at start, %.2f at end; %d CPUs, kernel %s; ftsentinel ring-buffer drops: %d"
              % (elapsed, load_start, load_end, os.cpu_count(), os.uname().release, self.drops))
        if self.flood and self.flood.sent:
            print("test alerts written during '+alerts' runs: %d" % self.flood.sent)
        if missing:
            print("left out (not installed): %s" % ", ".join(missing))
        if self.others_seen:
            print()
            print("warning: other ftsentineld processes ran during the bench (pids %s); their hooks are in "
                  "the baseline too" % ", ".join(map(str, sorted(self.others_seen))))
        if self.stats:
            self.stats.print()


def fmt_ns(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    if ns >= 1e3:
        return "%.2f us" % (ns / 1e3)
    return "%.0f ns" % ns


def copy_bins(args, tmp):
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
    return bins


def warm_up(loops, tools, data, ckpt, train):
    """The page cache (binaries, /bin/true, torch) and each tool once, so round 1 is not the cold one."""
    run_loop([loops, "open", "1000", "/etc/hostname"])
    run_loop([loops, "forkexec", "10"])
    run_loop([loops, "tcp", "16"])
    if train:
        run_loop([PYTHON, TRAIN_LOOP, "train", data, ckpt, "--steps", "2"])
    for t in tools:
        t.start()
        t.stop()


def main():
    args = parse_args()
    if os.geteuid() != 0:
        print("run_bench.py: ftsentineld needs root", file=sys.stderr)
        return 2

    # SIGTERM takes the same way out as Ctrl-C (finally: stop the tools, remove the temp dir).
    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    tmp = tempfile.mkdtemp(prefix="fts-bench-")
    tools, stats = [], None
    try:
        bins = copy_bins(args, tmp)
        data, ckpt = os.path.join(tmp, "data"), os.path.join(tmp, "ckpt")
        subprocess.run([PYTHON, TRAIN_LOOP, "prepare", data], check=True)
        os.makedirs(ckpt)
        tools, missing = make_tools(args, tmp, bins, data, ckpt)
        workloads = make_workloads(args, bins["fts_bench_loops"], data, ckpt)
        if args.bpf_stats:
            stats = BpfStats()
            stats.enable()
        bench = Bench(args, tools, workloads, stats)
        warm_up(bins["fts_bench_loops"], tools, data, ckpt, any("fine-tune" in w.label for w in workloads))

        load_start = os.getloadavg()[0]
        t_start = time.monotonic()
        print("ftsentinel bench: %d rounds; open/close x%d, fork+exec+wait x%d, tcp x%d, connect x%d, "
              "fine-tune x%d steps; tools: none, %s" % (args.rounds, args.open_n, args.forkexec_n, args.tcp_n,
                                                       args.connect_n, args.train_steps,
                                                       ", ".join(t.name for t in tools)), flush=True)
        for r in range(args.rounds):
            bench.round(r)
        bench.report(time.monotonic() - t_start, load_start, os.getloadavg()[0], missing)
        return 0
    except (BenchError, subprocess.CalledProcessError) as e:
        print("run_bench.py: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("run_bench.py: interrupted", file=sys.stderr)
        return 130
    finally:
        # Ignore further Ctrl-C / SIGTERM while cleaning up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for t in tools:
            try:
                t.stop()
            except BenchError as e:
                print("run_bench.py: %s" % e, file=sys.stderr)
        if stats:
            stats.restore()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
