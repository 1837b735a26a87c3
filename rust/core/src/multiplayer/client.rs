//! The client side of the multiplayer protocol over one [`Connection`]: connecting until the
//! server's id message arrives, then connected to peer 1 (the server).

use std::time::Instant;

use super::{parse_id, MpEvent, MpPacket, MpSendError, SERVER_ID};
use crate::clock;
use crate::connection::SharedConnection;
use crate::connection::{Event, ReadyState};
use crate::server::io_thread::IoThread;

/// The engine's `MultiplayerPeer.ConnectionStatus`, same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpStatus {
    Disconnected = 0,
    Connecting = 1,
    Connected = 2,
}

pub struct MpClient {
    conn: SharedConnection,
    /// The id the server assigned, once its message arrived.
    id: Option<u32>,
    /// The first message was not an id: nothing after it is taken as one.
    rejected: bool,
    /// Until when the id may take to arrive (`handshake_timeout` from the start; the engine
    /// waits forever once the WebSocket is open).
    deadline: Option<Instant>,
    /// The thread driving the connection, if started (see [`MpClient::start_io_thread`]).
    io: Option<IoThread>,
}

impl MpClient {
    /// Drives `conn`, which the caller started (`connect`) at `now`.
    pub fn new(conn: SharedConnection, now: Instant) -> MpClient {
        let timeout = conn.borrow().config().handshake_timeout;
        MpClient { conn, id: None, rejected: false, deadline: timeout.and_then(|t| clock::deadline(now, t)), io: None }
    }

    /// From now on a background thread drives the connection; `poll` only takes its events.
    pub fn start_io_thread(&mut self) -> std::io::Result<()> {
        if self.io.is_none() {
            self.io = Some(IoThread::client(self.conn.clone())?);
        }
        Ok(())
    }

    pub fn connection(&self) -> &SharedConnection {
        &self.conn
    }

    pub fn id(&self) -> Option<u32> {
        self.id
    }

    /// CONNECTED from the id's arrival until the connection has closed and the server's last
    /// packets were read (`SceneMultiplayer` reads no packets once the status is DISCONNECTED).
    pub fn status(&self) -> MpStatus {
        match (self.conn.borrow().ready_state(), self.id) {
            (ReadyState::Closed, None) => MpStatus::Disconnected,
            (ReadyState::Connecting, _) | (_, None) => MpStatus::Connecting,
            (_, Some(_)) => MpStatus::Connected,
        }
    }

    /// Drives the connection; the first message is the id, then the server counts as connected.
    pub fn poll(&mut self, now: Instant) -> Vec<MpEvent> {
        let events = {
            let mut conn = self.conn.borrow_mut();
            conn.poll(now);
            conn.take_events()
        };
        let mut out = Vec::new();
        let waiting = matches!(self.conn.borrow().ready_state(), ReadyState::Connecting | ReadyState::Open);
        if waiting && self.id.is_none() && self.deadline.is_some_and(|d| now >= d) {
            out.push(MpEvent::Warning("the server sent no peer id within handshake_timeout; closing".into()));
            self.conn.borrow_mut().abort(now);
        }
        for event in events {
            match event {
                Event::Message if self.id.is_none() && !self.rejected => self.take_id(now, &mut out),
                Event::Warning(w) => out.push(MpEvent::Warning(w)),
                _ => {}
            }
        }
        let closed = self.conn.borrow().ready_state() == ReadyState::Closed;
        if closed && self.id.is_some() && self.available() == 0 {
            self.id = None;
            out.push(MpEvent::PeerDisconnected(SERVER_ID));
        }
        out
    }

    fn take_id(&mut self, now: Instant, out: &mut Vec<MpEvent>) {
        let mut conn = self.conn.borrow_mut();
        let Some(first) = conn.pop() else { return };
        match parse_id(&first.data) {
            Ok(id) => {
                self.id = Some(id);
                out.push(MpEvent::PeerConnected(SERVER_ID));
            }
            Err(why) => {
                self.rejected = true;
                out.push(MpEvent::Warning(format!("not a Godot multiplayer server: {why}; closing")));
                conn.close(Some(1002), "expected a peer id", now);
            }
        }
    }

    /// Packets from the server, once connected.
    pub fn available(&self) -> usize {
        if self.id.is_some() {
            self.conn.borrow().available()
        } else {
            0
        }
    }

    pub fn pop(&mut self) -> Option<MpPacket> {
        self.id?;
        let packet = self.conn.borrow_mut().pop()?;
        Some(MpPacket { from: SERVER_ID, packet })
    }

    /// Sends one packet to the server, whatever the target (as the engine's client).
    pub fn send(&mut self, data: &[u8], now: Instant) -> Result<(), MpSendError> {
        if self.status() != MpStatus::Connected {
            return Err(MpSendError::NotConnected);
        }
        self.conn.borrow_mut().send(data, false, now).map_err(MpSendError::Send)
    }

    /// Leaves the server (the engine's `disconnect_peer(1, force)` on a client): a close frame
    /// with 1000; `PeerDisconnected` follows when the connection has closed, unless `force`,
    /// which drops the connection at once and reports nothing.
    pub fn disconnect(&mut self, force: bool, now: Instant) {
        let mut conn = self.conn.borrow_mut();
        conn.close(Some(1000), "", now);
        if force {
            self.id = None;
            conn.abort(now);
        }
    }

    /// Ends the session at once: a close frame with 1000 if the connection is open, then the
    /// connection is dropped; nothing is reported.
    pub fn close(&mut self, now: Instant) {
        self.disconnect(true, now);
    }
}
