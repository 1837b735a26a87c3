//! What a connection tells its owner, and what its owner gets back.

use std::net::SocketAddr;

use crate::url::UrlError;

/// The engine's `WebSocketPeer.State`, same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

/// Something the owner of a connection should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server side with `hold`: an acceptable upgrade request waits for `approve`.
    Request,
    /// The upgrade completed; `protocol` is the selected subprotocol ("" for none).
    Open { protocol: String },
    /// One complete message was queued for reading.
    Message,
    /// The remote sent a close frame first (it wants to close); `code` is 1005 when the frame
    /// had none.
    CloseRequest { code: u16, reason: String },
    /// The connection reached CLOSED. `was_open`: it had completed the upgrade. `clean`: the
    /// remote's close frame was received.
    Closed { was_open: bool, clean: bool },
    /// A problem worth a warning in the log (refused connection, protocol violation, TLS error…).
    Warning(String),
}

/// Why a message could not be queued for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is not OPEN (`FAILED` in Godot).
    NotOpen,
    /// The outbound byte or message cap would be exceeded (`ERR_OUT_OF_MEMORY`).
    QueueFull,
    /// The transport failed; the connection was closed (`FAILED`).
    Failed,
}

/// Why `connect` refused to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL cannot be used (`ERR_INVALID_PARAMETER`).
    Url(UrlError),
    /// The connection is neither CLOSED nor CLOSING (`ERR_ALREADY_IN_USE`).
    InUse,
    /// TLS could not be set up (`ERR_INVALID_PARAMETER`).
    Tls(String),
}

/// "the remote" when the address is not known.
pub(crate) fn fmt_addr(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "the remote".into())
}
