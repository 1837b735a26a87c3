class_name RustWebSocket
extends RefCounted
## Picks the WebSocket classes for the platform the game runs on, so one game script runs
## everywhere: godot-rust-websocket's native classes where the extension is loaded (desktop and
## mobile builds), the engine's own classes where it is not (Web exports: they can load
## GDExtensions, but a browser gives a page no TCP sockets, so the addon has no Web library; or a
## platform the addon ships no library for).
##
## [codeblock]
## var socket = RustWebSocket.new_peer()             # RustWebSocketPeer, or WebSocketPeer
## var peer = RustWebSocket.new_multiplayer_peer()   # RustWebSocketMultiplayerPeer, or WebSocketMultiplayerPeer
## peer.create_client("wss://game.example.com/lobby")
## multiplayer.multiplayer_peer = peer
## [/codeblock]
##
## Each pair has the same API, and both speak the same protocol, so a browser export joins a
## desktop or dedicated server running the native classes. Type variables with the common base
## class ([PacketPeer], [MultiplayerPeer]) or leave them untyped, and compare states with
## [WebSocketPeer]'s constants ([constant WebSocketPeer.STATE_OPEN] and so on), whose values the
## native peer shares. Nothing here names an extension class outside a string, so this script
## also compiles where the extension is missing.

## The native client class (has the API of [WebSocketPeer]).
const PEER_CLASS := "RustWebSocketPeer"
## The native multiplayer class (has the API of [WebSocketMultiplayerPeer]).
const MULTIPLAYER_PEER_CLASS := "RustWebSocketMultiplayerPeer"


## True where the extension is loaded, i.e. [method new_peer] and
## [method new_multiplayer_peer] return the native classes.
static func is_native() -> bool:
	return ClassDB.class_exists(PEER_CLASS) and ClassDB.class_exists(MULTIPLAYER_PEER_CLASS)


## A new WebSocket client: a [code]RustWebSocketPeer[/code] when [param native] (by default,
## where the extension is loaded), else the engine's [WebSocketPeer].
static func new_peer(native := is_native()) -> PacketPeer:
	return _make(PEER_CLASS) if native else WebSocketPeer.new()


## A new multiplayer peer (server or client): a [code]RustWebSocketMultiplayerPeer[/code] when
## [param native] (by default, where the extension is loaded), else the engine's
## [WebSocketMultiplayerPeer].
static func new_multiplayer_peer(native := is_native()) -> MultiplayerPeer:
	return _make(MULTIPLAYER_PEER_CLASS) if native else WebSocketMultiplayerPeer.new()


static func _make(native_class: String) -> Object:
	if not ClassDB.class_exists(native_class):
		push_error("RustWebSocket: %s does not exist here (the rust_websocket extension is not loaded)" % native_class)
		return null
	return ClassDB.instantiate(native_class)
