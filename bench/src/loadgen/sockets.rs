//! What the load generators (this one and the multiplayer benchmark's, `mp/generator`) share
//! besides their WebSocket client (`crate::client`): a non-blocking connect's outcome, writing a
//! byte queue as far as the socket takes it, the open-loop send schedule, CPU ticks, quantiles.

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
