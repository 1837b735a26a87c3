"""Python `websockets` (a third-party implementation) against our code.

client mode: connects to our WebSocketServer, exchanges text and binary messages, small and
  1 MiB, with a subprotocol, then closes with a code and reason; checks everything it sees.
server mode: an echo server for our RustWebSocketPeer; prints `LISTENING <port>`, then one
  `CLOSE <code> <reason>` line per close it receives; quits after `--conns` connections.

usage: interop_py.py client --url URL --protocol P | server --protocol P [--conns 1]
"""

import argparse
import os
import sys
import threading

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


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server"])
    p.add_argument("--url")
    p.add_argument("--protocol", default="chat.v1")
    p.add_argument("--conns", type=int, default=1)
    a = p.parse_args()
    try:
        client(a) if a.mode == "client" else server(a)
    except Exception as e:
        print("INTEROP FAIL python-websockets %s: %r" % (a.mode, e))
        sys.exit(1)
