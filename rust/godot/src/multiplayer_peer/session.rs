//! The plain Rust side of `RustWebSocketMultiplayerPeer`: starting a session, its status, and
//! turning the session's events into the `MultiplayerPeer` signals.

use godot::classes::multiplayer_peer::ConnectionStatus;
use godot::prelude::*;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::multiplayer::{MpEvent, MpStatus, SERVER_ID};
use rust_websocket_core::Server;

use super::{RustWebSocketMultiplayerPeer, Session, CLASS};
use crate::hosting::{self, Hosting};
use crate::peer::Owner;

impl RustWebSocketMultiplayerPeer {
    /// Starts a new session: nothing of the previous one (peer objects, the last packet) is kept.
    pub(super) fn begin(&mut self, session: Session) {
        self.session = session;
        self.generation += 1;
        self.peer_objects.clear();
        self.current = None;
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
}

/// `SceneMultiplayer` answers `peer_connected` at once by sending packets through this object.
/// A handler that closes this peer ends the batch: nothing more is emitted for a session that
/// is gone.
impl hosting::Emits for RustWebSocketMultiplayerPeer {
    type Event = MpEvent;

    fn request(event: &MpEvent) -> Option<u32> {
        match event {
            MpEvent::Request { id } => Some(*id),
            _ => None,
        }
    }

    fn batch(&self) -> u64 {
        self.generation
    }

    fn goes_on(&self, batch: u64) -> bool {
        self.generation == batch && !matches!(self.session, Session::None)
    }

    fn emit(&mut self, event: MpEvent) {
        match event {
            MpEvent::Request { .. } => {}
            MpEvent::PeerConnected(id) => self.signals().peer_connected().emit(id.into()),
            MpEvent::PeerDisconnected(id) => {
                self.peer_objects.remove(&id);
                self.signals().peer_disconnected().emit(id.into());
            }
            MpEvent::Warning(w) => godot_warn!("{CLASS}: {w}"),
        }
    }
}

impl hosting::ServerClass for RustWebSocketMultiplayerPeer {
    const CLASS: &'static str = CLASS;
    const OWNER: Owner = Owner::Multiplayer;
    const REPORTS_MISSING_PEER: bool = true;

    fn hosting(&self) -> &Hosting {
        &self.hosting
    }

    fn hosting_mut(&mut self) -> &mut Hosting {
        &mut self.hosting
    }

    fn core(&self) -> Option<&Server> {
        match &self.session {
            Session::Server(server) => Some(server.server()),
            _ => None,
        }
    }

    /// A client's connection keeps the settings it started with: only a server applies them.
    fn hosting_and_core(&mut self) -> (&Hosting, Option<&mut Server>) {
        let core = match &mut self.session {
            Session::Server(server) => Some(server.server_mut()),
            _ => None,
        };
        (&self.hosting, core)
    }

    fn connection(&self, id: u32) -> Option<SharedConnection> {
        match (&self.session, id) {
            (Session::Server(server), id) => server.peer(id).cloned(),
            (Session::Client(client), SERVER_ID) => Some(client.connection().clone()),
            _ => None,
        }
    }
}
