//! The wire protocol of the engine's `WebSocketMultiplayerPeer` (Godot 4.x,
//! `modules/websocket/websocket_multiplayer_peer.cpp`), over our [`Server`](crate::Server) and
//! [`Connection`](crate::Connection), so that the engine's own peers (desktop, mobile, Web) and
//! ours meet in one session:
//!
//! 1. One WebSocket per client, to the server; the server is peer 1.
//! 2. Each client gets an id in [2, 2³¹−1], unique among the server's live connections (the core
//!    server's connection id). When its WebSocket opens, the server sends it as the first message:
//!    exactly 4 bytes, the id as a little-endian int32, and reports the peer connected.
//! 3. The client stays connecting until that message arrives; any other size, or an id below 2,
//!    fails it (close code 1002).
//! 4. Every later message is one packet of the high-level multiplayer, without a header, in a
//!    binary frame (the frame type of received messages is ignored). Packets report channel 0
//!    and mode reliable. Relay between clients is `SceneMultiplayer`'s (`server_relay`), which
//!    it does with its own system packets; the peer never relays.
//!
//! [`MpServer`] and [`MpClient`] hold that protocol; the binding only translates to Godot.

mod client;
mod server;

pub use client::{MpClient, MpStatus};
pub use server::MpServer;

use crate::connection::{Packet, SendError};

/// The server's peer id.
pub const SERVER_ID: u32 = 1;

/// The id message the server sends first: the id as a little-endian int32.
pub fn id_message(id: u32) -> [u8; 4] {
    id.to_le_bytes()
}

/// Reads the server's first message as the client's id.
pub fn parse_id(message: &[u8]) -> Result<u32, String> {
    let Ok(bytes) = <[u8; 4]>::try_from(message) else {
        return Err(format!("the server's first message has {} bytes, not the 4 of a peer id", message.len()));
    };
    match i32::from_le_bytes(bytes) {
        id @ 2.. => Ok(id as u32),
        id => Err(format!("the server assigned the invalid peer id {id} (ids start at 2)")),
    }
}

/// Something a multiplayer endpoint reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MpEvent {
    /// Server with `hold_requests`: the upgrade request of connection `id` waits for
    /// [`MpServer::approve`].
    Request {
        id: u32,
    },
    PeerConnected(u32),
    PeerDisconnected(u32),
    /// Worth a warning in the log.
    Warning(String),
}

/// Where a server's packet goes (the binding reads the engine's `target_peer` into this).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    All,
    One(u32),
    AllBut(u32),
}

impl Target {
    fn includes(self, id: u32) -> bool {
        match self {
            Target::All => true,
            Target::One(one) => one == id,
            Target::AllBut(other) => other != id,
        }
    }
}

/// Why a packet was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpSendError {
    /// Not connected (a client before its id arrived, or anything closed).
    NotConnected,
    /// No connected peer has this id (`ERR_INVALID_PARAMETER`, as the engine).
    NoPeer(u32),
    /// The one peer's connection refused it (queue full, failed).
    Send(SendError),
}

/// A packet and the peer it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MpPacket {
    pub from: u32,
    pub packet: Packet,
}
