//! One client connection of the load generator: its socket, its upgrade, the frames it reads
//! (the core's reader, `crate::client`) and what it still has to write.
//!
//! Data payloads are kept only on the controller connection (its answers); the others count
//! messages by length. Writing is copy-free: every load message of a run is the same masked
//! frame (the generator's template), so a connection's queue is a count of those frames and how
//! far the first one went, written with one vectored write; other bytes (the upgrade request,
//! pongs, control messages) go first, between whole frames.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice, Read, Write};

use mio::net::TcpStream;

use super::sockets::flush;
use crate::client::{self, Frames, Incoming, Upgrade};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Connecting,
    Upgrading,
    Open,
    Dead,
}

/// A whole message or control frame read from the server (the payload only when kept).
pub(super) struct Msg {
    /// The opcode: 1 text, 2 binary, 8 close, 9 ping, 10 pong.
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
    /// The upgrade, and its answer while incomplete.
    upgrade: Upgrade,
    head: Vec<u8>,
    /// Frames in, once open.
    frames: Option<Frames>,
    /// Bytes to write before the next template frame.
    pub extra: Vec<u8>,
    /// Template frames queued, and the bytes of the first one already written.
    pub queued: usize,
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
            upgrade: Upgrade::new(),
            head: Vec::new(),
            frames: None,
            extra: Vec::new(),
            queued: 0,
            offset: 0,
            sent_at: VecDeque::new(),
        }
    }

    /// The upgrade request to send first (for raw TCP, `probe`).
    pub fn request(&self, addr: std::net::SocketAddr, probe: &[u8]) -> Vec<u8> {
        if self.raw {
            probe.to_vec()
        } else {
            self.upgrade.request(addr)
        }
    }

    /// Reads what the socket has: the upgrade's answer through `buf`, then straight into the
    /// frame reader; whole messages and control frames go to `out`. False when the connection
    /// failed, or the server refused the upgrade or broke the protocol.
    pub fn receive(&mut self, buf: &mut [u8], out: &mut Vec<Msg>) -> bool {
        loop {
            let Some(sock) = self.sock.as_mut() else { return false };
            let read = match self.frames.as_mut() {
                Some(frames) => frames.fill(sock).map(|n| (n, false)),
                None => sock.read(buf).map(|n| (n, true)),
            };
            let ok = match read {
                Ok((0, _)) => false,
                Ok((n, true)) => self.answer(&buf[..n], out),
                Ok((_, false)) => self.drain(out),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => true,
                Err(_) => false,
            };
            if !ok {
                return false;
            }
        }
    }

    /// Takes bytes of the upgrade's answer (for raw TCP, the probe's echo); once it is complete,
    /// the connection is open and what followed it is read as frames.
    fn answer(&mut self, data: &[u8], out: &mut Vec<Msg>) -> bool {
        self.head.extend_from_slice(data);
        let probe = super::RAW_PROBE.len();
        let answer =
            if self.raw { (self.head.len() >= probe).then_some(Ok(probe)) } else { self.upgrade.answer(&self.head) };
        match answer {
            None => true,
            Some(Err(())) => false,
            Some(Ok(end)) => {
                let rest = self.head.split_off(end);
                self.head = Vec::new();
                self.state = State::Open;
                self.frames = Some(Frames::new(rest, self.raw));
                self.drain(out)
            }
        }
    }

    /// Moves what the frame reader has whole to `out`; false when the server broke the protocol.
    fn drain(&mut self, out: &mut Vec<Msg>) -> bool {
        let Some(frames) = self.frames.as_mut() else { return true };
        loop {
            let msg = match frames.next() {
                Err(()) => return false,
                Ok(None) => return true,
                Ok(Some(Incoming::Message(p))) => {
                    let payload = if self.keep { p.data.to_vec() } else { Vec::new() };
                    Msg { op: if p.text { 1 } else { 2 }, len: p.data.len(), payload }
                }
                Ok(Some(Incoming::Ping(payload))) => Msg { op: 9, len: payload.len(), payload },
                Ok(Some(Incoming::Pong)) => Msg { op: 10, len: 0, payload: Vec::new() },
                Ok(Some(Incoming::Close(..))) => Msg { op: 8, len: 0, payload: Vec::new() },
            };
            out.push(msg);
        }
    }

    /// Queues a pong answering a ping with `payload`.
    pub fn queue_pong(&mut self, payload: &[u8]) {
        client::pong(&mut self.extra, payload);
    }

    /// Queues a text message (the controller's).
    pub fn queue_text(&mut self, text: &str) {
        client::message(&mut self.extra, true, text.as_bytes());
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
            if self.queued == 0 || frame.is_empty() {
                return true;
            }
            let count = self.queued.min(SLICES);
            let mut slices = [IoSlice::new(&[]); SLICES];
            slices[0] = IoSlice::new(&frame[self.offset..]);
            for s in slices.iter_mut().take(count).skip(1) {
                *s = IoSlice::new(frame);
            }
            match sock.write_vectored(&slices[..count]) {
                Ok(0) => return false,
                Ok(n) => {
                    let total = self.offset + n;
                    self.queued -= total / frame.len();
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
