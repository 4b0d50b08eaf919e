"""Alerts to an HTTPS endpoint (Splunk HEC shape) started by the test: 5xx
and timeouts are retried until delivered; 4xx is counted and not retried
forever; the Prometheus endpoint says all of it."""
import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.request

import siem
from siem import harness


def n(s, key):
    return int(s.get(key, 0))


def metric(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(name + ("{" + want + "}" if want else " ")) or (
                want and line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items())):
            return float(line.rsplit(" ", 1)[1])
    return None


class HttpsHec(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fts-it-https-")
        self.pki = siem.make_ca(self.tmp)
        self.server = siem.Https(self.pki)
        self.token = os.path.join(self.tmp, "hec.token")
        with open(self.token, "w") as f:
            f.write("0f5c-test-token\n")
        self.metrics_port = siem.free_port()
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            if os.environ.get("FTS_TEST_VERBOSE"):
                print("--- daemon stderr ---\n" + self.daemon.stderr()[-4000:])
            self.daemon.cleanup()
        self.server.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def scrape(self, path):
        """A request with the daemon's metrics token, as Prometheus sends it."""
        with open(os.path.join(self.daemon.tmp, "state", "metrics.token")) as f:
            token = f.read().strip()
        return urllib.request.Request(f"http://127.0.0.1:{self.metrics_port}{path}",
                                      headers={"Authorization": f"Bearer {token}"})

    def test_hec_batches_retries_and_rejections(self):
        s = self.server
        # Down twice, then a response slower than the sink's timeout, then fine.
        s.plan["/services/collector"] = [503, 500, ("sleep", 2.5)]
        s.default["/bad"] = 403  # a revoked token: retrying cannot help
        p = self.pki
        self.daemon = harness.Daemon({}, (
            f'  - {{ type: http, name: hec, url: "{s.url("/services/collector")}", format: splunk_hec,'
            f' token_file: {self.token}, ca_file: {p["ca"]}, timeout_ms: 1000, retry_min_ms: 100,'
            f' retry_max_ms: 400 }}\n'
            f'  - {{ type: http, name: bad, url: "{s.url("/bad")}", format: splunk_hec, token_file: {self.token},'
            f' ca_file: {p["ca"]}, timeout_ms: 1000, retry_min_ms: 100, retry_max_ms: 400 }}\n'
            f'  - {{ type: http, name: generic, url: "{s.url("/ingest")}", format: ocsf, ca_file: {p["ca"]},'
            f' min_severity: medium }}\n'
            f'metrics: {{ listen: "127.0.0.1:{self.metrics_port}" }}\n'))
        self.daemon.start()
        ids = siem.alert_test(self.daemon, "--count", "30", "--severity", "medium")

        def delivered():
            got = {}
            for r in s.received("/services/collector"):
                if r["answer"] == 200:
                    for e in siem.hec_events(r["body"]):
                        got[e["event"]["id"]] = (e, r)
            return got if set(got) >= set(ids) else None
        got = siem.wait_until(delivered, 20, "30 alerts through 503, 500 and a timeout")
        reqs = s.received("/services/collector")
        self.assertEqual([r["answer"] for r in reqs[:3]], [503, 500, ("sleep", 2.5)], "all three were retried")
        e, r = got[ids[0]]
        self.assertEqual(r["headers"]["Authorization"], "Splunk 0f5c-test-token")
        self.assertEqual(e["sourcetype"], "ftsentinel:alert")
        self.assertEqual(e["source"], "ftsentinel")
        self.assertIsInstance(e["time"], float)
        self.assertEqual(e["event"]["rule"], "test-alert")
        self.assertEqual(e["event"]["severity"], "medium")

        # 4xx: each record offered once, then counted as rejected; no loop.
        siem.wait_until(lambda: n(siem.sink(siem.status(self.daemon), "bad"), "rejected") == 30, 10,
                        "30 rejected records")
        before = len(s.received("/bad"))
        time.sleep(1.5)  # several retry periods
        self.assertEqual(len(s.received("/bad")), before, "a 403 is not retried")
        sent = sum(len(siem.hec_events(r["body"])) for r in s.received("/bad"))
        self.assertEqual(sent, 30, "every record offered exactly once")

        # Generic JSON batches: an array of OCSF findings.
        siem.wait_until(lambda: s.received("/ingest"), 10, "the generic batch")
        batch = json.loads(s.received("/ingest")[0]["body"])
        self.assertIsInstance(batch, list)
        self.assertEqual(batch[0]["class_uid"], 2004)

        st = siem.status(self.daemon)
        hec, bad = siem.sink(st, "hec"), siem.sink(st, "bad")
        self.assertEqual(n(hec, "delivered"), 30)
        self.assertGreaterEqual(n(hec, "failed"), 3)
        self.assertEqual(n(hec, "spooled"), 0)
        self.assertEqual(n(bad, "delivered"), 0)
        self.assertEqual(n(bad, "spooled"), 0)
        self.assertIn("HTTP 403", bad.get("last_error", ""))

        # Prometheus text: what an SRE alerts on.
        text = urllib.request.urlopen(self.scrape("/metrics"), timeout=5).read().decode()
        self.assertGreaterEqual(metric(text, "ftsentinel_sink_deliveries_failed_total", sink="hec"), 3)
        self.assertEqual(metric(text, "ftsentinel_sink_rejected_total", sink="bad"), 30)
        self.assertEqual(metric(text, "ftsentinel_sink_delivered_total", sink="hec"), 30)
        self.assertEqual(metric(text, "ftsentinel_sink_spool_bytes", sink="hec"), 0)
        self.assertEqual(metric(text, "ftsentinel_sink_queue_depth", sink="hec"), 0)
        self.assertEqual(metric(text, "ftsentinel_alerts_total", rule="test-alert", severity="medium"), 30)
        self.assertIsNotNone(metric(text, "ftsentinel_ringbuf_drops_total", cpu="0"))
        self.assertIsNotNone(metric(text, "ftsentinel_jobs_live"))
        self.assertIn("# TYPE ftsentinel_events_total counter", text)
        with self.assertRaises(urllib.error.HTTPError):
            urllib.request.urlopen(self.scrape("/other"), timeout=5)


if __name__ == "__main__":
    harness.main()
