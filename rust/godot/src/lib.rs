//! GDExtension entry point of godot-rust-websocket: registers `WebSocketServer` and
//! `RustWebSocketPeer`. Each class is a thin translation over `rust_websocket_core`.

use godot::prelude::*;

mod convert;
mod peer;
mod server;
mod stream_bridge;
mod tls_bridge;

struct RustWebSocketExtension;

#[gdextension(entry_symbol = rust_websocket_init)]
unsafe impl ExtensionLibrary for RustWebSocketExtension {}
