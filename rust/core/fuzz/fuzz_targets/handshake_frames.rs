//! Arbitrary bytes into the handshake and frame paths of both sides of a connection: nothing
//! may panic, and memory stays bounded by the configured caps.
#![no_main]

use std::io::Write;
use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use rust_websocket_core::memory::MemoryStream;
use rust_websocket_core::config::Compression;
use rust_websocket_core::{Config, Connection};

const REQUEST: &[u8] = b"GET /f HTTP/1.1\r\nHost: f\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/// `compress`: permessage-deflate offered and accepted, so frames with RSV1 are inflated.
fn config(compress: bool) -> Config {
    let compression = Compression { enabled: compress, threshold: 0 };
    Config { inbound_buffer_size: 4096, max_queued_packets: 8, compression, ..Config::default() }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let now = Instant::now();
    let (mut ours, mut theirs) = MemoryStream::pair();
    ours.chunk = 1 + (mode as usize >> 2) % 64;
    let mut conn = Connection::new(config(mode & 0x40 != 0));
    match mode & 3 {
        // The server side reading a raw request (or garbage).
        0 => conn.accept_stream(Box::new(ours), now).unwrap(),
        // The server side after a valid upgrade: the bytes are frames from the client.
        1 => {
            conn.accept_stream(Box::new(ours), now).unwrap();
            theirs.write_all(REQUEST).unwrap();
        }
        // The client side reading a raw response (or garbage).
        _ => conn.connect_over("ws://f/", Box::new(ours), now).unwrap(),
    }
    theirs.write_all(rest).unwrap();
    if mode & 0x80 != 0 {
        theirs.close();
    }
    for round in 0..16 {
        conn.poll(now);
        if round % 2 == 0 {
            while conn.pop().is_some() {}
        }
        let _ = conn.send(b"probe", true, now);
        let _ = theirs.take_all();
    }
    conn.close(Some(1000), "end", now);
    conn.poll(now);
    let _ = conn.take_events();
});
