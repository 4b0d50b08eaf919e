"""A small authoritative DNS server for kernel tests, run inside a test
network namespace: UDP and TCP on ADDR:53, answers from a JSON table
{name: {"a": [addresses], "cname": target, "ttl": seconds}}; other names
get NXDOMAIN. Writes READY_FILE once listening. Standard library only."""
import json
import socket
import struct
import sys
import threading


def parse_question(msg):
    qid, flags, qd = struct.unpack(">HHH", msg[:6])
    labels, off = [], 12
    while msg[off]:
        n = msg[off]
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    qtype, qclass = struct.unpack(">HH", msg[off + 1:off + 5])
    return qid, flags, ".".join(labels), qtype, msg[12:off + 5]


def wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"


def answer(msg, table):
    qid, flags, name, qtype, question = parse_question(msg)
    entry = table.get(name.lower())
    rd = flags & 0x0100
    if entry is None:
        return struct.pack(">HHHHHH", qid, 0x8400 | rd | 3, 1, 0, 0, 0) + question
    ttl = entry.get("ttl", 30)
    records = []
    owner = b"\xc0\x0c"  # the question's name
    target = entry.get("cname")
    if target:
        t = wire(target)
        records.append(owner + struct.pack(">HHIH", 5, 1, ttl, len(t)) + t)
        owner = t
    for a in entry.get("a", []):
        if ":" in a:
            if qtype in (28, 255):
                records.append(owner + struct.pack(">HHIH", 28, 1, ttl, 16) + socket.inet_pton(socket.AF_INET6, a))
        elif qtype in (1, 255):
            records.append(owner + struct.pack(">HHIH", 1, 1, ttl, 4) + socket.inet_aton(a))
    return struct.pack(">HHHHHH", qid, 0x8400 | rd, 1, len(records), 0, 0) + question + b"".join(records)


def serve_udp(s, table):
    while True:
        msg, peer = s.recvfrom(4096)
        try:
            s.sendto(answer(msg, table), peer)
        except Exception as e:  # a malformed query: no answer
            print("udp:", e, file=sys.stderr)


def serve_tcp_conn(c, table):
    with c:
        while True:
            head = c.recv(2)
            if len(head) < 2:
                return
            n = struct.unpack(">H", head)[0]
            msg = b""
            while len(msg) < n:
                b = c.recv(n - len(msg))
                if not b:
                    return
                msg += b
            r = answer(msg, table)
            c.sendall(struct.pack(">H", len(r)) + r)


def main():
    addr, table_file, ready = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(table_file) as f:
        table = {k.lower(): v for k, v in json.load(f).items()}
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((addr, 53))
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((addr, 53))
    t.listen(16)
    threading.Thread(target=serve_udp, args=(u, table), daemon=True).start()
    with open(ready, "w") as f:
        f.write("ready")
    while True:
        c, _ = t.accept()
        threading.Thread(target=serve_tcp_conn, args=(c, table), daemon=True).start()


if __name__ == "__main__":
    main()
