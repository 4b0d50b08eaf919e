#!/usr/bin/python3
"""Soak: ftsentineld under a steady flood for N minutes (issue 16, "Soak").

    sudo /usr/bin/python3 tests/bench/soak.py --bin-dir build/daemon [--minutes 10] [--rate 50000]

A job (`ftsentinel run`) opens a pool of distinct files round-robin at a
paced rate: each open is one kernel record (the pool is larger than the
kernel's once-per-(process, file) map, so none is folded), rendered and
written to a JSON-lines file (rotated: 64 MiB x 3) while a loopback HTTP SIEM
takes the alerts (a `test-alert` every few seconds keeps that path busy).
The journal is off: one job's 30 million rows would be a disk test, not a
soak of the daemon. Every `--sample` seconds it prints the daemon's RSS, open
fds and counters; at the end it checks, and exits 1 when one fails:

  - RSS stays at or under 64 MiB (its peak is the kernel's high-water mark,
    VmHWM, so a burst between two samples counts), and flat: the last quarter's median within
    10 % of the second quarter's (the first is warm-up). The ring buffer's
    pages count twice (the kernel maps them twice): `--ringbuf-mb` sets the
    daemon's sensor.ringbuf_mb (8 here, the daemon's default is 16);
  - no fd growth: the last quarter's open fds (their median) not above the
    second quarter's most (a sample can catch a few fds in use for a moment: the
    hasher's two of a file, an output's reconnect);
  - every counter adds up: kernel records (submitted) = records the daemon
    read (`events_seen`); records read + the records the daemon made itself
    (`daemon_records`: content hashes, fanotify's changes, open flows) =
    decode errors + merged + filtered + record events;
    each output took every event and alert (written = emitted), nothing dropped;
    the ring buffer dropped nothing (or the rate was more than this machine
    can carry, and the line says so).

It is a bench, not a test: CI does not run it."""
import argparse
import http.server
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BIN_DIR = os.path.join(HERE, "..", "..", "build", "daemon")
RSS_LIMIT_MIB = 64
POOL = 100_000  # files: more than the kernel's seen-opens map (65536 entries), so every open is a record

# The job: opens PATH/f<i> round-robin, RATE a second in 10 ms slices, until STOP exists.
JOB = r"""
import os, sys, time
d, rate, pool, stop = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = [os.path.join(d, f"f{i}") for i in range(pool)]
per = max(1, rate // 100)
i, t = 0, time.monotonic()
while not os.path.exists(stop):
    for _ in range(per):
        os.close(os.open(names[i], os.O_RDONLY))
        i = (i + 1) % pool
    t += 0.01
    pause = t - time.monotonic()
    if pause > 0:
        time.sleep(pause)
    elif pause < -1:
        t = time.monotonic()  # behind by a second: the machine cannot carry the rate; do not burst
"""


class Siem(http.server.ThreadingHTTPServer):
    """Counts the records POSTed to it (JSON arrays) and answers 200."""
    daemon_threads = True
    records = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n = len(json.loads(body)) if body.startswith(b"[") else body.count(b"\n") + 1
        self.server.records += n
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def proc_status_kib(pid):
    """The kB figures of /proc/PID/status: VmRSS, RssAnon, and VmHWM, the
    most RSS the process ever had (the kernel's high-water mark), so a peak
    between two samples counts too."""
    kib = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if rest.strip().endswith(" kB"):
                kib[key] = int(rest.split()[0])
    return kib


def proc_ring_kib(pid):
    """RSS of the ring buffer's mapping: the kernel maps its data pages twice
    (a record that wraps reads as one), so a ring of N MiB shows as 2N."""
    kib, ring = 0, False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if not first.endswith(":"):
                ring = "anon_inode:bpf-map" in line
            elif ring and first == "Rss:":
                kib += int(line.split()[1])
    return kib


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def n(st, key):
    return int(st.get(key, 0))


class Soak:
    def __init__(self, args):
        self.args = args
        self.daemon_bin = os.path.join(args.bin_dir, "ftsentineld")
        self.cli_bin = os.path.join(args.bin_dir, "ftsentinel")
        self.tmp = tempfile.mkdtemp(prefix="fts-soak-")
        self.sock = os.path.join(self.tmp, "control.sock")
        self.pool = os.path.join(self.tmp, "pool")
        self.stop = os.path.join(self.tmp, "stop")
        self.siem = Siem(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.siem.serve_forever, daemon=True).start()
        self.proc = self.job = None

    def cli(self, *a, timeout=120):
        return subprocess.run([self.cli_bin, "--socket", self.sock, *a], capture_output=True, text=True,
                              timeout=timeout)

    def status(self):
        for _ in range(5):  # a loaded machine can make one answer late
            r = self.cli("status", "--json")
            if r.returncode == 0:
                return json.loads(r.stdout)
            if self.proc.poll() is not None:
                break
            time.sleep(1)
        raise SystemExit(f"status failed: {r.stderr}\n--- ftsentineld (exit {self.proc.poll()}) ---\n"
                         + open(self.err.name).read()[-3000:])

    def start(self):
        os.makedirs(os.path.join(self.tmp, "pol"))
        os.makedirs(self.pool)
        for i in range(POOL):
            open(os.path.join(self.pool, f"f{i}"), "w").close()
        with open(os.path.join(self.tmp, "pol", "soak.yaml"), "w") as f:
            f.write('name: soak\nmode: monitor\njobs:\n  exec: ["**/fts-soak-none"]\n')
            if self.args.reads == "training":  # a data loader's reads: events, no alert each
                f.write(f'data:\n  training: ["{self.pool}/**"]\n')
        cfg = os.path.join(self.tmp, "ftsentinel.yaml")
        with open(cfg, "w") as f:
            f.write(f"state_dir: {self.tmp}/state\npolicies_dir: pol\ncontrol: {{ socket: {self.sock} }}\n"
                    "journal: { path: \"off\" }\nmetrics: { listen: \"off\" }\n"
                    f"sensor: {{ ringbuf_mb: {self.args.ringbuf_mb} }}\n"
                    "outputs:\n  - { type: file, name: events, path: events.jsonl, max_size_mb: 64, max_files: 2 }\n"
                    f"  - {{ type: http, name: siem, url: \"http://127.0.0.1:{self.siem.server_address[1]}/\", "
                    "events: alerts }\n")
        self.err = open(os.path.join(self.tmp, "daemon.err"), "w")
        # Its own process group: a wrapper (heaptrack is a shell script) may not
        # pass SIGTERM on, and a daemon left behind would tax the next run.
        self.proc = subprocess.Popen([*self.args.wrap.split(), self.daemon_bin, "--config", cfg],
                                     stdout=subprocess.DEVNULL, stderr=self.err, start_new_session=True)
        deadline = time.time() + 30
        while not (os.path.exists(self.sock) and self.cli("status").returncode == 0):
            if self.proc.poll() is not None or time.time() > deadline:
                raise SystemExit("ftsentineld did not start:\n" + open(self.err.name).read())
            time.sleep(0.1)
        self.job = subprocess.Popen([self.cli_bin, "--socket", self.sock, "run", "--policy", "soak", "--",
                                     "/usr/bin/python3", "-c", JOB, self.pool, str(self.args.rate), str(POOL),
                                     self.stop], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def sample(self, t0, last):
        st = self.status()
        now = time.monotonic()
        mem = proc_status_kib(self.proc.pid)
        s = {"t": now - t0, "rss_kib": mem.get("VmRSS", 0), "ring_kib": proc_ring_kib(self.proc.pid),
             "fds": proc_fds(self.proc.pid), "hwm_kib": mem.get("VmHWM", 0), "anon_kib": mem.get("RssAnon", 0),
             "kernel": n(st, "kernel_records"), "seen": n(st, "events_seen"), "drops": n(st, "ringbuf_drops")}
        rate = (s["kernel"] - last["kernel"]) / max(1e-9, s["t"] - last["t"]) if last else 0
        s["rate"] = rate
        print(f"{s['t']:7.0f}s  rss {s['rss_kib'] / 1024:6.1f} MiB (ring {s['ring_kib'] / 1024:4.1f}, anon "
              f"{s['anon_kib'] / 1024:4.1f}, peak {s['hwm_kib'] / 1024:4.1f})  fds {s['fds']:3d}  kernel records "
              f"{s['kernel']:>11,}  read {s['seen']:>11,}  {rate:9,.0f}/s  ring-buffer drops {s['drops']:,}",
              flush=True)
        return s

    def run(self):
        self.start()
        t0 = time.monotonic()
        samples, last = [], None
        end = t0 + self.args.minutes * 60
        next_alert = t0
        while time.monotonic() < end:
            if self.job.poll() is not None:
                raise SystemExit(f"the job ended early ({self.job.returncode})")
            if time.monotonic() >= next_alert:
                self.cli("alert-test", "--count", "10", "--severity", "low")
                next_alert += 5
            time.sleep(min(self.args.sample, max(0.1, end - time.monotonic())))
            last = self.sample(t0, last)
            samples.append(last)
        open(self.stop, "w").close()
        self.job.wait(timeout=120)
        r = self.cli("sync", timeout=600)
        if r.returncode != 0:
            raise SystemExit(f"sync failed: {r.stderr}")
        time.sleep(2)  # the SIEM's last POST
        return self.check(samples, self.status(), time.monotonic() - t0)

    def check(self, samples, st, secs):
        ok = True

        def line(good, text):
            nonlocal ok
            ok &= good
            print(f"  {'ok  ' if good else 'FAIL'} {text}")

        q = max(1, len(samples) // 4)
        warm = [s["rss_kib"] for s in samples[q:2 * q]] or [samples[0]["rss_kib"]]
        tail = [s["rss_kib"] for s in samples[-q:]]
        # VmHWM holds a peak between samples; the kernel updates it lazily, so
        # a sample's own RSS can be above it.
        peak = max(max(s["rss_kib"], s["hwm_kib"]) for s in samples)
        rates = [s["rate"] for s in samples[1:]] or [0]
        kernel, seen, own = n(st, "kernel_records"), n(st, "events_seen"), n(st, "daemon_records")
        parts = n(st, "decode_errors") + n(st, "records_merged") + n(st, "records_filtered") + n(st, "record_events")
        events, alerts = n(st, "events_emitted"), n(st, "alerts_emitted")
        print(f"\nsoak: {secs / 60:.1f} min, target {self.args.rate:,} records/s; kernel records at "
              f"{statistics.median(rates):,.0f}/s median [{min(rates):,.0f}..{max(rates):,.0f}] per "
              f"{self.args.sample:.0f} s sample; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
              f"sensor.ringbuf_mb {self.args.ringbuf_mb}")
        line(peak <= RSS_LIMIT_MIB * 1024, f"RSS peak {peak / 1024:.1f} MiB (VmHWM, the kernel's high-water mark; limit {RSS_LIMIT_MIB})")
        line(statistics.median(tail) <= statistics.median(warm) * 1.10,
             f"RSS flat: median {statistics.median(warm) / 1024:.1f} MiB in the second quarter, "
             f"{statistics.median(tail) / 1024:.1f} MiB in the last")
        # A sample may catch a file the hasher has open (two fds) or a control
        # session: growth is the last quarter holding more than the second
        # (its median above the second quarter's most), not one sample that
        # caught fds in use for a moment.
        fds_warm, fds_tail = [s["fds"] for s in samples[q:2 * q]] or [samples[0]["fds"]], [s["fds"] for s in samples[-q:]]
        line(statistics.median(fds_tail) <= max(fds_warm),
             f"fds: {min(fds_warm)}..{max(fds_warm)} in the second quarter, {min(fds_tail)}..{max(fds_tail)} in the last")
        line(kernel == seen, f"kernel records {kernel:,} = records read {seen:,}")
        line(seen + own == parts, f"records read {seen:,} + the daemon's own {own:,} = decode errors {n(st, 'decode_errors'):,} + merged "
                            f"{n(st, 'records_merged'):,} + filtered {n(st, 'records_filtered'):,} + record events "
                            f"{n(st, 'record_events'):,}")
        for o in st.get("sinks", []):
            want = events + alerts if o["name"] == "events" else alerts
            line(n(o, "written") == want and n(o, "dropped") == 0 and n(o, "delivered") == want,
                 f"output {o['name']}: written {n(o, 'written'):,}, delivered {n(o, 'delivered'):,} of {want:,} "
                 f"(events {events:,} + alerts {alerts:,} emitted; {'alerts only' if o['name'] != 'events' else 'all'})"
                 f", dropped {n(o, 'dropped')}")
        line(self.siem.records >= alerts, f"the SIEM received {self.siem.records:,} records for {alerts:,} alerts")
        drops = n(st, "ringbuf_drops")
        line(drops == 0, f"ring-buffer drops {drops:,}" + ("" if drops == 0 else
                                                             " (counted and alerted: the daemon fell behind)"))
        return ok

    def close(self):
        if self.job and self.job.poll() is None:
            open(self.stop, "w").close()
            try:
                self.job.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.job.kill()
        if self.proc:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.siem.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", default=DEFAULT_BIN_DIR)
    ap.add_argument("--minutes", type=float, default=10, help="how long (default 10)")
    ap.add_argument("--rate", type=int, default=50000, help="records a second the job makes (default 50000)")
    ap.add_argument("--ringbuf-mb", type=int, default=8,
                    help="the daemon's sensor.ringbuf_mb (default 8: RSS counts a ring twice, and 8 MiB carries"
                         " 50,000 records/s here without a drop once the job's files are known, the first pass drops up to 0.1 %%;"
                         " the daemon's own default is 16)")
    ap.add_argument("--sample", type=float, default=10, help="seconds between samples (default 10)")
    ap.add_argument("--wrap", default="", help="a command to run the daemon under (e.g. 'heaptrack -o /tmp/ht');"
                                             " RSS is then the wrapper's")
    ap.add_argument("--reads", choices=("training", "unapproved"), default="training",
                    help="the pool is the policy's training data (default: every open an event, as a data loader's"
                         " are), or outside it (every open an unapproved-data-read alert: an alert flood)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the soak needs root (it runs ftsentineld)")
    soak = Soak(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        ok = soak.run()
    finally:
        soak.close()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
