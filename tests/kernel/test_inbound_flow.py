"""Inbound flows (issue 11): a connection a job accepts and keeps open past one
flow_report_seconds is reported by periodic flow_update records that stay
`direction: inbound` and carry no egress verdict, and `ftsentinel review` does
not list its peer as not allowed. Positive control in the same job: an outbound
connect to a server the policy does not allow IS reported and reviewed as not
allowed."""
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402
from test_network import SinkServer, net_events  # noqa: E402

PY = "/usr/bin/python3"
SENT_BACK = 3000

# Listens, accepts one connection, sends bytes back, keeps it open until the
# peer says "done"; then connects out to argv[2]:argv[3] (the positive control).
JOB = """
import json, socket, sys, os
out, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(('127.0.0.1', 0))
s.listen(1)
with open(out + '.tmp', 'w') as f:
    f.write(str(s.getsockname()[1]))
os.rename(out + '.tmp', out)
s.settimeout(30)
c, _ = s.accept()
c.settimeout(60)
c.sendall(b'r' * %d)
got = b''
while not got.endswith(b'done'):
    b = c.recv(64)
    if not b:
        break
    got += b
c.close()
o = socket.create_connection((host, port), timeout=10)
o.sendall(b'x' * 100)
print(json.dumps({"sport": o.getsockname()[1]}))
o.close()
""" % SENT_BACK


class InboundFlowTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.denied = SinkServer(socket.AF_INET, "127.0.0.1")
        cls.allowed = SinkServer(socket.AF_INET, "127.0.0.1")
        pol = cls.t.policy(name="ft", extra=f'network:\n  egress: ["127.0.0.1/32:{cls.allowed.port}"]\n')
        cls.d = Daemon({"ft.yaml": pol}, extra_config="sensor: { flow_report_seconds: 1 }\n"
                       "journal: { seal_interval_seconds: 1 }\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.denied.close()
        cls.allowed.close()
        cls.t.cleanup()

    def run_job(self):
        """Runs JOB; returns (job id, the job's listening port, the test's port
        towards it, the job's source port towards the denied server)."""
        ports_file = os.path.join(self.d.tmp, f"listen-{time.time_ns()}")
        p = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", PY, "-c", JOB,
                              ports_file, "127.0.0.1", str(self.denied.port)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            listen = harness.read_pid(ports_file, timeout=20)
            c = socket.create_connection(("127.0.0.1", listen), timeout=20)
            peer = c.getsockname()[1]
            got = b""
            while len(got) < SENT_BACK:
                b = c.recv(65536)
                if not b:
                    break
                got += b
            self.assertEqual(len(got), SENT_BACK)
            # Open past one flow_report_seconds: the periodic report sees it
            # (bytes sent back included) while it is still open.
            self.d.wait_for(lambda evs: [e for e in net_events(evs, op="flow_update")
                                         if e["network"].get("sport") == listen
                                         and int(e["network"].get("bytes", 0)) == SENT_BACK] or None,
                            timeout=15, what="a flow_update of the accepted connection")
            c.sendall(b"done")
            c.close()
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        job = err.split("job ")[1].split()[0]
        return job, listen, peer, json.loads(out.strip().splitlines()[-1])["sport"]

    def review(self, job):
        """The journal's review once it holds the job's end and the control's alert."""
        deadline = time.time() + 30
        while True:
            r = self.d.cli("review", job, "--json", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            rv = json.loads(r.stdout)
            if "egress-not-allowed" in {a["rule"] for a in rv.get("alerts", [])} and rv["run"]["job"].get("end_time"):
                return rv
            self.assertLess(time.time(), deadline, f"the journal never had the job's end and alert: {r.stdout[:3000]}")
            time.sleep(0.2)

    def test_an_accepted_connection_stays_inbound_and_is_not_judged_against_egress(self):
        job, listen, peer, out_sport = self.run_job()
        # Positive control: the outbound connect to a server egress does not allow.
        conn = self.d.wait_for(lambda evs: net_events(evs, job=job, op="connect", dport=self.denied.port) or None,
                               what="the job's connect to the denied server")
        self.assertEqual(conn[0]["network"]["verdict"], "not_allowed")
        alerts = self.d.wait_for(lambda evs: [e for e in evs if e.get("rule") == "egress-not-allowed"
                                              and e.get("job", {}).get("id") == job] or None,
                                 what="egress-not-allowed for the denied server")
        self.assertEqual([(a["network"]["daddr"], a["network"]["dport"]) for a in alerts],
                         [("127.0.0.1", self.denied.port)])

        # Every record of the accepted connection: inbound, no verdict.
        accepted = [e for e in net_events(self.d.events(), job=job) if e["network"].get("sport") == listen
                    and e["network"]["op"] in ("accept", "flow_update", "flow")]
        ops = {e["network"]["op"] for e in accepted}
        self.assertEqual(ops, {"accept", "flow_update", "flow"}, accepted)
        for e in accepted:
            n = e["network"]
            self.assertEqual((n.get("direction"), n["daddr"], n["dport"]), ("inbound", "127.0.0.1", peer), e)
            self.assertNotIn("verdict", n, e)
        updates = [e["network"] for e in accepted if e["network"]["op"] == "flow_update"]
        self.assertIn(SENT_BACK, [int(n["bytes"]) for n in updates])

        # The review: the denied server is not allowed, the peer that came in is not.
        rv = self.review(job)
        peers = {(p["daddr"], p["dport"]): p for p in rv.get("peers", [])}
        self.assertEqual(peers[("127.0.0.1", self.denied.port)]["verdict"], "not_allowed", rv.get("peers"))
        inbound = peers.get(("127.0.0.1", peer))
        self.assertTrue(inbound is None or inbound.get("verdict") != "not_allowed", rv.get("peers"))
        text = self.d.cli("review", job).stdout
        not_allowed_lines = [line for line in text.splitlines() if "not_allowed" in line]
        self.assertTrue(any(f":{self.denied.port}" in line for line in not_allowed_lines), text)
        self.assertFalse(any(f":{peer}" in line for line in not_allowed_lines), text)


if __name__ == "__main__":
    harness.main()
