extends "res://lib/hostile_suite.gd"
## Hostile values for RustWebSocketPeer (how, and what "still works" means: lib/hostile_suite.gd):
## every method in each state of a peer (new, connecting, an open client, a server's peer), every
## property, and what must happen for an empty queue, close codes a frame cannot carry, messages
## over the outbound cap, and CR/LF in a URL.


# --- Every method and property ---------------------------------------------------------------


func test_peer_methods_on_a_new_peer() -> void:
	await _hammer_methods("RustWebSocketPeer", "new")


func test_peer_methods_while_connecting() -> void:
	await _hammer_methods("RustWebSocketPeer", "connecting")


func test_peer_methods_on_an_open_client() -> void:
	await _hammer_methods("RustWebSocketPeer", "open")


func test_peer_methods_on_a_server_peer() -> void:
	await _hammer_methods("RustWebSocketPeer", "server_side")


func test_peer_properties() -> void:
	await _hammer_properties("RustWebSocketPeer")


# --- Specific expectations -------------------------------------------------------------------


func test_get_packet_when_empty() -> void:
	_begin()
	var fresh := RustWebSocketPeer.new()
	check_eq(_call(fresh, "get_packet", [], "new peer"), PackedByteArray(), "new peer: get_packet")
	check_eq(fresh.callv("get_packet_error", []), FAILED, "new peer: get_packet_error (not open)")
	check_eq(_call(fresh, "get_var", [false], "new peer"), null, "new peer: get_var")
	for state in ["open", "server_side"]:
		var ctx: Dictionary = await _make("RustWebSocketPeer", state, state)
		if not check(not ctx.is_empty(), "a peer in state " + state):
			continue
		var p: Object = ctx["obj"]
		for i in 3:
			check_eq(_call(p, "get_packet", [], state), PackedByteArray(), "%s: get_packet on an empty queue" % state)
			check_eq(p.callv("get_packet_error", []), ERR_UNAVAILABLE, "%s: get_packet_error" % state)
		check_eq(_call(p, "get_var", [true], state), null, "%s: get_var on an empty queue" % state)
		check_eq(p.callv("get_packet_error", []), ERR_UNAVAILABLE, "%s: get_packet_error after get_var" % state)
		check_eq(_call(p, "get_available_packet_count", [], state), 0, "%s: available" % state)
		check_eq(_call(p, "was_string_packet", [], state), false, "%s: was_string_packet with nothing popped" % state)
		_dispose(ctx)


## close(code) with a code a close frame cannot carry (only 1000-1003, 1007-1013 and 3000-4999
## may be sent; 0..65535 is all 16 bits can hold) gives an error and closes without a status
## code (the engine sends such codes, truncated to 16 bits); a negative code closes at once
## (code -1, no close frame). No panic either way, and the peer closes normally afterwards.
func test_close_codes_a_frame_cannot_carry() -> void:
	_begin()
	for code in [65536, 70000, I64_MAX, 1 << 31, 65535, 5000, 2999, 1015, 1014, 1006, 1005, 1004, 999, 1, -1, -(1 << 31) - 1, I64_MIN]:
		var label := "close(%d)" % code
		var raw := RawServer.new()
		raw.listen()
		raw.echo_control = true
		var p := RustWebSocketPeer.new()
		_call(p, "connect_to_url", ["ws://127.0.0.1:%d/" % raw.tcp.get_local_port()], label)
		if not check(await _wait(func(): return _state(p) == 1, [raw, p], label, 3.0), label + ": open"):
			raw.stop()
			continue
		_call(p, "close", [code, "r"], label)
		if code < 0:
			check_eq([_state(p), p.callv("get_close_code", [])], [3, -1], label + ": closed at once, code -1")
			check(await _wait(func(): return raw.client_gone, [raw], label, 2.0), label + ": the connection is dropped")
			check_eq(raw.client_frames(), [], label + ": no close frame sent")
		else:
			# The intent to close is kept, the invalid code never reaches the wire: an error, then
			# a close frame without a status code, which the server echoes (1005 on our side).
			check(not _errors.is_empty(), label + ": an error is pushed")
			check_eq(_state(p), 2, label + ": closing")
			if check(await _wait(func(): return _state(p) == 3, [raw, p], label, 3.0), label + ": the closing handshake completes"):
				check_eq(raw.client_frames(), ["close "], label + ": one close frame, without a status code")
				check_eq([p.callv("get_close_code", []), p.callv("get_close_reason", [])], [1005, ""], label + ": the server's answer")
		p.callv("close", [-1, ""])
		raw.stop()
		var why: String = await _peer_works(p, label)
		check(why.is_empty(), "%s: afterwards the peer no longer works: %s" % [label, why])


func test_messages_over_the_outbound_cap() -> void:
	_begin()
	var mib := PackedByteArray()
	mib.resize(1 << 20)
	for state in ["open", "server_side"]:
		var ctx: Dictionary = await _make("RustWebSocketPeer", state, state)
		if not check(not ctx.is_empty(), "a peer in state " + state):
			continue
		var p: Object = ctx["obj"]
		check_eq(_call(p, "put_packet", [mib], state), ERR_OUT_OF_MEMORY, state + ": put_packet(1 MiB)")
		check_eq(_call(p, "send", [mib, 0], state), ERR_OUT_OF_MEMORY, state + ": send(1 MiB, text)")
		check_eq(_call(p, "send_text", ["a".repeat(1 << 20)], state), ERR_OUT_OF_MEMORY, state + ": send_text(1 MiB)")
		check_eq(_call(p, "get_current_outbound_buffered_amount", [], state), 0, state + ": nothing queued")
		if state == "open":
			# No cap: it goes out, and the engine's server (inbound_buffer_size 65535) closes 1009.
			_assign(p, "outbound_buffer_size", 0, state)
			check_eq(_call(p, "put_packet", [mib], state), OK, state + ": put_packet(1 MiB) without a cap")
			if check(await _wait(func(): return _state(p) == 3, [p], state, 5.0), state + ": closed by the server"):
				var code: int = p.callv("get_close_code", [])
				if p.io_thread and code == -1:
					# The engine closes its socket with our unread bytes in it, so the kernel
					# resets the connection, which discards the close frame if it had not left
					# yet; written from our I/O thread, more of the 1 MiB is unread there when
					# it closes, and the reset wins the race now and then.
					pass
				else:
					check_eq(code, 1009, state + ": 1009 from the server")
		_dispose(ctx)


## CR/LF or a space in a URL must not split the request line into extra headers: either the URL
## is refused (ERR_INVALID_PARAMETER) or the request head has exactly the expected lines. (The
## engine's WebSocketPeer, 4.6.3, copies them into the request as they are.)
func test_crlf_in_the_url_never_reaches_the_request_as_a_header() -> void:
	_begin()
	for tail in ["a\r\nY: b", "?q=\r\n\r\nGET /evil HTTP/1.1", "a b HTTP/1.1\r\nZ: c", "\nY: b"]:
		var raw := RawServer.new()
		raw.listen()
		var url := "ws://127.0.0.1:%d/%s" % [raw.tcp.get_local_port(), tail]
		var label := "connect_to_url(%s)" % _desc(url)
		var p := RustWebSocketPeer.new()
		var r = _call(p, "connect_to_url", [url], label)
		if r == OK:
			await _wait(func(): return raw.upgraded or _state(p) == 3, [raw, p], label, 3.0)
			var lines := raw.request.split("\r\n")
			var sent := raw.received.get_string_from_ascii()
			check(not sent.contains("\nY:") and not sent.contains("\nZ:") and not sent.contains("GET /evil"), "%s: the request carries an injected line: %s" % [label, sent.c_escape()])
			check(lines.size() > 0 and lines[0].begins_with("GET /") and lines[0].ends_with(" HTTP/1.1") and lines[0].count(" ") == 2, "%s: request line %s" % [label, lines[0].c_escape() if lines.size() > 0 else "(none)"])
		else:
			check_eq(r, ERR_INVALID_PARAMETER, label)
		p.callv("close", [-1, ""])
		raw.stop()
