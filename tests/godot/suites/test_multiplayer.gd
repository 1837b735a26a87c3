extends "res://lib/mp_session.gd"
## High-level multiplayer over WebSocket (issue #8): real SceneMultiplayer sessions with RPCs,
## for every line-up of server and clients (lib/mp_session.gd): names set by RPC, relayed RPCs,
## subprotocols, authentication, clients leaving or kicked, the server closing, large payloads,
## wss. The peer API without SceneMultiplayer: test_multiplayer_peer_api.gd; the wire protocol:
## test_multiplayer_wire.gd; what only our class has: test_multiplayer_ours.gd.


## The multiplayer demo's flow: every client sets its name by RPC to the server, which
## acknowledges it to everyone; every participant ends with the same roster.
func test_names_registered_by_rpc_are_acknowledged_to_all() -> void:
	var body := func(server: Lobby, a: Lobby, b: Lobby, _line_up: Array) -> void:
		var roster := {1: "host", _id(a): "alice", _id(b): "bob"}
		if await _wait(func(): return server.names == roster and a.names == roster and b.names == roster, "every roster complete"):
			_eq(a.names, server.names, "client A's roster equals the server's")
			_eq(b.names, server.names, "client B's roster equals the server's")
		_ok(_id(a) >= 2 and _id(b) >= 2 and _id(a) != _id(b), "client ids are distinct and >= 2: %d %d" % [_id(a), _id(b)])
		_eq(_id(server), 1, "the server's id")
		_ok(server.api.is_server() and not a.api.is_server() and not b.api.is_server(), "is_server only on the server")
		_eq(server.peer_ids(), [_id(a), _id(b)] if _id(a) < _id(b) else [_id(b), _id(a)], "the server's peers")
		_eq(a.peer_ids(), [1, _id(b)], "client A knows the server and B")
		_eq(b.peer_ids(), [1, _id(a)], "client B knows the server and A")
		# Exactly once, everywhere.
		_eq(server.count("peer.peer_connected", _id(a)), 1, "server peer: peer_connected(A) once")
		_eq(server.count("api.peer_connected", _id(a)), 1, "server api: peer_connected(A) once")
		_eq(a.count("peer.peer_connected", 1), 1, "client A peer: peer_connected(1) once")
		_eq(a.count("api.connected_to_server"), 1, "client A: connected_to_server once")
		_eq(a.count("api.peer_connected", _id(b)), 1, "client A: peer_connected(B) once")
		_eq(b.count("api.peer_connected", _id(a)), 1, "client B: peer_connected(A) once")
		_eq(a.count("peer.peer_connected"), 1, "client A's peer announces only the server (others come from the relay)")
	await _for_each_session(_line_ups(), body)


## A client calls an RPC on another client; SceneMultiplayer relays it through the server
## (server_relay, is_server_relay_supported() == true), in both directions and as a broadcast.
func test_client_to_client_rpc_is_relayed_both_ways() -> void:
	var body := func(server: Lobby, a: Lobby, b: Lobby, _line_up: Array) -> void:
		_eq(a.peer.is_server_relay_supported(), true, "client is_server_relay_supported()")
		_eq(server.peer.is_server_relay_supported(), true, "server is_server_relay_supported()")
		a.note.rpc_id(_id(b), "A to B")
		b.note.rpc_id(_id(a), "B to A")
		a.note.rpc("A to everyone")
		b.note.rpc_id(1, "B to the server")
		if await _wait(func(): return b.notes.size() == 2 and a.notes.size() == 1 and server.notes.size() == 2, "every note delivered"):
			_eq(b.notes, [[_id(a), "A to B"], [_id(a), "A to everyone"]], "B got A's direct and broadcast notes, sender A")
			_eq(a.notes, [[_id(b), "B to A"]], "A got B's note, sender B")
			var on_server := server.notes.duplicate()
			on_server.sort()
			var expected := [[_id(a), "A to everyone"], [_id(b), "B to the server"]]
			expected.sort()
			_eq(on_server, expected, "the server got the broadcast and its own note, not the relayed direct ones")
		await _barrier(server, [a, b])
		_eq(b.notes.size() + a.notes.size() + server.notes.size(), 5, "nothing delivered twice")
	await _for_each_session(_line_ups(), body)


## supported_protocols on both sides: a matching client connects and sees the protocol; a
## client offering another one fails (connection_failed) and the server never announces it.
func test_subprotocol_match_and_mismatch() -> void:
	var body := func(pair: Array) -> void:
		var ludus := func(p): p.supported_protocols = PackedStringArray(["ludus"])
		var server := _server(pair[0], ludus)
		var bad := _client("Bad", pair[1], _url(server), "", func(p): p.supported_protocols = PackedStringArray(["chat"]))
		if await _wait(func(): return bad.count("api.connection_failed") == 1, "mismatched client: connection_failed"):
			_eq(bad.status(), DISCONNECTED, "mismatched client ends DISCONNECTED")
			_eq(bad.count("api.connected_to_server") + bad.count("peer.peer_connected"), 0, "mismatched client never connected")
		var good := _client("Good", pair[1], _url(server), "", ludus)
		if await _wait(func(): return _connected(good) and server.count("api.peer_connected") >= 1, "matching client connected"):
			_eq(good.peer.get_peer(1).get_selected_protocol(), "ludus", "the client's selected protocol")
			_eq(server.peer.get_peer(_id(good)).get_selected_protocol(), "ludus", "the server's selected protocol")
			_eq(server.count("api.peer_connected"), 1, "the server announced only the matching client")
			_eq(server.count("peer.peer_connected"), 1, "the server's peer announced only the matching client")
			_eq(bad.count("api.connection_failed"), 1, "connection_failed exactly once")
	await _for_each(_pairs(), body)


## SceneMultiplayer authentication over the peer: the client sends a token (send_auth), the
## server checks it in auth_callback, answers, and both call complete_auth. A wrong token is
## refused: the server drops the peer before admitting it.
func test_scene_multiplayer_authentication() -> void:
	var body := func(pair: Array) -> void:
		var auth := func(api: SceneMultiplayer, lobby: Lobby) -> void:
			api.auth_callback = lobby.on_auth
		var server := _server(pair[0], Callable(), null, auth)
		server.auth_expected = "letmein".to_utf8_buffer()
		var good := _client("Good", pair[1], _url(server), "", Callable(), null, auth)
		good.auth_token = "letmein".to_utf8_buffer()
		if await _wait(func(): return _connected(good) and server.count("api.peer_connected") == 1, "authenticated client admitted"):
			_eq(server.auth_seen, [[_id(good), "letmein"]], "the server's auth_callback got the token")
			_eq(good.auth_seen, [[1, "welcome"]], "the client's auth_callback got the answer")
			_eq(server.count("api.peer_authenticating", _id(good)), 1, "server: peer_authenticating once")
			_eq(good.count("api.peer_authenticating", 1), 1, "client: peer_authenticating(1) once")
			_eq(server.count("api.peer_connected", _id(good)), 1, "server: peer_connected after authentication")
		var bad := _client("Bad", pair[1], _url(server), "", Callable(), null, auth)
		bad.auth_token = "wrong".to_utf8_buffer()
		if await _wait(func(): return bad.count("api.peer_authentication_failed", 1) == 1 and bad.status() == DISCONNECTED, "wrong token: refused"):
			_eq(bad.count("api.connected_to_server"), 0, "refused client never connected_to_server")
			_eq(bad.count("api.server_disconnected"), 1, "refused client: server_disconnected (the peer was CONNECTED while authenticating)")
		await _wait(func(): return server.count("peer.peer_disconnected") == 1, "server peer drops the refused client")
		await _barrier(server, [good])
		_eq(server.count("api.peer_connected"), 1, "the server admitted only the good client")
		_eq(good.peer_ids(), [1], "the good client was never told about the refused one")
	await _for_each(_pairs(), body)


## A client leaving (abruptly with close(), or cleanly with disconnect_peer(1)) is reported
## exactly once on the server and on every other client; the leaver itself sees
## server_disconnected.
func test_leaving_client_is_reported_once_everywhere() -> void:
	var body := func(server: Lobby, a: Lobby, b: Lobby, c: Lobby, _line_up: Array) -> void:
		var id_a := _id(a)
		var id_b := _id(b)
		# A leaves abruptly: the engine's close() sends no close frame.
		a.peer.close()
		if await _wait(func(): return server.count("api.peer_disconnected", id_a) == 1 and b.count("api.peer_disconnected", id_a) == 1 and c.count("api.peer_disconnected", id_a) == 1, "A's departure reported everywhere"):
			await _barrier(server, [b, c])
			_eq(server.count("api.peer_disconnected", id_a), 1, "server api: peer_disconnected(A) once")
			_eq(server.count("peer.peer_disconnected", id_a), 1, "server peer: peer_disconnected(A) once")
			_eq(b.count("api.peer_disconnected", id_a), 1, "B: peer_disconnected(A) once")
			_eq(c.count("api.peer_disconnected", id_a), 1, "C: peer_disconnected(A) once")
			_eq(a.count("api.server_disconnected"), 1, "A (closed locally) sees server_disconnected once")
			_eq(server.peer_ids(), [id_b, _id(c)] if id_b < _id(c) else [_id(c), id_b], "the server's peers after A left")
		# B leaves cleanly: disconnect_peer(1) closes with a close frame.
		b.peer.disconnect_peer(1)
		if await _wait(func(): return server.count("api.peer_disconnected", id_b) == 1 and c.count("api.peer_disconnected", id_b) == 1 and b.status() == DISCONNECTED, "B's departure reported everywhere"):
			await _barrier(server, [c])
			_eq(server.count("api.peer_disconnected", id_b), 1, "server api: peer_disconnected(B) once")
			_eq(server.count("peer.peer_disconnected", id_b), 1, "server peer: peer_disconnected(B) once")
			_eq(c.count("api.peer_disconnected", id_b), 1, "C: peer_disconnected(B) once")
			_eq(b.count("peer.peer_disconnected", 1), 1, "B's peer: peer_disconnected(1) once")
			_eq(b.count("api.server_disconnected"), 1, "B: server_disconnected once")
			_eq(c.peer_ids(), [1], "C knows only the server now")
			_eq(c.count("api.server_disconnected"), 0, "C is still connected")
	await _for_each_session(_line_ups().map(func(l): return l + [l[2]]), body)


## The server kicks a client with the peer's disconnect_peer(id): the client sees
## server_disconnected, the others peer_disconnected, the server's peer reports it once.
## disconnect_peer(id, true) drops a client at once; our server's peer reports it exactly once,
## at its next poll (and so SceneMultiplayer forgets the client), the engine's reports nothing
## (godot#108716: the client stays in its SceneMultiplayer).
func test_server_disconnect_peer_kicks_a_client() -> void:
	var body := func(server: Lobby, a: Lobby, b: Lobby, line_up: Array) -> void:
		var id_a := _id(a)
		server.peer.disconnect_peer(id_a)
		if await _wait(func(): return a.count("api.server_disconnected") == 1 and b.count("api.peer_disconnected", id_a) == 1 and server.count("peer.peer_disconnected", id_a) == 1, "A kicked"):
			await _barrier(server, [b])
			_eq(server.count("peer.peer_disconnected", id_a), 1, "server peer: peer_disconnected(A) once")
			_eq(server.count("api.peer_disconnected", id_a), 1, "server api: peer_disconnected(A) once")
			_eq(b.count("api.peer_disconnected", id_a), 1, "B: peer_disconnected(A) once")
			_eq(a.count("api.connection_failed"), 0, "A was connected: no connection_failed")
			_eq(a.status(), DISCONNECTED, "A ends DISCONNECTED")
		var id_b := _id(b)
		server.peer.disconnect_peer(id_b, true)
		if await _wait(func(): return b.count("api.server_disconnected") == 1, "B dropped by a forced disconnect"):
			if line_up[0] == "ours":
				await _wait(func(): return server.count("peer.peer_disconnected", id_b) > 0, "our server peer reports B's forced disconnect", 2.0)
			# Some more polls, for a late or repeated report.
			var polls := [0]
			await _wait(func():
				polls[0] += 1
				return polls[0] > 30, "polls after the forced disconnect")
			if line_up[0] == "ours":
				_eq(server.count("peer.peer_disconnected", id_b), 1, "server peer (ours): peer_disconnected(B) exactly once after force")
				_eq(server.count("api.peer_disconnected", id_b), 1, "server api (ours): peer_disconnected(B) once after force")
			else:
				_eq(server.count("peer.peer_disconnected", id_b), 0, "server peer (engine): no peer_disconnected(B) after force")
			_eq(b.status(), DISCONNECTED, "B ends DISCONNECTED")
	await _for_each_session(_line_ups(), body)


## The server closing: every client sees server_disconnected exactly once (never
## connection_failed) and ends DISCONNECTED.
func test_server_closing_disconnects_every_client() -> void:
	var body := func(server: Lobby, a: Lobby, b: Lobby, _line_up: Array) -> void:
		server.api.multiplayer_peer = null
		server.peer.close()
		_eq(server.peer.get_connection_status(), DISCONNECTED, "the server's peer is DISCONNECTED after close()")
		if await _wait(func(): return a.count("api.server_disconnected") == 1 and b.count("api.server_disconnected") == 1, "server_disconnected on every client"):
			for c in [a, b]:
				_eq(c.status(), DISCONNECTED, "client ends DISCONNECTED")
				_eq(c.count("api.connection_failed"), 0, "no connection_failed after being connected")
				_eq(c.count("peer.peer_disconnected", 1), 1, "the client's peer: peer_disconnected(1) once")
	await _for_each_session(_line_ups(), body)


## A 200 KiB RPC argument: server to client, client to server, and client to client through the
## relay. The buffers are raised to 1 MiB on every peer (the engine's default 65535 would fail).
func test_200_kib_rpc_payload() -> void:
	var data := PackedByteArray()
	data.resize(200 * 1024)
	for i in data.size():
		data[i] = (i * 31 + (i >> 8)) & 0xFF
	var big := func(p):
		p.inbound_buffer_size = 1 << 20
		p.outbound_buffer_size = 1 << 20
	var body := func(server: Lobby, a: Lobby, b: Lobby, _line_up: Array) -> void:
		for l in [server, a, b]:
			l.expected_blob = data
		server.blob.rpc_id(_id(a), data)
		a.blob.rpc_id(1, data)
		a.blob.rpc_id(_id(b), data)
		b.blob.rpc_id(_id(a), data)
		if await _wait(func(): return a.blobs.size() == 2 and b.blobs.size() == 1 and server.blobs.size() == 1, "every 200 KiB payload delivered", 10.0):
			_eq(server.blobs, [[_id(a), data.size(), true]], "server got A's payload intact")
			_eq(b.blobs, [[_id(a), data.size(), true]], "B got A's relayed payload intact")
			var at_a := a.blobs.duplicate()
			at_a.sort()
			var expected := [[1, data.size(), true], [_id(b), data.size(), true]]
			expected.sort()
			_eq(at_a, expected, "A got the server's and B's payloads intact")
	await _for_each_session(_line_ups(), body, big)


## wss: the server with TLSOptions.server, clients trusting its certificate.
func test_wss_session() -> void:
	_make_tls()
	var body := func(server: Lobby, a: Lobby, b: Lobby, line_up: Array) -> void:
		_eq(a.peer.get_peer(1).get_requested_url(), "wss://localhost:%d" % server.get_meta("port"), "the client's URL")
		a.note.rpc_id(_id(b), "secret A to B")
		b.note.rpc_id(1, "secret B to server")
		if await _wait(func(): return b.notes.size() == 1 and server.notes.size() == 1, "notes over TLS"):
			_eq(b.notes, [[_id(a), "secret A to B"]], "relayed over TLS")
			_eq(server.notes, [[_id(b), "secret B to server"]], "to the server over TLS")
		# A plain ws:// client cannot join a wss server.
		var plain := _client("Plain", line_up[1], _url(server, "ws", "localhost"))
		if await _wait(func(): return plain.count("api.connection_failed") == 1, "plain client to a TLS server fails"):
			_eq(plain.count("api.connected_to_server"), 0, "the plain client never connected")
		await _barrier(server, [a, b])
		_eq(server.count("api.peer_connected"), 2, "the server announced only the TLS clients")
	await _for_each_session(_line_ups(), body, Callable(), TLSOptions.server(_tls_key, _tls_cert), "wss", "localhost")
