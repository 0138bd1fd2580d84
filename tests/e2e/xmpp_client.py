#!/usr/bin/python3
"""xmpp_client.py - the XMPP user of the end-to-end tests (slixmpp, Debian's
python3-slixmpp under /usr/bin/python3).

Two sub-commands:

  run --server HOST:PORT --jid USER@DOMAIN --password PW [--resource R] --dir D
      Logs in (plain TCP on loopback, SASL over the unencrypted stream, as the
      test Prosody allows), then stays online until it gets `quit` or SIGTERM.
      It reads commands, one per line, from D/cmd (the test appends to the
      file; the client polls it), executes them in order and acknowledges each
      with a `done` record. Every stanza it receives is one JSON object per
      line in D/log.jsonl; D/ready appears once the session is up.
      No automatic roster behaviour: subscription requests are logged and
      answered only by commands.

      Commands (shlex words, KEY=VALUE arguments):
        presence [show=away|chat|dnd|xa] [status=TEXT] [priority=N] [to=JID]
        unavailable [status=TEXT] [to=JID]
        message to=JID [body=TEXT] [subject=TEXT] [thread=TEXT] [id=ID]
                [type=chat|normal] [lang=TAG]
        subscribe|subscribed|unsubscribe|unsubscribed to=JID
        probe to=JID
        roster-remove jid=JID
        quit

  match --log FILE [--wait SECS] [--since N] [--count N] [--none] FIELD=VALUE...
      Waits until a record of FILE (after its first N lines) matches every
      FIELD=VALUE: exact equality, except `from`/`to` (a bare JID matches
      any resource of it, a domain any JID in it), FIELD~=REGEX (search) and
      no:FIELD (the record has no such field).
      --count N: at least N matching records; --none: no record may match
      for the whole --wait. Exit 0 on success, 1 otherwise (the records seen
      on stderr), 2 on bad usage.

Record fields: t (unix time, float), dir=recv, kind (message, presence, iq,
done, ready, disconnected), type, from, to, id, body, subject, thread, lang,
show, status, priority, error (the defined condition), error_type,
error_text, n and cmd (done records).
"""
import argparse
import asyncio
import json
import logging
import os
import re
import shlex
import signal
import sys
import time

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def bare(jid):
    return jid.split("/", 1)[0]


def jid_matches(pattern, jid):
    """pattern: a full JID (exact), a bare JID (any resource) or a domain."""
    if "/" in pattern:
        return jid == pattern
    if "@" in pattern:
        return bare(jid) == pattern
    return bare(jid).split("@")[-1] == pattern


def kv(words, allowed, required=()):
    out = {}
    for w in words:
        k, sep, v = w.partition("=")
        if not sep or k not in allowed:
            raise ValueError("bad argument %r (expected one of %s)" % (w, ", ".join(allowed)))
        out[k] = v
    for k in required:
        if k not in out:
            raise ValueError("missing %s=" % k)
    return out


# ---- run ------------------------------------------------------------------------


def stanza_record(xml):
    """One received stanza (an ElementTree element) as a flat dict."""
    kind = xml.tag.split("}")[-1]
    rec = {"t": time.time(), "dir": "recv", "kind": kind}
    for a in ("type", "from", "to", "id"):
        if xml.get(a) is not None:
            rec[a] = xml.get(a)
    lang = xml.get("{http://www.w3.org/XML/1998/namespace}lang")
    if lang:
        rec["lang"] = lang
    for child in ("body", "subject", "thread", "show", "status", "priority"):
        el = xml.find("{%s}%s" % (NS_CLIENT, child))
        if el is not None:
            rec[child] = el.text or ""
    err = xml.find("{%s}error" % NS_CLIENT)
    if err is not None:
        rec["error_type"] = err.get("type", "")
        for c in err:
            name = c.tag.split("}")[-1]
            if c.tag.startswith("{%s}" % NS_STANZAS):
                if name == "text":
                    rec["error_text"] = c.text or ""
                else:
                    rec["error"] = name
    return rec


def run(a):
    import slixmpp
    from slixmpp.xmlstream.handler import Callback
    from slixmpp.xmlstream.matcher import MatchXPath

    os.makedirs(a.dir, exist_ok=True)
    cmd_path = os.path.join(a.dir, "cmd")
    log_path = os.path.join(a.dir, "log.jsonl")
    ready_path = os.path.join(a.dir, "ready")
    open(cmd_path, "a").close()
    logf = open(log_path, "a", encoding="utf-8")

    def write(rec):
        logf.write(json.dumps(rec, ensure_ascii=False) + "\n")
        logf.flush()

    host, _, port = a.server.rpartition(":")
    full = "%s/%s" % (a.jid, a.resource)
    xmpp = slixmpp.ClientXMPP(full, a.password)
    xmpp["feature_mechanisms"].unencrypted_plain = True
    xmpp.roster.auto_authorize = None  # subscription requests wait for a command
    xmpp.roster.auto_subscribe = False
    state = {"quit": False, "n": 0, "pos": 0, "failed": None}

    def on_stanza(stanza):
        write(stanza_record(stanza.xml))

    for kind in ("message", "presence"):
        xmpp.register_handler(Callback("log " + kind, MatchXPath("{%s}%s" % (NS_CLIENT, kind)),
                                       on_stanza))

    def execute(words):
        verb, args = words[0], words[1:]
        if verb == "presence":
            o = kv(args, ("show", "status", "priority", "to"))
            xmpp.send_presence(pshow=o.get("show"), pstatus=o.get("status"),
                               ppriority=int(o["priority"]) if "priority" in o else None,
                               pto=o.get("to"))
        elif verb == "unavailable":
            o = kv(args, ("status", "to"))
            xmpp.send_presence(ptype="unavailable", pstatus=o.get("status"), pto=o.get("to"))
        elif verb == "message":
            o = kv(args, ("to", "body", "subject", "thread", "id", "type", "lang"), ("to",))
            m = xmpp.make_message(mto=o["to"], mbody=o.get("body"), msubject=o.get("subject"),
                                  mtype=o.get("type", "chat"))
            if "thread" in o:
                m["thread"] = o["thread"]
            if "id" in o:
                m["id"] = o["id"]
            if "lang" in o:
                m["lang"] = o["lang"]
            m.send()
        elif verb in ("subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe"):
            o = kv(args, ("to",), ("to",))
            xmpp.send_presence(pto=o["to"], ptype=verb)
        elif verb == "roster-remove":
            o = kv(args, ("jid",), ("jid",))
            xmpp.update_roster(o["jid"], subscription="remove")
        elif verb == "quit":
            state["quit"] = True
        else:
            raise ValueError("unknown command %r" % verb)

    async def poll_commands():
        while not state["quit"]:
            with open(cmd_path, "rb") as f:
                f.seek(state["pos"])
                data = f.read()
            # Only whole lines: the test may be in the middle of a write.
            end = data.rfind(b"\n")
            if end >= 0:
                state["pos"] += end + 1
                for line in data[:end].decode("utf-8").split("\n"):
                    if not line.strip():
                        continue
                    state["n"] += 1
                    rec = {"t": time.time(), "kind": "done", "n": state["n"], "cmd": line}
                    try:
                        execute(shlex.split(line))
                    except (ValueError, KeyError) as e:
                        rec["error"] = str(e)
                    write(rec)
            await asyncio.sleep(0.05)
        xmpp.disconnect(wait=1.0)

    async def on_session_start(_event):
        await xmpp.get_roster()
        write({"t": time.time(), "kind": "ready", "jid": str(xmpp.boundjid)})
        with open(ready_path + ".tmp", "w") as f:
            f.write(str(xmpp.boundjid) + "\n")
        os.rename(ready_path + ".tmp", ready_path)
        asyncio.ensure_future(poll_commands())

    def on_failed(*_args):
        state["failed"] = "authentication failed"
        state["quit"] = True
        xmpp.disconnect()

    def on_disconnected(*_args):
        write({"t": time.time(), "kind": "disconnected"})
        loop.stop()

    xmpp.add_event_handler("session_start", on_session_start)
    xmpp.add_event_handler("failed_auth", on_failed)
    xmpp.add_event_handler("disconnected", on_disconnected)
    loop = asyncio.get_event_loop()

    def on_term():
        state["quit"] = True
        if not os.path.exists(ready_path):
            loop.stop()

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGINT, on_term)
    xmpp.connect(address=(host, int(port)), disable_starttls=True, force_starttls=False)
    loop.call_later(a.login_timeout, lambda: None if os.path.exists(ready_path) else (
        state.update(failed="no session within %s s" % a.login_timeout), loop.stop()))
    loop.run_forever()
    if state["failed"]:
        sys.stderr.write("xmpp_client %s: %s\n" % (a.jid, state["failed"]))
        return 1
    return 0


# ---- match ----------------------------------------------------------------------


def parse_conds(words):
    conds = []
    for w in words:
        if w.startswith("no:"):
            conds.append((w[3:], "absent", None))
            continue
        m = re.match(r"^([a-z_]+)(~?=)(.*)$", w, re.S)
        if not m:
            raise ValueError("bad condition %r (FIELD=VALUE or FIELD~=REGEX)" % w)
        conds.append((m.group(1), m.group(2), m.group(3)))
    return conds


def rec_matches(rec, conds):
    for field, op, want in conds:
        have = rec.get(field)
        if op == "absent":
            if have is not None:
                return False
            continue
        if have is None:
            return False
        have = str(have)
        if op == "~=":
            if not re.search(want, have):
                return False
        elif field in ("from", "to"):
            if not jid_matches(want, have):
                return False
        elif have != want:
            return False
    return True


def match(a):
    try:
        conds = parse_conds(a.conds)
    except ValueError as e:
        sys.stderr.write("xmpp_client match: %s\n" % e)
        return 2
    deadline = time.monotonic() + a.wait
    while True:
        recs = []
        try:
            with open(a.log, encoding="utf-8") as f:
                for i, line in enumerate(f):
                    if i < a.since or not line.endswith("\n"):
                        continue
                    try:
                        recs.append(json.loads(line))
                    except ValueError:
                        pass
        except FileNotFoundError:
            pass
        hits = [r for r in recs if rec_matches(r, conds)]
        if a.none:
            if hits:
                sys.stderr.write("unexpected: %s\n" % json.dumps(hits[0], ensure_ascii=False))
                return 1
        elif len(hits) >= a.count:
            print(json.dumps(hits[-1], ensure_ascii=False))
            return 0
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if a.none:
        return 0
    sys.stderr.write("no match for %s (%d of %d); last records:\n" %
                     (" ".join(a.conds), len(hits), a.count))
    for r in recs[-4:]:
        r = dict(r)
        r.pop("t", None)
        sys.stderr.write("  %s\n" % json.dumps(r, ensure_ascii=False))
    return 1


def main():
    ap = argparse.ArgumentParser(description="XMPP client of the xgw end-to-end tests")
    sub = ap.add_subparsers(dest="sub", required=True)
    r = sub.add_parser("run")
    r.add_argument("--server", required=True, help="HOST:PORT")
    r.add_argument("--jid", required=True, help="USER@DOMAIN")
    r.add_argument("--password", required=True)
    r.add_argument("--resource", default="e2e")
    r.add_argument("--dir", required=True)
    r.add_argument("--login-timeout", type=float, default=15.0)
    r.add_argument("--debug", action="store_true")
    m = sub.add_parser("match")
    m.add_argument("--log", required=True)
    m.add_argument("--wait", type=float, default=0.0)
    m.add_argument("--since", type=int, default=0)
    m.add_argument("--count", type=int, default=1)
    m.add_argument("--none", action="store_true")
    m.add_argument("conds", nargs="+")
    a = ap.parse_args()
    if a.sub == "run":
        if "@" not in a.jid or "/" in a.jid:
            sys.stderr.write("xmpp_client: --jid must be USER@DOMAIN\n")
            return 2
        logging.basicConfig(level=logging.DEBUG if a.debug else logging.WARNING,
                            format="%(asctime)s %(levelname)s %(message)s")
        return run(a)
    return match(a)


if __name__ == "__main__":
    sys.exit(main())
