//! Frames in: the bytes read from the socket become messages, pings, pongs and a close, or a
//! protocol violation with its close code. Payload bytes are taken as they arrive, so a text
//! message's UTF-8 is checked, and a compressed message inflated against the size limit, before
//! its frame is complete.

use std::io::{self, Cursor, Read};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::Bytes;

use super::deflate::{Decompressor, InflateError};
use super::utf8::Utf8Stream;
use super::{apply_mask, is_sendable_close_code, Packet, Violation};
use crate::extensions::Deflate;

/// Bytes asked of the socket per read when no large frame is in progress.
const READ_CHUNK: usize = 4096;
/// The most asked per read while a large frame's payload is coming.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// Buffers larger than this are released once empty, so an idle connection holds little.
const KEEP_CAPACITY: usize = 16 * 1024;

/// What the remote sent, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Message(Packet),
    Ping(Vec<u8>),
    Pong,
    /// Its code (1005 when the frame had none) and reason.
    Close(u16, String),
}

/// The frame whose payload is being read.
struct InFrame {
    header: FrameHeader,
    /// Payload bytes still to come, and those already taken (for the mask's phase).
    remaining: u64,
    taken: usize,
}

/// The data message being assembled from its frames.
struct Assembly {
    data: Vec<u8>,
    text: bool,
    compressed: bool,
    utf8: Utf8Stream,
}

pub struct Reader {
    buf: Vec<u8>,
    /// Bytes of `buf` already taken.
    start: usize,
    frame: Option<InFrame>,
    message: Option<Assembly>,
    /// Server side: frames must be masked; client side: they must not be.
    from_client: bool,
    /// Largest message, after inflating.
    max: usize,
    inflate: Option<Decompressor>,
}

impl Reader {
    /// `tail`: bytes read past the HTTP head.
    pub fn new(tail: Vec<u8>, server: bool, max: usize, deflate: Option<&Deflate>) -> Reader {
        Reader {
            buf: tail,
            start: 0,
            frame: None,
            message: None,
            from_client: server,
            max,
            inflate: deflate.map(|d| Decompressor::new(d.receive_window, d.receive_no_context)),
        }
    }

    /// Reads once from `io` into the buffer. `Ok(0)`: the stream ended.
    pub fn fill(&mut self, io: &mut impl Read) -> io::Result<usize> {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > KEEP_CAPACITY {
                self.buf = Vec::new();
            }
        } else if self.start > self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = match &self.frame {
            Some(f) if f.remaining > READ_CHUNK as u64 => (f.remaining as usize).min(MAX_READ_CHUNK),
            _ => READ_CHUNK,
        };
        let len = self.buf.len();
        self.buf.resize(len + want, 0);
        let read = io.read(&mut self.buf[len..]);
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        read
    }

    /// Frees the buffer once everything read was taken: an idle connection holds none (the
    /// socket is drained, so the next read comes with the next readiness).
    pub fn release_if_drained(&mut self) {
        if self.start == self.buf.len() && self.buf.capacity() > 0 {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// The next thing the remote sent, `Ok(None)` when more bytes are needed first.
    pub fn next_incoming(&mut self) -> Result<Option<Incoming>, Violation> {
        loop {
            let Some(frame) = &mut self.frame else {
                match self.header()? {
                    Some(frame) => self.frame = Some(frame),
                    None => return Ok(None),
                }
                continue;
            };
            let available = (self.buf.len() - self.start) as u64;
            if let OpCode::Control(control) = frame.header.opcode {
                if available < frame.remaining {
                    return Ok(None);
                }
                let end = self.start + frame.remaining as usize;
                let payload = &mut self.buf[self.start..end];
                if let Some(mask) = frame.header.mask {
                    apply_mask(payload, mask, 0);
                }
                let payload = payload.to_vec();
                self.start = end;
                self.frame = None;
                return control_frame(control, payload).map(Some);
            }
            let n = available.min(frame.remaining) as usize;
            if n == 0 && frame.remaining > 0 {
                return Ok(None);
            }
            let piece = &mut self.buf[self.start..self.start + n];
            if let Some(mask) = frame.header.mask {
                apply_mask(piece, mask, frame.taken);
            }
            frame.remaining -= n as u64;
            frame.taken += n;
            let last = frame.remaining == 0 && frame.header.is_final;
            let frame_done = frame.remaining == 0;
            self.start += n;
            let piece = &self.buf[self.start - n..self.start];
            let message = self.message.as_mut().ok_or_else(|| Violation::internal("payload without a message"))?;
            absorb(message, piece, last, self.inflate.as_mut(), self.max)?;
            if frame_done {
                self.frame = None;
            }
            if last {
                let m = self.message.take().ok_or_else(|| Violation::internal("message vanished"))?;
                return Ok(Some(Incoming::Message(Packet { data: Bytes::from(m.data), text: m.text })));
            }
        }
    }

    /// Parses and checks the next frame header (RFC 6455 §5.2, §5.4, §5.5; RFC 7692 §6).
    fn header(&mut self) -> Result<Option<InFrame>, Violation> {
        let mut cursor = Cursor::new(&self.buf[self.start..]);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(e) => return Err(Violation::protocol(e.to_string())),
        };
        self.start += cursor.position() as usize;
        if header.rsv2 || header.rsv3 {
            return Err(Violation::protocol("reserved bits set (RSV2/RSV3)"));
        }
        if header.mask.is_some() != self.from_client {
            let which =
                if self.from_client { "an unmasked frame from a client" } else { "a masked frame from a server" };
            return Err(Violation::protocol(which));
        }
        match header.opcode {
            OpCode::Control(_) if !header.is_final => return Err(Violation::protocol("fragmented control frame")),
            OpCode::Control(_) if len > 125 => return Err(Violation::protocol("control frame over 125 bytes")),
            OpCode::Control(_) if header.rsv1 => return Err(Violation::protocol("RSV1 set on a control frame")),
            OpCode::Control(_) => {}
            OpCode::Data(Data::Continue) => {
                let Some(message) = &self.message else {
                    return Err(Violation::protocol("continuation frame with no message to continue"));
                };
                if header.rsv1 {
                    return Err(Violation::protocol("RSV1 set on a continuation frame"));
                }
                self.check_size(message.data.len() as u64, len, message.compressed)?;
            }
            OpCode::Data(data) => {
                if self.message.is_some() {
                    return Err(Violation::protocol("new data frame while a fragmented message is unfinished"));
                }
                if header.rsv1 && self.inflate.is_none() {
                    return Err(Violation::protocol("RSV1 set, but no extension was negotiated"));
                }
                self.check_size(0, len, header.rsv1)?;
                let text = matches!(data, Data::Text);
                let mut bytes = Vec::new();
                if !header.rsv1 {
                    // What the header announces, up to 64 KiB: the rest as it arrives.
                    bytes.reserve(len.min(64 * 1024) as usize);
                }
                self.message =
                    Some(Assembly { data: bytes, text, compressed: header.rsv1, utf8: Utf8Stream::default() });
            }
        }
        Ok(Some(InFrame { header, remaining: len, taken: 0 }))
    }

    /// An uncompressed message may not grow past `max`. A compressed one is held to `max` once
    /// inflated (see [`absorb`]); its frames only need a length that fits in memory.
    fn check_size(&self, have: u64, more: u64, compressed: bool) -> Result<(), Violation> {
        if !compressed && have.saturating_add(more) > self.max as u64 {
            return Err(Violation::too_big(self.max));
        }
        if more > isize::MAX as u64 {
            return Err(Violation::too_big(self.max));
        }
        Ok(())
    }
}

/// Adds a piece of payload to the message: inflated if compressed, checked as UTF-8 if text.
fn absorb(
    message: &mut Assembly,
    piece: &[u8],
    last: bool,
    inflate: Option<&mut Decompressor>,
    max: usize,
) -> Result<(), Violation> {
    let before = message.data.len();
    match (message.compressed, inflate) {
        (true, Some(d)) => d.inflate(piece, last, &mut message.data, max).map_err(|e| match e {
            InflateError::TooBig => Violation::too_big(max),
            InflateError::Invalid(why) => Violation::protocol(format!("invalid compressed data: {why}")),
        })?,
        (true, None) => return Err(Violation::internal("compressed message without a decompressor")),
        (false, _) => message.data.extend_from_slice(piece),
    }
    if message.text {
        let mut check = message.utf8.feed(&message.data[before..]);
        if last && check.is_ok() {
            check = message.utf8.finish();
        }
        check.map_err(|_| Violation::utf8())?;
    }
    Ok(())
}

/// What a complete control frame means (RFC 6455 §5.5, §7.1.5, §7.4).
fn control_frame(control: Control, payload: Vec<u8>) -> Result<Incoming, Violation> {
    match control {
        Control::Ping => Ok(Incoming::Ping(payload)),
        Control::Pong => Ok(Incoming::Pong),
        Control::Close => match payload.len() {
            0 => Ok(Incoming::Close(1005, String::new())),
            1 => Err(Violation::protocol("close frame with a 1-byte payload")),
            _ => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                if !is_sendable_close_code(code) {
                    return Err(Violation::protocol(format!(
                        "the remote's close frame carries status code {code}, which may not be sent (RFC 6455 §7.4)"
                    )));
                }
                let reason = String::from_utf8(payload[2..].to_vec()).map_err(|_| Violation::utf8())?;
                Ok(Incoming::Close(code, reason))
            }
        },
        Control::Reserved(op) => Err(Violation::protocol(format!("reserved opcode {op}"))),
    }
}
