#!/usr/bin/python3
"""badsip.py - malformed SIP for xgw-sipd's robustness test (ROB-08..11).

Usage: badsip.py HOST PORT [CASE...]

Sends each case (all of them when none is named) to HOST:PORT and prints
one line per case: "CASE STATUS", STATUS being the status code of the
response that came back within a second, or "none" when nothing came
back (dropped) or the TCP connection was closed without a response. The
expected outcome of each case is checked by the calling test, not here.
"""
import socket
import sys
import uuid

FROM = "<sip:alice@example.net>;tag=bad1"
TO = "<sip:bob@partner.example>"


def request(method="MESSAGE", ruri="sip:bob@partner.example", headers=None, body=b"hello",
            content_length=None, drop=(), transport="UDP", port=0):
    """A request with every mandatory header, less those in drop, plus headers."""
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    call_id = uuid.uuid4().hex + "@127.0.0.1"
    lines = [f"{method} {ruri} SIP/2.0"]
    std = [
        ("Via", f"SIP/2.0/{transport} 127.0.0.1:{port};branch={branch}"),
        ("From", FROM),
        ("To", TO),
        ("Call-ID", call_id),
        ("CSeq", f"1 {method}"),
        ("Max-Forwards", "70"),
    ]
    if method == "MESSAGE":
        std.append(("Content-Type", "text/plain"))
    for name, value in std:
        if name not in drop:
            lines.append(f"{name}: {value}")
    for name, value in headers or []:
        lines.append(f"{name}: {value}")
    if "Content-Length" not in drop:
        cl = len(body) if content_length is None else content_length
        lines.append(f"Content-Length: {cl}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def udp_case(host, port, build):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.0)
    data = build(s.getsockname()[1])
    s.sendto(data, (host, port))
    status = "none"
    try:
        while True:
            reply, _ = s.recvfrom(65535)
            first = reply.split(b"\r\n", 1)[0].decode(errors="replace")
            parts = first.split(" ")
            if first.startswith("SIP/2.0 ") and len(parts) > 1:
                code = parts[1]
                if code.startswith("1"):
                    continue  # 100 Trying: wait for the final one
                status = code
                break
    except socket.timeout:
        pass
    s.close()
    return status


def multi_case(host, port, builds, gap=0.05, wait=1.5):
    """Sends several datagrams from one socket; returns the final statuses
    received (in order), comma-separated, or "none"."""
    import time
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lport = s.getsockname()[1]
    for data in builds(lport):
        s.sendto(data, (host, port))
        time.sleep(gap)
    got = []
    deadline = time.time() + wait
    while time.time() < deadline:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            reply, _ = s.recvfrom(65535)
        except socket.timeout:
            break
        first = reply.split(b"\r\n", 1)[0].decode(errors="replace")
        parts = first.split(" ")
        if first.startswith("SIP/2.0 ") and len(parts) > 1 and not parts[1].startswith("1"):
            got.append(parts[1])
    s.close()
    return ",".join(got) or "none"


def retransmit3(lport):
    """One MESSAGE sent three times (ROB-09): one stanza, three answers."""
    data = request(port=lport, body=b"retransmitted once")
    return [data, data, data]


def merged(lport):
    """Two copies of one request with different branches (ROB-09): 482."""
    a = request(port=lport, body=b"merged copy")
    head, body = a.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    via = [i for i, l in enumerate(lines) if l.startswith(b"Via:")][0]
    b_lines = list(lines)
    b_lines[via] = lines[via].rsplit(b"branch=", 1)[0] + b"branch=z9hG4bKothercopy" + uuid.uuid4().hex[:8].encode()
    return [a, b"\r\n".join(b_lines) + b"\r\n\r\n" + body]


def tcp_case(host, port, build):
    s = socket.create_connection((host, port), timeout=2.0)
    data = build(s.getsockname()[1])
    status = "none"
    try:
        s.sendall(data)
        buf = b""
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        first = buf.split(b"\r\n", 1)[0].decode(errors="replace")
        if first.startswith("SIP/2.0 "):
            status = first.split(" ")[1]
    except (socket.timeout, ConnectionResetError, BrokenPipeError):
        pass
    s.close()
    return status


def cases():
    big = "x" * (100 * 1024)
    return {
        # name: (transport, builder(local_port) -> bytes)
        "truncated": ("udp", lambda p: request(port=p)[:60]),
        "short_body": ("udp", lambda p: request(port=p, body=b"abc", content_length=50)),
        "negative_length": ("udp", lambda p: request(port=p, content_length=-5)),
        "alpha_length": ("udp", lambda p: request(port=p, content_length="abc")),
        "huge_length": ("udp", lambda p: request(port=p, content_length=99999999999)),
        "two_from": ("udp", lambda p: request(port=p, headers=[("From", "<sip:eve@example.net>;tag=x")])),
        "two_call_id": ("udp", lambda p: request(port=p, headers=[("Call-ID", "second@x")])),
        "two_cseq": ("udp", lambda p: request(port=p, headers=[("CSeq", "7 MESSAGE")])),
        "no_via": ("udp", lambda p: request(port=p, drop=("Via",))),
        "no_call_id": ("udp", lambda p: request(port=p, drop=("Call-ID",))),
        "no_cseq": ("udp", lambda p: request(port=p, drop=("CSeq",))),
        "no_from": ("udp", lambda p: request(port=p, drop=("From",))),
        "bad_cseq_method": ("udp", lambda p: request(port=p, drop=("CSeq",), headers=[("CSeq", "1 INVITE")])),
        "garbage": ("udp", lambda p: bytes(range(256)) * 4),
        "bad_request_line": ("udp", lambda p: b"MESSAGE\r\n\r\n"),
        "unknown_method": ("udp", lambda p: request(method="FOO", port=p, body=b"")),
        "invite": ("udp", lambda p: request(method="INVITE", port=p, body=b"")),
        "require_unknown": ("udp", lambda p: request(port=p, headers=[("Require", "x-nonsense")])),
        "max_forwards_zero": ("udp", lambda p: request(port=p, drop=("Max-Forwards",),
                                                       headers=[("Max-Forwards", "0")])),
        "big_udp_header": ("udp", lambda p: request(port=p, headers=[("X-Big", "y" * 60000)])),
        "huge_tcp_header": ("tcp", lambda p: request(port=p, transport="TCP", headers=[("X-Big", big)])),
        "tcp_no_length": ("tcp", lambda p: request(port=p, transport="TCP", drop=("Content-Length",))),
        "retransmit3": ("multi", retransmit3),
        "merged": ("multi", merged),
    }


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    host, port = sys.argv[1], int(sys.argv[2])
    table = cases()
    names = sys.argv[3:] or list(table)
    for name in names:
        kind, build = table[name]
        try:
            if kind == "udp":
                status = udp_case(host, port, build)
            elif kind == "tcp":
                status = tcp_case(host, port, build)
            else:
                status = multi_case(host, port, build)
        except OSError as e:
            status = "error:" + type(e).__name__
        print(f"{name} {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
