"""Kernel-test harness: a real ftsentineld with a temp config, real processes.

A test skips (exit 77) only when this machine cannot run BPF at all (not root,
no kernel BTF, no bpffs or tracefs in the kernel), and fails instead when
FTSENTINEL_REQUIRE_BPF=1 (CI). A daemon that fails to load or attach its
programs on a machine that has all of these is a failure everywhere: a verifier
rejection is a bug, not an environment.

Negative checks wait on `Daemon.sync()` (the daemon's barrier), never on a
sleep; every line the daemon writes must be JSON, or the test fails.
"""
import atexit
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN_DIR = os.environ.get("FTS_BIN_DIR", os.path.join(os.path.dirname(__file__), "../../build/daemon"))
DAEMON = os.path.join(BIN_DIR, "ftsentineld")
CLI = os.path.join(BIN_DIR, "ftsentinel")
HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77


def bpf_required():
    return os.environ.get("FTSENTINEL_REQUIRE_BPF") == "1"


def skip_or_fail(why):
    if bpf_required():
        print(f"FAIL: {why} (FTSENTINEL_REQUIRE_BPF=1)", file=sys.stderr)
        sys.exit(1)
    print(f"SKIP: {why}", file=sys.stderr)
    sys.exit(SKIP)


def check_environment():
    if os.geteuid() != 0:
        skip_or_fail("kernel tests need root")
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        skip_or_fail("no kernel BTF")
    with open("/proc/filesystems") as f:
        kinds = {line.split()[-1] for line in f if line.strip()}
    for fs in ("bpf", "tracefs"):
        if fs not in kinds:
            skip_or_fail(f"the kernel has no {fs} filesystem")
    for b in (DAEMON, CLI):
        if not os.path.exists(b):
            print(f"FAIL: {b} not built", file=sys.stderr)
            sys.exit(1)


def cgroup2_mount():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            if tail.split()[0] == "cgroup2":
                return head.split()[4]
    return None


class Cgroup:
    """A cgroup v2 directory the test creates and removes."""

    def __init__(self, prefix):
        self.mount = cgroup2_mount()
        if not self.mount:
            skip_or_fail("no cgroup v2 mount")
        self.name = f"{prefix}-{os.getpid()}-{random.randint(0, 1 << 30)}"
        self.path = "/" + self.name
        self.dir = os.path.join(self.mount, self.name)
        os.mkdir(self.dir)

    def procs_file(self):
        return os.path.join(self.dir, "cgroup.procs")

    def add(self, pid):
        with open(self.procs_file(), "w") as f:
            f.write(str(pid))

    def remove(self):
        # Move any leftovers back to the root, then remove.
        try:
            with open(self.procs_file()) as f:
                pids = f.read().split()
            for p in pids:
                try:
                    with open(os.path.join(self.mount, "cgroup.procs"), "w") as r:
                        r.write(p)
                except OSError:
                    pass
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass


class Daemon:
    """ftsentineld on a temp dir. `policies` maps file names to YAML text."""

    def __init__(self, policies, extra_config=""):
        self.tmp = tempfile.mkdtemp(prefix="fts-kt-")
        self.socket = os.path.join(self.tmp, "control.sock")
        self.events_path = os.path.join(self.tmp, "state", "events.jsonl")
        os.makedirs(os.path.join(self.tmp, "pol"))
        for name, text in policies.items():
            with open(os.path.join(self.tmp, "pol", name), "w") as f:
                f.write(text)
        self.config = os.path.join(self.tmp, "ftsentinel.yaml")
        with open(self.config, "w") as f:
            f.write(f"state_dir: {self.tmp}/state\npolicies_dir: pol\n"
                    f"control: {{ socket: {self.socket} }}\n"
                    "outputs:\n  - { type: file, path: events.jsonl }\n" + extra_config)
        self.proc = None
        self.bad_lines = set()
        self.stderr_path = os.path.join(self.tmp, "daemon.err")

    def start(self, timeout=20):
        with open(self.stderr_path, "w") as err:
            self.proc = subprocess.Popen([DAEMON, "--config", self.config], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                # check_environment() passed: root, BTF, bpffs. Whatever failed now
                # (verifier, attach, config) is the daemon's fault.
                raise AssertionError("ftsentineld exited at start:\n" + self.stderr())
            if os.path.exists(self.socket) and self.cli("status").returncode == 0:
                return self
            time.sleep(0.05)
        raise AssertionError("ftsentineld did not become ready:\n" + self.stderr())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def cleanup(self):
        """Stops the daemon, removes its files; fails if it wrote a line that is not JSON."""
        self.stop()
        self.events()  # every line, now that the daemon has flushed and exited
        bad = sorted(self.bad_lines)
        self.bad_lines = set()
        torn = self.torn_tail()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if bad or torn:
            raise AssertionError(f"ftsentineld wrote {len(bad)} line(s) that are not JSON"
                                 + (f" and an unterminated last line {torn!r}" if torn else "") + ":\n"
                                 + "\n".join(map(repr, bad)))

    def torn_tail(self):
        try:
            with open(self.events_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() == 0:
                    return None
                f.seek(max(0, f.tell() - 200))
                tail = f.read()
        except FileNotFoundError:
            return None
        return None if tail.endswith(b"\n") else tail.rsplit(b"\n", 1)[-1].decode(errors="replace")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.cleanup()
            return
        print("--- daemon stderr ---\n" + self.stderr(), file=sys.stderr)
        try:
            self.cleanup()
        except AssertionError as e:  # the test's own failure stays the one reported
            print(str(e), file=sys.stderr)

    def stderr(self):
        try:
            with open(self.stderr_path) as f:
                return f.read()
        except OSError:
            return ""

    def cli(self, *args, timeout=30):
        return subprocess.run([CLI, "--socket", self.socket, *args], capture_output=True, text=True,
                              timeout=timeout)

    def events(self):
        out = []
        try:
            with open(self.events_path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        continue  # still being written
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        # Not an assertion here: the test goes on, cleanup() fails it.
                        self.bad_lines.add(line[:200])
        except FileNotFoundError:
            pass
        return out

    def sync(self, timeout=30):
        """The barrier: returns once every record the kernel produced before the call
        has gone through the daemon's pipeline, rules and outputs (`ftsentinel sync`)."""
        r = self.cli("sync", timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"ftsentinel sync failed ({r.returncode}):\n{r.stdout}{r.stderr}")
        return self.events()

    def wait_for(self, pred, timeout=10, what="events"):
        """Polls the event file until pred(events) is truthy; returns it. That is the
        first snapshot that matched: for an exact set, call sync() after it and
        read the events it returns."""
        deadline = time.time() + timeout
        while True:
            evs = self.events()
            got = pred(evs)
            if got:
                return got
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}; {len(evs)} events, the last:\n" +
                                     "\n".join(summary(e) for e in evs[-40:]))
            time.sleep(0.05)


def summary(e):
    """One line per event, for failure messages."""
    p = e.get("process", {})
    s = f'{e.get("kind")} job={e.get("job", {}).get("id", "-")} pid={p.get("pid")} exe={p.get("exe")}'
    if "file" in e:
        f = e["file"]
        s += f' {f.get("op")} {f.get("path")} -> {f.get("new_path", "")} {f.get("access")} {f.get("classes")} ' \
             f'{f.get("source")} kpath={f.get("kernel_path", "")}'
    elif "io_uring" in e:
        s += f' io_uring {e["io_uring"].get("op")}'
    elif "network" in e:
        n = e["network"]
        s += f' {n.get("op")} {n.get("protocol")} {n.get("saddr", "")}:{n.get("sport", 0)} -> ' \
             f'{n.get("daddr", "")}:{n.get("dport", 0)} {n.get("verdict", "")}/{n.get("action", "")} ' \
             f'bytes={n.get("bytes", "")} dns={n.get("dns", "")}'
        if n.get("dns_answers") or n.get("dns_rcode"):
            s += f' {n.get("dns_rcode", "")} answers={[a.get("address") for a in n.get("dns_answers", [])]}'
    else:
        s += f' args={p.get("args")}'
    return s


def of_kind(events, kind, **where):
    def ok(e):
        if e.get("kind") != kind:
            return False
        for k, v in where.items():
            if k == "pid" and e.get("process", {}).get("pid") != v:
                return False
            if k == "job" and e.get("job", {}).get("id") != v:
                return False
            if k == "args" and e.get("process", {}).get("args") != v:
                return False
            if k == "argv1" and e.get("process", {}).get("args", [])[1:] != v:  # argv[0] varies by shell
                return False
        return True
    return [e for e in events if ok(e)]


class Listener:
    """A TCP server on ADDR (loopback) that accepts and drains connections:
    a destination for a job to connect and send to."""

    def __init__(self, addr="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((addr, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(5)
            try:
                while c.recv(65536):
                    pass
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def read_pid(path, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                s = f.read().strip()
            if s:
                return int(s)
        except FileNotFoundError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{path} never written")


def tamper(events, what=None):
    """The sensor-tamper alerts among `events`, those whose message has `what`."""
    return [e for e in events if e.get("rule") == "sensor-tamper" and (what is None or what in e["message"])]


def tamper_added(events, what):
    """The sum of what each loss report of this kind adds ("...: N processes ...")."""
    return sum(int(a["message"].split(": ")[1].split()[0]) for a in tamper(events, what))


# A job that forks `n` children waiting on a pipe (so all live at once, past the
# tasks map's capacity), then one more (forked when the map was full) that
# connects to two ports. Prints {"allowed": 0|errno, "denied": 0|errno}.
# Usage: python3 -c FORK_PAST_MAP N ALLOWED_PORT DENIED_PORT
FORK_PAST_MAP = r"""
import errno, json, os, socket, sys
n, a, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r, w = os.pipe()
kids = []
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    kids.append(pid)
rr, ww = os.pipe()
last = os.fork()
if last == 0:
    out = {}
    for name, port in (("allowed", a), ("denied", d)):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            out[name] = 0
        except OSError as e:
            out[name] = e.errno
        s.close()
    os.write(ww, json.dumps(out).encode())
    os._exit(0)
os.waitpid(last, 0)
print(os.read(rr, 4096).decode())
os.close(w)
for k in kids:
    os.waitpid(k, 0)
"""


def overflow_fanotify(daemon, directory, n=20000):
    """Stops the daemon's reader (SIGSTOP), creates `n` files in `directory` (past
    fanotify's queue of 16384 events), and resumes it."""
    daemon.proc.send_signal(signal.SIGSTOP)
    try:
        for i in range(n):
            open(os.path.join(directory, f"f{i}"), "w").close()
    finally:
        daemon.proc.send_signal(signal.SIGCONT)


_helpers = {}


def c_helper(name):
    """tests/kernel/NAME.c built with cc (once per test process): a real program for
    what Python cannot do with plain syscalls (raw io_uring)."""
    if name not in _helpers:
        out = os.path.join(tempfile.mkdtemp(prefix="fts-kt-bin-"), name)
        r = subprocess.run(["cc", "-O1", "-Wall", "-o", out, os.path.join(HERE, name + ".c")], capture_output=True,
                           text=True, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"cc {name}.c failed:\n{r.stderr}")
        atexit.register(shutil.rmtree, os.path.dirname(out), True)
        _helpers[name] = out
    return _helpers[name]


def main():
    check_environment()
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    # A skipped kernel test is not a pass: ctest shows it as skipped (77).
    if r.skipped:
        sys.exit(SKIP)
    sys.exit(0)
