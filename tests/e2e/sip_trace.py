#!/usr/bin/python3
"""sip_trace.py - reads the message trace of a sipp instance (-trace_msg
-message_file FILE) for the end-to-end tests.

  sip_trace.py match --file FILE [--wait SECS] [--count N] [--none]
                     [--dir received|sent|any] [--json] COND...

COND is one of
  start=TEXT | start~=REGEX      the start line ("MESSAGE sip:x SIP/2.0",
                                 "SIP/2.0 200 OK")
  method=NAME                    requests of that method
  status=CODE                    responses with that code
  H=TEXT | H~=REGEX              header H (case-insensitive name, compact
                                 forms expanded; the first occurrence)
  body=TEXT | body~=REGEX        the body (Content-Length bytes, UTF-8)
  no:H                           header H is absent

It waits until at least N messages match (default 1), then prints the last
match (--json: as JSON with start, headers, body, dir and ts) and exits 0; with
--none it exits 1 as soon as one matches and 0 after the wait. On failure the
last messages of the trace go to stderr.

  sip_trace.py show --file FILE [--dir ...] COND...   every match, as JSON lines
"""
import argparse
import json
import re
import sys
import time

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
           "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
           "v": "via", "o": "event", "u": "allow-events", "r": "refer-to"}

SEP = re.compile(rb"^-{20,} (\S+ \S+)\s*$")
KIND = re.compile(rb"^(\S+) message (received|sent)")


def parse(path):
    """The messages of a sipp trace: each entry is a separator line, a
    "UDP message received|sent" line, an empty line, the message exactly as
    on the wire, and one newline the trace adds."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    msgs = []
    lines = data.split(b"\n")
    starts = [i for i, l in enumerate(lines) if SEP.match(l)]
    for n, i in enumerate(starts):
        j = starts[n + 1] if n + 1 < len(starts) else len(lines)
        chunk = lines[i + 1:j]
        if len(chunk) < 3:
            continue
        k = KIND.match(chunk[0])
        if not k:
            continue
        wire = b"\n".join(chunk[2:])
        if n + 1 == len(starts):
            # The last entry may still be being written: only whole ones.
            if not wire.endswith(b"\n"):
                continue
            wire = wire[:-1]
        head, sep, body = wire.partition(b"\r\n\r\n")
        if not sep:
            continue
        hl = head.split(b"\r\n")
        headers = []
        for h in hl[1:]:
            if h[:1] in (b" ", b"\t") and headers:
                headers[-1] = (headers[-1][0],
                               headers[-1][1] + " " + h.strip().decode("utf-8", "replace"))
                continue
            name, _, value = h.decode("utf-8", "replace").partition(":")
            name = name.strip().lower()
            headers.append((COMPACT.get(name, name), value.strip()))
        msg = {"ts": SEP.match(lines[i]).group(1).decode(), "dir": k.group(2).decode(),
               "start": hl[0].decode("utf-8", "replace").strip(), "headers": headers}
        for hn, hv in headers:
            if hn == "content-length":
                try:
                    body = body[:int(hv)]
                except ValueError:
                    pass
        msg["body"] = body.decode("utf-8", "replace")
        msgs.append(msg)
    return msgs


def header(msg, name):
    name = COMPACT.get(name.lower(), name.lower())
    for n, v in msg["headers"]:
        if n == name:
            return v
    return None


def parse_conds(words):
    out = []
    for w in words:
        if w.startswith("no:"):
            out.append(("absent", w[3:], None))
            continue
        m = re.match(r"^([A-Za-z][A-Za-z0-9_-]*)(~?=)(.*)$", w, re.S)
        if not m:
            raise ValueError("bad condition %r" % w)
        out.append((m.group(2), m.group(1), m.group(3)))
    return out


def value_of(msg, field):
    f = field.lower()
    if f == "start":
        return msg["start"]
    if f == "body":
        return msg["body"]
    if f == "method":
        return None if msg["start"].startswith("SIP/2.0") else msg["start"].split(" ", 1)[0]
    if f == "status":
        return msg["start"].split(" ")[1] if msg["start"].startswith("SIP/2.0") else None
    return header(msg, f)


def matches(msg, conds, direction):
    if direction != "any" and msg["dir"] != direction:
        return False
    for op, field, want in conds:
        have = value_of(msg, field)
        if op == "absent":
            if have is not None:
                return False
            continue
        if have is None:
            return False
        if op == "~=":
            if not re.search(want, have):
                return False
        elif have != want:
            return False
    return True


def brief(msg):
    hs = "; ".join("%s: %s" % hv for hv in msg["headers"]
                   if hv[0] in ("from", "to", "call-id", "content-type", "event",
                                "subscription-state"))
    return "%s %s [%s] %r" % (msg["dir"], msg["start"], hs, msg["body"][:80])


def main():
    ap = argparse.ArgumentParser(description="sipp trace reader")
    sub = ap.add_subparsers(dest="sub", required=True)
    for name in ("match", "show"):
        p = sub.add_parser(name)
        p.add_argument("--file", required=True)
        p.add_argument("--dir", default="received", choices=("received", "sent", "any"))
        p.add_argument("conds", nargs="*")
        if name == "match":
            p.add_argument("--wait", type=float, default=0.0)
            p.add_argument("--count", type=int, default=1)
            p.add_argument("--none", action="store_true")
            p.add_argument("--json", action="store_true")
    a = ap.parse_args()
    try:
        conds = parse_conds(a.conds)
    except ValueError as e:
        sys.stderr.write("sip_trace: %s\n" % e)
        return 2
    if a.sub == "show":
        for m in parse(a.file):
            if matches(m, conds, a.dir):
                print(json.dumps(m, ensure_ascii=False))
        return 0
    deadline = time.monotonic() + a.wait
    while True:
        msgs = parse(a.file)
        hits = [m for m in msgs if matches(m, conds, a.dir)]
        if a.none and hits:
            sys.stderr.write("unexpected: %s\n" % brief(hits[0]))
            return 1
        if not a.none and len(hits) >= a.count:
            last = hits[-1]
            print(json.dumps(last, ensure_ascii=False) if a.json else brief(last))
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if a.none:
        return 0
    sys.stderr.write("no %d match(es) for %s in %s (%d found); last messages:\n" %
                     (a.count, " ".join(a.conds), a.file, len(hits)))
    for m in msgs[-4:]:
        sys.stderr.write("  %s\n" % brief(m))
    return 1


if __name__ == "__main__":
    sys.exit(main())
