extends TestSuite
## The addon's RustWebSocket helper (addons/rust_websocket/rust_websocket.gd), which lets one
## game script run on desktop (the extension's classes) and in Web exports (the engine's
## classes, since a browser gives a page no TCP sockets to run ours on): it returns our classes here,
## the engine's on its fallback path, and it still compiles and falls back when the extension's
## classes do not exist at all.

const HELPER_PATH := "res://addons/rust_websocket/rust_websocket.gd"


func test_native_classes_where_the_extension_is_loaded() -> void:
	check(RustWebSocket.is_native(), "is_native() is true with the extension loaded")
	var peer := RustWebSocket.new_peer()
	check_eq(peer.get_class(), "RustWebSocketPeer", "new_peer()")
	check(peer is PacketPeer, "new_peer() is a PacketPeer")
	var mp := RustWebSocket.new_multiplayer_peer()
	check_eq(mp.get_class(), "RustWebSocketMultiplayerPeer", "new_multiplayer_peer()")
	check(mp is MultiplayerPeer, "new_multiplayer_peer() is a MultiplayerPeer")
	check_eq(RustWebSocket.new_peer(true).get_class(), "RustWebSocketPeer", "new_peer(true)")
	check_eq(RustWebSocket.new_multiplayer_peer(true).get_class(), "RustWebSocketMultiplayerPeer", "new_multiplayer_peer(true)")


func test_fallback_returns_the_engine_classes() -> void:
	var peer := RustWebSocket.new_peer(false)
	check_eq(peer.get_class(), "WebSocketPeer", "new_peer(false)")
	check(peer is WebSocketPeer, "new_peer(false) is a WebSocketPeer")
	var mp := RustWebSocket.new_multiplayer_peer(false)
	check_eq(mp.get_class(), "WebSocketMultiplayerPeer", "new_multiplayer_peer(false)")
	check(mp is WebSocketMultiplayerPeer, "new_multiplayer_peer(false) is a WebSocketMultiplayerPeer")


## What a Web export sees: the helper's source with the extension's class names replaced by names
## that do not exist compiles, reports is_native() false, and its defaults give the engine's classes.
func test_without_the_extension_it_compiles_and_falls_back() -> void:
	var source := FileAccess.get_file_as_string(HELPER_PATH)
	check(source.contains("\"RustWebSocketPeer\"") and source.contains("\"RustWebSocketMultiplayerPeer\""), "the helper names the extension's classes in strings")
	# Drop class_name (the real helper already owns it) and hide the extension's classes.
	var absent := RegEx.create_from_string("(?m)^class_name .*$").sub(source, "")
	absent = absent.replace("RustWebSocketPeer", "AbsentPeer").replace("RustWebSocketMultiplayerPeer", "AbsentMultiplayerPeer")
	check(not absent.contains("\"RustWebSocketPeer\""), "the class names were replaced")
	var script := GDScript.new()
	script.source_code = absent
	if not check_eq(script.reload(), OK, "the helper compiles where the extension's classes do not exist"):
		return
	check_eq(script.call("is_native"), false, "is_native() without the extension")
	check_eq(script.call("new_peer").get_class(), "WebSocketPeer", "new_peer() without the extension")
	check_eq(script.call("new_multiplayer_peer").get_class(), "WebSocketMultiplayerPeer", "new_multiplayer_peer() without the extension")


## One client script, both answers of the helper: a text message echoed by our server, with the
## states compared against WebSocketPeer's constants, as a portable game script would.
func test_the_same_client_code_runs_with_either_peer() -> void:
	var server := echo_server()
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	for native in [true, false]:
		var what := "native" if native else "engine"
		var peer = RustWebSocket.new_peer(native)
		pollables.append(peer)
		check_eq(peer.connect_to_url(url), OK, what + ": connect_to_url")
		if not await wait_until(func(): return peer.get_ready_state() == WebSocketPeer.STATE_OPEN, what + ": open"):
			continue
		check_eq(peer.send_text("hello from " + what), OK, what + ": send_text")
		if await wait_until(func(): return peer.get_available_packet_count() > 0, what + ": echo"):
			check_eq(peer.get_packet().get_string_from_utf8(), "hello from " + what, what + ": echoed text")
			check(peer.was_string_packet(), what + ": echoed as text")
		peer.close(1000, "bye")
		if await wait_until(func(): return peer.get_ready_state() == WebSocketPeer.STATE_CLOSED, what + ": closed"):
			check_eq(peer.get_close_code(), 1000, what + ": close code")


## Both answers of new_multiplayer_peer() join our multiplayer server (bare peers, no
## SceneMultiplayer): CONNECTED with an id >= 2, and a packet each way.
func test_the_same_multiplayer_code_joins_our_server_with_either_peer() -> void:
	var server := RustWebSocket.new_multiplayer_peer()
	check_eq(server.create_server(0, "127.0.0.1"), OK, "create_server")
	pollables.append(server)
	var url := "ws://127.0.0.1:%d" % server.get_local_port()
	for native in [true, false]:
		var what := "native" if native else "engine"
		var client := RustWebSocket.new_multiplayer_peer(native)
		pollables.append(client)
		check_eq(client.create_client(url), OK, what + ": create_client")
		if not await wait_until(func(): return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, what + ": connected"):
			continue
		var id := client.get_unique_id()
		check(id >= 2, what + ": id >= 2, got %d" % id)
		client.set_target_peer(1)
		check_eq(client.put_packet(what.to_utf8_buffer()), OK, what + ": put_packet to the server")
		if await wait_until(func(): return server.get_available_packet_count() > 0, what + ": packet at the server"):
			check_eq(server.get_packet_peer(), id, what + ": sender")
			check_eq(server.get_packet().get_string_from_utf8(), what, what + ": packet")
		server.set_target_peer(id)
		check_eq(server.put_packet("ack".to_utf8_buffer()), OK, what + ": put_packet to the client")
		if await wait_until(func(): return client.get_available_packet_count() > 0, what + ": packet at the client"):
			check_eq(client.get_packet().get_string_from_utf8(), "ack", what + ": reply")
		client.close()
		pollables.erase(client)
