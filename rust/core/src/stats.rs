//! Process-wide counters of the library's traffic, for monitoring (the Godot binding shows them
//! as Performance monitors in the debugger). Relaxed atomics: each is exact on its own, and a
//! set read together may be a few events apart.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

static OPEN: AtomicI64 = AtomicI64::new(0);
static MESSAGES_IN: AtomicU64 = AtomicU64::new(0);
static MESSAGES_OUT: AtomicU64 = AtomicU64::new(0);
static BYTES_IN: AtomicU64 = AtomicU64::new(0);
static BYTES_OUT: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// The counters at one moment. Bytes are WebSocket bytes (frames, after compression, before
/// TLS); messages are whole messages given to or taken from the game.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Connections in the OPEN or CLOSING state now.
    pub open: i64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Upgrade requests answered with an HTTP error (by us, by a `request_validator`, or
    /// because the server was full).
    pub handshakes_refused: u64,
}

pub fn snapshot() -> Snapshot {
    Snapshot {
        open: OPEN.load(Relaxed),
        messages_in: MESSAGES_IN.load(Relaxed),
        messages_out: MESSAGES_OUT.load(Relaxed),
        bytes_in: BYTES_IN.load(Relaxed),
        bytes_out: BYTES_OUT.load(Relaxed),
        handshakes_refused: REFUSED.load(Relaxed),
    }
}

pub(crate) fn opened() {
    OPEN.fetch_add(1, Relaxed);
}

pub(crate) fn closed() {
    OPEN.fetch_sub(1, Relaxed);
}

pub(crate) fn message_in() {
    MESSAGES_IN.fetch_add(1, Relaxed);
}

pub(crate) fn message_out() {
    MESSAGES_OUT.fetch_add(1, Relaxed);
}

pub(crate) fn bytes_in(n: usize) {
    BYTES_IN.fetch_add(n as u64, Relaxed);
}

pub(crate) fn bytes_out(n: usize) {
    BYTES_OUT.fetch_add(n as u64, Relaxed);
}

pub(crate) fn refused() {
    REFUSED.fetch_add(1, Relaxed);
}
