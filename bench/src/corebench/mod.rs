//! `bench core`: the core's figures, not pass/fail.
//!
//! * idle scale: N raw clients complete the upgrade and then stay silent; prints the server's
//!   resident memory per connection and the cost of one `Server::poll` with all of them idle
//!   (`bench core N`; 5,000 by default);
//! * throughput: one client echoing messages of a few sizes through the server, all on 127.0.0.1;
//! * compression (`compression.rs`): game-state JSON echoed with permessage-deflate off and on:
//!   round trips/s, wire bytes per message each way, ratio, server KiB per connection; then the
//!   same rows against Node `ws` echo servers (`node.rs`).
//!
//! Internal mode: `bench memory-child MODE N` (one memory figure, `deflate_memory.rs`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use rust_websocket_core::{Config, Connection, ReadyState, Server, ServerEvent};

use crate::Result;

mod compression;
mod deflate_memory;
mod game;
mod node;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(args: &[String]) -> Result<()> {
    crate::run::step("the core's figures: idle scale, echo throughput, permessage-deflate");
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    idle(n);
    throughput();
    compression::run();
    if let Err(e) = node::run() {
        println!("compression rows against Node ws: {e}");
    }
    Ok(())
}

/// `memory-child MODE N`: one memory figure, in a process of its own (`deflate_memory.rs`).
pub fn memory_child(args: &[String]) -> Result<()> {
    let n = args.get(1).and_then(|a| a.parse().ok()).ok_or("memory-child MODE N")?;
    deflate_memory::child(&args[0], n);
    Ok(())
}

fn idle(n: usize) {
    let mut server = Server::listen("127.0.0.1:0".parse().unwrap(), Config::default(), None).unwrap();
    server.set_max_peers(n + 10);
    let addr = server.local_addr();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    // Warm up the allocator and the poll before measuring.
    server.poll(Instant::now());
    let before = rss_kib();
    let mut clients = Vec::with_capacity(n);
    let mut connected = 0;
    let start = Instant::now();
    for i in 0..n {
        let mut s = TcpStream::connect(addr).expect("connect (raise `ulimit -n`?)");
        s.write_all(request.as_bytes()).unwrap();
        clients.push(s);
        if i % 32 == 31 {
            connected += count_connected(server.poll(Instant::now()));
        }
    }
    while connected < n {
        assert!(start.elapsed() < Duration::from_secs(60), "only {connected} of {n} connected");
        connected += count_connected(server.poll(Instant::now()));
    }
    for c in &mut clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let _ = c.read(&mut buf).unwrap();
    }
    let after = rss_kib();
    let polls = 2000;
    let t = Instant::now();
    for _ in 0..polls {
        server.poll(Instant::now());
    }
    let per_poll = t.elapsed() / polls;
    println!("idle scale: {n} clients connected in {:.2} s", start.elapsed().as_secs_f64());
    println!(
        "idle scale: server resident memory {:.1} MiB -> {:.1} MiB, {:.1} KiB per connection",
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after.saturating_sub(before)) as f64 / n as f64
    );
    println!("idle scale: one poll() with {n} idle connections takes {:.1} µs", per_poll.as_secs_f64() * 1e6);
}

fn count_connected(events: Vec<ServerEvent>) -> usize {
    events.iter().filter(|e| matches!(e, ServerEvent::Connected { .. })).count()
}

fn throughput() {
    for size in [16usize, 1024, 64 * 1024, 1024 * 1024] {
        let config = Config { inbound_buffer_size: 2 << 20, outbound_buffer_size: None, ..Config::default() };
        let mut server = Server::listen("127.0.0.1:0".parse().unwrap(), config.clone(), None).unwrap();
        let mut c = Connection::new(config);
        c.connect(&format!("ws://{}/", server.local_addr()), None, Instant::now()).unwrap();
        let mut id = None;
        while c.ready_state() != ReadyState::Open || id.is_none() {
            for e in server.poll(Instant::now()) {
                if let ServerEvent::Connected { id: i, .. } = e {
                    id = Some(i);
                }
            }
            c.poll(Instant::now());
        }
        let peer = server.peer(id.unwrap()).unwrap();
        let payload = vec![0x5Au8; size];
        let total_bytes = 64usize << 20;
        let rounds = (total_bytes / size).clamp(64, 100_000);
        let t = Instant::now();
        let mut done = 0;
        let mut in_flight = 0;
        while done < rounds {
            while in_flight < 16 && done + in_flight < rounds {
                c.send(&payload, false, Instant::now()).unwrap();
                in_flight += 1;
            }
            server.poll(Instant::now());
            let mut p = peer.borrow_mut();
            while let Some(m) = p.pop() {
                p.send(&m.data, m.text, Instant::now()).unwrap();
            }
            drop(p);
            c.poll(Instant::now());
            while c.pop().is_some() {
                done += 1;
                in_flight -= 1;
            }
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "echo throughput: {size:>8} B messages: {:>9.0} round trips/s, {:>7.1} MiB/s each way",
            rounds as f64 / secs,
            (rounds * size) as f64 / secs / (1 << 20) as f64
        );
    }
}
