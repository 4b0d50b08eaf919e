"""Dataset cache poisoning (issue 15): a policy's `data.caches` (the Hugging Face
datasets cache, Arrow files) is training data kept outside `training`.

- An outsider (a process in no job) writing into the cache while the job runs
  raises protected-data-write; the job's own download into it (written, then
  renamed into place) raises nothing: both checked after the sync barrier.
- The job's read of a cached file is no unapproved-data-read (a read beside the
  cache still is), and the file's SHA-256 is in the run's provenance
  (`ftsentinel review JOB --json`), classed training and cache."""
import hashlib
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"

# The job: downloads a shard into the cache (a temp file renamed into place, as
# `datasets` does), says so, waits for the test, then reads the cache.
JOB = r"""
import os, sys
cache, beside = sys.argv[1], sys.argv[2]
tmp = os.path.join(cache, "incomplete.tmp")
with open(tmp, "wb") as f:
    f.write(b"ARROW1" + b"downloaded rows " * 64)
os.rename(tmp, os.path.join(cache, "squad-validation.arrow"))
print("downloaded", flush=True)
sys.stdin.readline()
for name in ("squad-train.arrow", "squad-validation.arrow"):
    with open(os.path.join(cache, name), "rb") as f:
        f.read()
with open(beside, "rb") as f:  # outside every data tree of the policy
    f.read()
print("read", flush=True)
"""


def alerts(events):
    return [e for e in events if "rule" in e]


class CachesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.cache = f"{cls.t.root}/home/.cache/huggingface/datasets/squad/0.0.0/abc"
        os.makedirs(cls.cache)
        cls.train = f"{cls.cache}/squad-train.arrow"
        with open(cls.train, "wb") as f:
            f.write(b"ARROW1" + b"cached rows " * 100)
        cls.beside = f"{cls.t.root}/home/.cache/huggingface/other.arrow"
        with open(cls.beside, "wb") as f:
            f.write(b"not a declared cache\n")
        pol = cls.t.policy(name="ft", extra=f'  caches: ["{cls.t.root}/home/.cache/huggingface/datasets/**"]\n')
        cls.d = Daemon({"ft.yaml": pol}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def start_job(self):
        job = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--name", "hf-cache",
                                "--", PY, "-c", JOB, self.cache, self.beside],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: job.poll() is None and job.kill())
        line = job.stdout.readline()
        self.assertEqual(line.strip(), "downloaded", job.stderr.read() if not line else line)
        start = self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_start")
                                           if x["job_info"]["root_pid"] == job.pid] or None, what="job_start")
        return job, start[0]["job"]["id"]

    def finish_job(self, job):
        out, err = job.communicate("go\n", timeout=60)
        self.assertEqual(job.returncode, 0, err)
        self.assertIn("read", out)

    def test_outsider_write_is_protected_data_write_the_jobs_own_download_is_not(self):
        job, job_id = self.start_job()
        target = f"{self.cache}/squad-train.arrow"
        outsider = subprocess.Popen(["/bin/sh", "-c", f"printf poison >> {target}"])
        outsider.wait()
        self.finish_job(job)
        self.d.wait_for(lambda e: [x for x in alerts(e) if x["process"]["pid"] == outsider.pid] or None,
                        what="protected-data-write of the cache")
        evs = self.d.sync()
        # Positive: the outsider's append, once, named by the cache file.
        mine = [x for x in alerts(evs) if x["process"]["pid"] == outsider.pid]
        self.assertEqual([x["rule"] for x in mine], ["protected-data-write"], mine)
        self.assertEqual(mine[0]["file"]["path"], target)
        self.assertNotIn("job", mine[0])
        self.assertIn("dataset cache", mine[0]["message"])
        # The job's own download (create, write, rename into place) was seen...
        renames = [e for e in harness.of_kind(evs, "file", job=job_id)
                   if e["file"]["op"] == "rename" and e["file"].get("new_path", "").endswith("squad-validation.arrow")]
        self.assertTrue(renames, "the kernel reported the job's rename into the cache")
        # ...and raised nothing: no alert of the job names a cache file.
        cache_alerts = [x for x in alerts(evs) if x.get("job", {}).get("id") == job_id
                        and "/huggingface/datasets/" in x.get("file", {}).get("path", "")]
        self.assertEqual(cache_alerts, [])

    def test_the_jobs_read_is_training_data_hashed_into_provenance(self):
        with open(self.train, "rb") as f:
            before = f.read()
        job, job_id = self.start_job()
        self.finish_job(job)
        self.d.wait_for(lambda e: [x for x in harness.of_kind(e, "job_end") if x["job"]["id"] == job_id] or None,
                        what="job_end")
        evs = self.d.sync()
        job_alerts = [x for x in alerts(evs) if x.get("job", {}).get("id") == job_id]
        # Control: the read beside the cache is still unapproved...
        self.assertIn(self.beside, [x["file"]["path"] for x in job_alerts if x["rule"] == "unapproved-data-read"])
        # ...the cache's are not.
        self.assertEqual([x for x in job_alerts if "/huggingface/datasets/" in x.get("file", {}).get("path", "")], [])
        reads = [e for e in harness.of_kind(evs, "file", job=job_id) if e["file"]["path"] == self.train]
        self.assertTrue(reads, "the job's read of the cache was reported")
        self.assertEqual(sorted(reads[0]["file"]["classes"]), ["cache", "training"])
        # Provenance: the journal's review of the run has the file with its hash.
        want = hashlib.sha256(before).hexdigest()
        deadline = time.time() + 30
        while True:
            rv = json.loads(self.d.cli("review", job_id, "--json", timeout=60).stdout or "{}")
            got = {r["path"]: r for r in rv.get("read", [])}
            if got.get(self.train, {}).get("sha256") and got.get(f"{self.cache}/squad-validation.arrow", {}).get("sha256"):
                break
            if time.time() > deadline:
                self.fail(f"the review never had the cache's hashes: {json.dumps(rv)[:3000]}")
            time.sleep(0.2)
        self.assertEqual(got[self.train]["sha256"], want)
        self.assertEqual(sorted(got[self.train]["classes"]), ["cache", "training"])
        with open(f"{self.cache}/squad-validation.arrow", "rb") as f:
            self.assertEqual(got[f"{self.cache}/squad-validation.arrow"]["sha256"], hashlib.sha256(f.read()).hexdigest())


if __name__ == "__main__":
    harness.main()
