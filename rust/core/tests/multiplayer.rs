//! The multiplayer protocol over real sockets on 127.0.0.1: our clients against our server, and
//! a raw server that sends malformed id messages.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::multiplayer::{MpClient, MpEvent, MpSendError, MpServer, MpStatus, Target, SERVER_ID};
use rust_websocket_core::{Config, Connection};

const LIMIT: Duration = Duration::from_secs(10);

fn server() -> MpServer {
    MpServer::new(common::listen(Config::default(), None))
}

fn client(url: &str) -> MpClient {
    let mut conn = Connection::new(Config { handshake_timeout: Some(Duration::from_secs(3)), ..Config::default() });
    conn.connect(url, None, Instant::now()).unwrap();
    MpClient::new(SharedConnection::new(conn), Instant::now())
}

/// Polls everything, collecting events, until `done`; fails after LIMIT.
fn pump(
    s: &mut MpServer,
    clients: &mut [&mut MpClient],
    log: &mut Vec<(usize, MpEvent)>,
    mut done: impl FnMut(&MpServer, &[&mut MpClient], &[(usize, MpEvent)]) -> bool,
) {
    let start = Instant::now();
    while !done(s, clients, log) {
        assert!(start.elapsed() < LIMIT, "timed out; events so far: {log:?}");
        log.extend(s.poll(Instant::now()).into_iter().map(|e| (0, e)));
        for (i, c) in clients.iter_mut().enumerate() {
            log.extend(c.poll(Instant::now()).into_iter().map(|e| (i + 1, e)));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A server and one client that has joined: (server, client, its id, the events so far).
fn joined_pair() -> (MpServer, MpClient, u32, Vec<(usize, MpEvent)>) {
    let mut s = server();
    let mut a = client(&url(&s));
    let mut log = Vec::new();
    pump(&mut s, &mut [&mut a], &mut log, |_, c, _| c[0].status() == MpStatus::Connected);
    let id = a.id().unwrap();
    (s, a, id, log)
}

fn url(s: &MpServer) -> String {
    format!("ws://127.0.0.1:{}/", s.server().local_addr().port())
}

fn joined(log: &[(usize, MpEvent)]) -> Vec<u32> {
    log.iter()
        .filter_map(|(who, e)| match (who, e) {
            (0, MpEvent::PeerConnected(id)) => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn clients_get_their_id_then_exchange_packets_with_targets() {
    let mut s = server();
    let (mut a, mut b) = (client(&url(&s)), client(&url(&s)));
    let mut log = Vec::new();
    pump(&mut s, &mut [&mut a, &mut b], &mut log, |_, c, _| c.iter().all(|c| c.status() == MpStatus::Connected));
    let mut ids = joined(&log);
    ids.sort_unstable();
    let mut client_ids = vec![a.id().unwrap(), b.id().unwrap()];
    client_ids.sort_unstable();
    assert_eq!(ids, client_ids, "the server announced exactly the ids the clients received");
    assert!(ids.iter().all(|id| (2..=0x7FFF_FFFF).contains(id)) && ids[0] != ids[1]);
    assert!(
        log.contains(&(1, MpEvent::PeerConnected(SERVER_ID))) && log.contains(&(2, MpEvent::PeerConnected(SERVER_ID)))
    );

    let now = Instant::now();
    a.send(b"from a", now).unwrap();
    s.send(Target::AllBut(a.id().unwrap()), b"to all but a", now).unwrap();
    s.send(Target::One(a.id().unwrap()), b"to a", now).unwrap();
    assert_eq!(s.send(Target::One(12345), b"x", now), Err(MpSendError::NoPeer(12345)));
    pump(&mut s, &mut [&mut a, &mut b], &mut log, |s, c, _| {
        s.available() == 1 && c[0].available() == 1 && c[1].available() == 1
    });
    assert_eq!(s.next_sender(), a.id());
    let p = s.pop().unwrap();
    assert_eq!((p.from, &p.packet.data[..], p.packet.text), (a.id().unwrap(), &b"from a"[..], false));
    assert_eq!(&a.pop().unwrap().packet.data[..], b"to a");
    let p = b.pop().unwrap();
    assert_eq!((p.from, &p.packet.data[..]), (SERVER_ID, &b"to all but a"[..]));
}

#[test]
fn a_leaving_client_is_reported_once_and_after_its_last_packets() {
    let mut s = server();
    let mut a = client(&url(&s));
    let mut log = Vec::new();
    pump(&mut s, &mut [&mut a], &mut log, |_, c, _| c[0].status() == MpStatus::Connected);
    let id = a.id().unwrap();
    a.send(b"last words", Instant::now()).unwrap();
    a.close(Instant::now());
    // The departure waits until the packet it sent before leaving was read.
    pump(&mut s, &mut [&mut a], &mut log, |s, c, _| s.available() == 1 && c[0].status() == MpStatus::Disconnected);
    // For 50 ms (time for a server thread to hand the departure over), polls report nothing.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_millis(50) {
        log.extend(s.poll(Instant::now()).into_iter().map(|e| (0, e)));
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!log.contains(&(0, MpEvent::PeerDisconnected(id))), "reported before its packet was read");
    assert_eq!(&s.pop().unwrap().packet.data[..], b"last words");
    let gone = |log: &Vec<(usize, MpEvent)>| log.iter().filter(|e| **e == (0, MpEvent::PeerDisconnected(id))).count();
    while gone(&log) == 0 {
        assert!(quiet.elapsed() < LIMIT, "never reported: {log:?}");
        log.extend(s.poll(Instant::now()).into_iter().map(|e| (0, e)));
        std::thread::sleep(Duration::from_millis(1));
    }
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(2));
        log.extend(s.poll(Instant::now()).into_iter().map(|e| (0, e)));
    }
    assert_eq!(gone(&log), 1, "{log:?}");
    assert_eq!(a.status(), MpStatus::Disconnected);
}

#[test]
fn the_server_closing_ends_every_client_session() {
    let mut s = server();
    let (mut a, mut b) = (client(&url(&s)), client(&url(&s)));
    let mut log = Vec::new();
    pump(&mut s, &mut [&mut a, &mut b], &mut log, |_, c, _| c.iter().all(|c| c.status() == MpStatus::Connected));
    s.stop(Instant::now());
    pump(&mut s, &mut [&mut a, &mut b], &mut log, |_, c, _| c.iter().all(|c| c.status() == MpStatus::Disconnected));
    assert!(
        log.contains(&(1, MpEvent::PeerDisconnected(SERVER_ID)))
            && log.contains(&(2, MpEvent::PeerDisconnected(SERVER_ID)))
    );
    assert_eq!(a.connection().borrow().close_code(), Some(1001), "a close frame with 1001, not a dropped socket");
}

#[test]
fn refused_new_connections_never_join() {
    let mut s = server();
    s.refuse_new = true;
    let mut a = client(&url(&s));
    let mut log = Vec::new();
    pump(&mut s, &mut [&mut a], &mut log, |_, c, _| c[0].status() == MpStatus::Disconnected);
    assert!(joined(&log).is_empty() && a.id().is_none(), "{log:?}");
}

/// A raw server that answers the upgrade and then sends each of `messages` as a binary message,
/// all in one write; returns what the client sent afterwards.
fn raw_server(messages: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}/", listener.local_addr().unwrap().port());
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
        let accept = rust_websocket_core::handshake::derive_accept_key(key.as_bytes());
        let reply = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
        s.write_all(reply.as_bytes()).unwrap();
        let mut frames = Vec::new();
        for m in &messages {
            frames.extend_from_slice(&[0x82, m.len() as u8]);
            frames.extend_from_slice(m);
        }
        s.write_all(&frames).unwrap();
        let mut sent = Vec::new();
        let mut chunk = [0u8; 256];
        // Until the close frame's header, mask and code are in; then hang up.
        while sent.len() < 8 {
            let Ok(n @ 1..) = s.read(&mut chunk) else { break };
            sent.extend_from_slice(&chunk[..n]);
        }
        sent
    });
    (url, handle)
}

#[test]
fn a_malformed_id_message_fails_the_client() {
    for first in [vec![1, 2, 3], vec![1, 2, 3, 4, 5], vec![1, 0, 0, 0], (-5i32).to_le_bytes().to_vec()] {
        // A valid id right behind the bad message must not be taken as the id either.
        let (url, server) = raw_server(vec![first.clone(), 777_777u32.to_le_bytes().to_vec()]);
        let mut c = client(&url);
        let start = Instant::now();
        let mut events = Vec::new();
        while c.status() != MpStatus::Disconnected {
            assert!(start.elapsed() < LIMIT, "{first:?}: still {:?}", c.status());
            assert_ne!(c.status(), MpStatus::Connected, "{first:?} was taken as an id");
            events.extend(c.poll(Instant::now()));
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(
            events.iter().any(|e| matches!(e, MpEvent::Warning(w) if w.contains("peer id"))),
            "{first:?}: {events:?}"
        );
        assert!(!events.contains(&MpEvent::PeerConnected(SERVER_ID)));
        // The client's close frame (masked): 0x88, length, mask, then the status code.
        let sent = server.join().unwrap();
        assert_eq!(sent.first(), Some(&0x88), "{first:?}: a close frame, got {sent:?}");
        let code = u16::from_be_bytes([sent[6] ^ sent[2], sent[7] ^ sent[3]]);
        assert_eq!(code, 1002, "{first:?}");
    }
}

#[test]
fn ids_are_little_endian_int32_from_2() {
    use rust_websocket_core::multiplayer::{id_message, parse_id};
    assert_eq!(id_message(1868543941), [197, 183, 95, 111], "the engine's probe: 1868543941");
    assert_eq!(parse_id(&[197, 183, 95, 111]), Ok(1868543941));
    assert!(parse_id(&[1, 0, 0, 0]).is_err() && parse_id(&[0xff, 0xff, 0xff, 0xff]).is_err());
    assert!(parse_id(&[2, 0, 0]).is_err());
    assert_eq!(parse_id(&[2, 0, 0, 0]), Ok(2));
}

#[test]
fn a_client_leaving_with_disconnect_is_reported_on_both_sides_unless_forced() {
    for force in [false, true] {
        let (mut s, mut a, id, mut log) = joined_pair();
        a.disconnect(force, Instant::now());
        pump(&mut s, &mut [&mut a], &mut log, |_, c, log| {
            c[0].status() == MpStatus::Disconnected && log.contains(&(0, MpEvent::PeerDisconnected(id)))
        });
        let on_client = log.iter().filter(|e| **e == (1, MpEvent::PeerDisconnected(SERVER_ID))).count();
        assert_eq!(on_client, usize::from(!force), "force = {force}: {log:?}");
    }
}

#[test]
fn a_peer_the_server_disconnects_is_reported_once_at_the_next_poll_even_when_forced() {
    for force in [false, true] {
        let (mut s, mut a, id, mut log) = joined_pair();
        assert!(s.disconnect_peer(id, force, Instant::now()));
        assert!(s.peer(id).is_some(), "still shown until reported");
        assert_eq!(s.send(Target::One(id), b"x", Instant::now()), Ok(()), "dropped quietly until reported");
        pump(&mut s, &mut [&mut a], &mut log, |_, c, _| c[0].status() == MpStatus::Disconnected);
        for _ in 0..5 {
            log.extend(s.poll(Instant::now()).into_iter().map(|e| (0, e)));
        }
        let reported = log.iter().filter(|e| **e == (0, MpEvent::PeerDisconnected(id))).count();
        assert_eq!(reported, 1, "force = {force}: {log:?}");
        // Until the poll after the report, SceneMultiplayer may still address it.
        assert_eq!(s.send(Target::One(id), b"x", Instant::now()), Err(MpSendError::NoPeer(id)), "gone once reported");
        assert!(s.peer(id).is_none());
        assert!(!s.disconnect_peer(id, force, Instant::now()), "gone");
    }
}

#[test]
fn a_client_gives_up_when_no_id_arrives_within_the_handshake_timeout() {
    let (url, server) = raw_server(vec![]);
    let mut c = client(&url);
    let start = Instant::now();
    while !matches!(c.connection().borrow().ready_state(), rust_websocket_core::ReadyState::Open) {
        assert!(start.elapsed() < LIMIT, "the WebSocket never opened");
        c.poll(Instant::now());
        std::thread::sleep(Duration::from_micros(200));
    }
    assert_eq!(c.status(), MpStatus::Connecting, "open, but no id yet");
    let events = c.poll(Instant::now() + Duration::from_secs(4));
    assert_eq!(c.status(), MpStatus::Disconnected);
    assert!(events.iter().any(|e| matches!(e, MpEvent::Warning(w) if w.contains("no peer id"))), "{events:?}");
    assert!(!events.contains(&MpEvent::PeerConnected(SERVER_ID)));
    server.join().unwrap();
}

#[test]
fn a_departure_can_still_be_addressed_until_the_poll_after_its_report() {
    let (mut s, mut a, id, _) = joined_pair();
    a.close(Instant::now());
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < LIMIT, "never reported");
        a.poll(Instant::now());
        if s.poll(Instant::now()).contains(&MpEvent::PeerDisconnected(id)) {
            break;
        }
    }
    // SceneMultiplayer, handling this batch, tells the other peers: its packets to the leaver
    // are dropped quietly.
    assert_eq!(s.send(Target::One(id), b"DEL_PEER", Instant::now()), Ok(()));
    s.poll(Instant::now());
    assert_eq!(s.send(Target::One(id), b"x", Instant::now()), Err(MpSendError::NoPeer(id)));
}
