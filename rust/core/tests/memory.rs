//! The connection state machine over an in-memory stream that returns `WouldBlock` whenever it
//! is empty and moves one byte per call: every partial read and write path, with time as an
//! input (no sleeping).

use std::time::{Duration, Instant};

use rust_websocket_core::memory::MemoryStream;
use rust_websocket_core::{Config, Connection, Event, ReadyState};

fn pair(chunk: usize) -> (Connection, Connection, Instant) {
    let (mut a, mut b) = MemoryStream::pair();
    a.chunk = chunk;
    b.chunk = chunk;
    let now = Instant::now();
    let mut server = Connection::new(Config { supported_protocols: vec!["p1".into()], ..Config::default() });
    server.accept_stream(Box::new(a), now).unwrap();
    let mut client = Connection::new(Config { supported_protocols: vec!["p1".into()], ..Config::default() });
    client.connect_over("ws://game.example/lobby?x=1", Box::new(b), now).unwrap();
    (server, client, now)
}

fn pump(
    server: &mut Connection,
    client: &mut Connection,
    now: Instant,
    done: impl Fn(&Connection, &Connection) -> bool,
) {
    for _ in 0..200_000 {
        if done(server, client) {
            return;
        }
        server.poll(now);
        client.poll(now);
    }
    panic!("no progress: server {:?}, client {:?}", server.ready_state(), client.ready_state());
}

#[test]
fn one_byte_at_a_time_handshake_messages_and_close() {
    let (mut server, mut client, now) = pair(1);
    // Each poll reads and writes until the stream would block, one byte per call.
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    assert_eq!(server.requested_url(), "ws://game.example/lobby?x=1");
    assert_eq!((server.selected_protocol(), client.selected_protocol()), ("p1", "p1"));
    assert!(server.take_events().contains(&Event::Open { protocol: "p1".into() }));

    client.send("héllo".as_bytes(), true, now).unwrap();
    client.send(&vec![9u8; 70_000][..65_000], false, now).unwrap();
    server.send(b"", false, now).unwrap();
    pump(&mut server, &mut client, now, |s, c| s.available() == 2 && c.available() == 1);
    let p = server.pop().unwrap();
    assert_eq!((&p.data[..], p.text), ("héllo".as_bytes(), true));
    assert_eq!(server.pop().unwrap().data.len(), 65_000);
    assert_eq!(client.pop().unwrap().data.len(), 0);

    server.close(Some(4321), "memory bye", now);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Closed && c.ready_state() == ReadyState::Closed
    });
    assert_eq!((client.close_code(), client.close_reason()), (Some(4321), "memory bye"));
    assert_eq!(server.close_code(), Some(4321));
    assert!(client.take_events().contains(&Event::CloseRequest { code: 4321, reason: "memory bye".into() }));
}

#[test]
fn handshake_timeout_is_driven_by_the_clock_given() {
    let (a, _b) = MemoryStream::pair();
    let now = Instant::now();
    let mut server = Connection::new(Config { handshake_timeout: Some(Duration::from_secs(3)), ..Config::default() });
    server.accept_stream(Box::new(a), now).unwrap();
    server.poll(now + Duration::from_millis(2999));
    assert_eq!(server.ready_state(), ReadyState::Connecting);
    assert_eq!(server.next_deadline(), Some(now + Duration::from_secs(3)));
    server.poll(now + Duration::from_secs(3));
    assert_eq!((server.ready_state(), server.close_code()), (ReadyState::Closed, None));
    assert!(server.take_events().iter().any(|e| matches!(e, Event::Warning(w) if w.contains("timed out"))));
}

#[test]
fn garbage_gets_a_400_and_a_closed_connection() {
    let (a, mut b) = MemoryStream::pair();
    let now = Instant::now();
    let mut server = Connection::default();
    server.accept_stream(Box::new(a), now).unwrap();
    use std::io::Write;
    b.write_all(b"\x16\x03\x01\x02\x00garbage\r\n\r\n").unwrap();
    for _ in 0..10 {
        server.poll(now);
    }
    let reply = String::from_utf8(b.take_all()).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    assert_eq!(server.ready_state(), ReadyState::Closed);
    assert!(server.is_lingering(), "the socket drains, so the 400 is not lost to a reset");
    assert!(server.take_events().contains(&Event::Closed { was_open: false, clean: false }));
}

#[test]
fn full_inbound_queue_stops_reading_and_resumes_when_drained() {
    let (mut server, mut client, now) = pair(usize::MAX);
    server.config_mut().max_queued_packets = 2;
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    for i in 0..6u8 {
        client.send(&[i], false, now).unwrap();
    }
    pump(&mut server, &mut client, now, |s, _| s.available() == 2);
    for _ in 0..50 {
        server.poll(now);
    }
    assert_eq!(server.available(), 2, "reading stopped at the cap; nothing dropped");
    let mut got = Vec::new();
    while got.len() < 6 {
        server.poll(now);
        if let Some(p) = server.pop() {
            got.push(p.data[0]);
        }
    }
    assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_remote_that_never_answers_our_close_is_dropped_after_the_close_timeout() {
    let (mut server, mut client, now) = pair(usize::MAX);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    // From now on the client is never polled again: it neither reads nor answers.
    server.close(Some(1000), "bye", now);
    assert_eq!(server.ready_state(), ReadyState::Closing);
    server.poll(now + Duration::from_secs(4));
    assert_eq!(server.ready_state(), ReadyState::Closing);
    assert_eq!(server.next_deadline(), Some(now + rust_websocket_core::connection::CLOSE_TIMEOUT));
    server.poll(now + Duration::from_secs(5));
    assert_eq!((server.ready_state(), server.close_code()), (ReadyState::Closed, None));
    let events = server.take_events();
    assert!(events.contains(&Event::Closed { was_open: true, clean: false }), "{events:?}");
    assert!(events.iter().any(|e| matches!(e, Event::Warning(w) if w.contains("closing handshake"))), "{events:?}");
}

#[test]
fn a_close_without_a_status_code_reads_1005_on_both_ends() {
    let (mut server, mut client, now) = pair(usize::MAX);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    client.close(None, "ignored without a code", now);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Closed && c.ready_state() == ReadyState::Closed
    });
    assert_eq!((server.close_code(), server.close_reason()), (Some(1005), ""));
    assert_eq!(client.close_code(), Some(1005));
    assert!(server.take_events().contains(&Event::CloseRequest { code: 1005, reason: String::new() }));
}

#[test]
fn durations_past_the_end_of_time_mean_never_and_do_not_panic() {
    let (a, b) = MemoryStream::pair();
    let now = Instant::now();
    let forever =
        Config { heartbeat_interval: Some(Duration::MAX), handshake_timeout: Some(Duration::MAX), ..Config::default() };
    let mut server = Connection::new(forever.clone());
    server.accept_stream(Box::new(a), now).unwrap();
    let mut client = Connection::new(forever);
    client.connect_over("ws://h/", Box::new(b), now).unwrap();
    assert_eq!(server.next_deadline(), None, "no handshake deadline can be represented");
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    // The first ping went out at once; the next one never comes, so a missing pong never closes.
    let much_later = now + Duration::from_secs(100 * 365 * 24 * 3600);
    for _ in 0..10 {
        server.poll(much_later);
        client.poll(much_later);
    }
    assert_eq!((server.ready_state(), client.ready_state()), (ReadyState::Open, ReadyState::Open));
    assert_eq!(server.next_deadline(), None);
}

#[test]
fn abort_closes_at_once_without_a_close_code_or_frame() {
    let (mut server, mut client, now) = pair(usize::MAX);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    client.abort(now);
    assert_eq!((client.ready_state(), client.close_code()), (ReadyState::Closed, None));
    assert!(client.take_events().contains(&Event::Closed { was_open: true, clean: false }));
    pump(&mut server, &mut client, now, |s, _| s.ready_state() == ReadyState::Closed);
    assert_eq!(server.close_code(), None, "no close frame reached the server");
}

#[test]
fn a_close_frame_with_a_code_that_may_not_be_sent_fails_the_connection_with_1002() {
    use std::io::Write;
    for bad in [0u16, 999, 1004, 1005, 1006, 1015, 2999, 5000] {
        let (a, mut b) = MemoryStream::pair();
        let now = Instant::now();
        let mut server = Connection::default();
        server.accept_stream(Box::new(a), now).unwrap();
        let mut request = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n".to_vec();
        request.extend_from_slice(b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        b.write_all(&request).unwrap();
        server.poll(now);
        assert_eq!(server.ready_state(), ReadyState::Open);
        // A masked close frame (mask 0) with the code.
        let code = bad.to_be_bytes();
        b.write_all(&[0x88, 0x82, 0, 0, 0, 0, code[0], code[1]]).unwrap();
        for _ in 0..5 {
            server.poll(now);
        }
        assert_eq!(
            (server.ready_state(), server.close_code(), server.close_reason()),
            (ReadyState::Closed, Some(1002), "Protocol error"),
            "{bad}"
        );
        let events = server.take_events();
        assert!(!events.iter().any(|e| matches!(e, Event::CloseRequest { .. })), "{bad}: {events:?}");
        assert!(events.iter().any(|e| matches!(e, Event::Warning(w) if w.contains("code 1002"))), "{bad}: {events:?}");
        let sent = b.take_all();
        let head_end = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let reply = &sent[head_end..];
        assert_eq!(reply[0], 0x88, "{bad}: our answer is a close frame: {reply:?}");
        assert_eq!(u16::from_be_bytes([reply[2], reply[3]]), 1002, "{bad}");
    }
}

#[test]
fn a_close_code_that_may_not_be_sent_goes_out_as_no_code() {
    use rust_websocket_core::connection::is_sendable_close_code;
    for code in [1000, 1001, 1002, 1003, 1007, 1011, 1013, 3000, 4999] {
        assert!(is_sendable_close_code(code), "{code}");
    }
    for code in [0, 999, 1004, 1005, 1006, 1014, 1015, 2999, 5000, 65535] {
        assert!(!is_sendable_close_code(code), "{code}");
    }
    let (mut server, mut client, now) = pair(usize::MAX);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    client.close(Some(1005), "not sent", now);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Closed && c.ready_state() == ReadyState::Closed
    });
    assert_eq!((server.close_code(), server.close_reason()), (Some(1005), ""), "a close frame without a code");
}

#[test]
fn a_first_close_frame_1002_protocol_violation_is_a_close_request_like_any_other() {
    // tungstenite substituted exactly this frame for a remote's unsendable close code; our frame
    // layer sees the original frame, so a remote closing first with it is heard as sent.
    let (mut server, mut client, now) = pair(usize::MAX);
    pump(&mut server, &mut client, now, |s, c| {
        s.ready_state() == ReadyState::Open && c.ready_state() == ReadyState::Open
    });
    client.close(Some(1002), "Protocol violation", now);
    pump(&mut server, &mut client, now, |s, _| s.ready_state() == ReadyState::Closed);
    assert_eq!((server.close_code(), server.close_reason()), (Some(1002), "Protocol violation"));
    let request = Event::CloseRequest { code: 1002, reason: "Protocol violation".into() };
    assert!(server.take_events().contains(&request));
}
