//! One client connection of the load generator: its socket, what it has read of the current
//! frame, and what it still has to write.
//!
//! Reading takes frame headers only: payload bytes are counted and skipped, not copied, except
//! on the controller connection and in control frames (pings are answered with their payload).
//! Writing is copy-free: every load message of a run is the same masked frame (the generator's
//! template), so a connection's queue is a count of those frames and how far the first one went,
//! written with one vectored write; other bytes (the upgrade request, pongs, control messages)
//! go first, between whole frames.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice, Write};

use mio::net::TcpStream;

use super::wire::{flush, parse_header, push_frame, upgrade_answer, Header};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Connecting,
    Upgrading,
    Open,
    Dead,
}

/// A whole message or control frame read from the server (the payload only when kept).
pub(super) struct Msg {
    pub op: u8,
    pub len: usize,
    pub payload: Vec<u8>,
}

/// The frames one vectored write takes at most.
const SLICES: usize = 64;

pub(super) struct Conn {
    pub sock: Option<TcpStream>,
    pub state: State,
    /// Keep data payloads (the controller's answers).
    keep: bool,
    /// Raw TCP: the "upgrade answer" is the echo of the probe the connection sent first.
    raw: bool,
    /// The upgrade answer, then a frame header, while incomplete.
    head: Vec<u8>,
    /// The frame being read and its payload bytes still to come.
    cur: Option<Header>,
    left: usize,
    payload: Vec<u8>,
    /// The message being read (fragments add up): its opcode and length so far.
    msg: (u8, usize),
    /// Bytes to write before the next template frame.
    pub extra: Vec<u8>,
    /// Template frames queued, and the bytes of the first one already written.
    pub frames: usize,
    offset: usize,
    /// Send times (µs since the generator's epoch) of the messages not echoed yet, oldest first.
    pub sent_at: VecDeque<u64>,
}

impl Conn {
    /// A connection under way, or a failed one (`None`).
    pub fn new(sock: Option<TcpStream>, keep: bool, raw: bool) -> Conn {
        Conn {
            state: if sock.is_some() { State::Connecting } else { State::Dead },
            sock,
            keep,
            raw,
            head: Vec::new(),
            cur: None,
            left: 0,
            payload: Vec::new(),
            msg: (0, 0),
            extra: Vec::new(),
            frames: 0,
            offset: 0,
            sent_at: VecDeque::new(),
        }
    }

    /// Takes bytes read from the socket; whole messages and control frames go to `out`.
    /// False when the server broke the protocol or refused the upgrade.
    pub fn feed(&mut self, mut data: &[u8], out: &mut Vec<Msg>) -> bool {
        if self.state == State::Upgrading {
            self.head.extend_from_slice(data);
            let probe = super::RAW_PROBE.len();
            let answer =
                if self.raw { (self.head.len() >= probe).then_some(Ok(probe)) } else { upgrade_answer(&self.head) };
            return match answer {
                None => true,
                Some(Err(())) => false,
                Some(Ok(end)) => {
                    let rest = self.head.split_off(end);
                    self.head.clear();
                    self.state = State::Open;
                    self.feed(&rest, out)
                }
            };
        }
        while !data.is_empty() {
            if let Some(h) = self.cur {
                let n = self.left.min(data.len());
                if self.keep || h.op >= 8 {
                    self.payload.extend_from_slice(&data[..n]);
                }
                self.left -= n;
                data = &data[n..];
                if self.left == 0 && !self.finish(out) {
                    return false;
                }
                continue;
            }
            let Some((h, used)) = self.header(data) else { return true };
            data = &data[used..];
            (self.cur, self.left) = (Some(h), h.len);
            if h.len == 0 && !self.finish(out) {
                return false;
            }
        }
        true
    }

    /// The next frame header and how many bytes of `data` it took; `None` when `data` ended
    /// first (its bytes are kept for the next call).
    fn header(&mut self, data: &[u8]) -> Option<(Header, usize)> {
        if self.head.is_empty() {
            if let Some(h) = parse_header(data) {
                return Some((h, h.size));
            }
            self.head.extend_from_slice(data);
            return None;
        }
        // A header is at most 14 bytes.
        let before = self.head.len();
        let take = (14 - before.min(14)).min(data.len());
        self.head.extend_from_slice(&data[..take]);
        let h = parse_header(&self.head)?;
        self.head.clear();
        Some((h, h.size - before))
    }

    /// The current frame is complete: a control frame, or a fragment of a message.
    fn finish(&mut self, out: &mut Vec<Msg>) -> bool {
        let h = self.cur.take().expect("a frame was being read");
        let payload = std::mem::take(&mut self.payload);
        match h.op {
            8..=15 => {
                out.push(Msg { op: h.op, len: h.len, payload });
                return true;
            }
            1 | 2 if self.msg.0 == 0 => self.msg = (h.op, h.len),
            0 if self.msg.0 != 0 => self.msg.1 += h.len,
            _ => return false,
        }
        if h.fin {
            let (op, len) = std::mem::take(&mut self.msg);
            out.push(Msg { op, len, payload });
        } else if self.keep {
            self.payload = payload;
        }
        true
    }

    /// Queues a pong (answering a ping) or any other small frame, masked.
    pub fn queue_frame(&mut self, b0: u8, payload: &[u8]) {
        push_frame(&mut self.extra, b0, payload, [0x5a, 0x17, 0xc3, 0x09]);
    }

    /// Writes what is queued as far as the socket takes it; false when the connection failed.
    pub fn flush(&mut self, frame: &[u8]) -> bool {
        let Some(sock) = self.sock.as_mut() else { return false };
        loop {
            if self.offset == 0 && !self.extra.is_empty() {
                if !flush(sock, &mut self.extra) {
                    return false;
                }
                if !self.extra.is_empty() {
                    return true;
                }
            }
            if self.frames == 0 || frame.is_empty() {
                return true;
            }
            let count = self.frames.min(SLICES);
            let mut slices = [IoSlice::new(&[]); SLICES];
            slices[0] = IoSlice::new(&frame[self.offset..]);
            for s in slices.iter_mut().take(count).skip(1) {
                *s = IoSlice::new(frame);
            }
            match sock.write_vectored(&slices[..count]) {
                Ok(0) => return false,
                Ok(n) => {
                    let total = self.offset + n;
                    self.frames -= total / frame.len();
                    self.offset = total % frame.len();
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::NotConnected => return true,
                Err(_) => return false,
            }
        }
    }
}
