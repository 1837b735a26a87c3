//! Per-connection settings, with the Godot engine's defaults.

use std::sync::Arc;
use std::time::Duration;

pub use crate::extensions::Compression;
use crate::stats::Counters;

/// Settings of one connection. A server copies its own into every peer it accepts.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest message accepted, and about the most bytes of received messages kept queued.
    pub inbound_buffer_size: usize,
    /// Most bytes queued for sending; `None` removes the byte cap.
    pub outbound_buffer_size: Option<usize>,
    /// Most messages queued in each direction.
    pub max_queued_packets: usize,
    /// Ping period; `None` turns the heartbeat off.
    pub heartbeat_interval: Option<Duration>,
    /// Client: the subprotocols offered. Server: the ones accepted.
    pub supported_protocols: Vec<String>,
    /// Extra raw `Name: value` header lines for the request (client) or the 101 response (server).
    pub handshake_headers: Vec<String>,
    /// Time allowed from the start of a connection to an open WebSocket; `None` waits forever.
    pub handshake_timeout: Option<Duration>,
    /// permessage-deflate: offered (client) or accepted (server) when enabled.
    pub compression: Compression,
    /// Where the traffic is counted: shared by every clone of this config (a server's peers
    /// included); a fresh set by default.
    pub counters: Arc<Counters>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            inbound_buffer_size: 65535,
            outbound_buffer_size: Some(65535),
            max_queued_packets: 4096,
            heartbeat_interval: None,
            supported_protocols: Vec::new(),
            handshake_headers: Vec::new(),
            handshake_timeout: None,
            compression: Compression::default(),
            counters: Arc::default(),
        }
    }
}
