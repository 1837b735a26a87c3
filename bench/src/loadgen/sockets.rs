//! What the load generators (this one and the multiplayer benchmark's, `mp/generator`) share
//! besides their WebSocket client (`crate::client`): a non-blocking connect's outcome, writing a
//! byte queue as far as the socket takes it and the open-loop send schedule.

use std::io::{ErrorKind, Write};
use std::time::{Duration, Instant};

use mio::net::TcpStream;

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
