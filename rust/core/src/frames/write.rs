//! Frames out: messages (compressed when agreed and long enough), pings, pongs and the close
//! frame are framed into one buffer, which is written to the socket as far as it takes.

use std::io::{self, Write};

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::apply_mask;
use super::deflate::Compressor;
use crate::extensions::Deflate;

/// Buffers larger than this are released once written, so an idle connection holds little.
const KEEP_CAPACITY: usize = 16 * 1024;

pub struct Writer {
    out: Vec<u8>,
    /// Bytes of `out` already written.
    sent: usize,
    /// Client side: every frame is masked.
    masked: bool,
    deflate: Option<Compressor>,
    threshold: usize,
    scratch: Vec<u8>,
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
        }
    }

    /// Frames one message as a single frame.
    pub fn message(&mut self, data: &[u8], text: bool) -> Result<(), String> {
        let opcode = OpCode::Data(if text { Data::Text } else { Data::Binary });
        match self.deflate.as_mut().filter(|_| data.len() >= self.threshold) {
            Some(c) => {
                let mut payload = std::mem::take(&mut self.scratch);
                payload.clear();
                let done = c.compress(data, &mut payload);
                if done.is_ok() {
                    self.frame(opcode, true, &payload);
                }
                if payload.capacity() <= KEEP_CAPACITY {
                    self.scratch = payload;
                }
                done
            }
            None => {
                self.frame(opcode, false, data);
                Ok(())
            }
        }
    }

    pub fn ping(&mut self) {
        self.frame(OpCode::Control(Control::Ping), false, &[]);
    }

    pub fn pong(&mut self, payload: &[u8]) {
        self.frame(OpCode::Control(Control::Pong), false, payload);
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
        let header = FrameHeader { is_final: true, rsv1, rsv2: false, rsv3: false, opcode, mask };
        // Writing into a Vec cannot fail.
        let _ = header.format(payload.len() as u64, &mut self.out);
        let start = self.out.len();
        self.out.extend_from_slice(payload);
        if let Some(mask) = mask {
            apply_mask(&mut self.out[start..], mask, 0);
        }
    }

    /// Writes what is framed. `Ok(true)`: all of it is written and flushed; `Ok(false)`: the
    /// socket would block first.
    pub fn flush(&mut self, io: &mut impl Write) -> io::Result<bool> {
        while self.sent < self.out.len() {
            match io.write(&self.out[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
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
}
