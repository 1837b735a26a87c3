//! Helpers shared by the loopback test files.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use rust_websocket_core::{Connection, ReadyState, Server, ServerEvent};

pub const LIMIT: Duration = Duration::from_secs(10);

/// Polls the server and the client until `done` says so; fails the test after LIMIT.
pub fn pump(
    s: &mut Server,
    c: &mut Connection,
    log: &mut Vec<ServerEvent>,
    mut done: impl FnMut(&Server, &Connection, &[ServerEvent]) -> bool,
) {
    let start = Instant::now();
    while !done(s, c, log) {
        assert!(
            start.elapsed() < LIMIT,
            "timed out; server events so far: {log:?}, client state {:?}",
            c.ready_state()
        );
        log.extend(s.poll(Instant::now()));
        c.poll(Instant::now());
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Pumps until the client leaves CONNECTING; returns the client's warnings.
pub fn pump_until_settled(s: &mut Server, c: &mut Connection, log: &mut Vec<ServerEvent>) -> Vec<String> {
    pump(s, c, log, |_, c, _| c.ready_state() != ReadyState::Connecting);
    c.take_events()
        .into_iter()
        .filter_map(|e| match e {
            rust_websocket_core::Event::Warning(w) => Some(w),
            _ => None,
        })
        .collect()
}

/// Whether this run drives servers from their I/O thread (`RUST_WEBSOCKET_IO_THREAD=1`:
/// `cargo xtask test` runs the loopback suites in both modes).
pub fn threaded() -> bool {
    std::env::var("RUST_WEBSOCKET_IO_THREAD").is_ok_and(|v| v == "1")
}

/// A server on 127.0.0.1 with a free port, driven from its I/O thread when [`threaded`].
pub fn listen(
    config: rust_websocket_core::Config,
    tls: Option<std::sync::Arc<rust_websocket_core::rustls::ServerConfig>>,
) -> Server {
    let mut s = Server::listen("127.0.0.1:0".parse().unwrap(), config, tls).expect("listen");
    if threaded() {
        s.start_io_thread().expect("start the I/O thread");
    }
    s
}
