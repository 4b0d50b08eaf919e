"""Review across nodes (issue 14): two daemons, one after the other, with
different `host` names, record the same run (a Slurm job, SLURM_JOB_ID in the
environment its ranks exec with). Their journals, copied out, are read as one:
`runs` groups the two jobs under the run; `review`, `export` and `report` over
both show one run with both hosts (processes by host and rank, data read per
node with the shard that differs between the nodes flagged, destinations per
node, alerts in one time order); `verify` checks both, and names the one that
was edited."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon, Listener, of_kind  # noqa: E402

PY = "/usr/bin/python3"
RUN = "slurm:4242"

# A rank: reads a shard and an unapproved file, then sends to a loopback peer.
RANK = """
import socket, sys
open(sys.argv[1]).read()
open(sys.argv[2]).read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[3])))
s.sendall(b"x" * 1000)
s.close()
"""


def cli(*args):
    return subprocess.run([harness.CLI, *args], capture_output=True, text=True, timeout=120)


class ReviewAcrossNodesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.out = tempfile.mkdtemp(prefix="fts-kt-nodes-")
        cls.peer = Listener()
        cls.jobs = {}
        cls.journals = []
        for rank, host in enumerate(("node-a", "node-b")):
            if host == "node-b":
                # node-b's copy of the shard is not node-a's (no daemon runs now: not a protected write).
                with open(cls.t.shards[0], "a") as f:
                    f.write('{"text": "only on node-b"}\n')
            cls.jobs[host] = cls.record(host, rank)

    @classmethod
    def record(cls, host, rank):
        d = Daemon({"ft.yaml": cls.t.policy(extra='network:\n  egress: ["127.0.0.1/32"]\n')},
                   extra_config=f"host: {host}\njournal: {{ seal_interval_seconds: 1 }}\n").start()
        try:
            env = dict(os.environ, SLURM_JOB_ID="4242", SLURM_PROCID=str(rank), SLURM_CLUSTER_NAME="gpu-a")
            r = subprocess.run([harness.CLI, "--socket", d.socket, "run", "--policy", "ft", "--",
                                PY, "-c", RANK, cls.t.shards[0], cls.t.unapproved_file, str(cls.peer.port)],
                               env=env, capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise AssertionError(f"{host}: job failed:\n{r.stderr}")
            job = r.stderr.split("job ")[1].split()[0]
            d.wait_for(lambda e: of_kind(e, "job_end", job=job), timeout=60, what=f"{host} job_end")
            d.wait_for(lambda e: [x for x in of_kind(e, "file_hash", job=job)
                                  if x["file"]["path"] == cls.t.shards[0]], timeout=60, what=f"{host} shard hash")
            d.sync()
            d.stop()  # the journal is checkpointed and sealed: the file is complete
            copy = os.path.join(cls.out, f"{host}.db")
            shutil.copy(os.path.join(d.tmp, "state", "journal.db"), copy)
            cls.journals.append(copy)
            return job
        finally:
            d.cleanup()

    @classmethod
    def tearDownClass(cls):
        cls.peer.close()
        cls.t.cleanup()
        shutil.rmtree(cls.out, ignore_errors=True)

    def both(self):
        a, b = self.journals
        return ["--journal", a, "--journal", b]

    def test_runs_groups_both_nodes_jobs_under_the_run(self):
        r = cli("runs", *self.both(), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        groups = {g["run"]: g for g in json.loads(r.stdout)["by_run"]}
        self.assertEqual(sorted(groups[RUN]["hosts"]), ["node-a", "node-b"])
        self.assertEqual(sorted(groups[RUN]["jobs"]), sorted(self.jobs.values()))
        self.assertIn(RUN, cli("runs", *self.both()).stdout)

    def test_review_shows_one_run_with_both_hosts(self):
        r = cli("review", RUN, *self.both(), "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        rv = json.loads(r.stdout)
        self.assertEqual(rv["run_id"], RUN)
        self.assertEqual(rv["hosts"], ["node-a", "node-b"])
        self.assertEqual(sorted(j["job"]["id"] for j in rv["jobs"]), sorted(self.jobs.values()))
        self.assertEqual({j["job"]["host"] for j in rv["jobs"]}, {"node-a", "node-b"})
        # Processes by host and rank: each node's python rank.
        ranks = {}

        def walk(n):
            if n.get("exe", "").startswith("/usr/bin/python3") and "rank" in n:
                ranks[n["host"]] = n["rank"]
            for c in n.get("children", []):
                walk(c)
        for n in rv["processes"]:
            walk(n)
        self.assertEqual(ranks, {"node-a": 0, "node-b": 1})
        # Data read per node, with hashes; the shard that differs is flagged on both.
        shard = {d["host"]: d for d in rv["read"] if d["path"] == self.t.shards[0]}
        self.assertEqual(set(shard), {"node-a", "node-b"})
        self.assertNotEqual(shard["node-a"]["sha256"], shard["node-b"]["sha256"])
        for host, other in (("node-a", "node-b"), ("node-b", "node-a")):
            self.assertTrue(shard[host]["hash_differs"], shard[host])
            self.assertEqual(shard[host]["other_hosts_sha256"], [f'{other} {shard[other]["sha256"]}'])
        same = [d for d in rv["read"] if d["path"] == self.t.unapproved_file]
        self.assertEqual(len(same), 2)
        self.assertFalse(any(d.get("hash_differs") for d in same), "the same content on both nodes")
        # Destinations per node.
        peers = {p["host"]: p for p in rv["peers"] if p["dport"] == self.peer.port}
        self.assertEqual(set(peers), {"node-a", "node-b"})
        for p in peers.values():
            self.assertEqual(int(p["bytes"]), 1000)  # (the review is protobuf JSON: 64-bit numbers as strings)
        # Alerts of both nodes in one time order.
        al = rv["alerts"]
        self.assertEqual(sorted((a["host"], a["rule"]) for a in al),
                         [("node-a", "unapproved-data-read"), ("node-b", "unapproved-data-read")])
        self.assertEqual([a["host"] for a in al], ["node-a", "node-b"])
        self.assertTrue(all(a["run"] == RUN for a in al))
        # Each journal verified.
        self.assertEqual([(v["journal"], v["intact"]) for v in rv["verified"]], [(j, True) for j in self.journals])
        text = cli("review", RUN, *self.both()).stdout
        self.assertIn(f"run {RUN}  hosts node-a, node-b", text)
        self.assertIn("HASH DIFFERS", text)

    def test_export_and_report_over_both(self):
        r = cli("export", RUN, *self.both())
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        self.assertEqual({x["host"] for x in lines}, {"node-a", "node-b"})
        self.assertEqual({x.get("run") for x in lines}, {RUN})
        self.assertEqual({x["job"]["id"] for x in lines}, set(self.jobs.values()))
        times = [x["time"] for x in lines]
        self.assertEqual(times, sorted(times), "one time order")
        ocsf = [json.loads(x) for x in cli("export", RUN, *self.both(), "--format", "ocsf").stdout.splitlines()]
        self.assertEqual({x["device"]["hostname"] for x in ocsf}, {"node-a", "node-b"})
        html = os.path.join(self.out, "run.html")
        r = cli("report", RUN, *self.both(), "-o", html)
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(html) as f:
            page = f.read()
        self.assertIn(RUN, page)
        for h in ("node-a", "node-b"):
            self.assertIn(f'"{h}"', page)

    def test_verify_checks_both_and_names_the_edited_one(self):
        r = cli("verify", *self.both())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for j in self.journals:
            self.assertIn(f"journal {j}: intact", r.stdout)
        # The control: an edited copy of node-b's journal.
        edited = os.path.join(self.out, "node-b-edited.db")
        shutil.copy(self.journals[1], edited)
        db = sqlite3.connect(edited)
        db.execute("UPDATE records SET body = body || x'00' WHERE seq = (SELECT MAX(seq) FROM records WHERE type = 0)")
        db.commit()
        db.close()
        r = cli("verify", "--journal", self.journals[0], "--journal", edited)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn(f"journal {self.journals[0]}: intact", r.stdout)
        self.assertIn(f"journal {edited}: TAMPERED", r.stdout)


if __name__ == "__main__":
    harness.main()
