"""Python `websockets` (a third-party implementation) against our code.

client mode: connects to our WebSocketServer, exchanges text and binary messages, small and
  1 MiB, with a subprotocol, then closes with a code and reason; checks everything it sees.
server mode: an echo server for our RustWebSocketPeer; prints `LISTENING <port>`, then one
  `CLOSE <code> <reason>` line per close it receives; quits after `--conns` connections.

permessage-deflate (RFC 7692), which websockets negotiates by default (as a client it offers
`permessage-deflate; client_max_window_bits`, as a server it answers with window bits 12), the
wire counted on the TCP socket (a socket class that counts what passes through it):
deflate-client mode: connects to our WebSocketServer (compression enabled), checks that both
  ends agreed on permessage-deflate, then echoes 1,000 game-like JSON states (~2.3 KiB,
  50 entities) one at a time, byte-exact, and checks that our server's frames took well under
  half the payload and under 0.8 of what compressing each message on its own at level 9 would
  take, which only context takeover achieves. Prints `INTEROP OK|FAIL …` and `EXPECT-LOG` lines.
deflate-server mode: an echo server for our RustWebSocketPeer with compression enabled; prints
  `LISTENING <port>`, per connection `NEGOTIATED <path> "<its Sec-WebSocket-Extensions answer>"`,
  and at its close `CHECK <path> OK|FAIL …` (the same measurements on what our client sent) and
  `CLOSE <path> <code> <reason>`; quits after `--conns` connections.

usage: interop_py.py client --url URL --protocol P | server --protocol P [--conns 1]
                     | deflate-client --url URL | deflate-server [--conns 1]
"""

import argparse
import json
import os
import socket
import sys
import threading
import urllib.parse
import zlib

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve


def client(a):
    with connect(a.url, subprotocols=[a.protocol], max_size=None, open_timeout=10) as ws:
        assert ws.subprotocol == a.protocol, "subprotocol %r" % ws.subprotocol
        for msg in ["hello from python", "é✓" * (1 << 18), b"\x00\x01\xff", os.urandom(1 << 20)]:
            ws.send(msg)
            back = ws.recv(timeout=10)
            assert type(back) is type(msg) and back == msg, "echo of a %d-byte %s" % (len(msg), type(msg).__name__)
        ws.close(4000, "python bye")
        assert ws.close_code == 4000 and ws.close_reason == "python bye", (ws.close_code, ws.close_reason)
    print("INTEROP OK python-websockets client: text, binary, 1 MiB, subprotocol, close 4000")
    print("EXPECT-LOG CLOSE_REQUEST 4000 python bye")


def server(a):
    done = threading.Event()
    count = [0]

    def handler(ws):
        assert ws.subprotocol == a.protocol, ws.subprotocol
        try:
            for msg in ws:
                ws.send(msg)
        finally:
            print("CLOSE %s %s" % (ws.close_code, ws.close_reason), flush=True)
            count[0] += 1
            if count[0] >= a.conns:
                done.set()

    with serve(handler, "127.0.0.1", 0, subprotocols=[a.protocol], max_size=None) as srv:
        print("LISTENING %d" % srv.socket.getsockname()[1], flush=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        done.wait(120)
        srv.shutdown()


# --- permessage-deflate ----------------------------------------------------------------------


class CountingSocket(socket.socket):
    """A TCP socket that counts the bytes it reads and writes (websockets' sync connections only
    use recv and sendall)."""

    read = 0
    written = 0

    def recv(self, bufsize, *flags):
        data = super().recv(bufsize, *flags)
        self.read += len(data)
        return data

    def sendall(self, data, *flags):
        super().sendall(data, *flags)
        self.written += len(data)

    def send(self, data, *flags):
        n = super().send(data, *flags)
        self.written += n
        return n


class CountingListener(socket.socket):
    """A listening socket whose accepted connections are CountingSockets (socket.accept's body)."""

    def accept(self):
        fd, addr = self._accept()
        sock = CountingSocket(self.family, self.type, self.proto, fileno=fd)
        if socket.getdefaulttimeout() is None and self.gettimeout():
            sock.setblocking(True)
        return sock, addr


def json_states(count):
    """`count` world states of a game: 50 entities, 8 random moves per tick (a fixed-seed LCG)."""
    lcg = [7]

    def rnd(m):
        lcg[0] = (lcg[0] * 1103515245 + 12345) % 2147483648
        return (lcg[0] >> 8) % m

    kinds = ["knight", "archer", "orc", "goblin", "mage", "wolf"]
    ents = [{"id": i + 1, "k": kinds[rnd(6)], "x": rnd(4096), "y": rnd(4096), "hp": 100} for i in range(50)]
    out = []
    for t in range(count):
        for _ in range(8):
            e = ents[rnd(len(ents))]
            e["x"] = (e["x"] + rnd(33) - 16) % 4096
            e["y"] = (e["y"] + rnd(33) - 16) % 4096
            e["hp"] = max(0, e["hp"] - rnd(4))
        out.append(json.dumps({"tick": t, "entities": ents}, separators=(",", ":")))
    return out


def header(n, masked):
    """The size of a frame's header for a payload of `n` bytes."""
    return (2 if n < 126 else 4 if n < 65536 else 10) + (4 if masked else 0)


class Totals:
    """One direction of a stream: the messages, the wire bytes their frames took, and what
    compressing each on its own at level 9 would have taken (frame headers included)."""

    def __init__(self, who):
        self.who, self.messages, self.payload, self.wire, self.standalone = who, 0, 0, 0, 0

    def add(self, msg, wire, masked):
        data = msg.encode() if isinstance(msg, str) else msg
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        standalone = len(c.compress(data) + c.flush())
        self.messages += 1
        self.payload += len(data)
        self.wire += wire
        self.standalone += header(standalone, masked) + standalone

    def verdict(self):
        """(problems, summary): compressed, and with context takeover."""
        problems = []
        if self.messages == 0 or self.standalone == 0:
            return ["no message"], "no message"
        if self.wire >= self.payload / 2:
            problems.append("%s sent %d bytes on the wire for %d bytes of messages: not well below half"
                            % (self.who, self.wire, self.payload))
        if self.wire >= 0.8 * self.standalone:
            problems.append("%s sent %d bytes on the wire, not below 0.8 of %d (each message compressed on its "
                            "own at level 9): no context takeover" % (self.who, self.wire, self.standalone))
        summary = "%d messages, %d bytes; %s sent %d bytes on the wire (%.1f%%, %.2f of per-message deflate -9)" % (
            self.messages, self.payload, self.who, self.wire, 100.0 * self.wire / self.payload,
            self.wire / self.standalone)
        return problems, summary


def deflate_client(a):
    url = urllib.parse.urlparse(a.url)
    sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(10)
    sock.connect((url.hostname, url.port))
    messages = json_states(1000)
    totals = Totals("our server")
    with connect(a.url, sock=sock, max_size=None, open_timeout=10, ping_interval=None) as ws:
        answer = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        agreed = [e.name for e in ws.protocol.extensions]
        assert agreed == ["permessage-deflate"] and answer.startswith("permessage-deflate"), \
            "permessage-deflate not agreed: the server answered Sec-WebSocket-Extensions %r" % answer
        last = sock.read
        for i, msg in enumerate(messages):
            ws.send(msg)
            back = ws.recv(timeout=10)
            assert back == msg, "echo of message %d differs: sent %d characters of text, got %r of %d" % (
                i, len(msg), type(back).__name__, len(back))
            totals.add(back, sock.read - last, False)
            last = sock.read
        ws.close(4000, "python bye")
        assert ws.close_code == 4000 and ws.close_reason == "python bye", (ws.close_code, ws.close_reason)
    problems, summary = totals.verdict()
    assert not problems, "; ".join(problems)
    print('INTEROP OK python-websockets client, permessage-deflate (json): %s, echoed byte-exact, "%s", close 4000'
          % (summary, answer))
    print('EXPECT-LOG DEFLATE-EXT "%s"' % answer)
    print("EXPECT-LOG ECHOED %d id=" % len(messages))
    print("EXPECT-LOG CLOSE_REQUEST 4000 python bye")


def deflate_server(a):
    done = threading.Event()
    count = [0]

    def handler(ws):
        path = ws.request.path
        answer = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        print('NEGOTIATED %s "%s"' % (path, answer), flush=True)
        problems = []
        if [e.name for e in ws.protocol.extensions] != ["permessage-deflate"]:
            problems.append("permessage-deflate not agreed (offer: %r)" % ws.request.headers.get(
                "Sec-WebSocket-Extensions", ""))
        totals = Totals("our client")
        sock = ws.socket
        last = sock.read
        try:
            for msg in ws:
                totals.add(msg, sock.read - last, True)
                last = sock.read
                ws.send(msg)
        except ConnectionClosed:
            pass  # a close code other than 1000/1001 ends the iteration so; CLOSE reports it
        finally:
            more, summary = totals.verdict()
            problems += more
            print("CHECK %s %s" % (path, ("FAIL " + "; ".join(problems)) if problems else "OK " + summary), flush=True)
            print("CLOSE %s %s %s" % (path, ws.close_code, ws.close_reason), flush=True)
            count[0] += 1
            if count[0] >= a.conns:
                done.set()

    listener = CountingListener(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    with serve(handler, sock=listener, max_size=None, ping_interval=None) as srv:
        print("LISTENING %d" % listener.getsockname()[1], flush=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        done.wait(300)
        srv.shutdown()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server", "deflate-client", "deflate-server"])
    p.add_argument("--url")
    p.add_argument("--protocol", default="chat.v1")
    p.add_argument("--conns", type=int, default=1)
    a = p.parse_args()
    try:
        {"client": client, "server": server, "deflate-client": deflate_client, "deflate-server": deflate_server}[a.mode](a)
    except Exception as e:
        print("INTEROP FAIL python-websockets %s: %r" % (a.mode, e))
        sys.exit(1)
