"""An approved writer is the file the kernel saw it exec, not a path (issue 12,
"Survival and identity"). `data.writers` names dataset-sync by path; a process
can fake the path two ways: the real binary with a library preloaded into it
(LD_PRELOAD, LD_AUDIT), or a file of its own under the same name in a private
mount namespace (a tmpfs over the writer's directory). Each is
`protected-data-write`, saying why the process is not the writer; the real
writer, its forked children, and a writer running since before the daemon
started stay quiet."""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

LIBM = "/lib/x86_64-linux-gnu/libm.so.6"  # any library: it is preloaded, not used


class Tools:
    """The approved writers: dataset-sync (a copy of cp) and ingest (a copy of
    bash, for a writer that forks), with a staging file outside their directory."""

    def __init__(self):
        self.bin = tempfile.mkdtemp(prefix="fts-kt-writer-bin-")
        self.stage = tempfile.mkdtemp(prefix="fts-kt-writer-stage-")
        self.sync = os.path.join(self.bin, "dataset-sync")
        shutil.copy("/bin/cp", self.sync)
        self.ingest = os.path.join(self.bin, "ingest")
        shutil.copy("/bin/bash", self.ingest)
        self.src = os.path.join(self.stage, "incoming.jsonl")
        with open(self.src, "w") as f:
            f.write('{"text": "new approved data"}\n')

    def policy_extra(self):
        return f'  writers: ["{self.sync}", "{self.ingest}"]\n  base: ["{self.stage}/**"]\n'

    def cleanup(self):
        shutil.rmtree(self.bin, ignore_errors=True)
        shutil.rmtree(self.stage, ignore_errors=True)


def run(argv, env=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
    if r.returncode != 0:
        raise AssertionError(f"{argv} failed ({r.returncode}): {r.stderr}")


def writes(events):
    """protected-data-write alerts: path -> the alert."""
    return {a["file"]["path"]: a for a in events if a.get("rule") == "protected-data-write"}


class WriterIdentityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.tools = Tools()
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=cls.tools.policy_extra())}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        cls.tools.cleanup()

    def test_a_preloaded_writer_is_not_the_writer(self):
        a, tool = self.t.approved, self.tools
        env = dict(os.environ)
        run([tool.sync, tool.src, f"{a}/clean.jsonl"])  # positive control: the writer itself
        run([tool.sync, tool.src, f"{a}/preload.jsonl"], env={**env, "LD_PRELOAD": LIBM})
        run([tool.sync, tool.src, f"{a}/audit.jsonl"], env={**env, "LD_AUDIT": LIBM})
        got = writes(self.d.sync())
        self.assertNotIn(f"{a}/clean.jsonl", got, "the approved writer, clean, is quiet")
        for name in ("preload", "audit"):
            al = got.get(f"{a}/{name}.jsonl")
            self.assertIsNotNone(al, f"{name}: {sorted(got)}")
            self.assertEqual(al["process"]["exe"], tool.sync)
            self.assertIn("LD_PRELOAD or LD_AUDIT in its environment", al["message"])

    def test_the_writers_name_in_a_private_mount_namespace_is_not_the_writer(self):
        a, tool = self.t.approved, self.tools
        # A tmpfs over the writer's directory, a program of one's own under its name.
        script = (f"mount -t tmpfs none {tool.bin} && cp /bin/cp {tool.sync} && "
                  f"{tool.sync} {tool.src} {a}/namespaced.jsonl")
        run(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script])
        run([tool.sync, tool.src, f"{a}/real.jsonl"])  # positive control, after it
        got = writes(self.d.sync())
        self.assertNotIn(f"{a}/real.jsonl", got)
        al = got.get(f"{a}/namespaced.jsonl")
        self.assertIsNotNone(al, sorted(got))
        self.assertEqual(al["process"]["exe"], tool.sync, "the path is the writer's")
        self.assertIn("another file by that name", al["message"])

    def test_a_writers_forked_child_is_the_writer_an_exec_is_not(self):
        a, tool = self.t.approved, self.tools
        # The subshell forks without an exec: ingest's own code. cp is exec'd: not a writer.
        run([tool.ingest, "-c", f"(echo forked >> {a}/forked.jsonl); /bin/cp {tool.src} {a}/exec-cp.jsonl"])
        got = writes(self.d.sync())
        self.assertNotIn(f"{a}/forked.jsonl", got)
        al = got.get(f"{a}/exec-cp.jsonl")
        self.assertIsNotNone(al, sorted(got))
        self.assertEqual(al["process"]["exe"], os.path.realpath("/bin/cp"))


class WriterBeforeDaemonTest(unittest.TestCase):
    """Writers already running when the daemon starts: judged from /proc (their
    exe's inode, their environment), since the kernel never saw them exec."""

    def test_writers_running_since_before_the_daemon(self):
        t, tool = DataTree(), Tools()
        fifo = os.path.join(tool.stage, "go")
        os.mkfifo(fifo)
        a = t.approved
        env = dict(os.environ)
        try:
            clean = subprocess.Popen([tool.ingest, "-c", f"read x < {fifo}; echo early >> {a}/early.jsonl"])
            dirty = subprocess.Popen([tool.ingest, "-c", f"read x < {fifo}; echo early >> {a}/early-preload.jsonl"],
                                     env={**env, "LD_PRELOAD": LIBM})
            with Daemon({"ft.yaml": t.policy(extra=tool.policy_extra())}) as d:
                with open(fifo, "w") as f:  # both readers take the line (or EOF) and write
                    f.write("go\ngo\n")
                self.assertEqual(clean.wait(timeout=30), 0)
                self.assertEqual(dirty.wait(timeout=30), 0)
                got = writes(d.sync())
                self.assertNotIn(f"{a}/early.jsonl", got, "a clean writer that predates the daemon")
                al = got.get(f"{a}/early-preload.jsonl")
                self.assertIsNotNone(al, sorted(got))
                self.assertIn("LD_PRELOAD or LD_AUDIT", al["message"])
        finally:
            for p in ("clean", "dirty"):
                proc = locals().get(p)
                if proc and proc.poll() is None:
                    proc.kill()
            t.cleanup()
            tool.cleanup()


if __name__ == "__main__":
    harness.main()
