//! The open WebSocket: frames in and out through the frame layer ([`crate::frames`]), the
//! closing handshake, the heartbeat, the outbound byte and message caps, and the rule that
//! messages received before a protocol violation reach the game before the connection fails.
//! What is sent is written at once; the writer keeps only what the socket would not take yet.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::inbox::Inbox;
use super::types::Event;
use super::{Dropped, End};
use crate::clock;
use crate::config::Config;
use crate::extensions::Agreement;
use crate::frames::is_sendable_close_code;
use crate::frames::read::{Incoming, Reader};
use crate::frames::write::{Outgoing, Writer};
use crate::frames::Violation;
use crate::stats::Counters;
use crate::transport::Transport;

/// Most bytes read from one connection in one poll: a peer that keeps sending cannot hold the
/// game's frame; the rest is read at the next poll.
const READ_BUDGET: usize = 4 << 20;

/// How long a closing handshake may take before the connection is dropped (close code -1):
/// a remote that never answers our close frame, or never reads our reply, holds nothing longer.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct Open {
    io: Transport,
    counters: Arc<Counters>,
    reader: Reader,
    writer: Writer,
    /// Our close frame is queued or sent.
    close_sent: bool,
    /// The remote's close frame: its code (1005 when it had none) and reason.
    received: Option<(u16, String)>,
    /// When the closing handshake must be over (set once it starts).
    close_deadline: Option<Instant>,
    /// A violation found after messages were delivered in the same poll: the game gets one
    /// poll to read and answer them, then the connection fails (at this time).
    failing: Option<(Violation, Instant)>,
    /// The read budget ran out with bytes still coming: read on at the next poll (this time).
    read_on: Option<Instant>,
    /// Bytes and messages accepted by `send` and not yet fully written.
    pending_bytes: usize,
    pending_msgs: usize,
    ping: Ping,
    ping_outstanding: bool,
}

/// The heartbeat's next step (it runs only while `heartbeat_interval` is set).
enum Ping {
    /// The first ping goes out at the next poll, as the engine sends it at once.
    Start,
    At(Instant),
    /// The interval is too long to ever come round.
    Never,
}

/// What a poll of the open connection came to.
pub(super) enum Opened {
    Stay(Box<Open>),
    Ended(End, Transport),
}

impl Open {
    /// The WebSocket over `io`; `tail` holds bytes read past the HTTP head (first frames).
    pub fn new(io: Transport, tail: Vec<u8>, server: bool, config: &Config, agreed: Option<&Agreement>) -> Box<Open> {
        let deflate = agreed.map(|a| &a.deflate);
        let threshold = config.compression.threshold;
        Box::new(Open {
            io,
            counters: config.counters.clone(),
            reader: Reader::new(tail, server, config.inbound_buffer_size.max(1), deflate),
            writer: Writer::new(server, deflate, threshold),
            close_sent: false,
            received: None,
            close_deadline: None,
            failing: None,
            read_on: None,
            pending_bytes: 0,
            pending_msgs: 0,
            ping: Ping::Start,
            ping_outstanding: false,
        })
    }

    /// A protocol violation was found after messages were delivered: it fails at the next poll.
    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }

    /// A close frame was sent or received (the engine's CLOSING).
    pub fn is_closing(&self) -> bool {
        self.close_sent || self.received.is_some()
    }

    /// The remote's close code and reason, once its close frame arrived.
    pub fn received(&self) -> Option<&(u16, String)> {
        self.received.as_ref()
    }

    pub fn buffered_amount(&self) -> usize {
        self.pending_bytes
    }

    pub fn io_mut(&mut self) -> &mut Transport {
        &mut self.io
    }

    pub fn into_io(self) -> Transport {
        self.io
    }

    /// When `poll` has work to do without socket activity.
    pub fn next_deadline(&self, config: &Config) -> Option<Instant> {
        if let Some(at) = self.failing.as_ref().map(|(_, at)| *at).or(self.read_on) {
            return Some(at);
        }
        if self.is_closing() {
            return self.close_deadline;
        }
        match (&self.ping, config.heartbeat_interval) {
            (Ping::At(t), Some(_)) => Some(*t),
            _ => None,
        }
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
        if self.is_closing() && self.close_deadline.is_some_and(|d| now >= d) {
            return Err(End::Abort { close_received: false, why: Dropped::CloseTimeout });
        }
        if let Some((violation, _)) = self.failing.take() {
            return Err(self.fail(violation));
        }
        // Reading first: a pong that came in while this poll was late (a long frame) counts,
        // unless the inbox is full (then nothing is read). The engine checks its heartbeat
        // before reading and drops such a connection. A violation held for the next poll
        // keeps its close code: the heartbeat waits.
        self.read(now, config, inbox, events)?;
        if self.failing.is_none() {
            self.heartbeat(now, config)?;
        }
        self.flush()
    }

    /// As the engine: a ping every interval; a ping still unanswered when the next is due
    /// drops the connection. Runs after `read` (see `advance`).
    fn heartbeat(&mut self, now: Instant, config: &Config) -> Result<(), End> {
        let Some(interval) = config.heartbeat_interval else { return Ok(()) };
        let due = match self.ping {
            Ping::Start => true,
            Ping::At(t) => now >= t,
            Ping::Never => false,
        };
        if !due || self.is_closing() {
            return Ok(());
        }
        if self.ping_outstanding {
            return Err(End::Abort { close_received: false, why: Dropped::NoPong });
        }
        self.ping_outstanding = true;
        self.ping = clock::deadline(now, interval).map_or(Ping::Never, Ping::At);
        self.writer.ping();
        Ok(())
    }

    /// Takes what the remote sent until the socket is drained, the inbox is full or the
    /// remote's close frame is in. A violation ends the connection at once, unless messages were
    /// delivered in this poll: then the game reads and answers them first (RFC 6455 §7.1.7
    /// does not ask to drop them), and the connection fails at the next poll.
    fn read(&mut self, now: Instant, config: &Config, inbox: &mut Inbox, events: &mut Vec<Event>) -> Result<(), End> {
        let mut delivered = false;
        let mut budget = READ_BUDGET;
        self.read_on = None;
        while !inbox.is_full(config) && self.received.is_none() {
            match self.reader.next_incoming() {
                Ok(Some(Incoming::Message(packet))) => {
                    self.counters.message_in();
                    inbox.push(packet);
                    events.push(Event::Message);
                    delivered = true;
                }
                Ok(Some(Incoming::Ping(payload))) if !self.close_sent => {
                    // Answered at once while the socket keeps up (each ping its pong).
                    self.writer.pong(&payload);
                    self.flush()?;
                }
                Ok(Some(Incoming::Ping(_))) => {}
                Ok(Some(Incoming::Pong)) => self.ping_outstanding = false,
                Ok(Some(Incoming::Close(code, reason))) => self.on_close_frame(code, reason, now, events),
                Ok(None) => match self.reader.fill(&mut self.io) {
                    Ok(0) => return Err(self.ended_by_remote(None)),
                    Ok(n) => {
                        self.counters.bytes_in(n);
                        budget = budget.saturating_sub(n);
                        if budget == 0 {
                            self.read_on = Some(now);
                            return Ok(());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.reader.release_if_drained();
                        return Ok(());
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.ended_by_remote(Some(e))),
                },
                Err(violation) if delivered => {
                    self.failing = Some((violation, now));
                    return Ok(());
                }
                Err(violation) => return Err(self.fail(violation)),
            }
        }
        Ok(())
    }

    fn on_close_frame(&mut self, code: u16, reason: String, now: Instant, events: &mut Vec<Event>) {
        self.received = Some((code, reason.clone()));
        if !self.close_sent {
            // Echo the remote's close frame, as tungstenite did.
            let echo = (code != 1005).then_some(code);
            self.writer.close(echo, truncate_utf8(&reason, 123));
            self.close_sent = true;
            self.close_deadline = clock::deadline(now, CLOSE_TIMEOUT);
            events.push(Event::CloseRequest { code, reason });
        }
    }

    /// The stream ended or broke: a clean end once the remote's close frame is in.
    fn ended_by_remote(&mut self, error: Option<io::Error>) -> End {
        let close_received = self.received.is_some();
        match (&self.received, error) {
            (Some((code, reason)), _) => End::Clean { code: *code, reason: reason.clone() },
            (None, Some(e)) if !is_disconnect(&e) => End::Abort { close_received, why: Dropped::Io(e) },
            (None, _) => End::Abort { close_received, why: Dropped::ByRemote },
        }
    }

    /// Writes what is framed; ends the connection once the closing handshake is done.
    fn flush(&mut self) -> Result<(), End> {
        match self.writer.flush(&mut Counted(&mut self.io, &self.counters)) {
            Ok(true) => {
                self.pending_bytes = 0;
                self.pending_msgs = 0;
                match &self.received {
                    Some((code, reason)) if self.close_sent => Err(End::Clean { code: *code, reason: reason.clone() }),
                    _ => Ok(()),
                }
            }
            Ok(false) => Ok(()),
            Err(e) => Err(self.ended_by_remote(Some(e))),
        }
    }

    /// Queues one message (its `text` picks the frame type; the bytes are sent as given) and
    /// writes what the socket takes (unless `write` is false: corked, see
    /// [`super::Attention`]). `Ok(false)`: the byte or message cap would be exceeded.
    pub fn send(&mut self, msg: &Outgoing, config: &Config, write: bool) -> Result<bool, End> {
        if !write && self.over_caps(msg, config) {
            // Corked: the caps count what is queued until the writer is empty, so write first.
            self.flush()?;
        }
        if self.over_caps(msg, config) {
            return Ok(false);
        }
        if let Err(why) = self.writer.message(msg) {
            return Err(self.fail(Violation::internal(&format!("compressing a message failed: {why}"))));
        }
        self.pending_bytes += msg.data.len();
        self.pending_msgs += 1;
        self.counters.message_out();
        if write {
            self.flush()?;
        }
        Ok(true)
    }

    fn over_caps(&self, msg: &Outgoing, config: &Config) -> bool {
        let over_bytes = config.outbound_buffer_size.is_some_and(|cap| self.pending_bytes + msg.data.len() > cap);
        self.pending_msgs >= config.max_queued_packets || over_bytes
    }

    /// Writes what is framed and not written yet.
    pub fn write_pending(&mut self) -> Result<(), End> {
        self.flush()
    }

    /// Sends our close frame (`reason` cut to the 123 bytes a close frame holds; no payload at
    /// all without a `code`, or with one that may not be sent) and starts the closing handshake.
    /// With `write` false, the frame waits for [`Open::write_pending`], as a corked send.
    pub fn close(&mut self, code: Option<u16>, reason: &str, now: Instant, write: bool) -> Result<(), End> {
        let code = code.filter(|c| is_sendable_close_code(*c));
        self.writer.close(code, truncate_utf8(reason, 123));
        self.close_sent = true;
        self.close_deadline = clock::deadline(now, CLOSE_TIMEOUT);
        if write {
            self.flush()?;
        }
        Ok(())
    }

    /// Fails the WebSocket connection (RFC 6455 §7.1.7): our close frame with the violation's
    /// code goes out (after what is already queued) unless ours was sent; locally the close code
    /// reads that code and the reason the engine's, as in the engine.
    fn fail(&mut self, violation: Violation) -> End {
        if !self.close_sent {
            self.writer.close(Some(violation.code), "");
            self.close_sent = true;
        }
        let _ = self.writer.flush(&mut Counted(&mut self.io, &self.counters));
        End::Fail { code: violation.code, local_reason: violation.reason, detail: violation.detail }
    }
}

/// The socket as the writer sees it: what it takes is counted as bytes out.
struct Counted<'a>(&'a mut Transport, &'a Counters);

impl io::Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.bytes_out(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted)
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
