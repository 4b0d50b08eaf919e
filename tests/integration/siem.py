"""Local stand-ins for a SIEM, made and removed by each test: a test CA
(openssl CLI), a real rsyslog (its own config, pid file and work dir, loopback
only) and an HTTPS server (Python's http.server + ssl) that records what it
receives and answers as scripted."""
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "kernel"))
import harness  # noqa: E402  (the real daemon on temp dirs, skip/fail rules)

RSYSLOGD = "/usr/sbin/rsyslogd"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def make_ca(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate, all signed by the CA. Returns a dict of paths."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=ftsentinel test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}.key",
            "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem")
    # A CA the server does not use, to see verification refuse.
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=other CA",
        "-keyout", "other.key", "-out", "other.pem")
    return {k: os.path.join(d, v) for k, v in
            {"ca": "ca.pem", "cert": "server.pem", "key": "server.key", "client_cert": "client.pem",
             "client_key": "client.key", "other_ca": "other.pem"}.items()}


class Rsyslog:
    """rsyslogd on 127.0.0.1: TLS (imtcp + ossl) on `port`, UDP on `udp_port`.
    Every message is written as 'MSGID SD MSG' to out.log."""

    def __init__(self, d, pki, port, udp_port=None, auth="anon"):
        self.dir = d
        self.port = port
        self.out = os.path.join(d, "out.log")
        self.pidfile = os.path.join(d, "rsyslogd.pid")
        self.conf = os.path.join(d, "rsyslog.conf")
        os.makedirs(os.path.join(d, "work"), exist_ok=True)
        udp = (f'module(load="imudp")\ninput(type="imudp" address="127.0.0.1" port="{udp_port}")\n'
               if udp_port else "")
        with open(self.conf, "w") as f:
            f.write(f'''
global(workDirectory="{d}/work" maxMessageSize="256k"
       defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{pki['ca']}"
       defaultNetstreamDriverCertFile="{pki['cert']}" defaultNetstreamDriverKeyFile="{pki['key']}")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="{auth}")
input(type="imtcp" address="127.0.0.1" port="{port}")
{udp}
template(name="fts" type="string" string="%msgid% %structured-data% %msg%\\n")
action(type="omfile" file="{self.out}" template="fts")
''')
        self.proc = None
        self.log = os.path.join(d, "rsyslogd.err")

    def start(self, timeout=15):
        if not os.path.exists(RSYSLOGD):
            raise AssertionError("rsyslogd is not installed (Debian packages rsyslog, rsyslog-openssl)")
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pidfile],
                                         stdout=err, stderr=err)
        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited:\n" + open(self.log).read())
            with socket.socket() as s:
                s.settimeout(0.2)
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(listening, timeout, "rsyslogd to listen")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def lines(self):
        try:
            with open(self.out, errors="replace") as f:
                return [l.rstrip("\n") for l in f if l.endswith("\n")]
        except FileNotFoundError:
            return []


ID_RE = re.compile(r'\bid="([0-9a-f-]{36})"')


def ids_of(lines):
    out = []
    for l in lines:
        m = ID_RE.search(l)
        if m:
            out.append(m.group(1))
    return out


class Https:
    """A threaded HTTPS server. `plan[path]` is a list of steps consumed one
    per request ('ok', an HTTP status int, or ('sleep', seconds)); when it is
    empty, `default[path]` applies. Every request is recorded."""

    def __init__(self, pki):
        self.requests = []
        self.plan = {}
        self.default = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    steps = outer.plan.get(self.path, [])
                    step = steps.pop(0) if steps else outer.default.get(self.path, 200)
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                           "answer": step})
                if isinstance(step, tuple) and step[0] == "sleep":
                    time.sleep(step[1])
                    step = 200
                code = int(step)
                reply = json.dumps({"text": "Success" if code < 300 else "scripted", "code": 0}).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the client gave up (timeout test)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["cert"], pki["key"])
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"https://127.0.0.1:{self.port}{path}"

    def received(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def hec_events(body):
    """A HEC batch: JSON objects one after another."""
    dec = json.JSONDecoder()
    text = body.decode()
    i, out = 0, []
    while i < len(text):
        while i < len(text) and text[i] in " \r\n\t":
            i += 1
        if i >= len(text):
            break
        obj, i = dec.raw_decode(text, i)
        out.append(obj)
    return out


def status(daemon):
    r = daemon.cli("status", "--json")
    if r.returncode != 0:
        raise AssertionError("status failed: " + r.stderr)
    return json.loads(r.stdout)


def sink(st, name):
    for s in st.get("sinks", []):
        if s["name"] == name:
            return s
    raise AssertionError(f"no output {name} in status: {st.get('sinks')}")


def alert_test(daemon, *args):
    r = daemon.cli("alert-test", *args, timeout=60)
    if r.returncode != 0:
        raise AssertionError("alert-test failed: " + r.stderr)
    return r.stdout.split("\n")[1:-1]  # the ids, one per line after the summary
