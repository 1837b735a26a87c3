//! The open WebSocket's driver: moves bytes between the transport and the protocol
//! ([`crate::proto::Open`], which holds the frames, the closing handshake, the heartbeat and the
//! caps), bounds how much one poll reads, and turns what the protocol reports into events and
//! the connection's inbox. What is sent is written at once; the writer keeps only what the
//! transport would not take yet.

use std::io;
use std::time::Instant;

use super::inbox::Inbox;
use super::types::Event;
use super::{Dropped, End};
use crate::config::Config;
use crate::extensions::Agreement;
use crate::frames::write::Outgoing;
use crate::frames::Violation;
use crate::proto::{self, Ended, Received};
use crate::transport::Transport;

pub use crate::proto::open::CLOSE_TIMEOUT;

/// Most bytes read from one connection in one poll: a peer that keeps sending cannot hold the
/// game's frame; the rest is read at the next poll.
const READ_BUDGET: usize = 4 << 20;

pub(super) struct Open {
    io: Transport,
    proto: proto::Open,
}

/// What a poll of the open connection came to.
pub(super) enum Opened {
    Stay(Box<Open>),
    Ended(End, Transport),
}

impl Open {
    /// The WebSocket over `io`; `tail` holds bytes read past the HTTP head (first frames).
    pub fn new(io: Transport, tail: Vec<u8>, server: bool, config: &Config, agreed: Option<&Agreement>) -> Box<Open> {
        Box::new(Open { io, proto: proto::Open::new(tail, server, config, agreed) })
    }

    /// A protocol violation was found after messages were delivered: it fails at the next poll.
    pub fn is_failing(&self) -> bool {
        self.proto.is_failing()
    }

    /// A close frame was sent or received (the engine's CLOSING).
    pub fn is_closing(&self) -> bool {
        self.proto.is_closing()
    }

    /// The remote's close code and reason, once its close frame arrived.
    pub fn received(&self) -> Option<&(u16, String)> {
        self.proto.received()
    }

    pub fn buffered_amount(&self) -> usize {
        self.proto.buffered_amount()
    }

    pub fn io_mut(&mut self) -> &mut Transport {
        &mut self.io
    }

    pub fn into_io(self) -> Transport {
        self.io
    }

    /// When `poll` has work to do without socket activity.
    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        self.proto.next_deadline(config)
    }

    /// Times out a stuck closing handshake, reads what arrived (until the inbox is full), runs
    /// the heartbeat, and writes what is pending.
    pub fn poll(
        mut self: Box<Self>,
        now: Instant,
        config: &Config,
        inbox: &mut Inbox,
        events: &mut Vec<Event>,
    ) -> Opened {
        match self.advance(now, config, inbox, events) {
            Ok(()) => Opened::Stay(self),
            Err(end) => Opened::Ended(end, self.io),
        }
    }

    /// `Err`: the connection is over, and how.
    fn advance(
        &mut self,
        now: Instant,
        config: &Config,
        inbox: &mut Inbox,
        events: &mut Vec<Event>,
    ) -> Result<(), End> {
        let timed_out = self.proto.handle_timeout(now);
        self.ended(timed_out)?;
        // Reading first: a pong that came in while this poll was late (a long frame) counts,
        // unless the inbox is full (then nothing is read). The engine checks its heartbeat
        // before reading and drops such a connection. A violation held for the next poll
        // keeps its close code: the heartbeat waits.
        self.read(now, config, inbox, events)?;
        let beat = self.proto.heartbeat(now, config);
        self.ended(beat)?;
        self.flush()
    }

    /// Takes what the remote sent until the socket is drained, the inbox is full or the
    /// remote's close frame is in. A violation ends the connection at once, unless messages were
    /// delivered in this poll: then the game reads and answers them first (RFC 6455 §7.1.7
    /// does not ask to drop them), and the connection fails at the next poll.
    fn read(&mut self, now: Instant, config: &Config, inbox: &mut Inbox, events: &mut Vec<Event>) -> Result<(), End> {
        let mut delivered = false;
        let mut budget = READ_BUDGET;
        self.proto.start_reading();
        while !inbox.is_full(config) && self.proto.wants_more() {
            match self.proto.next_received(now) {
                Ok(Some(Received::Message(packet))) => {
                    inbox.push(packet);
                    events.push(Event::Message);
                    delivered = true;
                }
                Ok(Some(Received::Answered)) => self.flush()?,
                Ok(Some(Received::CloseRequest { code, reason })) => events.push(Event::CloseRequest { code, reason }),
                Ok(Some(Received::Handled)) => {}
                Ok(None) => match self.proto.fill_from(&mut self.io) {
                    Ok(0) => return Err(self.ended_by_remote(None)),
                    Ok(n) => {
                        budget = budget.saturating_sub(n);
                        if budget == 0 {
                            self.proto.read_later(now);
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.proto.drained();
                        return Ok(());
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.ended_by_remote(Some(e))),
                },
                Err(violation) if delivered => {
                    self.proto.fail_later(violation, now);
                    return Ok(());
                }
                Err(violation) => {
                    let failed = self.proto.fail(violation);
                    return Err(self.end_of(failed));
                }
            }
        }
        Ok(())
    }

    /// The stream ended or broke: a clean end once the remote's close frame is in.
    fn ended_by_remote(&mut self, error: Option<io::Error>) -> End {
        let received = self.proto.received();
        let close_received = received.is_some();
        match (received, error) {
            (Some((code, reason)), _) => End::Clean { code: *code, reason: reason.clone() },
            (None, Some(e)) if !is_disconnect(&e) => End::Abort { close_received, why: Dropped::Io(e) },
            (None, _) => End::Abort { close_received, why: Dropped::ByRemote },
        }
    }

    /// What the protocol's ending is for the connection. A failure's close frame is written
    /// (as far as the socket takes it) first.
    fn end_of(&mut self, ended: Ended) -> End {
        match ended {
            Ended::Clean { code, reason } => End::Clean { code, reason },
            Ended::Fail(Violation { code, reason, detail }) => {
                let _ = self.proto.transmit_into(&mut self.io);
                End::Fail { code, local_reason: reason, detail }
            }
            Ended::CloseTimeout => End::Abort { close_received: false, why: Dropped::CloseTimeout },
            Ended::NoPong => End::Abort { close_received: false, why: Dropped::NoPong },
        }
    }

    fn ended(&mut self, step: Result<(), Ended>) -> Result<(), End> {
        step.map_err(|ended| self.end_of(ended))
    }

    /// Writes what is framed; ends the connection once the closing handshake is done.
    fn flush(&mut self) -> Result<(), End> {
        match self.proto.transmit_into(&mut self.io) {
            Ok(true) => {
                let done = self.proto.transmitted();
                self.ended(done)
            }
            Ok(false) => Ok(()),
            Err(e) => Err(self.ended_by_remote(Some(e))),
        }
    }

    /// Queues one message (its `text` picks the frame type; the bytes are sent as given) and
    /// writes what the socket takes (unless `write` is false: corked, see
    /// [`super::Attention`]). `Ok(false)`: the byte or message cap would be exceeded.
    pub fn send(&mut self, msg: &Outgoing, config: &Config, write: bool) -> Result<bool, End> {
        if !write && self.proto.over_caps(msg, config) {
            // Corked: the caps count what is queued until the writer is empty, so write first.
            self.flush()?;
        }
        let sent = self.proto.send(msg, config);
        let queued = sent.map_err(|ended| self.end_of(ended))?;
        if queued && write {
            self.flush()?;
        }
        Ok(queued)
    }

    /// Writes what is framed and not written yet.
    pub fn write_pending(&mut self) -> Result<(), End> {
        self.flush()
    }

    /// Sends our close frame and starts the closing handshake (see [`proto::Open::close`]).
    /// With `write` false, the frame waits for [`Open::write_pending`], as a corked send.
    pub fn close(&mut self, code: Option<u16>, reason: &str, now: Instant, write: bool) -> Result<(), End> {
        self.proto.close(code, reason, now);
        if write {
            self.flush()?;
        }
        Ok(())
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted)
}
