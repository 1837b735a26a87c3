extends "res://lib/hostile_suite.gd"
## Hostile values for WebSocketServer (how, and what "still works" means: lib/hostile_suite.gd):
## every method when stopped and while listening with a client, every property, and what must
## happen for out-of-range ports, invalid peer ids and a request_validator returning junk.


# --- Every method and property ---------------------------------------------------------------


func test_server_methods_when_stopped() -> void:
	await _hammer_methods("WebSocketServer", "stopped")


func test_server_methods_while_listening() -> void:
	await _hammer_methods("WebSocketServer", "listening")


func test_server_properties() -> void:
	await _hammer_properties("WebSocketServer")


# --- Specific expectations -------------------------------------------------------------------


func test_listen_rejects_out_of_range_ports() -> void:
	_begin()
	for port in [-1, 65536, 70000, I64_MAX, I64_MIN, 1 << 31, -(1 << 31) - 1]:
		var label := "listen(%d, \"127.0.0.1\")" % port
		var s := WebSocketServer.new()
		check_eq(_call(s, "listen", [port, "127.0.0.1"], label), ERR_INVALID_PARAMETER, label)
		check(not _errors.is_empty(), "%s: an error is pushed" % label)
		check_eq([s.callv("is_listening", []), s.callv("get_local_port", [])], [false, 0], label + ": not listening")
		_wire_echo(s)
		var why: String = await _server_works(s, label)
		check(why.is_empty(), "%s: afterwards listen(0) does not work: %s" % [label, why])


func test_invalid_peer_ids() -> void:
	_begin()
	var ctx: Dictionary = await _make("WebSocketServer", "listening", "setup")
	if not check(not ctx.is_empty(), "a listening server with a client"):
		return
	var s: Object = ctx["obj"]
	var id: int = ctx["id"]
	var c: WebSocketPeer = ctx["client"]
	for bad in [-1, 0, 1, I64_MIN, I64_MAX, 1 << 40, 1 << 31, -(1 << 31) - 1, id + (1 << 32), id - (1 << 32)]:
		if bad == id:
			continue
		var label := "id %d" % bad
		check_eq(_call(s, "get_peer", [bad], label), null, label + ": get_peer")
		check(not _errors.is_empty(), label + ": get_peer pushes an error")
		check_eq(_call(s, "has_peer", [bad], label), false, label + ": has_peer")
		check_eq(_call(s, "get_peer_address", [bad], label), "", label + ": get_peer_address")
		check_eq(_call(s, "get_peer_port", [bad], label), 0, label + ": get_peer_port")
		_call(s, "disconnect_peer", [bad, 1000, "x"], label)
		check(not _errors.is_empty(), label + ": disconnect_peer pushes an error")
	check_eq(s.callv("get_peer_ids", []), PackedInt64Array([id]), "the real client is still there")
	c.send_text("still here")
	if check(await _wait(func(): return c.get_available_packet_count() > 0, [s, c], "echo", 3.0), "the real client still gets its echo"):
		check_eq(c.get_packet().get_string_from_utf8(), "still here", "echo")
	_dispose(ctx)


## A request_validator that returns anything but true, false or an HTTP error status refuses the
## client (with a warning), and so does one called with the wrong number of arguments; an
## invalid Callable (empty, or the method of a freed object) means no validator.
func test_request_validator_junk_refuses_the_client() -> void:
	_begin()
	for v in _values.callables():
		var label := "request_validator = %s" % _desc(v)
		var s := WebSocketServer.new()
		_wire_echo(s)
		_assign(s, "request_validator", v, label)
		if not check_eq(_call(s, "listen", [0, "127.0.0.1"], label), OK, label + ": listen"):
			continue
		var c := WebSocketPeer.new()
		c.connect_to_url("ws://127.0.0.1:%d/" % s.callv("get_local_port", []))
		var opened := [false]
		await _wait(func():
			opened[0] = opened[0] or c.get_ready_state() == 1
			return c.get_ready_state() == 3 or (opened[0] and not v.is_valid()), [s, c], label, 3.0)
		if v.is_valid():
			check(not opened[0] and c.get_ready_state() == 3, "%s: the client is refused (opened %s, state %d)" % [label, opened[0], c.get_ready_state()])
		else:
			check(opened[0], "%s: no validator, the client is accepted" % label)
		c.close(-1)
		_call(s, "stop", [], label)
		_assign(s, "request_validator", Callable(), label)
		var why: String = await _server_works(s, label)
		check(why.is_empty(), "%s: afterwards the server no longer works: %s" % [label, why])
