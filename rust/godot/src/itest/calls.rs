//! Calls in every state with hostile arguments, and signal handlers and validators that call
//! back into the object emitting them: the engine's return codes and states, never a panic.

use std::cell::Cell;
use std::rc::Rc;

use godot::global::Error;
use godot::prelude::*;

use super::{call, call_err, itests, make, poll_until};

const STATE_OPEN: i64 = 1;
const STATE_CLOSED: i64 = 3;
const DISCONNECTED: i64 = 0;
const CONNECTED: i64 = 2;

fn args(values: &[&dyn ToVariantDyn]) -> Vec<Variant> {
    values.iter().map(|v| v.variant()).collect()
}

/// `ToGodot` values of mixed types in one slice.
trait ToVariantDyn {
    fn variant(&self) -> Variant;
}
impl<T: ToGodot> ToVariantDyn for T {
    fn variant(&self) -> Variant {
        self.to_variant()
    }
}

fn int(v: Variant) -> i64 {
    v.try_to().unwrap_or_else(|_| panic!("{v} is not an int"))
}

/// A `WebSocketServer` listening on 127.0.0.1 and its port.
fn server() -> (Variant, i64) {
    let server = make("WebSocketServer");
    assert_eq!(call_err(&server, "listen", &args(&[&0, &"127.0.0.1"])), Error::OK);
    let port = int(call(&server, "get_local_port", &[]));
    (server, port)
}

/// A `RustWebSocketPeer` connecting to `port` on 127.0.0.1.
fn client(port: i64) -> Variant {
    let peer = make("RustWebSocketPeer");
    let url = format!("ws://127.0.0.1:{port}/");
    assert_eq!(call_err(&peer, "connect_to_url", &args(&[&url])), Error::OK);
    peer
}

/// A handler that calls `method` on the object with id `id` (no reference kept: no cycle).
fn calls_back(id: InstanceId, method: &'static str, count: Rc<Cell<i32>>) -> Callable {
    Callable::from_fn(method, move |_| {
        count.set(count.get() + 1);
        if let Ok(obj) = Gd::<Object>::try_from_instance_id(id) {
            obj.to_variant().call(method, &[]);
        }
    })
}

fn instance_id(v: &Variant) -> InstanceId {
    v.to::<Gd<Object>>().instance_id()
}

itests! {
    /// A peer new, connecting, open and a server's: the engine's codes for hostile arguments.
    fn peer_calls_in_every_state() {
        let peer = make("RustWebSocketPeer");
        assert_eq!(int(call(&peer, "get_ready_state", &[])), STATE_CLOSED);
        assert_eq!(call_err(&peer, "send_text", &args(&[&"x"])), Error::FAILED);
        for url in ["", "ws://127.0.0.1:1/\r\nX: y", "ftp://127.0.0.1/", "ws://[::1"] {
            assert_eq!(call_err(&peer, "connect_to_url", &args(&[&url])), Error::ERR_INVALID_PARAMETER, "{url:?}");
        }
        assert_eq!(call_err(&peer, "accept_stream", &[Variant::nil()]), Error::ERR_INVALID_PARAMETER);
        for code in [i64::MAX, i64::MIN, 65536, 1014, 0, -1] {
            call(&peer, "close", &args(&[&code, &"x".repeat(200)]));
        }
        let (server, port) = server();
        let peer = client(port);
        assert_eq!(call_err(&peer, "connect_to_url", &args(&[&"ws://127.0.0.1:1/"])), Error::ERR_ALREADY_IN_USE);
        // With the I/O threads the client may open before the server's poll emitted the client.
        poll_until(&[&server, &peer], "the client to open and be the server's", 5.0, || {
            int(call(&peer, "get_ready_state", &[])) == STATE_OPEN
                && !call(&server, "get_peer_ids", &[]).to::<PackedInt64Array>().is_empty()
        });
        assert_eq!(call_err(&peer, "send_text", &args(&[&"hi"])), Error::OK);
        // A peer's settings are its connection's: a smaller cap applies at once.
        call(&peer, "set", &args(&[&"outbound_buffer_size", &1]));
        let big = PackedByteArray::from(vec![0u8; 1024]);
        assert_eq!(call_err(&peer, "send", &[big.to_variant()]), Error::ERR_OUT_OF_MEMORY);
        call(&peer, "set", &args(&[&"outbound_buffer_size", &0]));
        assert_eq!(call_err(&peer, "send", &[big.to_variant()]), Error::OK);
        let ids: PackedInt64Array = call(&server, "get_peer_ids", &[]).to();
        assert_eq!(ids.len(), 1, "one client");
        let theirs = call(&server, "get_peer", &[ids[0].to_variant()]);
        assert_eq!(call_err(&theirs, "connect_to_url", &args(&[&"ws://127.0.0.1:1/"])), Error::ERR_UNAVAILABLE);
        assert_eq!(call_err(&theirs, "accept_stream", &[Variant::nil()]), Error::ERR_UNAVAILABLE);
        call(&peer, "close", &args(&[&1000, &""]));
        poll_until(&[&server, &peer], "the client to close", 5.0, || int(call(&peer, "get_ready_state", &[])) == STATE_CLOSED);
        call(&server, "stop", &[]);
    }

    /// `WebSocketServer` stopped and listening: bad ports and addresses, unknown ids.
    fn server_calls_in_every_state() {
        let server = make("WebSocketServer");
        for port in [-1, 65536, 70000, i64::MAX, i64::MIN] {
            assert_eq!(call_err(&server, "listen", &args(&[&port, &"127.0.0.1"])), Error::ERR_INVALID_PARAMETER, "{port}");
        }
        for address in ["nope", "127.0.0.1\r\n", "::g", "256.0.0.1"] {
            assert_eq!(call_err(&server, "listen", &args(&[&0, &address])), Error::ERR_INVALID_PARAMETER, "{address:?}");
        }
        assert!(!call(&server, "is_listening", &[]).to::<bool>());
        for id in [-1, 0, i64::MAX, i64::MIN, 1 << 32] {
            assert!(call(&server, "get_peer", &[id.to_variant()]).is_nil(), "get_peer({id})");
            assert!(!call(&server, "has_peer", &[id.to_variant()]).to::<bool>(), "has_peer({id})");
            assert_eq!(call(&server, "get_peer_address", &[id.to_variant()]), GString::new().to_variant());
            assert_eq!(int(call(&server, "get_peer_port", &[id.to_variant()])), 0);
            call(&server, "disconnect_peer", &args(&[&id, &i64::MAX, &""]));
        }
        assert_eq!(call_err(&server, "broadcast_text", &args(&[&"x", &i64::MIN])), Error::OK);
        call(&server, "stop", &[]);
        assert_eq!(call_err(&server, "listen", &args(&[&0, &"127.0.0.1"])), Error::OK);
        assert_eq!(call_err(&server, "listen", &args(&[&0, &"127.0.0.1"])), Error::ERR_ALREADY_IN_USE);
        assert!(int(call(&server, "get_local_port", &[])) > 0);
        call(&server, "stop", &[]);
        call(&server, "stop", &[]);
        assert_eq!(int(call(&server, "get_local_port", &[])), 0);
    }

    /// `RustWebSocketMultiplayerPeer` new and serving: bad ports and URLs, unknown peers.
    fn multiplayer_calls_in_every_state() {
        let mp = make("RustWebSocketMultiplayerPeer");
        for port in [-1, 65536, i64::MIN] {
            assert_eq!(call_err(&mp, "create_server", &args(&[&port, &"127.0.0.1"])), Error::ERR_INVALID_PARAMETER);
        }
        assert_eq!(call_err(&mp, "create_client", &args(&[&"ws://127.0.0.1:1/\r\nX: y"])), Error::ERR_INVALID_PARAMETER);
        assert_eq!(int(call(&mp, "get_connection_status", &[])), DISCONNECTED);
        for id in [0, 1, -1, i64::MAX, i64::MIN] {
            assert!(call(&mp, "get_peer", &[id.to_variant()]).is_nil(), "get_peer({id})");
            assert_eq!(call(&mp, "get_peer_address", &[id.to_variant()]), GString::new().to_variant());
            assert_eq!(int(call(&mp, "get_peer_port", &[id.to_variant()])), 0);
        }
        assert_eq!(call_err(&mp, "create_server", &args(&[&0, &"127.0.0.1"])), Error::OK);
        assert_eq!(int(call(&mp, "get_connection_status", &[])), CONNECTED);
        assert_eq!(int(call(&mp, "get_unique_id", &[])), 1);
        assert_eq!(call_err(&mp, "create_client", &args(&[&"ws://127.0.0.1:1/"])), Error::ERR_ALREADY_IN_USE);
        assert_eq!(call_err(&mp, "create_server", &args(&[&0, &"127.0.0.1"])), Error::ERR_ALREADY_IN_USE);
        call(&mp, "disconnect_peer", &args(&[&12345, &true]));
        call(&mp, "close", &[]);
        assert_eq!(int(call(&mp, "get_connection_status", &[])), DISCONNECTED);
    }

    /// A `data_received` handler stops the server emitting it: the client is closed with 1001,
    /// `client_disconnected` comes once.
    fn a_signal_handler_may_stop_the_server() {
        let (server, port) = server();
        let stops = Rc::new(Cell::new(0));
        let disconnects = Rc::new(Cell::new(0));
        let counter = disconnects.clone();
        let on_disconnect = Callable::from_fn("count", move |_| counter.set(counter.get() + 1));
        call(&server, "connect", &args(&[&"data_received", &calls_back(instance_id(&server), "stop", stops.clone())]));
        call(&server, "connect", &args(&[&"client_disconnected", &on_disconnect]));
        let peer = client(port);
        poll_until(&[&server, &peer], "the client to open", 5.0, || int(call(&peer, "get_ready_state", &[])) == STATE_OPEN);
        assert_eq!(call_err(&peer, "send_text", &args(&[&"stop"])), Error::OK);
        poll_until(&[&server, &peer], "the handler to stop the server", 5.0, || stops.get() > 0);
        assert!(!call(&server, "is_listening", &[]).to::<bool>());
        poll_until(&[&peer], "the client to close", 10.0, || int(call(&peer, "get_ready_state", &[])) == STATE_CLOSED);
        assert_eq!(int(call(&peer, "get_close_code", &[])), 1001);
        assert_eq!((stops.get(), disconnects.get()), (1, 1));
    }

    /// A `request_validator` that calls back into its server and returns junk: the client is
    /// refused (never opens), the server goes on.
    fn a_request_validator_may_reenter_and_return_junk() {
        let (server, port) = server();
        let id = instance_id(&server);
        let asked = Rc::new(Cell::new(0));
        let count = asked.clone();
        let validator = Callable::from_fn("junk", move |_| {
            count.set(count.get() + 1);
            let server = Gd::<Object>::from_instance_id(id).to_variant();
            server.call("get_peer_ids", &[]);
            server.call("poll", &[]);
            server.call("set", &["max_peers".to_variant(), (-1i64).to_variant()]);
            "junk"
        });
        call(&server, "set", &args(&[&"request_validator", &validator]));
        let peer = client(port);
        poll_until(&[&server, &peer], "the client to be refused", 5.0, || int(call(&peer, "get_ready_state", &[])) == STATE_CLOSED);
        assert_eq!(asked.get(), 1);
        assert_eq!(int(call(&peer, "get_close_code", &[])), -1);
        let ids: PackedInt64Array = call(&server, "get_peer_ids", &[]).to();
        assert!(ids.is_empty());
        assert!(call(&server, "is_listening", &[]).to::<bool>());
        call(&server, "set", &args(&[&"request_validator", &Callable::invalid()]));
        call(&server, "stop", &[]);
    }

    /// A `peer_connected` handler closes the multiplayer server emitting it: nothing more is
    /// emitted for the closed session, and the client ends disconnected.
    fn a_multiplayer_handler_may_close_its_session() {
        let host = make("RustWebSocketMultiplayerPeer");
        assert_eq!(call_err(&host, "create_server", &args(&[&0, &"127.0.0.1"])), Error::OK);
        let port = int(call(&host, "get_local_port", &[]));
        let closes = Rc::new(Cell::new(0));
        call(&host, "connect", &args(&[&"peer_connected", &calls_back(instance_id(&host), "close", closes.clone())]));
        let guest = make("RustWebSocketMultiplayerPeer");
        let url = format!("ws://127.0.0.1:{port}/");
        assert_eq!(call_err(&guest, "create_client", &args(&[&url])), Error::OK);
        poll_until(&[&host, &guest], "the handler to close the server", 5.0, || closes.get() > 0);
        assert_eq!(int(call(&host, "get_connection_status", &[])), DISCONNECTED);
        poll_until(&[&guest], "the client to end", 10.0, || int(call(&guest, "get_connection_status", &[])) == DISCONNECTED);
        assert_eq!(closes.get(), 1);
        call(&guest, "close", &[]);
    }

    /// Settings changed while serving apply to the clients accepted afterwards (the servers'
    /// apply hook): a protocol list, then `max_peers` 0 (HTTP 503).
    fn a_serving_class_applies_changed_settings() {
        let (server, port) = server();
        let protocol = Rc::new(std::cell::RefCell::new(String::new()));
        let seen = protocol.clone();
        let on_connect = Callable::from_fn("protocol", move |a| *seen.borrow_mut() = a[1].to_string());
        call(&server, "connect", &args(&[&"client_connected", &on_connect]));
        call(&server, "set", &args(&[&"supported_protocols", &PackedStringArray::from(&[GString::from("chat")])]));
        let peer = make("RustWebSocketPeer");
        call(&peer, "set", &args(&[&"supported_protocols", &PackedStringArray::from(&[GString::from("chat")])]));
        let url = format!("ws://127.0.0.1:{port}/");
        assert_eq!(call_err(&peer, "connect_to_url", &args(&[&url])), Error::OK);
        poll_until(&[&server, &peer], "the client to open", 5.0, || int(call(&peer, "get_ready_state", &[])) == STATE_OPEN);
        assert_eq!(call(&peer, "get_selected_protocol", &[]), GString::from("chat").to_variant());
        poll_until(&[&server], "client_connected", 5.0, || !protocol.borrow().is_empty());
        assert_eq!(*protocol.borrow(), "chat");
        call(&server, "set", &args(&[&"max_peers", &0]));
        let refused = client(port);
        poll_until(&[&server, &refused], "the client to be refused", 5.0, || int(call(&refused, "get_ready_state", &[])) == STATE_CLOSED);
        assert_eq!(call(&server, "get_peer_ids", &[]).to::<PackedInt64Array>().len(), 1);
        call(&server, "stop", &[]);

        let host = make("RustWebSocketMultiplayerPeer");
        assert_eq!(call_err(&host, "create_server", &args(&[&0, &"127.0.0.1"])), Error::OK);
        call(&host, "set", &args(&[&"max_peers", &0]));
        let guest = make("RustWebSocketMultiplayerPeer");
        let url = format!("ws://127.0.0.1:{}/", int(call(&host, "get_local_port", &[])));
        assert_eq!(call_err(&guest, "create_client", &args(&[&url])), Error::OK);
        poll_until(&[&host, &guest], "the guest to be refused", 5.0, || int(call(&guest, "get_connection_status", &[])) == DISCONNECTED);
        call(&host, "close", &[]);
    }
}
