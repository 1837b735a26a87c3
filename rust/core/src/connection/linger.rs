//! A retired socket that is still drained for a while ("lingering") so that what we sent last
//! is not lost: closing a socket with unread input makes the kernel send a TCP reset, which
//! discards our close frame at the remote, and a TLS close_notify right behind a close frame
//! makes some stacks (mbedTLS in Godot) drop the frame unread.

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crate::clock;
use crate::transport::Transport;

/// How long a retired socket keeps draining before it is dropped.
const LINGER: Duration = Duration::from_secs(2);
/// Most bytes discarded in one poll, so that a flooding remote cannot hold the caller.
const BUDGET: usize = 64 * 1024;

pub(super) struct Linger {
    io: Transport,
    until: Option<Instant>,
}

impl Linger {
    /// Lets go of a transport. TLS transports, and every transport whose last words must
    /// arrive (`last_words`: a failure's close frame, an HTTP error), linger; a plain one that
    /// closed normally is shut at once.
    pub fn retire(mut io: Transport, last_words: bool, now: Instant) -> Option<Linger> {
        if !io.is_tls() {
            io.shutdown();
            if !last_words {
                return None;
            }
        }
        Some(Linger { io, until: clock::deadline(now, LINGER) })
    }

    /// Whether it holds a stream of the embedder's (see `Connection::reset`).
    pub fn is_custom(&self) -> bool {
        matches!(self.io, Transport::Custom(_))
    }

    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// Reads and discards what arrived; true once the remote closed, the socket failed or the
    /// time is up (the transport is then shut).
    pub fn drain(&mut self, now: Instant) -> bool {
        let mut scratch = [0u8; 4096];
        let mut budget = BUDGET;
        let done = self.until.is_some_and(|t| now >= t)
            || loop {
                match self.io.read(&mut scratch) {
                    Ok(0) => break true,
                    Ok(n) if n < budget => budget -= n,
                    Ok(_) => break false,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break true,
                }
            };
        if done {
            self.io.shutdown();
        }
        done
    }
}
