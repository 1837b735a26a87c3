//! The open WebSocket as a state machine. Bytes in: [`Open::handle_bytes`] (or
//! [`Open::fill_from`], which reads once into the frame buffer); bytes out:
//! [`Open::poll_transmit`] (or [`Open::transmit_into`]); time: `now` in every call that may
//! start a timer, and [`Open::next_deadline`]. What the remote sent comes out of
//! [`Open::next_received`], one item at a time, so that its caller stops taking when the game's
//! queue is full.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock;
use crate::config::Config;
use crate::extensions::Agreement;
use crate::frames::read::{Incoming, Reader};
use crate::frames::write::{Outgoing, Writer};
use crate::frames::{is_sendable_close_code, Packet, Violation};
use crate::stats::Counters;

/// How long a closing handshake may take before the connection is dropped (close code -1):
/// a remote that never answers our close frame, or never reads our reply, holds nothing longer.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

pub struct Open {
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
    /// The driver's read budget ran out with bytes still coming: read on at this time.
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

/// How the open WebSocket ended, as far as the protocol knows (the transport's own ending,
/// a closed or broken stream, is the driver's).
#[derive(Debug)]
pub enum Ended {
    /// The closing handshake completed; the remote's code (1005 when its close frame had none)
    /// and reason.
    Clean { code: u16, reason: String },
    /// We failed the connection (RFC 6455 §7.1.7): our close frame with the violation's code
    /// is queued (unless ours was sent already); transmit what is queued, once, before the end.
    Fail(Violation),
    /// The closing handshake took longer than [`CLOSE_TIMEOUT`].
    CloseTimeout,
    /// A heartbeat ping was still unanswered when the next was due.
    NoPong,
}

/// One thing taken from what the remote sent.
#[derive(Debug)]
pub enum Received {
    Message(Packet),
    /// A ping was answered: its pong is queued; transmit before taking more.
    Answered,
    /// The remote's close frame came first (ours is queued in echo); `code` is 1005 when the
    /// frame had none.
    CloseRequest {
        code: u16,
        reason: String,
    },
    /// A frame handled here (a pong, a ping while closing, the answer to our close frame).
    Handled,
}

impl Open {
    /// The WebSocket after the upgrade; `tail` holds bytes read past the HTTP head (first frames).
    pub fn new(tail: Vec<u8>, server: bool, config: &Config, agreed: Option<&Agreement>) -> Open {
        let deflate = agreed.map(|a| &a.deflate);
        let threshold = config.compression.threshold;
        Open {
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
        }
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

    /// When there is work to do without new bytes.
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

    /// What is due before reading: a stuck closing handshake times out, a held violation fails.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), Ended> {
        if self.is_closing() && self.close_deadline.is_some_and(|d| now >= d) {
            return Err(Ended::CloseTimeout);
        }
        match self.failing.take() {
            Some((violation, _)) => Err(self.fail(violation)),
            None => Ok(()),
        }
    }

    /// As the engine: a ping every interval; a ping still unanswered when the next is due
    /// ends the connection. Runs after reading (a pong that came in while the poll was late
    /// counts), and not while a violation is held.
    pub fn heartbeat(&mut self, now: Instant, config: &Config) -> Result<(), Ended> {
        let Some(interval) = config.heartbeat_interval else { return Ok(()) };
        let due = match self.ping {
            Ping::Start => true,
            Ping::At(t) => now >= t,
            Ping::Never => false,
        };
        if !due || self.is_closing() || self.is_failing() {
            return Ok(());
        }
        if self.ping_outstanding {
            return Err(Ended::NoPong);
        }
        self.ping_outstanding = true;
        self.ping = clock::deadline(now, interval).map_or(Ping::Never, Ping::At);
        self.writer.ping();
        Ok(())
    }

    /// A read round starts: a deferred read is no longer due.
    pub fn start_reading(&mut self) {
        self.read_on = None;
    }

    /// The driver stopped reading with bytes still coming (its budget): read on at `now`.
    pub fn read_later(&mut self, now: Instant) {
        self.read_on = Some(now);
    }

    /// Whether more may be taken: not after the remote's close frame.
    pub fn wants_more(&self) -> bool {
        self.received.is_none()
    }

    /// The next thing the remote sent, `Ok(None)` when more bytes are needed first. A
    /// violation is the caller's to fail at once ([`Open::fail`]) or after the game's next
    /// poll ([`Open::fail_later`]).
    pub fn next_received(&mut self, now: Instant) -> Result<Option<Received>, Violation> {
        let received = match self.reader.next_incoming()? {
            None => return Ok(None),
            Some(Incoming::Message(packet)) => {
                self.counters.message_in();
                Received::Message(packet)
            }
            Some(Incoming::Ping(payload)) if !self.close_sent => {
                // Answered at once while the transport keeps up (each ping its pong).
                self.writer.pong(&payload);
                Received::Answered
            }
            Some(Incoming::Ping(_)) => Received::Handled,
            Some(Incoming::Pong) => {
                self.ping_outstanding = false;
                Received::Handled
            }
            Some(Incoming::Close(code, reason)) => self.on_close_frame(code, reason, now),
        };
        Ok(Some(received))
    }

    fn on_close_frame(&mut self, code: u16, reason: String, now: Instant) -> Received {
        self.received = Some((code, reason.clone()));
        if self.close_sent {
            return Received::Handled;
        }
        // Echo the remote's close frame, as tungstenite did.
        let echo = (code != 1005).then_some(code);
        self.writer.close(echo, truncate_utf8(&reason, 123));
        self.close_sent = true;
        self.close_deadline = clock::deadline(now, CLOSE_TIMEOUT);
        Received::CloseRequest { code, reason }
    }

    /// Bytes in: reads once from `from` into the frame buffer (as much as the frame in
    /// progress asks, at most 256 KiB). `Ok(0)`: the stream ended.
    pub fn fill_from(&mut self, from: &mut impl Read) -> io::Result<usize> {
        let n = self.reader.fill(from)?;
        self.counters.bytes_in(n);
        Ok(n)
    }

    /// Bytes in, all of them (the caller stops handing bytes while [`Open::next_received`]
    /// is not drained, or they wait in the frame buffer).
    pub fn handle_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            // Reading from a slice cannot fail.
            let _ = self.fill_from(&mut bytes);
        }
    }

    /// The transport has nothing more for now: an empty frame buffer is released.
    pub fn drained(&mut self) {
        self.reader.release_if_drained();
    }

    /// A violation found after messages were delivered in this round: it fails at the round
    /// the driver runs at `now` (see [`Open::next_deadline`]), after the game read them.
    pub fn fail_later(&mut self, violation: Violation, now: Instant) {
        self.failing = Some((violation, now));
    }

    /// Fails the WebSocket connection (RFC 6455 §7.1.7): our close frame with the violation's
    /// code is queued unless ours was sent; locally the close code reads that code and the
    /// reason the engine's, as in the engine.
    pub fn fail(&mut self, violation: Violation) -> Ended {
        if !self.close_sent {
            self.writer.close(Some(violation.code), "");
            self.close_sent = true;
        }
        Ended::Fail(violation)
    }

    /// Bytes out: writes what is framed into `to` as far as it takes. `Ok(true)`: all of it
    /// went (then [`Open::transmitted`]); `Ok(false)`: `to` would block first.
    pub fn transmit_into(&mut self, to: &mut impl Write) -> io::Result<bool> {
        self.writer.flush(&mut Counted(to, &self.counters))
    }

    /// Bytes out, all that is framed.
    pub fn poll_transmit(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        // A Vec takes everything.
        let _ = self.transmit_into(&mut out);
        out
    }

    /// Everything framed was transmitted: the caps count from zero, and the closing handshake
    /// is over once both close frames passed.
    pub fn transmitted(&mut self) -> Result<(), Ended> {
        self.pending_bytes = 0;
        self.pending_msgs = 0;
        match &self.received {
            Some((code, reason)) if self.close_sent => Err(Ended::Clean { code: *code, reason: reason.clone() }),
            _ => Ok(()),
        }
    }

    /// Whether `msg` would exceed the byte or message cap (counted until all is transmitted).
    pub fn over_caps(&self, msg: &Outgoing, config: &Config) -> bool {
        let over_bytes = config.outbound_buffer_size.is_some_and(|cap| self.pending_bytes + msg.data.len() > cap);
        self.pending_msgs >= config.max_queued_packets || over_bytes
    }

    /// Frames one message. `Ok(false)`: the byte or message cap would be exceeded.
    pub fn send(&mut self, msg: &Outgoing, config: &Config) -> Result<bool, Ended> {
        if self.over_caps(msg, config) {
            return Ok(false);
        }
        if let Err(why) = self.writer.message(msg) {
            return Err(self.fail(Violation::internal(&format!("compressing a message failed: {why}"))));
        }
        self.pending_bytes += msg.data.len();
        self.pending_msgs += 1;
        self.counters.message_out();
        Ok(true)
    }

    /// Queues our close frame (`reason` cut to the 123 bytes a close frame holds; no payload at
    /// all without a `code`, or with one that may not be sent) and starts the closing handshake.
    pub fn close(&mut self, code: Option<u16>, reason: &str, now: Instant) {
        let code = code.filter(|c| is_sendable_close_code(*c));
        self.writer.close(code, truncate_utf8(reason, 123));
        self.close_sent = true;
        self.close_deadline = clock::deadline(now, CLOSE_TIMEOUT);
    }
}

/// Where the writer puts bytes: what it takes is counted as bytes out.
struct Counted<'a, W>(&'a mut W, &'a Counters);

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.bytes_out(n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
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
