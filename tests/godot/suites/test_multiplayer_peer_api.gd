extends "res://lib/mp_session.gd"
## The MultiplayerPeer API of both classes, for every pair of server and client kinds
## (lib/mp_session.gd): joins that fail without hanging, refuse_new_connections, target peers and
## packet queries without SceneMultiplayer, defaults and return codes.


## A refused port and a server that never answers end in connection_failed, bounded by
## handshake_timeout; an unsupported scheme is refused by create_client.
func test_refused_or_unreachable_url_fails_without_hanging() -> void:
	for kind in _kinds():
		_ctx = "[client %s] " % kind
		var probe := _make_peer(kind)
		_eq(probe.create_client("http://127.0.0.1:1/"), ERR_INVALID_PARAMETER, "create_client with http://")
		_eq(probe.get_connection_status(), DISCONNECTED, "still DISCONNECTED after a refused URL")
		var short := func(p): p.handshake_timeout = 0.5
		# A listener that never takes its connections: TCP connects, the upgrade is never answered.
		var silent := TCPServer.new()
		_eq(silent.listen(0, "127.0.0.1"), OK, "silent listener")
		var cases := [["refused port", "ws://127.0.0.1:%d" % Lobby.free_port()], ["silent server", "ws://127.0.0.1:%d" % silent.get_local_port()]]
		for c in cases:
			var t0 := Time.get_ticks_msec()
			var client := _client("Client", kind, c[1], "", short)
			if await _wait(func(): return client.count("api.connection_failed") == 1, c[0] + ": connection_failed", 5.0):
				var ms := Time.get_ticks_msec() - t0
				_ok(ms < 2500, "%s: failed within the handshake timeout (%d ms)" % [c[0], ms])
				_eq(client.status(), DISCONNECTED, c[0] + ": DISCONNECTED")
				_eq(client.count("api.connected_to_server") + client.count("api.server_disconnected"), 0, c[0] + ": no other signal")
			_end_session()


## Server-side refuse_new_connections: a joining client fails; after clearing it, a client joins.
func test_refuse_new_connections() -> void:
	var body := func(pair: Array) -> void:
		var server := _server(pair[0])
		server.peer.refuse_new_connections = true
		_eq(server.peer.refuse_new_connections, true, "refuse_new_connections")
		var turned_away := _client("Refused", pair[1], _url(server), "", func(p): p.handshake_timeout = 0.5)
		if await _wait(func(): return turned_away.count("api.connection_failed") == 1, "refused client: connection_failed"):
			_eq(server.count("api.peer_connected") + server.count("peer.peer_connected"), 0, "the server announced nobody")
		server.peer.refuse_new_connections = false
		var welcome := _client("Welcome", pair[1], _url(server))
		if await _wait(func(): return _connected(welcome) and server.count("api.peer_connected") == 1, "client joins after refuse_new_connections is cleared"):
			_eq(server.count("peer.peer_connected"), 1, "only the later client was announced")
	await _for_each(_pairs(), body)


## MultiplayerPeer's packet API without SceneMultiplayer: target peer 0 (broadcast), -id (all
## but id) and id; packets keep their boundaries; the server reads the sender with
## get_packet_peer(); channel 0 and RELIABLE are reported; an unknown target is refused.
func test_target_peer_semantics_and_packet_queries() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var server_peer := _make_peer(pair[0])
		var port := Lobby.free_port()
		_eq(server_peer.create_server(port, "127.0.0.1"), OK, "create_server")
		var server_events := []
		server_peer.peer_connected.connect(func(id): server_events.append(["connected", id]))
		pollables.append(server_peer)
		var clients := []
		for i in 3:
			var c := _make_peer(pair[1])
			_eq(c.create_client("ws://127.0.0.1:%d" % port), OK, "create_client")
			_eq(c.get_connection_status(), CONNECTING, "CONNECTING right after create_client")
			pollables.append(c)
			clients.append(c)
		if not await _wait(func(): return clients.all(func(c): return c.get_connection_status() == CONNECTED) and server_events.size() == 3, "3 bare clients connected"):
			continue
		var ids := clients.map(func(c): return c.get_unique_id())
		var announced := server_events.map(func(e): return e[1])
		ids.sort()
		announced.sort()
		_eq(announced, ids, "the server announced exactly the ids the clients received")
		var got := func(c) -> Array:
			var out := []
			while c.get_available_packet_count() > 0:
				_eq(c.get_packet_peer(), 1, "a client's packets come from peer 1")
				_eq(c.get_packet_channel(), 0, "channel 0")
				_eq(c.get_packet_mode(), MultiplayerPeer.TRANSFER_MODE_RELIABLE, "mode RELIABLE")
				out.append(c.get_packet().get_string_from_utf8())
			return out
		server_peer.transfer_mode = MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
		server_peer.transfer_channel = 3
		server_peer.set_target_peer(0)
		_eq(server_peer.put_packet("all".to_utf8_buffer()), OK, "broadcast")
		server_peer.set_target_peer(-clients[0].get_unique_id())
		_eq(server_peer.put_packet("not0".to_utf8_buffer()), OK, "all but client 0")
		server_peer.set_target_peer(clients[1].get_unique_id())
		_eq(server_peer.put_packet("only1".to_utf8_buffer()), OK, "client 1 only")
		var unknown := 2
		while ids.has(unknown):
			unknown += 1
		server_peer.set_target_peer(unknown)
		_eq(server_peer.put_packet("nobody".to_utf8_buffer()), ERR_INVALID_PARAMETER, "unknown target refused")
		server_peer.set_target_peer(0)
		_eq(server_peer.put_packet("last".to_utf8_buffer()), OK, "broadcast again")
		var received := [[], [], []]
		if await _wait(func():
			for i in 3:
				received[i].append_array(got.call(clients[i]))
			return received[0].has("last") and received[1].has("last") and received[2].has("last"), "every client got the last broadcast"):
			_eq(received[0], ["all", "last"], "client 0: broadcasts only")
			_eq(received[1], ["all", "not0", "only1", "last"], "client 1: everything addressed to it, in order")
			_eq(received[2], ["all", "not0", "last"], "client 2: all but the direct one")
		# Clients always send to the server, whatever their target.
		for i in 3:
			clients[i].set_target_peer(clients[(i + 1) % 3].get_unique_id())
			_eq(clients[i].put_packet(("from %d" % i).to_utf8_buffer()), OK, "client put_packet")
		var at_server := {}
		if await _wait(func():
			while server_peer.get_available_packet_count() > 0:
				var sender: int = server_peer.get_packet_peer()
				_eq(server_peer.get_packet_channel(), 0, "server: channel 0")
				_eq(server_peer.get_packet_mode(), MultiplayerPeer.TRANSFER_MODE_RELIABLE, "server: mode RELIABLE")
				at_server[sender] = server_peer.get_packet().get_string_from_utf8()
			return at_server.size() == 3, "the server got a packet from every client"):
			for i in 3:
				_eq(at_server.get(clients[i].get_unique_id(), ""), "from %d" % i, "get_packet_peer() names client %d" % i)
		for c in clients:
			c.close()
			pollables.erase(c)
		server_peer.close()
		pollables.erase(server_peer)


## The API surface the class must copy: defaults, return codes, ids, addresses.
func test_peer_api_defaults_and_return_codes() -> void:
	_make_tls()
	var body := func(pair: Array) -> void:
		var p := _make_peer(pair[0])
		_eq([p.get_connection_status(), p.get_unique_id(), p.refuse_new_connections, p.transfer_mode, p.transfer_channel], [DISCONNECTED, 0, false, MultiplayerPeer.TRANSFER_MODE_RELIABLE, 0], "MultiplayerPeer defaults")
		_eq([p.supported_protocols, p.handshake_headers, p.inbound_buffer_size, p.outbound_buffer_size, p.handshake_timeout, p.max_queued_packets], [PackedStringArray(), PackedStringArray(), 65535, 65535, 3.0, 4096], "WebSocketMultiplayerPeer property defaults")
		_eq(p.is_server_relay_supported(), true, "is_server_relay_supported()")
		_eq(p.create_server(0, "127.0.0.1", TLSOptions.client()), ERR_INVALID_PARAMETER, "create_server with client TLS options")
		_eq(p.create_client("wss://localhost:1", TLSOptions.server(_tls_key, _tls_cert)), ERR_INVALID_PARAMETER, "create_client with server TLS options")
		var server := _server(pair[0])
		_eq(server.peer.get_connection_status(), CONNECTED, "a server is CONNECTED at once")
		_eq(server.peer.get_unique_id(), 1, "a server's id is 1")
		_eq(server.peer.create_server(Lobby.free_port()), ERR_ALREADY_IN_USE, "create_server twice")
		_eq(server.peer.create_client("ws://127.0.0.1:1"), ERR_ALREADY_IN_USE, "create_client on a server")
		var client := _client("Client", pair[1], _url(server), "carol")
		_eq(client.peer.create_client(_url(server)), ERR_ALREADY_IN_USE, "create_client twice")
		if await _wait(func(): return _connected(client) and server.count("api.peer_connected") == 1, "client connected"):
			var id := _id(client)
			_eq(server.peer.get_peer_address(id), "127.0.0.1", "get_peer_address")
			_ok(server.peer.get_peer_port(id) > 0, "get_peer_port > 0")
			_eq(server.peer.get_peer(id).get_ready_state(), WebSocketPeer.STATE_OPEN, "get_peer(id) is open on the server")
			_eq(client.peer.get_peer(1).get_ready_state(), WebSocketPeer.STATE_OPEN, "get_peer(1) is open on the client")
			_ok(id >= 2 and id <= 0x7FFFFFFF, "client id in [2, 2^31-1]: %d" % id)
			client.peer.close()
			_eq([client.peer.get_connection_status(), client.peer.get_unique_id()], [DISCONNECTED, 0], "a closed client is DISCONNECTED with id 0")
		server.peer.close()
		_eq([server.peer.get_connection_status(), server.peer.get_unique_id()], [DISCONNECTED, 0], "a closed server is DISCONNECTED with id 0")
	await _for_each(_pairs(), body)
