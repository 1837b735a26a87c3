extends TestSuite
## WebSocketServer: every signal and method, the handshake's HTTP answers, limits, re-entrancy
## from signal handlers, and many clients at once.


func _server(setup := Callable()) -> WebSocketServer:
	var server := WebSocketServer.new()
	if setup.is_valid():
		setup.call(server)
	check_eq(server.listen(0, "127.0.0.1"), OK, "listen")
	pollables.append(server)
	return server


func _url(server: WebSocketServer, path := "/") -> String:
	return "ws://127.0.0.1:%d%s" % [server.get_local_port(), path]


func _client(server: WebSocketServer, path := "/", setup := Callable()) -> RustWebSocketPeer:
	var c := RustWebSocketPeer.new()
	if setup.is_valid():
		setup.call(c)
	check_eq(c.connect_to_url(_url(server, path)), OK, "connect_to_url")
	pollables.append(c)
	return c


## Sends raw bytes over TCP and returns everything the server answers until it closes (or,
## with `until_head`, until the response's head is complete: a 101 keeps the socket open).
func _raw_exchange(server: WebSocketServer, request: PackedByteArray, until_head := false) -> String:
	var tcp := StreamPeerTCP.new()
	tcp.connect_to_host("127.0.0.1", server.get_local_port())
	var sent := false
	var reply := PackedByteArray()
	var deadline := Time.get_ticks_msec() + 3000
	while Time.get_ticks_msec() < deadline:
		if until_head and reply.get_string_from_utf8().contains("\r\n\r\n"):
			break
		server.poll()
		tcp.poll()
		var st := tcp.get_status()
		if st == StreamPeerTCP.STATUS_CONNECTED:
			if not sent:
				tcp.put_data(request)
				sent = true
			var n := tcp.get_available_bytes()
			if n > 0:
				reply.append_array(tcp.get_partial_data(n)[1])
		elif sent and st != StreamPeerTCP.STATUS_CONNECTING:
			break
		await get_tree().process_frame
	tcp.disconnect_from_host()
	return reply.get_string_from_utf8()


func _upgrade_request(extra := "") -> String:
	return "GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % extra


func test_every_method_and_signal() -> void:
	var server := _server()
	check(server.is_listening(), "is_listening")
	check(server.get_local_port() > 0, "port 0 picked a free port")
	check_eq(server.listen(0), ERR_ALREADY_IN_USE, "listen twice")
	var log := []
	record(server, log)
	var c := _client(server, "/room?x=1")
	if not await wait_until(func(): return c.get_ready_state() == 1 and count(log, "connected") == 1, "connected"):
		return
	var id: int = find(log, "connected")[1]
	check(server.has_peer(id) and not server.has_peer(id + 1), "has_peer")
	check_eq(server.get_peer_ids(), PackedInt64Array([id]), "get_peer_ids")
	check_eq(server.get_peer_address(id), "127.0.0.1", "get_peer_address")
	check(server.get_peer_port(id) > 0, "get_peer_port")
	check_eq(server.get_peer(id).get_requested_url(), _url(server, "/room?x=1"), "requested URL")
	check(server.get_peer(id) == server.get_peer(id), "get_peer returns the same object every time")
	c.send_text("one")
	await wait_until(func(): return count(log, "data") == 1, "data_received")
	check_eq(server.get_peer(id).get_packet().get_string_from_utf8(), "one", "message")
	server.disconnect_peer(id, 4005, "kicked")
	if await wait_until(func(): return c.get_ready_state() == 3 and count(log, "disconnected") == 1, "disconnected"):
		check_eq([c.get_close_code(), c.get_close_reason()], [4005, "kicked"], "client sees the code and reason")
		check_eq(find(log, "disconnected"), ["disconnected", id, true], "client_disconnected(id, true)")
		check_eq(count(log, "close_request"), 0, "no close request: the server closed")
	check(not server.has_peer(id), "gone")
	server.stop()
	check(not server.is_listening(), "stopped")
	check_eq(server.get_local_port(), 0, "no port after stop")


func test_ids_are_random_unique_and_in_range() -> void:
	var server := _server()
	var log := []
	record(server, log)
	for i in 20:
		_client(server)
	await wait_until(func(): return count(log, "connected") == 20, "20 connected")
	var ids := {}
	for e in log:
		if e[0] == "connected":
			ids[e[1]] = true
			check(e[1] >= 2 and e[1] <= 0x7FFFFFFF, "id %d in [2, 2^31-1]" % e[1])
	check_eq(ids.size(), 20, "unique ids")


func test_client_that_never_finishes_the_handshake_is_dropped() -> void:
	var server := _server(func(s): s.handshake_timeout = 0.3)
	check_eq(server.handshake_timeout, 0.3, "handshake_timeout")
	var log := []
	record(server, log)
	var slow := StreamPeerTCP.new()
	slow.connect_to_host("127.0.0.1", server.get_local_port())
	var t0 := Time.get_ticks_msec()
	var partial_sent := [false]
	var dropped := func() -> bool:
		slow.poll()
		if slow.get_status() == StreamPeerTCP.STATUS_CONNECTED and not partial_sent[0]:
			slow.put_data("GET / HTTP/1.1\r\nHost: x\r\n".to_ascii_buffer())  # never finished
			partial_sent[0] = true
		return partial_sent[0] and slow.get_status() != StreamPeerTCP.STATUS_CONNECTED
	# Meanwhile a real client connects and talks.
	var good := _client(server)
	if await wait_until(dropped, "slow client dropped", 5.0):
		var ms := Time.get_ticks_msec() - t0
		check(ms >= 250 and ms < 2000, "dropped after about handshake_timeout (%d ms)" % ms)
	check_eq(good.get_ready_state(), 1, "the good client is unaffected")
	check_eq(count(log, "connected"), 1, "only the good client connected")


func test_five_hundred_clients_at_once() -> void:
	var server := _server()
	var weak: WeakRef = weakref(server)
	var counts := {"connected": 0, "data": 0, "disconnected": 0, "clean": 0}
	server.client_connected.connect(func(_id, _p): counts["connected"] += 1)
	server.client_disconnected.connect(func(_id, clean): counts["disconnected"] += 1; counts["clean"] += int(clean))
	server.data_received.connect(func(id):
		counts["data"] += 1
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		var pkt := peer.get_packet()
		peer.put_packet(pkt))
	var clients: Array[RustWebSocketPeer] = []
	for i in 500:
		var c := RustWebSocketPeer.new()
		c.connect_to_url(_url(server))
		clients.append(c)
	var t0 := Time.get_ticks_msec()
	var all := func(st: int) -> bool:
		server.poll()
		var n := 0
		for c in clients:
			c.poll()
			n += int(c.get_ready_state() == st)
		return n == clients.size()
	if not await wait_until(func(): return all.call(1), "500 open", 20.0):
		for c in clients:
			c.close(-1)
		return
	var t_open := Time.get_ticks_msec() - t0
	for i in clients.size():
		clients[i].put_packet(("hello %d" % i).to_utf8_buffer())
	var echoed := func() -> bool:
		server.poll()
		var n := 0
		for c in clients:
			c.poll()
			n += int(c.get_available_packet_count() > 0)
		return n == clients.size()
	if await wait_until(echoed, "500 echoes", 20.0):
		var ok := 0
		for i in clients.size():
			ok += int(clients[i].get_packet().get_string_from_utf8() == "hello %d" % i)
		check_eq(ok, 500, "every client got its own message back")
	for c in clients:
		c.close(1000, "bye")
	await wait_until(func(): return all.call(3) and counts["disconnected"] == 500, "500 closed", 20.0)
	check_eq(counts, {"connected": 500, "data": 500, "disconnected": 500, "clean": 500}, "signal counts")
	print("    500 clients: all open after %d ms, whole exchange and close after %d ms" % [t_open, Time.get_ticks_msec() - t0])


func test_handlers_may_disconnect_stop_and_drop_the_server() -> void:
	var holder := [_server()]
	var server: WebSocketServer = holder[0]
	var log := []
	record(server, log)
	var weak: WeakRef = weakref(server)
	# Disconnect from inside data_received, then read the peer after it is gone.
	server.data_received.connect(func(id):
		var s: WebSocketServer = weak.get_ref()
		s.get_peer(id).send_text("last words")
		s.disconnect_peer(id, 4006, "from handler"))
	var a := _client(server)
	await wait_until(func(): return a.get_ready_state() == 1, "a open")
	a.send_text("trigger")
	if await wait_until(func(): return a.get_ready_state() == 3, "a closed by the handler"):
		check_eq(a.get_close_code(), 4006, "close code from handler")
		check_eq(a.get_available_packet_count(), 1, "the message sent by the handler arrived before the close")
	await wait_until(func(): return count(log, "disconnected") == 1, "one disconnect")
	# stop() and dropping our last reference from inside client_connected.
	server.client_connected.connect(func(_id, _p):
		weak.get_ref().stop()
		holder.clear())
	pollables.erase(server)
	server = null
	var b := RustWebSocketPeer.new()
	b.connect_to_url("ws://127.0.0.1:%d/" % weak.get_ref().get_local_port())
	var deadline := Time.get_ticks_msec() + 3000
	while weak.get_ref() != null and Time.get_ticks_msec() < deadline:
		weak.get_ref().poll()
		b.poll()
		await get_tree().process_frame
	check(weak.get_ref() == null, "the server was freed from inside its own signal")
	check_eq(count(log, "disconnected"), 2, "stop() inside the handler reported the new client once")
	var b_closed := func() -> bool:
		b.poll()
		return b.get_ready_state() == 3
	if await wait_until(b_closed, "b closed by stop()"):
		check_eq(b.get_close_code(), 1001, "b saw stop()'s 1001 (going away)")
	b.close(-1)


func test_stop_closes_every_peer_with_1001() -> void:
	var server := _server()
	var log := []
	record(server, log)
	var clients := [_client(server), _client(server), _client(server)]
	await wait_until(func(): return count(log, "connected") == 3, "3 connected")
	server.stop()
	check_eq(count(log, "disconnected"), 3, "stop() emitted client_disconnected for each, at once")
	pollables.erase(server)
	if await wait_until(func(): return clients.all(func(c): return c.get_ready_state() == 3), "clients closed"):
		check_eq(clients.map(func(c): return c.get_close_code()), [1001, 1001, 1001], "clients saw 1001 (going away)")


func test_subprotocols_refused_and_lenient() -> void:
	var strict := _server(func(s): s.supported_protocols = PackedStringArray(["game-v2"]))
	var c := _client(strict, "/", func(c): c.supported_protocols = PackedStringArray(["game-v1"]))
	await wait_until(func(): return c.get_ready_state() == 3, "refused")
	var reply := await _raw_exchange(strict, _upgrade_request("Sec-WebSocket-Protocol: game-v1\r\n").to_ascii_buffer())
	check(reply.begins_with("HTTP/1.1 400 Bad Request"), "400 for an unsupported protocol: " + reply)
	var ok := await _raw_exchange(strict, _upgrade_request("Sec-WebSocket-Protocol: game-v1, game-v2\r\n").to_ascii_buffer(), true)
	check(ok.begins_with("HTTP/1.1 101") and ok.contains("Sec-WebSocket-Protocol: game-v2\r\n"), "101 with game-v2: " + ok)
	# With no supported protocols, an offer is accepted without a protocol (RFC 6455).
	var lenient := _server()
	var reply2 := await _raw_exchange(lenient, _upgrade_request("Sec-WebSocket-Protocol: anything\r\n").to_ascii_buffer(), true)
	check(reply2.begins_with("HTTP/1.1 101") and not reply2.contains("Sec-WebSocket-Protocol"), "lenient 101: " + reply2)


func test_http_errors_for_bad_requests() -> void:
	var server := _server()
	var plain := await _raw_exchange(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_ascii_buffer())
	check(plain.begins_with("HTTP/1.1 426 Upgrade Required\r\n") and plain.contains("Sec-WebSocket-Version: 13"), "426: " + plain)
	var garbage := PackedByteArray()
	for i in 300:
		garbage.append((i * 37 + 11) % 256)
	var g := await _raw_exchange(server, garbage)
	check(g.begins_with("HTTP/1.1 400"), "400 for garbage: " + g.substr(0, 60))
	var bad_key := await _raw_exchange(server, _upgrade_request().replace("dGhlIHNhbXBsZSBub25jZQ==", "short").to_ascii_buffer())
	check(bad_key.begins_with("HTTP/1.1 400"), "400 for a bad key: " + bad_key.substr(0, 60))
	var post := await _raw_exchange(server, _upgrade_request().replace("GET", "POST").to_ascii_buffer())
	check(post.begins_with("HTTP/1.1 405"), "405 for POST: " + post.substr(0, 60))
	var c := _client(server)
	check(await wait_until(func(): return c.get_ready_state() == 1, "a real client after all that"), "server still serves")


func test_request_headers_are_visible_to_the_game() -> void:
	var server := _server(func(s): s.handshake_headers = PackedStringArray(["X-Server: rust"]))
	var seen := {}
	var weak: WeakRef = weakref(server)
	server.client_connected.connect(func(id, _p):
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		seen["cookie"] = peer.get_request_header("Cookie")
		seen["auth"] = peer.get_request_header("authorization")
		seen["origin"] = peer.get_request_headers().get("origin", "")
		seen["url"] = peer.get_requested_url()
		if peer.get_request_header("authorization") != "Bearer t0k3n":
			weak.get_ref().disconnect_peer(id, 4401, "unauthorized"))
	var good := _client(server, "/lobby?room=7", func(c): c.handshake_headers = PackedStringArray(["Origin: https://game.example", "Cookie: session=abc", "Authorization: Bearer t0k3n"]))
	await wait_until(func(): return seen.size() == 4, "headers seen")
	check_eq(seen, {"cookie": "session=abc", "auth": "Bearer t0k3n", "origin": "https://game.example", "url": _url(server, "/lobby?room=7")}, "request seen by the game")
	var bad := _client(server, "/", func(c): c.handshake_headers = PackedStringArray(["Authorization: nope"]))
	if await wait_until(func(): return bad.get_ready_state() == 3, "rejected by the game"):
		check_eq(bad.get_close_code(), 4401, "rejected with the game's code")
	check_eq(good.get_ready_state(), 1, "the authorized client stays")
	var reply := await _raw_exchange(server, _upgrade_request().to_ascii_buffer(), true)
	check(reply.contains("X-Server: rust\r\n"), "handshake_headers in the 101 response: " + reply)


func test_max_peers_refuses_extra_clients_with_503() -> void:
	var server := _server(func(s): s.max_peers = 2)
	var a := _client(server)
	var b := _client(server)
	await wait_until(func(): return a.get_ready_state() == 1 and b.get_ready_state() == 1, "two open")
	var reply := await _raw_exchange(server, _upgrade_request().to_ascii_buffer())
	check(reply.begins_with("HTTP/1.1 503"), "503 when full: " + reply.substr(0, 40))
	a.close()
	await wait_until(func(): return server.get_peer_ids().size() == 1, "one left")
	var c := _client(server)
	check(await wait_until(func(): return c.get_ready_state() == 1, "room again"), "a new client fits after one left")


func test_peer_settings_come_from_the_server() -> void:
	var server := _server(func(s):
		s.inbound_buffer_size = 1024
		s.heartbeat_interval = 0.25)
	var log := []
	record(server, log)
	var c := _client(server)
	# Both sides: with the I/O thread, the server may report the client before the client saw its 101.
	await wait_until(func(): return count(log, "connected") == 1 and c.get_ready_state() == 1, "connected")
	var peer: RustWebSocketPeer = server.get_peer(find(log, "connected")[1])
	check_eq([peer.inbound_buffer_size, peer.heartbeat_interval], [1024, 0.25], "peer settings")
	var big := PackedByteArray()
	big.resize(2000)
	check_eq(c.put_packet(big), OK, "put_packet of 2000 bytes")
	if await wait_until(func(): return c.get_ready_state() == 3, "closed for size"):
		check_eq(c.get_close_code(), 1009, "1009 from the server's inbound_buffer_size")
		check_eq(peer.get_close_code(), 1009, "server-side close code")


func test_request_validator_answers_before_the_upgrade() -> void:
	var server := _server()
	var log := []
	record(server, log)
	var seen := []
	var weak: WeakRef = weakref(server)
	server.request_validator = func(id: int, peer: RustWebSocketPeer):
		# The validator may call back into the server, and its own peer is not connected yet
		# (another may be: the first client can be in before the second's request arrives).
		seen.append([id > 1, peer.get_requested_url().ends_with("/v?room=1"), weak.get_ref().get_peer_ids().has(id)])
		var auth := peer.get_request_header("authorization")
		if auth == "Bearer ok":
			return true
		return 401 if auth.is_empty() else false
	check(server.request_validator.is_valid(), "request_validator set")
	var good := _client(server, "/v?room=1", func(c): c.handshake_headers = PackedStringArray(["Authorization: Bearer ok"]))
	var bad := _client(server, "/v?room=1", func(c): c.handshake_headers = PackedStringArray(["Authorization: Bearer nope"]))
	# (The server's signal may come a poll after the client opened: with its I/O thread, the
	# 101 goes out before the game's poll hands the connection over.)
	await wait_until(func(): return good.get_ready_state() == 1 and bad.get_ready_state() == 3 and count(log, "connected") >= 1, "good in, bad out")
	check_eq(count(log, "connected"), 1, "only the accepted client connected")
	check_eq(seen, [[true, true, false], [true, true, false]], "validator saw both requests, each before its peer connected")
	var no_auth := await _raw_exchange(server, _upgrade_request().to_ascii_buffer())
	check(no_auth.begins_with("HTTP/1.1 401 Unauthorized"), "401 from the validator: " + no_auth.substr(0, 40))
	var refused := await _raw_exchange(server, _upgrade_request("Authorization: x\r\n").to_ascii_buffer())
	check(refused.begins_with("HTTP/1.1 403 Forbidden"), "403 for false: " + refused.substr(0, 40))
	server.request_validator = Callable()
	var open := _client(server)
	check(await wait_until(func(): return open.get_ready_state() == 1, "no validator: accepted"), "validator removed")


func test_broadcast_reaches_all_but_the_excluded_and_reports_full_queues() -> void:
	var server := _server(func(s): s.compression_enabled = true)
	var log := []
	record(server, log)
	var plain := _client(server, "/plain")
	var deflating := _client(server, "/deflating", func(c): c.compression_enabled = true)
	var full := _client(server, "/full")
	var clients := [plain, deflating, full]
	if not await wait_until(func(): return count(log, "connected") == 3 and clients.all(func(c): return c.get_ready_state() == 1), "3 connected"):
		return
	check_eq(deflating.get_negotiated_extensions(), "permessage-deflate", "one client compresses")
	var id_of := func(path: String) -> int:
		for id in server.get_peer_ids():
			if server.get_peer(id).get_requested_url().ends_with(path):
				return id
		return -1
	var full_id: int = id_of.call("/full")
	server.get_peer(full_id).max_queued_packets = 0  # its server-side queue takes nothing
	var state := JSON.stringify({"tick": 7, "entities": range(60)})
	check_eq(server.broadcast_text(state), ERR_OUT_OF_MEMORY, "one queue was full: the others have it")
	for c in [plain, deflating]:
		if await wait_until(func(): return c.get_available_packet_count() == 1, "the broadcast arrives"):
			check_eq(c.get_packet().get_string_from_utf8(), state, "text, byte-exact")
			check(c.was_string_packet(), "as text")
	server.get_peer(full_id).max_queued_packets = 4096
	var plain_id: int = id_of.call("/plain")
	check_eq(server.broadcast(PackedByteArray([1, 2, 3]), RustWebSocketPeer.WRITE_MODE_BINARY, plain_id), OK, "binary, one excluded")
	for c in [deflating, full]:
		if await wait_until(func(): return c.get_available_packet_count() == 1, "the binary broadcast arrives"):
			check_eq(c.get_packet(), PackedByteArray([1, 2, 3]), "binary, byte-exact")
			check(not c.was_string_packet(), "as binary")
	check_eq(server.broadcast_text("end"), OK, "a last broadcast to all")
	if await wait_until(func(): return plain.get_available_packet_count() > 0, "the last broadcast arrives"):
		check_eq(plain.get_packet().get_string_from_utf8(), "end", "the excluded client got nothing before it")
	check_eq(WebSocketServer.new().broadcast_text("nobody"), OK, "no server, nobody to reach: OK")
