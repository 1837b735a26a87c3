extends TestSuite
## RustWebSocketPeer's typed enums, used as GDScript types: `RustWebSocketPeer.State` and
## `RustWebSocketPeer.WriteMode` in variable, parameter, return and typed-array types, enum member
## access and `match`, as code written for the engine's WebSocketPeer uses them (the same code
## with WebSocketPeer passes on the engine).
##
## This file only compiles once the extension registers the enums (against an older build the
## runner reports "the suite does not compile"); it is kept apart so that the other suites run.


func _mode_name(mode: RustWebSocketPeer.WriteMode) -> String:
	match mode:
		RustWebSocketPeer.WRITE_MODE_TEXT:
			return "text"
		RustWebSocketPeer.WRITE_MODE_BINARY:
			return "binary"
	return "?"


func _state_of(peer: RustWebSocketPeer) -> RustWebSocketPeer.State:
	return peer.get_ready_state()


func test_enum_members_have_the_engine_values() -> void:
	var states: Array[RustWebSocketPeer.State] = [RustWebSocketPeer.State.STATE_CONNECTING, RustWebSocketPeer.State.STATE_OPEN, RustWebSocketPeer.State.STATE_CLOSING, RustWebSocketPeer.State.STATE_CLOSED]
	check_eq(states, [WebSocketPeer.STATE_CONNECTING, WebSocketPeer.STATE_OPEN, WebSocketPeer.STATE_CLOSING, WebSocketPeer.STATE_CLOSED], "State members")
	var modes: Array[RustWebSocketPeer.WriteMode] = [RustWebSocketPeer.WriteMode.WRITE_MODE_TEXT, RustWebSocketPeer.WriteMode.WRITE_MODE_BINARY]
	check_eq(modes, [WebSocketPeer.WRITE_MODE_TEXT, WebSocketPeer.WRITE_MODE_BINARY], "WriteMode members")
	check_eq(RustWebSocketPeer.State.STATE_OPEN, RustWebSocketPeer.STATE_OPEN, "State.STATE_OPEN is STATE_OPEN")
	check_eq(modes.map(_mode_name), ["text", "binary"], "typed parameter and match")


func test_typed_code_connects_and_sends() -> void:
	var server := echo_server()
	var p := RustWebSocketPeer.new()
	var s: RustWebSocketPeer.State = p.get_ready_state()
	check_eq(s, RustWebSocketPeer.STATE_CLOSED, "a new peer is closed")
	check_eq(_state_of(p), RustWebSocketPeer.State.STATE_CLOSED, "typed return")
	check_eq(p.connect_to_url("ws://127.0.0.1:%d/" % server.get_local_port()), OK, "connect_to_url")
	s = p.get_ready_state()
	check_eq(s, RustWebSocketPeer.STATE_CONNECTING, "connecting")
	pollables.append(p)
	if not await wait_until(func(): return _state_of(p) == RustWebSocketPeer.STATE_OPEN, "open"):
		return
	var m: RustWebSocketPeer.WriteMode = RustWebSocketPeer.WRITE_MODE_TEXT
	check_eq(p.send("typed text".to_utf8_buffer(), m), OK, "send(..., %s)" % _mode_name(m))
	m = RustWebSocketPeer.WriteMode.WRITE_MODE_BINARY
	check_eq(p.send(PackedByteArray([1, 2, 3]), m), OK, "send(..., %s)" % _mode_name(m))
	if await wait_until(func(): return p.get_available_packet_count() == 2, "both echoes"):
		var first := p.get_packet()
		check_eq([first.get_string_from_utf8(), p.was_string_packet()], ["typed text", true], "text echo")
		var second := p.get_packet()
		check_eq([second, p.was_string_packet()], [PackedByteArray([1, 2, 3]), false], "binary echo")
	p.close(1000, "typed")
	s = p.get_ready_state()
	var named := ""
	match s:
		RustWebSocketPeer.STATE_CONNECTING:
			named = "connecting"
		RustWebSocketPeer.STATE_OPEN:
			named = "open"
		RustWebSocketPeer.STATE_CLOSING:
			named = "closing"
		RustWebSocketPeer.STATE_CLOSED:
			named = "closed"
	check_eq(named, "closing", "match on a State after close()")
	if await wait_until(func(): return _state_of(p) == RustWebSocketPeer.State.STATE_CLOSED, "closed"):
		check_eq(p.get_close_code(), 1000, "close code")
