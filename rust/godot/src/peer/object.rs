//! The plain Rust side of `RustWebSocketPeer`: who drives its connection, how an object is
//! made for a connection, and the helpers its `#[func]`s share.

use std::time::Instant;

use godot::classes::PacketPeerExtension;
use godot::global::Error;
use godot::prelude::*;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::ReadyState;

use super::RustWebSocketPeer;
use crate::{convert, settings};

/// Who drives a peer's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The game, through this object's `poll()` (a client, or `accept_stream`).
    SelfPolled,
    /// A [WebSocketServer]'s poll (also the peer a `request_validator` is shown); the game reads
    /// and writes through this object.
    Server,
    /// A `RustWebSocketMultiplayerPeer`'s poll, which also reads the packets: this object only
    /// shows the connection and sends.
    Multiplayer,
}

impl RustWebSocketPeer {
    pub(super) fn with_connection(conn: SharedConnection, owner: Owner, base: Base<PacketPeerExtension>) -> Self {
        settings::new!(
            peer,
            Self {
                conn,
                owner,
                last: None,
                io: None,
                // `init` sets the defaults; a server's peer reads its owner's thread.
                io_thread_enabled: false,
                base,
            }
        )
    }

    /// A peer object for a connection that its `owner` polls.
    pub fn driven_by(conn: SharedConnection, owner: Owner) -> Gd<Self> {
        Gd::from_init_fn(|base| Self::with_connection(conn, owner, base))
    }

    pub(super) fn state(&self) -> ReadyState {
        self.conn.borrow().ready_state()
    }

    pub(super) fn send_bytes(&mut self, data: &[u8], text: bool) -> Error {
        let result = self.conn.borrow_mut().send(data, text, Instant::now());
        match result {
            Ok(()) => Error::OK,
            Err(e) => {
                if e == rust_websocket_core::SendError::NotOpen {
                    godot_error!("RustWebSocketPeer: cannot send, the connection is not open");
                }
                convert::send_error(e)
            }
        }
    }
}
