"""File sensor, end to end: real BPF, real fanotify, real processes.
Scenarios A4, A5, A6, I1, I2 (every variant), I3 of scenarios.md, and TOCTOU."""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon, of_kind  # noqa: E402

PY = "/usr/bin/python3"


def file_events(events, path=None, pid=None, op=None):
    out = []
    for e in events:
        if e.get("kind") != "file":
            continue
        f = e["file"]
        if path is not None and f.get("path") != path:
            continue
        if pid is not None and e.get("process", {}).get("pid") != pid:
            continue
        if op is not None and f.get("op") != op:
            continue
        out.append(e)
    return out


def alerts(events, rule=None, pid=None):
    return [e for e in events if "rule" in e and (rule is None or e["rule"] == rule)
            and (pid is None or e.get("process", {}).get("pid") == pid)]


def run_job(d, script, *args):
    """Runs a python snippet as a job; returns (job id, pid of the job root)."""
    r = d.cli("run", "--policy", "ft", "--", PY, "-c", script, *args, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"job failed: {r.returncode}\n{r.stdout}\n{r.stderr}")
    job = r.stderr.split("job ")[1].split()[0]
    return job, r


class FileSensorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.d = Daemon({"ft.yaml": cls.t.policy()}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def assert_file(self, e, path, classes_in=(), classes_out=(), job=None, pid=None):
        f = e["file"]
        st = os.stat(path)
        self.assertEqual(f["path"], path)
        self.assertEqual(f["dev"], st.st_dev)
        self.assertEqual(int(f["ino"]), st.st_ino)
        for c in classes_in:
            self.assertIn(c, f.get("classes", []), f)
        for c in classes_out:
            self.assertNotIn(c, f.get("classes", []), f)
        if job is not None:
            self.assertEqual(e.get("job", {}).get("id"), job)
        if pid is not None:
            self.assertEqual(e["process"]["pid"], pid)

    def test_a4_credential_reads(self):
        t = self.t
        job, _ = run_job(self.d, "import sys, os\nopen(sys.argv[1]).read(); open(sys.argv[2]).read()\n"
                                 "print(os.getpid())", t.hf_token, t.aws)
        # The job has ended (run returned): after the barrier every report of
        # its reads is out, so "one" is counted on all of them.
        every = self.d.sync()
        for path in (t.hf_token, t.aws):
            evs = [x for x in file_events(every, path=path) if x.get("job", {}).get("id") == job]
            self.assertEqual(len(evs), 1, "one report per process and file")
            self.assert_file(evs[0], path, classes_in=["sensitive"], job=job)
            self.assertEqual(evs[0]["file"]["access"], ["read"])
            self.assertEqual(evs[0]["file"]["op"], "open")
            self.assertGreaterEqual(evs[0]["file"]["result"], 0)

    def test_names_that_are_not_utf8_are_text_and_do_not_flood_the_log(self):
        # File names and argv are whatever bytes a job chose. The JSON keeps
        # them as \xNN text, and protobuf's complaint at each serialization of
        # such a string (the journal's row, the renderer's wire form) stays out
        # of the daemon's log: one line per record would let a job flood it.
        name = os.fsencode(self.t.approved) + b"/bad-\xff\xfe.jsonl"
        with open(name, "wb") as f:
            f.write(b"{}\n")
        try:
            job, _ = run_job(self.d, "import sys\nfor _ in range(3): open(sys.argv[1], 'rb').read()",
                             os.fsdecode(name))
            shown = self.t.approved + "/bad-\\xff\\xfe.jsonl"
            evs = [x for x in file_events(self.d.sync(), path=shown) if x.get("job", {}).get("id") == job]
            self.assertEqual(len(evs), 1, [e["file"]["path"] for e in file_events(self.d.events())][-5:])
            self.assertIn(shown, evs[0]["process"]["args"])
            # The journal's replay reads the job's rows back (protobuf refuses to
            # parse a record with such a string: the rows were "undecodable").
            r = self.d.cli("review", job, "--timeline", "--json", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            tl = json.loads(r.stdout)["entries"]
            self.assertNotIn("undecodable", [e["kind"] for e in tl])
            self.assertEqual([e["event"]["kind"] for e in tl
                              if e.get("event", {}).get("file", {}).get("path") == shown], ["file", "file_hash"])
            self.assertNotIn("invalid UTF-8", self.d.stderr())
        finally:
            os.unlink(name)

    def test_a4_denied_credential_read_is_reported(self):
        t = self.t
        os.chmod(t.home, 0o755)
        os.chmod(f"{t.home}/.aws", 0o755)
        os.chmod(t.root, 0o755)
        code = "import sys\ntry:\n    open(sys.argv[1]).read()\nexcept PermissionError:\n    sys.exit(0)\nsys.exit(1)"
        job, _ = run_job(self.d, "import subprocess, sys\nsubprocess.run(['setpriv', '--reuid=65534', "
                                 "'--regid=65534', '--clear-groups', '/usr/bin/python3', '-c', sys.argv[1], sys.argv[2]],"
                                 " check=True)", code, t.aws)
        evs = self.d.wait_for(lambda e: [x for x in file_events(e, path=t.aws) if x.get("job", {}).get("id") == job
                                         and x["file"].get("result", 0) < 0] or None, what="denied read")
        e = evs[0]
        self.assertEqual(e["file"]["result"], -13)  # EACCES
        self.assertIn("path_from_user", e["file"]["flags"])
        self.assertEqual(e["process"]["uid"], 65534)

    def test_hard_link_outside_the_tree_is_still_the_shard(self):
        t = self.t
        job, _ = run_job(self.d, "import sys\nopen(sys.argv[1]).read()", t.shard_alias)
        evs = self.d.wait_for(lambda e: [x for x in file_events(e) if x.get("job", {}).get("id") == job
                                         and x["file"].get("kernel_path") == t.shard_alias] or None,
                              what="read through the outside name")
        self.assert_file(evs[0], t.shards[1], classes_in=["training", "protected"], job=job)

    def test_job_namespace_changes_are_reported(self):
        t = self.t
        code = ("import os, sys\nd = sys.argv[1]\nos.chdir(d)\n"
                "open('step-1.tmp', 'w').write('w')\nos.rename('step-1.tmp', 'step-1.bin')\n"
                "os.link('step-1.bin', 'latest.bin')\nos.unlink('latest.bin')\nos.mkdir('sub')\nos.rmdir('sub')\n"
                "os.chmod('step-1.bin', 0o600)\nos.truncate('step-1.bin', 0)")
        job, _ = run_job(self.d, code, t.ckpt)
        want = {"rename": (f"{t.ckpt}/step-1.tmp", f"{t.ckpt}/step-1.bin"), "link": (f"{t.ckpt}/step-1.bin",
                f"{t.ckpt}/latest.bin"), "unlink": (f"{t.ckpt}/latest.bin", None), "mkdir": (f"{t.ckpt}/sub", None),
                "rmdir": (f"{t.ckpt}/sub", None), "chmod": (f"{t.ckpt}/step-1.bin", None),
                "truncate": (f"{t.ckpt}/step-1.bin", None)}

        def all_there(evs):
            # either source: the syscall and fanotify views of one change are merged
            mine = [x for x in file_events(evs) if x.get("job", {}).get("id") == job]
            got = {x["file"]["op"]: x for x in mine}
            return got if all(op in got for op in want) else None
        got = self.d.wait_for(all_there, what="the job's namespace changes")
        for op, (path, new) in want.items():
            self.assertEqual(got[op]["file"]["path"], path, op)
            if new:
                self.assertEqual(got[op]["file"]["new_path"], new, op)

    def test_a5_unapproved_read_every_way_is_the_same_file(self):
        t = self.t
        link = f"{t.approved}/looks-approved.jsonl"
        os.symlink("../unapproved/x.jsonl", link)
        try:
            ways = {
                "direct": f"open({t.unapproved_file!r}).read()",
                "symlink": f"open({link!r}).read()",
                "procfd": f"import os\nfd = os.open({t.unapproved_file!r}, os.O_PATH)\n"
                          f"open(f'/proc/self/fd/{{fd}}').read()",
                "dirfd": f"import os\nd = os.open({t.unapproved!r}, os.O_RDONLY)\n"
                         f"os.read(os.open('x.jsonl', os.O_RDONLY, dir_fd=d), 10)",
                "relative": f"import os\nos.chdir({t.root!r})\nopen('data/approved/../unapproved/x.jsonl').read()",
            }
            # One child process per way: a process's repeated opens are reported once.
            script = "import subprocess, sys\nfor code in sys.argv[1:]:\n" \
                     "    subprocess.run(['/usr/bin/python3', '-c', code], check=True)\n"
            job, _ = run_job(self.d, script, *ways.values())
            evs = self.d.wait_for(
                lambda e: (lambda m: m if len({x["process"]["pid"] for x in m}) >= 5 else None)(
                    [x for x in file_events(e, path=t.unapproved_file) if x.get("job", {}).get("id") == job]),
                what="five reads of the unapproved file")
            pids = {x["process"]["pid"] for x in evs}
            self.assertEqual(len(pids), 5)
            for e in evs:
                self.assert_file(e, t.unapproved_file, classes_in=["protected"], classes_out=["training"], job=job)
                self.assertIn("read", e["file"]["access"])
            # Each way raises the rule, naming the same canonical file, and nothing else.
            self.d.wait_for(lambda ev: len({a["process"]["pid"] for a in alerts(ev, "unapproved-data-read")
                                            if a.get("job", {}).get("id") == job}) >= 5, what="five alerts")
            al = [a for a in alerts(self.d.sync()) if a.get("job", {}).get("id") == job]
            self.assertEqual(sorted((a["rule"], a["process"]["pid"], a["file"]["path"]) for a in al),
                             sorted(("unapproved-data-read", pid, t.unapproved_file) for pid in pids))
        finally:
            os.unlink(link)

    def test_a6_io_uring_in_job(self):
        fio = shutil.which("fio")
        self.assertIsNotNone(fio, "fio is needed (scripts/dev.sh installs it)")
        t = self.t
        uring = harness.c_helper("uring_io")
        out = tempfile.mkdtemp(prefix="fts-kt-fio-")
        try:
            # A shard read through io_uring ops only (no openat/read syscall), then fio writes.
            code = ("import subprocess, sys\n"
                    "print(subprocess.run([sys.argv[1], 'read', sys.argv[2]], check=True, capture_output=True,"
                    " text=True).stdout)\n"
                    "subprocess.run(sys.argv[3:], check=True, stdout=subprocess.DEVNULL)")
            job, r = run_job(self.d, code, uring, t.shards[0], fio, "--name=a6", "--ioengine=io_uring",
                             "--rw=write", f"--filename={out}/written.bin", "--size=256k", "--bs=4k", "--direct=0")
            nread, pid_line = r.stdout.split()[0], r.stdout.split()[1:3]
            self.assertEqual(int(nread), os.path.getsize(t.shards[0]), r.stdout)
            reader = int(pid_line[1])
            self.d.wait_for(lambda e: of_kind(e, "io_uring", job=job, pid=reader) and
                            [x for x in of_kind(e, "io_uring", job=job) if x["process"]["exe"].endswith("fio")],
                            what="io_uring of the reader and of fio")
            evs = self.d.sync()
            mine = of_kind(evs, "io_uring", job=job)
            by_exe = {}
            for x in mine:
                by_exe.setdefault(os.path.basename(x["process"]["exe"]), set()).add(x["io_uring"]["op"])
            self.assertEqual(set(by_exe), {"uring_io", "fio"}, by_exe)
            self.assertEqual(by_exe["uring_io"], {"create", "openat", "read", "close"})
            self.assertIn("create", by_exe["fio"])
            self.assertTrue(by_exe["fio"] & {"write", "writev", "write_fixed"}, by_exe)
            # The rule, for each process that used a ring.
            al = [a for a in alerts(evs, "io-uring-in-job") if a.get("job", {}).get("id") == job]
            self.assertEqual({os.path.basename(a["process"]["exe"]) for a in al}, {"uring_io", "fio"}, al)
        finally:
            shutil.rmtree(out)

    def test_i1_outside_append_to_approved_shard(self):
        t = self.t
        shard = t.shards[0]
        p = subprocess.run(["/bin/sh", "-c", f"echo '{{\"text\": \"poison\"}}' >> {shard}; echo $$"],
                           capture_output=True, text=True)
        pid = int(p.stdout.strip())
        self.d.wait_for(lambda e: file_events(e, path=shard, pid=pid) or None, what="append event")
        # fanotify's view of the same change must be merged, not doubled
        evs = file_events(self.d.sync(), path=shard, pid=pid)
        self.assertEqual(len(evs), 1, [x["file"] for x in evs])
        e = evs[0]
        self.assert_file(e, shard, classes_in=["protected", "training"])
        self.assertNotIn("job", e)
        self.assertIn("append", e["file"]["access"])
        self.assertEqual(e["process"]["exe"], "/usr/bin/dash")

    def assert_poisoned(self, pid, exe, path, what):
        """I2: the writer's change raises protected-data-write naming the writer
        (pid, start time and exe) and the canonical file. Some changes are
        seen only by fanotify (renames, links and io_uring opens of a process
        outside any job, writes through a mapping), and their writer has
        exited before the daemon reads the event, so /proc no longer has its
        exe: the kernel keeps it at the writer's exit."""
        with self.subTest(what):  # every variant is checked, whichever fails
            self.d.wait_for(lambda ev: [x for x in alerts(ev, "protected-data-write", pid=pid)
                                        if x["file"]["path"] == path], what=f"protected-data-write for {what}")
            a = alerts(self.d.sync(), pid=pid)
            for x in a:
                self.assertEqual(x["rule"], "protected-data-write")
                self.assertEqual(x["severity"], "high")
                self.assertNotIn("job", x)
                self.assertTrue(x["process"].get("start_ticks"), (what, x))
            self.assertEqual({x["process"].get("exe") for x in a}, {exe}, (what, a))

    def test_i2_poisoning_every_way(self):
        t = self.t
        outside = tempfile.mkdtemp(prefix="fts-kt-evil-")
        bind = tempfile.mkdtemp(prefix="fts-kt-bind-")
        python = os.path.realpath(PY)
        try:
            def evil(name):
                p = f"{outside}/{name}"
                with open(p, "w") as f:
                    f.write('{"text": "poison"}\n')
                return p

            # rename into the tree
            src = evil("renamed.jsonl")
            dst = f"{t.approved}/renamed.jsonl"
            mv = subprocess.Popen(["/bin/mv", src, dst])
            self.assertEqual(mv.wait(timeout=30), 0)
            e = self.d.wait_for(lambda ev: [x for x in file_events(ev, op="rename")
                                            if x["file"].get("new_path") == dst] or None, what="rename")[0]
            self.assertEqual(e["file"]["source"], "fanotify")
            self.assertIn("protected", e["file"]["classes"])
            self.assertEqual(e["process"]["pid"], mv.pid)
            self.assert_poisoned(mv.pid, "/usr/bin/mv", dst, "rename into the tree")

            # a hard link into the tree
            src = evil("linked.jsonl")
            dst = f"{t.approved}/linked.jsonl"
            ln = subprocess.Popen(["/bin/ln", src, dst])
            self.assertEqual(ln.wait(timeout=30), 0)
            e = self.d.wait_for(lambda ev: file_events(ev, path=dst, op="create") or None, what="link")[0]
            self.assert_file(e, dst, classes_in=["protected"], pid=ln.pid)
            self.assert_poisoned(ln.pid, "/usr/bin/ln", dst, "hard link")

            # replacing a shard by a symlink
            victim = t.shards[2]
            lns = subprocess.Popen(["/bin/ln", "-sf", evil("target.jsonl"), victim])
            self.assertEqual(lns.wait(timeout=30), 0)
            # ln -sf: a new symlink renamed over the shard (or unlink + symlink)
            self.d.wait_for(lambda ev: [x for x in file_events(ev)
                                        if victim in (x["file"]["path"], x["file"].get("new_path"))
                                        and x["file"]["op"] in ("create", "rename", "delete")] or None,
                            what="symlink replace")
            self.assert_poisoned(lns.pid, "/usr/bin/ln", victim, "symlink over a shard")

            # renameat2(RENAME_EXCHANGE) of a shard with an outside file
            other = evil("exchanged.jsonl")
            code = ("import ctypes, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                    "r = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), 2)\n"
                    "sys.exit(0 if r == 0 else ctypes.get_errno())")
            x = subprocess.Popen([PY, "-c", code, other, t.shards[1]])
            self.assertEqual(x.wait(timeout=30), 0)
            e = self.d.wait_for(lambda ev: [y for y in file_events(ev, op="rename")
                                            if t.shards[1] in (y["file"]["path"], y["file"].get("new_path"))] or None,
                                what="exchange")[0]
            self.assertIn("protected", e["file"]["classes"])
            self.assert_poisoned(x.pid, python, t.shards[1], "RENAME_EXCHANGE")
            subprocess.run([PY, "-c", code, other, t.shards[1]], check=True)  # swap back

            # a write through a bind mount of data/: named by its canonical path
            subprocess.run(["mount", "--bind", f"{t.root}/data", bind], check=True)
            try:
                via = f"{bind}/approved/shard-0.jsonl"
                p = subprocess.run(["/bin/sh", "-c", f"echo poison >> {via}; echo $$"], capture_output=True,
                                   text=True)
                pid = int(p.stdout.strip())
                e = self.d.wait_for(lambda ev: file_events(ev, path=t.shards[0], pid=pid) or None,
                                    what="write via bind mount")[0]
                self.assert_file(e, t.shards[0], classes_in=["protected", "training"])
                self.assertEqual(e["file"]["kernel_path"], via)
                self.assert_poisoned(pid, "/usr/bin/dash", t.shards[0], "write through a bind mount")
            finally:
                subprocess.run(["umount", bind])

            # a write through mmap only: the parent opens the shard and hands the fd
            # to a child, which maps it, closes it and writes through the mapping.
            # The child opens nothing: only the write itself can name it.
            code = ("import mmap, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\nchild = os.fork()\n"
                    "if child == 0:\n    m = mmap.mmap(fd, 0)\n    os.close(fd)\n    m[0:1] = b'X'\n"
                    "    m.flush()\n    m.close()\n    os._exit(0)\n"
                    "os.close(fd)\nos.waitpid(child, 0)\nprint(os.getpid(), child)")
            p = subprocess.run([PY, "-c", code, t.shards[0]], capture_output=True, text=True, check=True)
            opener, writer = (int(v) for v in p.stdout.split())
            self.d.wait_for(lambda ev: [x for x in file_events(ev, path=t.shards[0], pid=writer)
                                            if "write" in x["file"].get("access", []) or
                                            x["file"]["op"] in ("modify", "close_write")] or None,
                                what="the mapped write")
            self.assert_poisoned(writer, python, t.shards[0], "write through mmap")
            self.assertNotEqual(opener, writer)

            # an outsider opening and writing through io_uring ops only
            target = f"{t.approved}/uring.jsonl"
            uring = harness.c_helper("uring_io")
            p = subprocess.run([uring, "write", target, '{"text": "poison"}\n'], capture_output=True, text=True,
                               check=True, timeout=30)
            pid = int(p.stdout.split()[-1])
            e = self.d.wait_for(lambda ev: file_events(ev, path=target, pid=pid) or None, what="io_uring write")[0]
            self.assertIn("protected", e["file"]["classes"])
            self.assert_poisoned(pid, uring, target, "io_uring write")
        finally:
            shutil.rmtree(outside, ignore_errors=True)
            os.rmdir(bind)

    def test_i3_checkpoint_tamper_from_outside(self):
        t = self.t
        target = f"{t.ckpt}/checkpoint-1.bin"
        p = subprocess.run(["/bin/sh", "-c", f"echo tampered > {target}; echo $$"], capture_output=True, text=True)
        pid = int(p.stdout.strip())
        e = self.d.wait_for(lambda ev: file_events(ev, path=target, pid=pid, op="open") or None,
                            what="ckpt write")[0]
        self.assert_file(e, target, classes_in=["outputs", "protected"])
        self.assertIn("create", e["file"]["access"])
        self.assertIn("write", e["file"]["access"])
        # the backstop saw the file appear too
        self.d.wait_for(lambda ev: file_events(ev, path=target, op="create") or None, what="fanotify create")

    def test_unrelated_process_is_not_reported(self):
        tmp = tempfile.mkdtemp(prefix="fts-kt-unrel-")
        try:
            # Ordinary opens and writes, then (the positive control, by the same shell)
            # a read of a sensitive file, which anyone's is reported.
            p = subprocess.run(["/bin/sh", "-c", f"read h </etc/hostname; cat /etc/hostname >/dev/null; "
                                                 f"echo x > {tmp}/f; read y < {tmp}/f; read z < {self.t.aws}; echo $$"],
                               capture_output=True, text=True)
            pid = int(p.stdout.strip())
            self.d.wait_for(lambda e: file_events(e, path=self.t.aws, pid=pid), what="the control: the credential read")
            mine = [e for e in self.d.sync() if e.get("process", {}).get("pid") == pid]
            # credential-read is about jobs: an outsider's read is an event, not an alert
            self.assertEqual([(e.get("kind"), e.get("rule"), e.get("file", {}).get("path")) for e in mine],
                             [("file", None, self.t.aws)])
        finally:
            shutil.rmtree(tmp)

    def test_toctou_report_names_the_file_actually_opened(self):
        t = self.t
        a = [f"{t.approved}/race-a-{i}.jsonl" for i in range(40)]
        b = [f"{t.unapproved}/race-b-{i}.jsonl" for i in range(40)]
        for p in a + b:
            with open(p, "w") as f:
                f.write("x\n")
        code = r'''
import ctypes, os, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
pairs = [l.split() for l in open(sys.argv[1])]
buf = ctypes.create_string_buffer(4096)
out = []
for a, b in pairs:
    buf.value = a.encode()
    stop = False
    def flip():
        # rewrite the path while openat runs
        while not stop:
            buf.value = b.encode()
            buf.value = a.encode()
    th = threading.Thread(target=flip)
    th.start()
    fd = -1
    for _ in range(100):  # a torn read of the buffer names no file: try again
        fd = libc.openat(-100, buf, os.O_RDONLY)
        if fd >= 0:
            break
    stop = True
    th.join()
    st = os.fstat(fd)
    out.append(f"{st.st_ino}")
    os.close(fd)
print(" ".join(out))
'''
        pairs = os.path.join(self.d.tmp, "pairs")
        with open(pairs, "w") as f:
            for x, y in zip(a, b):
                f.write(f"{x} {y}\n")
        r = self.d.cli("run", "--policy", "ft", "--", PY, "-c", code, pairs, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = r.stderr.split("job ")[1].split()[0]
        inos = [int(x) for x in r.stdout.split()]
        self.assertEqual(len(inos), 40)
        path_of = {os.stat(p).st_ino: p for p in a + b}
        evs = self.d.wait_for(
            lambda e: (lambda m: m if len(m) >= 40 else None)(
                [x for x in file_events(e) if x.get("job", {}).get("id") == job and "race-" in x["file"]["path"]]),
            what="40 race opens")
        by_ino = {int(x["file"]["ino"]): x for x in evs}
        for ino in inos:
            self.assertIn(ino, by_ino)
            self.assertEqual(by_ino[ino]["file"]["path"], path_of[ino])


if __name__ == "__main__":
    harness.main()
