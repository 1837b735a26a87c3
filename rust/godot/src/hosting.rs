//! What the two server classes (`WebSocketServer`, `RustWebSocketMultiplayerPeer`) share: their
//! settings for accepted clients ([`Hosting`]), listening with the engine's bind-address rules,
//! and asking the game's `request_validator`.

use std::io::ErrorKind;
use std::time::Duration;

use godot::global::Error;
use godot::prelude::*;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::handshake::Rejection;
use rust_websocket_core::listener::{self, BindAddress};
use rust_websocket_core::{Config, Server};

use crate::convert::{self, OptionalTls};
use crate::peer::{Owner, RustWebSocketPeer};
use crate::tls_bridge;

/// A server class's settings for the clients it accepts (the multiplayer class also starts its
/// client connection with `config`).
pub struct Hosting {
    /// Copied into every accepted connection.
    pub config: Config,
    /// Most simultaneous clients; more are answered HTTP 503.
    pub max_peers: usize,
    /// The game's `request_validator`; with one, every acceptable request waits for it.
    pub validator: Option<Callable>,
    /// Start the server's I/O thread when listening (`io_thread`).
    pub io_thread: bool,
}

impl Hosting {
    /// The engine's defaults for its server classes (a 3 s handshake timeout).
    pub fn new() -> Hosting {
        let config = Config { handshake_timeout: Some(Duration::from_secs(3)), ..crate::monitors::config() };
        Hosting { config, max_peers: 4096, validator: None, io_thread: crate::settings::io_thread_default() }
    }

    /// Listens (see [`listen`]) with these settings.
    pub fn listen(&self, class: &str, port: i64, bind: &GString, tls: &OptionalTls) -> Result<Server, Error> {
        let mut server = listen(class, port, bind, tls)?;
        self.apply(&mut server);
        if self.io_thread {
            if let Err(e) = server.start_io_thread() {
                godot_warn!("{class}: could not start the I/O thread ({e}); networking runs in poll() instead");
            }
        }
        Ok(server)
    }

    /// Makes a running server use the current settings for the clients it accepts from now on.
    pub fn apply(&self, server: &mut Server) {
        server.set_config(self.config.clone());
        server.set_max_peers(self.max_peers);
        server.set_hold_requests(self.validator.is_some());
    }

    pub fn set_max_peers(&mut self, class: &str, count: i64) -> bool {
        convert::size(&format!("{class}.max_peers"), count, usize::MAX).map(|n| self.max_peers = n).is_some()
    }

    pub fn validator(&self) -> Callable {
        self.validator.clone().unwrap_or_else(Callable::invalid)
    }

    /// An invalid Callable removes the validator.
    pub fn set_validator(&mut self, validator: Callable) {
        self.validator = validator.is_valid().then_some(validator);
    }
}

/// Listens on `port` at `bind_address` (`"*"` every interface of both families, `"localhost"`,
/// or an IP address; [`listener`] makes the socket as the engine's `TCPServer` does), with TLS
/// from `TLSOptions.server()` options. Errors are pushed, naming `class`.
fn listen(class: &str, port: i64, bind_address: &GString, tls: &OptionalTls) -> Result<Server, Error> {
    let Ok(port) = u16::try_from(port) else {
        godot_error!("{class}: invalid port {port}");
        return Err(Error::ERR_INVALID_PARAMETER);
    };
    let tls = match &tls.0 {
        None => None,
        Some(options) => Some(tls_bridge::server_tls(options).map_err(|e| {
            godot_error!("{class}: {e}");
            Error::ERR_INVALID_PARAMETER
        })?),
    };
    let bind = bind_address.to_string();
    let Some(address) = BindAddress::parse(&bind) else {
        godot_error!("{class}: invalid bind address '{bind}' (use \"*\" or an IP address)");
        return Err(Error::ERR_INVALID_PARAMETER);
    };
    match listener::bind(address, port).and_then(|l| Server::listen_on(l, crate::monitors::config(), tls)) {
        Ok(server) => Ok(server),
        Err(e) => {
            godot_error!("{class}: cannot listen on {bind}:{port}: {e}");
            // The engine's TCPServer: a bind that fails is ERR_ALREADY_IN_USE.
            Err(match e.kind() {
                ErrorKind::AddrInUse | ErrorKind::AddrNotAvailable | ErrorKind::PermissionDenied => {
                    Error::ERR_ALREADY_IN_USE
                }
                _ => Error::ERR_CANT_CREATE,
            })
        }
    }
}

/// Asks `validator(id, peer)` about the held upgrade request of `conn`. The caller lets the
/// validator re-enter it (holds its `base_mut()` guard).
pub fn ask_validator(
    class: &str,
    validator: &Callable,
    id: u32,
    conn: SharedConnection,
    owner: Owner,
) -> Result<(), Rejection> {
    let peer = RustWebSocketPeer::driven_by(conn, owner);
    let verdict = validator.call(&[(id as i64).to_variant(), peer.to_variant()]);
    verdict_to_decision(class, &verdict)
}

/// `true` accepts; `false` refuses with 403; an integer 400–599 refuses with that status.
fn verdict_to_decision(class: &str, verdict: &Variant) -> Result<(), Rejection> {
    if let Ok(accept) = verdict.try_to::<bool>() {
        return if accept { Ok(()) } else { Err(Rejection::new(403, "refused by the game")) };
    }
    match verdict.try_to::<i64>() {
        Ok(status @ 400..=599) => Err(Rejection::new(status as u16, "refused by the game")),
        _ => {
            godot_warn!("{class}: request_validator must return a bool or an HTTP status (400-599), not {verdict}");
            Err(Rejection::new(403, "refused by the game"))
        }
    }
}

/// Wraps a server class's `#[godot_api] impl` block and adds the accessors of the properties
/// both server classes have (the connection settings of accepted clients, `max_peers`,
/// `request_validator`, `io_thread`), kept in the class's `hosting: Hosting` and applied by its
/// `sync(taken: bool)`; `CLASS` names the class in error messages (a `const` of the calling
/// module). (gdext registers `#[func]`s
/// only from the `#[godot_api]` block itself, so the block is wrapped rather than extended.)
macro_rules! server_class_api {
    (impl $class:ident { $($body:tt)* }) => {
        #[godot_api]
        impl $class {
            $($body)*

            /// Getter of [member supported_protocols].
            #[func]
            fn get_supported_protocols(&self) -> PackedStringArray {
                $crate::settings::supported_protocols(&self.hosting.config)
            }
            /// Setter of [member supported_protocols].
            #[func]
            fn set_supported_protocols(&mut self, protocols: PackedStringArray) {
                let taken = $crate::settings::set_supported_protocols(&mut self.hosting.config, CLASS, &protocols);
                self.sync(taken);
            }
            /// Getter of [member handshake_headers].
            #[func]
            fn get_handshake_headers(&self) -> PackedStringArray {
                $crate::settings::handshake_headers(&self.hosting.config)
            }
            /// Setter of [member handshake_headers].
            #[func]
            fn set_handshake_headers(&mut self, headers: PackedStringArray) {
                let taken = $crate::settings::set_handshake_headers(&mut self.hosting.config, CLASS, &headers);
                self.sync(taken);
            }
            /// Getter of [member handshake_timeout].
            #[func]
            fn get_handshake_timeout(&self) -> f64 {
                $crate::settings::handshake_timeout(&self.hosting.config)
            }
            /// Setter of [member handshake_timeout].
            #[func]
            fn set_handshake_timeout(&mut self, seconds: f64) {
                let taken = $crate::settings::set_handshake_timeout(&mut self.hosting.config, CLASS, seconds);
                self.sync(taken);
            }
            /// Getter of [member inbound_buffer_size].
            #[func]
            fn get_inbound_buffer_size(&self) -> i64 {
                $crate::settings::inbound_buffer_size(&self.hosting.config)
            }
            /// Setter of [member inbound_buffer_size].
            #[func]
            fn set_inbound_buffer_size(&mut self, size: i64) {
                let taken = $crate::settings::set_inbound_buffer_size(&mut self.hosting.config, CLASS, size);
                self.sync(taken);
            }
            /// Getter of [member outbound_buffer_size].
            #[func]
            fn get_outbound_buffer_size(&self) -> i64 {
                $crate::settings::outbound_buffer_size(&self.hosting.config)
            }
            /// Setter of [member outbound_buffer_size].
            #[func]
            fn set_outbound_buffer_size(&mut self, size: i64) {
                let taken = $crate::settings::set_outbound_buffer_size(&mut self.hosting.config, size);
                self.sync(taken);
            }
            /// Getter of [member max_queued_packets].
            #[func]
            fn get_max_queued_packets(&self) -> i64 {
                $crate::settings::max_queued_packets(&self.hosting.config)
            }
            /// Setter of [member max_queued_packets].
            #[func]
            fn set_max_queued_packets(&mut self, count: i64) {
                let taken = $crate::settings::set_max_queued_packets(&mut self.hosting.config, CLASS, count);
                self.sync(taken);
            }
            /// Getter of [member heartbeat_interval].
            #[func]
            fn get_heartbeat_interval(&self) -> f64 {
                $crate::settings::heartbeat_interval(&self.hosting.config)
            }
            /// Setter of [member heartbeat_interval].
            #[func]
            fn set_heartbeat_interval(&mut self, seconds: f64) {
                let taken = $crate::settings::set_heartbeat_interval(&mut self.hosting.config, CLASS, seconds);
                self.sync(taken);
            }
            /// Getter of [member compression_enabled].
            #[func]
            fn get_compression_enabled(&self) -> bool {
                $crate::settings::compression_enabled(&self.hosting.config)
            }
            /// Setter of [member compression_enabled].
            #[func]
            fn set_compression_enabled(&mut self, enabled: bool) {
                let taken = $crate::settings::set_compression_enabled(&mut self.hosting.config, enabled);
                self.sync(taken);
            }
            /// Getter of [member compression_threshold].
            #[func]
            fn get_compression_threshold(&self) -> i64 {
                $crate::settings::compression_threshold(&self.hosting.config)
            }
            /// Setter of [member compression_threshold].
            #[func]
            fn set_compression_threshold(&mut self, bytes: i64) {
                let taken = $crate::settings::set_compression_threshold(&mut self.hosting.config, CLASS, bytes);
                self.sync(taken);
            }
            /// Getter of [member request_validator].
            #[func]
            fn get_request_validator(&self) -> Callable {
                self.hosting.validator()
            }
            /// Setter of [member request_validator].
            #[func]
            fn set_request_validator(&mut self, validator: Callable) {
                self.hosting.set_validator(validator);
                self.sync(true);
            }
            /// Getter of [member max_peers].
            #[func]
            fn get_max_peers(&self) -> i64 {
                i64::try_from(self.hosting.max_peers).unwrap_or(i64::MAX)
            }
            /// Setter of [member max_peers].
            #[func]
            fn set_max_peers(&mut self, count: i64) {
                let taken = self.hosting.set_max_peers(CLASS, count);
                self.sync(taken);
            }
            /// Getter of [member io_thread].
            #[func]
            fn get_io_thread(&self) -> bool {
                self.hosting.io_thread
            }
            /// Setter of [member io_thread].
            #[func]
            fn set_io_thread(&mut self, enabled: bool) {
                self.hosting.io_thread = enabled;
            }
        }
    };
}
pub(crate) use server_class_api;
