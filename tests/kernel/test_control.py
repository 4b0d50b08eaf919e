"""The control plane against a real daemon: `ftsentinel sync` is a barrier
(when it returns, what a job did is in the outputs, content hashes included),
and `ftsentinel status` counts every alert that went out, rule alerts too."""
import hashlib
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = "/usr/bin/python3"


class ControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.d = Daemon({"ft.yaml": cls.t.policy()}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.t.cleanup()

    def job(self, *argv):
        r = self.d.cli("run", "--policy", "ft", "--", *argv, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return r.stderr.split("job ")[1].split()[0]

    def sync(self):
        r = self.d.cli("sync", "--json")
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        return json.loads(r.stdout)

    def status(self):
        r = self.d.cli("status", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def test_sync_returns_once_the_job_records_and_hashes_are_out(self):
        t = self.t
        # Many distinct unapproved reads, then a large training shard (hashed
        # on a worker thread, which takes a while): read once right after
        # sync, with no polling. The shard is large enough (256 MiB, a few
        # hundred ms of SHA-256) that its hash is nearly always still running
        # when sync is called; when it was already out before the call, the
        # sync had nothing to wait for, and that is checked instead.
        big = f"{t.approved}/big-shard.bin"
        with open(big, "wb") as f:
            f.write(os.urandom(1 << 20) * 256)
        files = []
        for i in range(40):
            p = f"{t.unapproved}/sync-{i}.jsonl"
            with open(p, "w") as f:
                f.write(f'{{"n": {i}}}\n')
            files.append(p)
        code = "import sys\nfor p in sys.argv[1:]:\n    open(p, 'rb').read(1)"
        job = self.job(PY, "-c", code, *files, big)
        out_before = [e for e in harness.of_kind(self.d.events(), "file_hash") if e["file"]["path"] == big]
        reply = self.sync()
        self.assertEqual(int(reply.get("hashes_pending", "0")), 0)
        events = self.d.events()
        mine = [e for e in events if e.get("job", {}).get("id") == job]
        alerted = {a["file"]["path"] for a in mine if a.get("rule") == "unapproved-data-read"}
        self.assertEqual(alerted, set(files))
        self.assertEqual(len(harness.of_kind(mine, "job_end")), 1)
        hashes = [e for e in harness.of_kind(mine, "file_hash") if e["file"]["path"] == big]
        self.assertEqual(len(hashes), 1, "the shard's hash is out when sync returns")
        if not out_before:
            self.assertGreater(int(reply.get("hashes_finished", "0")), 0, "the sync waited for it")
        with open(big, "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        self.assertEqual(hashes[0]["hash"]["sha256"], want)

    def test_alerts_out_counts_rule_alerts(self):
        self.sync()
        before = int(self.status().get("alerts_emitted", "0"))
        job = self.job(PY, "-c", "import sys\nopen(sys.argv[1]).read(); open(sys.argv[2]).read()", self.t.hf_token,
                       self.t.aws)
        self.sync()
        mine = [e for e in self.d.events() if "rule" in e and e.get("job", {}).get("id") == job]
        self.assertEqual(sorted(a["rule"] for a in mine), ["credential-read", "credential-read"])
        after = int(self.status().get("alerts_emitted", "0"))
        self.assertEqual(after - before, 2, "both rule alerts are counted in alerts out")
        self.assertIn("alerts out:   %d" % after, self.d.cli("status").stdout)


if __name__ == "__main__":
    harness.main()
