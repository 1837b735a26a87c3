extends TestSuite
## Differential tests: each scenario runs once with the engine's WebSocketPeer and once with
## RustWebSocketPeer, against the same kind of server, and the observable traces (states seen,
## packets with their text/binary flag, return codes, close codes and reasons, requested URL,
## selected protocol, what the server received) must be equal. The few documented improvements
## over the engine are checked explicitly instead.

const ENGINE := "engine"
const OURS := "ours"


func _make(kind: String):
	return WebSocketPeer.new() if kind == ENGINE else RustWebSocketPeer.new()


## Runs `scenario` (a method taking a peer kind and a trace array) for both peers; returns both traces.
func _both(scenario: Callable) -> Array:
	var traces := []
	for kind in [ENGINE, OURS]:
		var trace := []
		await scenario.call(kind, trace)
		cleanup()
		traces.append(trace)
	return traces


func _same(scenario: Callable) -> void:
	var t: Array = await _both(scenario)
	check_eq(t[1], t[0], "trace of RustWebSocketPeer (actual) vs WebSocketPeer (expected)")


func _show(pkt: PackedByteArray, is_text: bool) -> String:
	if is_text:
		var s := pkt.get_string_from_utf8()
		return "t[%d] %s" % [pkt.size(), s.substr(0, 40)]
	return "b[%d] %s" % [pkt.size(), pkt.slice(0, 8).hex_encode()]


## Polls `peer` (and the servers in `pollables`), recording state changes and every packet
## popped, until `done` returns true, the peer is CLOSED, or `timeout_s` passes.
func _run(peer, trace: Array, done := Callable(), timeout_s := 3.0) -> void:
	var last := -1
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while true:
		for p in pollables:
			p.poll()
		peer.poll()
		var st: int = peer.get_ready_state()
		if st != last:
			trace.append("state %d" % st)
			last = st
		while peer.get_available_packet_count() > 0:
			var pkt: PackedByteArray = peer.get_packet()
			trace.append("pkt " + _show(pkt, peer.was_string_packet()))
		if st == 3:
			trace.append("closed %d '%s'" % [peer.get_close_code(), peer.get_close_reason()])
			return
		if done.is_valid() and done.call():
			return
		if Time.get_ticks_msec() > deadline:
			trace.append("still in state %d after %.1f s" % [st, timeout_s])
			return
		await get_tree().process_frame


func _pkts(trace: Array, n: int) -> Callable:
	return func(): return trace.filter(func(e): return e.begins_with("pkt")).size() >= n


func _opened(peer) -> Callable:
	return func(): return peer.get_ready_state() != 0


## Connects `peer` to `url` and runs until it leaves CONNECTING.
func _connect(peer, url: String, trace: Array) -> void:
	trace.append("connect_to_url -> %d" % peer.connect_to_url(url))
	await _run(peer, trace, _opened(peer))


func _echo_url() -> String:
	return "ws://127.0.0.1:%d/" % echo_server().get_local_port()


func _raw(setup := Callable()) -> RawServer:
	var raw := RawServer.new()
	raw.listen()
	if setup.is_valid():
		setup.call(raw)
	pollables.append(raw)
	return raw


func _raw_url(raw: RawServer, path := "/") -> String:
	return "ws://127.0.0.1:%d%s" % [raw.tcp.get_local_port(), path]


func _close_clean(peer, trace: Array) -> void:
	peer.close(1000, "done")
	await _run(peer, trace)


# --- Messages -------------------------------------------------------------------------------


func _sc_text(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("send_text -> %d" % peer.send_text("hello"))
	trace.append("send_text -> %d" % peer.send_text("héllo ✓ ünïcode"))
	await _run(peer, trace, _pkts(trace, 2))
	await _close_clean(peer, trace)


func test_text_messages() -> void:
	await _same(_sc_text)


func _sc_binary(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([0, 1, 2, 255])))
	trace.append("send bin -> %d" % peer.send(PackedByteArray([9, 9]), 1))
	trace.append("send bytes as text -> %d" % peer.send(PackedByteArray([65, 66]), 0))
	await _run(peer, trace, _pkts(trace, 3))
	await _close_clean(peer, trace)


func test_binary_messages_and_write_modes() -> void:
	await _same(_sc_binary)


func _sc_empty(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("send empty text -> %d" % peer.send(PackedByteArray(), 0))
	trace.append("send empty binary -> %d" % peer.send(PackedByteArray(), 1))
	trace.append("send_text empty -> %d" % peer.send_text(""))
	trace.append("marker -> %d" % peer.send_text("end"))
	await _run(peer, trace, _pkts(trace, 4))
	await _close_clean(peer, trace)


func test_empty_messages() -> void:
	await _same(_sc_empty)


func _sc_large(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var big := PackedByteArray()
	big.resize(60000)
	for i in big.size():
		big[i] = (i * 7) % 256
	trace.append("send 60000 -> %d" % peer.send(big, 1))
	await _run(peer, trace, _pkts(trace, 1))
	await _close_clean(peer, trace)


func test_large_message() -> void:
	await _same(_sc_large)


func _sc_too_big(kind: String, trace: Array) -> void:
	var big := PackedByteArray()
	big.resize(70000)
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(2, big))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)
	await settle(0.1)
	trace.append("server got %s" % [raw.client_frames()])


## Same close code and reason on both; we also deliver the 1009 close frame to the server, which
## the engine (4.6) does not always manage before it drops the connection.
func test_message_over_inbound_buffer_closes_1009() -> void:
	var t: Array = await _both(_sc_too_big)
	check_eq(t[1].slice(0, -1), t[0].slice(0, -1), "local trace")
	check_eq(t[1][-1], "server got [\"close 1009 \"]", "the server receives our 1009")


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
	await _same(_sc_fragmented)


func _sc_ping(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(9, "abc".to_utf8_buffer()))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace, func(): return raw.client_frames().size() >= 1, 1.0)
	trace.append("server got %s" % [raw.client_frames()])


func test_ping_is_answered_with_pong() -> void:
	await _same(_sc_ping)


# --- Handshake ------------------------------------------------------------------------------


func _sc_request(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray([" chat ", "json"])
	peer.handshake_headers = PackedStringArray(["X-Token: abc123", "Cookie: a=b"])
	raw.protocol = "json"
	var url := _raw_url(raw, "/some/path?q=1&r=2")
	await _connect(peer, url, trace)
	var req := raw.request.replace(raw.header("Sec-WebSocket-Key"), "<key>").replace(":%d" % raw.tcp.get_local_port(), ":<port>")
	trace.append("request: " + req.c_escape())
	trace.append("supported_protocols %s" % [peer.supported_protocols])
	trace.append("selected '%s' requested '%s'" % [peer.get_selected_protocol(), peer.get_requested_url() == url])
	trace.append("connected %s:%s" % [peer.get_connected_host(), peer.get_connected_port() == raw.tcp.get_local_port()])
	trace.append("buffered %d" % peer.get_current_outbound_buffered_amount())


func test_request_bytes_headers_protocol_and_url() -> void:
	await _same(_sc_request)


func _sc_protocol_selected(kind: String, trace: Array) -> void:
	var server := echo_server()
	server.supported_protocols = PackedStringArray(["b", "c"])
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray(["a", "b", "c"])
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	trace.append("selected '%s'" % peer.get_selected_protocol())
	await _close_clean(peer, trace)


func test_subprotocol_selected_in_client_order() -> void:
	await _same(_sc_protocol_selected)


func _sc_protocol_refused(kind: String, trace: Array) -> void:
	# Offered x; the server answers none, then (second connection) one it was not offered.
	for answer in ["", "zzz"]:
		var raw := _raw(func(r): r.protocol = answer)
		var peer = _make(kind)
		peer.supported_protocols = PackedStringArray(["x"])
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
	# Offered none; the server answers one anyway.
	var raw2 := _raw(func(r): r.protocol = "zzz")
	var peer2 = _make(kind)
	await _connect(peer2, _raw_url(raw2), trace)
	await _run(peer2, trace)


func test_subprotocol_mismatch_fails() -> void:
	await _same(_sc_protocol_refused)


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
	await _same(_sc_bad_responses)


# --- Closing --------------------------------------------------------------------------------


func _sc_client_close(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	peer.close(4000, "bye now")
	trace.append("after close() state %d" % peer.get_ready_state())
	await _run(peer, trace)
	await settle(0.05)
	trace.append("server saw %s" % [log.filter(func(e): return e[0] != "connected").map(func(e): return [e[0]] + e.slice(2))])


func test_close_by_client() -> void:
	await _same(_sc_client_close)


func _sc_server_close(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	await wait_until(func(): return count(log, "connected") == 1, "server connected")
	server.disconnect_peer(find(log, "connected")[1], 4001, "server bye")
	await _run(peer, trace)
	await settle(0.05)
	trace.append("server saw %s" % [log.filter(func(e): return e[0] != "connected").map(func(e): return [e[0]] + e.slice(2))])


func test_close_by_server() -> void:
	await _same(_sc_server_close)


func _sc_close_no_code(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(8, PackedByteArray()))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)
	await settle(0.05)
	trace.append("server got %s" % [raw.client_frames()])


## A close frame without a status code: RFC 6455 section 7.1.5 (and browsers) report 1005; the
## engine reports 0. Everything else is the same.
func test_close_frame_without_code() -> void:
	var t: Array = await _both(_sc_close_no_code)
	check_eq(t[1], t[0].map(func(e): return e.replace("closed 0 ''", "closed 1005 ''")), "trace (engine's 0 read as 1005)")


func _sc_close_immediate(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	peer.close(-1)
	trace.append("after close(-1): state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])
	await wait_until(func(): return count(log, "disconnected") == 1, "server noticed")
	trace.append("server saw %s" % [find(log, "disconnected").slice(2)])


func test_close_negative_code_is_immediate() -> void:
	await _same(_sc_close_immediate)


func _sc_close_while_connecting(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	trace.append("connect -> %d" % peer.connect_to_url(_raw_url(raw)))
	peer.close()
	trace.append("state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])


func test_close_while_connecting() -> void:
	await _same(_sc_close_while_connecting)


func _sc_remote_drop(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.drop_after_send = true)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)


func test_remote_drops_tcp() -> void:
	await _same(_sc_remote_drop)


func _sc_tcp_reset(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	# The server leaves our message unread and closes: the kernel answers with a reset.
	peer.send_text("unread")
	await settle(0.05)
	raw.conn.disconnect_from_host()
	await _run(peer, trace)


func test_tcp_reset() -> void:
	await _same(_sc_tcp_reset)


func _protocol_error(bytes: PackedByteArray) -> Callable:
	return func(kind: String, trace: Array) -> void:
		var raw := _raw(func(r): r.after_handshake = bytes)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		await settle(0.05)
		trace.append("server got %s" % [raw.client_frames()])


func test_reserved_bits_close_1002() -> void:
	await _same(_protocol_error(RawServer.frame(1, "x".to_utf8_buffer(), true, 4)))


func test_masked_server_frame_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(1, "x".to_utf8_buffer(), true, 0, true)))


func test_reserved_opcode_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(3, "x".to_utf8_buffer())))


## A ping with 126 bytes of payload: RFC 6455 says fail with a close frame (1002), which we do;
## the engine drops the connection without one (close code -1).
func test_oversized_control_frame_closes_1002() -> void:
	var p := PackedByteArray()
	p.resize(126)
	var t: Array = await _both(_protocol_error(RawServer.frame(9, p)))
	check(t[0].has("closed -1 ''"), "engine: unclean close %s" % [t[0]])
	check(t[1].has("closed 1002 'Protocol error'"), "ours: 1002 %s" % [t[1]])
	check_eq(t[1][-1], "server got [\"close 1002 \"]", "the server receives our 1002")


func test_continuation_without_start_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(0, "x".to_utf8_buffer())))


# --- Caps, errors, reuse ---------------------------------------------------------------------


func _sc_outbound_caps(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var b := PackedByteArray()
	b.resize(101)
	peer.outbound_buffer_size = 100
	trace.append("101 bytes, cap 100 -> %d" % peer.send(b, 1))
	trace.append("100 bytes, cap 100 -> %d" % peer.put_packet(b.slice(0, 100)))
	b.resize(70000)
	peer.outbound_buffer_size = 65535
	trace.append("70000 bytes, cap 65535 -> %d" % peer.put_packet(b))
	peer.outbound_buffer_size = 0
	trace.append("70000 bytes, no cap -> %d" % peer.put_packet(b))
	await _run(peer, trace, _pkts(trace, 1))
	await _close_clean(peer, trace)


func test_outbound_caps() -> void:
	await _same(_sc_outbound_caps)


func _sc_not_open(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([1])))
	trace.append("send_text -> %d" % peer.send_text("x"))
	trace.append("get_packet -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])
	trace.append("available %d buffered %d" % [peer.get_available_packet_count(), peer.get_current_outbound_buffered_amount()])
	trace.append("state %d code %d reason '%s' url '%s' proto '%s'" % [peer.get_ready_state(), peer.get_close_code(), peer.get_close_reason(), peer.get_requested_url(), peer.get_selected_protocol()])


func test_calls_on_a_closed_peer() -> void:
	await _same(_sc_not_open)


func _sc_bad_urls(kind: String, trace: Array) -> void:
	var key := Crypto.new().generate_rsa(1024)
	var cert := Crypto.new().generate_self_signed_certificate(key, "CN=localhost")
	for url in ["", "http://example.com", "ftp://x/", "wss://localhost:1/"]:
		var peer = _make(kind)
		var tls: TLSOptions = TLSOptions.server(key, cert) if url.begins_with("wss") else null
		trace.append("'%s' -> %d state %d" % [url, peer.connect_to_url(url, tls), peer.get_ready_state()])


func test_bad_urls_and_server_tls_options() -> void:
	await _same(_sc_bad_urls)


func _sc_refused(kind: String, trace: Array) -> void:
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	var port := tcp.get_local_port()
	tcp.stop()
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % port, trace)
	await _run(peer, trace)


func test_connection_refused() -> void:
	await _same(_sc_refused)


func _sc_reuse(kind: String, trace: Array) -> void:
	var url := _echo_url()
	var peer = _make(kind)
	for round in 2:
		await _connect(peer, url, trace)
		trace.append("connect while open -> %d" % peer.connect_to_url(url))
		peer.send_text("round %d" % round)
		await _run(peer, trace, _pkts(trace, round + 1))
		await _close_clean(peer, trace)


func test_reuse_after_close() -> void:
	await _same(_sc_reuse)


func _sc_var(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var value := {"name": "player", "pos": Vector2(1.5, -2), "items": [1, 2, 3]}
	trace.append("put_var -> %d" % peer.put_var(value))
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() > 0, "echo")
	trace.append("get_var %s err %d string %s" % [peer.get_var(), peer.get_packet_error(), peer.was_string_packet()])
	await _close_clean(peer, trace)


func test_put_var_get_var() -> void:
	await _same(_sc_var)


func _sc_was_string(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := RawServer.text("a")
		b.append_array(RawServer.frame(2, PackedByteArray([1])))
		r.after_handshake = b)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await settle(0.05)
	peer.poll()
	trace.append("before any pop %s, available %d" % [peer.was_string_packet(), peer.get_available_packet_count()])
	peer.get_packet()
	trace.append("after text %s" % peer.was_string_packet())
	peer.get_packet()
	trace.append("after binary %s" % peer.was_string_packet())
	trace.append("empty queue -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])


func test_was_string_packet_is_about_the_last_pop() -> void:
	await _same(_sc_was_string)


func _sc_heartbeat_dead(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	peer.heartbeat_interval = 0.2
	await _connect(peer, _raw_url(raw), trace)
	var t0 := Time.get_ticks_msec()
	await _run(peer, trace, Callable(), 2.0)
	var ms := Time.get_ticks_msec() - t0
	print("    heartbeat 0.2 s: %s peer closed %d ms after opening" % [kind, ms])
	trace.append("closed one interval after the first ping: %s" % (ms >= 150 and ms < 350))
	trace.append("pings sent %s" % [raw.client_frames().filter(func(f): return f.begins_with("ping")).size() >= 1])


func test_heartbeat_closes_a_silent_link() -> void:
	await _same(_sc_heartbeat_dead)


func _sc_heartbeat_alive(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	peer.heartbeat_interval = 0.1
	await _connect(peer, _echo_url(), trace)
	await _run(peer, trace, Callable(), 0.6)
	trace.append("state %d" % peer.get_ready_state())
	await _close_clean(peer, trace)


func test_heartbeat_keeps_a_live_link_open() -> void:
	await _same(_sc_heartbeat_alive)


func _sc_engine_server(kind: String, trace: Array) -> void:
	var srv := EngineEchoServer.new()
	srv.listen()
	srv.peer.supported_protocols = PackedStringArray(["p2"])
	pollables.append(srv)
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray(["p1", "p2"])
	await _connect(peer, srv.url("/e"), trace)
	trace.append("selected '%s' server selected '%s'" % [peer.get_selected_protocol(), srv.peer.get_selected_protocol()])
	peer.send_text("to engine")
	await _run(peer, trace, _pkts(trace, 1))
	srv.peer.close(4002, "engine bye")
	await _run(peer, trace)


func test_against_the_engine_accept_stream_server() -> void:
	await _same(_sc_engine_server)


# --- Documented differences -----------------------------------------------------------------


## The engine drops messages that arrive in the same poll as the close frame (godot#107442); we
## keep them readable.
func test_messages_before_close_stay_readable() -> void:
	var scenario := func(kind: String, trace: Array) -> void:
		var raw := _raw(func(r):
			var b := RawServer.text("bye1")
			b.append_array(RawServer.text("bye2"))
			b.append_array(RawServer.close_frame(4000, "done"))
			r.after_handshake = b)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		trace.append("available after close %d" % peer.get_available_packet_count())
		while peer.get_available_packet_count() > 0:
			trace.append("late pkt " + peer.get_packet().get_string_from_utf8())
	var t: Array = await _both(scenario)
	check(t[0].has("closed 4000 'done'") and t[1].has("closed 4000 'done'"), "both close with 4000 'done': %s" % [t])
	var ours: Array = t[1].filter(func(e): return e.contains("bye"))
	check_eq(ours, ["pkt t[4] bye1", "pkt t[4] bye2"], "ours delivers both messages")
	check(t[0].filter(func(e): return e.contains("bye")).size() < 2, "the engine (4.6) drops them; if this fails, the engine was fixed: update the docs")


## The engine's wslay does not validate UTF-8 in text frames; RFC 6455 requires failing the
## connection with 1007, which we do.
func test_invalid_utf8_text_closes_1007() -> void:
	var scenario := _protocol_error(RawServer.frame(1, PackedByteArray([0x66, 0xFF, 0x6F])))
	var t: Array = await _both(scenario)
	check(t[1].has("closed 1007 'Invalid frame payload data'"), "ours closes with 1007: %s" % [t[1]])
	check(t[1].any(func(e): return e.contains("close 1007")), "the server receives our 1007: %s" % [t[1]])


func _sc_backpressure(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := PackedByteArray()
		for i in 10:
			b.append_array(RawServer.text("m%d" % i))
		r.after_handshake = b)
	var peer = _make(kind)
	peer.max_queued_packets = 3
	trace.append("connect -> %d" % peer.connect_to_url(_raw_url(raw)))
	var deadline := Time.get_ticks_msec() + 3000
	while peer.get_ready_state() == 0 and Time.get_ticks_msec() < deadline:
		raw.poll()
		peer.poll()
		await get_tree().process_frame
	for i in 20:
		raw.poll()
		peer.poll()
		await get_tree().process_frame
	trace.append("state %d, queued without reading: %d" % [peer.get_ready_state(), peer.get_available_packet_count()])
	var got := []
	deadline = Time.get_ticks_msec() + 3000
	while got.size() < 10 and Time.get_ticks_msec() < deadline:
		raw.poll()
		peer.poll()
		if peer.get_available_packet_count() > 0:
			got.append(peer.get_packet().get_string_from_utf8())
		await get_tree().process_frame
	trace.append("received in order: %s" % [got])
	trace.append("state %d" % peer.get_ready_state())


## A full inbound queue stops reading from the socket; nothing is dropped.
func test_full_inbound_queue_applies_back_pressure() -> void:
	await _same(_sc_backpressure)
