//! The server side of the multiplayer protocol over the core [`Server`]: it keeps the table of
//! joined peers and the order in which their packets arrived, and leaves everything else
//! (accepting, TLS, handshakes, request approval, timeouts, back-pressure) to the server.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use super::{id_message, MpEvent, MpPacket, MpSendError, Target};
use crate::connection::{Message, SharedConnection};
use crate::{Server, ServerEvent};

pub struct MpServer {
    server: Server,
    /// Peers that were sent their id: the session's members, by id.
    peers: BTreeMap<u32, SharedConnection>,
    /// One entry per received packet, oldest first: the sender and its connection, whose inbox
    /// holds the packet. Packets stay in the per-connection inboxes (bounded by their settings),
    /// so nothing here grows without bound, and a peer that left still delivers what it sent.
    arrivals: VecDeque<(u32, SharedConnection)>,
    /// How many entries of `arrivals` each sender has.
    pending: HashMap<u32, usize>,
    /// Peers that left, in order, not yet reported: `PeerDisconnected` waits until their queued
    /// packets are read, because `SceneMultiplayer` drops packets from peers it was told are gone.
    departed: Vec<u32>,
    /// The ids in `departed` and those the latest poll reported: `SceneMultiplayer` may still
    /// address them (its notices of other departures) until it has handled the reports, so
    /// packets to them are dropped quietly, as the engine does for a closing peer.
    leaving: HashMap<u32, SharedConnection>,
    reported: Vec<u32>,
    /// New clients are dropped when their WebSocket opens (the engine's `refuse_new_connections`).
    pub refuse_new: bool,
}

impl MpServer {
    pub fn new(server: Server) -> MpServer {
        MpServer {
            server,
            peers: BTreeMap::new(),
            arrivals: VecDeque::new(),
            pending: HashMap::new(),
            departed: Vec::new(),
            leaving: HashMap::new(),
            reported: Vec::new(),
            refuse_new: false,
        }
    }

    pub fn server(&self) -> &Server {
        &self.server
    }

    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The connection of a peer in the session, or one that left and is not reported yet (the
    /// game still sees it until `PeerDisconnected`).
    pub fn peer(&self, id: u32) -> Option<&SharedConnection> {
        self.peers.get(&id).or_else(|| self.leaving.get(&id))
    }

    /// Accepts, reads and writes what is ready; returns what happened to the session.
    pub fn poll(&mut self, now: Instant) -> Vec<MpEvent> {
        let mut out = Vec::new();
        for id in self.reported.drain(..) {
            self.leaving.remove(&id);
        }
        self.report_departures(&mut out);
        for event in self.server.poll(now) {
            match event {
                ServerEvent::Request { id } => out.push(MpEvent::Request { id }),
                ServerEvent::Connected { id, .. } => self.admit(id, now, &mut out),
                ServerEvent::Data { id } => {
                    if let Some(conn) = self.peers.get(&id) {
                        self.arrivals.push_back((id, conn.clone()));
                        *self.pending.entry(id).or_default() += 1;
                    }
                }
                // As the engine: a peer that starts closing has left the session.
                ServerEvent::CloseRequest { id, .. } | ServerEvent::Disconnected { id, .. } => {
                    if let Some(conn) = self.peers.remove(&id) {
                        self.depart(id, conn);
                    }
                }
                ServerEvent::Warning(w) => out.push(MpEvent::Warning(w)),
            }
        }
        self.report_departures(&mut out);
        out
    }

    fn depart(&mut self, id: u32, conn: SharedConnection) {
        self.departed.push(id);
        self.leaving.insert(id, conn);
    }

    /// `PeerDisconnected` for the peers that left and whose packets were all read.
    fn report_departures(&mut self, out: &mut Vec<MpEvent>) {
        let (pending, reported) = (&self.pending, &mut self.reported);
        self.departed.retain(|id| {
            let waiting = pending.contains_key(id);
            if !waiting {
                out.push(MpEvent::PeerDisconnected(*id));
                reported.push(*id);
            }
            waiting
        });
    }

    /// A client's WebSocket opened: it is sent its id and joins, unless new clients are refused.
    fn admit(&mut self, id: u32, now: Instant, out: &mut Vec<MpEvent>) {
        let Some(conn) = self.server.joined(id) else { return };
        if self.refuse_new {
            conn.borrow_mut().abort(now);
            return;
        }
        // A failed send closes the connection; it never joined, so it leaves no trace.
        if conn.borrow_mut().send(&id_message(id), false, now).is_ok() {
            self.peers.insert(id, conn);
            out.push(MpEvent::PeerConnected(id));
        }
    }

    /// Answers the held upgrade request of connection `id` (see [`Server::approve`]).
    pub fn approve(&mut self, id: u32, decision: Result<(), crate::handshake::Rejection>) {
        self.server.approve(id, decision);
    }

    pub fn available(&self) -> usize {
        self.arrivals.len()
    }

    /// The sender of the next packet.
    pub fn next_sender(&self) -> Option<u32> {
        self.arrivals.front().map(|(id, _)| *id)
    }

    /// The next packet. The game cannot read these connections through their peer objects
    /// (the binding's multiplayer peers refuse it), so each entry has its packet.
    pub fn pop(&mut self) -> Option<MpPacket> {
        loop {
            let (from, conn) = self.arrivals.pop_front()?;
            if let Some(n) = self.pending.get_mut(&from) {
                *n -= 1;
                if *n == 0 {
                    self.pending.remove(&from);
                }
            }
            let popped = conn.borrow_mut().pop();
            if let Some(packet) = popped {
                return Some(MpPacket { from, packet });
            }
        }
    }

    /// Sends one packet. Several targets: `Ok` even where one peer's queue refused it, as the
    /// engine does; one target: its error.
    pub fn send(&mut self, target: Target, data: &[u8], now: Instant) -> Result<(), MpSendError> {
        if let Target::One(id) = target {
            if self.leaving.contains_key(&id) {
                return Ok(());
            }
            let conn = self.peers.get(&id).ok_or(MpSendError::NoPeer(id))?;
            return conn.borrow_mut().send(data, false, now).map_err(MpSendError::Send);
        }
        let msg = Message::new(data, false);
        for (_, conn) in self.peers.iter().filter(|(id, _)| target.includes(**id)) {
            let _ = conn.borrow_mut().send_message(&msg, now);
        }
        Ok(())
    }

    /// Closes peer `id` with 1000 (`force`: and drops its connection at once); it leaves the
    /// session at once, nothing more is read from it, and `PeerDisconnected` follows at the next
    /// poll, once its packets already queued were read. The engine reports nothing after
    /// `force`, which leaves the peer in `SceneMultiplayer` for good (godot#108716).
    pub fn disconnect_peer(&mut self, id: u32, force: bool, now: Instant) -> bool {
        if self.leaving.contains_key(&id) {
            return true; // Already leaving: reported at a coming poll.
        }
        let Some(conn) = self.peers.remove(&id) else { return false };
        self.depart(id, conn.clone());
        let mut conn = conn.borrow_mut();
        conn.close(Some(1000), "", now);
        if force {
            conn.abort(now);
        }
        true
    }

    /// Ends the session: every client gets a close frame with 1001 (going away) and the
    /// listener closes. No `PeerDisconnected` is reported, as the engine's `close()`.
    pub fn stop(&mut self, now: Instant) {
        self.peers.clear();
        self.arrivals.clear();
        self.pending.clear();
        self.departed.clear();
        self.leaving.clear();
        self.reported.clear();
        self.server.stop(now);
    }
}
