//! The generator's side of each connection: the upgrade, then reading and answering what the
//! server sends (the id, `SceneMultiplayer` packets) with the core's protocol code
//! (`crate::client`), and writing frames.

use std::io::{ErrorKind, Read};

use super::*;
use crate::client::{self, Frames, Incoming};
use crate::loadgen::sockets::{connected, flush};

impl Generator {
    pub(super) fn service(&mut self, i: usize, readable: bool, writable: bool) {
        let c = &mut self.clients[i];
        let Some(sock) = c.sock.as_mut() else { return };
        if c.state == State::Connecting {
            match connected(sock) {
                Some(true) => {
                    c.state = State::Upgrading;
                    let request = c.upgrade.request(self.addr);
                    queue(c, &request);
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
            let Client { sock: Some(sock), frames, inbuf, .. } = c else { return };
            let mut buf = [0u8; 16384];
            loop {
                let read = match frames.as_mut() {
                    Some(frames) => frames.fill(sock),
                    None => sock.read(&mut buf).inspect(|&n| inbuf.extend_from_slice(&buf[..n])),
                };
                match read {
                    Ok(0) => return self.fail(i),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return self.fail(i),
                }
            }
            self.parse(i);
        }
    }

    /// Handles what client `i` has read: the upgrade answer, then what the server sent.
    fn parse(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if c.state == State::Upgrading {
            match c.upgrade.answer(&c.inbuf) {
                None => return,
                Some(Err(())) => return self.fail(i),
                Some(Ok(end)) => {
                    let rest = c.inbuf.split_off(end);
                    c.inbuf = Vec::new();
                    c.frames = Some(Frames::new(rest, false));
                    c.state = State::WaitingId;
                }
            }
        }
        loop {
            let c = &mut self.clients[i];
            let Some(frames) = c.frames.as_mut() else { return };
            match frames.next() {
                Ok(None) => return,
                // Servers send whole, valid messages and close only at the end.
                Err(()) | Ok(Some(Incoming::Close(..))) => return self.fail(i),
                Ok(Some(Incoming::Message(p))) => self.on_message(i, &p.data),
                Ok(Some(Incoming::Ping(payload))) => {
                    client::pong(&mut c.out, &payload);
                    flush_client(c);
                }
                Ok(Some(Incoming::Pong)) => {}
            }
            if self.clients[i].sock.is_none() {
                return;
            }
        }
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
    client::message(&mut c.out, false, payload);
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
