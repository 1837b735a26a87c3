//! The load generators' WebSocket client side (`loadgen/`, `mp/generator`), made of the core's
//! own protocol code rather than a codec of their own: the upgrade request and the check of its
//! answer (`handshake`), frames out (`frames::write`) and frames in (`frames::read`).
//!
//! The generators reach those modules of `rust_websocket_core` only through here: this adapter
//! is meant to move onto the core's sans-I/O `proto::Upgrade` and `proto::Open`, and the
//! generators stay as they are.

use std::io::{self, Read};
use std::net::SocketAddr;

use rust_websocket_core::frames::read::Reader;
use rust_websocket_core::frames::write::{Outgoing, Writer};
use rust_websocket_core::handshake::{self, client_request, parse_response, verify_response};
use rust_websocket_core::url::WsUrl;

pub use rust_websocket_core::frames::read::Incoming;

/// The largest message read (the benchmarks' largest is 1 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// One connection's upgrade: the request, and the check of the server's answer.
pub struct Upgrade {
    key: String,
}

impl Upgrade {
    pub fn new() -> Upgrade {
        Upgrade { key: handshake::generate_key() }
    }

    /// The upgrade request for `/` on `addr`, as the engine writes it (no subprotocol, no
    /// compression offered).
    pub fn request(&self, addr: SocketAddr) -> Vec<u8> {
        let url = WsUrl::parse(&format!("ws://{addr}/")).expect("a socket address makes a URL");
        client_request(&url, &self.key, &[], false, &[])
    }

    /// The server's answer at the start of `buf`: `None` while incomplete, then the length of its
    /// head when it accepts the upgrade (101, the right accept key), or `Err` when it did not.
    pub fn answer(&self, buf: &[u8]) -> Option<Result<usize, ()>> {
        match parse_response(buf) {
            Ok(None) => None,
            Ok(Some((n, head))) => Some(verify_response(&head, &self.key, &[], false).map(|_| n).map_err(|_| ())),
            Err(_) => Some(Err(())),
        }
    }
}

/// Appends one masked message frame (binary, or text with `text`) to `out`.
pub fn message(out: &mut Vec<u8>, text: bool, payload: &[u8]) {
    let mut w = Writer::new(false, None, usize::MAX);
    w.message(&Outgoing::new(payload, text)).expect("nothing to compress");
    w.flush(out).expect("a Vec takes every byte");
}

/// Appends the masked pong that answers a ping with `payload` to `out`.
pub fn pong(out: &mut Vec<u8>, payload: &[u8]) {
    let mut w = Writer::new(false, None, usize::MAX);
    w.pong(payload);
    w.flush(out).expect("a Vec takes every byte");
}

/// Frames in, after the upgrade: what the server sent, as the core's client reads it (whole
/// messages, pings, the close). `echoed`: the frames are this client's own, masked, echoed back
/// byte for byte (the raw TCP server), so they are read as a server reads them.
pub struct Frames {
    reader: Reader,
}

impl Frames {
    /// `tail`: the bytes read past the upgrade's answer.
    pub fn new(tail: Vec<u8>, echoed: bool) -> Frames {
        Frames { reader: Reader::new(tail, echoed, MAX_MESSAGE, None) }
    }

    /// Reads once from `io` (a socket, or bytes already read); `Ok(0)`: the stream ended.
    pub fn fill(&mut self, io: &mut impl Read) -> io::Result<usize> {
        self.reader.fill(io)
    }

    /// The next thing the server sent, `Ok(None)` when more bytes are needed first, `Err` when it
    /// broke the protocol.
    pub fn next(&mut self) -> Result<Option<Incoming>, ()> {
        self.reader.next_incoming().map_err(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_out_are_read_back_by_the_server_side() {
        for len in [0usize, 16, 125, 126, 65536, 1 << 20] {
            let mut out = Vec::new();
            message(&mut out, false, &vec![7u8; len]);
            pong(&mut out, b"p");
            let mut frames = Frames::new(out, true);
            match frames.next() {
                Ok(Some(Incoming::Message(p))) => assert_eq!((p.data.len(), p.text), (len, false)),
                other => panic!("{len}: {other:?}"),
            }
            assert_eq!(frames.next(), Ok(Some(Incoming::Pong)));
            assert_eq!(frames.next(), Ok(None));
        }
    }

    #[test]
    fn the_upgrade_answer_is_found_and_checked() {
        let up = Upgrade::new();
        let accept = accept_key(&up);
        let ok = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n\x02");
        assert_eq!(up.answer(&ok.as_bytes()[..20]), None);
        assert_eq!(up.answer(ok.as_bytes()), Some(Ok(ok.len() - 1)));
        assert_eq!(up.answer(b"HTTP/1.1 503 Busy\r\n\r\n"), Some(Err(())));
        let wrong = ok.replace(&accept, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(up.answer(wrong.as_bytes()), Some(Err(())));
    }

    /// The accept key a server answers `up`'s request with, from the core's server side.
    fn accept_key(up: &Upgrade) -> String {
        let request = up.request(([127, 0, 0, 1], 9).into());
        let (_, head) = handshake::parse_request(&request).unwrap().unwrap();
        let accepted = handshake::accept_request(&head, &[], false).unwrap();
        let response = String::from_utf8(handshake::response_101(&accepted, &[])).unwrap();
        let line = response.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Accept: ")).unwrap();
        line.trim().to_string()
    }
}
