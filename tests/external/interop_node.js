// Node `ws` (a third-party implementation) against our code.
//
// client mode: connects to our WebSocketServer, exchanges text and binary messages, small and
//   1 MiB, with a subprotocol, then closes with a code and reason; checks everything it sees.
// server mode: an echo server (optionally TLS: --cert F --key F) for our RustWebSocketPeer;
//   prints `LISTENING <port>`, then `CLOSE <code> <reason>` per close; exits after --conns.
//
// usage: node interop_node.js client URL PROTOCOL | server PROTOCOL CONNS [CERT KEY]
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const WebSocket = require('ws');

const [mode, ...rest] = process.argv.slice(2);

function fail(why) {
  console.log(`INTEROP FAIL node-ws ${mode}: ${why}`);
  process.exit(1);
}

if (mode === 'client') {
  const [url, protocol] = rest;
  const ws = new WebSocket(url, [protocol], { maxPayload: 64 << 20 });
  const big = crypto.randomBytes(1 << 20);
  const messages = ['hello from node', 'é✓'.repeat(1 << 18), Buffer.from([0, 1, 255]), big];
  let i = 0;
  const sendNext = () => ws.send(messages[i], { binary: Buffer.isBuffer(messages[i]) });
  ws.on('open', () => {
    if (ws.protocol !== protocol) fail(`subprotocol ${ws.protocol}`);
    sendNext();
  });
  ws.on('message', (data, isBinary) => {
    const m = messages[i];
    const same = Buffer.isBuffer(m) ? isBinary && data.equals(m) : !isBinary && data.toString() === m;
    if (!same) fail(`echo ${i} differs`);
    i += 1;
    if (i < messages.length) sendNext();
    else ws.close(4001, 'node bye');
  });
  ws.on('close', (code, reason) => {
    if (i < messages.length || code !== 4001 || reason.toString() !== 'node bye') fail(`closed ${code} ${reason} after ${i}`);
    console.log('INTEROP OK node-ws client: text, binary, 1 MiB, subprotocol, close 4001');
    console.log('EXPECT-LOG CLOSE_REQUEST 4001 node bye');
  });
  ws.on('error', (e) => fail(e.message));
  setTimeout(() => fail('timeout'), 20000).unref();
} else {
  const [protocol, conns, cert, key] = rest;
  let seen = 0;
  const opts = { handleProtocols: (set) => (set.has(protocol) ? protocol : false), maxPayload: 64 << 20 };
  let wss;
  const ready = (port) => console.log(`LISTENING ${port}`);
  if (cert) {
    const server = https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
    wss = new WebSocket.Server({ server, ...opts });
    server.listen(0, '127.0.0.1', () => ready(server.address().port));
  } else {
    wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, ...opts }, () => ready(wss.address().port));
  }
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('close', (code, reason) => {
      console.log(`CLOSE ${code} ${reason}`);
      seen += 1;
      if (seen >= Number(conns)) process.exit(0);
    });
  });
  setTimeout(() => fail('timeout'), 120000).unref();
}
