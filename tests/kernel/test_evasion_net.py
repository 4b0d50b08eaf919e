"""Issue 12, the kernel view of the network: a job trying to fool the egress
sensor instead of passing it, performed for real against the real daemon.

- Forged DNS answers (scenario A15): a trusted resolver on loopback
  (`network.resolvers: ["127.0.0.1:PORT"]`), a root job that answers its own
  queries — from another port of the resolver's address, from the resolver's
  own address:port (SO_REUSEPORT) with a wrong id or a wrong question, from a
  resolver of its own on port 53 — then connects where the forgery pointed:
  refused (enforce), the answer flagged and raised as sensor-tamper. The
  benign control, a real answer from the named resolver, opens the address
  for that job only: another job of the same policy is still refused.
- Sockets the hooks never see (scenario A16): ICMP echo, raw IP and AF_PACKET
  sockets reported (monitor, with their destination and bytes) or refused
  (enforce); a job's TCP, UDP, AF_UNIX and netlink sockets stay quiet.
"""
import json
import os
import random
import shutil
import socket
import struct
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon, Listener  # noqa: E402

PY = "/usr/bin/python3"
LOST = 0x8000  # the test resolver drops queries whose id has this bit: the forgery is the only answer


def wire(name):
    return b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0"


def answer_bytes(qid, name, addrs, ttl=30, rcode=0):
    q = wire(name) + struct.pack(">HH", 1, 1)
    rr = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(a) for a in addrs)
    return struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(addrs), 0, 0) + q + rr


class LoopbackResolver:
    """A resolver on 127.0.0.1:PORT (UDP), the one the policy names. It sets
    SO_REUSEPORT, as resolvers that scale over sockets do, so a root job can
    bind the same address:port: the closest a job comes to sending from the
    resolver itself. Queries with the LOST bit in their id are dropped."""

    def __init__(self, table):
        self.table = table
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                msg, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            qid = struct.unpack(">H", msg[:2])[0]
            if qid & LOST:
                continue
            off, labels = 12, []
            while msg[off]:
                labels.append(msg[off + 1:off + 1 + msg[off]].decode())
                off += msg[off] + 1
            name = ".".join(labels)
            addrs = self.table.get(name)
            self.sock.sendto(answer_bytes(qid, name, addrs or [], rcode=0 if addrs else 3), peer)

    def close(self):
        self.sock.close()


# The job side: a stub resolver on an unconnected UDP socket (the answer may
# come from anywhere), the forger, and a connect.
JOB_DNS = r"""
import json, random, socket, struct, sys, time

def query(name, qid):
    return struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + wire(name) + struct.pack('>HH', 1, 1)

def wire(name):
    return b''.join(bytes([len(x)]) + x.encode() for x in name.split('.')) + b'\0'

def forged(qid, name, addr):
    return (struct.pack('>HHHHHH', qid, 0x8180, 1, 1, 0, 0) + wire(name) + struct.pack('>HH', 1, 1) +
            b'\xc0\x0c' + struct.pack('>HHIH', 1, 1, 30, 4) + socket.inet_aton(addr))

def first_a(msg):
    an = struct.unpack('>H', msg[6:8])[0]
    if not an:
        return None
    off = 12
    while msg[off]:
        off += msg[off] + 1
    off += 5 + 2 + 10
    return socket.inet_ntoa(msg[off:off + 4])

def ask(server, name, qid, forge=None):
    # forge: (bind address, reuseport, answer) sent by the job itself to its own socket
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    s.settimeout(5)
    s.sendto(query(name, qid), server)
    if forge:
        f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if forge[1]:
            f.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        f.bind(forge[0])
        f.sendto(forge[2], s.getsockname())
        f.close()
    msg = s.recv(4096)
    s.close()
    return first_a(msg)

def connect(addr, port):
    try:
        c = socket.create_connection((addr, port), timeout=5)
        c.sendall(b'x' * 10)
        c.close()
        return 0
    except OSError as e:
        return e.errno
"""


def net(events, job, op=None):
    return [e for e in events if e.get("kind") == "network" and e.get("job", {}).get("id") == job
            and (op is None or e["network"].get("op") == op)]


def alerts(events, job, rule=None):
    return [e for e in events
            if "rule" in e and e.get("job", {}).get("id") == job and (rule is None or e["rule"] == rule)]


class NetEvasionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.hub = Listener("127.0.0.2")    # what hub.fts-test really is
        cls.other = Listener("127.0.0.3")  # where the forgeries point
        cls.resolver = LoopbackResolver({"hub.fts-test": ["127.0.0.2"], "junk.fts-test": ["127.0.0.5"]})
        # The job talks to 127.0.0.1 (its resolver, its own sockets) and to its
        # own port-53 "resolver" 127.0.0.9; hub.fts-test only by a DNS answer.
        net_enf = (f'network:\n  egress: ["127.0.0.1/32", "127.0.0.9/32:53", "hub.fts-test:{cls.hub.port}"]\n'
                   f'  resolvers: ["127.0.0.1:{cls.resolver.port}"]\n')
        enf = cls.t.policy(name="enf", mode="enforce", extra=net_enf).replace("fts-kt-launcher", "fts-kt-launcher-enf")
        mon = cls.t.policy(name="mon", extra=f'network:\n  egress: ["127.0.0.1/32", "127.0.0.2/32:{cls.hub.port}"]\n')
        cls.pin = f"/sys/fs/bpf/fts-kt-evnet-{os.getpid()}-{random.randint(0, 1 << 30)}"
        cls.netns = f"fts-kt-evnet-{os.getpid()}-{random.randint(0, 9999)}"
        try:
            # ICMP echo sockets need ping_group_range to include the caller's
            # group; the host's is left alone: the jobs ping inside a netns of ours.
            for c in (["ip", "netns", "add", cls.netns],
                      ["ip", "netns", "exec", cls.netns, "ip", "link", "set", "lo", "up"],
                      ["ip", "netns", "exec", cls.netns, "sysctl", "-qw", "net.ipv4.ping_group_range=0 0"]):
                subprocess.run(c, check=True, capture_output=True)
            cls.d = Daemon({"enf.yaml": enf, "mon.yaml": mon},
                           extra_config=f"sensor: {{ pin: true, pin_dir: {cls.pin} }}\n").start()
        except BaseException:
            subprocess.run(["ip", "netns", "del", cls.netns], capture_output=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.pin, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", cls.netns], capture_output=True)
        for s in (cls.hub, cls.other, cls.resolver):
            s.close()
        cls.t.cleanup()

    def job(self, policy, code, *args, netns=False, check=True):
        run = ["run", "--policy", policy, "--", PY, "-c", code, *args]
        if netns:  # the CLI enters the netns: `ip netns exec` itself is no part of the job
            r = subprocess.run(["ip", "netns", "exec", self.netns, harness.CLI, "--socket", self.d.socket, *run],
                               capture_output=True, text=True, timeout=120)
        else:
            r = self.d.cli(*run, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"job failed: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stderr.split("job ")[1].split()[0], r.stdout

    def dns_allowed(self):
        """The kernel's dns_allowed map: [(job id as the events print it, address)]."""
        r = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", os.path.join(self.pin, "dns_allowed")],
                           capture_output=True, text=True, check=True)
        out = []
        for e in json.loads(r.stdout):
            k = e["formatted"]["key"]
            out.append((f'{k["job_id"]:016x}', socket.inet_ntoa(bytes(k["addr"])[12:])))
        return out

    # --- forged DNS answers ---

    def test_a15_forged_answers_allow_nothing_and_are_raised(self):
        r = self.resolver.port
        code = JOB_DNS + f"""
R = ('127.0.0.1', {r})
hub_port, other_port = int(sys.argv[1]), int(sys.argv[2])
res = {{}}
# the control: a real answer from the named resolver
res['real'] = ask(R, 'hub.fts-test', 0x1234)
res['real_connect'] = connect(res['real'], hub_port)
# 1. the resolver's address, another port
res['other_port'] = ask(R, 'hub.fts-test', {LOST | 0x101},
                        (('127.0.0.1', 0), False, forged({LOST | 0x101}, 'hub.fts-test', '127.0.0.3')))
# 2. the resolver's own address:port, a wrong id
res['wrong_id'] = ask(R, 'hub.fts-test', {LOST | 0x202},
                      (R, True, forged({LOST | 0x203}, 'hub.fts-test', '127.0.0.3')))
# 3. the resolver's own address:port, the right id, another question
res['wrong_question'] = ask(R, 'junk.fts-test', {LOST | 0x303},
                            (R, True, forged({LOST | 0x303}, 'hub.fts-test', '127.0.0.3')))
# 4. a resolver of the job's own, on port 53, asked: it answers what it likes
fake = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
fake.bind(('127.0.0.9', 53))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(query('hub.fts-test', 0x404), ('127.0.0.9', 53))
q, peer = fake.recvfrom(4096)
fake.sendto(forged(0x404, 'hub.fts-test', '127.0.0.3'), peer)
res['own_resolver'] = first_a(s.recv(4096))
res['forged_connect'] = connect('127.0.0.3', other_port)
print(json.dumps(res), flush=True)
"""
        job, out = self.job("enf", code, str(self.hub.port), str(self.other.port))
        res = json.loads(out)
        # Every forgery reached the socket (the kernel reads answers, it does
        # not drop them) and none opened its address: the connect got EPERM.
        self.assertEqual(res, {"real": "127.0.0.2", "real_connect": 0, "other_port": "127.0.0.3",
                               "wrong_id": "127.0.0.3", "wrong_question": "127.0.0.3", "own_resolver": "127.0.0.3",
                               "forged_connect": 1})
        tamper = self.d.wait_for(lambda evs: (lambda a: a if len(a) >= 4 else None)(
            alerts(evs, job, "sensor-tamper")), what="four sensor-tamper alerts")
        blocked = self.d.wait_for(lambda evs: [a for a in alerts(evs, job, "egress-not-allowed")
                                               if a["network"]["daddr"] == "127.0.0.3"] or None,
                                  what="the forged address refused")
        self.assertEqual(blocked[0]["action"], "blocked")
        evs = self.d.sync()
        answers = [e["network"] for e in net(evs, job, "dns_answer") if e["network"]["dns"] == "hub.fts-test"
                   or e["network"].get("dns_unmatched")]
        by_id = {a["dns_id"]: a for a in answers}
        real = by_id[0x1234]
        self.assertEqual((real.get("dns_allowed"), real.get("dns_unmatched", False), real.get("dns_untrusted", False),
                          real["daddr"], real["dport"]), (True, False, False, "127.0.0.1", self.resolver.port))
        self.assertTrue(real["dns_egress_name"])
        forged = {i: by_id[i] for i in (LOST | 0x101, LOST | 0x203, LOST | 0x303, 0x404)}
        for a in forged.values():
            self.assertFalse(a.get("dns_allowed", False), a)
            self.assertEqual(a["dns_answers"], [{"address": "127.0.0.3", "ttl": 30}], a)
        self.assertTrue(forged[LOST | 0x101]["dns_unmatched"])
        self.assertNotEqual(forged[LOST | 0x101]["dport"], self.resolver.port)  # from the other port
        self.assertTrue(forged[LOST | 0x203]["dns_unmatched"])
        self.assertEqual(forged[LOST | 0x203]["dport"], self.resolver.port)  # from the resolver's own address:port
        self.assertTrue(forged[LOST | 0x303]["dns_unmatched"])
        self.assertEqual((forged[0x404].get("dns_unmatched", False), forged[0x404]["dns_untrusted"],
                          forged[0x404]["daddr"], forged[0x404]["dport"]), (False, True, "127.0.0.9", 53))
        self.assertEqual(sorted((a["network"]["daddr"], a["network"]["dport"]) for a in tamper),
                         sorted([("127.0.0.1", forged[LOST | 0x101]["dport"]), ("127.0.0.1", self.resolver.port),
                                 ("127.0.0.1", self.resolver.port), ("127.0.0.9", 53)]))
        for a in tamper:
            self.assertEqual((a["severity"], a["network"]["dns"], a["mitre"]["attack"]),
                             ("high", "hub.fts-test", ["T1562.001"]))
            self.assertIn("not believed", a["message"])
        # The control raised nothing and its address is the only one allowed, to this job only.
        self.assertEqual(len(alerts(evs, job, "sensor-tamper")), 4)
        self.assertEqual([x for x in self.dns_allowed() if x[0] == job], [(job, "127.0.0.2")])
        self.assertNotIn("127.0.0.3", [a for _, a in self.dns_allowed()])

    def test_an_answer_opens_the_address_for_the_job_that_asked_only(self):
        code_a = JOB_DNS + f"""
hub_port = int(sys.argv[1])
addr = ask(('127.0.0.1', {self.resolver.port}), 'hub.fts-test', 0x5151)
print(json.dumps({{'addr': addr, 'connect': connect(addr, hub_port)}}))
"""
        job_a, out_a = self.job("enf", code_a, str(self.hub.port))
        self.assertEqual(json.loads(out_a), {"addr": "127.0.0.2", "connect": 0})
        self.assertIn((job_a, "127.0.0.2"), self.dns_allowed())  # still valid (TTL 30 s) while B runs
        # Job B, same policy, never asked: A's answer is not B's.
        job_b, out_b = self.job("enf", JOB_DNS + "print(connect('127.0.0.2', int(sys.argv[1])))", str(self.hub.port))
        self.assertEqual(out_b.strip(), "1")  # EPERM
        self.assertIn((job_a, "127.0.0.2"), self.dns_allowed())
        al = self.d.wait_for(lambda evs: alerts(evs, job_b, "egress-not-allowed") or None, what="B refused")
        self.assertEqual((al[0]["action"], al[0]["network"]["daddr"], al[0]["network"]["dport"]),
                         ("blocked", "127.0.0.2", self.hub.port))
        evs = self.d.sync()
        # After the barrier: every record of both jobs went through the daemon; A's entry is the control.
        allowed = self.dns_allowed()
        self.assertIn((job_a, "127.0.0.2"), allowed)
        self.assertNotIn(job_b, [j for j, _ in allowed])
        conn_a = [e["network"] for e in net(evs, job_a, "connect") if e["network"]["dport"] == self.hub.port]
        self.assertEqual([(n["action"], n["allowed_by_dns"], n["dns"]) for n in conn_a],
                         [("allowed", True, "hub.fts-test")])
        self.assertEqual(alerts(evs, job_a), [])

    # --- sockets the hooks never see ---

    def socket_events(self, evs, job):
        return [e["network"] for e in net(evs, job, "socket")]

    def test_a16_monitor_reports_icmp_raw_and_packet_sockets_with_destination_and_bytes(self):
        code = SOCKETS + """
payload = open(sys.argv[1], 'rb').read()[:1000]
res = {'icmp': icmp_echo('127.0.0.4', payload), 'raw': raw_send('127.0.0.5', payload[:500]),
       'packet': packet_socket()}
print(json.dumps(res), flush=True)
"""
        job, out = self.job("mon", code, self.t.shards[0], netns=True)
        self.assertEqual(json.loads(out), {"icmp": 8 + 1000, "raw": 500, "packet": "open"})
        flows = self.d.wait_for(lambda evs: (lambda f: f if len(f) >= 2 else None)(
            [e["network"] for e in net(evs, job, "flow")]), what="the ICMP and raw flows")
        evs = self.d.sync()
        made = sorted((k["family"], k["socket_type"], k["protocol"], k["action"]) for k in self.socket_events(evs, job))
        self.assertEqual(made, [("inet", "dgram", "icmp", "allowed"), ("inet", "raw", "ip_253", "allowed"),
                                ("packet", "raw", str(0x0300), "allowed")])
        sends = sorted((n["daddr"], n["protocol"], n["verdict"]) for n in net_ops(evs, job, "sendmsg"))
        self.assertEqual(sends, [("127.0.0.4", "icmp", "not_allowed"), ("127.0.0.5", "ip_253", "not_allowed")])
        self.assertEqual(sorted((f["daddr"], f["protocol"], int(f["bytes"])) for f in flows),
                         [("127.0.0.4", "icmp", 1008), ("127.0.0.5", "ip_253", 500)])
        rules = sorted((a["rule"], a["action"], a.get("network", {}).get("daddr", "")) for a in alerts(evs, job))
        self.assertEqual(rules, [("egress-not-allowed", "alerted", "127.0.0.4"),
                                 ("egress-not-allowed", "alerted", "127.0.0.5"),
                                 ("exfil-chain", "alerted", "127.0.0.4"), ("exfil-chain", "alerted", "127.0.0.5"),
                                 ("sensor-tamper", "alerted", ""), ("sensor-tamper", "alerted", ""),
                                 ("sensor-tamper", "alerted", "")])

    def test_a16_enforce_refuses_icmp_raw_and_packet_sockets(self):
        code = SOCKETS + """
res = {}
for name, f in (('icmp', lambda: icmp_echo('127.0.0.4', b'x' * 64)), ('raw', lambda: raw_send('127.0.0.5', b'y' * 64))):
    try:
        res[name] = f()
    except OSError as e:
        res[name] = e.errno
child = subprocess.run([sys.executable, '-c', SOCKETS + 'print(packet_socket())'], capture_output=True, text=True)
res['packet'] = [child.returncode, child.stdout]
print(json.dumps(res), flush=True)
"""
        job, out = self.job("enf", code, netns=True)
        self.assertEqual(json.loads(out), {"icmp": 1, "raw": 1, "packet": [-9, ""]})  # EPERM, EPERM, SIGKILL
        tamper = self.d.wait_for(lambda evs: (lambda a: a if len(a) >= 3 else None)(
            alerts(evs, job, "sensor-tamper")), what="three sensor-tamper alerts")
        evs = self.d.sync()
        made = sorted((k["family"], k["socket_type"], k["action"], k.get("killed", False))
                      for k in self.socket_events(evs, job))
        self.assertEqual(made, [("inet", "dgram", "blocked", False), ("inet", "raw", "blocked", False),
                                ("packet", "raw", "blocked", True)])
        self.assertEqual(sorted(a["action"] for a in tamper), ["blocked"] * 3)
        self.assertEqual([e for e in net(evs, job) if e["network"]["op"] in ("sendmsg", "flow")], [])

    def test_ordinary_sockets_are_not_reported(self):
        quiet = Listener("127.0.0.1")
        self.addCleanup(quiet.close)
        code = SOCKETS + """
port, netns = int(sys.argv[1]), sys.argv[2]
c = socket.create_connection(('127.0.0.1', port), timeout=5)
c.sendall(b'q' * 100)
c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'u' * 10, ('127.0.0.1', port))
u.close()
socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
a, b = socket.socketpair()
a.sendall(b'p')
b.recv(1)
a.close(); b.close()
print(len(netlink_links()) > 0, flush=True)
if netns != '-':  # the positive control, last: one ICMP echo socket
    subprocess.run(['ip', 'netns', 'exec', netns, sys.executable, '-c',
                    SOCKETS + "icmp_echo('127.0.0.4', b'c' * 8)"], check=True)
"""
        job_e, out_e = self.job("enf", code, str(quiet.port), "-")
        job_m, out_m = self.job("mon", code, str(quiet.port), self.netns)
        self.assertEqual((out_e.strip(), out_m.strip()), ("True", "True"))
        self.d.wait_for(lambda evs: self.socket_events(evs, job_m) or None, what="the control's ICMP socket")
        evs = self.d.sync()
        self.assertEqual(self.socket_events(evs, job_e), [])
        self.assertEqual([(k["family"], k["protocol"]) for k in self.socket_events(evs, job_m)], [("inet", "icmp")])
        self.assertEqual(alerts(evs, job_e, "sensor-tamper"), [])
        self.assertEqual(len(alerts(evs, job_m, "sensor-tamper")), 1)
        conn = [n for n in net_ops(evs, job_e, "connect") if n["dport"] == quiet.port]
        self.assertEqual([n["action"] for n in conn], ["allowed"])  # TCP as ever


def net_ops(events, job, op):
    return [e["network"] for e in net(events, job, op)]


# What the socket tests' jobs run (and hand on to their children as SOCKETS).
SOCKETS = r"""
import json, socket, struct, subprocess, sys

def icmp_echo(dst, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    s.settimeout(5)
    msg = struct.pack('>BBHHH', 8, 0, 0, 0, 1) + payload
    n = s.sendto(msg, (dst, 0))
    s.recv(65536)  # the echo reply: loopback answers
    s.close()
    return n

def raw_send(dst, payload):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)  # RFC 3692 experimental protocol
    n = s.sendto(payload, (dst, 0))
    s.close()
    return n

def packet_socket():
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    s.close()
    return 'open'

def netlink_links():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE, as getifaddrs does
    s.bind((0, 0))
    s.send(struct.pack('=IHHII', 32, 18, 0x301, 1, 0) + b'\0' * 16)  # RTM_GETLINK dump
    data = s.recv(65536)
    s.close()
    return data
"""
SOCKETS += f"SOCKETS = {SOCKETS!r}\n"

if __name__ == "__main__":
    harness.main()
