//! The process-wide counters (`stats`), alone in their own test process so that no other test's
//! traffic moves them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

mod common;

use common::pump;
use rust_websocket_core::stats::{self, Snapshot};
use rust_websocket_core::{Config, Connection, ReadyState, Server};

#[test]
fn counters_follow_connections_messages_bytes_and_refusals() {
    assert_eq!(stats::snapshot(), Snapshot::default());
    let mut s = Server::listen("127.0.0.1:0".parse().unwrap(), Config::default(), None).unwrap();
    let mut c = Connection::default();
    c.connect(&format!("ws://127.0.0.1:{}/", s.local_addr().port()), None, Instant::now()).unwrap();
    let mut log = Vec::new();
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Open && stats::snapshot().open == 2);
    for n in [10usize, 20, 30] {
        c.send(&vec![b'x'; n], false, Instant::now()).unwrap();
    }
    pump(&mut s, &mut c, &mut log, |_, _, _| stats::snapshot().messages_in == 3);
    let now = stats::snapshot();
    assert_eq!((now.messages_out, now.messages_in), (3, 3));
    // Client frames: 2 header + 4 mask bytes each, plus the payloads.
    assert_eq!((now.bytes_out, now.bytes_in), (60 + 18, 60 + 18));

    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    pump(&mut s, &mut c, &mut log, |_, _, _| stats::snapshot().handshakes_refused == 1);
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");

    c.close(Some(1000), "", Instant::now());
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Closed && stats::snapshot().open == 0);
    let mut dropped = Connection::default();
    dropped.connect(&format!("ws://127.0.0.1:{}/", s.local_addr().port()), None, Instant::now()).unwrap();
    pump(&mut s, &mut dropped, &mut log, |_, c, _| c.ready_state() == ReadyState::Open);
    pump(&mut s, &mut c, &mut log, |_, _, _| stats::snapshot().open == 2);
    drop(dropped);
    assert_eq!(stats::snapshot().open, 1, "a connection dropped while open no longer counts");
}
