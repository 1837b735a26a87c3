extends "res://lib/parity_suite.gd"
## Differential tests (lib/parity_suite.gd), messages and the handshake: RustWebSocketPeer and the
## engine's WebSocketPeer against the same servers must leave the same trace. Closing and protocol
## errors: test_parity_close.gd; caps, errors, reuse, heartbeat and enums: test_parity_api.gd.


# --- Messages -------------------------------------------------------------------------------


func _send_text(peer, trace: Array) -> void:
	trace.append("send_text -> %d" % peer.send_text("hello"))
	trace.append("send_text -> %d" % peer.send_text("héllo ✓ ünïcode"))


func test_text_messages() -> void:
	await _same(_echoed(_send_text, 2), OPENED + [
		"send_text -> 0", "send_text -> 0", "pkt t[5] hello", "pkt t[20] héllo ✓ ünïcode"] + CLEAN_CLOSE)


func _send_binary(peer, trace: Array) -> void:
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([0, 1, 2, 255])))
	trace.append("send bin -> %d" % peer.send(PackedByteArray([9, 9]), 1))
	trace.append("send bytes as text -> %d" % peer.send(PackedByteArray([65, 66]), 0))


func test_binary_messages_and_write_modes() -> void:
	await _same(_echoed(_send_binary, 3), OPENED + [
		"put_packet -> 0", "send bin -> 0", "send bytes as text -> 0",
		"pkt b[4] 000102ff", "pkt b[2] 0909", "pkt t[2] AB"] + CLEAN_CLOSE)


func _send_empty(peer, trace: Array) -> void:
	trace.append("send empty text -> %d" % peer.send(PackedByteArray(), 0))
	trace.append("send empty binary -> %d" % peer.send(PackedByteArray(), 1))
	trace.append("send_text empty -> %d" % peer.send_text(""))
	trace.append("marker -> %d" % peer.send_text("end"))


func test_empty_messages() -> void:
	await _same(_echoed(_send_empty, 4), OPENED + [
		"send empty text -> 0", "send empty binary -> 0", "send_text empty -> 0", "marker -> 0",
		"pkt t[0] ", "pkt b[0] ", "pkt t[0] ", "pkt t[3] end"] + CLEAN_CLOSE)


func _big(n: int) -> PackedByteArray:
	var big := PackedByteArray()
	big.resize(n)
	for i in big.size():
		big[i] = (i * 7) % 256
	return big


func _send_large(peer, trace: Array) -> void:
	trace.append("send 60000 -> %d" % peer.send(_big(60000), 1))


func test_large_message() -> void:
	await _same(_echoed(_send_large, 1), OPENED + ["send 60000 -> 0", "pkt " + _show(_big(60000), false)] + CLEAN_CLOSE)


## Same close code and reason on both; we also deliver the 1009 close frame to the server, which
## the engine (4.6) does not always manage before it drops the connection.
func test_message_over_inbound_buffer_closes_1009() -> void:
	var t: Array = await _both(_server_sends(RawServer.frame(2, _zeros(70000))))
	var local := ["connect_to_url -> 0", "state 0", "state 3", "closed 1009 'Message too big'"]
	# With the I/O thread our peer may connect and close before its first poll, so CONNECTING
	# ("state 0") is compared as every trace is: by the states the polls settle on.
	_check(t, _as_compared(local) + ["server got [\"close 1009 \"]"], local, false)
	check_eq(_as_compared(t[1].slice(0, -1)), _as_compared(t[0].slice(0, -1)), "local trace")


func _sc_fragmented(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := RawServer.frame(1, "Hel".to_utf8_buffer(), false)
		b.append_array(RawServer.frame(0, "lo ".to_utf8_buffer(), false))
		b.append_array(RawServer.frame(0, "world".to_utf8_buffer(), true))
		b.append_array(RawServer.frame(2, PackedByteArray([1]), false))
		b.append_array(RawServer.frame(0, PackedByteArray([2, 3]), true))
		r.after_handshake = b)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace, _pkts(trace, 2))


func test_fragmented_messages() -> void:
	await _same(_sc_fragmented, ["connect_to_url -> 0", "state 0", "pkt t[11] Hello world", "pkt b[3] 010203", "!state 3"])


func _sc_ping(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(9, "abc".to_utf8_buffer()))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace, func(): return raw.client_frames().size() >= 1, 1.0)
	trace.append("server got %s" % [raw.client_frames()])


func test_ping_is_answered_with_pong() -> void:
	await _same(_sc_ping, ["connect_to_url -> 0", "state 0", "server got [\"pong abc\"]", "!state 3"])


# --- Handshake ------------------------------------------------------------------------------


func _sc_request(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray([" chat ", "json"])
	peer.handshake_headers = PackedStringArray(["X-Token: abc123", "Cookie: a=b"])
	raw.protocol = "json"
	var url := _raw_url(raw, "/some/path?q=1&r=2")
	await _connect(peer, url, trace)
	var key := raw.header("Sec-WebSocket-Key")
	trace.append("key is 16 bytes in base64: %s" % (Marshalls.base64_to_raw(key).size() == 16))
	var req := raw.request.replace(key, "<key>").replace(":%d" % raw.tcp.get_local_port(), ":<port>")
	for line in req.split("\r\n"):
		trace.append("request: " + line)
	trace.append("supported_protocols %s" % [peer.supported_protocols])
	trace.append("selected '%s'" % peer.get_selected_protocol())
	trace.append("requested_url is the URL given: %s" % (peer.get_requested_url() == url))
	trace.append("connected_host %s" % peer.get_connected_host())
	trace.append("connected_port is the server's: %s" % (peer.get_connected_port() == raw.tcp.get_local_port()))
	trace.append("buffered %d" % peer.get_current_outbound_buffered_amount())


func test_request_bytes_headers_protocol_and_url() -> void:
	await _same(_sc_request, OPENED + [
		"key is 16 bytes in base64: true",
		"request: GET /some/path?q=1&r=2 HTTP/1.1",
		"request: Host: 127.0.0.1:<port>",
		"request: Upgrade: websocket",
		"request: Connection: Upgrade",
		"request: Sec-WebSocket-Key: <key>",
		"request: Sec-WebSocket-Version: 13",
		"request: Sec-WebSocket-Protocol: chat,json",
		"request: X-Token: abc123",
		"request: Cookie: a=b",
		"request: ", "request: ",  # the empty line that ends the head, then nothing
		"supported_protocols [\"chat\", \"json\"]",
		"selected 'json'",
		"requested_url is the URL given: true",
		"connected_host 127.0.0.1",
		"connected_port is the server's: true",
		"buffered 0"])


func _sc_protocol_selected(kind: String, trace: Array) -> void:
	var server := echo_server()
	server.supported_protocols = PackedStringArray(["b", "c"])
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray(["a", "b", "c"])
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	trace.append("selected '%s'" % peer.get_selected_protocol())
	await _close_clean(peer, trace)


func test_subprotocol_selected_in_client_order() -> void:
	await _same(_sc_protocol_selected, OPENED + ["selected 'b'"] + CLEAN_CLOSE)


func _sc_protocol_refused(kind: String, trace: Array) -> void:
	# Offered x; the server answers none, then (second connection) one it was not offered.
	for answer in ["", "zzz"]:
		var raw := _raw(func(r): r.protocol = answer)
		var peer = _make(kind)
		peer.supported_protocols = PackedStringArray(["x"])
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		trace.append("offered '%s', answered '%s'" % [raw.header("Sec-WebSocket-Protocol"), answer])
	# Offered none; the server answers one anyway.
	var raw2 := _raw(func(r): r.protocol = "zzz")
	var peer2 = _make(kind)
	await _connect(peer2, _raw_url(raw2), trace)
	await _run(peer2, trace)
	trace.append("offered '%s', answered 'zzz'" % raw2.header("Sec-WebSocket-Protocol"))


func test_subprotocol_mismatch_fails() -> void:
	var refused := ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"]
	await _same(_sc_protocol_refused, refused + ["offered 'x', answered ''"] + refused
		+ ["offered 'x', answered 'zzz'"] + refused + ["offered '', answered 'zzz'", "!state 1"])


func _sc_bad_responses(kind: String, trace: Array) -> void:
	var responses := [
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
	]
	for response in responses:
		var raw := _raw(func(r): r.response_override = response)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)


func test_bad_handshake_responses_fail() -> void:
	var refused := ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"]
	await _same(_sc_bad_responses, refused + refused + refused + ["!state 1"])
