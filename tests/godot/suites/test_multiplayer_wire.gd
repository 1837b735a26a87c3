extends "res://lib/mp_session.gd"
## The wire protocol of the engine's WebSocketMultiplayerPeer, byte by byte, against both classes
## (lib/mp_session.gd): a raw client against the server (the id message, headerless packets,
## garbage), a scripted server against the client (the id message awaited, malformed ones).


## A raw WebSocket client against the server: the first message is the 4-byte little-endian id
## (the same id the server announces), then SceneMultiplayer packets travel as binary messages
## without any header, both ways.
func test_wire_first_message_is_the_id_then_headerless_packets() -> void:
	for kind in _kinds():
		_ctx = "[server %s] " % kind
		var server := _server(kind)
		var raw := RawClient.new()
		_eq(raw.connect_to(server.get_meta("port")), OK, "raw connect")
		pollables.append(raw)
		if not await _wait(func(): return raw.frames.size() >= 1 and server.count("api.peer_connected") == 1, "raw client got its id"):
			_end_session()
			continue
		_ok(raw.upgraded(), "101 Switching Protocols: " + raw.response.get_slice("\r\n", 0))
		var id: int = server.events.filter(func(e): return e[0] == "api.peer_connected")[0][1]
		_eq(raw.frames[0][0], 2, "the id message is a binary frame")
		_eq(raw.frames[0][1], _le32(id), "the id message is the announced id as 4 bytes, little-endian")
		# A second client joins: SceneMultiplayer's ADD_PEER reaches the raw client verbatim.
		# (Before it, the raw client also got the server's RPCs, each one bare message too.)
		var other := _client("Other", kind, _url(server))
		if await _wait(func(): return _connected(other), "second client connected"):
			var add_peer := PackedByteArray([7, 1])
			add_peer.append_array(_le32(_id(other)))
			_ok(await _wait(func(): return raw.frames.has([2, add_peer]), "ADD_PEER(other) reached the raw client"), "SYS ADD_PEER(other) as one binary message, no header")
			_eq(raw.frames.filter(func(f): return f[1].size() == 4).size(), 1, "exactly one 4-byte message (the id)")
		# Raw client -> server: one binary message is one packet.
		raw.send_frame(2, PackedByteArray([3]) + "hi".to_utf8_buffer())
		if await _wait(func(): return server.raw.size() == 1, "server got the raw packet"):
			_eq(server.raw[0], [id, "hi".to_utf8_buffer()], "peer_packet(id, 'hi') on the server")
		# Server -> raw client.
		server.api.send_bytes("yo".to_utf8_buffer(), id)
		var want := PackedByteArray([3]) + "yo".to_utf8_buffer()
		if await _wait(func(): return raw.frames.any(func(f): return f[1] == want), "raw client got the server's packet"):
			_eq(raw.frames.filter(func(f): return f[1] == want)[0][0], 2, "sent as a binary frame")
		raw.disconnect_now()
		if await _wait(func(): return server.count("api.peer_disconnected", id) == 1 and other.count("api.peer_disconnected", id) >= 1, "raw client's departure noticed, and told"):
			_eq(other.count("api.peer_disconnected", id), 1, "the other client was told once")
		_end_session()


## A raw client that sends garbage: malformed SceneMultiplayer packets are dropped with an error
## and the peer stays; bytes that are not WebSocket drop that peer only. The other client
## keeps talking to the server throughout.
func test_server_survives_garbage_from_a_raw_client() -> void:
	var body := func(server: Lobby, a: Lobby, _pair: Array) -> void:
		var raw := RawClient.new()
		raw.connect_to(server.get_meta("port"))
		pollables.append(raw)
		if not await _wait(func(): return raw.frames.size() >= 1 and server.count("api.peer_connected") == 2, "raw client admitted"):
			return
		var raw_id: int = raw.frames[0][1].decode_s32(0)
		for junk in [[7, 9, 0, 0, 0, 0], [7], [0xFF], [6], [2, 0xFF, 0xFF, 0xFF, 0xFF]]:
			raw.send_frame(2, PackedByteArray(junk))
		raw.send_frame(2, PackedByteArray([3]) + "still here".to_utf8_buffer())
		if await _wait(func(): return server.raw.size() == 1, "a good packet after the junk still arrives"):
			_eq(server.raw[0], [raw_id, "still here".to_utf8_buffer()], "the raw peer survived malformed packets")
		_eq(server.count("peer.peer_disconnected"), 0, "malformed packets dropped no peer")
		# Not WebSocket at all: an unmasked frame with a reserved opcode.
		raw.send_raw(PackedByteArray([0x83, 0x02, 0x41, 0x42]))
		if await _wait(func(): return server.count("api.peer_disconnected", raw_id) == 1, "the raw peer is dropped"):
			await _barrier(server, [a])
			_eq(server.count("peer.peer_disconnected", raw_id), 1, "server peer: peer_disconnected(raw) once")
			_eq(a.count("api.peer_disconnected", raw_id), 1, "client A told once")
			_eq(server.count("peer.peer_disconnected"), 1, "no other peer dropped")
		a.note.rpc_id(1, "after the garbage")
		if await _wait(func(): return server.notes.size() == 1, "A still talks to the server"):
			_eq(server.notes, [[_id(a), "after the garbage"]], "A's note")
	await _for_each_session(_pairs(), body)


## A client against a scripted server: it stays CONNECTING while the WebSocket is open but no id
## has arrived (it even answers pings), becomes CONNECTED with exactly the id sent, and then
## reads headerless packets from peer 1.
func test_client_stays_connecting_until_the_id_arrives() -> void:
	for kind in _kinds():
		_ctx = "[client %s] " % kind
		var rs := RawServer.new()
		var port := rs.listen()
		rs.after_handshake = RawServer.frame(9, "are you there".to_utf8_buffer())
		pollables.append(rs)
		var client := _client("Client", kind, "ws://127.0.0.1:%d" % port)
		if not await _wait(func(): return rs.client_frames().has("pong are you there"), "the client's WebSocket is open (it answered a ping)"):
			_end_session()
			continue
		_eq(client.status(), CONNECTING, "CONNECTING while no id arrived")
		_eq(client.count("api.connected_to_server") + client.count("peer.peer_connected"), 0, "no signal before the id")
		_eq(rs.client_frames(), ["pong are you there"], "the client sent nothing but the pong")
		rs.send(RawServer.frame(2, _le32(123456789)))
		if await _wait(func(): return _connected(client), "CONNECTED once the id arrived"):
			_eq(client.peer.get_unique_id(), 123456789, "get_unique_id() is the id sent")
			_eq(client.count("peer.peer_connected", 1), 1, "the peer announced the server (1) once")
		rs.send(RawServer.frame(2, PackedByteArray([3]) + "hi".to_utf8_buffer()))
		if await _wait(func(): return client.raw.size() == 1, "a packet from the server"):
			_eq(client.raw[0], [1, "hi".to_utf8_buffer()], "peer_packet(1, 'hi'): from peer 1, no header")
		client.api.send_bytes("yo".to_utf8_buffer(), 1)
		await _wait(func(): return rs.client_frames().size() == 2, "the client's packet")
		_eq(rs.client_frames(), ["pong are you there", "binary %syo" % char(3)], "a masked binary frame with the bare packet")
		_end_session()


## A malformed id message (wrong size, id < 2) or a non-WebSocket answer: the client never
## reports CONNECTED, gives up, and SceneMultiplayer emits connection_failed once.
func test_malformed_id_message_is_rejected() -> void:
	var cases := [
		["3 bytes", RawServer.frame(2, PackedByteArray([5, 0, 0]))],
		["5 bytes", RawServer.frame(2, PackedByteArray([5, 0, 0, 0, 0]))],
		["empty", RawServer.frame(2, PackedByteArray())],
		["id 1", RawServer.frame(2, _le32(1))],
		["id 0", RawServer.frame(2, _le32(0))],
		["negative id", RawServer.frame(2, _le32(-5))],
	]
	for kind in _kinds():
		for c in cases:
			_ctx = "[client %s, %s] " % [kind, c[0]]
			var rs := RawServer.new()
			var port := rs.listen()
			rs.after_handshake = c[1]
			pollables.append(rs)
			var client := _client("Client", kind, "ws://127.0.0.1:%d" % port, "", func(p): p.handshake_timeout = 2.0)
			# Answer the client's close frame, as a real server would.
			var pump := func() -> bool:
				if rs.conn != null and rs.conn.get_status() == StreamPeerTCP.STATUS_CONNECTED and rs.client_frames().any(func(f): return f.begins_with("close")):
					rs.send(RawServer.close_frame(1000))
					rs.conn.disconnect_from_host()
				return client.count("api.connection_failed") == 1
			if await _wait(pump, "connection_failed", 5.0):
				_eq(client.count("api.connected_to_server") + client.count("peer.peer_connected"), 0, "never connected")
				_eq(client.status(), DISCONNECTED, "ends DISCONNECTED")
				_eq(client.peer.get_unique_id(), 0, "no id adopted")
			rs.stop()
			pollables.erase(rs)
			_end_session()
	# Not WebSocket at all.
	for kind in _kinds():
		_ctx = "[client %s, garbage answer] " % kind
		var rs := RawServer.new()
		var port := rs.listen()
		rs.response_override = "garbage\r\n\r\n"
		rs.drop_after_send = true
		pollables.append(rs)
		var client := _client("Client", kind, "ws://127.0.0.1:%d" % port)
		if await _wait(func(): return client.count("api.connection_failed") == 1, "connection_failed"):
			_eq(client.count("api.connected_to_server"), 0, "never connected")
		rs.stop()
		pollables.erase(rs)
		_end_session()
