//! The generator's side of each connection: reading and answering what the server sends
//! (the HTTP upgrade's answer, the id, `SceneMultiplayer` packets) and writing frames.

use std::io::{ErrorKind, Read};

use super::*;
use crate::loadgen::wire::{connected, flush, parse_header, push_frame, upgrade_answer, Header};

impl Generator {
    pub(super) fn service(&mut self, i: usize, readable: bool, writable: bool) {
        let c = &mut self.clients[i];
        let Some(sock) = c.sock.as_mut() else { return };
        if c.state == State::Connecting {
            match connected(sock) {
                Some(true) => {
                    c.state = State::Upgrading;
                    queue(c, &self.request);
                }
                Some(false) => return,
                None => return self.fail(i),
            }
        }
        let c = &mut self.clients[i];
        if writable && !flush_client(c) {
            return self.fail(i);
        }
        if readable {
            let Some(sock) = c.sock.as_mut() else { return };
            let mut buf = [0u8; 16384];
            loop {
                match sock.read(&mut buf) {
                    Ok(0) => return self.fail(i),
                    Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return self.fail(i),
                }
            }
            self.parse(i);
        }
    }

    /// Handles what client `i` has read: the upgrade answer, then whole frames.
    fn parse(&mut self, i: usize) {
        let mut data = std::mem::take(&mut self.clients[i].inbuf);
        let mut pos = 0;
        if self.clients[i].state == State::Upgrading {
            match upgrade_answer(&data) {
                None => {
                    self.clients[i].inbuf = data;
                    return;
                }
                Some(Err(())) => return self.fail(i),
                Some(Ok(end)) => pos = end,
            }
            self.clients[i].state = State::WaitingId;
        }
        loop {
            let buf = &data[pos..];
            let Some(Header { fin, op, masked, len, size: header }) = parse_header(buf) else { break };
            if buf.len() < header + len {
                break;
            }
            // Servers send whole messages, unmasked.
            if !fin || masked || op == 0 {
                return self.fail(i);
            }
            let payload = &buf[header..header + len];
            pos += header + len;
            match op {
                1 | 2 => self.on_message(i, payload),
                8 => return self.fail(i),
                9 => send_control_frame(&mut self.clients[i], 0x8a, payload),
                _ => {}
            }
            if self.clients[i].sock.is_none() {
                return;
            }
        }
        data.drain(..pos);
        self.clients[i].inbuf = data;
    }

    fn on_message(&mut self, i: usize, p: &[u8]) {
        let c = &mut self.clients[i];
        if c.state == State::WaitingId {
            if p.len() != 4 {
                return self.fail(i);
            }
            c.state = State::Joined;
            self.joined.push(i);
            // Cache the node path on the server, as an engine client does before its first RPC.
            let mut packet = vec![1u8];
            packet.extend_from_slice(self.rpc.md5.as_bytes());
            packet.push(0);
            packet.extend_from_slice(&u32::from(CACHE_ID).to_le_bytes());
            packet.extend_from_slice(self.rpc.path.as_bytes());
            packet.push(0);
            send_frame(c, &packet);
            return;
        }
        let Some(&meta) = p.first() else { return };
        match meta & 7 {
            // REMOTE_CALL: pong(bytes).
            0 => {
                let node = match (meta >> 4) & 3 {
                    0 => 1,
                    1 => 2,
                    _ => 4,
                };
                let name = if (meta >> 6) & 1 == 0 { 1 } else { 2 };
                let start = 1 + node + name;
                let mut end = p.len();
                if node == 4 && p.len() >= 5 {
                    let target = u32::from_le_bytes(p[1..5].try_into().unwrap());
                    if target & 0x8000_0000 != 0 {
                        end = (target & 0x7fff_ffff) as usize;
                    }
                }
                if end > p.len() || end < start + 8 {
                    return;
                }
                let sent_us = u64::from_le_bytes(p[start..start + 8].try_into().unwrap());
                let now_us = self.now_us();
                let k = &mut self.counters;
                k.answered += 1;
                if sent_us >= k.window.0 && sent_us <= k.window.1 {
                    k.rtts.push(u32::try_from(now_us.saturating_sub(sent_us)).unwrap_or(u32::MAX));
                }
            }
            // SIMPLIFY_PATH: confirm, so that the server sends short RPCs.
            1 if p.len() >= 38 => {
                let mut packet = [2u8, 1, 0, 0, 0, 0];
                packet[2..6].copy_from_slice(&p[34..38]);
                send_frame(c, &packet);
            }
            // RAW: an answer to a control text.
            3 => self.counters.control.push_back(String::from_utf8_lossy(&p[1..]).into_owned()),
            _ => {}
        }
    }
}

/// Sends one masked binary message.
pub(super) fn send_frame(c: &mut Client, payload: &[u8]) {
    send_control_frame(c, 0x82, payload);
}

/// Sends one masked frame with the first byte `b0`.
fn send_control_frame(c: &mut Client, b0: u8, payload: &[u8]) {
    push_frame(&mut c.out, b0, payload, c.mask);
    flush_client(c);
}

/// Writes at once what the socket takes; keeps the rest for the next writable event.
fn queue(c: &mut Client, bytes: &[u8]) {
    c.out.extend_from_slice(bytes);
    flush_client(c);
}

/// Writes what is queued; false when the connection failed.
fn flush_client(c: &mut Client) -> bool {
    let Some(sock) = c.sock.as_mut() else { return false };
    flush(sock, &mut c.out)
}
