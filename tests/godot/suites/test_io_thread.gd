extends TestSuite
## The `io_thread` property of the three classes, set explicitly here (the other suites run
## whole in both modes, `cargo xtask test` flipping the default with RUST_WEBSOCKET_IO_THREAD=1):
## what the thread does while the game's frame is stuck, and what it must not change.


func _server(io_thread: bool) -> WebSocketServer:
	var server := WebSocketServer.new()
	server.io_thread = io_thread
	check_eq(server.listen(0, "127.0.0.1"), OK, "listen")
	pollables.append(server)
	return server


func _client(server: WebSocketServer, io_thread: bool, heartbeat := 0.0) -> RustWebSocketPeer:
	var c := RustWebSocketPeer.new()
	c.io_thread = io_thread
	c.heartbeat_interval = heartbeat
	check_eq(c.connect_to_url("ws://127.0.0.1:%d/" % server.get_local_port()), OK, "connect_to_url")
	pollables.append(c)
	return c


## A frame of the server's game that takes 1.5 s (a scene load): the client, on its own thread
## (a remote player whose game goes on), pings every 200 ms and drops the connection when a pong
## is late. With the server on its thread, pings and pongs go on and the message sent before the
## stall arrives; without, the stalled server answers nothing and the client gives up.
func test_heartbeats_go_on_while_the_frame_is_stuck() -> void:
	for threaded in [true, false]:
		var server := _server(threaded)
		var got := []
		var weak: WeakRef = weakref(server)  # a handler holding the server would keep it alive
		server.data_received.connect(func(id): got.append(weak.get_ref().get_peer(id).get_packet().get_string_from_utf8()))
		var client := _client(server, true, 0.2)
		if not await wait_until(func(): return client.get_ready_state() == 1 and server.get_peer_ids().size() == 1, "open"):
			return
		client.send_text("before the stall")
		OS.delay_msec(1500)
		await wait_until(func(): return got.size() == 1 or client.get_ready_state() == 3, "the message, or the end")
		if threaded:
			check_eq(client.get_ready_state(), 1, "io_thread: still open after the long frame")
			check_eq(got, ["before the stall"], "io_thread: the message sent before the stall arrived")
		else:
			await wait_until(func(): return client.get_ready_state() == 3, "main-thread path: the client gives up")
			check_eq(client.get_close_code(), -1, "main-thread path: dropped for a late pong")
		client.close()
		server.stop()


## The thread changes when networking happens, not what the game sees: a message is readable
## when its signal comes (never before, and never a signal with nothing to read), in order, and
## the peer's own close shows at once.
func test_the_game_sees_the_same_signals_in_the_same_order() -> void:
	var server := _server(true)
	check(server.io_thread, "io_thread set")
	var log := []
	server.client_connected.connect(func(id, _p): log.append("connected"))
	var counts := []
	var weak: WeakRef = weakref(server)  # a handler holding the server would keep it alive
	server.data_received.connect(func(id):
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		counts.append(peer.get_available_packet_count())
		log.append(peer.get_packet().get_string_from_utf8()))
	server.client_disconnected.connect(func(id, clean): log.append("disconnected %s" % clean))
	var client := _client(server, true)
	if not await wait_until(func(): return client.get_ready_state() == 1, "open"):
		return
	for i in 5:
		client.send_text(str(i))
	client.close(1000, "bye")
	check_eq(client.get_ready_state(), 2, "close() shows CLOSING at once")
	await wait_until(func(): return log.has("disconnected true"), "disconnected")
	check_eq(log, ["connected", "0", "1", "2", "3", "4", "disconnected true"], "every message, in order, between connected and disconnected")
	check(counts.all(func(n): return n >= 1), "a message to read at every data_received: %s" % [counts])
	await wait_until(func(): return client.get_ready_state() == 3, "client closed")
	check_eq(client.get_close_code(), 1000, "close code")


## The multiplayer peer on its thread, both ends: RPC traffic as usual.
func test_multiplayer_peers_on_their_thread() -> void:
	var server := RustWebSocketMultiplayerPeer.new()
	server.io_thread = true
	check_eq(server.create_server(0, "127.0.0.1"), OK, "create_server")
	var client := RustWebSocketMultiplayerPeer.new()
	client.io_thread = true
	check_eq(client.create_client("ws://127.0.0.1:%d/" % server.get_local_port()), OK, "create_client")
	var both := func(): server.poll(); client.poll()
	if not await wait_until(func(): both.call(); return client.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, "client connected"):
		return
	client.set_target_peer(1)
	client.put_packet("ping".to_utf8_buffer())
	await wait_until(func(): both.call(); return server.get_available_packet_count() == 1, "server got the packet")
	check_eq(server.get_packet_peer(), client.get_unique_id(), "from the client")
	check_eq(server.get_packet().get_string_from_utf8(), "ping", "the packet")
	client.close()
	server.close()
