extends "res://lib/mp_session.gd"
## What only RustWebSocketMultiplayerPeer has or promises (lib/mp_session.gd): request_validator,
## 500 clients on one server, the peer objects of get_peer(), a connecting client ended from
## peer 1.


## request_validator (as WebSocketServer's): a refused client gets HTTP 403 before the upgrade,
## fails with connection_failed, and the server never announces it.
func test_request_validator_refuses_with_http_403() -> void:
	for client_kind in _kinds():
		_ctx = "[server ours, client %s] " % client_kind
		var server := _server("ours")
		server.peer.request_validator = func(_id: int, ws) -> bool:
			return ws.get_request_header("authorization") == "Bearer ok"
		var ok_client := _client("Good", client_kind, _url(server), "", func(p): p.handshake_headers = PackedStringArray(["Authorization: Bearer ok"]))
		var refused := _client("Bad", client_kind, _url(server), "", func(p): p.handshake_headers = PackedStringArray(["Authorization: Bearer nope"]))
		await _wait(func(): return _connected(ok_client) and refused.count("api.connection_failed") == 1, "good in, bad out")
		var raw := RawClient.new()
		raw.extra_headers = "Authorization: x\r\n"
		raw.connect_to(server.get_meta("port"))
		pollables.append(raw)
		if await _wait(func(): return not raw.response.is_empty(), "raw client answered"):
			_ok(raw.response.begins_with("HTTP/1.1 403"), "403 for a refused request: " + raw.response.get_slice("\r\n", 0))
		_eq(server.count("api.peer_connected"), 1, "only the accepted client was announced")
		server.peer.request_validator = Callable()
		_end_session()


## 500 clients join our server; everyone gets a distinct id, the server announces each once,
## a broadcast reaches all, each client's packet reaches the server, and all leave once.
func test_five_hundred_clients_join_our_server() -> void:
	var server := _server("ours")
	var clients := []
	for i in 500:
		var c := _make_peer(_kinds()[i % _kinds().size()])
		c.create_client(_url(server))
		clients.append(c)
		pollables.append(c)
	var t0 := Time.get_ticks_msec()
	if not await _wait(func(): return server.count("api.peer_connected") == 500 and clients.all(func(c): return c.get_connection_status() == CONNECTED), "500 connected", 30.0):
		return
	var ids := {}
	for c in clients:
		ids[c.get_unique_id()] = true
	_eq(ids.size(), 500, "500 distinct ids")
	server.api.send_bytes("hello all".to_utf8_buffer())
	for c in clients:
		c.put_packet(PackedByteArray([3]) + ("from %d" % c.get_unique_id()).to_utf8_buffer())
	var got := {}
	await _wait(func():
		for c in clients:
			while c.get_available_packet_count() > 0:
				if c.get_packet() == PackedByteArray([3]) + "hello all".to_utf8_buffer():
					got[c.get_unique_id()] = true
		return got.size() == 500 and server.raw.size() == 500, "broadcast and 500 packets", 30.0)
	for c in clients:
		c.close()
	await _wait(func(): return server.count("api.peer_disconnected") == 500, "500 left", 30.0)
	print("    500 clients on our server: whole session %d ms" % (Time.get_ticks_msec() - t0))


## The RustWebSocketPeer that our get_peer(id) hands out shows the connection and can send on
## it, but cannot take the packets the multiplayer peer reads (they would then be credited to
## the wrong sender); the same object comes back for the same id while it is in the session.
func test_our_peer_objects_show_the_connection_but_leave_its_packets_to_the_session() -> void:
	var server_peer := _make_peer("ours")
	_eq(server_peer.create_server(0, "127.0.0.1"), OK, "create_server")
	pollables.append(server_peer)
	var client := WebSocketMultiplayerPeer.new()
	_eq(client.create_client("ws://127.0.0.1:%d" % server_peer.get_local_port()), OK, "create_client")
	pollables.append(client)
	if not await _wait(func(): return client.get_connection_status() == CONNECTED, "client joined"):
		return
	var id := client.get_unique_id()
	var view: RustWebSocketPeer = server_peer.get_peer(id)
	_ok(view != null and view == server_peer.get_peer(id), "the same object for the same id")
	_eq(view.get_connected_host(), "127.0.0.1", "it shows the connection")
	client.put_packet("to the session".to_utf8_buffer())
	if not await _wait(func(): return server_peer.get_available_packet_count() == 1, "the packet arrived"):
		return
	_eq(view.get_available_packet_count(), 0, "the peer object offers no packets")
	_eq(view.get_packet(), PackedByteArray(), "get_packet on it takes nothing")
	_eq(server_peer.get_packet_peer(), id, "the session still has the packet, from its sender")
	_eq(server_peer.get_packet().get_string_from_utf8(), "to the session", "and reads it")
	_eq(view.send_text("direct"), OK, "the peer object can send")
	_ok(await _wait(func(): return client.get_available_packet_count() == 1, "the direct message arrived"), "sent directly")
	view.close(1000, "not this way")
	_eq(view.get_ready_state(), RustWebSocketPeer.STATE_OPEN, "close() on it is refused: disconnect_peer(id) leaves the session")
	# A new session hands out no object of the previous one.
	server_peer.close()
	_eq(server_peer.create_server(0, "127.0.0.1"), OK, "a new session")
	_eq(server_peer.get_peer(id), null, "no peer object survives its session")


## A client of ours that is still connecting: get_peer(1) shows the connection, and
## disconnect_peer(1) ends it (as the engine), with connection_failed-style DISCONNECTED status.
func test_our_connecting_client_can_be_disconnected_from_peer_1() -> void:
	var silent := TCPServer.new()
	_eq(silent.listen(0, "127.0.0.1"), OK, "silent listener")
	var client := _make_peer("ours")
	_eq(client.create_client("ws://127.0.0.1:%d" % silent.get_local_port()), OK, "create_client")
	pollables.append(client)
	await _wait(func(): return client.get_peer_port(1) != 0, "TCP connected", 2.0)
	_eq(client.get_connection_status(), CONNECTING, "CONNECTING: the upgrade is never answered")
	_ok(client.get_peer(1) != null, "get_peer(1) while connecting")
	client.disconnect_peer(1)
	_ok(await _wait(func(): return client.get_connection_status() == DISCONNECTED, "disconnected", 2.0), "disconnect_peer(1) ends it")
	silent.stop()
