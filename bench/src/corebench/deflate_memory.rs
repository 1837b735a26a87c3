//! The server's resident memory per connection, with permessage-deflate agreed or not: raw TCP
//! clients upgrade (offering the extension or not), then each sends one game snapshot (one
//! precompressed frame, the same for all, so no client-side compressor weighs on the figure)
//! and reads its echo. Compression state is allocated at a connection's first compressed
//! message, so the figure is taken twice: open, and after one message each way.
//!
//! Each measurement runs in a child process (this example, `bench memory-child MODE N`): a
//! process that already freed the other sections' memory would reuse it and under-count.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use rust_websocket_core::config::Compression;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::extensions::{Deflate, CLIENT_OFFER};
use rust_websocket_core::frames::write::{Outgoing, Writer};
use rust_websocket_core::{Config, Server, ServerEvent};

use super::{game, rss_kib};

/// Connections per measurement.
const CONNECTIONS: usize = 200;

/// KiB per connection (open, after one message each way) for `mode`: "off", or the threshold
/// with compression on. `None` if the child failed (its output is shown).
pub fn measure(mode: &str) -> Option<(f64, f64)> {
    let out = Command::new(std::env::current_exe().ok()?)
        .args(["memory-child", mode, &CONNECTIONS.to_string()])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let parsed = text.lines().find_map(|l| {
        let mut v = l.strip_prefix("MEMORY ")?.split_whitespace().map(|v| v.parse::<f64>().ok());
        Some((v.next()??, v.next()??))
    });
    if parsed.is_none() {
        eprintln!("memory child ({mode}) failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    parsed
}

/// The child: prints `MEMORY <KiB per connection open> <KiB after one message each way>`.
pub fn child(mode: &str, n: usize) {
    let compression = match mode {
        "off" => Compression { enabled: false, ..Compression::default() },
        t => Compression { enabled: true, threshold: t.parse().expect("memory-child off|THRESHOLD N") },
    };
    let mut server = Server::listen("127.0.0.1:0".parse().unwrap(), Config { compression, ..Config::default() }, None)
        .expect("listen");
    server.set_max_peers(n + 10);
    let frame = client_frame(&game::snapshots(1)[0], compression.enabled);
    server.poll(Instant::now());
    let before = rss_kib();
    let (mut clients, peers) = connect(&mut server, n, compression.enabled);
    let open = rss_kib();
    exchange(&mut server, &mut clients, &peers, &frame, compression.enabled);
    let after = rss_kib();
    let per = |kib: u64| kib.saturating_sub(before) as f64 / n as f64;
    println!("MEMORY {:.1} {:.1}", per(open), per(after));
}

/// One masked text frame holding `msg`, compressed as a client's first message when `deflate`.
fn client_frame(msg: &[u8], deflate: bool) -> Vec<u8> {
    let agreed = Deflate { send_window: 15, send_no_context: false, receive_window: 15, receive_no_context: false };
    let mut w = Writer::new(false, deflate.then_some(&agreed), 0);
    w.message(&Outgoing::new(msg, true)).expect("compress");
    let mut out = Vec::new();
    w.flush(&mut out).expect("a Vec takes everything");
    out
}

/// `n` raw clients through the upgrade, offering permessage-deflate when `offer` (and checking
/// that the server agreed exactly then); the server's side of each.
fn connect(server: &mut Server, n: usize, offer: bool) -> (Vec<TcpStream>, Vec<SharedConnection>) {
    let addr = server.local_addr();
    let ext = if offer { format!("Sec-WebSocket-Extensions: {CLIENT_OFFER}\r\n") } else { String::new() };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{ext}\r\n"
    );
    let (mut clients, mut ids) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let take = |server: &mut Server, ids: &mut Vec<u32>| {
        ids.extend(server.poll(Instant::now()).into_iter().filter_map(|e| match e {
            ServerEvent::Connected { id, .. } => Some(id),
            _ => None,
        }))
    };
    for _ in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.write_all(request.as_bytes()).unwrap();
        clients.push(s);
        take(server, &mut ids);
    }
    let start = Instant::now();
    while ids.len() < n {
        assert!(start.elapsed() < Duration::from_secs(60), "only {} of {n} connected", ids.len());
        take(server, &mut ids);
    }
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 1024];
        let k = c.read(&mut buf).unwrap();
        let head = &buf[..k];
        let agreed = String::from_utf8_lossy(head).contains("permessage-deflate");
        assert!(head.starts_with(b"HTTP/1.1 101") && agreed == offer, "{}", String::from_utf8_lossy(head));
    }
    let peers = ids.iter().map(|id| server.peer(*id).expect("peer")).collect();
    (clients, peers)
}

/// Each client sends `frame`; the server echoes each message; each client reads its echo's
/// first byte (FIN, RSV1 when compressed, text).
fn exchange(server: &mut Server, clients: &mut [TcpStream], peers: &[SharedConnection], frame: &[u8], deflate: bool) {
    for c in clients.iter_mut() {
        c.write_all(frame).unwrap();
    }
    let (mut echoed, start) = (0, Instant::now());
    while echoed < peers.len() {
        assert!(start.elapsed() < Duration::from_secs(60), "only {echoed} of {} echoed", peers.len());
        server.poll(Instant::now());
        for peer in peers {
            let mut p = peer.borrow_mut();
            while let Some(m) = p.pop() {
                p.send(&m.data, m.text, Instant::now()).expect("server send");
                echoed += 1;
            }
        }
    }
    for c in clients.iter_mut() {
        let mut first = [0u8; 1];
        c.read_exact(&mut first).unwrap();
        assert_eq!(first[0], if deflate { 0xC1 } else { 0x81 }, "the echo's first byte");
    }
}
