extends "res://lib/parity_suite.gd"
## Differential tests (lib/parity_suite.gd), closing: by either side, with odd codes, at once,
## while connecting, a dropped or reset connection, protocol errors, and the documented
## differences from the engine.


# --- Closing --------------------------------------------------------------------------------


func _sc_client_close(kind: String, trace: Array) -> void:
	var log := []
	var peer = _make(kind)
	await _connect_recorded(peer, trace, log)
	peer.close(4000, "bye now")
	trace.append("after close() state %d" % peer.get_ready_state())
	await _run(peer, trace)
	await wait_until(func(): return count(log, "disconnected") == 1, "the server reports the disconnection")
	trace.append(_server_saw(log))


func test_close_by_client() -> void:
	await _same(_sc_client_close, OPENED + [
		"after close() state 2", "state 3", "closed 4000 'bye now'",
		"server saw [[\"close_request\", 4000, \"bye now\"], [\"disconnected\", true]]"])


func _sc_server_close(kind: String, trace: Array) -> void:
	var log := []
	var peer = _make(kind)
	var server: WebSocketServer = await _connect_recorded(peer, trace, log)
	await wait_until(func(): return count(log, "connected") == 1, "server connected")
	server.disconnect_peer(find(log, "connected")[1], 4001, "server bye")
	await _run(peer, trace)
	await wait_until(func(): return count(log, "disconnected") == 1, "the server reports the disconnection")
	trace.append(_server_saw(log))


func test_close_by_server() -> void:
	await _same(_sc_server_close, OPENED + [
		"state 3", "closed 4001 'server bye'", "server saw [[\"disconnected\", true]]"])


## A close frame without a status code: RFC 6455 section 7.1.5 (and browsers) report 1005; the
## engine reports 0. Everything else is the same.
func test_close_frame_without_code() -> void:
	var t: Array = await _both(_server_sends(RawServer.frame(8, PackedByteArray())))
	var before := ["connect_to_url -> 0", "state 0", "state 3"]
	var after := ["server got [\"close \"]"]
	_check(t, before + ["closed 1005 ''"] + after, before + ["closed 0 ''"] + after, false)
	check_eq(_as_compared(t[1]), _as_compared(t[0].map(func(e): return e.replace("closed 0 ''", "closed 1005 ''"))), "trace (engine's 0 read as 1005)")


func _sc_close_code_zero(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.echo_control = true)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	peer.close(0, "zero")
	trace.append("after close(0) state %d" % peer.get_ready_state())
	# The server answers the client's close frame, so once the peer is closed the frame is in.
	await _run(peer, trace)
	trace.append("server got %s" % [raw.client_frames()])


## close(0): the engine (wslay) sends a close frame without a status code (0 is not a code that
## may appear on the wire, RFC 6455 section 7.4). The answer, a close frame without a code, reads
## 1005 on ours and 0 on the engine (see test_close_frame_without_code).
func test_close_code_zero_sends_a_close_without_code() -> void:
	var t: Array = await _both(_sc_close_code_zero)
	var before := OPENED + ["after close(0) state 2", "state 3"]
	var after := ["server got [\"close \"]"]
	_check(t, before + ["closed 1005 ''"] + after, before + ["closed 0 ''"] + after, false)
	check_eq(_as_compared(t[1]), _as_compared(t[0].map(func(e): return e.replace("closed 0 ''", "closed 1005 ''"))), "trace (engine's 0 read as 1005)")


func _sc_close_immediate(kind: String, trace: Array) -> void:
	var log := []
	var peer = _make(kind)
	await _connect_recorded(peer, trace, log)
	peer.close(-1)
	trace.append("after close(-1): state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])
	await wait_until(func(): return count(log, "disconnected") == 1, "server noticed")
	trace.append("server saw %s" % [find(log, "disconnected").slice(2)])


func test_close_negative_code_is_immediate() -> void:
	await _same(_sc_close_immediate, OPENED + ["after close(-1): state 3 code -1", "server saw [false]"])


func _sc_close_while_connecting(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	trace.append("connect -> %d state %d" % [peer.connect_to_url(_raw_url(raw)), peer.get_ready_state()])
	peer.close()
	trace.append("state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])


func test_close_while_connecting() -> void:
	await _same(_sc_close_while_connecting, ["connect -> 0 state 0", "state 3 code -1"])


func _sc_remote_drop(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.drop_after_send = true)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)


func test_remote_drops_tcp() -> void:
	await _same(_sc_remote_drop, ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"])


func _sc_tcp_reset(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.read_after_upgrade = false)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	# The server leaves our message unread and closes: the kernel answers with a reset.
	trace.append("send_text -> %d" % peer.send_text("unread"))
	await wait_until(func(): return raw.unread_bytes() > 0, "the message reaches the server's socket")
	raw.hang_up()
	await _run(peer, trace)


func test_tcp_reset() -> void:
	await _same(_sc_tcp_reset, OPENED + ["send_text -> 0", "state 3", "closed -1 ''"])


## What a peer does when it fails the connection with `code`: close, and tell the server.
func _failed_with(code: int, reason: String) -> Array:
	return ["connect_to_url -> 0", "state 0", "state 3", "closed %d '%s'" % [code, reason], "server got [\"close %d \"]" % code]


func test_reserved_bits_close_1002() -> void:
	await _same(_server_sends(RawServer.frame(1, "x".to_utf8_buffer(), true, 4)), _failed_with(1002, "Protocol error"))


func test_masked_server_frame_closes_1002() -> void:
	await _same(_server_sends(RawServer.frame(1, "x".to_utf8_buffer(), true, 0, true)), _failed_with(1002, "Protocol error"))


func test_reserved_opcode_closes_1002() -> void:
	await _same(_server_sends(RawServer.frame(3, "x".to_utf8_buffer())), _failed_with(1002, "Protocol error"))


## A ping with 126 bytes of payload: RFC 6455 says fail with a close frame (1002), which we do;
## the engine drops the connection without one (close code -1).
func test_oversized_control_frame_closes_1002() -> void:
	var p := PackedByteArray()
	p.resize(126)
	var t: Array = await _both(_server_sends(RawServer.frame(9, p)))
	_check(t, _failed_with(1002, "Protocol error"), ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''", "server got []"], false)


func test_continuation_without_start_closes_1002() -> void:
	await _same(_server_sends(RawServer.frame(0, "x".to_utf8_buffer())), _failed_with(1002, "Protocol error"))


## Invalid UTF-8 in a text message fails the connection with 1007 (RFC 6455 section 8.1); the
## engine (4.6.3) does so too.
func test_invalid_utf8_text_closes_1007() -> void:
	await _same(_server_sends(RawServer.frame(1, PackedByteArray([0x66, 0xFF, 0x6F]))), _failed_with(1007, "Invalid frame payload data"))


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
	var t: Array = await _both(scenario)
	var start := ["connect_to_url -> 0", "state 0", "state 3"]
	var end := ["closed 4000 'done'", "available after close 0"]
	# If the engine line fails, the engine was fixed: update the docs.
	_check(t, start + ["pkt t[4] bye1", "pkt t[4] bye2"] + end, start + end, false)
