"""A process that execs in place is judged by what it is when it acts (issue
11, 2). A shell that execs the approved writer (`sh -c '… && exec
dataset-sync …'`, bash's implicit exec of its last command) is the writer
for its changes; a shell that writes and then execs the writer is the shell
for its own write. Inside a job, the same for `deny_exec`. Each case runs 10
times: the kernel's exec record, the syscall record and the fanotify record
reach user space in different orders from run to run."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import trust  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

ROUNDS = 10


class ExecInPlaceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.bin = tempfile.mkdtemp(prefix="fts-kt-bin-")
        cls.sync_tool = os.path.join(cls.bin, "dataset-sync")  # the approved writer: a copy of cp
        shutil.copy("/bin/cp", cls.sync_tool)
        cls.curl = os.path.join(cls.bin, "curl")  # a transfer tool by name
        shutil.copy("/bin/true", cls.curl)
        cls.src = os.path.join(cls.bin, "incoming.jsonl")
        with open(cls.src, "w") as f:
            f.write('{"text": "new approved data"}\n')
        # (The writer's staging area is readable by jobs: data.base.)
        extra = (f'  writers: ["{cls.sync_tool}"]\n  base: ["{cls.bin}/**"]\n'
                 'process:\n  deny_exec: ["**/curl"]\n')
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        shutil.rmtree(cls.bin, ignore_errors=True)

    def sh(self, shell, script):
        r = subprocess.run([shell, "-c", script], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_exec_in_place(self):
        a, src, tool = self.t.approved, self.src, self.sync_tool
        victim = self.t.shards[2]
        jobs = {"sync": [], "curl": []}
        for i in range(ROUNDS):
            # Outside any job: the approved writer exec'd by sh, and by bash's implicit exec.
            self.sh("/bin/sh", f"cat /etc/hostname >/dev/null && exec {tool} {src} {a}/sync-{i}.jsonl")
            self.sh("/bin/bash", f"{tool} {src} {a}/bash-{i}.jsonl")
            # A shell that writes, then execs the writer: the write is the shell's.
            self.sh("/bin/sh", f"echo poison-{i} >> {victim}; exec {tool} {src} {a}/after-{i}.jsonl")
            # Positive control: a shell that execs cp, which is no writer.
            self.sh("/bin/sh", f"cat /etc/hostname >/dev/null && exec /bin/cp {src} {a}/cp-{i}.jsonl")
            # In a job: the writer exec'd in place, and a transfer tool exec'd in place.
            jobs["sync"].append(trust.run_job(self.d, "ft", "/bin/sh", "-c",
                                              f"cat /etc/hostname >/dev/null && exec {tool} {src} {a}/job-{i}.jsonl"))
            jobs["curl"].append(trust.run_job(self.d, "ft", "/bin/sh", "-c",
                                              f"cat /etc/hostname >/dev/null && exec {self.curl} --version"))
        for j in jobs["sync"] + jobs["curl"]:
            trust.ended(self.d, j)
        al = [e for e in self.d.events() if e.get("rule") == "protected-data-write"]
        got = sorted((x["file"]["path"], x["process"].get("exe", "?")) for x in al)
        dash, cp = os.path.realpath("/bin/sh"), os.path.realpath("/bin/cp")
        want = sorted([(f"{a}/cp-{i}.jsonl", cp) for i in range(ROUNDS)] + [(victim, dash)] * ROUNDS)
        self.assertEqual(got, want, "\n".join(x["message"] for x in al) + "\n" + "\n".join(
            harness.summary(e) + f' start={e["process"].get("start_time")}'
            for e in self.d.events() if e.get("kind") in ("file", "exec", "exit", "fork")
            and any(x["process"]["pid"] == e.get("process", {}).get("pid") for x in al if "exe" not in x["process"])))
        for j in jobs["sync"]:
            self.assertEqual(trust.alerts(self.d, j), [])
        for j in jobs["curl"]:
            al = trust.alerts(self.d, j)
            self.assertEqual(trust.rules(al), ["transfer-tool-exec"], [x["message"] for x in al])
            self.assertEqual(al[0]["process"]["exe"], self.curl)


if __name__ == "__main__":
    harness.main()
