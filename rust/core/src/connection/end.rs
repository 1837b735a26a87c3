//! How a connection ends. Every ending, from inside `poll` or from a method, goes through
//! [`Connection::end`], with an [`End`] that says how.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use super::linger::Linger;
use super::open::CLOSE_TIMEOUT;
use super::types::{fmt_addr, Event};
use super::{Connection, Phase};
use crate::transport::Transport;

/// How a connection ends.
pub(super) enum End {
    /// The closing handshake completed; `code` and `reason` are the remote's (1005 when its
    /// close frame had no code).
    Clean { code: u16, reason: String },
    /// We failed the connection (RFC 6455 §7.1.7) and sent `code` in our close frame; locally
    /// the close code reads `code` and the reason `local_reason`, as in the engine; `detail`
    /// goes to the log.
    Fail { code: u16, local_reason: &'static str, detail: String },
    /// Dropped without completing a closing handshake: no close code (the engine's -1).
    /// `close_received`: the remote's close frame had arrived (a clean disconnect for the owner).
    Abort { close_received: bool, why: Dropped },
}

/// Why a connection was aborted.
pub(super) enum Dropped {
    /// The owner asked (`abort`, or `close` before the connection opened): nothing to report.
    ByOwner,
    /// The remote closed or reset the TCP connection.
    ByRemote,
    /// We answered the upgrade request with an HTTP error (logged when the core refused it; not
    /// when the owner did, see `Connection::approve`).
    Refused,
    /// The transport failed.
    Io(io::Error),
    /// A failure, described (name lookup, connect, TLS, the HTTP upgrade).
    Failed(String),
    /// A ping was still unanswered when the next was due.
    NoPong,
    /// The closing handshake took longer than [`CLOSE_TIMEOUT`].
    CloseTimeout,
    /// The connection did not open within `handshake_timeout`.
    HandshakeTimeout,
}

impl Dropped {
    pub fn warning(self, remote: Option<SocketAddr>) -> Option<String> {
        let who = fmt_addr(remote);
        match self {
            Dropped::ByOwner | Dropped::ByRemote | Dropped::Refused => None,
            Dropped::Io(e) => Some(format!("connection to {who} failed: {e}")),
            Dropped::Failed(why) => Some(why),
            Dropped::NoPong => Some(format!("no pong from {who} within the heartbeat interval; closing")),
            Dropped::CloseTimeout => Some(format!(
                "the closing handshake with {who} did not complete within {} s; dropping the connection",
                CLOSE_TIMEOUT.as_secs()
            )),
            Dropped::HandshakeTimeout => {
                Some("the connection timed out before the WebSocket handshake completed".into())
            }
        }
    }
}

impl Connection {
    /// Closes at once without notifying the remote (the engine's `close(-1)`): no close code.
    pub fn abort(&mut self, now: Instant) {
        let close_received = match &mut self.phase {
            // Closed already on the driver's side: the game sees it now, as it asked.
            Phase::Closed => return self.publish_state(),
            Phase::Open(open) => {
                // What was framed and not written yet (sent while corked, or left for an I/O
                // thread, such as a close frame just queued) goes out first, as far as the
                // socket takes it now.
                let _ = open.write_pending();
                open.received().is_some()
            }
            Phase::Dialing(_) | Phase::Upgrading(_) => false,
        };
        self.end_now(End::Abort { close_received, why: Dropped::ByOwner }, now);
        self.publish_state();
    }

    /// Ends the connection outside the phase's own poll: takes the phase's transport.
    pub(super) fn end_now(&mut self, end: End, now: Instant) {
        let io = match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Closed | Phase::Dialing(_) => None,
            Phase::Upgrading(up) => Some(up.into_io()),
            Phase::Open(open) => Some(open.into_io()),
        };
        self.end(end, io, now);
    }

    /// The one place a connection ends: reports why, retires the transport (see [`linger`]),
    /// records the close code and reason, and queues `Closed`.
    pub(super) fn end(&mut self, end: End, io: Option<Transport>, now: Instant) {
        // What we sent last (a close frame after a failure, an HTTP error) must not be lost to
        // a reset from unread input: those sockets linger even when plain.
        let last_words = matches!(end, End::Fail { .. } | End::Abort { why: Dropped::Refused, .. });
        self.uncount_open();
        let (code, reason, clean) = match end {
            End::Clean { code, reason } => (Some(code), reason, true),
            End::Fail { code, local_reason, detail } => {
                let who = fmt_addr(self.remote);
                self.events
                    .push(Event::Warning(format!("closing the connection with {who} with code {code}: {detail}")));
                (Some(code), local_reason.to_string(), false)
            }
            End::Abort { close_received, why } => {
                if let Some(warning) = why.warning(self.remote) {
                    self.events.push(Event::Warning(warning));
                }
                (None, String::new(), close_received)
            }
        };
        if let Some(io) = io {
            self.linger = Linger::retire(io, last_words, now);
        }
        self.close_code = code;
        self.close_reason = reason;
        self.open_deadline = None;
        self.events.push(Event::Closed { was_open: self.was_open, clean });
        self.wake();
    }

    pub(super) fn uncount_open(&mut self) {
        if std::mem::take(&mut self.counted_open) {
            self.config.counters.closed();
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.uncount_open();
    }
}
