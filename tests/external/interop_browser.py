"""Headless Chromium against our WebSocketServer: serves interop_page.html on 127.0.0.1,
starts Chromium on it, and waits for the page to report its result.

usage: interop_browser.py --ws-port P --protocol chat.v1 [--chromium /usr/bin/chromium]
"""

import argparse
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
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
                    done.set()
            body = b"ok"
        else:
            with open(os.path.join(HERE, "interop_page.html"), "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ws-port", type=int, required=True)
    p.add_argument("--protocol", default="chat.v1")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    a = p.parse_args()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    page = "http://127.0.0.1:%d/?ws=%s&protocol=%s" % (
        httpd.server_address[1], urllib.parse.quote("ws://127.0.0.1:%d/browser" % a.ws_port), a.protocol)
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
    if finished and result.get("ok"):
        print("INTEROP OK chromium client: text, binary, 1 MiB, subprotocol, close 4002 (%s)" % result["detail"])
        print("EXPECT-LOG CLOSE_REQUEST 4002 browser bye")
        return 0
    print("INTEROP FAIL chromium client: %s" % (result.get("detail") if finished else "no result within 60 s"))
    return 1


if __name__ == "__main__":
    sys.exit(main())
