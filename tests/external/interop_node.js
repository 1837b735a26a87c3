// Node `ws` (a third-party implementation) against our code.
//
// client mode: connects to our WebSocketServer, exchanges text and binary messages, small and
//   1 MiB, with a subprotocol, then closes with a code and reason; checks everything it sees.
// server mode: an echo server (optionally TLS: --cert F --key F) for our RustWebSocketPeer;
//   prints `LISTENING <port>`, then `CLOSE <code> <reason>` per close; exits after --conns.
//
// permessage-deflate (RFC 7692), ws's perMessageDeflate with threshold 0 (it compresses every
// message it sends), the wire measured on ws's own socket (bytesRead counts frame headers too):
// deflate-client mode: connects to our WebSocketServer (compression enabled) and checks that
//   the extension was agreed, then, one message at a time, that every echo is byte-exact:
//   - json: 1,000 game-like JSON states (~2.3 KiB, 50 entities), and that our server's frames
//     took well under half the payload and under 0.8 of what compressing each message on its
//     own at level 9 would take, which only context takeover achieves;
//   - mixed: text and binary around our server's threshold THRESHOLD, and that each message
//     shorter than it came back uncompressed (exactly its header and payload), each
//     compressible one at or above it compressed.
//   Prints `INTEROP OK|FAIL …` and the lines our server must have logged (`EXPECT-LOG TEXT`).
// deflate-server mode: an echo server for our RustWebSocketPeer with compression enabled;
//   prints `LISTENING <port>`; per connection `NEGOTIATED <path> "<its Sec-WebSocket-Extensions
//   answer>"`, then at its close `CHECK <path> OK|FAIL …` (the same measurements on what our
//   client sent: path /json, or /mixed/THRESHOLD for our client's threshold) and
//   `CLOSE <path> <code> <reason>`; exits after CONNS connections.
//
// usage: node interop_node.js client URL PROTOCOL | server PROTOCOL CONNS [CERT KEY]
//                             | deflate-client URL json|mixed THRESHOLD | deflate-server CONNS
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const https = require('https');
const zlib = require('zlib');
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
} else if (mode === 'deflate-client') {
  deflateClient(...rest);
} else if (mode === 'deflate-server') {
  deflateServer(...rest);
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

// --- permessage-deflate ---------------------------------------------------------------------

// `count` world states of a game: 50 entities, 8 random moves per tick (a fixed-seed LCG).
function jsonStates(count) {
  let lcg = 7;
  const rnd = (m) => {
    lcg = (Math.imul(lcg, 1103515245) + 12345) & 0x7fffffff;
    return (lcg >> 8) % m;
  };
  const kinds = ['knight', 'archer', 'orc', 'goblin', 'mage', 'wolf'];
  const ents = [];
  for (let i = 0; i < 50; i++) ents.push({ id: i + 1, k: kinds[rnd(6)], x: rnd(4096), y: rnd(4096), hp: 100 });
  const out = [];
  for (let t = 0; t < count; t++) {
    for (let j = 0; j < 8; j++) {
      const e = ents[rnd(ents.length)];
      e.x = (e.x + rnd(33) - 16 + 4096) % 4096;
      e.y = (e.y + rnd(33) - 16 + 4096) % 4096;
      e.hp = Math.max(0, e.hp - rnd(4));
    }
    out.push(JSON.stringify({ tick: t, entities: ents }));
  }
  return out;
}

// Text and binary messages, alternating, below, at and above `t` bytes, then UTF-8 text, binary
// that does not compress, and small and empty ones again (after compressed ones).
function mixedMessages(t) {
  const sizes = [0, 1, 2, t >> 1, t - 3, t - 2, t - 1, t, t + 1, 2 * t + 44, 4000, 70000];
  const out = sizes.map((n, k) => {
    n = Math.max(n, 0);
    return k % 2 === 0 ? 'hello node '.repeat(n / 11 + 1).slice(0, n) : Buffer.from(Array.from({ length: n }, (_, i) => i % 16));
  });
  out.push('é✓ '.repeat(t), crypto.randomBytes(3 * t), 'bye '.repeat(t >> 3), Buffer.from([1, 2, 3]), '', Buffer.alloc(0));
  return out;
}

// The size of a frame's header for a payload of `n` bytes.
const header = (n, masked) => (n < 126 ? 2 : n < 65536 ? 4 : 10) + (masked ? 4 : 0);

// Size checks on the frames of one direction, message by message: `wire` is what the frame took
// on the socket (header included), `data` the message it carried, `threshold` the sender's
// (null: no per-message rule). Returns the problems; `totals` accumulates.
function measure(totals, data, isBinary, wire, masked, threshold) {
  const standalone = zlib.deflateRawSync(data, { level: 9 }).length;
  totals.messages += 1;
  totals.payload += data.length;
  totals.wire += wire;
  totals.standalone += header(standalone, masked) + standalone;
  if (threshold === null) return [];
  const raw = header(data.length, masked) + data.length;
  const what = `message ${totals.messages - 1} (${data.length} bytes, ${isBinary ? 'binary' : 'text'})`;
  if (data.length < threshold && wire !== raw) {
    return [`${what} took ${wire} bytes on the wire, expected ${raw}: uncompressed, being below the threshold ${threshold}`];
  }
  if (data.length >= threshold && standalone < data.length / 2 && wire >= raw) {
    return [`${what} took ${wire} bytes on the wire, not compressed (uncompressed: ${raw}, at or above the threshold ${threshold})`];
  }
  return [];
}

// The first problems, and how many more.
const firstOf = (problems) => problems.slice(0, 3).join('; ') + (problems.length > 3 ? `; and ${problems.length - 3} more` : '');

// The verdict on a json stream's totals: compressed, and with context takeover.
function streamVerdict(t, who) {
  const problems = [];
  if (t.messages === 0) return { problems: ['no message'], summary: 'no message' };
  if (t.wire >= t.payload / 2) {
    problems.push(`${who} sent ${t.wire} bytes on the wire for ${t.payload} bytes of messages: not well below half`);
  }
  if (t.wire >= 0.8 * t.standalone) {
    problems.push(`${who} sent ${t.wire} bytes on the wire, not below 0.8 of ${t.standalone} (each message compressed on its own at level 9): no context takeover`);
  }
  const summary = `${t.messages} messages, ${t.payload} bytes; ${who} sent ${t.wire} bytes on the wire ` +
    `(${((100 * t.wire) / t.payload).toFixed(1)}%, ${(t.wire / t.standalone).toFixed(2)} of per-message deflate -9)`;
  return { problems, summary };
}

function deflateClient(url, kind, thresholdArg) {
  const threshold = Number(thresholdArg);
  const name = `node-ws client, permessage-deflate (${kind})`;
  const failNow = (why) => {
    console.log(`INTEROP FAIL ${name}: ${why}`);
    process.exit(1);
  };
  const messages = kind === 'json' ? jsonStates(1000) : mixedMessages(threshold);
  const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 });
  let answer = null;
  let socket = null;
  let last = 0;
  let i = 0;
  let totals = { messages: 0, payload: 0, wire: 0, standalone: 0 };
  const problems = [];
  const asBuffer = (m) => (Buffer.isBuffer(m) ? m : Buffer.from(m));
  const sendNext = () => ws.send(messages[i], { binary: Buffer.isBuffer(messages[i]) });
  ws.on('upgrade', (res) => {
    answer = res.headers['sec-websocket-extensions'] || '';
    socket = res.socket;
  });
  ws.on('open', () => {
    if (ws.extensions !== 'permessage-deflate' || !answer.startsWith('permessage-deflate')) {
      failNow(`permessage-deflate not agreed: the server answered Sec-WebSocket-Extensions "${answer}"`);
    }
    last = socket.bytesRead;
    sendNext();
  });
  ws.on('message', (data, isBinary) => {
    const wire = socket.bytesRead - last;
    last = socket.bytesRead;
    const m = messages[i];
    const same = Buffer.isBuffer(m) ? isBinary && data.equals(m) : !isBinary && data.toString() === m;
    if (!same) {
      failNow(`echo of message ${i} differs: sent ${asBuffer(m).length} bytes ${Buffer.isBuffer(m) ? 'binary' : 'text'}, ` +
        `got ${data.length} bytes ${isBinary ? 'binary' : 'text'}`);
    }
    problems.push(...measure(totals, data, isBinary, wire, false, kind === 'json' ? null : threshold));
    i += 1;
    if (i < messages.length) sendNext();
    else ws.close(4001, 'node bye');
  });
  ws.on('close', (code, reason) => {
    if (i < messages.length) {
      const m = messages[i];
      failNow(`closed ${code} '${reason}' after ${i} of ${messages.length} echoes, awaiting the echo of message ${i} ` +
        `(${asBuffer(m).length} bytes, ${Buffer.isBuffer(m) ? 'binary' : 'text'})`);
    }
    if (code !== 4001 || reason.toString() !== 'node bye') failNow(`closed ${code} '${reason}' instead of 4001 'node bye'`);
    let summary = `${totals.messages} text and binary messages, ${totals.payload} bytes, below and above the threshold ${threshold}`;
    if (kind === 'json') {
      const v = streamVerdict(totals, 'our server');
      problems.push(...v.problems);
      summary = v.summary;
    }
    if (problems.length) failNow(firstOf(problems));
    console.log(`INTEROP OK ${name}: ${summary}, echoed byte-exact, "${answer}", close 4001`);
    console.log(`EXPECT-LOG DEFLATE-EXT "${answer}"`);
    console.log(`EXPECT-LOG ECHOED ${messages.length} id=`);
    console.log('EXPECT-LOG CLOSE_REQUEST 4001 node bye');
    process.exit(0);
  });
  ws.on('error', (e) => failNow(e.message));
  setTimeout(() => failNow(`timeout after ${i} of ${messages.length} echoes`), 60000).unref();
}

function deflateServer(conns) {
  let seen = 0;
  const wss = new WebSocket.Server(
    { host: '127.0.0.1', port: 0, perMessageDeflate: { threshold: 0 }, maxPayload: 64 << 20 },
    () => console.log(`LISTENING ${wss.address().port}`),
  );
  wss.on('headers', (headers, req) => {
    const line = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
    req.extensionsAnswer = line ? line.slice(line.indexOf(':') + 1).trim() : '';
  });
  wss.on('connection', (ws, req) => {
    const path = req.url;
    const socket = req.socket;
    const threshold = path.startsWith('/mixed/') ? Number(path.slice('/mixed/'.length)) : null;
    console.log(`NEGOTIATED ${path} "${req.extensionsAnswer}"`);
    const problems = [];
    if (ws.extensions !== 'permessage-deflate') problems.push(`permessage-deflate not agreed (offer: "${req.headers['sec-websocket-extensions'] || ''}")`);
    const totals = { messages: 0, payload: 0, wire: 0, standalone: 0 };
    let last = socket.bytesRead;
    ws.on('message', (data, isBinary) => {
      const wire = socket.bytesRead - last;
      last = socket.bytesRead;
      problems.push(...measure(totals, data, isBinary, wire, true, threshold));
      ws.send(data, { binary: isBinary });
    });
    ws.on('close', (code, reason) => {
      let summary = `${totals.messages} messages, ${totals.payload} bytes`;
      if (threshold === null) {
        const v = streamVerdict(totals, 'our client');
        problems.push(...v.problems);
        summary = v.summary;
      }
      console.log(`CHECK ${path} ${problems.length ? 'FAIL ' + firstOf(problems) : 'OK ' + summary}`);
      console.log(`CLOSE ${path} ${code} ${reason}`);
      seen += 1;
      if (seen >= Number(conns)) process.exit(0);
    });
  });
  setTimeout(() => fail('timeout'), 300000).unref();
}
