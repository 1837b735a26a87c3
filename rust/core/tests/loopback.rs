//! The core over real sockets on 127.0.0.1: our client against our server, and raw TCP peers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

mod common;

use common::{pump, LIMIT};
use rust_websocket_core::connection::Packet;
use rust_websocket_core::stats::Snapshot;
use rust_websocket_core::{Config, Connection, Event, ReadyState, SendError, Server, ServerEvent};

fn server(config: Config) -> Server {
    common::listen(config, None)
}

fn url(s: &Server, path: &str) -> String {
    format!("ws://127.0.0.1:{}{path}", s.local_addr().port())
}

fn connected(s: &mut Server, config: Config) -> (Connection, u32, Vec<ServerEvent>) {
    let mut c = Connection::new(config);
    c.connect(&url(s, "/game?room=1"), None, Instant::now()).unwrap();
    assert_eq!(c.ready_state(), ReadyState::Connecting);
    let mut log = Vec::new();
    pump(s, &mut c, &mut log, |_, c, log| {
        c.ready_state() == ReadyState::Open && log.iter().any(|e| matches!(e, ServerEvent::Connected { .. }))
    });
    let id = log
        .iter()
        .find_map(|e| match e {
            ServerEvent::Connected { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap();
    (c, id, log)
}

fn pop(c: &rust_websocket_core::connection::SharedConnection) -> Option<Packet> {
    c.borrow_mut().pop()
}

#[test]
fn echo_text_binary_and_clean_close_seen_on_both_sides() {
    let mut s = server(Config::default());
    let (mut c, id, mut log) = connected(&mut s, Config::default());
    assert!((2..=0x7FFF_FFFF).contains(&id));
    let peer = s.peer(id).unwrap();
    assert_eq!(peer.borrow().requested_url(), format!("ws://127.0.0.1:{}/game?room=1", s.local_addr().port()));

    c.send("héllo".as_bytes(), true, Instant::now()).unwrap();
    c.send(&[0, 1, 2, 255], false, Instant::now()).unwrap();
    c.send(&[], false, Instant::now()).unwrap();
    pump(&mut s, &mut c, &mut log, |_, _, log| {
        log.iter().filter(|e| matches!(e, ServerEvent::Data { .. })).count() == 3
    });
    // Echo each back with its type.
    while let Some(p) = pop(&peer) {
        peer.borrow_mut().send(&p.data, p.text, Instant::now()).unwrap();
    }
    pump(&mut s, &mut c, &mut log, |_, c, _| c.available() == 3);
    assert_eq!(c.pop().unwrap(), Packet { data: "héllo".as_bytes().to_vec().into(), text: true });
    assert_eq!(c.pop().unwrap(), Packet { data: vec![0, 1, 2, 255].into(), text: false });
    assert_eq!(c.pop().unwrap(), Packet { data: Vec::new().into(), text: false });

    c.close(Some(4000), "bye now", Instant::now());
    assert_eq!(c.ready_state(), ReadyState::Closing);
    pump(&mut s, &mut c, &mut log, |_, c, log| {
        c.ready_state() == ReadyState::Closed && log.iter().any(|e| matches!(e, ServerEvent::Disconnected { .. }))
    });
    assert!(log.contains(&ServerEvent::CloseRequest { id, code: 4000, reason: "bye now".into() }), "{log:?}");
    assert!(log.contains(&ServerEvent::Disconnected { id, clean: true }), "{log:?}");
    assert_eq!((c.close_code(), c.close_reason()), (Some(4000), "bye now"));
    assert_eq!(
        {
            let peer = peer.borrow();
            (peer.close_code(), peer.close_reason().to_string())
        },
        (Some(4000), "bye now".to_string())
    );
    assert!(s.peer(id).is_none());
}

#[test]
fn server_initiated_close_and_messages_before_it_stay_readable() {
    let mut s = server(Config::default());
    let (mut c, id, mut log) = connected(&mut s, Config::default());
    let peer = s.peer(id).unwrap();
    peer.borrow_mut().send(b"bye1", true, Instant::now()).unwrap();
    peer.borrow_mut().send(b"bye2", true, Instant::now()).unwrap();
    s.disconnect_peer(id, Some(4001), "done", Instant::now());
    pump(&mut s, &mut c, &mut log, |_, c, log| {
        c.ready_state() == ReadyState::Closed && log.iter().any(|e| matches!(e, ServerEvent::Disconnected { .. }))
    });
    assert_eq!((c.close_code(), c.close_reason()), (Some(4001), "done"));
    // The engine loses these (godot#107442); we keep them.
    assert_eq!(c.available(), 2);
    assert_eq!(&c.pop().unwrap().data[..], b"bye1");
    assert!(log.contains(&ServerEvent::Disconnected { id, clean: true }), "{log:?}");
    let events = c.take_events();
    assert!(events.contains(&Event::CloseRequest { code: 4001, reason: "done".into() }), "{events:?}");
}

#[test]
fn immediate_close_and_remote_drop_are_unclean() {
    let mut s = server(Config::default());
    let (mut c, id, mut log) = connected(&mut s, Config::default());
    c.abort(Instant::now());
    assert_eq!((c.ready_state(), c.close_code()), (ReadyState::Closed, None));
    pump(&mut s, &mut c, &mut log, |_, _, log| log.iter().any(|e| matches!(e, ServerEvent::Disconnected { .. })));
    assert!(log.contains(&ServerEvent::Disconnected { id, clean: false }), "{log:?}");
    assert_eq!(c.send(b"x", true, Instant::now()), Err(SendError::NotOpen));
}

#[test]
fn too_big_message_closes_with_1009_on_both_sides() {
    let mut s = server(Config { inbound_buffer_size: 1024, ..Config::default() });
    let (mut c, id, mut log) = connected(&mut s, Config::default());
    let peer = s.peer(id).unwrap();
    c.send(&vec![7u8; 5000], false, Instant::now()).unwrap();
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Closed);
    assert_eq!(
        {
            let peer = peer.borrow();
            (peer.close_code(), peer.close_reason().to_string())
        },
        (Some(1009), "Message too big".into())
    );
    assert_eq!(c.close_code(), Some(1009));
}

#[test]
fn outbound_caps_return_queue_full() {
    let mut s = server(Config::default());
    let (mut c, _, _) = connected(&mut s, Config::default());
    assert_eq!(c.send(&vec![0u8; 70_000], false, Instant::now()), Err(SendError::QueueFull));
    c.config_mut().outbound_buffer_size = None;
    assert_eq!(c.send(&vec![0u8; 70_000], false, Instant::now()), Ok(()));
}

#[test]
fn non_upgrade_request_gets_426_and_the_server_keeps_working() {
    let mut s = server(Config::default());
    let addr: SocketAddr = s.local_addr();
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let mut reply = Vec::new();
    let start = Instant::now();
    let mut log = Vec::new();
    loop {
        assert!(start.elapsed() < LIMIT);
        log.extend(s.poll(Instant::now()));
        let mut buf = [0u8; 1024];
        match raw.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    // The warning may come a poll after the socket closed (with an I/O thread, the game's poll
    // takes it later).
    while !log.iter().any(|e| matches!(e, ServerEvent::Warning(w) if w.contains("426"))) {
        assert!(start.elapsed() < LIMIT, "{log:?}");
        log.extend(s.poll(Instant::now()));
        std::thread::sleep(Duration::from_micros(200));
    }
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 426 Upgrade Required\r\n"), "{reply}");
    assert!(reply.contains("Sec-WebSocket-Version: 13\r\n"));
    assert!(log.iter().any(|e| matches!(e, ServerEvent::Warning(w) if w.contains("426"))), "{log:?}");
    assert!(!log.iter().any(|e| matches!(e, ServerEvent::Connected { .. } | ServerEvent::Disconnected { .. })));
    // A real client still gets through.
    let _ = connected(&mut s, Config::default());
}

#[test]
fn silent_client_is_cut_by_the_handshake_timeout() {
    let mut s = server(Config { handshake_timeout: Some(Duration::from_millis(300)), ..Config::default() });
    let start = Instant::now();
    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.set_nonblocking(true).unwrap();
    // Seen from the client: the server (this poll, or its I/O thread) ends the socket.
    let mut buf = [0u8; 512];
    loop {
        assert!(start.elapsed() < LIMIT, "never cut");
        s.poll(Instant::now());
        match raw.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
            Err(_) => break,
        }
    }
    assert!(start.elapsed() >= Duration::from_millis(300), "cut after {:?}", start.elapsed());
    while s.connection_count() != 0 {
        assert!(start.elapsed() < LIMIT, "still counted");
        s.poll(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn connection_refused_ends_closed_with_a_warning() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut c = Connection::default();
    c.connect(&format!("ws://127.0.0.1:{port}/"), None, Instant::now()).unwrap();
    let start = Instant::now();
    while c.ready_state() != ReadyState::Closed {
        assert!(start.elapsed() < LIMIT);
        c.poll(Instant::now());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.close_code(), None);
    assert!(c.take_events().iter().any(|e| matches!(e, Event::Warning(w) if w.contains("could not connect"))));
}

#[test]
fn subprotocol_negotiated_in_client_order() {
    let mut s = server(Config { supported_protocols: vec!["b".into(), "a".into()], ..Config::default() });
    let (c, id, log) =
        connected(&mut s, Config { supported_protocols: vec!["a".into(), "b".into()], ..Config::default() });
    assert_eq!(c.selected_protocol(), "a");
    assert!(log.contains(&ServerEvent::Connected { id, protocol: "a".into() }));
}

#[test]
fn heartbeat_pings_at_once_then_closes_when_unanswered() {
    // A raw TCP server that completes the upgrade and then never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut c = Connection::new(Config { heartbeat_interval: Some(Duration::from_millis(100)), ..Config::default() });
    c.connect(&format!("ws://127.0.0.1:{port}/"), None, Instant::now()).unwrap();
    c.poll(Instant::now());
    let (mut raw, _) = listener.accept().unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        assert!(start.elapsed() < LIMIT);
        c.poll(Instant::now());
        if let Ok(n) = raw.read(&mut buf) {
            req.extend_from_slice(&buf[..n]);
        }
    }
    let text = String::from_utf8_lossy(&req);
    let key = text.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().trim().to_string();
    let accept = rust_websocket_core::handshake::derive_accept_key(key.as_bytes());
    write!(raw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").unwrap();
    while c.ready_state() != ReadyState::Open {
        assert!(start.elapsed() < LIMIT);
        c.poll(Instant::now());
    }
    let opened = Instant::now();
    c.poll(opened);
    // The first ping (masked, empty payload: 0x89 0x80 + 4 mask bytes) is sent right away.
    let n = raw.read(&mut buf).unwrap();
    assert_eq!(&buf[..2], &[0x89, 0x80], "ping frame, got {:?}", &buf[..n]);
    // Unanswered, it closes the connection one interval later, uncleanly.
    c.poll(opened + Duration::from_millis(50));
    assert_eq!(c.ready_state(), ReadyState::Open);
    c.poll(opened + Duration::from_millis(101));
    assert_eq!((c.ready_state(), c.close_code()), (ReadyState::Closed, None));
}

#[test]
fn held_requests_are_answered_by_the_embedder() {
    let mut s = server(Config::default());
    s.set_hold_requests(true);
    let mut log = Vec::new();
    for (token, accept) in [("good", true), ("bad", false)] {
        let mut c =
            Connection::new(Config { handshake_headers: vec![format!("Authorization: {token}")], ..Config::default() });
        c.connect(&url(&s, "/held"), None, Instant::now()).unwrap();
        pump(&mut s, &mut c, &mut log, |_, _, log| log.iter().any(|e| matches!(e, ServerEvent::Request { .. })));
        let id = log.iter().find_map(|e| if let ServerEvent::Request { id } = e { Some(*id) } else { None }).unwrap();
        log.clear();
        let pending = s.pending(id).expect("held");
        let auth =
            rust_websocket_core::handshake::header(&pending.borrow().request().unwrap().headers, "authorization");
        assert_eq!(auth.as_deref(), Some(token));
        // Nothing is answered until the decision.
        for _ in 0..20 {
            log.extend(s.poll(Instant::now()));
            c.poll(Instant::now());
        }
        assert_eq!(c.ready_state(), ReadyState::Connecting);
        let decision =
            if accept { Ok(()) } else { Err(rust_websocket_core::handshake::Rejection::new(403, "no token")) };
        s.approve(id, decision);
        pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() != ReadyState::Connecting);
        if accept {
            assert_eq!(c.ready_state(), ReadyState::Open);
            pump(&mut s, &mut c, &mut log, |_, _, log| log.iter().any(|e| matches!(e, ServerEvent::Connected { .. })));
        } else {
            assert_eq!(c.ready_state(), ReadyState::Closed);
            let events = c.take_events();
            assert!(events.iter().any(|e| matches!(e, Event::Warning(w) if w.contains("403"))), "{events:?}");
            assert!(!log.iter().any(|e| matches!(e, ServerEvent::Connected { .. })));
        }
    }
}

#[test]
fn a_close_the_server_starts_times_out_when_the_client_never_answers() {
    if common::threaded() {
        return; // Time is an input here; an I/O thread runs on the real clock.
    }
    let mut s = server(Config::default());
    let (c, id, _) = connected(&mut s, Config::default());
    // From now on the client is never polled: it neither reads nor answers our close frame.
    let now = Instant::now();
    for _ in 0..20 {
        s.poll(now); // drains readiness left over from the handshake
    }
    assert!(s.disconnect_peer(id, Some(1000), "bye", now));
    let mut log = s.poll(now);
    assert!(!log.iter().any(|e| matches!(e, ServerEvent::Disconnected { .. })), "{log:?}");
    // No socket activity will come: the close timeout alone must end it.
    log.extend(s.poll(now + rust_websocket_core::connection::CLOSE_TIMEOUT));
    assert!(log.contains(&ServerEvent::Disconnected { id, clean: false }), "{log:?}");
    drop(c);
}

#[test]
fn broadcast_reaches_every_open_client_but_the_excluded_one_and_reports_full_queues() {
    use rust_websocket_core::config::Compression;
    let compressing = Config { compression: Compression { enabled: true, threshold: 0 }, ..Config::default() };
    let mut s = server(compressing.clone());
    let (mut plain, plain_id, mut log) = connected(&mut s, Config::default());
    let (mut deflating, _, _) = connected(&mut s, compressing);
    let (mut excluded, excluded_id, _) = connected(&mut s, Config::default());
    let (full, full_id, _) = connected(&mut s, Config::default());
    assert_eq!(deflating.negotiated_extensions(), "permessage-deflate");
    s.peer(full_id).unwrap().borrow_mut().config_mut().max_queued_packets = 0;

    let state = "{\"entities\":[1,2,3,4,5,6,7,8,9,10]}".repeat(20);
    let refused = s.broadcast(state.as_bytes(), true, Some(excluded_id), Instant::now());
    assert_eq!(refused, vec![(full_id, SendError::QueueFull)]);
    for c in [&mut plain, &mut deflating] {
        pump(&mut s, c, &mut log, |_, c, _| c.available() == 1);
        assert_eq!(c.pop().unwrap(), Packet { data: state.as_bytes().to_vec().into(), text: true });
    }
    let refused = s.broadcast(&[7; 3], false, None, Instant::now());
    assert_eq!(refused, vec![(full_id, SendError::QueueFull)]);
    pump(&mut s, &mut excluded, &mut log, |_, c, _| c.available() == 1);
    assert_eq!(excluded.pop().unwrap().data.as_ref(), &[7, 7, 7], "the first broadcast never reached it");
    pump(&mut s, &mut plain, &mut log, |_, c, _| c.available() == 1);
    assert_eq!(full.available(), 0);
    assert!(s.peer(plain_id).is_some());
}

#[test]
fn corked_sends_wait_for_uncork_and_then_all_arrive_in_order() {
    let mut s = server(Config::default());
    let (mut c, id, mut log) = connected(&mut s, Config::default());
    let peer = s.peer(id).unwrap();
    s.cork();
    for i in 0..3u8 {
        peer.borrow_mut().send(&[i; 10], false, Instant::now()).unwrap();
    }
    s.broadcast(b"all", true, None, Instant::now());
    // (With an I/O thread the cork only holds back waking it: woken for something else, it may
    // write; what it must do, deliver everything in order, is checked below.)
    if !common::threaded() {
        assert_eq!(peer.borrow().buffered_amount(), 33, "framed, counted, not written while corked");
    }
    s.uncork(Instant::now());
    if common::threaded() {
        // Handed to the I/O thread, which writes it as soon as it runs.
        pump(&mut s, &mut c, &mut log, |_, _, _| peer.borrow().buffered_amount() == 0);
    }
    assert_eq!(peer.borrow().buffered_amount(), 0, "written at uncork");
    pump(&mut s, &mut c, &mut log, |_, c, _| c.available() == 4);
    let got: Vec<Vec<u8>> = std::iter::from_fn(|| c.pop()).map(|p| p.data.to_vec()).collect();
    assert_eq!(got, vec![vec![0; 10], vec![1; 10], vec![2; 10], b"all".to_vec()]);
    peer.borrow_mut().send(b"later", true, Instant::now()).unwrap();
    if common::threaded() {
        pump(&mut s, &mut c, &mut log, |_, _, _| peer.borrow().buffered_amount() == 0);
    }
    assert_eq!(peer.borrow().buffered_amount(), 0, "uncorked: written at once");
}

#[test]
fn echoes_sent_while_corked_all_arrive_even_when_the_socket_fills() {
    let mut s = server(Config { inbound_buffer_size: 1 << 20, ..Config::default() });
    let (mut c, id, mut log) = connected(&mut s, Config { inbound_buffer_size: 1 << 20, ..Config::default() });
    let peer = s.peer(id).unwrap();
    // More than the 65,535-byte outbound cap in all, each message under it: the cap counts
    // what the socket has not taken, so corked echoes are written before one would exceed it.
    let sizes = [0usize, 1, 127, 128, 129, 1000, 16384, 60000, 60000, 60000];
    for (i, n) in sizes.iter().enumerate() {
        c.send(&vec![i as u8; *n], i % 2 == 0, Instant::now()).unwrap();
    }
    let start = Instant::now();
    while c.available() < sizes.len() {
        assert!(start.elapsed() < LIMIT, "{} of {} echoes", c.available(), sizes.len());
        // As WebSocketServer.poll does: the handlers' sends are written once they are done.
        s.cork();
        log.extend(s.poll(Instant::now()));
        while let Some(p) = pop(&peer) {
            peer.borrow_mut().send(&p.data, p.text, Instant::now()).unwrap();
        }
        s.uncork(Instant::now());
        c.poll(Instant::now());
    }
    for (i, n) in sizes.iter().enumerate() {
        assert_eq!(c.pop().unwrap(), Packet { data: vec![i as u8; *n].into(), text: i % 2 == 0 });
    }
}

/// The traffic counters of one server's config (its peers) and one client's; other tests'
/// traffic, in this process too, counts elsewhere.
#[test]
fn counters_follow_connections_messages_bytes_and_refusals() {
    let config = Config::default();
    let server_counters = config.counters.clone();
    let client = Config::default();
    let client_counters = client.counters.clone();
    let total = || {
        let (s, c) = (server_counters.snapshot(), client_counters.snapshot());
        Snapshot {
            open: s.open + c.open,
            messages_in: s.messages_in + c.messages_in,
            messages_out: s.messages_out + c.messages_out,
            bytes_in: s.bytes_in + c.bytes_in,
            bytes_out: s.bytes_out + c.bytes_out,
            handshakes_refused: s.handshakes_refused + c.handshakes_refused,
        }
    };
    assert_eq!(total(), Snapshot::default());
    let mut s = server(config);
    let mut c = Connection::new(client.clone());
    c.connect(&url(&s, "/"), None, Instant::now()).unwrap();
    let mut log = Vec::new();
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Open && total().open == 2);
    for n in [10usize, 20, 30] {
        c.send(&vec![b'x'; n], false, Instant::now()).unwrap();
    }
    pump(&mut s, &mut c, &mut log, |_, _, _| total().messages_in == 3);
    let now = total();
    assert_eq!((now.messages_out, now.messages_in), (3, 3));
    // Client frames: 2 header + 4 mask bytes each, plus the payloads.
    assert_eq!((now.bytes_out, now.bytes_in), (60 + 18, 60 + 18));
    assert_eq!((client_counters.snapshot().messages_out, server_counters.snapshot().messages_in), (3, 3));

    let mut raw = TcpStream::connect(s.local_addr()).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    pump(&mut s, &mut c, &mut log, |_, _, _| server_counters.snapshot().handshakes_refused == 1);
    let mut answer = String::new();
    let _ = raw.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");

    c.close(Some(1000), "", Instant::now());
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Closed && total().open == 0);
    let mut dropped = Connection::new(client);
    dropped.connect(&url(&s, "/"), None, Instant::now()).unwrap();
    pump(&mut s, &mut dropped, &mut log, |_, c, _| c.ready_state() == ReadyState::Open);
    pump(&mut s, &mut c, &mut log, |_, _, _| total().open == 2);
    drop(dropped);
    assert_eq!(client_counters.snapshot().open, 0, "a connection dropped while open no longer counts");
    assert_eq!(total().handshakes_refused, 1);
}
