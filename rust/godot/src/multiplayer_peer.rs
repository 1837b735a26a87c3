//! `RustWebSocketMultiplayerPeer`: the engine's `WebSocketMultiplayerPeer` over the core's
//! multiplayer protocol ([`MpServer`] over the same `Server` as `WebSocketServer`, [`MpClient`]
//! over one `Connection`).

use std::collections::HashMap;

use std::time::Instant;

use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{IMultiplayerPeerExtension, MultiplayerPeerExtension};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use rust_websocket_core::connection::Packet;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::multiplayer::{MpClient, MpSendError, MpServer, MpStatus, Target, SERVER_ID};
use rust_websocket_core::Connection;

use crate::client;
use crate::convert::{self, OptionalTls};
use crate::hosting::{self, Hosting};
use crate::peer::{Owner, RustWebSocketPeer};
use crate::settings;

mod session;

const CLASS: &str = "RustWebSocketMultiplayerPeer";

enum Session {
    None,
    Server(Box<MpServer>),
    Client(MpClient),
}

settings::class! { multiplayer;
/// A [MultiplayerPeer] over WebSocket, wire-compatible with the engine's
/// [WebSocketMultiplayerPeer]: set it as [member MultiplayerAPI.multiplayer_peer] and use RPCs.
/// Our server serves the engine's clients (desktop, mobile and Web exports) and ours alike, and
/// our client joins the engine's server.
///
/// The protocol (Godot 4.x): one WebSocket per client, to the server, which is peer 1. When a
/// client's WebSocket opens, the server sends it its id, in [2, 2147483647], as the first
/// message: 4 bytes, little-endian int32; [signal MultiplayerPeer.peer_connected] follows. The
/// client stays [constant MultiplayerPeer.CONNECTION_CONNECTING] until that message arrives (a
/// malformed one closes it with 1002). Every later message is one packet, without a header, in a
/// binary frame; packets report channel 0 and mode reliable. Relaying between clients is done by
/// [SceneMultiplayer] ([member SceneMultiplayer.server_relay]), not by the peer.
///
/// What the engine's class lacks: [member request_validator] (accept or refuse a joining client
/// by its URL, headers or token before the upgrade, with an HTTP error), [member max_peers]
/// (HTTP 503 beyond), [member heartbeat_interval], a large accept backlog and readiness-driven
/// polling (thousands of clients cost nothing per frame while idle), ids checked against ids in
/// use, [method get_local_port], HTTP errors for bad upgrades, a client that gives up when the
/// id does not arrive within [member handshake_timeout], close frames (1001) when the server
/// closes, and [signal MultiplayerPeer.peer_disconnected] only after the peer's last packets
/// were read (the engine loses them), also after `disconnect_peer(id, true)` (the engine emits
/// nothing then, leaving the peer in [SceneMultiplayer], godot#108716). Not available in Web
/// exports (a browser gives a page no TCP sockets, so the addon has no Web library): use the
/// engine's class there, which uses the browser's WebSocket (see the addon's `rust_websocket.gd`
/// helper).
#[derive(GodotClass)]
#[class(tool, base = MultiplayerPeerExtension)]
pub struct RustWebSocketMultiplayerPeer {
    session: Session,
    hosting: Hosting,
    /// Peer objects handed out by `get_peer`, one per peer while it is in the session.
    peer_objects: HashMap<u32, Gd<RustWebSocketPeer>>,
    target: Target,
    transfer_mode: TransferMode,
    transfer_channel: i32,
    refuse_new: bool,
    /// The packet most recently popped; its buffer must outlive `get_packet_rawptr`.
    current: Option<Packet>,
    /// Counts sessions, so that signals of one are never emitted into the next (a handler may
    /// close this peer and start another session).
    generation: u64,

    // settings::class! adds a property per setting (settings.rs).
    base: Base<MultiplayerPeerExtension>,
}
}

#[godot_api]
impl IMultiplayerPeerExtension for RustWebSocketMultiplayerPeer {
    fn init(base: Base<MultiplayerPeerExtension>) -> Self {
        crate::monitors::ensure_registered();
        let mut this = settings::new!(
            multiplayer,
            Self {
                session: Session::None,
                hosting: Hosting::default(),
                peer_objects: HashMap::new(),
                target: Target::All,
                transfer_mode: TransferMode::RELIABLE,
                transfer_channel: 0,
                refuse_new: false,
                current: None,
                generation: 0,
                base,
            }
        );
        this.apply_defaults();
        this
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        if self.status() != ConnectionStatus::CONNECTED {
            return Error::ERR_UNCONFIGURED;
        }
        let popped = match &mut self.session {
            Session::Server(server) => server.pop(),
            Session::Client(client) => client.pop(),
            Session::None => None,
        };
        let Some(popped) = popped else { return Error::ERR_UNAVAILABLE };
        // SAFETY: Godot passes valid out-pointers.
        unsafe { convert::packet_out(popped.packet, &mut self.current, r_buffer, r_buffer_size) }
    }

    unsafe fn put_packet_rawptr(&mut self, p_buffer: RawPtr<*const u8>, p_buffer_size: i32) -> Error {
        // SAFETY: Godot passes a buffer of `p_buffer_size` bytes, valid for this call.
        let data = match unsafe { convert::packet_in(CLASS, p_buffer, p_buffer_size) } {
            Ok(data) => data,
            Err(e) => return e,
        };
        let now = Instant::now();
        let sent = match &mut self.session {
            Session::Server(server) => server.send(self.target, data, now),
            Session::Client(client) => client.send(data, now),
            Session::None => Err(MpSendError::NotConnected),
        };
        match sent {
            Ok(()) => Error::OK,
            Err(MpSendError::NotConnected) => Error::ERR_UNCONFIGURED,
            Err(MpSendError::NoPeer(id)) => {
                godot_error!("{CLASS}: no peer with id {id}");
                Error::ERR_INVALID_PARAMETER
            }
            Err(MpSendError::Send(e)) => convert::send_error(e),
        }
    }

    fn get_available_packet_count(&self) -> i32 {
        let n = match &self.session {
            Session::Server(server) => server.available(),
            Session::Client(client) => client.available(),
            Session::None => 0,
        };
        i32::try_from(n).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        let cap = match &self.session {
            // A client's connection keeps the settings it started with.
            Session::Client(client) => client.connection().borrow().config().outbound_buffer_size,
            _ => self.hosting.config.outbound_buffer_size,
        };
        cap.map_or(i32::MAX, |c| i32::try_from(c).unwrap_or(i32::MAX))
    }

    fn get_packet_channel(&self) -> i32 {
        0
    }

    fn get_packet_mode(&self) -> TransferMode {
        TransferMode::RELIABLE
    }

    fn set_transfer_channel(&mut self, channel: i32) {
        self.transfer_channel = channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.transfer_mode = mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, peer: i32) {
        self.target = convert::target(peer);
    }

    fn get_packet_peer(&self) -> i32 {
        match &self.session {
            Session::Server(server) => server.next_sender().map_or(SERVER_ID as i32, |id| id as i32),
            _ => SERVER_ID as i32,
        }
    }

    fn is_server(&self) -> bool {
        matches!(self.session, Session::Server(_))
    }

    fn poll(&mut self) {
        let now = Instant::now();
        let events = match &mut self.session {
            Session::Server(server) => server.poll(now),
            Session::Client(client) => client.poll(now),
            Session::None => return,
        };
        hosting::emit_all(self, events);
    }

    fn close(&mut self) {
        let now = Instant::now();
        match std::mem::replace(&mut self.session, Session::None) {
            Session::Server(mut server) => server.stop(now),
            Session::Client(mut client) => client.close(now),
            Session::None => {}
        }
        self.current = None;
        self.peer_objects.clear();
    }

    fn disconnect_peer(&mut self, peer: i32, force: bool) {
        let now = Instant::now();
        let found = match (&mut self.session, u32::try_from(peer)) {
            (Session::Server(server), Ok(id)) => server.disconnect_peer(id, force, now),
            (Session::Client(client), Ok(SERVER_ID)) => {
                client.disconnect(force, now);
                true
            }
            _ => false,
        };
        if !found {
            godot_error!("{CLASS}: disconnect_peer({peer}): no such peer");
        }
    }

    fn get_unique_id(&self) -> i32 {
        match &self.session {
            Session::Server(_) => SERVER_ID as i32,
            Session::Client(client) => client.id().map_or(0, |id| id as i32),
            Session::None => 0,
        }
    }

    fn set_refuse_new_connections(&mut self, enable: bool) {
        self.refuse_new = enable;
        if let Session::Server(server) = &mut self.session {
            server.refuse_new = enable;
        }
    }

    fn is_refusing_new_connections(&self) -> bool {
        self.refuse_new
    }

    fn is_server_relay_supported(&self) -> bool {
        true
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        self.status()
    }
}

settings::api! { multiplayer;
    #[godot_api]
    impl RustWebSocketMultiplayerPeer {
        /// Starts a server on `port` (0 picks a free one, see [method get_local_port]) at
        /// `bind_address` (`"*"`, every interface, IPv4 and IPv6 clients alike, or an IP address);
        /// with `tls_server_options` from
        /// [method TLSOptions.server] clients connect with `wss://`. The server is peer 1 and
        /// [constant MultiplayerPeer.CONNECTION_CONNECTED] at once. Returns `ERR_ALREADY_IN_USE`
        /// unless disconnected, `ERR_INVALID_PARAMETER` for a bad port, address or TLS options,
        /// `ERR_CANT_CREATE` when the port cannot be bound.
        #[func]
        fn create_server(
            &mut self,
            port: i64,
            #[opt(default = "*")] bind_address: GString,
            #[opt(default = OptionalTls::none())] tls_server_options: OptionalTls,
        ) -> Error {
            if self.status() != ConnectionStatus::DISCONNECTED {
                godot_error!("{CLASS}: already in use; call close() first");
                return Error::ERR_ALREADY_IN_USE;
            }
            match self.hosting.listen(CLASS, port, &bind_address, &tls_server_options) {
                Ok(server) => {
                    let mut session = MpServer::new(server);
                    session.refuse_new = self.refuse_new;
                    self.begin(Session::Server(Box::new(session)));
                    Error::OK
                }
                Err(e) => e,
            }
        }

        /// Joins the server at `url` (`ws://` or `wss://`; `tls_client_options` default to
        /// [method TLSOptions.client], which trusts what the engine trusts: see
        /// [RustWebSocketPeer]). The status is [constant MultiplayerPeer.CONNECTION_CONNECTING]
        /// until the server's id arrives. Returns `ERR_ALREADY_IN_USE` unless disconnected and
        /// `ERR_INVALID_PARAMETER` for a bad URL or TLS options.
        #[func]
        fn create_client(
            &mut self,
            url: GString,
            #[opt(default = OptionalTls::none())] tls_client_options: OptionalTls,
        ) -> Error {
            if self.status() != ConnectionStatus::DISCONNECTED {
                godot_error!("{CLASS}: already in use; call close() first");
                return Error::ERR_ALREADY_IN_USE;
            }
            let mut conn = Connection::new(self.hosting.config.clone());
            let started = client::start(CLASS, &mut conn, &url, &tls_client_options);
            if started == Error::OK {
                let mut session = MpClient::new(SharedConnection::new(conn), Instant::now());
                if self.hosting.io_thread {
                    if let Err(e) = session.start_io_thread() {
                        godot_warn!("{CLASS}: could not start the I/O thread ({e}); networking runs in poll() instead");
                    }
                }
                self.begin(Session::Client(session));
            }
            started
        }

        /// The connection to peer `peer_id` as a [RustWebSocketPeer] (a client's only peer is 1,
        /// the server, also while connecting), or null with an error. It shows the connection and can send on it; its
        /// packets are read through this multiplayer peer. The same object is returned for a peer
        /// as long as it is in the session.
        #[func]
        fn get_peer(&mut self, peer_id: i64) -> Option<Gd<RustWebSocketPeer>> {
            let Ok(id) = u32::try_from(peer_id) else {
                godot_error!("{CLASS}: no peer with id {peer_id}");
                return None;
            };
            if let Some(peer) = self.peer_objects.get(&id) {
                return Some(peer.clone());
            }
            let conn = match &self.session {
                Session::Server(server) => server.peer(id).cloned(),
                Session::Client(client) if id == SERVER_ID && client.status() != MpStatus::Disconnected => {
                Some(client.connection().clone())
            }
                _ => None,
            };
            let Some(conn) = conn else {
                godot_error!("{CLASS}: no peer with id {peer_id}");
                return None;
            };
            let peer = RustWebSocketPeer::driven_by(conn, Owner::Multiplayer);
            self.peer_objects.insert(id, peer.clone());
            Some(peer)
        }

        /// The IP address of peer `id`, or `""` with an error.
        #[func]
        fn get_peer_address(&self, id: i64) -> GString {
            hosting::peer_address(self, id)
        }

        /// The TCP port of peer `id`, or 0 with an error.
        #[func]
        fn get_peer_port(&self, id: i64) -> i64 {
            hosting::peer_port(self, id)
        }

        /// Server: the port listened on (useful after `create_server(0)`), or 0.
        #[func]
        fn get_local_port(&self) -> i64 {
            match &self.session {
                Session::Server(server) => server.server().local_addr().port().into(),
                _ => 0,
            }
        }
    }
}
