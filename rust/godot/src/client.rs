//! Starting a client connection with the engine's `connect_to_url` rules and return codes,
//! for `RustWebSocketPeer.connect_to_url` and `RustWebSocketMultiplayerPeer.create_client`.

use std::time::Instant;

use godot::global::Error;
use godot::prelude::*;
use rust_websocket_core::connection::ConnectError;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::io_thread::IoThread;
use rust_websocket_core::url::WsUrl;
use rust_websocket_core::Connection;

use crate::convert::{self, OptionalTls};
use crate::tls_bridge;

/// Starts `conn` as a client of `url` (the engine's `connect_to_url` rules and return codes);
/// errors are pushed, naming `class`.
pub fn start(class: &str, conn: &mut Connection, url: &GString, options: &OptionalTls) -> Error {
    let url = url.to_string();
    let wants_tls = WsUrl::parse(&url).is_ok_and(|u| u.tls);
    let tls = if wants_tls || options.0.is_some() {
        match tls_bridge::client_tls(options.0.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                godot_error!("{class}: {e}");
                return Error::ERR_INVALID_PARAMETER;
            }
        }
    } else {
        None
    };
    match conn.connect(&url, tls, Instant::now()) {
        Ok(()) => Error::OK,
        Err(e) => {
            match &e {
                ConnectError::Url(u) => godot_error!("{class}: invalid URL '{url}': {u}"),
                ConnectError::Tls(t) => godot_error!("{class}: {t}"),
                ConnectError::InUse => {}
            }
            convert::connect_error(&e)
        }
    }
}

/// With `enabled`, starts the I/O thread that drives the client connection `conn` (see the
/// classes' `io_thread`); on failure, says so and leaves it to the class's `poll()`.
pub fn io_thread(class: &str, conn: &SharedConnection, enabled: bool) -> Option<IoThread> {
    if !enabled {
        return None;
    }
    IoThread::client(conn.clone())
        .map_err(|e| godot_warn!("{class}: could not start the I/O thread ({e}); networking runs in poll() instead"))
        .ok()
}
