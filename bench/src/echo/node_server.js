// Node `ws` echo server for `cargo xtask bench echo` (bench/src/echo/): every message goes
// back to its sender with the same type, on 127.0.0.1, permessage-deflate off. It speaks the
// benchmark's control protocol (`__bench__ WORDS`, see tests/godot/tools/bench_echo_server.gd);
// it has no frame, so `fps` and `buffers` are accepted and do nothing, and `end` reports no
// frames. The broadcast is a loop over the clients, as ws's documentation shows it.
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 1 << 30 });
let timer = null;
let broadcasts = 0;
let begun = process.hrtime.bigint();
// A watchdog, as the other servers have: gone after 15 minutes whatever happens to the benchmark.
setTimeout(() => process.exit(0), 900e3).unref();

wss.on('listening', () => {
  console.log(`LISTENING ${wss.address().port}`);
  console.log(`PID ${process.pid}`);
});

wss.on('connection', (ws) => {
  ws.on('error', () => {});
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 10 && data[0] === 95 && data[1] === 95) {
      const line = data.toString();
      if (line.startsWith('__bench__ ')) {
        ws.send(`__bench__ ${control(line.slice(10).split(' '))}`);
        return;
      }
    }
    ws.send(data, { binary: isBinary });
  });
});

function control(words) {
  switch (words[0]) {
    case 'fps':
    case 'buffers':
      return 'ok';
    case 'begin':
      begun = process.hrtime.bigint();
      return 'ok';
    case 'broadcast': {
      const state = Buffer.alloc(Number(words[1]), 98);
      broadcasts = 0;
      clearInterval(timer);
      timer = setInterval(() => {
        broadcasts += 1;
        for (const client of wss.clients) client.send(state);
      }, 1000 / Number(words[2]));
      return 'ok';
    }
    case 'end': {
      clearInterval(timer);
      timer = null;
      const seconds = Number(process.hrtime.bigint() - begun) / 1e9;
      return `frames=0 seconds=${seconds.toFixed(3)} broadcasts=${broadcasts} peers=${wss.clients.size}`;
    }
    case 'peers':
      return `peers=${wss.clients.size}`;
    case 'quit':
      setImmediate(() => process.exit(0));
      return 'ok';
    default:
      return 'unknown';
  }
}
