"""Alerts to a real rsyslog over TLS (a test CA made here): they arrive
intact and octet-count framed; the server certificate is verified; and
nothing is lost across an rsyslog outage and a daemon restart."""
import json
import os
import shutil
import tempfile
import unittest

import siem
from siem import harness


def n(s, key):
    return int(s.get(key, 0))  # proto3 JSON: 64-bit numbers are strings, zeros are omitted


class SyslogTls(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fts-it-syslog-")
        self.pki = siem.make_ca(self.tmp)
        self.port = siem.free_port()
        self.udp_port = siem.free_port()
        self.rs = siem.Rsyslog(os.path.join(self.tmp, "rs"), self.pki, self.port, self.udp_port,
                               auth="x509/certvalid")
        self.daemon = None

    def tearDown(self):
        if self.daemon:
            if os.environ.get("FTS_TEST_VERBOSE"):
                print("--- daemon stderr ---\n" + self.daemon.stderr()[-4000:])
            self.daemon.cleanup()
        self.rs.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_daemon(self, outputs):
        self.daemon = harness.Daemon({}, outputs + "metrics: { listen: \"off\" }\n")
        return self.daemon.start()

    def test_alerts_arrive_intact_and_framed(self):
        os.makedirs(self.rs.dir, exist_ok=True)
        self.rs.start()
        p = self.pki
        self.start_daemon(
            f'  - {{ type: syslog, name: siem-json, address: "tls://127.0.0.1:{self.port}", ca_file: {p["ca"]},'
            f' cert_file: {p["client_cert"]}, key_file: {p["client_key"]}, format: json, retry_max_ms: 1000 }}\n'
            f'  - {{ type: syslog, name: siem-text, address: "tls://localhost:{self.port}", ca_file: {p["ca"]},'
            f' cert_file: {p["client_cert"]}, key_file: {p["client_key"]}, format: rfc5424,'
            f' min_severity: high, retry_max_ms: 1000 }}\n'
            f'  - {{ type: syslog, name: siem-udp, address: "udp://127.0.0.1:{self.udp_port}", format: ocsf }}\n'
            f'  - {{ type: syslog, name: wrong-ca, address: "tls://127.0.0.1:{self.port}", ca_file: {p["other_ca"]},'
            f' retry_min_ms: 100, retry_max_ms: 200 }}\n')
        low = siem.alert_test(self.daemon, "--count", "20", "--severity", "low")
        high = siem.alert_test(self.daemon, "--severity", "critical", "--message", "two\nlines ] \" \\ end")
        self.assertEqual(len(low), 20)
        everything = set(low + high)

        def arrived():
            lines = self.rs.lines()
            json_lines = [l for l in lines if " {" in l and '"class_uid"' not in l]
            text = [l for l in lines if "test-alert (" in l]
            return lines if text and set(siem.ids_of(json_lines)) >= everything else None
        try:
            lines = siem.wait_until(arrived, 20, "21 alerts over TLS, and the critical one as text")
        except AssertionError as e:
            raise AssertionError(f"{e}\nstatus: {siem.status(self.daemon).get('sinks')}\nreceived:\n" +
                                 "\n".join(self.rs.lines()[-5:]))

        by_id = {}
        for l in lines:
            msgid, rest = l.split(" ", 1)
            self.assertEqual(msgid, "test-alert", l)
            if " {" in rest and '"class_uid"' not in rest:
                body = json.loads(rest[rest.index(" {") + 1:])  # MSG: the native JSON, intact
                by_id[body["id"]] = body
                self.assertIn(f'id="{body["id"]}"', rest, "SD carries the id for de-duplication")
        self.assertEqual(set(by_id), everything)
        crit = by_id[high[0]]
        self.assertEqual(crit["severity"], "critical")
        self.assertEqual(crit["message"], "two\nlines ] \" \\ end", "a newline inside a message is not a frame end")
        self.assertEqual(crit["rule"], "test-alert")
        self.assertEqual(crit["action"], "alerted")
        self.assertTrue(crit["host"] and crit["time"].endswith("Z"))

        # The text output filters by severity: only the critical one.
        text = [l for l in lines if "test-alert (" in l]
        self.assertEqual(len(text), 1, text)
        self.assertIn(high[0], text[0])
        self.assertIn("two#012lines", text[0], "one octet-counted frame, newline and all")

        # UDP, OCSF body: every alert as a Detection Finding.
        def udp_all():
            got = [json.loads(l[l.index(" {") + 1:]) for l in self.rs.lines() if '"class_uid"' in l]
            return got if len(got) >= 21 else None
        ocsf = siem.wait_until(udp_all, 10, "21 OCSF alerts over UDP")
        self.assertEqual({o["metadata"]["uid"] for o in ocsf}, everything)
        self.assertTrue(all(o["class_uid"] == 2004 for o in ocsf))

        # A server the CA does not vouch for gets nothing, and status says why.
        st = siem.status(self.daemon)
        wrong = siem.sink(st, "wrong-ca")
        self.assertEqual(n(wrong, "delivered"), 0)
        self.assertGreaterEqual(n(wrong, "failed"), 1)
        self.assertIn("certificate verify failed", wrong.get("last_error", ""))
        self.assertEqual(n(wrong, "spooled"), 21, "kept until a verifiable server appears")
        ok = siem.sink(st, "siem-json")
        self.assertEqual(n(ok, "delivered"), 21)
        self.assertEqual(n(ok, "spooled"), 0)
        self.assertTrue(ok.get("connected"))

    def test_outage_and_restart_lose_nothing(self):
        os.makedirs(self.rs.dir, exist_ok=True)
        self.rs = siem.Rsyslog(self.rs.dir, self.pki, self.port, auth="anon")
        self.rs.start()
        p = self.pki
        self.start_daemon(
            f'  - {{ type: syslog, name: siem, address: "tls://127.0.0.1:{self.port}", ca_file: {p["ca"]},'
            f' retry_min_ms: 200, retry_max_ms: 1000 }}\n')
        first = siem.alert_test(self.daemon, "--count", "5")
        siem.wait_until(lambda: set(siem.ids_of(self.rs.lines())) >= set(first), 15, "the first 5 alerts")

        self.rs.stop()  # the SIEM goes down
        ids = siem.alert_test(self.daemon, "--count", "1000", "--severity", "high")
        self.assertEqual(len(ids), 1000)
        siem.wait_until(lambda: n(siem.sink(siem.status(self.daemon), "siem"), "spooled") == 1000, 15,
                        "1000 alerts in the spool")

        self.daemon.stop()  # and the daemon restarts while it is still down
        self.daemon.start()
        st = siem.sink(siem.status(self.daemon), "siem")
        # The stop itself (SIGTERM from this test) is reported too: sensor-tamper.
        self.assertEqual(n(st, "spooled"), 1001, "the spool survived the restart")
        self.assertFalse(st.get("connected"))

        self.rs.start()  # the SIEM comes back
        siem.wait_until(lambda: set(siem.ids_of(self.rs.lines())) >= set(first + ids), 30,
                        "all 1000 alerts after the outage")
        lines = self.rs.lines()
        got = siem.ids_of(lines)
        extra = [l for l in lines if siem.ids_of([l]) and siem.ids_of([l])[0] not in set(first + ids)]
        self.assertEqual(len(set(siem.ids_of(extra))), 1, f"ours and the stop's alert only: {extra}")
        self.assertIn("sensor-tamper", extra[0])
        self.assertIn("SIGTERM", extra[0])
        # At-least-once: a duplicate is possible only for what was in flight,
        # and it carries the same id, so the receiver can drop it.
        dups = len(got) - len(set(got))
        self.assertLessEqual(dups, 5, f"{dups} duplicates")
        siem.wait_until(lambda: n(siem.sink(siem.status(self.daemon), "siem"), "spooled") == 0, 10, "empty spool")
        spool = os.path.join(self.daemon.tmp, "state", "spool", "siem")
        self.assertTrue(os.path.isdir(spool))
        self.assertEqual(n(siem.sink(siem.status(self.daemon), "siem"), "dropped"), 0)


if __name__ == "__main__":
    harness.main()
