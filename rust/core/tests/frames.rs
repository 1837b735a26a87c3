//! The frame layer through whole connections over the in-memory stream: the order of messages
//! and failures, fail-fast UTF-8, RSV1 rules, permessage-deflate between two of our connections
//! and against a raw peer (the decompression-bomb cap, the threshold, context takeover).

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rust_websocket_core::config::Compression;
use rust_websocket_core::frames::deflate::Compressor;
use rust_websocket_core::memory::MemoryStream;
use rust_websocket_core::transport::ByteStream;
use rust_websocket_core::{Config, Connection, Event, ReadyState};

const REQUEST: &str = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

fn compressing() -> Config {
    Config { compression: Compression { enabled: true, threshold: 0 }, ..Config::default() }
}

/// A server connection opened by a raw client that sent `extra_headers`; returns the server,
/// the raw client's end, and what the server answered (the 101 head).
fn raw_client(config: Config, extra_headers: &str) -> (Connection, MemoryStream, String, Instant) {
    let (a, mut b) = MemoryStream::pair();
    let now = Instant::now();
    let mut server = Connection::new(config);
    server.accept_stream(Box::new(a), now).unwrap();
    b.write_all(format!("{REQUEST}{extra_headers}\r\n").as_bytes()).unwrap();
    server.poll(now);
    assert_eq!(server.ready_state(), ReadyState::Open);
    assert_eq!(server.take_events(), vec![Event::Open { protocol: String::new() }]);
    let sent = b.take_all();
    let head = String::from_utf8(sent).unwrap();
    (server, b, head, now)
}

/// A masked frame (mask 1,2,3,4) with the given first byte.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The frames a server wrote (unmasked): (first byte, payload).
fn frames_in(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 2 {
        let (len, at) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        out.push((bytes[0], bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    out
}

fn poll_until(conn: &mut Connection, now: Instant, state: ReadyState) {
    for _ in 0..1000 {
        if conn.ready_state() == state {
            return;
        }
        conn.poll(now);
    }
    panic!("stuck in {:?}, waiting for {state:?}", conn.ready_state());
}

fn close_code_sent(bytes: &[u8]) -> Option<u16> {
    frames_in(bytes).into_iter().find(|(b, _)| *b == 0x88).map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
}

#[test]
fn messages_before_a_violation_are_delivered_and_answered_before_the_connection_fails() {
    for bad in [frame(0x81 | 0x20, b"rsv2"), frame(0x83, b"reserved opcode"), frame(0x80, b"continues nothing")] {
        let (mut server, mut raw, _, now) = raw_client(Config::default(), "");
        let mut both = frame(0x81, b"first");
        both.extend_from_slice(&bad);
        raw.write_all(&both).unwrap();
        server.poll(now);
        assert_eq!(server.ready_state(), ReadyState::Open, "the game gets one poll to answer");
        assert_eq!(server.take_events(), vec![Event::Message]);
        let echo = server.pop().unwrap();
        server.send(&echo.data, echo.text, now).unwrap();
        server.poll(now);
        assert_eq!((server.ready_state(), server.close_code()), (ReadyState::Closed, Some(1002)));
        let sent = frames_in(&raw.take_all());
        assert_eq!(sent[0], (0x81, b"first".to_vec()), "the echo goes out first");
        assert_eq!(sent[1].0, 0x88);
        assert_eq!(u16::from_be_bytes([sent[1].1[0], sent[1].1[1]]), 1002);
    }
}

#[test]
fn a_violation_with_nothing_delivered_fails_at_once() {
    let (mut server, mut raw, _, now) = raw_client(Config::default(), "");
    raw.write_all(&frame(0x81 | 0x40, b"rsv1 without an extension")).unwrap();
    server.poll(now);
    assert_eq!((server.ready_state(), server.close_code()), (ReadyState::Closed, Some(1002)));
    let warned = server.take_events().into_iter().any(|e| matches!(e, Event::Warning(w) if w.contains("RSV1")));
    assert!(warned, "the log says why");
    assert_eq!(close_code_sent(&raw.take_all()), Some(1002));
}

/// A server connection pinging every 100 ms whose raw client never answers: the poll that
/// opened it sent the first ping.
fn pinging_a_silent_client() -> (Connection, MemoryStream, Instant) {
    let (a, mut raw) = MemoryStream::pair();
    let now = Instant::now();
    let mut server =
        Connection::new(Config { heartbeat_interval: Some(Duration::from_millis(100)), ..Config::default() });
    server.accept_stream(Box::new(a), now).unwrap();
    raw.write_all(format!("{REQUEST}\r\n").as_bytes()).unwrap();
    server.poll(now);
    assert_eq!(server.take_events(), vec![Event::Open { protocol: String::new() }]);
    let sent = raw.take_all();
    assert!(sent.starts_with(b"HTTP/1.1 101"));
    assert!(sent.ends_with(b"\r\n\r\n\x89\x00"), "the first ping follows the 101");
    (server, raw, now)
}

#[test]
fn after_a_late_poll_a_held_violation_keeps_its_code_over_the_missing_pong() {
    let (mut server, mut raw, t0) = pinging_a_silent_client();
    // While the owner was in a long frame, a message came, then a frame with RSV2 set.
    let mut both = frame(0x81, b"hello");
    both.extend_from_slice(&frame(0x81 | 0x20, b"bad"));
    raw.write_all(&both).unwrap();
    let late = t0 + Duration::from_millis(150);
    server.poll(late);
    assert_eq!(server.take_events(), vec![Event::Message]);
    assert_eq!(server.ready_state(), ReadyState::Open, "the message's handlers get their poll");
    assert_eq!(server.pop().unwrap().data.as_ref(), b"hello");
    server.poll(late);
    assert_eq!(frames_in(&raw.take_all())[0], (0x88, vec![0x03, 0xEA]), "failed with 1002, not dropped for the pong");
}

#[test]
fn after_a_late_poll_a_close_frame_that_came_meanwhile_closes_with_its_code() {
    let (mut server, mut raw, t0) = pinging_a_silent_client();
    raw.write_all(&frame(0x88, &[0x0F, 0xA0, b'b', b'y', b'e'])).unwrap(); // 4000 "bye"
    server.poll(t0 + Duration::from_millis(150));
    let events = server.take_events();
    assert!(events.contains(&Event::CloseRequest { code: 4000, reason: "bye".into() }), "{events:?}");
    let echoed = (0x88, vec![0x0F, 0xA0, b'b', b'y', b'e']);
    assert_eq!(frames_in(&raw.take_all())[0], echoed, "the close frame echoed, not dropped for the pong");
    assert_eq!(server.close_code(), Some(4000));
}

#[test]
fn invalid_utf8_fails_before_the_frame_is_complete() {
    let (mut server, mut raw, _, now) = raw_client(Config::default(), "");
    let mut text = b"hello \xf4\x90 world".to_vec();
    text.resize(100, b'x');
    let whole = frame(0x81, &text);
    // Only the header and the first 10 payload bytes arrive: the invalid byte is among them.
    raw.write_all(&whole[..6 + 10]).unwrap();
    server.poll(now);
    assert_eq!((server.ready_state(), server.close_code()), (ReadyState::Closed, Some(1007)));
    assert_eq!(close_code_sent(&raw.take_all()), Some(1007));
}

#[test]
fn a_text_message_cut_inside_a_character_across_frames_is_valid() {
    let (mut server, mut raw, _, now) = raw_client(Config::default(), "");
    let euro = "€".as_bytes();
    let mut bytes = frame(0x01, &euro[..1]);
    bytes.extend(frame(0x00, &euro[1..2]));
    bytes.extend(frame(0x89, b"ping between fragments"));
    bytes.extend(frame(0x80, &euro[2..]));
    raw.write_all(&bytes).unwrap();
    server.poll(now);
    assert_eq!(server.pop().map(|p| (p.data.to_vec(), p.text)), Some((euro.to_vec(), true)));
    assert_eq!(frames_in(&raw.take_all()), vec![(0x8a, b"ping between fragments".to_vec())], "the pong");
}

#[test]
fn compression_is_off_unless_enabled_and_then_negotiated() {
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
    let (server, _, head, _) = raw_client(Config::default(), offer);
    assert!(!head.contains("Extensions"), "not accepted when off: {head}");
    assert_eq!(server.negotiated_extensions(), "");
    let (server, _, head, _) = raw_client(compressing(), offer);
    assert!(head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"), "{head}");
    assert_eq!(server.negotiated_extensions(), "permessage-deflate");
}

#[test]
fn a_decompression_bomb_is_closed_with_1009_without_inflating_it() {
    let offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
    let (mut server, mut raw, _, now) = raw_client(compressing(), offer);
    let mut bomb = Vec::new();
    Compressor::new(15, false).compress(&vec![b'a'; 64 << 20], &mut bomb).unwrap();
    assert!(bomb.len() < 100_000, "64 MiB in {} bytes", bomb.len());
    raw.write_all(&frame(0x82 | 0x40, &bomb)).unwrap();
    poll_until(&mut server, now, ReadyState::Closed);
    assert_eq!(server.close_code(), Some(1009));
    assert_eq!(server.available(), 0);
    assert_eq!(close_code_sent(&raw.take_all()), Some(1009));
}

#[test]
fn compressed_text_that_inflates_to_invalid_utf8_is_closed_with_1007() {
    let (mut server, mut raw, _, now) = raw_client(compressing(), "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    let mut payload = Vec::new();
    Compressor::new(15, false).compress(b"fine until \xff", &mut payload).unwrap();
    raw.write_all(&frame(0x81 | 0x40, &payload)).unwrap();
    poll_until(&mut server, now, ReadyState::Closed);
    assert_eq!(server.close_code(), Some(1007));
}

#[test]
fn rsv1_on_a_continuation_or_control_frame_is_a_protocol_error() {
    for bad in [vec![frame(0x01 | 0x40, b"{"), frame(0x80 | 0x40, b"}")], vec![frame(0x89 | 0x40, b"ping")]] {
        let (mut server, mut raw, _, now) =
            raw_client(compressing(), "Sec-WebSocket-Extensions: permessage-deflate\r\n");
        raw.write_all(&bad.concat()).unwrap();
        poll_until(&mut server, now, ReadyState::Closed);
        assert_eq!(server.close_code(), Some(1002));
    }
}

#[test]
fn below_the_threshold_messages_go_uncompressed_and_above_it_compressed() {
    let config = Config { compression: Compression { enabled: true, threshold: 100 }, ..Config::default() };
    let (mut server, mut raw, _, now) = raw_client(config, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    server.send(&[b'x'; 99], false, now).unwrap();
    server.send(&[b'x'; 100], false, now).unwrap();
    let sent = frames_in(&raw.take_all());
    assert_eq!((sent[0].0, sent[0].1.len()), (0x82, 99), "uncompressed, RSV1 clear");
    assert_eq!(sent[1].0, 0x82 | 0x40, "compressed, RSV1 set");
    assert!(sent[1].1.len() < 20, "100 equal bytes compress: {} bytes", sent[1].1.len());
}

#[test]
fn a_server_window_limit_of_8_bits_is_honoured_by_not_compressing() {
    let offer = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=8\r\n";
    let (mut server, mut raw, head, now) = raw_client(compressing(), offer);
    assert!(head.contains("permessage-deflate; server_max_window_bits=8"), "{head}");
    server.send(&[b'x'; 1000], true, now).unwrap();
    assert_eq!(frames_in(&raw.take_all())[0].0, 0x81, "zlib has no 8-bit window: sent uncompressed");
}

/// A stream that counts the bytes written through it.
struct Counting {
    inner: MemoryStream,
    written: Arc<AtomicUsize>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n, Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl ByteStream for Counting {
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn set_nodelay(&mut self, _: bool) -> bool {
        true
    }
    fn is_tls(&self) -> bool {
        false
    }
    fn shutdown(&mut self) {}
}

fn game_state(tick: usize) -> String {
    let entities: Vec<String> = (0..50)
        .map(|i| format!("{{\"id\":{i},\"x\":{},\"y\":{},\"hp\":{},\"anim\":\"run\"}}", i * 13 + tick, i * 7, 100 - i))
        .collect();
    format!("{{\"tick\":{tick},\"entities\":[{}]}}", entities.join(","))
}

#[test]
fn context_takeover_across_1000_messages_each_way_between_our_client_and_server() {
    let (a, b) = MemoryStream::pair();
    let (to_client, to_server) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let now = Instant::now();
    let mut server = Connection::new(compressing());
    server.accept_stream(Box::new(Counting { inner: a, written: to_client.clone() }), now).unwrap();
    let mut client = Connection::new(compressing());
    client.connect_over("ws://h/", Box::new(Counting { inner: b, written: to_server.clone() }), now).unwrap();
    while client.ready_state() != ReadyState::Open {
        server.poll(now);
        client.poll(now);
    }
    assert_eq!(client.negotiated_extensions(), "permessage-deflate");
    assert_eq!(server.negotiated_extensions(), "permessage-deflate");
    let (start_up, start_down) = (to_server.load(Relaxed), to_client.load(Relaxed));
    let mut payload = 0;
    for tick in 0..1000 {
        let msg = game_state(tick);
        payload += msg.len();
        client.send(msg.as_bytes(), true, now).unwrap();
        server.poll(now);
        let got = server.pop().unwrap();
        assert_eq!((got.data.as_ref(), got.text), (msg.as_bytes(), true), "tick {tick} to the server");
        server.send(&got.data, false, now).unwrap();
        client.poll(now);
        let back = client.pop().unwrap();
        assert_eq!((back.data.as_ref(), back.text), (msg.as_bytes(), false), "tick {tick} back");
    }
    let (up, down) = (to_server.load(Relaxed) - start_up, to_client.load(Relaxed) - start_down);
    assert!(up * 5 < payload && down * 5 < payload, "{payload} bytes of messages took {up} up and {down} down");
}

#[test]
fn every_ping_gets_its_pong_while_the_socket_keeps_up() {
    let (mut server, mut raw, _, now) = raw_client(Config::default(), "");
    let pings: Vec<u8> = (0..10u8).flat_map(|i| frame(0x89, &[i; 3])).collect();
    raw.write_all(&pings).unwrap();
    server.poll(now);
    let pongs: Vec<(u8, Vec<u8>)> = (0..10u8).map(|i| (0x8a, vec![i; 3])).collect();
    assert_eq!(frames_in(&raw.take_all()), pongs, "Autobahn 2.10: all ten, in order");
}

#[test]
fn a_ping_flood_from_a_peer_that_never_reads_holds_one_pong_at_most() {
    let (a, mut raw) = MemoryStream::pair();
    let now = Instant::now();
    let mut server = Connection::default();
    let mut ours = a;
    ours.capacity = 1000; // what the peer leaves unread before our writes block
    server.accept_stream(Box::new(ours), now).unwrap();
    raw.write_all(format!("{REQUEST}\r\n").as_bytes()).unwrap();
    server.poll(now);
    let head = raw.take_all();
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let flood: Vec<u8> = (0..10_000u32).flat_map(|i| frame(0x89, &i.to_be_bytes())).collect();
    raw.write_all(&flood).unwrap();
    server.poll(now);
    assert_eq!(server.ready_state(), ReadyState::Open);
    let mut written = raw.take_all();
    assert!(written.len() <= 1000, "the peer's buffer, no more");
    // The peer reads at last: what was waiting goes out, ending with the latest ping's answer.
    server.poll(now);
    written.extend(raw.take_all());
    let pongs = frames_in(&written);
    assert!(pongs.len() <= 1000 / 6 + 2, "{} pongs in all for 10,000 pings", pongs.len());
    assert!(pongs.iter().all(|(b, _)| *b == 0x8a));
    assert_eq!(pongs.last().unwrap().1, 9_999u32.to_be_bytes().to_vec(), "the latest ping answered");
}
