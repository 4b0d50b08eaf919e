"""Content hashes and dataset-drift on real events: what a job reads is hashed
(file_hash events) and checked against the policy's manifest (I4); a shard
changed while the job runs is caught even though the kernel does not report
the job's re-read; an approved writer's ingest with a manifest update raises
nothing (B2); what a job writes under outputs is hashed after the write; a
job's repeated alerts are summed up at its end."""
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def content(path):
    with open(path, "rb") as f:
        return f.read()


def alerts(events, job=None):
    out = [e for e in events if "rule" in e]
    if job is not None:
        out = [a for a in out if a.get("job", {}).get("id") == job]
    return out


def hashes(events, job=None, path=None):
    return [e for e in harness.of_kind(events, "file_hash")
            if (job is None or e.get("job", {}).get("id") == job)
            and (path is None or e.get("file", {}).get("path") == path)]


class DriftTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        t = cls.t = DataTree()
        # The approved writer: a copy of cp, so its exe is its own.
        cls.bin = tempfile.mkdtemp(prefix="fts-kt-bin-")
        cls.sync = os.path.join(cls.bin, "dataset-sync")
        shutil.copy("/bin/cp", cls.sync)
        cls.stage = tempfile.mkdtemp(prefix="fts-kt-stage-")
        # I4: a shard whose content no longer matches the manifest.
        cls.bad = f"{t.approved}/shard-bad.jsonl"
        with open(cls.bad, "w") as f:
            f.write('{"text": "poisoned after the manifest was made"}\n')
        cls.live = f"{t.approved}/shard-live.jsonl"
        with open(cls.live, "w") as f:
            f.write('{"text": "read while it changes"}\n')
        with open(f"{t.approved}/SHA256SUMS", "a") as f:
            f.write(f"{sha(b'the content that was approved')}  shard-bad.jsonl\n")
            f.write(f"{sha(content(cls.live))}  shard-live.jsonl\n")
        cls.manifest = f"{t.approved}/SHA256SUMS"
        extra = f'  manifest: {cls.manifest}\n  writers: ["{cls.sync}"]\n'
        cls.d = Daemon({"ft.yaml": t.policy(extra=extra)}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        shutil.rmtree(cls.bin, ignore_errors=True)
        shutil.rmtree(cls.stage, ignore_errors=True)

    def job(self, *argv):
        r = self.d.cli("run", "--policy", "ft", "--", *argv, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stderr.split("job ")[1].split()[0]

    def hash_of(self, job, path, what="file_hash", **where):
        def pred(evs):
            got = [h for h in hashes(evs, job, path) if all(h["hash"].get(k) == v for k, v in where.items())]
            return got or None
        return self.d.wait_for(pred, timeout=20, what=f"{what} of {path}")

    def quiet_alerts(self, job):
        """The job's alerts once it ended and the barrier passed (pending hashes done)."""
        self.d.wait_for(lambda e: harness.of_kind(e, "job_end", job=job), what="job_end")
        return alerts(self.d.sync(), job)

    def test_reads_are_hashed_and_match_the_manifest(self):
        t = self.t
        code = "import sys\nfor s in sys.argv[1:]:\n    open(s, 'rb').read()\n"
        # Files changed in the last 2 s are hashed but not cached (timestamp granularity).
        time.sleep(max(0.0, 2.5 - (time.time() - max(os.stat(s).st_ctime for s in t.shards))))
        job = self.job(PY, "-c", code, *t.shards)
        for s in t.shards:
            self.hash_of(job, s)
        self.assertEqual(self.quiet_alerts(job), [])
        evs = self.d.events()  # after quiet_alerts' barrier: every hash of the job is out
        for s in t.shards:
            h = hashes(evs, job, s)
            self.assertEqual(len(h), 1, "one file_hash per file and job")
            e = h[0]
            self.assertEqual(e["hash"]["sha256"], sha(content(s)))
            self.assertEqual(int(e["hash"]["size"]), os.path.getsize(s))
            self.assertEqual(e["hash"]["reason"], "read")
            self.assertEqual(e["hash"]["manifest_verdict"], "match")
            self.assertEqual(e["hash"]["manifest"], self.manifest)
            st = os.stat(s)
            self.assertEqual(e["file"]["ino"], st.st_ino)
            self.assertIn("training", e["file"]["classes"])
            # The reader (it may be gone by the time the hash is done: its pid, as its open said).
            opened = [x for x in harness.of_kind(evs, "file", job=job) if x["file"]["path"] == s]
            self.assertEqual(e["process"]["pid"], opened[0]["process"]["pid"])
        # The same files again in another job: from the cache, still reported for that job.
        job2 = self.job(PY, "-c", code, *t.shards)
        for s in t.shards:
            self.assertTrue(self.hash_of(job2, s)[0]["hash"].get("cached"))
        st = self.d.cli("status", "--json")
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertIn('"hash"', st.stdout)

    def test_i4_shard_not_matching_the_manifest(self):
        job = self.job(PY, "-c", "import sys\nopen(sys.argv[1]).read()", self.bad)
        a = self.d.wait_for(lambda e: alerts(e, job) or None, timeout=20, what="dataset-drift")
        al = self.quiet_alerts(job)
        self.assertEqual(sorted({x["rule"] for x in al}), ["dataset-drift"])
        self.assertEqual(len(al), 1)
        a = al[0]
        self.assertEqual(a["file"]["path"], self.bad)
        self.assertEqual(a["file"]["ino"], os.stat(self.bad).st_ino)
        self.assertEqual(a["severity"], "high")
        self.assertEqual(a["mitre"]["atlas"], ["AML.T0020", "AML.T0059"])
        self.assertIn(sha(content(self.bad)), a["message"])
        self.assertIn(sha(b"the content that was approved"), a["message"])
        h = self.hash_of(job, self.bad)[0]
        self.assertEqual(h["hash"]["manifest_verdict"], "mismatch")
        self.assertIn(h["id"], a["evidence"])

    def test_shard_changed_during_the_run(self):
        flag = os.path.join(self.d.tmp, "drift-go")
        # Reads the shard, waits for the flag (a stat, not an open: nothing to report), reads it again:
        # the kernel reports the second open of the file by the same process once only.
        code = ("import os, sys, time\nopen(sys.argv[1], 'rb').read()\n"
                "for _ in range(600):\n    if os.path.exists(sys.argv[2]):\n        break\n    time.sleep(0.05)\n"
                "open(sys.argv[1], 'rb').read()\n")
        runner = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", PY, "-c",
                                   code, self.live, flag], stderr=subprocess.PIPE, text=True)
        try:
            start = self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_start")
                                               if x["job_info"]["root_pid"] == runner.pid] or None, what="job_start")
            job = start[0]["job"]["id"]
            first = self.hash_of(job, self.live, reason="read")[0]
            self.assertEqual(first["hash"]["manifest_verdict"], "match")
            # The approved writer changes it in place (cp truncates and writes the same inode).
            staged = os.path.join(self.stage, "live.jsonl")
            with open(staged, "w") as f:
                f.write('{"text": "a poisoned example"}\n')
            ino = os.stat(self.live).st_ino
            subprocess.run([self.sync, staged, self.live], check=True)
            self.assertEqual(os.stat(self.live).st_ino, ino)
            changed = self.hash_of(job, self.live, what="the rehash", reason="change")[0]
            self.assertEqual(changed["hash"]["sha256"], sha(content(self.live)))
            self.assertEqual(changed["hash"]["first_sha256"], first["hash"]["sha256"])
            a = self.d.wait_for(lambda e: alerts(e, job) or None, timeout=20, what="dataset-drift")
        finally:
            open(flag, "w").close()
            runner.wait(timeout=60)
            runner.stderr.close()
        al = self.quiet_alerts(job)
        self.assertEqual([x["rule"] for x in al], ["dataset-drift"], "the writer is approved: no other rule")
        # The writer runs outside the job: its write was seen (the control), and no alert of any job is its.
        evs = self.d.events()  # quiet_alerts' barrier has passed
        self.assertTrue([e for e in harness.of_kind(evs, "file") if e.get("process", {}).get("exe") == self.sync
                         and e["file"].get("path") == self.live], "the approved writer's write is seen")
        self.assertEqual([harness.summary(a) for a in alerts(evs) if a.get("process", {}).get("exe") == self.sync],
                         [], "the approved writer raises nothing")
        self.assertIn("changed during", al[0]["message"])
        self.assertIn(first["hash"]["sha256"], al[0]["message"])
        self.assertIn(changed["hash"]["sha256"], al[0]["message"])
        self.assertEqual(al[0]["file"]["path"], self.live)

    def test_b2_approved_ingest_then_a_job_reads_it(self):
        t = self.t
        before = len(self.d.events())
        new = f"{t.approved}/shard-new.jsonl"
        staged = os.path.join(self.stage, "shard-new.jsonl")
        with open(staged, "w") as f:
            f.write('{"text": "a newly approved example"}\n')
        staged_manifest = os.path.join(self.stage, "SHA256SUMS")
        with open(staged_manifest, "w") as f:
            f.write(content(self.manifest).decode() + f"{sha(content(staged))}  shard-new.jsonl\n")
        p1 = subprocess.run([self.sync, staged, new], check=True)
        p2 = subprocess.run([self.sync, staged_manifest, self.manifest], check=True)
        del p1, p2
        # The writes are seen (events) and raise nothing.
        self.d.wait_for(lambda e: [x for x in e[before:] if x.get("kind") == "file"
                                   and x["file"]["path"] == self.manifest] or None, what="the manifest write")
        evs = self.d.sync()[before:]
        self.assertEqual(alerts(evs), [], "\n".join(harness.summary(e) + f" src={e.get('file', {}).get('source')}"
                                                    for e in evs))
        job = self.job(PY, "-c", "import sys\nopen(sys.argv[1]).read()", new)
        h = self.hash_of(job, new)[0]
        self.assertEqual(h["hash"]["manifest_verdict"], "match")
        self.assertEqual(self.quiet_alerts(job), [])

    def test_outputs_are_hashed_after_the_write(self):
        t = self.t
        out = f"{t.ckpt}/checkpoint-1/model.bin"
        code = ("import os, sys\nos.makedirs(os.path.dirname(sys.argv[1]), exist_ok=True)\n"
                "with open(sys.argv[1], 'wb') as f:\n    f.write(b'w' * 100000)\n")
        job = self.job(PY, "-c", code, out)
        h = self.hash_of(job, out)
        self.assertIn(h[0]["hash"]["reason"], ("write", "job_end"))
        self.assertEqual(h[0]["hash"]["sha256"], sha(b"w" * 100000))
        self.assertIn("outputs", h[0]["file"]["classes"])
        self.assertEqual(self.quiet_alerts(job), [])
        self.assertEqual(len(hashes(self.d.events(), job, out)), 1, "the same content is reported once")

    def test_repeats_are_summed_up_at_job_end(self):
        # Five connects by one process to a destination outside the (empty) egress list:
        # one alert, then one summary of the four repeats when the job ends.
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        try:
            code = ("import socket, sys\nfor _ in range(5):\n"
                    "    socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()\n")
            job = self.job(PY, "-c", code, str(port))
            summary = self.d.wait_for(lambda e: [a for a in alerts(e, job) if a["rule"] == "egress-not-allowed"
                                                 and a.get("repeats")] or None, timeout=20, what="repeat summary")
            al = [a for a in self.quiet_alerts(job) if a["rule"] == "egress-not-allowed"]
            self.assertEqual(len(al), 2, "the first alert and one summary")
            first, s = al
            self.assertNotIn("repeats", first)
            self.assertEqual(int(s["repeats"]), 4)
            self.assertEqual(s["message"], first["message"] + f"; repeated 4 more times since {s['repeats_since']}")
            self.assertEqual(s["process"]["pid"], first["process"]["pid"])
            self.assertLessEqual(first["time"], s["repeats_since"])
            self.assertLessEqual(s["repeats_since"], s["time"])
            del summary
        finally:
            srv.close()

if __name__ == "__main__":
    harness.main()
