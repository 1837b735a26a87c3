//! The plain Rust side of `RustWebSocketMultiplayerPeer`: starting a session, its status, and
//! turning the session's events into the `MultiplayerPeer` signals.

use std::net::SocketAddr;

use godot::classes::multiplayer_peer::ConnectionStatus;
use godot::prelude::*;
use rust_websocket_core::multiplayer::{MpEvent, MpStatus, SERVER_ID};

use super::{RustWebSocketMultiplayerPeer, Session, CLASS};
use crate::hosting;
use crate::peer::Owner;

impl RustWebSocketMultiplayerPeer {
    /// Starts a new session: nothing of the previous one (peer objects, the last packet) is kept.
    pub(super) fn begin(&mut self, session: Session) {
        self.session = session;
        self.generation += 1;
        self.peer_objects.clear();
        self.current = None;
    }

    /// A server setting that was `taken` applies to clients accepted from now on, as on
    /// [WebSocketServer]; a client's connection keeps the settings it started with.
    pub(super) fn sync(&mut self, taken: bool) {
        if let (true, Session::Server(server)) = (taken, &mut self.session) {
            self.hosting.apply(server.server_mut());
        }
    }

    pub(super) fn status(&self) -> ConnectionStatus {
        match &self.session {
            Session::None => ConnectionStatus::DISCONNECTED,
            Session::Server(_) => ConnectionStatus::CONNECTED,
            Session::Client(client) => match client.status() {
                MpStatus::Disconnected => ConnectionStatus::DISCONNECTED,
                MpStatus::Connecting => ConnectionStatus::CONNECTING,
                MpStatus::Connected => ConnectionStatus::CONNECTED,
            },
        }
    }

    pub(super) fn peer_addr(&self, id: i64) -> Option<SocketAddr> {
        let conn = match (&self.session, u32::try_from(id)) {
            (Session::Server(server), Ok(id)) => server.peer(id).cloned(),
            (Session::Client(client), Ok(SERVER_ID)) => Some(client.connection().clone()),
            _ => None,
        };
        let addr = conn.and_then(|c| c.borrow().remote_addr());
        if addr.is_none() {
            godot_error!("{CLASS}: no peer with id {id}");
        }
        addr
    }

    /// Emits the events of one poll in order. `SceneMultiplayer` answers `peer_connected` at
    /// once by sending packets through this object, so no session borrow is held meanwhile.
    /// A handler that closes this peer ends the batch: nothing more is emitted for a session
    /// that is gone.
    pub(super) fn emit_all(&mut self, events: Vec<MpEvent>) {
        let generation = self.generation;
        for event in events {
            if self.generation != generation || matches!(self.session, Session::None) {
                return;
            }
            match event {
                MpEvent::Request { id } => self.validate(id),
                MpEvent::PeerConnected(id) => self.signals().peer_connected().emit(id.into()),
                MpEvent::PeerDisconnected(id) => {
                    self.peer_objects.remove(&id);
                    self.signals().peer_disconnected().emit(id.into());
                }
                MpEvent::Warning(w) => godot_warn!("{CLASS}: {w}"),
            }
        }
    }

    pub(super) fn validate(&mut self, id: u32) {
        let Session::Server(server) = &self.session else { return };
        let Some(conn) = server.server().pending(id) else { return };
        let decision = match self.hosting.validator.clone() {
            None => Ok(()),
            Some(validator) => {
                let _reentrant = self.base_mut();
                hosting::ask_validator(CLASS, &validator, id, conn, Owner::Multiplayer)
            }
        };
        if let Session::Server(server) = &mut self.session {
            server.approve(id, decision);
        }
    }
}
