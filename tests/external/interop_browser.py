"""Headless Chromium against our servers: serves a page on 127.0.0.1, starts Chromium on it,
and waits for the page to report its result.

Modes:
- `echo` (default): interop_page.html against our WebSocketServer (tools/echo_server.tscn).
- `multiplayer`: interop_mp_page.html, the browser's WebSocket API speaking what a Godot Web
  export's WebSocketMultiplayerPeer speaks, against RustWebSocketMultiplayerPeer
  (tools/mp_echo_server.tscn). The page reports the id it was given; the EXPECT-LOG lines ask
  the server's log to show that id joining, its RAW packet, and its leaving.
- `deflate`: interop_deflate_page.html against our WebSocketServer with permessage-deflate
  (tools/deflate_echo_server.tscn): with `--expect=deflate` the page requires the extension
  agreed (Chromium always offers it), with `--expect=none` (our compression off) requires none;
  then `--count` JSON states and a few other messages are echoed byte-exact. The EXPECT-LOG
  lines ask our server's log to show the very answer the browser accepted.

usage: interop_browser.py --ws-port P [--mode echo|multiplayer|deflate] [--protocol chat.v1]
                          [--expect deflate|none] [--count 1000] [--chromium /usr/bin/chromium]
"""

import argparse
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
PAGES = {"echo": "interop_page.html", "multiplayer": "interop_mp_page.html", "deflate": "interop_deflate_page.html"}
page_file = PAGES["echo"]
result = {}
done = threading.Event()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/result":
            q = urllib.parse.parse_qs(url.query)
            with lock:
                # The first report is the verdict: a later one (the page's close handler after a
                # failure it already reported) must not overwrite it.
                if not done.is_set():
                    result["ok"] = q.get("ok") == ["1"]
                    result["detail"] = q.get("detail", [""])[0]
                    result["ext"] = q.get("ext", [""])[0]
                    done.set()
            body = b"ok"
        else:
            with open(os.path.join(HERE, page_file), "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def verdict(mode, ok, detail, ext="", expect="deflate"):
    """The driver's output for the page's report: `INTEROP OK|FAIL` and the lines our server
    must have logged during this case (`EXPECT-LOG TEXT`)."""
    if mode == "deflate":
        name = "chromium client, permessage-deflate" if expect == "deflate" else \
            "chromium client, compression off (control)"
        if not ok:
            return ["INTEROP FAIL %s: %s (WebSocket.extensions \"%s\")" % (name, detail, ext)]
        # Our server logs the answer it gave on the client's first data message: the same one.
        return ['INTEROP OK %s: "%s" agreed, %s' % (name, ext, detail),
                'EXPECT-LOG DEFLATE-EXT "%s"' % ext,
                "EXPECT-LOG CLOSE_REQUEST 4002 browser bye"]
    if mode == "echo":
        if not ok:
            return ["INTEROP FAIL chromium client: %s" % detail]
        return ["INTEROP OK chromium client: text, binary, 1 MiB, subprotocol, close 4002 (%s)" % detail,
                "EXPECT-LOG CLOSE_REQUEST 4002 browser bye"]
    name = "chromium as a Web export's WebSocketMultiplayerPeer"
    if not ok:
        return ["INTEROP FAIL %s: %s" % (name, detail)]
    found = re.search(r"\bid=(\d+)\b", detail)
    if not found:
        return ["INTEROP FAIL %s: the page reported no id (%s)" % (name, detail)]
    peer = found.group(1)
    # The id the page was given is the one the server announced, sent the packet and left.
    return ["INTEROP OK %s: 4-byte id, RAW packet and answer, close 1000 (%s)" % (name, detail),
            "EXPECT-LOG MP JOIN %s (" % peer,
            'EXPECT-LOG MP RAW %s "hello from the browser"' % peer,
            "EXPECT-LOG MP LEAVE %s (" % peer]


def main():
    global page_file
    p = argparse.ArgumentParser()
    p.add_argument("--ws-port", type=int, required=True)
    p.add_argument("--mode", choices=sorted(PAGES), default="echo")
    p.add_argument("--protocol", default="chat.v1")
    p.add_argument("--expect", choices=["deflate", "none"], default="deflate")
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = p.parse_args()
    page_file = PAGES[a.mode]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    page = "http://127.0.0.1:%d/?ws=%s&protocol=%s" % (
        httpd.server_address[1], urllib.parse.quote("ws://127.0.0.1:%d/browser" % a.ws_port), a.protocol)
    if a.mode == "deflate":
        page += "&expect=%s&count=%d" % (a.expect, a.count)
    profile = tempfile.mkdtemp(prefix="chromium-")
    chrome = subprocess.Popen(
        [a.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + profile, page],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = done.wait(60)
    chrome.kill()
    chrome.wait()
    httpd.shutdown()
    shutil.rmtree(profile, ignore_errors=True)
    if finished:
        lines = verdict(a.mode, result.get("ok"), result["detail"], result.get("ext", ""), a.expect)
    else:
        lines = verdict(a.mode, False, "no result within 60 s", "", a.expect)
    print("\n".join(lines))
    return 0 if lines[0].startswith("INTEROP OK") else 1


if __name__ == "__main__":
    sys.exit(main())
