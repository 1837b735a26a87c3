//! The client side of the WebSocket wire, as the load generators need it (this one and the
//! multiplayer benchmark's, `mpbench/generator`): the HTTP upgrade request and the check of its
//! answer, masked frames, frame headers, a non-blocking connect's outcome, writing a byte queue
//! as far as the socket takes it, and the open-loop send schedule.

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;

/// A frame header as read from the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub op: u8,
    pub masked: bool,
    /// Payload length.
    pub len: usize,
    /// Header length, the masking key included.
    pub size: usize,
}

/// The header at the start of `buf`, or `None` while it is incomplete.
pub fn parse_header(buf: &[u8]) -> Option<Header> {
    if buf.len() < 2 {
        return None;
    }
    let (fin, op, masked) = (buf[0] & 0x80 != 0, buf[0] & 0x0f, buf[1] & 0x80 != 0);
    let (len, size) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
        126 | 127 => return None,
        n => (n as usize, 2),
    };
    let size = size + if masked { 4 } else { 0 };
    (buf.len() >= size).then_some(Header { fin, op, masked, len, size })
}

/// Appends one frame with the first byte `b0` (FIN, opcode), masked with `mask`.
pub fn push_frame(out: &mut Vec<u8>, b0: u8, payload: &[u8], mask: [u8; 4]) {
    out.reserve(payload.len() + 14);
    out.push(b0);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(k, b)| b ^ mask[k % 4]));
}

/// The upgrade request for `path` on `addr` (a fixed key: the answer is not checked for it).
pub fn upgrade_request(addr: SocketAddr, path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// The upgrade's answer at the start of `buf`: `None` while incomplete, then its length when it
/// is `101 Switching Protocols`, or `Err` when the server refused.
pub fn upgrade_answer(buf: &[u8]) -> Option<Result<usize, ()>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    Some(if buf.starts_with(b"HTTP/1.1 101") { Ok(end + 4) } else { Err(()) })
}

/// A non-blocking connect's outcome so far: `Some(true)` connected, `Some(false)` still under
/// way, `None` failed.
pub fn connected(sock: &TcpStream) -> Option<bool> {
    if !matches!(sock.take_error(), Ok(None)) {
        return None;
    }
    match sock.peer_addr() {
        Ok(_) => Some(true),
        Err(e) if e.kind() == ErrorKind::NotConnected => Some(false),
        Err(_) => None,
    }
}

/// Writes what `out` holds as far as the socket takes it, keeping the rest; false when the
/// connection failed.
pub fn flush(sock: &mut TcpStream, out: &mut Vec<u8>) -> bool {
    while !out.is_empty() {
        match sock.write(out) {
            Ok(0) => return false,
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Not connected yet: what is queued goes out at the writable event.
            Err(e) if e.kind() == ErrorKind::NotConnected => return true,
            Err(_) => return false,
        }
    }
    true
}

/// An open-loop send schedule: message number `n` is due at `start + n / per_s`.
pub struct Schedule {
    pub start: Instant,
    pub per_s: f64,
    /// The next message to send.
    pub next: u64,
}

impl Schedule {
    pub fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.per_s)
    }
}

/// User + system CPU ticks of a process (`self` or a pid), all threads.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
pub const HZ: f64 = 100.0;

/// Nearest-rank quantile of sorted values.
pub fn rank(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_header_parser() {
        for len in [0usize, 16, 125, 126, 1024, 65535, 65536, 1 << 20] {
            let mut out = Vec::new();
            push_frame(&mut out, 0x82, &vec![7u8; len], [1, 2, 3, 4]);
            let h = parse_header(&out).expect("whole header");
            assert_eq!((h.fin, h.op, h.masked, h.len), (true, 2, true, len));
            assert_eq!(h.size + len, out.len());
            assert_eq!(parse_header(&out[..h.size - 1]), None);
            if len > 0 {
                assert_eq!(out[h.size] ^ 1, 7);
            }
        }
    }

    #[test]
    fn the_upgrade_answer_is_found_and_checked() {
        assert_eq!(upgrade_answer(b"HTTP/1.1 101 Switching\r\n"), None);
        assert_eq!(upgrade_answer(b"HTTP/1.1 101 Switching\r\n\r\n\x82"), Some(Ok(26)));
        assert_eq!(upgrade_answer(b"HTTP/1.1 503 Busy\r\n\r\n"), Some(Err(())));
    }
}
