//! Frames out: messages (compressed when agreed and long enough), pings, pongs and the close
//! frame are framed into one buffer, which is written to the socket as far as it takes.

use std::cell::OnceCell;
use std::io::{self, Write};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::apply_mask;
use super::deflate::Compressor;
use crate::extensions::Deflate;

/// Buffers larger than this are released once written, so an idle connection holds little.
const KEEP_CAPACITY: usize = 4 * 1024;

/// One message to send, on one connection or many (a broadcast): its unmasked frame is built at
/// most once, for every server-side connection that sends it uncompressed; a client masks, and
/// a connection with compression agreed compresses, on its own.
pub struct Outgoing<'a> {
    pub data: &'a [u8],
    pub text: bool,
    frame: OnceCell<Vec<u8>>,
}

impl<'a> Outgoing<'a> {
    pub fn new(data: &'a [u8], text: bool) -> Outgoing<'a> {
        Outgoing { data, text, frame: OnceCell::new() }
    }

    fn opcode(&self) -> OpCode {
        OpCode::Data(if self.text { Data::Text } else { Data::Binary })
    }

    fn unmasked_frame(&self) -> &[u8] {
        self.frame.get_or_init(|| {
            let mut out = Vec::with_capacity(self.data.len() + 10);
            format_frame(&mut out, self.opcode(), false, None, self.data);
            out
        })
    }
}

pub struct Writer {
    out: Vec<u8>,
    /// Bytes of `out` already written.
    sent: usize,
    /// Client side: every frame is masked.
    masked: bool,
    deflate: Option<Compressor>,
    threshold: usize,
    scratch: Vec<u8>,
    /// The answer to the latest ping, waiting while earlier bytes are still unwritten: a newer
    /// ping replaces it (RFC 6455 §5.5.3 allows answering only the latest), so a peer that
    /// sends pings and never reads cannot grow the buffer. With a socket that keeps up, every
    /// ping gets its pong (see [`Writer::flush`]).
    pong: Option<Vec<u8>>,
}

impl Writer {
    pub fn new(server: bool, deflate: Option<&Deflate>, threshold: usize) -> Writer {
        Writer {
            out: Vec::new(),
            sent: 0,
            masked: !server,
            deflate: deflate
                .map(|d| Compressor::new(d.send_window, d.send_no_context))
                .filter(Compressor::can_compress),
            threshold,
            scratch: Vec::new(),
            pong: None,
        }
    }

    /// Frames one message as a single frame: compressed when agreed and at least as long as
    /// the threshold, masked on the client side, else the message's shared frame.
    pub fn message(&mut self, msg: &Outgoing) -> Result<(), String> {
        let Some(c) = self.deflate.as_mut().filter(|_| msg.data.len() >= self.threshold) else {
            if self.masked {
                self.frame(msg.opcode(), false, msg.data);
            } else {
                self.out.extend_from_slice(msg.unmasked_frame());
            }
            return Ok(());
        };
        let mut payload = std::mem::take(&mut self.scratch);
        payload.clear();
        let done = c.compress(msg.data, &mut payload);
        if done.is_ok() {
            self.frame(msg.opcode(), true, &payload);
        }
        if payload.capacity() <= KEEP_CAPACITY {
            self.scratch = payload;
        }
        done
    }

    pub fn ping(&mut self) {
        self.frame(OpCode::Control(Control::Ping), false, &[]);
    }

    /// Answers a ping at the next flush, in place of an earlier answer still waiting.
    pub fn pong(&mut self, payload: &[u8]) {
        self.pong = Some(payload.to_vec());
    }

    /// A close frame: empty without a code, else the code and the reason (the caller keeps it
    /// within the 123 bytes a close frame holds).
    pub fn close(&mut self, code: Option<u16>, reason: &str) {
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            payload.extend_from_slice(reason.as_bytes());
        }
        self.frame(OpCode::Control(Control::Close), false, &payload);
    }

    fn frame(&mut self, opcode: OpCode, rsv1: bool, payload: &[u8]) {
        let mask = self.masked.then(rand::random::<[u8; 4]>);
        format_frame(&mut self.out, opcode, rsv1, mask, payload);
    }

    /// Writes what is framed. `Ok(true)`: all of it is written and flushed; `Ok(false)`: the
    /// socket would block first.
    pub fn flush(&mut self, io: &mut impl Write) -> io::Result<bool> {
        loop {
            if !self.write_out(io)? {
                return Ok(false);
            }
            // Everything before it is written: the waiting pong goes out now.
            let Some(payload) = self.pong.take() else { break };
            self.frame(OpCode::Control(Control::Pong), false, &payload);
        }
        self.out.clear();
        self.sent = 0;
        if self.out.capacity() > KEEP_CAPACITY {
            self.out = Vec::new();
        }
        match io.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes `out` as far as the socket takes it; `Ok(false)` if it would block first.
    fn write_out(&mut self, io: &mut impl Write) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match io.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // What the socket took is dropped from the buffer now and then.
                    if self.sent > KEEP_CAPACITY && self.sent * 2 > self.out.len() {
                        self.out.drain(..self.sent);
                        self.sent = 0;
                    }
                    return Ok(false);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

/// Appends one final frame to `out`, its payload masked when `mask` is given.
fn format_frame(out: &mut Vec<u8>, opcode: OpCode, rsv1: bool, mask: Option<[u8; 4]>, payload: &[u8]) {
    let header = FrameHeader { is_final: true, rsv1, rsv2: false, rsv3: false, opcode, mask };
    // Writing into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(mask) = mask {
        apply_mask(&mut out[start..], mask, 0);
    }
}
