//! The protocol alone: two `proto::Open`s, a client's and a server's, joined by handing bytes
//! across, with time made up by the test; then two `proto::Upgrade`s the same way.

use std::time::{Duration, Instant};

use rust_websocket_core::frames::write::Outgoing;
use rust_websocket_core::handshake::Rejection;
use rust_websocket_core::proto::open::CLOSE_TIMEOUT;
use rust_websocket_core::proto::{Ended, Open, Received, Upgrade, UpgradeEvent};
use rust_websocket_core::url::WsUrl;
use rust_websocket_core::Config;

fn pair(config: &Config) -> (Open, Open) {
    (Open::new(Vec::new(), false, config, None), Open::new(Vec::new(), true, config, None))
}

/// Everything `from` has framed, handed to `to`; `from`'s side of the handover reported.
fn carry(from: &mut Open, to: &mut Open) -> Result<(), Ended> {
    let bytes = from.poll_transmit();
    to.handle_bytes(&bytes);
    from.transmitted()
}

fn next(o: &mut Open, now: Instant) -> Received {
    o.next_received(now).expect("no violation").expect("something received")
}

#[test]
fn a_message_crosses_as_bytes_and_is_counted() {
    let config = Config::default();
    let (mut client, mut server) = pair(&config);
    assert!(client.send(&Outgoing::new(b"hello", true), &config).unwrap());
    assert_eq!(client.buffered_amount(), 5);
    carry(&mut client, &mut server).unwrap();
    assert_eq!(client.buffered_amount(), 0);
    match next(&mut server, Instant::now()) {
        Received::Message(p) => assert_eq!((&p.data[..], p.text), (&b"hello"[..], true)),
        other => panic!("{other:?}"),
    }
    assert!(server.next_received(Instant::now()).unwrap().is_none());
    let counted = config.counters.snapshot();
    // The client's frame: 2 header bytes, 4 mask bytes, the payload.
    assert_eq!((counted.messages_out, counted.messages_in, counted.bytes_out, counted.bytes_in), (1, 1, 11, 11));
}

#[test]
fn the_closing_handshake_ends_clean_on_both_sides_and_times_out_without_an_answer() {
    let config = Config::default();
    let (mut client, mut server) = pair(&config);
    let t0 = Instant::now();
    client.close(Some(1000), "bye", t0);
    assert!(client.is_closing());
    assert_eq!(client.next_deadline(&config), Some(t0 + CLOSE_TIMEOUT));
    carry(&mut client, &mut server).unwrap();
    match next(&mut server, t0) {
        Received::CloseRequest { code, reason } => assert_eq!((code, reason.as_str()), (1000, "bye")),
        other => panic!("{other:?}"),
    }
    // The server's echo went out: its side is over.
    assert!(matches!(carry(&mut server, &mut client), Err(Ended::Clean { code: 1000, .. })));
    assert!(matches!(next(&mut client, t0), Received::Handled));
    assert!(matches!(client.transmitted(), Err(Ended::Clean { code: 1000, .. })));

    let (mut silent, _) = pair(&config);
    silent.close(None, "", t0);
    assert!(silent.handle_timeout(t0 + Duration::from_secs(4)).is_ok());
    assert!(matches!(silent.handle_timeout(t0 + CLOSE_TIMEOUT), Err(Ended::CloseTimeout)));
}

#[test]
fn the_heartbeat_runs_on_the_time_it_is_given() {
    let config = Config { heartbeat_interval: Some(Duration::from_secs(1)), ..Config::default() };
    let (mut client, mut server) = pair(&config);
    let t0 = Instant::now();
    server.heartbeat(t0, &config).unwrap();
    assert_eq!(server.next_deadline(&config), Some(t0 + Duration::from_secs(1)));
    carry(&mut server, &mut client).unwrap();
    assert!(matches!(next(&mut client, t0), Received::Answered));
    carry(&mut client, &mut server).unwrap();
    assert!(matches!(next(&mut server, t0), Received::Handled));
    // Answered: the next ping goes out; unanswered, the one after ends the connection.
    server.heartbeat(t0 + Duration::from_secs(1), &config).unwrap();
    assert!(matches!(server.heartbeat(t0 + Duration::from_secs(2), &config), Err(Ended::NoPong)));
}

#[test]
fn a_violation_queues_our_close_frame_with_its_code() {
    let config = Config::default();
    let (_, mut server) = pair(&config);
    // An unmasked frame from a client.
    server.handle_bytes(&[0x81, 0x01, b'x']);
    let violation = server.next_received(Instant::now()).unwrap_err();
    assert_eq!(violation.code, 1002);
    assert!(matches!(server.fail(violation), Ended::Fail(v) if v.code == 1002));
    let bytes = server.poll_transmit();
    assert_eq!(&bytes[..4], &[0x88, 0x02, 0x03, 0xEA]);
}

// The upgrade.

fn upgrade_client(config: &Config, deadline: Option<Instant>) -> Upgrade {
    let url = WsUrl::parse("ws://example.com/chat").unwrap();
    Upgrade::client(&url, "ws://example.com/chat", config, deadline)
}

/// Everything `from` has queued, handed to `to`.
fn carry_head(from: &mut Upgrade, to: &mut Upgrade) {
    let bytes = from.pending_transmit().to_vec();
    from.transmitted(bytes.len());
    to.handle_bytes(&bytes);
}

#[test]
fn both_sides_open_and_keep_the_first_frame() {
    let config = Config::default();
    let (mut c, mut s) = (upgrade_client(&config, None), Upgrade::server(false, None));
    assert!(c.poll(&config).is_none(), "the request is transmitted first");
    assert_eq!(c.read_room(), 0);
    carry_head(&mut c, &mut s);
    match s.poll(&config) {
        Some(UpgradeEvent::Request(req)) => assert_eq!(req.target, "/chat"),
        other => panic!("{other:?}"),
    }
    assert!(s.poll(&config).is_none(), "the 101 is queued");
    carry_head(&mut s, &mut c);
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Open { .. })));
    c.handle_bytes(&[0x81, 0]);
    match c.poll(&config) {
        Some(UpgradeEvent::Open { tail, .. }) => assert_eq!(tail, [0x81, 0]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_held_request_waits_for_the_decision() {
    let config = Config::default();
    let (mut c, mut s) = (upgrade_client(&config, None), Upgrade::server(true, None));
    carry_head(&mut c, &mut s);
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Request(_))));
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Held)));
    assert!(s.is_held() && s.read_room() == 0 && s.poll(&config).is_none());
    s.answer(Err(Rejection::new(403, "no")), &[]);
    assert!(!s.is_held());
    carry_head(&mut s, &mut c);
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Answered)));
    assert!(matches!(c.poll(&config), Some(UpgradeEvent::Failed(_))));
}

#[test]
fn a_bad_request_is_refused_and_answered() {
    let config = Config::default();
    let mut s = Upgrade::server(false, None);
    s.handle_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Request(_))));
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Refused(_))));
    assert!(String::from_utf8_lossy(s.pending_transmit()).starts_with("HTTP/1.1 4"));
    let n = s.pending_transmit().len();
    s.transmitted(n);
    assert!(matches!(s.poll(&config), Some(UpgradeEvent::Answered)));
}

#[test]
fn the_handshake_timeout_is_a_deadline() {
    let config = Config::default();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(3);
    let s = Upgrade::server(false, Some(deadline));
    assert_eq!(s.next_deadline(), Some(deadline));
    assert!(!s.handle_timeout(start + Duration::from_secs(2)));
    assert!(s.handle_timeout(deadline));
    assert!(upgrade_client(&config, None).next_deadline().is_none());
}
