//! What the owner sends: messages, and the close frame that starts the closing handshake.
//!
//! A message is framed at once (so the caps answer at once); it is written at once too, unless
//! the driver is corked or an I/O thread drives the connection: then it is listed in the
//! driver's [`super::Attention`] and written by the uncork or by the I/O thread.

use std::time::Instant;

use super::{Connection, Phase, SendError};
use crate::frames::write::Outgoing;

/// One message for one connection or many (a broadcast, a multiplayer send to several peers):
/// its frame is built once for every connection that sends the same bytes.
pub struct Message<'a>(Outgoing<'a>);

impl<'a> Message<'a> {
    /// `text` picks the frame type; the bytes are sent as given.
    pub fn new(data: &'a [u8], text: bool) -> Message<'a> {
        Message(Outgoing::new(data, text))
    }
}

impl Connection {
    /// Queues one message (`text` picks the frame type; the bytes are sent as given) and tries
    /// to write it at once.
    pub fn send(&mut self, data: &[u8], text: bool, now: Instant) -> Result<(), SendError> {
        self.send_message(&Message::new(data, text), now)
    }

    /// [`Connection::send`] for a message that may go to many connections (its frame is
    /// built once for all that need the same bytes).
    pub fn send_message(&mut self, msg: &Message, now: Instant) -> Result<(), SendError> {
        let msg = &msg.0;
        let later = self.writes_later();
        let Phase::Open(open) = &mut self.phase else { return Err(SendError::NotOpen) };
        if open.is_closing() {
            return Err(SendError::NotOpen);
        }
        match open.send(msg, &self.config, !later) {
            Ok(true) => {
                if later {
                    self.listed_for_writing();
                }
                Ok(())
            }
            Ok(false) => Err(SendError::QueueFull),
            Err(end) => {
                self.end_now(end, now);
                Err(SendError::Failed)
            }
        }
    }

    /// Whether what is sent now is only framed (corked, or written by an I/O thread).
    fn writes_later(&self) -> bool {
        self.attention.as_ref().is_some_and(|(a, _)| a.writes_later())
    }

    fn listed_for_writing(&self) {
        if let Some((attention, id)) = &self.attention {
            attention.written_later(*id);
        }
    }

    /// Writes what was framed and not written yet (what was sent while corked).
    pub fn write_pending(&mut self, now: Instant) {
        let Phase::Open(open) = &mut self.phase else { return };
        if let Err(end) = open.write_pending() {
            self.end_now(end, now);
            // Its owner collects the ending at its next poll.
            self.wake();
        }
    }

    /// Starts the closing handshake: an open connection sends its close frame, with `code` and
    /// `reason`, or empty for `None` (the remote reads 1005), and goes CLOSING; one not yet open
    /// is aborted.
    pub fn close(&mut self, code: Option<u16>, reason: &str, now: Instant) {
        let later = self.writes_later();
        match &mut self.phase {
            Phase::Closed => {}
            Phase::Dialing(_) | Phase::Upgrading(_) => self.abort(now),
            Phase::Open(open) if open.is_closing() => {}
            Phase::Open(open) => match open.close(code, reason, now, !later) {
                Err(end) => self.end_now(end, now),
                Ok(()) => {
                    if later {
                        self.listed_for_writing();
                    }
                    // Its driver must schedule the close timeout even if the remote never answers.
                    self.wake();
                }
            },
        }
        self.publish_state();
    }
}
