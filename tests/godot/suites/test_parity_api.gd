extends "res://lib/parity_suite.gd"
## Differential tests (lib/parity_suite.gd), the rest of the peer's API: outbound caps, calls on a
## closed peer, bad URLs, refused connections, reuse after close, put_var/get_var,
## was_string_packet, heartbeat, the engine's own accept_stream server, back-pressure, and the
## enums.


# --- Caps, errors, reuse ---------------------------------------------------------------------


func _sc_outbound_caps(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var b := PackedByteArray()
	b.resize(101)
	peer.outbound_buffer_size = 100
	trace.append("101 bytes, cap 100 -> %d" % peer.send(b, 1))
	trace.append("100 bytes, cap 100 -> %d" % peer.put_packet(b.slice(0, 100)))
	await _run(peer, trace, _pkts(trace, 1))
	b.resize(70000)
	peer.outbound_buffer_size = 65535
	trace.append("70000 bytes, cap 65535 -> %d" % peer.put_packet(b))
	peer.outbound_buffer_size = 0
	trace.append("70000 bytes, no cap -> %d" % peer.put_packet(b))
	# The echo server's inbound_buffer_size (65535) refuses it: 1009.
	await _run(peer, trace)


func test_outbound_caps() -> void:
	await _same(_sc_outbound_caps, OPENED + [
		"101 bytes, cap 100 -> %d" % ERR_OUT_OF_MEMORY, "100 bytes, cap 100 -> 0", "pkt " + _show(_zeros(100), false),
		"70000 bytes, cap 65535 -> %d" % ERR_OUT_OF_MEMORY, "70000 bytes, no cap -> 0", "state 3", "closed 1009 ''"])


func _sc_not_open(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([1])))
	trace.append("send_text -> %d" % peer.send_text("x"))
	trace.append("get_packet -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])
	trace.append("available %d buffered %d" % [peer.get_available_packet_count(), peer.get_current_outbound_buffered_amount()])
	trace.append("state %d code %d reason '%s' url '%s' proto '%s'" % [peer.get_ready_state(), peer.get_close_code(), peer.get_close_reason(), peer.get_requested_url(), peer.get_selected_protocol()])


func test_calls_on_a_closed_peer() -> void:
	await _same(_sc_not_open, [
		"put_packet -> %d" % FAILED, "send_text -> %d" % FAILED, "get_packet -> [] err %d" % FAILED,
		"available 0 buffered 0", "state 3 code -1 reason '' url '' proto ''"])


func _sc_bad_urls(kind: String, trace: Array) -> void:
	var key := Crypto.new().generate_rsa(1024)
	var cert := Crypto.new().generate_self_signed_certificate(key, "CN=localhost")
	for url in ["", "http://example.com", "ftp://x/", "wss://localhost:1/"]:
		var peer = _make(kind)
		var tls: TLSOptions = TLSOptions.server(key, cert) if url.begins_with("wss") else null
		trace.append("'%s' -> %d state %d" % [url, peer.connect_to_url(url, tls), peer.get_ready_state()])


func test_bad_urls_and_server_tls_options() -> void:
	var e := ERR_INVALID_PARAMETER
	await _same(_sc_bad_urls, ["'' -> %d state 3" % e, "'http://example.com' -> %d state 3" % e,
		"'ftp://x/' -> %d state 3" % e, "'wss://localhost:1/' -> %d state 3" % e])


func _sc_refused(kind: String, trace: Array) -> void:
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	var port := tcp.get_local_port()
	tcp.stop()
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % port, trace)
	await _run(peer, trace)


func test_connection_refused() -> void:
	await _same(_sc_refused, ["connect_to_url -> 0", "state 3", "closed -1 ''", "!state 1"])


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
	var round := func(n: int) -> Array:
		return OPENED + ["connect while open -> %d" % ERR_ALREADY_IN_USE, "pkt t[7] round %d" % n] + CLEAN_CLOSE
	await _same(_sc_reuse, round.call(0) + round.call(1))


func _sc_var(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var value := {"name": "player", "pos": Vector2(1.5, -2), "items": [1, 2, 3]}
	trace.append("put_var -> %d" % peer.put_var(value))
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() > 0, "echo")
	var got = peer.get_var()
	trace.append("get_var %s err %d string %s" % [got, peer.get_packet_error(), peer.was_string_packet()])
	trace.append("get_var equals put_var: %s" % (got == value))
	pollables.erase(peer)
	await _close_clean(peer, trace)


func test_put_var_get_var() -> void:
	await _same(_sc_var, OPENED + ["put_var -> 0", "~get_var {", "get_var equals put_var: true"] + CLEAN_CLOSE)


func _sc_was_string(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := RawServer.text("a")
		b.append_array(RawServer.frame(2, PackedByteArray([1])))
		r.after_handshake = b)
	var peer = _make(kind)
	trace.append("connect_to_url -> %d" % peer.connect_to_url(_raw_url(raw)))
	# Poll without popping: the packets stay queued.
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() == 2, "both messages queued")
	pollables.erase(peer)
	trace.append("before any pop %s, available %d" % [peer.was_string_packet(), peer.get_available_packet_count()])
	trace.append("pop %s" % peer.get_packet().get_string_from_utf8())
	trace.append("after text %s" % peer.was_string_packet())
	trace.append("pop %s" % peer.get_packet().hex_encode())
	trace.append("after binary %s" % peer.was_string_packet())
	trace.append("empty queue -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])


func test_was_string_packet_is_about_the_last_pop() -> void:
	await _same(_sc_was_string, ["connect_to_url -> 0", "before any pop false, available 2", "pop a", "after text true",
		"pop 01", "after binary false", "empty queue -> [] err %d" % ERR_UNAVAILABLE])


func _sc_heartbeat_dead(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	# 0.5 s, so that a hitch of the machine (or the I/O thread's opening a little before the
	# game sees it) does not blur one interval into none or two.
	peer.heartbeat_interval = 0.5
	await _connect(peer, _raw_url(raw), trace)
	var t0 := Time.get_ticks_msec()
	await _run(peer, trace, Callable(), 3.0)
	var ms := Time.get_ticks_msec() - t0
	print("    heartbeat 0.5 s: %s peer closed %d ms after opening" % [kind, ms])
	trace.append("closed one interval after the first ping: %s" % (ms >= 350 and ms < 800))
	trace.append("pings sent %s" % [raw.client_frames().filter(func(f): return f.begins_with("ping")).size() >= 1])


func test_heartbeat_closes_a_silent_link() -> void:
	await _same(_sc_heartbeat_dead, OPENED + ["state 3", "closed -1 ''", "closed one interval after the first ping: true", "pings sent true"])


func _sc_heartbeat_alive(kind: String, trace: Array) -> void:
	# This server answers pings (and the close handshake), nothing else: only pongs keep the link.
	var raw := _raw(func(r): r.echo_control = true)
	var peer = _make(kind)
	# (0.25 s: the pongs come from this thread's frames, which a hitch of the machine can delay.)
	peer.heartbeat_interval = 0.25
	await _connect(peer, _raw_url(raw), trace)
	# Four answered pings: three intervals at least, each of which would have closed a peer that
	# did not see the previous pong.
	await _run(peer, trace, func(): return raw.pongs_sent >= 4, 5.0)
	trace.append("after 4 answered pings: state %d" % peer.get_ready_state())
	await _close_clean(peer, trace)


func test_heartbeat_keeps_a_live_link_open() -> void:
	await _same(_sc_heartbeat_alive, OPENED + ["after 4 answered pings: state 1"] + CLEAN_CLOSE)


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
	await _same(_sc_engine_server, OPENED + ["selected 'p2' server selected 'p2'", "pkt t[9] to engine", "state 3", "closed 4002 'engine bye'"])


func _sc_backpressure(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := PackedByteArray()
		for i in 10:
			b.append_array(RawServer.text("m%d" % i))
		r.after_handshake = b)
	var peer = _make(kind)
	peer.max_queued_packets = 3
	trace.append("connect -> %d" % peer.connect_to_url(_raw_url(raw)))
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() >= 3, "the queue fills")
	# Nothing shows a read that does not happen: poll a bounded number of times more.
	for i in 20:
		raw.poll()
		peer.poll()
		await get_tree().process_frame
	pollables.erase(peer)
	trace.append("state %d, queued without reading: %d" % [peer.get_ready_state(), peer.get_available_packet_count()])
	var got := []
	var deadline := Time.get_ticks_msec() + 3000
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
	await _same(_sc_backpressure, ["connect -> 0", "state 1, queued without reading: 3",
		"received in order: [\"m0\", \"m1\", \"m2\", \"m3\", \"m4\", \"m5\", \"m6\", \"m7\", \"m8\", \"m9\"]", "state 1"])


# --- Enums ----------------------------------------------------------------------------------


## The same enums, with the same constants and values, registered as enums (ClassDB), so that
## `RustWebSocketPeer.State` and `RustWebSocketPeer.WriteMode` are types in GDScript.
func test_enums_match_the_engine() -> void:
	var ours := "RustWebSocketPeer"
	var engine_enums := Array(ClassDB.class_get_enum_list("WebSocketPeer", true))
	var our_enums := Array(ClassDB.class_get_enum_list(ours, true))
	engine_enums.sort()
	our_enums.sort()
	check_eq(our_enums, engine_enums, "class_get_enum_list")
	check_eq(engine_enums, ["State", "WriteMode"], "the engine's enums (the test's assumption)")
	for e in engine_enums:
		if not check(ClassDB.class_has_enum(ours, e, true), "class_has_enum(%s, %s)" % [ours, e]):
			continue
		var constants := ClassDB.class_get_enum_constants("WebSocketPeer", e, true)
		check_eq(ClassDB.class_get_enum_constants(ours, e, true), constants, "constants of %s" % e)
		for c in constants:
			check_eq(ClassDB.class_get_integer_constant(ours, c), ClassDB.class_get_integer_constant("WebSocketPeer", c), "value of %s" % c)
			check_eq(ClassDB.class_get_integer_constant_enum(ours, c, true), StringName(e), "enum of %s" % c)
	check(not ClassDB.class_get_integer_constant_enum(ours, "STATE_OPEN", true).is_empty(), "STATE_OPEN belongs to an enum")


## Methods typed with the enums in the engine (get_ready_state() -> State, send(..., WriteMode))
## are typed with ours.
func test_enum_typed_signatures_match_the_engine() -> void:
	var engine_methods := {}
	for m in ClassDB.class_get_method_list("WebSocketPeer", true):
		engine_methods[m["name"]] = m
	var compared := 0
	for m in ClassDB.class_get_method_list("RustWebSocketPeer", true):
		if not engine_methods.has(m["name"]):
			continue
		var e: Dictionary = engine_methods[m["name"]]
		var typed := func(info: Dictionary) -> String:
			var cn := String(info["class_name"])
			return cn.replace("WebSocketPeer.", "") if cn.begins_with("WebSocketPeer.") or cn.begins_with("RustWebSocketPeer.") else ""
		var ret_e: String = typed.call(e["return"])
		if not ret_e.is_empty():
			compared += 1
			check_eq(m["return"]["class_name"], StringName("RustWebSocketPeer." + ret_e), "%s() return type" % m["name"])
		for i in mini(e["args"].size(), m["args"].size()):
			var arg_e: String = typed.call(e["args"][i])
			if not arg_e.is_empty():
				compared += 1
				check_eq(m["args"][i]["class_name"], StringName("RustWebSocketPeer." + arg_e), "%s() argument %s type" % [m["name"], e["args"][i]["name"]])
	check(compared >= 2, "enum-typed signatures compared: %d (get_ready_state, send)" % compared)
