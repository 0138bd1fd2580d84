#!/usr/bin/python3
"""xmpp_raw_peer.py - a scripted raw-socket XMPP s2s peer for hostile tests.

Standard library only (run it with /usr/bin/python3). It plays a remote
server, RAW (default raw.test), in two roles at once:

  the initiating side: it connects to the server under test (--connect),
    opens a stream from RAW to --to, optionally authenticates with dialback
    (and STARTTLS first with --starttls), then sends the payload of --case
    and watches what comes back: a stream error and its condition, the
    closing tag, the TCP close, and when each happened;
  RAW's own server (--listen IP:PORT): the server under test connects back
    to it to verify the dialback key (XEP-0220 authoritative server, it
    answers <db:verify> 'valid' only for keys this process issued), and may
    open its own stream to RAW (its dialback <db:result> is accepted, its
    stanzas are printed, <starttls/> gets <failure/>). With --listen alone
    (no --connect) it only serves, for --duration seconds: the DNS tests use
    it to see where the server under test connects.

Cases (--case):
  good               authenticate, send one message (--message-to), stay open
  stanza-before-auth a <message> right after the features, no authentication
  wrong-from         authenticate, then a message from a JID of another domain
                     (--spoof-domain)
  entity-bomb        a DOCTYPE with nested entity declarations ("billion
                     laughs") before the stream header
  entity-ref         authenticate, then a message whose body references an
                     undeclared entity (&lol9;)
  big-stanza         authenticate, then one message of --size bytes (default
                     10 MiB) written while the answer is read
  deep-nesting       authenticate, then a message with --depth (10000) nested
                     elements
  invalid-utf8       authenticate, then a body with the overlong form C0 AF
  utf8-surrogate     authenticate, then a body with a surrogate (ED A0 80)
  utf16-decl         a header with encoding='UTF-16' in its XML declaration
  unknown-ns         authenticate, then <ns1:foo xmlns:ns1='urn:x'> at the top level
  prefixed-stanza    authenticate, then <foo:message xmlns:foo='jabber:server'>
  slowloris          the stream header, one byte every --interval seconds
  tls-stall          <starttls/>, wait for <proceed/>, then never start TLS
  tls-garbage        <starttls/>, <proceed/>, then bytes that are not TLS

Expectations (--expect), checked within --within seconds of the payload:
  error:C1|C2        a stream error with one of these conditions, then the
                     closing tag and the TCP close
  close              the TCP connection closes (whatever came first)
  close-silent       the TCP connection closes with no stream error and no
                     closing tag (a failed TLS handshake, RFC 6120 5.4.3.2)
  open               no error and no close for --within seconds
  error-or-open:C    either error:C, or the stream stays open and then takes
                     --then-message (a stanza the test checks arrived)
With --then-message TO, a good message from --then-from (default user@RAW)
to TO with body --then-body is sent on the stream if it is still open
after the payload (ignored elements must not break the stream).

Output: one line per event ("recv header ...", "recv error
condition=...", "closed after 812 ms", "listener ..."), then "verdict: ok"
or "verdict: FAIL ...". Exit status 0 when the expectation held, 1 when not,
2 on bad usage or when the set-up (connect, dialback) failed - the set-up
failure is printed as "setup: ...".
"""
import argparse
import secrets
import select
import socket
import ssl
import sys
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_SERVER = "jabber:server"
NS_DB = "jabber:server:dialback"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

PRINT_LOCK = threading.Lock()
T0 = time.monotonic()
ISSUED_KEYS = set()  # dialback keys this process sent (the listener verifies them)


def out(line):
    with PRINT_LOCK:
        print("%7.3f %s" % (time.monotonic() - T0, line), flush=True)


def short(el):
    text = ET.tostring(el, encoding="unicode")
    return text if len(text) <= 300 else text[:300] + "..."


def local(tag):
    return tag.split("}")[-1]


class SetupError(Exception):
    pass


class Stream:
    """One TCP (or TLS) connection and an incremental reader of what the
    other side sends: its header, its top-level elements, its closing tag,
    a stream error, EOF, and XML it could not parse."""

    def __init__(self, sock, label):
        self.sock = sock
        self.label = label
        self.header = None
        self.queue = []
        self.error = None  # condition of a stream error
        self.error_el = None
        self.error_at = None
        self.close_tag_at = None
        self.eof_at = None
        self.reset_at = None
        self.parse_error = None
        self.bytes_in = 0
        self.reset_parser()

    def reset_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.header = None

    # -- output ------------------------------------------------------------
    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError) as e:
            self.note_reset(e)
            return False

    def send_while_reading(self, data, chunk=65536, stop_on_error=True):
        """Writes data in chunks, reading between them, so that an error
        the other side sends while we write is seen before a reset. Returns
        the number of bytes written."""
        sent = 0
        self.sock.setblocking(False)
        try:
            while sent < len(data):
                if self.eof_at or self.reset_at or (stop_on_error and self.error):
                    break
                r, w, _ = select.select([self.sock], [self.sock], [], 1.0)
                if r:
                    self.read_once(nonblocking=True)
                if w:
                    try:
                        n = self.sock.send(data[sent:sent + chunk])
                        sent += n
                    except BlockingIOError:
                        pass
                    except (BrokenPipeError, ConnectionResetError) as e:
                        self.note_reset(e)
                        break
        finally:
            self.sock.setblocking(True)
        return sent

    # -- input -------------------------------------------------------------
    def note_reset(self, e):
        if self.reset_at is None and self.eof_at is None:
            self.reset_at = time.monotonic()
            out("%s connection reset (%s)" % (self.label, e.__class__.__name__))

    def closed(self):
        return self.eof_at is not None or self.reset_at is not None

    def read_once(self, timeout=None, nonblocking=False):
        """One recv. Returns False on timeout."""
        if self.closed():
            return False
        if not nonblocking:
            pending = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not pending:
                r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
                if not r:
                    return False
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except (ConnectionResetError, ssl.SSLError, OSError) as e:
            self.note_reset(e)
            return True
        if not data:
            self.eof_at = time.monotonic()
            out("%s closed by the other side (EOF)" % self.label)
            return True
        self.bytes_in += len(data)
        self.feed(data)
        return True

    def feed(self, data):
        if self.parse_error:
            return
        try:
            self.parser.feed(data)
            for ev, el in self.parser.read_events():
                self.on_event(ev, el)
        except ET.ParseError as e:
            self.parse_error = str(e)
            out("%s sent XML we cannot parse: %s (%r)" % (self.label, e, data[:200]))

    def on_event(self, ev, el):
        if ev == "start":
            self.depth += 1
            if self.depth == 1:
                self.header = el
                out("%s recv header %s" % (self.label, " ".join(
                    "%s=%s" % (local(k), v) for k, v in sorted(el.attrib.items()))))
            return
        self.depth -= 1
        if self.depth == 0:
            self.close_tag_at = time.monotonic()
            out("%s recv </stream:stream>" % self.label)
        elif self.depth == 1:
            if el.tag == "{%s}error" % NS_STREAM:
                conds = [local(c.tag) for c in el if c.tag.startswith("{%s}" % NS_STREAMS_ERR)
                         and local(c.tag) != "text"]
                self.error = conds[0] if conds else "(none)"
                self.error_el = el
                self.error_at = time.monotonic()
                out("%s recv stream error condition=%s %s" % (self.label, self.error, short(el)))
            else:
                out("%s recv %s" % (self.label, short(el)))
                self.queue.append(el)
            if self.header is not None:
                try:
                    self.header.remove(el)  # keep memory flat on long streams
                except ValueError:
                    pass

    def wait(self, pred, deadline):
        """Reads until pred() or deadline or close. Returns pred()."""
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed():
                break
            self.read_once(timeout=left)
        return pred()

    def next_element(self, deadline, what):
        self.wait(lambda: self.queue or self.error, deadline)
        if self.error:
            raise SetupError("stream error %s while waiting for %s" % (self.error, what))
        if not self.queue:
            raise SetupError("no %s (%s)" % (what, "closed" if self.closed() else "timeout"))
        return self.queue.pop(0)

    def wait_header(self, deadline):
        if not self.wait(lambda: self.header is not None or self.error, deadline):
            raise SetupError("no stream header from %s" % self.label)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def header(frm, to, version=True, decl=True, extra=""):
    h = "<?xml version='1.0'?>" if decl else ""
    h += ("<stream:stream xmlns='jabber:server' xmlns:stream='%s' xmlns:db='%s'" %
          (NS_STREAM, NS_DB))
    if frm:
        h += " from=%s" % quoteattr(frm)
    if to:
        h += " to=%s" % quoteattr(to)
    if version:
        h += " version='1.0'"
    return h + extra + ">"


# -- listener: RAW's own server ---------------------------------------------
class Listener(threading.Thread):
    def __init__(self, addr, domain, tls_ctx):
        super().__init__(daemon=True)
        self.domain = domain
        self.tls_ctx = tls_ctx
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(addr)
        self.srv.listen(16)
        self.connections = 0
        out("listener on %s:%d for %s" % (addr[0], addr[1], domain))

    def run(self):
        while True:
            try:
                conn, peer = self.srv.accept()
            except OSError:
                return
            self.connections += 1
            out("listener accepted a connection from %s:%d" % peer)
            threading.Thread(target=self.serve, args=(conn, self.connections), daemon=True).start()

    def serve(self, conn, n):
        st = Stream(conn, "listener#%d" % n)
        try:
            self.serve_stream(st)
        except (SetupError, OSError) as e:
            out("listener#%d: %s" % (n, e))
        finally:
            st.close()

    def serve_stream(self, st):
        deadline = time.monotonic() + 60
        st.wait_header(deadline)
        if st.header is None:
            return
        h = st.header
        sid = secrets.token_hex(16)
        st.send(header(h.get("to") or self.domain, h.get("from"), version=h.get("version") is not None,
                       extra=" id='%s'" % sid))
        if h.get("version"):
            st.send("<stream:features><dialback xmlns='urn:xmpp:features:dialback'><errors/>"
                    "</dialback></stream:features>")
        while True:
            st.wait(lambda: st.queue or st.error, deadline)
            if not st.queue:
                return
            el = st.queue.pop(0)
            a = el.attrib
            if el.tag == "{%s}verify" % NS_DB:
                valid = (el.text or "") in ISSUED_KEYS
                typ = "valid" if valid else "invalid"
                out("%s answers db:verify id=%s: %s" % (st.label, a.get("id"), typ))
                st.send("<db:verify from=%s to=%s id=%s type='%s'/>" %
                        (quoteattr(a.get("to", "")), quoteattr(a.get("from", "")),
                         quoteattr(a.get("id", "")), typ))
            elif el.tag == "{%s}result" % NS_DB:
                out("%s accepts db:result from=%s to=%s" % (st.label, a.get("from"), a.get("to")))
                st.send("<db:result from=%s to=%s type='valid'/>" %
                        (quoteattr(a.get("to", "")), quoteattr(a.get("from", ""))))
            elif el.tag == "{%s}starttls" % NS_TLS:
                st.send("<failure xmlns='%s'/></stream:stream>" % NS_TLS)
                return
            elif el.tag == "{%s}iq" % NS_SERVER and a.get("type") in ("get", "set"):
                st.send("<iq type='error' id=%s from=%s to=%s><error type='cancel'>"
                        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                        "</error></iq>" % (quoteattr(a.get("id", "")), quoteattr(a.get("to", "")),
                                           quoteattr(a.get("from", ""))))


# -- the initiating side ------------------------------------------------------
class Peer:
    def __init__(self, a):
        self.a = a
        self.st = None

    def connect(self):
        host, _, port = self.a.connect.rpartition(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=5)
        except OSError as e:
            raise SetupError("connect %s: %s" % (self.a.connect, e))
        sock.settimeout(None)
        self.st = Stream(sock, "gw")
        out("connected to %s" % self.a.connect)
        return self.st

    def open_stream(self, deadline):
        st = self.st
        st.send(header(self.a.domain, self.a.to))
        st.wait_header(deadline)
        if st.error:
            raise SetupError("stream error %s right after the header" % st.error)
        feats = st.next_element(deadline, "stream features")
        if feats.tag != "{%s}features" % NS_STREAM:
            raise SetupError("expected features, got " + short(feats))
        return feats

    def starttls(self, deadline):
        st = self.st
        st.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = st.next_element(deadline, "<proceed/>")
        if el.tag != "{%s}proceed" % NS_TLS:
            raise SetupError("STARTTLS refused: " + short(el))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.a.cafile:
            ctx.load_verify_locations(self.a.cafile)
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.a.cert:
            ctx.load_cert_chain(self.a.cert, self.a.key)
        ctx.set_alpn_protocols(["xmpp-server"])
        try:
            tls = ctx.wrap_socket(st.sock, server_hostname=self.a.to)
        except (ssl.SSLError, OSError) as e:
            raise SetupError("TLS handshake: %s" % e)
        out("TLS up: %s %s" % (tls.version(), tls.cipher()[0]))
        st.sock = tls
        st.reset_parser()
        return self.open_stream(deadline)

    def authenticate(self, deadline):
        feats = self.open_stream(deadline)
        tls_offered = feats.find("{%s}starttls" % NS_TLS) is not None
        if self.a.starttls:
            feats = self.starttls(deadline)
        elif tls_offered and feats.find("{%s}starttls/{%s}required" % (NS_TLS, NS_TLS)) is not None:
            raise SetupError("the server requires STARTTLS for %s (use --starttls or change the "
                             "partner's settings)" % self.a.domain)
        key = secrets.token_hex(32)
        ISSUED_KEYS.add(key)
        self.st.send("<db:result from=%s to=%s>%s</db:result>" %
                     (quoteattr(self.a.domain), quoteattr(self.a.to), key))
        el = self.st.next_element(deadline, "the dialback result")
        if el.tag != "{%s}result" % NS_DB or el.get("type") != "valid":
            raise SetupError("dialback not valid: " + short(el))
        out("dialback valid for %s -> %s" % (self.a.domain, self.a.to))

    def msg(self, frm, body, extra=""):
        return ("<message from=%s to=%s type='chat' id='%s'%s><body>%s</body></message>" %
                (quoteattr(frm), quoteattr(self.a.message_to), secrets.token_hex(4), extra, body))


def bomb_doctype():
    ents = ["<!ENTITY lol0 'lol'>"]
    for i in range(1, 10):
        ents.append("<!ENTITY lol%d '%s'>" % (i, ("&lol%d;" % (i - 1)) * 10))
    return "<?xml version='1.0'?><!DOCTYPE stream:stream [%s]>" % "".join(ents)


def run_case(a, peer):
    """Returns the monotonic time at which the hostile part started."""
    case = a.case
    deadline = time.monotonic() + a.setup_timeout
    st = peer.connect()
    user = "%s@%s" % (a.user, a.domain)
    if case == "entity-bomb":
        t = time.monotonic()
        st.send(bomb_doctype() + header(a.domain, a.to, decl=False) +
                peer.msg(user, "&lol9;"))
        return t
    if case == "utf16-decl":
        t = time.monotonic()
        st.send("<?xml version='1.0' encoding='UTF-16'?>" + header(a.domain, a.to, decl=False))
        return t
    if case == "slowloris":
        t = time.monotonic()
        data = header(a.domain, a.to).encode()
        for i in range(len(data)):
            if not st.send(data[i:i + 1]):
                break
            # Keep reading while we drip, to see what arrives and when.
            st.wait(lambda: st.closed(), time.monotonic() + a.interval)
            if st.closed() or time.monotonic() - t > a.within:
                break
        out("slowloris sent %d of %d header bytes" % (i + 1, len(data)))
        return t
    if case in ("tls-stall", "tls-garbage"):
        feats = peer.open_stream(deadline)
        if feats.find("{%s}starttls" % NS_TLS) is None:
            out("note: STARTTLS not offered; sending <starttls/> anyway")
        st.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = st.next_element(deadline, "<proceed/>")
        if el.tag != "{%s}proceed" % NS_TLS:
            raise SetupError("expected <proceed/>, got " + short(el))
        t = time.monotonic()
        if case == "tls-garbage":
            st.send(b"this is not a TLS ClientHello\r\n" * 4)
        else:
            # A TLS record header promising a ClientHello that never comes.
            st.send(b"\x16\x03\x01\x02\x00")
        st.reset_parser()  # what follows is not XML of this stream
        st.parse_error = "TLS"  # stop parsing: bytes after proceed are TLS
        return t
    if case == "stanza-before-auth":
        peer.open_stream(deadline)
        t = time.monotonic()
        st.send(peer.msg(user, "before auth"))
        return t
    peer.authenticate(deadline)
    if case == "good":
        t = time.monotonic()
        st.send(peer.msg(user, escape(a.body)))
        return t
    t = time.monotonic()
    if case == "wrong-from":
        st.send(peer.msg("eve@" + a.spoof_domain, "spoofed"))
    elif case == "entity-ref":
        st.send(peer.msg(user, "&lol9;"))
    elif case == "big-stanza":
        head = peer.msg(user, "").split("<body>")[0] + "<body>"
        data = head.encode() + b"a" * a.size + b"</body></message>"
        n = st.send_while_reading(data)
        out("big-stanza wrote %d of %d bytes" % (n, len(data)))
    elif case == "deep-nesting":
        data = (peer.msg(user, "x").split("<body>")[0] + "<a>" * a.depth + "</a>" * a.depth +
                "</message>")
        n = st.send_while_reading(data.encode())
        out("deep-nesting wrote %d of %d bytes" % (n, len(data)))
    elif case == "invalid-utf8":
        st.send(peer.msg(user, "").replace("<body></body>", "<body>x\xc0y</body>").encode(
            "utf-8").replace(b"\xc3\x80", b"\xc0\xaf"))
    elif case == "utf8-surrogate":
        st.send(peer.msg(user, "").replace("<body></body>", "<body>x\xc0y</body>").encode(
            "utf-8").replace(b"\xc3\x80", b"\xed\xa0\x80"))
    elif case == "unknown-ns":
        st.send("<ns1:foo xmlns:ns1='urn:x' from=%s to=%s><ns1:body>x</ns1:body></ns1:foo>" %
                (quoteattr(user), quoteattr(a.message_to)))
    elif case == "prefixed-stanza":
        st.send("<foo:message xmlns:foo='jabber:server' from=%s to=%s type='chat'>"
                "<foo:body>prefixed</foo:body></foo:message>" %
                (quoteattr(user), quoteattr(a.message_to)))
    else:
        raise SetupError("unknown case " + case)
    return t


def judge(a, peer, t_payload):
    st = peer.st
    end = t_payload + a.within
    kind, _, conds = a.expect.partition(":")
    allowed = set(c for c in conds.split("|") if c)
    if kind in ("open", "error-or-open"):
        st.wait(lambda: st.error or st.closed(), end)
    else:
        # Wait for the close (an error alone is not the end of it).
        st.wait(lambda: st.closed(), end)

    def ms(t):
        return "%d ms" % ((t - t_payload) * 1000) if t else "never"

    out("summary: error=%s (at %s) close-tag at %s, TCP close at %s" % (
        st.error, ms(st.error_at), ms(st.close_tag_at), ms(st.eof_at or st.reset_at)))
    fail = None
    if kind == "error":
        if st.error is None:
            fail = "no stream error (closed: %s)" % st.closed()
        elif st.error not in allowed:
            fail = "stream error %s, expected %s" % (st.error, "|".join(sorted(allowed)))
        elif not st.closed():
            fail = "stream error %s but the connection stayed open for %s s" % (st.error, a.within)
        elif st.close_tag_at is None and not a.no_close_tag_ok:
            fail = "stream error %s but no </stream:stream> before the close" % st.error
    elif kind == "close":
        if not st.closed():
            fail = "still open after %s s" % a.within
        elif allowed and st.error not in allowed:
            fail = "closed with error %s, expected %s" % (st.error, "|".join(sorted(allowed)))
    elif kind == "close-silent":
        if not st.closed():
            fail = "still open after %s s" % a.within
        elif st.error or st.close_tag_at:
            fail = "closed with error=%s close-tag=%s; expected a bare TCP close" % (
                st.error, st.close_tag_at is not None)
    elif kind in ("open", "error-or-open"):
        if st.error and (kind == "open" or st.error not in allowed):
            fail = "stream error %s" % st.error
        elif st.error and not st.closed():
            st.wait(lambda: st.closed(), time.monotonic() + 5)
            if not st.closed():
                fail = "stream error %s but the connection stayed open" % st.error
        elif st.closed() and not st.error:
            fail = "closed without a stream error"
        elif not st.error and a.then_message:
            st.send(("<message from=%s to=%s type='chat' id='then1'><body>%s</body></message>" %
                     (quoteattr(a.then_from or "%s@%s" % (a.user, a.domain)),
                      quoteattr(a.then_message), escape(a.then_body))))
            out("sent the follow-up message to %s" % a.then_message)
            st.wait(lambda: st.error or st.closed(), time.monotonic() + a.hold)
            if st.error or st.closed():
                fail = "the stream broke after the follow-up message (error=%s)" % st.error
    else:
        raise SetupError("unknown --expect " + a.expect)
    if st.parse_error and st.parse_error != "TLS":
        fail = (fail + "; " if fail else "") + "unparsable output: " + st.parse_error
    return fail


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connect", help="HOST:PORT of the server under test")
    ap.add_argument("--listen", help="IP:PORT where RAW's own server listens")
    ap.add_argument("--domain", default="raw.test", help="RAW, our domain")
    ap.add_argument("--to", default="gw.test", help="the domain of the server under test")
    ap.add_argument("--user", default="mallory")
    ap.add_argument("--message-to", default="alice@gw.test")
    ap.add_argument("--body", default="hello from the raw peer")
    ap.add_argument("--spoof-domain", default="other.test")
    ap.add_argument("--case", default="good")
    ap.add_argument("--expect", default="open")
    ap.add_argument("--within", type=float, default=10.0)
    ap.add_argument("--hold", type=float, default=3.0,
                    help="seconds the stream must survive the follow-up message")
    ap.add_argument("--setup-timeout", type=float, default=15.0)
    ap.add_argument("--size", type=int, default=10 * 1024 * 1024)
    ap.add_argument("--depth", type=int, default=10000)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--then-message", help="TO of a good message sent after the payload")
    ap.add_argument("--then-from")
    ap.add_argument("--then-body", default="still working")
    ap.add_argument("--no-close-tag-ok", action="store_true")
    ap.add_argument("--starttls", action="store_true", help="negotiate TLS before dialback")
    ap.add_argument("--cafile")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--duration", type=float, default=30.0, help="--listen alone: how long")
    a = ap.parse_args()
    if not a.connect and not a.listen:
        ap.error("--connect or --listen is needed")

    if a.listen:
        ip, _, port = a.listen.rpartition(":")
        try:
            lst = Listener((ip, int(port)), a.domain, None)
        except OSError as e:
            print("setup: listen %s: %s" % (a.listen, e))
            return 2
        lst.start()
        if not a.connect:
            time.sleep(a.duration)
            out("listener done: %d connection(s)" % lst.connections)
            return 0

    peer = Peer(a)
    try:
        t = run_case(a, peer)
    except SetupError as e:
        out("setup: %s" % e)
        return 2
    try:
        fail = judge(a, peer, t)
    except SetupError as e:
        out("setup: %s" % e)
        return 2
    finally:
        peer.st.close()
    if fail:
        out("verdict: FAIL %s: %s" % (a.case, fail))
        return 1
    out("verdict: ok %s (%s)" % (a.case, a.expect))
    return 0


if __name__ == "__main__":
    sys.exit(main())
