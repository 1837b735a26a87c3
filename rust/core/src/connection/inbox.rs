//! Received messages waiting for the game.

use std::collections::VecDeque;

use super::types::Packet;
use crate::config::Config;

/// The inbound queue. It stays readable in every state, and when it reaches the configured
/// bound the connection stops reading from its socket until the game pops (nothing is dropped).
#[derive(Default)]
pub(super) struct Inbox {
    queue: VecDeque<Packet>,
    bytes: usize,
}

impl Inbox {
    pub fn push(&mut self, packet: Packet) {
        self.bytes += packet.data.len();
        self.queue.push_back(packet);
    }

    pub fn pop(&mut self) -> Option<Packet> {
        let p = self.queue.pop_front()?;
        self.bytes -= p.data.len();
        Some(p)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// At `max_queued_packets` messages or `inbound_buffer_size` bytes. A bound of 0 counts as
    /// 1 here (a connection that may hold nothing could never read); for sending, 0 means what
    /// it says, as in the engine: every send is refused.
    pub fn is_full(&self, config: &Config) -> bool {
        self.queue.len() >= config.max_queued_packets.max(1) || self.bytes >= config.inbound_buffer_size.max(1)
    }
}
