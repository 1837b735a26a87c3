//! Received messages waiting for the game.

use std::collections::VecDeque;

use crate::config::Config;
use crate::frames::Packet;

/// The inbound queue. It stays readable in every state, and when it reaches the configured
/// bound the connection stops reading from its socket until the game pops (nothing is dropped).
///
/// With an I/O thread (`publish_on_take`), a message pushed is readable only once the game's
/// poll took its `Message` event ([`Inbox::publish`]): the game never reads a message before
/// the signal that announces it, and never gets a signal for a message it already read.
#[derive(Default)]
pub(super) struct Inbox {
    queue: VecDeque<Packet>,
    bytes: usize,
    /// Messages at the back not readable yet.
    hidden: usize,
    pub publish_on_take: bool,
}

impl Inbox {
    pub fn push(&mut self, packet: Packet) {
        self.bytes += packet.data.len();
        self.queue.push_back(packet);
        if self.publish_on_take {
            self.hidden += 1;
        }
    }

    /// `count` more messages become readable.
    pub fn publish(&mut self, count: usize) {
        self.hidden = self.hidden.saturating_sub(count);
    }

    pub fn pop(&mut self) -> Option<Packet> {
        if self.len() == 0 {
            return None;
        }
        let p = self.queue.pop_front()?;
        self.bytes -= p.data.len();
        Some(p)
    }

    /// Messages readable now.
    pub fn len(&self) -> usize {
        self.queue.len() - self.hidden
    }

    /// At `max_queued_packets` messages or `inbound_buffer_size` bytes. A bound of 0 counts as
    /// 1 here (a connection that may hold nothing could never read); for sending, 0 means what
    /// it says, as in the engine: every send is refused.
    pub fn is_full(&self, config: &Config) -> bool {
        self.queue.len() >= config.max_queued_packets.max(1) || self.bytes >= config.inbound_buffer_size.max(1)
    }
}
