//! The I/O thread itself, over real sockets on 127.0.0.1: what it does while the owner's
//! thread does nothing (answers pings, writes what was sent, accepts), what the owner sees
//! (messages readable only once its poll took their events), and how it ends.
//! (The loopback, TLS and multiplayer suites also run whole with every server on its thread.)

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::LIMIT;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::io_thread::IoThread;
use rust_websocket_core::memory::MemoryStream;
use rust_websocket_core::{Config, Connection, Event, ReadyState, Server, ServerEvent};

fn threaded_server(config: Config) -> Server {
    let mut s = Server::listen("127.0.0.1:0".parse().unwrap(), config, None).unwrap();
    s.start_io_thread().unwrap();
    assert!(s.has_io_thread());
    s
}

/// A client on its own I/O thread, connected to `s`; returns it with its server-side id.
fn threaded_client(s: &mut Server, config: Config) -> (SharedConnection, IoThread, u32) {
    let conn = SharedConnection::new(Connection::new(config));
    let url = format!("ws://127.0.0.1:{}/", s.local_addr().port());
    conn.borrow_mut().connect(&url, None, Instant::now()).unwrap();
    let io = IoThread::client(conn.clone()).unwrap();
    let mut id = None;
    wait(|| {
        for e in s.poll(Instant::now()) {
            if let ServerEvent::Connected { id: i, .. } = e {
                id = Some(i);
            }
        }
        let mut c = conn.borrow_mut();
        c.poll(Instant::now());
        c.take_events();
        id.is_some() && c.ready_state() == ReadyState::Open
    });
    (conn, io, id.unwrap())
}

/// Waits for `done`, which looks at what happened (bounded by LIMIT).
fn wait(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < LIMIT, "timed out");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_message_becomes_readable_when_the_owners_poll_takes_its_event() {
    let mut s = threaded_server(Config::default());
    let (client, _io, id) = threaded_client(&mut s, Config::default());
    let peer = s.peer(id).unwrap();
    client.borrow_mut().send(b"one", true, Instant::now()).unwrap();
    // The server's thread reads it without any poll on this thread...
    wait(|| peer.borrow().buffered_amount() == 0 && client.borrow().buffered_amount() == 0);
    std::thread::sleep(Duration::from_millis(50));
    // ...but the game sees it only with its signal.
    assert_eq!(peer.borrow().available(), 0, "readable before the poll that announces it");
    let mut events = Vec::new();
    wait(|| {
        events.extend(s.poll(Instant::now()));
        !events.is_empty()
    });
    assert_eq!(events, vec![ServerEvent::Data { id }]);
    assert_eq!(peer.borrow_mut().pop().unwrap().data.as_ref(), b"one");
}

#[test]
fn the_threads_answer_pings_and_write_while_the_owners_thread_is_busy() {
    // The client pings every 200 ms and closes when a pong is late; the server's owner does not
    // poll for 1.5 s (a long frame): its I/O thread answers every ping.
    let mut s = threaded_server(Config::default());
    let pinging = Config { heartbeat_interval: Some(Duration::from_millis(200)), ..Config::default() };
    let (client, _io, id) = threaded_client(&mut s, pinging);
    let peer = s.peer(id).unwrap();
    // What the owner sends goes out without its poll, too.
    peer.borrow_mut().send(b"sent during the long frame", false, Instant::now()).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let mut c = client.borrow_mut();
    c.poll(Instant::now());
    let events = c.take_events();
    assert_eq!(c.ready_state(), ReadyState::Open, "closed during the long frame: {events:?}");
    assert!(events.contains(&Event::Message), "{events:?}");
    assert_eq!(c.pop().unwrap().data.as_ref(), b"sent during the long frame");
}

#[test]
fn without_the_thread_a_busy_owner_lets_the_heartbeat_fail() {
    // The counterpart of the test above: the same stall on the main-thread path loses the
    // connection, which is what the thread is for.
    let mut s = Server::listen("127.0.0.1:0".parse().unwrap(), Config::default(), None).unwrap();
    let pinging = Config { heartbeat_interval: Some(Duration::from_millis(200)), ..Config::default() };
    let (client, _io, _id) = threaded_client(&mut s, pinging);
    std::thread::sleep(Duration::from_millis(1500));
    wait(|| {
        let mut c = client.borrow_mut();
        c.poll(Instant::now());
        c.take_events();
        c.ready_state() == ReadyState::Closed
    });
    assert_eq!(client.borrow().close_code(), None, "dropped for a missing pong");
}

#[test]
fn a_pong_that_came_during_a_long_frame_keeps_the_link() {
    // A client on the main-thread path pings every 100 ms; its owner then stalls 500 ms while
    // the server's thread answers the ping. The pong waits in the socket: the late poll reads
    // it before it asks whether the ping was answered, and the link stays.
    let mut s = threaded_server(Config::default());
    let pinging = Config { heartbeat_interval: Some(Duration::from_millis(100)), ..Config::default() };
    let mut c = Connection::new(pinging);
    c.connect(&format!("ws://127.0.0.1:{}/", s.local_addr().port()), None, Instant::now()).unwrap();
    wait(|| {
        s.poll(Instant::now());
        c.poll(Instant::now());
        c.ready_state() == ReadyState::Open
    });
    // The poll that opened it sent the first ping (Open::heartbeat); nothing polls the client
    // until the stall is over, so the pong waits in its socket.
    std::thread::sleep(Duration::from_millis(500));
    c.poll(Instant::now());
    let events = c.take_events();
    assert_eq!(c.ready_state(), ReadyState::Open, "dropped although the pong had come: {events:?}");
}

#[test]
fn stop_ends_the_thread_and_reports_every_connected_client_once() {
    let mut s = threaded_server(Config::default());
    let (a, _io_a, id_a) = threaded_client(&mut s, Config::default());
    let (b, _io_b, id_b) = threaded_client(&mut s, Config::default());
    let events = s.stop(Instant::now());
    assert!(!s.has_io_thread());
    for id in [id_a, id_b] {
        let gone = events.iter().filter(|e| matches!(e, ServerEvent::Disconnected { id: i, .. } if *i == id)).count();
        assert_eq!(gone, 1, "{events:?}");
    }
    for c in [a, b] {
        wait(|| {
            let mut c = c.borrow_mut();
            c.poll(Instant::now());
            c.take_events();
            c.ready_state() == ReadyState::Closed
        });
        assert_eq!(c.borrow().close_code(), Some(1001), "the server's going-away close frame arrived");
    }
}

#[test]
fn a_client_thread_ends_by_itself_once_its_connection_closed() {
    let mut s = threaded_server(Config::default());
    let (client, io, _id) = threaded_client(&mut s, Config::default());
    assert!(io.is_running());
    client.borrow_mut().close(Some(1000), "done", Instant::now());
    assert_eq!(client.borrow().ready_state(), ReadyState::Closing, "the owner's close shows at once");
    wait(|| {
        s.poll(Instant::now());
        !io.is_running()
    });
    let mut c = client.borrow_mut();
    c.take_events();
    assert_eq!((c.ready_state(), c.close_code()), (ReadyState::Closed, Some(1000)));
}

/// A server connection over the in-memory stream, driven by a thread, that delivered one
/// message ("hello") and then met a frame with RSV2 set (a violation): the game's poll has taken
/// the message. Returns the connection, its thread and the raw client's end.
fn held_after_a_violation() -> (SharedConnection, IoThread, MemoryStream) {
    let (a, mut raw) = MemoryStream::pair();
    let conn = SharedConnection::new(Connection::new(Config::default()));
    conn.borrow_mut().accept_stream(Box::new(a), Instant::now()).unwrap();
    let io = IoThread::client(conn.clone()).unwrap();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").unwrap();
    let mut head = Vec::new();
    wait(|| {
        head.extend(raw.take_all());
        String::from_utf8_lossy(&head).contains("\r\n\r\n")
    });
    let masked = |first: u8, payload: &[u8]| {
        let mut f = vec![first, 0x80 | payload.len() as u8, 1, 2, 3, 4];
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]));
        f
    };
    raw.write_all(&masked(0x81, b"hello")).unwrap();
    raw.write_all(&masked(0x81 | 0x20, b"bad")).unwrap();
    let mut events = Vec::new();
    wait(|| {
        let mut c = conn.borrow_mut();
        c.poll(Instant::now());
        events.extend(c.take_events());
        events.contains(&Event::Message)
    });
    assert_eq!(conn.borrow_mut().pop().unwrap().data.as_ref(), b"hello");
    (conn, io, raw)
}

#[test]
fn messages_before_a_violation_get_one_poll_to_be_answered_on_the_thread_too() {
    let (conn, _io, mut raw) = held_after_a_violation();
    // The game's poll took the message: it answers before its next poll.
    conn.borrow_mut().send(b"answer", true, Instant::now()).unwrap();
    let mut wire = Vec::new();
    wait(|| {
        wire.extend(raw.take_all());
        wire.len() >= 8
    });
    std::thread::sleep(Duration::from_millis(50));
    wire.extend(raw.take_all());
    assert_eq!(wire, [&[0x81u8, 6][..], b"answer"].concat(), "the answer, and no close frame before the next poll");
    assert_eq!(conn.borrow().ready_state(), ReadyState::Open);
    // The next poll lets the failure go on: a close frame with 1002 follows the answer.
    wait(|| {
        let mut c = conn.borrow_mut();
        c.poll(Instant::now());
        c.take_events();
        c.ready_state() == ReadyState::Closed
    });
    wire.extend(raw.take_all());
    assert_eq!(&wire[8..12], &[0x88, 2, 0x03, 0xEA], "close 1002 after the answer");
}

#[test]
fn a_held_failure_goes_on_when_the_thread_stops() {
    let (conn, io, mut raw) = held_after_a_violation();
    drop(io); // the owner's polls drive it from now on
    wait(|| {
        let mut c = conn.borrow_mut();
        c.poll(Instant::now());
        c.take_events();
        c.ready_state() == ReadyState::Closed
    });
    assert_eq!(conn.borrow().close_code(), Some(1002));
    let wire = raw.take_all();
    assert_eq!(&wire[..4], &[0x88, 2, 0x03, 0xEA], "close 1002 sent");
}
