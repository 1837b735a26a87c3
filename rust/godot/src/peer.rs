//! `RustWebSocketPeer`: the engine's `WebSocketPeer` API over a core [`Connection`].

use std::time::Instant;

use godot::classes::{IPacketPeerExtension, PacketPeerExtension, StreamPeer};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;
use rust_websocket_core::connection::Packet;
use rust_websocket_core::connection::SharedConnection;
use rust_websocket_core::io_thread::IoThread;
use rust_websocket_core::{Config, Connection, Event, ReadyState};

use crate::client;
use crate::convert::{self, CloseWith, OptionalTls};
use crate::enums::WriteMode;
use crate::settings;

const CLASS: &str = "RustWebSocketPeer";
use crate::stream_bridge::GodotStream;

settings::class! { peer;
/// A WebSocket connection with the same API as Godot's [WebSocketPeer], implemented in Rust
/// (our frame layer over mio, TLS by rustls).
///
/// Use it as a client with [method connect_to_url] and call [method poll] every frame; a
/// [WebSocketServer] hands out one per connected client through [method WebSocketServer.get_peer],
/// and [method accept_stream] serves a connection accepted with your own [TCPServer].
/// It is a [PacketPeer], so [method PacketPeer.get_packet], [method PacketPeer.put_packet],
/// [method PacketPeer.get_var] and [method PacketPeer.put_var] work as on any packet peer.
///
/// The name differs from the engine's because Godot already owns `WebSocketPeer`; methods,
/// properties, constants, defaults and return codes are the same, and a test suite compares both
/// classes scenario by scenario. Deliberate differences, where the engine (4.6) is wrong or
/// missing something:
/// - Messages received before or with the remote's close frame stay readable in
///   [constant STATE_CLOSING] and [constant STATE_CLOSED] (the engine drops them, godot#107442):
///   [method PacketPeer.get_available_packet_count] and [method PacketPeer.get_packet] work in
///   every state.
/// - [member handshake_timeout] (default 30 s) closes a connection that does not open in time;
///   the engine waits forever. A closing handshake that does not complete within 5 s (a remote
///   that never answers or never reads) is dropped with close code -1.
/// - A close frame without a status code reads as 1005 (RFC 6455), not 0.
/// - [member heartbeat_interval]: what arrived is read before the missing pong is checked, so a
///   pong that came during a long frame counts, and a close frame that came during it closes
///   with its code (the engine checks first and drops the connection with -1). When reading
///   stops early ([member inbound_buffer_size] or [member max_queued_packets] reached, or more
///   than 4 MiB waiting), a pong behind it does not count.
/// - Protocol violations the engine drops silently are failed with a close frame as RFC 6455
///   asks: 1002 for an oversized or fragmented control frame, 1007 for invalid UTF-8 in a text
///   message or close reason. Close frames are delivered before the socket closes.
/// - TLS is rustls (TLS 1.3 by default). What a client trusts is what the engine trusts:
///   with [method TLSOptions.client] without a chain (and no options), the certificates of the
///   project setting [code]network/tls/certificate_bundle_override[/code] when it is set, and
///   only those; else the OS certificate store as [method OS.get_system_ca_certificates] gives
///   it (so an enterprise or mkcert CA installed there is trusted); else, when that store is
///   empty or unusable, the bundled Mozilla list (with a warning). They are read at the first
///   such connection and kept for the process, as the engine keeps its own. A chain given to
///   [method TLSOptions.client] or [method TLSOptions.client_unsafe] replaces them: only it is
///   trusted. A certificate of the chain or the bundle is also trusted as it is, so
///   certificates made by [method Crypto.generate_self_signed_certificate] work; names are
///   checked against the subjectAltName, or the CN when there is none.
/// - Failures (refused connection, bad handshake, certificate errors) are reported with
///   [method @GlobalScope.push_warning] naming the cause.
/// - Values the engine takes blindly are checked: a URL with a control character (a line
///   break would add headers to the request), or [member handshake_headers] and
///   [member supported_protocols] entries with one, are refused with an error; spaces in a
///   URL's path are sent percent-encoded. A close code a close frame cannot carry gives an error
///   and the frame goes out without a status code. NaN, infinite or negative durations and
///   negative sizes are refused with an error and leave the property unchanged; durations are
///   capped at 1e9 s and [member inbound_buffer_size] at 2147483647 bytes (Godot's packet size).
/// - Not available on the Web platform: use the engine's [WebSocketPeer] there.
#[derive(GodotClass)]
#[class(tool, base = PacketPeerExtension)]
pub struct RustWebSocketPeer {
    conn: SharedConnection,
    /// Who polls the connection (see [`Owner`]).
    owner: Owner,
    /// The packet most recently popped; its buffer must outlive `get_packet_rawptr`.
    last: Option<Packet>,
    /// The thread driving a client connection (see [member io_thread]).
    io: Option<IoThread>,
    io_thread_enabled: bool,

    // settings::class! adds a property per setting (settings.rs).
    base: Base<PacketPeerExtension>,
}
}

mod info;
mod object;
pub use self::object::Owner;

#[godot_api]
impl IPacketPeerExtension for RustWebSocketPeer {
    fn init(base: Base<PacketPeerExtension>) -> Self {
        crate::monitors::ensure_registered();
        let conn = SharedConnection::new(Connection::new(crate::monitors::config()));
        let mut peer = Self::with_connection(conn, Owner::SelfPolled, base);
        peer.apply_defaults();
        peer
    }

    fn get_available_packet_count(&self) -> i32 {
        if self.owner == Owner::Multiplayer {
            return 0;
        }
        i32::try_from(self.conn.borrow().available()).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        let cap = self.conn.borrow().config().outbound_buffer_size;
        cap.map_or(i32::MAX, |c| i32::try_from(c).unwrap_or(i32::MAX))
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        if self.owner == Owner::Multiplayer {
            godot_error!("RustWebSocketPeer: read this peer's packets through its RustWebSocketMultiplayerPeer");
            return Error::ERR_UNAVAILABLE;
        }
        let popped = self.conn.borrow_mut().pop();
        let Some(packet) = popped else {
            // As the engine: FAILED unless open, ERR_UNAVAILABLE for an empty queue.
            return if self.state() == ReadyState::Open { Error::ERR_UNAVAILABLE } else { Error::FAILED };
        };
        // SAFETY: Godot passes valid out-pointers.
        unsafe { convert::packet_out(packet, &mut self.last, r_buffer, r_buffer_size) }
    }

    unsafe fn put_packet_rawptr(&mut self, p_buffer: RawPtr<*const u8>, p_buffer_size: i32) -> Error {
        // SAFETY: Godot passes a buffer of `p_buffer_size` bytes, valid for this call.
        match unsafe { convert::packet_in("RustWebSocketPeer", p_buffer, p_buffer_size) } {
            Ok(data) => self.send_bytes(data, false),
            Err(e) => e,
        }
    }
}

settings::api! { peer;
#[godot_api]
impl RustWebSocketPeer {
    /// Connects to `url` (`ws://` or `wss://`; no scheme means `ws://`). Returns `OK` at once:
    /// the name lookup, TCP connect, TLS and the upgrade happen in later [method poll] calls,
    /// never blocking. `tls_client_options` default to [method TLSOptions.client] (what it
    /// trusts: see the class description).
    /// Returns `ERR_INVALID_PARAMETER` for a bad URL or server TLS options, and
    /// `ERR_ALREADY_IN_USE` unless the peer is closed or closing.
    #[func]
    fn connect_to_url(
        &mut self,
        url: GString,
        #[opt(default = OptionalTls::none())] tls_client_options: OptionalTls,
    ) -> Error {
        if self.owner != Owner::SelfPolled {
            godot_error!(
                "RustWebSocketPeer: this peer is driven by its server or multiplayer peer and cannot connect elsewhere"
            );
            return Error::ERR_UNAVAILABLE;
        }
        self.last = None;
        // A previous connection's thread ends first: the new connection starts on this thread.
        self.io = None;
        let started = client::start("RustWebSocketPeer", &mut self.conn.borrow_mut(), &url, &tls_client_options);
        if started == Error::OK {
            self.io = client::io_thread(CLASS, &self.conn, self.io_thread_enabled);
        }
        started
    }

    /// Runs the server side of a connection the game accepted itself: `stream` is a
    /// [StreamPeerTCP] from [method TCPServer.take_connection], or a [StreamPeerTLS] over one
    /// (after [method StreamPeerTLS.accept_stream]). The HTTP upgrade and all traffic then go
    /// through [method poll]. Returns `ERR_INVALID_PARAMETER` for any other stream and
    /// `ERR_ALREADY_IN_USE` unless the peer is closed or closing.
    #[func]
    fn accept_stream(&mut self, stream: Option<Gd<StreamPeer>>) -> Error {
        if self.owner != Owner::SelfPolled {
            godot_error!(
                "RustWebSocketPeer: this peer is driven by its server or multiplayer peer and cannot accept a stream"
            );
            return Error::ERR_UNAVAILABLE;
        }
        let Some(stream) = stream else {
            godot_error!("RustWebSocketPeer: accept_stream() needs a stream");
            return Error::ERR_INVALID_PARAMETER;
        };
        let stream = match GodotStream::new(stream) {
            Ok(s) => s,
            Err(e) => {
                godot_error!("RustWebSocketPeer: {e}");
                return Error::ERR_INVALID_PARAMETER;
            }
        };
        self.last = None;
        self.io = None;
        let result = self.conn.borrow_mut().accept_stream(Box::new(stream), Instant::now());
        match result {
            Ok(()) => Error::OK,
            Err(e) => convert::connect_error(&e),
        }
    }

    /// Sends one message; `write_mode` picks a text or binary frame. Returns `FAILED` unless
    /// open, `ERR_OUT_OF_MEMORY` when [member outbound_buffer_size] or [member max_queued_packets]
    /// would be exceeded. Unlike [method PacketPeer.put_packet], it sends empty messages too.
    #[func]
    fn send(&mut self, message: PackedByteArray, #[opt(default = WriteMode::BINARY)] write_mode: WriteMode) -> Error {
        self.send_bytes(message.as_slice(), write_mode == WriteMode::TEXT)
    }

    /// Sends `message` as a UTF-8 text frame. Same return codes as [method send].
    #[func]
    fn send_text(&mut self, message: GString) -> Error {
        self.send_bytes(message.to_string().as_bytes(), true)
    }

    /// Whether the packet most recently returned by [method PacketPeer.get_packet] was text.
    #[func]
    fn was_string_packet(&self) -> bool {
        self.last.as_ref().is_some_and(|p| p.text)
    }

    /// Does the pending work: name lookup, connect, TLS, handshake, reads, writes, heartbeat
    /// and closing. Call it every frame. Peers of a [WebSocketServer] or a
    /// `RustWebSocketMultiplayerPeer` are polled by their owner; this does nothing for them.
    #[func]
    fn poll(&mut self) {
        if self.owner != Owner::SelfPolled {
            return;
        }
        let events = {
            let mut c = self.conn.borrow_mut();
            c.poll(Instant::now());
            c.take_events()
        };
        for e in events {
            if let Event::Warning(w) = e {
                godot_warn!("RustWebSocketPeer: {w}");
            }
        }
    }

    /// Starts closing: in [constant STATE_OPEN] sends a close frame with `code` and `reason`
    /// (at most 123 bytes) and moves to [constant STATE_CLOSING]; keep polling until
    /// [constant STATE_CLOSED]. A negative `code`, or a connection not yet open, closes at once
    /// without notifying the remote (close code -1). `0` sends a close frame without a status
    /// code, as the engine does. A code that a close frame cannot carry (only 1000–1003,
    /// 1007–1013 and 3000–4999; the engine sends others, e.g. 1014, which peers then refuse)
    /// gives an error and closes without a status code. A peer from
    /// [method RustWebSocketMultiplayerPeer.get_peer] is closed with
    /// [method MultiplayerPeer.disconnect_peer] instead.
    #[func]
    fn close(&mut self, #[opt(default = 1000)] code: i64, #[opt(default = "")] reason: GString) {
        if self.owner == Owner::Multiplayer {
            godot_error!("RustWebSocketPeer: close this peer with its multiplayer peer's disconnect_peer(id)");
            return;
        }
        let now = Instant::now();
        match convert::close_with("RustWebSocketPeer.close()", code) {
            CloseWith::Abort => self.conn.borrow_mut().abort(now),
            CloseWith::Frame(code) => self.conn.borrow_mut().close(code, &reason.to_string(), now),
        }
    }

    /// Turns TCP_NODELAY on or off (on by default, as in the engine).
    #[func]
    fn set_no_delay(&mut self, enabled: bool) {
        if !self.conn.borrow_mut().set_no_delay(enabled) {
            godot_error!("RustWebSocketPeer: set_no_delay() without a connection");
        }
    }
}
}

impl settings::Settings for RustWebSocketPeer {
    const CLASS: &'static str = CLASS;

    fn read_config<R>(&self, read: impl FnOnce(&Config) -> R) -> R {
        read(self.conn.borrow().config())
    }

    fn change_config(&mut self, change: impl FnOnce(&mut Config) -> bool) {
        change(self.conn.borrow_mut().config_mut());
    }

    fn read_io_thread<R>(&self, read: impl FnOnce(&bool) -> R) -> R {
        match self.owner {
            Owner::SelfPolled => read(&self.io_thread_enabled),
            // A server's or multiplayer peer's connection: whether its owner's thread drives it.
            _ => read(&self.conn.borrow().has_io_thread()),
        }
    }

    fn change_io_thread(&mut self, change: impl FnOnce(&mut bool) -> bool) {
        change(&mut self.io_thread_enabled);
    }
}
