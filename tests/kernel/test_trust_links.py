"""A symlink that points at protected data is not a write to it (issue 11,
2): inside a job, `ln -s <approved shard> /tmp/…` raises nothing; a symlink
made inside the protected tree, and a hard link to a protected file from
outside it, are changes: protected-data-write, naming the changed name."""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import trust  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402


class LinksTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.elsewhere = tempfile.mkdtemp(prefix="fts-kt-links-")
        cls.d = Daemon({"ft.yaml": cls.t.policy()}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()
        shutil.rmtree(cls.elsewhere, ignore_errors=True)

    def judged(self, *argv):
        job = trust.run_job(self.d, "ft", *argv)
        trust.ended(self.d, job)
        return trust.alerts(self.d, job)

    def test_links(self):
        shard = self.t.shards[0]
        # Positive controls first: a symlink made in the protected tree, and a
        # hard link to a protected file from outside it.
        inside = os.path.join(self.t.approved, "inside-link.jsonl")
        al = self.judged("/bin/ln", "-s", "/etc/hostname", inside)
        self.assertEqual(trust.rules(al), ["protected-data-write"], [a["message"] for a in al])
        self.assertEqual(al[0]["file"]["path"], inside)
        hard = os.path.join(self.elsewhere, "hard.jsonl")
        al = self.judged("/bin/ln", shard, hard)
        self.assertEqual(trust.rules(al), ["protected-data-write"], [a["message"] for a in al])
        self.assertEqual(al[0]["file"]["path"], shard)
        # A symlink elsewhere whose target names the shard (absolute, relative): nothing.
        soft = os.path.join(self.elsewhere, "soft.jsonl")
        rel = os.path.join(self.elsewhere, "rel.jsonl")
        target = os.path.relpath(shard, self.elsewhere)
        job = trust.run_job(self.d, "ft", "/bin/sh", "-c", f'ln -s "$1" "$2" && ln -s "$3" "$4"', "sh",
                            shard, soft, target, rel)
        trust.ended(self.d, job)
        self.assertEqual(os.readlink(soft), shard)
        links = [e for e in harness.of_kind(self.d.events(), "file", job=job) if e["file"]["op"] == "symlink"]
        self.assertEqual(len(links), 2, "both symlinks are reported as events")
        self.assertEqual(trust.alerts(self.d, job), [])


if __name__ == "__main__":
    harness.main()
