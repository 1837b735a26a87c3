"""Python `websockets` as a reference peer for the Autobahn|Testsuite (`cargo xtask autobahn
--reference`), set up as its own compliance scripts are (compliance/asyncio/ in its repository):
default options, so permessage-deflate is offered and accepted, and a 32 MiB message limit.

server mode: an echo server on 127.0.0.1; prints `LISTENING <port>`, runs until killed.
client mode: runs every case of `wstest -m fuzzingserver` at URL, echoing each message, then
  asks for the reports and prints `REPORTS UPDATED`.

usage: autobahn_websockets.py server | client --url ws://127.0.0.1:PORT --agent NAME
"""

import argparse
import asyncio
import json

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import WebSocketException


async def echo(ws):
    try:
        async for msg in ws:
            await ws.send(msg)
    except WebSocketException:
        pass


async def server():
    async with serve(echo, "127.0.0.1", 0, max_size=2**25) as srv:
        print("LISTENING %d" % srv.sockets[0].getsockname()[1], flush=True)
        await srv.serve_forever()


async def client(url, agent):
    async with connect(url + "/getCaseCount") as ws:
        count = json.loads(await ws.recv())
    print("CASES %d" % count, flush=True)
    for case in range(1, count + 1):
        try:
            async with connect("%s/runCase?case=%d&agent=%s" % (url, case, agent), max_size=2**25) as ws:
                await echo(ws)
        except Exception as e:  # the case's report says what went wrong; keep going
            print("case %d: %s: %s" % (case, type(e).__name__, e), flush=True)
    async with connect("%s/updateReports?agent=%s" % (url, agent), open_timeout=60):
        pass
    print("REPORTS UPDATED", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["client", "server"])
    p.add_argument("--url", default="ws://127.0.0.1:9001")
    p.add_argument("--agent", default="websockets")
    a = p.parse_args()
    asyncio.run(server() if a.mode == "server" else client(a.url, a.agent))
