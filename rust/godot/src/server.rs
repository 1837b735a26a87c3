//! `WebSocketServer`: Godot 3's server class and the tutorial's signals, over the core server.

use std::collections::HashMap;
use std::time::Instant;

use godot::global::Error;
use godot::prelude::*;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::{SendError, Server, ServerEvent};

use crate::convert::{self, CloseWith, OptionalTls};
use crate::enums::WriteMode;
use crate::hosting::{self, Hosting};
use crate::peer::{Owner, RustWebSocketPeer};
use crate::settings;

const CLASS: &str = "WebSocketServer";

settings::class! { server;
/// A WebSocket server, as in Godot 3 and the Godot WebSocket tutorial, running natively.
///
/// Call [method listen], then [method poll] every frame. Each client that completes the
/// WebSocket handshake gets a random id and emits [signal client_connected]; every complete
/// message emits [signal data_received], to be read with `get_peer(id).get_packet()`.
/// [signal client_disconnected] comes exactly once for every connected client, however the
/// connection ended. Handlers may call back into the server (send, [method disconnect_peer],
/// [method stop]).
///
/// [method poll] only does work for connections with activity, so idle clients cost almost
/// nothing. Not available in Web exports: the addon has no Web library, since a browser gives a
/// page no TCP sockets to listen on or connect with.
#[derive(GodotClass)]
#[class(base = RefCounted)]
pub struct WebSocketServer {
    core: Option<Server>,
    peers: HashMap<u32, Gd<RustWebSocketPeer>>,
    hosting: Hosting,

    // settings::class! adds a property per setting (settings.rs).
    base: Base<RefCounted>,
}
}

#[godot_api]
impl IRefCounted for WebSocketServer {
    fn init(base: Base<RefCounted>) -> Self {
        crate::monitors::ensure_registered();
        let mut this =
            settings::new!(server, Self { core: None, peers: HashMap::new(), hosting: Hosting::default(), base });
        this.apply_defaults();
        this
    }
}

settings::api! { server;
    #[godot_api]
    impl WebSocketServer {
        /// A client completed the WebSocket handshake; `protocol` is the selected subprotocol.
        #[signal]
        fn client_connected(id: i64, protocol: GString);
        /// A connected client is gone; `was_clean` tells whether it sent a close frame first.
        #[signal]
        fn client_disconnected(id: i64, was_clean: bool);
        /// A client sent a close frame; keep polling until [signal client_disconnected].
        #[signal]
        fn client_close_request(id: i64, code: i64, reason: GString);
        /// One complete message from client `id` is ready: `get_peer(id).get_packet()`.
        #[signal]
        fn data_received(id: i64);

        /// Listens on `port` (0 picks a free port, see [method get_local_port]). `bind_address` is
        /// `"*"` for every interface, IPv4 and IPv6 clients alike on every OS (one IPv6 socket that
        /// also takes IPv4, or IPv4 alone where IPv6 is missing), or an IP address such as
        /// `"127.0.0.1"` (that family only). With
        /// `tls_server_options` from [method TLSOptions.server] clients connect with `wss://`.
        #[func]
        fn listen(
            &mut self,
            port: i64,
            #[opt(default = "*")] bind_address: GString,
            #[opt(default = OptionalTls::none())] tls_server_options: OptionalTls,
        ) -> Error {
            if self.core.is_some() {
                godot_error!("WebSocketServer: already listening; call stop() first");
                return Error::ERR_ALREADY_IN_USE;
            }
            match self.hosting.listen(CLASS, port, &bind_address, &tls_server_options) {
                Ok(server) => {
                    self.core = Some(server);
                    Error::OK
                }
                Err(e) => e,
            }
        }

        /// Closes every client with code 1001 (going away), emitting [signal client_disconnected]
        /// for each connected one, and stops listening.
        #[func]
        fn stop(&mut self) {
            let Some(mut core) = self.core.take() else { return };
            let events = core.stop(Instant::now());
            drop(core);
            // A handler may listen again: only this server's peers are forgotten.
            let stopped: Vec<u32> = self.peers.keys().copied().collect();
            hosting::emit_all(self, events);
            for id in stopped {
                self.peers.remove(&id);
            }
        }

        /// Whether [method listen] succeeded and [method stop] was not called since.
        #[func]
        fn is_listening(&self) -> bool {
            self.core.is_some()
        }

        /// The port listened on (useful after `listen(0)`), or 0.
        #[func]
        fn get_local_port(&self) -> i64 {
            self.core.as_ref().map(|c| c.local_addr().port() as i64).unwrap_or(0)
        }

        /// Accepts clients, reads and writes, runs timeouts, and emits this class's signals.
        /// Call it every frame. What the signal handlers send is written when they are done,
        /// in one write per client however many messages it got.
        #[func]
        fn poll(&mut self) {
            let Some(core) = self.core.as_mut() else { return };
            // What the handlers send to one client goes out in one write, at the end.
            core.cork();
            let events = core.poll(Instant::now());
            hosting::emit_all(self, events);
            if let Some(core) = self.core.as_mut() {
                core.uncork(Instant::now());
            }
        }

        /// The peer of client `id`, or null (with an error) if there is none.
        #[func]
        fn get_peer(&self, id: i64) -> Option<Gd<RustWebSocketPeer>> {
            let peer = u32::try_from(id).ok().and_then(|id| self.peers.get(&id)).cloned();
            if peer.is_none() {
                godot_error!("WebSocketServer: no peer with id {id}");
            }
            peer
        }

        /// Whether client `id` is connected.
        #[func]
        fn has_peer(&self, id: i64) -> bool {
            u32::try_from(id).is_ok_and(|id| self.peers.contains_key(&id))
        }

        /// Ids of the connected clients.
        #[func]
        fn get_peer_ids(&self) -> PackedInt64Array {
            let mut ids: Vec<i64> = self.peers.keys().map(|&i| i as i64).collect();
            ids.sort_unstable();
            PackedInt64Array::from(ids)
        }

        /// The IP address of client `id`, or `""`.
        #[func]
        fn get_peer_address(&self, id: i64) -> GString {
            hosting::peer_address(self, id)
        }

        /// The TCP port of client `id`, or 0.
        #[func]
        fn get_peer_port(&self, id: i64) -> i64 {
            hosting::peer_port(self, id)
        }

        /// Sends `message` to every connected client but `exclude_id` (`0` excludes none), as
        /// [method RustWebSocketPeer.send] would to each, framing it once for all of them (a
        /// client with compression agreed compresses its own copy). Each client's
        /// [member outbound_buffer_size] and [member max_queued_packets] apply: a client whose
        /// queue is full misses this message, and `ERR_OUT_OF_MEMORY` is returned (the others
        /// have it). `OK` otherwise, also when no client is connected.
        #[func]
        fn broadcast(
            &mut self,
            message: PackedByteArray,
            #[opt(default = WriteMode::BINARY)] write_mode: WriteMode,
            #[opt(default = 0)] exclude_id: i64,
        ) -> Error {
            self.broadcast_bytes(message.as_slice(), write_mode == WriteMode::TEXT, exclude_id)
        }

        /// [method broadcast] of `message` as a UTF-8 text frame.
        #[func]
        fn broadcast_text(&mut self, message: GString, #[opt(default = 0)] exclude_id: i64) -> Error {
            self.broadcast_bytes(message.to_string().as_bytes(), true, exclude_id)
        }

        /// Starts closing client `id` with `code` and `reason`; [signal client_disconnected] follows
        /// from a later [method poll].
        #[func]
        fn disconnect_peer(&mut self, id: i64, #[opt(default = 1000)] code: i64, #[opt(default = "")] reason: GString) {
            let close = convert::close_with("WebSocketServer.disconnect_peer()", code);
            let now = Instant::now();
            let found = match (self.core.as_mut(), u32::try_from(id)) {
                (Some(core), Ok(id)) if self.peers.contains_key(&id) => match close {
                    CloseWith::Abort => core.abort_peer(id, now),
                    CloseWith::Frame(code) => core.disconnect_peer(id, code, &reason.to_string(), now),
                },
                _ => false,
            };
            if !found {
                godot_error!("WebSocketServer: no peer with id {id}");
            }
        }
    }
}

impl WebSocketServer {
    fn broadcast_bytes(&mut self, data: &[u8], text: bool, exclude_id: i64) -> Error {
        let Some(core) = self.core.as_mut() else { return Error::OK };
        let exclude = u32::try_from(exclude_id).ok();
        let refused = core.broadcast(data, text, exclude, Instant::now());
        // A client whose connection failed while writing is reported by a coming poll.
        if refused.iter().any(|(_, e)| *e == SendError::QueueFull) {
            Error::ERR_OUT_OF_MEMORY
        } else {
            Error::OK
        }
    }
}

/// Handlers may re-enter this object (send, disconnect_peer, stop, dropping references): each
/// event is checked against the current peer table right before it is emitted.
impl hosting::Emits for WebSocketServer {
    type Event = ServerEvent;

    fn request(event: &ServerEvent) -> Option<u32> {
        match event {
            ServerEvent::Request { id } => Some(*id),
            _ => None,
        }
    }

    fn batch(&self) -> u64 {
        0
    }

    /// A stopped server's remaining events are checked one by one (it may listen again).
    fn goes_on(&self, _batch: u64) -> bool {
        true
    }

    fn emit(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Connected { id, protocol } => {
                let Some(conn) = self.core.as_ref().and_then(|c| c.joined(id)) else { return };
                self.peers.insert(id, RustWebSocketPeer::driven_by(conn, Owner::Server));
                self.signals().client_connected().emit(id as i64, &GString::from(&protocol));
            }
            ServerEvent::Data { id } if self.peers.contains_key(&id) => {
                self.signals().data_received().emit(id as i64);
            }
            ServerEvent::CloseRequest { id, code, reason } if self.peers.contains_key(&id) => {
                self.signals().client_close_request().emit(id as i64, code as i64, &GString::from(&reason));
            }
            ServerEvent::Disconnected { id, clean } if self.peers.contains_key(&id) => {
                self.signals().client_disconnected().emit(id as i64, clean);
                self.peers.remove(&id);
            }
            ServerEvent::Warning(w) => godot_warn!("WebSocketServer: {w}"),
            _ => {}
        }
    }
}

impl hosting::ServerClass for WebSocketServer {
    const CLASS: &'static str = CLASS;
    const OWNER: Owner = Owner::Server;
    const REPORTS_MISSING_PEER: bool = false;

    fn hosting(&self) -> &Hosting {
        &self.hosting
    }

    fn hosting_mut(&mut self) -> &mut Hosting {
        &mut self.hosting
    }

    fn core(&self) -> Option<&Server> {
        self.core.as_ref()
    }

    fn hosting_and_core(&mut self) -> (&Hosting, Option<&mut Server>) {
        (&self.hosting, self.core.as_mut())
    }

    /// Only a connected client's: one still in its handshake has no peer here.
    fn connection(&self, id: u32) -> Option<SharedConnection> {
        self.peers.get(&id)?;
        self.core.as_ref()?.peer(id)
    }
}
