//! permessage-deflate on game-like messages: one client `Connection` echoes JSON snapshots
//! (`game.rs`, ~2.3 KiB each, every one different) through a server, both polled in this
//! thread as in the throughput section. Per configuration (compression off; on with threshold
//! 0; on with the default 128):
//!
//! * bytes on the wire per message, each way: a first connection over a TCP stream that counts
//!   what our client writes and reads (handshake excluded);
//! * round trips per second: a second connection, a plain socket, nothing counted;
//! * the server's resident memory per connection (`deflate_memory.rs`, in a child process).
//!
//! `remote` runs the first two against someone else's echo server (`node.rs`: Node `ws`).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_websocket_core::config::Compression;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::extensions::DEFAULT_THRESHOLD;
use rust_websocket_core::transport::ByteStream;
use rust_websocket_core::{Config, Connection, ReadyState, Server, ServerEvent};

use super::{deflate_memory, game};

/// Snapshots made before any timing, then sent in order (and again from the first).
const SNAPSHOTS: usize = 4096;
/// Echoes over the counted connection.
const COUNTED: usize = 2000;
/// Echoes that warm up the timed connection and size its run.
const WARM_UP: usize = 1000;
/// About how long each timed run lasts.
const TIMED: Duration = Duration::from_millis(1500);
/// Messages in flight, as in the throughput section.
const IN_FLIGHT: usize = 16;

/// One configuration's figures.
pub struct Row {
    label: String,
    /// The `Sec-WebSocket-Extensions` both sides agreed ("" for none).
    agreed: String,
    round_trips_per_s: f64,
    /// Mean JSON bytes per message, and wire bytes per message up (client to server) and down.
    json: f64,
    up: f64,
    down: f64,
    /// Server KiB per connection: open, and after one message each way.
    memory: Option<(f64, f64)>,
}

/// The rows against our own server, then the table.
pub fn run() {
    let msgs = game::snapshots(SNAPSHOTS);
    let mean = msgs.iter().map(Vec::len).sum::<usize>() as f64 / msgs.len() as f64;
    println!("\ncompression: {SNAPSHOTS} game snapshots (50 entities, JSON), {mean:.0} bytes on average");
    let off = Compression { enabled: false, threshold: DEFAULT_THRESHOLD };
    let on = |threshold| Compression { enabled: true, threshold };
    let configs = [
        ("off", "compression off", off),
        ("0", "permessage-deflate, threshold 0", on(0)),
        ("128", "permessage-deflate, threshold 128 (default)", on(DEFAULT_THRESHOLD)),
    ];
    let mut rows = Vec::new();
    for (mode, label, compression) in configs {
        let config = Config { compression, ..Config::default() };
        let mut local = Local::new(config.clone());
        let url = format!("ws://{}/", local.server.local_addr());
        let mut row = measure(label, &url, &config, &msgs, &mut || local.pump());
        row.memory = deflate_memory::measure(mode);
        rows.push(row);
    }
    print_table("our Server <-> our client Connection, 127.0.0.1, one thread", &rows);
}

/// `bench remote LABEL=ws://HOST:PORT/PATH…`: our client, offering permessage-deflate with the
/// default threshold, against echo servers of another implementation.
pub fn remote(targets: &[String]) {
    let msgs = game::snapshots(SNAPSHOTS);
    let config =
        Config { compression: Compression { enabled: true, threshold: DEFAULT_THRESHOLD }, ..Config::default() };
    let rows: Vec<Row> = targets
        .iter()
        .map(|t| {
            let (label, url) = t.rsplit_once('=').expect("LABEL=URL");
            measure(label, url, &config, &msgs, &mut || {})
        })
        .collect();
    print_table("other echo servers <-> our client Connection (offering permessage-deflate), 127.0.0.1", &rows);
}

/// Our server, echoing every message of its newest peer.
struct Local {
    server: Server,
    peer: Option<SharedConnection>,
}

impl Local {
    fn new(config: Config) -> Local {
        Local { server: Server::listen("127.0.0.1:0".parse().unwrap(), config, None).unwrap(), peer: None }
    }

    fn pump(&mut self) {
        for e in self.server.poll(Instant::now()) {
            if let ServerEvent::Connected { id, .. } = e {
                self.peer = self.server.peer(id);
            }
        }
        if let Some(peer) = &self.peer {
            let mut p = peer.borrow_mut();
            while let Some(m) = p.pop() {
                p.send(&m.data, m.text, Instant::now()).expect("server send");
            }
        }
    }
}

/// Counts the wire on one connection first, then times another; `pump` runs the server when
/// it is ours.
fn measure(label: &str, url: &str, config: &Config, msgs: &[Vec<u8>], pump: &mut dyn FnMut()) -> Row {
    let wire = Wire::default();
    let mut c = dial(url, config, Some(&wire), pump);
    let (up0, down0) = (wire.up.load(Relaxed), wire.down.load(Relaxed));
    echo(&mut c, msgs, 0..COUNTED, pump);
    let (up, down) = ((wire.up.load(Relaxed) - up0) as f64, (wire.down.load(Relaxed) - down0) as f64);
    let agreed = c.negotiated_extensions().to_string();
    drop(c);
    let mut c = dial(url, config, None, pump);
    let warm = echo(&mut c, msgs, 0..WARM_UP, pump);
    let n = ((WARM_UP as f64 * TIMED.as_secs_f64() / warm.as_secs_f64()) as usize).clamp(2000, 1_000_000);
    let took = echo(&mut c, msgs, WARM_UP..WARM_UP + n, pump);
    let json = (0..COUNTED).map(|i| msgs[i % msgs.len()].len()).sum::<usize>() as f64 / COUNTED as f64;
    Row {
        label: label.to_string(),
        agreed,
        round_trips_per_s: n as f64 / took.as_secs_f64(),
        json,
        up: up / COUNTED as f64,
        down: down / COUNTED as f64,
        memory: None,
    }
}

/// An open client connection to `url`; over a counting stream when `wire` is given.
fn dial(url: &str, config: &Config, wire: Option<&Wire>, pump: &mut dyn FnMut()) -> Connection {
    let mut c = Connection::new(config.clone());
    match wire {
        None => c.connect(url, None, Instant::now()).expect("connect"),
        Some(wire) => {
            let addr: SocketAddr = url["ws://".len()..].split('/').next().unwrap().parse().expect("ws://IP:PORT/");
            let s = TcpStream::connect(addr).expect("connect");
            s.set_nonblocking(true).unwrap();
            s.set_nodelay(true).unwrap();
            c.connect_over(url, Box::new(Counted { s, wire: wire.clone() }), Instant::now()).expect("connect")
        }
    }
    let start = Instant::now();
    while c.ready_state() == ReadyState::Connecting {
        assert!(start.elapsed() < Duration::from_secs(10), "no handshake with {url}");
        pump();
        c.poll(Instant::now());
    }
    assert_eq!(c.ready_state(), ReadyState::Open, "{url}: {}", c.close_reason());
    c
}

/// Sends the snapshots numbered `range` in order, `IN_FLIGHT` at a time, until all came back
/// (each checked byte for byte); returns the time taken.
fn echo(c: &mut Connection, msgs: &[Vec<u8>], range: Range<usize>, pump: &mut dyn FnMut()) -> Duration {
    let t = Instant::now();
    let (mut sent, mut done) = (range.start, range.start);
    while done < range.end {
        while sent < range.end && sent - done < IN_FLIGHT {
            c.send(&msgs[sent % msgs.len()], true, Instant::now()).expect("send");
            sent += 1;
        }
        pump();
        c.poll(Instant::now());
        while let Some(m) = c.pop() {
            assert!(m.data[..] == msgs[done % msgs.len()][..], "echo {done} differs");
            done += 1;
        }
        assert_eq!(c.ready_state(), ReadyState::Open, "closed: {:?} {}", c.close_code(), c.close_reason());
    }
    t.elapsed()
}

/// Bytes our client wrote (up) and read (down).
#[derive(Clone, Default)]
struct Wire {
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

/// A non-blocking TCP stream that counts its bytes.
struct Counted {
    s: TcpStream,
    wire: Wire,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.s.read(buf)?;
        self.wire.down.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.s.write(buf)?;
        self.wire.up.fetch_add(n as u64, Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}

impl ByteStream for Counted {
    fn peer_addr(&self) -> Option<SocketAddr> {
        self.s.peer_addr().ok()
    }

    fn set_nodelay(&mut self, enabled: bool) -> bool {
        self.s.set_nodelay(enabled).is_ok()
    }

    fn is_tls(&self) -> bool {
        false
    }

    fn shutdown(&mut self) {
        let _ = self.s.shutdown(std::net::Shutdown::Write);
    }
}

fn print_table(title: &str, rows: &[Row]) {
    for r in rows {
        let agreed = if r.agreed.is_empty() { "none".to_string() } else { format!("\"{}\"", r.agreed) };
        println!("compression: {}: extension agreed: {agreed}", r.label);
    }
    println!("\n{title}; JSON ÷ wire counts both directions, frame headers included:\n");
    println!("| configuration | round trips/s | wire bytes up/msg | wire bytes down/msg | JSON ÷ wire | server KiB/conn open | after 1 msg each way |");
    println!("|---|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let kib = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{v:.1}"));
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {} | {} |",
            r.label,
            r.round_trips_per_s,
            r.up,
            r.down,
            2.0 * r.json / (r.up + r.down),
            kib(r.memory.map(|m| m.0)),
            kib(r.memory.map(|m| m.1)),
        );
    }
}
