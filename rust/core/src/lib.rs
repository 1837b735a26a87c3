//! The Godot-free core of godot-rust-websocket.
//!
//! Everything here is plain Rust: non-blocking WebSocket connections (our frame layer, with
//! tungstenite's frame headers, over mio sockets, TLS by rustls) and a server that accepts them. The gdext crate on top only
//! translates between these types and Godot's. Time is an input (`poll(now)`), so timeouts are
//! testable, and nothing here ever blocks the calling thread.
//!
//! * [`connection::Connection`]: one WebSocket, client or server side, driven by `poll`, one
//!   module per phase (dialing, upgrading, open).
//! * [`server::Server`]: a listener plus the connections it accepted, polled by readiness;
//!   [`listener`]: listening sockets as the engine's `TCPServer` makes them (dual-stack `"*"`).
//! * [`io_thread`] (`server::io_thread`): the optional background thread that drives a server
//!   or a client instead.
//! * [`multiplayer`]: the engine's `WebSocketMultiplayerPeer` protocol over both.
//! * [`proto`]: the protocol without I/O (bytes and time in; bytes, deadlines and what the
//!   remote sent out), which the connection drives over its transport.
//! * [`frames`]: frames in and out, permessage-deflate, incremental UTF-8 checks.
//! * [`handshake`]: the HTTP/1.1 upgrade, both sides, as pure functions over bytes;
//!   [`extensions`]: the permessage-deflate negotiation.
//! * [`tls`]: rustls configurations for the engine's `TLSOptions` meanings.
//! * [`stats`]: traffic counters, shared through the config (Godot's Performance monitors).

#![forbid(unsafe_code)]

pub mod clock;
pub mod config;
pub mod connection;
pub mod extensions;
pub mod frames;
pub mod handshake;
pub mod listener;
pub mod memory;
pub mod multiplayer;
pub mod proto;
pub mod resolve;
pub mod server;
pub mod stats;
pub mod tls;
pub mod transport;
pub mod url;

pub use config::Config;
pub use connection::{Connection, Event, ReadyState, SendError};
pub use rustls;
pub use server::{io_thread, Server, ServerEvent};
