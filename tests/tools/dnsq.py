#!/usr/bin/python3
"""dnsq.py - one DNS query over UDP, standard library only.

    dnsq.py SERVER[:PORT] NAME TYPE      (TYPE: A, AAAA, SRV)

Prints "rcode=NAME answers=N" and then one line per answer:
    A 127.0.0.1 | AAAA ::1 | SRV PRIO WEIGHT PORT TARGET
The test harness uses it to check that its loopback DNS server answers
what the test expects before any XMPP server depends on it. Exit status:
0 on any answer (including NXDOMAIN), 1 on timeout or a malformed reply,
2 on bad usage.
"""
import os
import random
import socket
import struct
import sys

TYPES = {"A": 1, "AAAA": 28, "SRV": 33}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def read_name(msg, off):
    labels = []
    jumps = 0
    end = None
    while True:
        if off >= len(msg):
            raise ValueError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if jumps > 20:
                raise ValueError("compression loop")
            ptr = ((n & 0x3F) << 8) | msg[off + 1]
            if end is None:
                end = off + 2
            off = ptr
            jumps += 1
            continue
        if n == 0:
            off += 1
            break
        labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels) + ".", (end if end is not None else off)


def main():
    if len(sys.argv) != 4 or sys.argv[3].upper() not in TYPES:
        sys.stderr.write("usage: dnsq.py SERVER[:PORT] NAME A|AAAA|SRV\n")
        return 2
    server, name, qtype = sys.argv[1], sys.argv[2], TYPES[sys.argv[3].upper()]
    host, _, port = server.partition(":")
    port = int(port) if port else 53
    qid = random.randrange(65536)
    query = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(
        ">HH", qtype, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(float(os.environ.get("DNSQ_TIMEOUT", "2")))
    sock.sendto(query, (host, port))
    try:
        msg, _ = sock.recvfrom(4096)
    except socket.timeout:
        print("timeout")
        return 1
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid:
        print("mismatched id")
        return 1
    off = 12
    for _ in range(qd):
        _, off = read_name(msg, off)
        off += 4
    rcode = flags & 0xF
    print("rcode=%s answers=%d" % (RCODES.get(rcode, str(rcode)), an))
    for _ in range(an):
        _, off = read_name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == 1:
            print("A " + socket.inet_ntop(socket.AF_INET, rdata))
        elif rtype == 28:
            print("AAAA " + socket.inet_ntop(socket.AF_INET6, rdata))
        elif rtype == 33:
            prio, weight, sport = struct.unpack(">HHH", rdata[:6])
            target, _ = read_name(msg, off + 6)
            print("SRV %d %d %d %s" % (prio, weight, sport, target))
        off += rdlen
    return 0


if __name__ == "__main__":
    sys.exit(main())
