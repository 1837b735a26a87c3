//! What the two server classes (`WebSocketServer`, `RustWebSocketMultiplayerPeer`) share: their
//! settings for accepted clients ([`Hosting`]), listening with the engine's bind-address rules,
//! and asking the game's `request_validator`.

use std::io::ErrorKind;
use std::net::SocketAddr;

use godot::global::Error;
use godot::obj::WithBaseField;
use godot::prelude::*;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::handshake::Rejection;
use rust_websocket_core::listener::{self, BindAddress};
use rust_websocket_core::{Config, Server};

use crate::convert::OptionalTls;
use crate::peer::{Owner, RustWebSocketPeer};
use crate::settings::{Hosts, Settings};
use crate::tls_bridge;

/// A server class's settings for the clients it accepts (the multiplayer class also starts its
/// client connection with `config`). Its `init` sets them to their defaults (`settings.rs`).
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

impl Default for Hosting {
    /// Counted in the Performance monitors (`monitors::config`); `init` then sets every
    /// setting to its declared default.
    fn default() -> Hosting {
        Hosting { config: crate::monitors::config(), max_peers: 0, validator: None, io_thread: false }
    }
}

impl Hosting {
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

/// What the two server classes share, implemented by each: where its [`Hosting`] and its core
/// [`Server`] (while serving) are, and its connection to peer `id`.
pub trait ServerClass: WithBaseField {
    /// Names the class in error messages.
    const CLASS: &'static str;
    /// Who drives the connections of the peer objects it hands out.
    const OWNER: Owner;
    /// Whether a peer id without an address is reported with an error.
    const REPORTS_MISSING_PEER: bool;
    fn hosting(&self) -> &Hosting;
    fn hosting_mut(&mut self) -> &mut Hosting;
    fn core(&self) -> Option<&Server>;
    /// The settings and, while serving, the core server they apply to.
    fn hosting_and_core(&mut self) -> (&Hosting, Option<&mut Server>);
    /// The connection to peer `id`, if it is one this class shows.
    fn connection(&self, id: u32) -> Option<SharedConnection>;
}

/// The servers keep their settings in their `Hosting`; a setting that was taken applies to the
/// clients accepted from now on (their apply hook).
impl<T: ServerClass> Settings for T {
    const CLASS: &'static str = <T as ServerClass>::CLASS;

    fn read_config<R>(&self, read: impl FnOnce(&Config) -> R) -> R {
        read(&self.hosting().config)
    }

    fn change_config(&mut self, change: impl FnOnce(&mut Config) -> bool) {
        let taken = change(&mut self.hosting_mut().config);
        sync(self, taken);
    }

    fn read_io_thread<R>(&self, read: impl FnOnce(&bool) -> R) -> R {
        read(&self.hosting().io_thread)
    }

    fn change_io_thread(&mut self, change: impl FnOnce(&mut bool) -> bool) {
        change(&mut self.hosting_mut().io_thread);
    }
}

impl<T: ServerClass> Hosts for T {
    fn read_hosting<R>(&self, read: impl FnOnce(&Hosting) -> R) -> R {
        read(self.hosting())
    }

    fn change_hosting(&mut self, change: impl FnOnce(&mut Hosting) -> bool) {
        let taken = change(self.hosting_mut());
        sync(self, taken);
    }
}

/// A setting that was `taken` applies to clients accepted from now on (a multiplayer client's
/// connection keeps the settings it started with).
fn sync<T: ServerClass>(this: &mut T, taken: bool) {
    if let (true, (hosting, Some(core))) = (taken, this.hosting_and_core()) {
        hosting.apply(core);
    }
}

/// Asks the game's `request_validator` about the held request of client `id` and answers it.
/// The validator may call back into the class: it is let in (its `base_mut()` guard is held).
pub fn validate<T: ServerClass>(this: &mut T, id: u32) {
    let Some(conn) = this.core().and_then(|c| c.pending(id)) else { return };
    let decision = match this.hosting().validator.clone() {
        None => Ok(()),
        Some(validator) => {
            let _reentrant = this.base_mut();
            let peer = RustWebSocketPeer::driven_by(conn, T::OWNER);
            let verdict = validator.call(&[(id as i64).to_variant(), peer.to_variant()]);
            verdict_to_decision(<T as ServerClass>::CLASS, &verdict)
        }
    };
    if let (_, Some(core)) = this.hosting_and_core() {
        core.approve(id, decision);
    }
}

/// A server class's events of one poll, emitted as signals by [`emit_all`].
pub trait Emits: ServerClass {
    type Event;
    /// The id of the client whose held upgrade request `event` announces.
    fn request(event: &Self::Event) -> Option<u32>;
    /// What identifies the batch's session (see [`Emits::goes_on`]).
    fn batch(&self) -> u64;
    /// Whether the rest of the batch is still to be emitted: a handler may have ended it.
    fn goes_on(&self, batch: u64) -> bool;
    /// Emits one event's signal (each checked against the class's current state).
    fn emit(&mut self, event: Self::Event);
}

/// Emits the events of one poll in order, asking the validator about requests. Handlers may
/// re-enter the class (send, disconnect, stop or close it, start another session), so no core
/// borrow is held while one runs, and each event is checked against the state of the moment.
pub fn emit_all<T: Emits>(this: &mut T, events: Vec<T::Event>) {
    let batch = this.batch();
    for event in events {
        if !this.goes_on(batch) {
            return;
        }
        match T::request(&event) {
            Some(id) => validate(this, id),
            None => this.emit(event),
        }
    }
}

/// The address of peer `id` (with an error when there is none, if the class reports that).
pub fn peer_addr<T: ServerClass>(this: &T, id: i64) -> Option<SocketAddr> {
    let addr = u32::try_from(id).ok().and_then(|id| this.connection(id)).and_then(|c| c.borrow().remote_addr());
    if addr.is_none() && T::REPORTS_MISSING_PEER {
        godot_error!("{}: no peer with id {id}", <T as ServerClass>::CLASS);
    }
    addr
}

/// `get_peer_address`: the IP address of peer `id`, or `""`.
pub fn peer_address<T: ServerClass>(this: &T, id: i64) -> GString {
    peer_addr(this, id).map(|a| GString::from(&a.ip().to_canonical().to_string())).unwrap_or_default()
}

/// `get_peer_port`: the TCP port of peer `id`, or 0.
pub fn peer_port<T: ServerClass>(this: &T, id: i64) -> i64 {
    peer_addr(this, id).map_or(0, |a| a.port().into())
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
