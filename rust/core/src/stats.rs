//! Traffic counters, for monitoring (the Godot binding shows them as Performance monitors in
//! the debugger). One [`Counters`] is shared through a config's `counters`: a server's
//! config hands it to every connection it accepts, so it counts per server, or per connection,
//! or for a whole process when the owner passes the same one everywhere (the binding does).
//! Relaxed atomics: each is exact on its own, and a set read together may be a few events apart.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// The counters of the connections that share one config's [`std::sync::Arc`] of them.
#[derive(Debug, Default)]
pub struct Counters {
    open: AtomicI64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    refused: AtomicU64,
}

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

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            open: self.open.load(Relaxed),
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            handshakes_refused: self.refused.load(Relaxed),
        }
    }

    pub(crate) fn opened(&self) {
        self.open.fetch_add(1, Relaxed);
    }

    pub(crate) fn closed(&self) {
        self.open.fetch_sub(1, Relaxed);
    }

    pub(crate) fn message_in(&self) {
        self.messages_in.fetch_add(1, Relaxed);
    }

    pub(crate) fn message_out(&self) {
        self.messages_out.fetch_add(1, Relaxed);
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes_in.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes_out.fetch_add(n as u64, Relaxed);
    }

    pub(crate) fn refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }
}
