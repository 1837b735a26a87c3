//! What the game sees of a connection, and how it changes: the events it takes, the messages
//! it reads, the ready state. On the main-thread path they change as the connection is driven;
//! when an I/O thread drives it, they change when the game's poll takes the events (messages
//! stay hidden in the inbox, the state the game reads is a snapshot), so that the game sees
//! the same thing in both modes: a message readable exactly when its signal comes.

use std::sync::Arc;
use std::time::Instant;

use super::types::{Event, ReadyState};
use super::{Attention, Connection, Phase};
use crate::frames::Packet;

/// With an I/O thread, a protocol violation found after messages were delivered waits for the
/// game, as on the main-thread path it waits for the next poll: the game takes the messages at
/// one poll, may answer them, and the connection fails at its next poll (its answers first).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Hold {
    No,
    /// The game has not taken the messages yet.
    Untaken,
    /// Taken; released by the game's next poll.
    Taken,
}

impl Connection {
    /// Shares `attention` (as `id`) with the driver: the connection asks it for a poll when it
    /// needs one without socket activity, and lists its unwritten messages there.
    pub fn set_attention(&mut self, attention: Arc<Attention>, id: u32) {
        self.attend(Some((attention, id)));
    }

    pub(super) fn attend(&mut self, attention: Option<(Arc<Attention>, u32)>) {
        self.attention = attention;
        self.inbox.publish_on_take = self.is_deferred();
        self.publish_state();
    }

    /// Whether it is still dialing (name lookup, TCP connect, TLS set-up): without a socket,
    /// an I/O thread must look again soon.
    pub(crate) fn is_dialing(&self) -> bool {
        matches!(self.phase, Phase::Dialing(_))
    }

    /// Whether an I/O thread drives it now.
    pub fn has_io_thread(&self) -> bool {
        self.is_deferred()
    }

    /// Driven by an I/O thread: what the game sees changes only when it takes the events.
    pub(super) fn is_deferred(&self) -> bool {
        self.attention.as_ref().is_some_and(|(a, _)| a.has_thread())
    }

    pub(super) fn wake(&self) {
        if let Some((attention, id)) = &self.attention {
            attention.wake(*id);
        }
    }

    /// The state the game sees: the connection's own, or with an I/O thread, the one at the
    /// game's latest poll (or its own latest call that changed it).
    pub fn ready_state(&self) -> ReadyState {
        if self.is_deferred() {
            self.visible_state
        } else {
            self.live_state()
        }
    }

    pub(super) fn publish_state(&mut self) {
        self.visible_state = self.live_state();
    }

    /// The state as of now, on the driver's side.
    pub(crate) fn live_state(&self) -> ReadyState {
        match &self.phase {
            Phase::Closed => ReadyState::Closed,
            Phase::Dialing(_) | Phase::Upgrading(_) => ReadyState::Connecting,
            Phase::Open(open) if open.is_closing() => ReadyState::Closing,
            Phase::Open(_) => ReadyState::Open,
        }
    }

    /// Messages ready to be read. They stay readable in CLOSING and CLOSED.
    pub fn available(&self) -> usize {
        self.inbox.len()
    }

    /// Takes the next received message; a connection that had stopped reading at the inbox
    /// bound asks to be polled again.
    pub fn pop(&mut self) -> Option<Packet> {
        let was_full = self.inbox.is_full(&self.config);
        let packet = self.inbox.pop()?;
        if was_full && !self.inbox.is_full(&self.config) {
            self.wake();
        }
        Some(packet)
    }

    /// Drains the events queued since the last call. With an I/O thread, the messages they
    /// announce become readable and the state the game sees catches up, both now.
    pub fn take_events(&mut self) -> Vec<Event> {
        let events = std::mem::take(&mut self.events);
        self.inbox.publish(events.iter().filter(|e| matches!(e, Event::Message)).count());
        self.publish_state();
        self.notified = false;
        if self.hold == Hold::Untaken {
            self.hold = Hold::Taken;
        }
        events
    }

    /// The driver's side with an I/O thread: true once when events start waiting, so that it
    /// hands the connection to the game's next poll once.
    pub(crate) fn note_events(&mut self) -> bool {
        if self.events.is_empty() || self.notified {
            return false;
        }
        self.notified = true;
        true
    }

    /// Drives the connection as far as its socket allows now. When an I/O thread drives it,
    /// the game's poll only lets a held failure go on (see [`Hold`]); `take_events` takes what
    /// the thread found.
    pub fn poll(&mut self, now: Instant) {
        if !self.is_deferred() {
            return self.drive(now);
        }
        if self.hold == Hold::Taken {
            self.release_hold();
        }
    }

    /// A failure held for the game goes on: its driver gets to it at once.
    pub(crate) fn release_hold(&mut self) {
        self.hold = Hold::No;
        self.wake();
    }

    /// Whether a failure waits for the game's next poll (see [`Hold`]).
    pub(crate) fn is_held_for_next_poll(&self) -> bool {
        self.hold == Hold::Taken
    }
}
