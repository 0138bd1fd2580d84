#!/usr/bin/python3
"""xmpp_c2s.py - a minimal XMPP client (c2s) for the interop tests.

Standard library only. Plain TCP on loopback, SASL PLAIN (the test Prosody
runs with c2s_require_encryption = false and allow_unencrypted_plain_auth),
resource binding; then it runs the steps given on the command line in order:

    presence                      initial presence (so the server routes to us)
    message TO BODY               <message type='chat'>
    dpresence TO [SHOW]           directed available presence
    expect-message FROM BODY SECS wait for a message from FROM (bare JID or
                                  domain) whose body is BODY
    expect-presence FROM SECS     wait for an available presence from FROM
    expect-nothing FROM SECS      nothing from FROM may arrive for SECS
    wait SECS                     keep reading for SECS

Every stanza received is printed as one line ("recv message from=.. to=..
type=.. body=..."), so a failing test shows what did arrive. Stanzas that
arrived before an expect step count for it.

    xmpp_c2s.py --server HOST:PORT --jid USER@DOMAIN --password PW
                [--resource R] [--ready FILE] [--timeout SECS] STEP...

--ready FILE is created once the session is up (a test starts a receiver
in the background and waits for the file before it sends). Exit status 0
when every step succeeded, 1 otherwise (the reason on stderr), 2 on bad
usage.
"""
import argparse
import base64
import os
import socket
import sys
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"


class Failure(Exception):
    pass


def bare(jid):
    return jid.split("/", 1)[0]


def jid_matches(pattern, jid):
    """pattern: a bare JID, a full JID or a domain."""
    if "/" in pattern:
        return jid == pattern
    if "@" in pattern:
        return bare(jid) == pattern
    return bare(jid).split("@")[-1] == pattern


class Client:
    def __init__(self, host, port, jid, password, resource, timeout):
        self.addr = (host, port)
        self.user, _, self.domain = jid.partition("@")
        if not self.user or not self.domain:
            raise Failure("--jid must be USER@DOMAIN")
        self.password = password
        self.resource = resource
        self.timeout = timeout
        self.sock = None
        self.parser = None
        self.depth = 0
        self.pending = []  # complete top-level elements not consumed yet
        self.seen = []  # received stanzas (ElementTree elements)
        self.full_jid = None
        self.next_id = 0

    # -- transport ---------------------------------------------------------
    def send(self, text):
        self.sock.sendall(text.encode("utf-8"))

    def new_stream(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to=%s version='1.0'>" %
                  quoteattr(self.domain))

    def pump(self, deadline):
        """Reads once (until deadline); queues complete top-level elements."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise Failure("server closed the connection")
        self.parser.feed(data)
        for ev, el in self.parser.read_events():
            if ev == "start":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.pending.append(el)
        return True

    def next_element(self, deadline, what):
        while not self.pending:
            if not self.pump(deadline):
                raise Failure("timed out waiting for " + what)
        el = self.pending.pop(0)
        if el.tag == "{%s}error" % NS_STREAM:
            conds = [c.tag.split("}")[-1] for c in el]
            raise Failure("stream error: " + ",".join(conds))
        return el

    # -- session -----------------------------------------------------------
    def connect(self):
        deadline = time.monotonic() + self.timeout
        self.sock = socket.create_connection(self.addr, timeout=self.timeout)
        self.new_stream()
        feats = self.next_element(deadline, "stream features")
        mechs = [m.text for m in feats.iter("{%s}mechanism" % NS_SASL)]
        if "PLAIN" not in mechs:
            raise Failure("server offers no SASL PLAIN (offered: %s)" % mechs)
        token = base64.b64encode(("\0%s\0%s" % (self.user, self.password)).encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (NS_SASL, token))
        res = self.next_element(deadline, "SASL result")
        if res.tag != "{%s}success" % NS_SASL:
            raise Failure("SASL PLAIN refused: " + ET.tostring(res, encoding="unicode"))
        self.new_stream()
        feats = self.next_element(deadline, "stream features after SASL")
        self.send("<iq type='set' id='bind1'><bind xmlns='%s'><resource>%s</resource></bind></iq>" %
                  (NS_BIND, escape(self.resource)))
        res = self.wait_iq("bind1", deadline)
        jid = res.find("{%s}bind/{%s}jid" % (NS_BIND, NS_BIND))
        if jid is None:
            raise Failure("bind result without a JID")
        self.full_jid = jid.text
        sess = feats.find("{%s}session" % NS_SESSION)
        if sess is not None and sess.find("{%s}optional" % NS_SESSION) is None:
            self.send("<iq type='set' id='sess1'><session xmlns='%s'/></iq>" % NS_SESSION)
            self.wait_iq("sess1", deadline)

    def wait_iq(self, iq_id, deadline):
        while True:
            el = self.next_element(deadline, "iq " + iq_id)
            if el.tag == "{%s}iq" % NS_CLIENT and el.get("id") == iq_id:
                if el.get("type") != "result":
                    raise Failure("iq %s failed: %s" % (iq_id, ET.tostring(el, encoding="unicode")))
                return el
            self.record(el)

    # -- stanzas -----------------------------------------------------------
    def record(self, el):
        kind = el.tag.split("}")[-1]
        body = el.findtext("{%s}body" % NS_CLIENT)
        err = el.find("{%s}error" % NS_CLIENT)
        line = "recv %s from=%s to=%s type=%s" % (kind, el.get("from"), el.get("to"), el.get("type"))
        if body is not None:
            line += " body=%s" % body
        if err is not None:
            line += " error=%s" % ",".join(c.tag.split("}")[-1] for c in err)
        print(line, flush=True)
        self.seen.append(el)
        # Answer pings and disco so a peer that probes us is not left waiting.
        if kind == "iq" and el.get("type") in ("get", "set"):
            self.send("<iq type='error' id=%s to=%s><error type='cancel'><service-unavailable "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" %
                      (quoteattr(el.get("id") or ""), quoteattr(el.get("from") or self.domain)))

    def drain(self, deadline):
        while True:
            while self.pending:
                el = self.pending.pop(0)
                if el.tag == "{%s}error" % NS_STREAM:
                    raise Failure("stream error: " + ",".join(c.tag.split("}")[-1] for c in el))
                self.record(el)
            if time.monotonic() >= deadline or not self.pump(deadline):
                return

    def wait_for(self, pred, secs, what):
        deadline = time.monotonic() + secs
        while True:
            for el in self.seen:
                if pred(el):
                    self.seen.remove(el)
                    return el
            while self.pending:
                el = self.pending.pop(0)
                if el.tag == "{%s}error" % NS_STREAM:
                    raise Failure("stream error: " + ",".join(c.tag.split("}")[-1] for c in el))
                self.record(el)
                if pred(el):
                    self.seen.remove(el)
                    return el
            if not self.pump(deadline):
                raise Failure("no %s within %s s" % (what, secs))

    def step(self, args):
        cmd = args[0]
        if cmd == "presence":
            self.send("<presence/>")
        elif cmd == "message":
            self.next_id += 1
            self.send("<message type='chat' to=%s id='m%d'><body>%s</body></message>" %
                      (quoteattr(args[1]), self.next_id, escape(args[2])))
        elif cmd == "dpresence":
            show = "<show>%s</show>" % escape(args[2]) if len(args) > 2 else ""
            self.send("<presence to=%s>%s</presence>" % (quoteattr(args[1]), show))
        elif cmd == "expect-message":
            frm, body, secs = args[1], args[2], float(args[3])

            def pred(el):
                return (el.tag == "{%s}message" % NS_CLIENT and el.get("type") != "error" and
                        jid_matches(frm, el.get("from") or "") and
                        el.findtext("{%s}body" % NS_CLIENT) == body)

            self.wait_for(pred, secs, "message from %s with body %r" % (frm, body))
            print("got message from %s" % frm, flush=True)
        elif cmd == "expect-presence":
            frm, secs = args[1], float(args[2])

            def pred(el):
                return (el.tag == "{%s}presence" % NS_CLIENT and el.get("type") is None and
                        jid_matches(frm, el.get("from") or ""))

            self.wait_for(pred, secs, "available presence from %s" % frm)
            print("got presence from %s" % frm, flush=True)
        elif cmd == "expect-nothing":
            frm, secs = args[1], float(args[2])
            self.drain(time.monotonic() + secs)
            got = [el for el in self.seen if jid_matches(frm, el.get("from") or "")]
            if got:
                raise Failure("unexpected stanza from %s: %s" %
                              (frm, ET.tostring(got[0], encoding="unicode")))
        elif cmd == "wait":
            self.drain(time.monotonic() + float(args[1]))
        else:
            raise Failure("unknown step " + cmd)

    def close(self):
        if self.sock is None:
            return
        try:
            self.send("</stream:stream>")
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.sock.close()


ARITY = {"presence": 0, "message": 2, "dpresence": (1, 2), "expect-message": 3,
         "expect-presence": 2, "expect-nothing": 2, "wait": 1}


def parse_steps(words):
    """One step per argument; a body is the rest of the words (message) or
    the words between FROM and SECS (expect-message)."""
    steps = []
    for w in words:
        cmd = w.split(" ", 1)[0]
        try:
            if cmd == "message":
                parts = w.split(" ", 2)
            elif cmd == "expect-message":
                _, frm, rest = w.split(" ", 2)
                body, secs = rest.rsplit(" ", 1)
                parts = [cmd, frm, body, secs]
            else:
                parts = w.split()
        except ValueError:
            raise Failure("step %r is missing arguments" % w)
        want = ARITY.get(cmd)
        if want is None:
            raise Failure("unknown step %r" % w)
        lo, hi = want if isinstance(want, tuple) else (want, want)
        if not lo <= len(parts) - 1 <= hi:
            raise Failure("step %r takes %s argument(s)" % (w, want))
        steps.append(parts)
    return steps


def main():
    ap = argparse.ArgumentParser(description="minimal XMPP c2s test client")
    ap.add_argument("--server", required=True, help="HOST:PORT")
    ap.add_argument("--jid", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--resource", default="test")
    ap.add_argument("--ready")
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("steps", nargs="*",
                    help="each step one argument, e.g. 'message b@pb.test hello'")
    a = ap.parse_args()
    try:
        steps = parse_steps(a.steps)
    except Failure as e:
        sys.stderr.write("xmpp_c2s: %s\n" % e)
        return 2
    host, _, port = a.server.rpartition(":")
    cl = Client(host, int(port), a.jid, a.password, a.resource, a.timeout)
    try:
        cl.connect()
        print("session %s" % cl.full_jid, flush=True)
        if a.ready:
            with open(a.ready + ".tmp", "w") as f:
                f.write(cl.full_jid + "\n")
            os.rename(a.ready + ".tmp", a.ready)
        for s in steps:
            cl.step(s)
    except (Failure, OSError, ET.ParseError) as e:
        sys.stderr.write("xmpp_c2s %s: %s\n" % (a.jid, e))
        return 1
    finally:
        cl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
