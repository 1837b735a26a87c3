//! What `RustWebSocketPeer` tells about its connection (close code and reason, addresses, state,
//! the request, the agreed protocol and extensions), in a secondary `#[godot_api]` block.

use godot::prelude::*;

use super::RustWebSocketPeer;
use crate::convert;
use crate::enums::State;

#[godot_api(secondary)]
impl RustWebSocketPeer {
    /// The close code: the one in the remote's close frame, the one this peer failed the
    /// connection with (1002 protocol error, 1009 message too big, …), or -1 when the
    /// connection did not close cleanly. Meaningful in [constant STATE_CLOSED].
    #[func]
    fn get_close_code(&self) -> i64 {
        convert::close_code_to_godot(self.conn.borrow().close_code())
    }

    /// The reason from the close frame (see [method get_close_code]).
    #[func]
    fn get_close_reason(&self) -> GString {
        GString::from(self.conn.borrow().close_reason())
    }

    /// The remote IP address; `""` (with an error) when there is no socket.
    #[func]
    fn get_connected_host(&self) -> GString {
        match self.conn.borrow().remote_addr() {
            Some(a) => GString::from(&a.ip().to_canonical().to_string()),
            None => {
                godot_error!("RustWebSocketPeer: get_connected_host() without a connection");
                GString::new()
            }
        }
    }

    /// The remote TCP port; `0` (with an error) when there is no socket.
    #[func]
    fn get_connected_port(&self) -> i64 {
        match self.conn.borrow().remote_addr() {
            Some(a) => a.port() as i64,
            None => {
                godot_error!("RustWebSocketPeer: get_connected_port() without a connection");
                0
            }
        }
    }

    /// Bytes of messages queued for sending and not yet written to the socket; 0 unless open.
    #[func]
    fn get_current_outbound_buffered_amount(&self) -> i64 {
        self.conn.borrow().buffered_amount() as i64
    }

    /// One of the `STATE_*` constants.
    #[func]
    fn get_ready_state(&self) -> State {
        self.state().into()
    }

    /// Client: the URL given to [method connect_to_url]. Server side: `ws://` or `wss://`, the
    /// `Host` header and the request target, query included.
    #[func]
    fn get_requested_url(&self) -> GString {
        GString::from(&self.conn.borrow().requested_url())
    }

    /// Server side (a peer of a [WebSocketServer], or after [method accept_stream]): the
    /// headers of the client's upgrade request, names in lower case, repeated headers joined
    /// with `","` (for example `origin`, `cookie`, `user-agent`, `authorization`). Empty on the
    /// client side. Read them in [signal WebSocketServer.client_connected] to accept the client
    /// or turn it away with [method WebSocketServer.disconnect_peer].
    #[func]
    fn get_request_headers(&self) -> Dictionary<GString, GString> {
        let mut dict = Dictionary::<GString, GString>::new();
        if let Some(req) = self.conn.borrow().request() {
            for (name, _) in &req.headers {
                let key = GString::from(&name.to_ascii_lowercase());
                if dict.contains_key(&key) {
                    continue; // repeated header: already joined
                }
                if let Some(value) = rust_websocket_core::handshake::header(&req.headers, name) {
                    dict.set(&key, &GString::from(&value));
                }
            }
        }
        dict
    }

    /// One request header by name (any case), or `""`. See [method get_request_headers].
    #[func]
    fn get_request_header(&self, name: GString) -> GString {
        let conn = self.conn.borrow();
        let value = conn.request().and_then(|r| rust_websocket_core::handshake::header(&r.headers, &name.to_string()));
        GString::from(&value.unwrap_or_default())
    }

    /// The subprotocol agreed during the handshake, or `""`.
    #[func]
    fn get_selected_protocol(&self) -> GString {
        GString::from(self.conn.borrow().selected_protocol())
    }

    /// The extensions agreed during the handshake, as the server's `Sec-WebSocket-Extensions`
    /// answer (for example `"permessage-deflate"`), or `""` when none was (see
    /// [member compression_enabled]).
    #[func]
    fn get_negotiated_extensions(&self) -> GString {
        GString::from(self.conn.borrow().negotiated_extensions())
    }
}
