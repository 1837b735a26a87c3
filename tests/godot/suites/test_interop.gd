extends TestSuite
## The vertical slice: our server and peer against each other and against the engine's own
## WebSocketPeer, in both roles, over 127.0.0.1.


## Echo of text, binary and empty messages through `server`, then a clean close by the client
## with a code and reason that both sides must see.
func _echo_and_close(client, server: WebSocketServer) -> void:
	var log := []
	record(server, log)
	var url := "ws://127.0.0.1:%d/echo?x=1" % server.get_local_port()
	check_eq(client.connect_to_url(url), OK, "connect_to_url")
	check_eq(client.get_ready_state(), 0, "state right after connect_to_url (CONNECTING)")
	pollables.append(client)
	if not await wait_until(func(): return client.get_ready_state() == 1 and count(log, "connected") == 1, "open on both sides"):
		return
	var id: int = find(log, "connected")[1]
	check(id >= 2 and id <= 0x7FFFFFFF, "peer id %d in [2, 2^31-1]" % id)
	check_eq(find(log, "connected")[2], "", "no subprotocol")
	check_eq(server.get_peer(id).get_requested_url(), url, "server-side requested URL")
	check_eq(client.get_requested_url(), url, "client-side requested URL")
	check_eq(server.get_peer_address(id), "127.0.0.1", "peer address")

	check_eq(client.send_text("héllo wörld"), OK, "send_text")
	check_eq(client.put_packet(PackedByteArray([0, 1, 2, 255])), OK, "put_packet")
	check_eq(client.send(PackedByteArray(), 1), OK, "send empty binary")
	var big := PackedByteArray()
	big.resize(50000)
	for i in big.size():
		big[i] = i % 251
	check_eq(client.send(big, 1), OK, "send 50000 bytes")
	if not await wait_until(func(): return client.get_available_packet_count() == 4, "4 echoes"):
		return
	check_eq(client.get_packet().get_string_from_utf8(), "héllo wörld", "text echo")
	check(client.was_string_packet(), "text echo is a text frame")
	check_eq(client.get_packet(), PackedByteArray([0, 1, 2, 255]), "binary echo")
	check(not client.was_string_packet(), "binary echo is a binary frame")
	check_eq(client.get_packet(), PackedByteArray(), "empty echo")
	check_eq(client.get_packet(), big, "50000-byte echo")
	check_eq(count(log, "data"), 4, "data_received once per message")

	client.close(4000, "bye now")
	check_eq(client.get_ready_state(), 2, "CLOSING after close()")
	if not await wait_until(func(): return client.get_ready_state() == 3 and count(log, "disconnected") == 1, "closed on both sides"):
		return
	check_eq(client.get_close_code(), 4000, "client close code")
	check_eq(client.get_close_reason(), "bye now", "client close reason")
	check_eq(find(log, "close_request"), ["close_request", id, 4000, "bye now"], "client_close_request")
	check_eq(find(log, "disconnected"), ["disconnected", id, true], "client_disconnected clean")
	check(not server.has_peer(id), "peer removed after disconnect")


func test_our_peer_with_our_server() -> void:
	await _echo_and_close(RustWebSocketPeer.new(), echo_server())


func test_engine_websocketpeer_client_with_our_server() -> void:
	await _echo_and_close(WebSocketPeer.new(), echo_server())


func test_our_peer_with_engine_accept_stream_server() -> void:
	var srv := EngineEchoServer.new()
	srv.listen()
	srv.peer.supported_protocols = PackedStringArray(["chat"])
	var client := RustWebSocketPeer.new()
	client.supported_protocols = PackedStringArray(["chat"])
	pollables.append_array([srv, client])
	check_eq(client.connect_to_url(srv.url("/room")), OK, "connect_to_url")
	if not await wait_until(func(): return client.get_ready_state() == 1 and srv.peer.get_ready_state() == 1, "open"):
		return
	check_eq(client.get_selected_protocol(), "chat", "client selected protocol")
	check_eq(srv.peer.get_selected_protocol(), "chat", "engine selected protocol")
	check_eq(srv.peer.get_requested_url(), srv.url("/room"), "engine sees our request")
	client.send_text("ping text")
	client.send(PackedByteArray([9, 8, 7]), RustWebSocketPeer.WRITE_MODE_BINARY)
	if await wait_until(func(): return client.get_available_packet_count() == 2, "2 echoes from the engine server"):
		check_eq(client.get_packet().get_string_from_utf8(), "ping text", "text echo")
		check(client.was_string_packet(), "text frame")
		check_eq(client.get_packet(), PackedByteArray([9, 8, 7]), "binary echo")
		check(not client.was_string_packet(), "binary frame")
	# The engine server closes with a code and reason.
	srv.peer.close(4001, "server says bye")
	if await wait_until(func(): return client.get_ready_state() == 3 and srv.peer.get_ready_state() == 3, "closed"):
		check_eq(client.get_close_code(), 4001, "our close code")
		check_eq(client.get_close_reason(), "server says bye", "our close reason")
		check_eq(srv.peer.get_close_code(), 4001, "engine close code (echoed)")


func test_put_var_and_get_var() -> void:
	var server := echo_server()
	var client := RustWebSocketPeer.new()
	check(client is PacketPeer, "RustWebSocketPeer is a PacketPeer")
	check_eq(client.connect_to_url("ws://127.0.0.1:%d" % server.get_local_port()), OK, "connect")
	pollables.append(client)
	if not await wait_until(func(): return client.get_ready_state() == RustWebSocketPeer.STATE_OPEN, "open"):
		return
	var value := {"name": "player", "pos": Vector2(1.5, -2), "items": [1, 2, 3]}
	check_eq(client.put_var(value), OK, "put_var")
	if await wait_until(func(): return client.get_available_packet_count() == 1, "echo"):
		check_eq(client.get_var(), value, "get_var round trip")
		check_eq(client.get_packet_error(), OK, "get_packet_error after a packet")


func test_new_peer_is_closed_with_engine_defaults() -> void:
	var ours := RustWebSocketPeer.new()
	var theirs := WebSocketPeer.new()
	for prop in ["inbound_buffer_size", "outbound_buffer_size", "max_queued_packets", "heartbeat_interval", "supported_protocols", "handshake_headers"]:
		check_eq(ours.get(prop), theirs.get(prop), "default of " + prop)
	check_eq(ours.get_ready_state(), theirs.get_ready_state(), "initial state")
	check_eq(ours.get_close_code(), theirs.get_close_code(), "initial close code")
	check_eq(ours.get_close_reason(), theirs.get_close_reason(), "initial close reason")
	check_eq(ours.get_available_packet_count(), 0, "no packets")
	for c in ["STATE_CONNECTING", "STATE_OPEN", "STATE_CLOSING", "STATE_CLOSED", "WRITE_MODE_TEXT", "WRITE_MODE_BINARY"]:
		check_eq(ClassDB.class_get_integer_constant("RustWebSocketPeer", c), ClassDB.class_get_integer_constant("WebSocketPeer", c), "constant " + c)
	check_eq(ours.connect_to_url(""), ERR_INVALID_PARAMETER, "empty URL")
	check_eq(ours.connect_to_url("http://example.com"), ERR_INVALID_PARAMETER, "http URL")


## RustWebSocketPeer.accept_stream over the engine's TCPServer, with the engine's client and ours.
func test_accept_stream_over_engine_tcp_server() -> void:
	for client in [WebSocketPeer.new(), RustWebSocketPeer.new()]:
		var tcp := TCPServer.new()
		check_eq(tcp.listen(0, "127.0.0.1"), OK, "TCPServer.listen")
		var server_peer := RustWebSocketPeer.new()
		server_peer.supported_protocols = PackedStringArray(["game"])
		client.supported_protocols = PackedStringArray(["other", "game"])
		var url := "ws://127.0.0.1:%d/accept?x=2" % tcp.get_local_port()
		check_eq(client.connect_to_url(url), OK, "connect")
		var pump := func() -> void:
			if server_peer.get_ready_state() == 3 and tcp.is_connection_available():
				check_eq(server_peer.accept_stream(tcp.take_connection()), OK, "accept_stream")
				check_eq(server_peer.accept_stream(StreamPeerTCP.new()), ERR_ALREADY_IN_USE, "accept_stream while in use")
			client.poll()
			server_peer.poll()
		if not await wait_until(func(): pump.call(); return client.get_ready_state() == 1 and server_peer.get_ready_state() == 1, "open"):
			tcp.stop()
			continue
		check_eq(server_peer.get_selected_protocol(), "game", "server selected")
		check_eq(client.get_selected_protocol(), "game", "client selected")
		check_eq(server_peer.get_requested_url(), url, "requested URL with query")
		check_eq(server_peer.get_connected_host(), "127.0.0.1", "connected host")
		client.send_text("to accept_stream")
		server_peer.put_packet(PackedByteArray([5, 6]))
		if await wait_until(func(): pump.call(); return server_peer.get_available_packet_count() == 1 and client.get_available_packet_count() == 1, "both directions"):
			check_eq(server_peer.get_packet().get_string_from_utf8(), "to accept_stream", "server got text")
			check_eq(client.get_packet(), PackedByteArray([5, 6]), "client got binary")
		server_peer.close(4003, "accept_stream bye")
		if await wait_until(func(): pump.call(); return client.get_ready_state() == 3 and server_peer.get_ready_state() == 3, "closed"):
			check_eq(client.get_close_code(), 4003, "client close code")
			check_eq(client.get_close_reason(), "accept_stream bye", "client close reason")
		tcp.stop()
	check_eq(RustWebSocketPeer.new().accept_stream(null), ERR_INVALID_PARAMETER, "null stream")


## The engine waits forever for a server that accepts TCP but never answers the upgrade; our
## handshake_timeout (30 s by default) closes the connection.
func test_handshake_timeout_closes_a_silent_server() -> void:
	var tcp := TCPServer.new()
	check_eq(tcp.listen(0, "127.0.0.1"), OK, "listen")
	var held := []
	var peer := RustWebSocketPeer.new()
	check_eq(peer.handshake_timeout, 30.0, "default handshake_timeout")
	peer.handshake_timeout = 0.3
	check_eq(peer.connect_to_url("ws://127.0.0.1:%d/" % tcp.get_local_port()), OK, "connect")
	var t0 := Time.get_ticks_msec()
	pollables.append(peer)
	if await wait_until(func():
		if tcp.is_connection_available():
			held.append(tcp.take_connection())
		return peer.get_ready_state() == 3, "timed out"):
		var ms := Time.get_ticks_msec() - t0
		check(ms >= 280 and ms < 1500, "closed after about 0.3 s (%d ms)" % ms)
		check_eq(peer.get_close_code(), -1, "unclean")
	check_eq(held.size(), 1, "the TCP connection had been accepted")
	tcp.stop()


## The interop matrix rows that live in Godot: the engine's WebSocketPeer client against our
## server, and our peer against a server on the engine's accept_stream; 1 MiB messages of both
## types with a subprotocol, then a close with a code and reason.
func test_one_mib_messages_with_subprotocol_both_ways_with_the_engine() -> void:
	var big := PackedByteArray()
	big.resize(1 << 20)
	for i in big.size():
		big[i] = (i * 13) % 256
	var big_text := "é✓".repeat(1 << 18)
	# Engine client -> our server.
	var server := echo_server()
	server.inbound_buffer_size = 4 << 20
	server.outbound_buffer_size = 0
	server.supported_protocols = PackedStringArray(["chat.v1"])
	var log := []
	record(server, log)
	var client := WebSocketPeer.new()
	client.inbound_buffer_size = 4 << 20
	client.outbound_buffer_size = 4 << 20
	client.supported_protocols = PackedStringArray(["chat.v1"])
	check_eq(client.connect_to_url("ws://127.0.0.1:%d/" % server.get_local_port()), OK, "connect")
	pollables.append(client)
	if await wait_until(func(): return client.get_ready_state() == 1, "engine client open"):
		check_eq(client.get_selected_protocol(), "chat.v1", "engine client protocol")
		client.send(big, WebSocketPeer.WRITE_MODE_BINARY)
		client.send_text(big_text)
		if await wait_until(func(): return client.get_available_packet_count() == 2, "1 MiB echoes", 10.0):
			check_eq(client.get_packet(), big, "1 MiB binary echo")
			check(not client.was_string_packet(), "binary type kept")
			check_eq(client.get_packet().get_string_from_utf8(), big_text, "1 MiB text echo")
			check(client.was_string_packet(), "text type kept")
		client.close(4010, "engine bye")
		if await wait_until(func(): return count(log, "disconnected") == 1, "closed"):
			check_eq(find(log, "close_request").slice(2), [4010, "engine bye"], "server saw the close")
	# Our peer -> a server on the engine's accept_stream.
	var srv := EngineEchoServer.new()
	srv.listen()
	srv.peer.inbound_buffer_size = 4 << 20
	srv.peer.outbound_buffer_size = 4 << 20
	srv.peer.supported_protocols = PackedStringArray(["chat.v1"])
	var ours := RustWebSocketPeer.new()
	ours.inbound_buffer_size = 4 << 20
	ours.outbound_buffer_size = 0
	ours.supported_protocols = PackedStringArray(["chat.v1"])
	ours.connect_to_url(srv.url())
	pollables.append_array([srv, ours])
	if await wait_until(func(): return ours.get_ready_state() == 1, "our peer open"):
		check_eq(ours.get_selected_protocol(), "chat.v1", "our protocol")
		ours.send(big, RustWebSocketPeer.WRITE_MODE_BINARY)
		ours.send_text(big_text)
		if await wait_until(func(): return ours.get_available_packet_count() == 2, "1 MiB echoes from the engine", 10.0):
			check_eq(ours.get_packet(), big, "1 MiB binary echo")
			check_eq(ours.get_packet().get_string_from_utf8(), big_text, "1 MiB text echo")
			check(ours.was_string_packet(), "text type kept")
		ours.close(4011, "rust bye")
		if await wait_until(func(): return srv.peer.get_ready_state() == 3, "engine server closed"):
			check_eq([srv.peer.get_close_code(), srv.peer.get_close_reason()], [4011, "rust bye"], "engine saw our close")
