extends "res://lib/hostile_suite.gd"
## Hostile values for RustWebSocketMultiplayerPeer (how, and what "still works" means:
## lib/hostile_suite.gd): every method when new, as a server an engine client joined, as a
## client connecting and as a client joined to the engine's server, every property, and what must
## happen for out-of-range ports, URLs the engine rejects, create_* while in use, invalid peer
## ids, a packet to an unknown target, and the peer objects of get_peer() after the session.


# --- Every method and property ---------------------------------------------------------------


func test_multiplayer_peer_methods_when_new() -> void:
	await _hammer_methods(MP, "new")


func test_multiplayer_peer_methods_on_a_server_with_a_client() -> void:
	await _hammer_methods(MP, "server")


func test_multiplayer_peer_methods_on_a_connecting_client() -> void:
	await _hammer_methods(MP, "client_connecting")


func test_multiplayer_peer_methods_on_a_connected_client() -> void:
	await _hammer_methods(MP, "client_connected")


func test_multiplayer_peer_properties() -> void:
	await _hammer_properties(MP)


# --- Specific expectations -------------------------------------------------------------------


## create_server with a port outside 0..65535: ERR_INVALID_PARAMETER, an error pushed, still
## disconnected (the engine's class truncates the port to 16 bits and listens on that one).
func test_multiplayer_create_server_rejects_out_of_range_ports() -> void:
	_begin()
	for port in [-1, 65536, 70000, I64_MAX, I64_MIN, 1 << 31, -(1 << 31) - 1]:
		var label := "create_server(%d, \"127.0.0.1\")" % port
		var m: Object = ClassDB.instantiate(MP)
		check_eq(_call(m, "create_server", [port, "127.0.0.1"], label), ERR_INVALID_PARAMETER, label)
		check(not _errors.is_empty(), "%s: an error is pushed" % label)
		check_eq([_status(m), m.callv("get_local_port", []), m.callv("get_unique_id", [])], [DISCONNECTED, 0, 0], label + ": still disconnected")
		var why: String = await _mp_works(m, label)
		check(why.is_empty(), "%s: afterwards the peer does not work: %s" % [label, why])


## create_client with a URL the engine's WebSocketMultiplayerPeer also refuses (Godot 4.6.3:
## empty, no host, unclosed IPv6 bracket, another scheme, port 0 or outside 1..65535, a port
## that is not a number): ERR_INVALID_PARAMETER, an error pushed, still disconnected.
func test_multiplayer_create_client_rejects_bad_urls() -> void:
	_begin()
	for url in ["", "ws://", "wss://", "wss://[::1", "ws://[::1", "http://x", "ftp://127.0.0.1/",
			"ws://127.0.0.1:0/", "ws://127.0.0.1:99999/", "ws://127.0.0.1:65536/", "ws://127.0.0.1:-1/",
			"ws://127.0.0.1:%da" % _dead_port, "ws://127.0.0.1:99999999999999999999/", "ws://127.0.0.1:" + "9".repeat(10240)]:
		var label := "create_client(%s)" % _desc(url)
		var m: Object = ClassDB.instantiate(MP)
		check_eq(_call(m, "create_client", [url], label), ERR_INVALID_PARAMETER, label)
		check(not _errors.is_empty(), "%s: an error is pushed" % label)
		check_eq([_status(m), m.callv("get_unique_id", [])], [DISCONNECTED, 0], label + ": still disconnected")
		var why: String = await _mp_works(m, label)
		check(why.is_empty(), "%s: afterwards the peer does not work: %s" % [label, why])


## create_server or create_client on a peer that is hosting, connecting or connected:
## ERR_ALREADY_IN_USE with an error, and the session goes on untouched.
func test_multiplayer_create_while_in_use() -> void:
	_begin()
	for state in ["server", "client_connecting", "client_connected"]:
		var ctx: Dictionary = await _make(MP, state, state)
		if not check(not ctx.is_empty(), "%s: state reached" % state):
			continue
		var m: Object = ctx["obj"]
		var status := _status(m)
		var uid = m.callv("get_unique_id", [])
		var port = m.callv("get_local_port", [])
		for call in [["create_server", [0, "127.0.0.1"]], ["create_server", [_dead_port, "127.0.0.1"]],
				["create_server", [-1, "127.0.0.1"]], ["create_client", [_mp_host_url()]],
				["create_client", ["ws://127.0.0.1:%d/" % _dead_port]], ["create_client", [""]]]:
			var label := "%s: %s(%s)" % [state, call[0], ", ".join(call[1].map(_desc))]
			check_eq(_call(m, call[0], call[1], label), ERR_ALREADY_IN_USE, label)
			check(not _errors.is_empty(), "%s: an error is pushed" % label)
			check_eq([_status(m), m.callv("get_unique_id", []), m.callv("get_local_port", [])], [status, uid, port], label + ": nothing changed")
		if state != "client_connecting":
			var why: String = await _mp_exchange(m, ctx.get("remote"), ctx["id"], state)
			check(why.is_empty(), "%s: the session after the refused calls: %s" % [state, why])
		_dispose(ctx)


## Unknown, negative or huge peer ids: get_peer returns null, get_peer_address "" and
## get_peer_port 0, each with an error; disconnect_peer (either mode) pushes an error and
## nothing else happens: the real client stays, is not reported gone, and exchanges packets.
## (disconnect_peer takes a 32-bit id: values that truncate to the real id are left out.)
func test_multiplayer_invalid_peer_ids() -> void:
	_begin()
	for state in ["new", "server", "client_connecting", "client_connected"]:
		var ctx: Dictionary = await _make(MP, state, state)
		if not check(not ctx.is_empty(), "%s: state reached" % state):
			continue
		var m: Object = ctx["obj"]
		var id: int = ctx.get("id", 1)
		var gone := []
		m.connect("peer_disconnected", func(p: int) -> void: gone.append(p))
		var bads := [-1, 0, 2, 65536, 70000, I64_MIN, I64_MAX, 1 << 40, 1 << 31, -(1 << 31) - 1, (1 << 31) - 1,
			id + (1 << 32), id - (1 << 32), -id]
		# (A connecting client's id 1, the server, is left out: the engine's get_peer(1) returns
		# the connection and disconnect_peer(1) ends it; ours is tested as unknown only when new.)
		if state == "new":
			bads.append(1)
		elif state == "server":
			bads.append_array([1, id + 1, id - 1])
		for bad in bads:
			if bad == id and state != "new":
				continue
			var label := "%s: id %d" % [state, bad]
			check_eq(_call(m, "get_peer", [bad], label), null, label + ": get_peer")
			check(not _errors.is_empty(), label + ": get_peer pushes an error")
			check_eq(_call(m, "get_peer_address", [bad], label), "", label + ": get_peer_address")
			check(not _errors.is_empty(), label + ": get_peer_address pushes an error")
			check_eq(_call(m, "get_peer_port", [bad], label), 0, label + ": get_peer_port")
			check(not _errors.is_empty(), label + ": get_peer_port pushes an error")
			var as32: int = bad & 0xFFFFFFFF
			if as32 >= 1 << 31:
				as32 -= 1 << 32
			if as32 == id and state != "new":
				continue
			for force in [false, true]:
				_call(m, "disconnect_peer", [bad, force], label)
				check(not _errors.is_empty(), "%s: disconnect_peer(force %s) pushes an error" % [label, force])
		await _wait(func(): return false, ctx["poll"], state, 0.1)
		check_eq(gone, [], state + ": no peer_disconnected")
		if state in ["server", "client_connected"]:
			check_eq(_status(m), CONNECTED, state + ": still connected")
			var why: String = await _mp_exchange(m, ctx.get("remote"), id, state)
			check(why.is_empty(), "%s: the real peer afterwards: %s" % [state, why])
			if ctx.get("remote") != null:
				check_eq(ctx["remote"].get_connection_status(), CONNECTED, state + ": the engine client is still connected")
		elif state == "client_connecting":
			check_eq(_status(m), CONNECTING, state + ": still connecting")
		_dispose(ctx)


## Our server's put_packet to a target that is no connected client (an unknown id, itself):
## ERR_INVALID_PARAMETER with an error, nothing reaches the client; the next packet to the
## client's id arrives first. (set_target_peer takes a 32-bit id, as the engine's.)
func test_multiplayer_put_packet_to_an_unknown_target() -> void:
	_begin()
	var ctx: Dictionary = await _make(MP, "server", "setup")
	if not check(not ctx.is_empty(), "a server with a client"):
		return
	var m: Object = ctx["obj"]
	var c: WebSocketMultiplayerPeer = ctx["remote"]
	var id: int = ctx["id"]
	for target in [1, 2, 65536, 70000, (1 << 31) - 1, id + 1, id - 1]:
		if target == id or target < 1:
			continue
		var label := "target %d" % target
		_call(m, "set_target_peer", [target], label)
		check_eq(_call(m, "put_packet", [PackedByteArray([1, 2, 3])], label), ERR_INVALID_PARAMETER, label + ": put_packet")
		check(not _errors.is_empty(), label + ": an error is pushed")
		check_eq(_call(m, "put_var", ["x"], label), ERR_INVALID_PARAMETER, label + ": put_var")
	await _wait(func(): return false, ctx["poll"], "after", 0.1)
	check_eq(c.get_available_packet_count(), 0, "nothing reached the client")
	var why: String = await _mp_exchange(m, c, id, "afterwards")
	check(why.is_empty(), "a packet to the client afterwards: %s" % why)
	_dispose(ctx)


## A connection from get_peer() of a multiplayer peer in `state` (our server with its client,
## or our client joined), after `ending`: "close" (the session closed, the multiplayer peer kept
## and returned) or "free" (closed and let go). Returns [peer, engine client or null, instance id
## of the multiplayer peer, the multiplayer peer or null], or [] if the state was not reached.
## (A helper, so that no variable or temporary of the test keeps the multiplayer peer alive.)
func _orphan_peer(state: String, ending: String, label: String) -> Array:
	var ctx: Dictionary = await _make(MP, state, label)
	if ctx.is_empty():
		return []
	var m: Object = ctx["obj"]
	var p = _call(m, "get_peer", [ctx["id"]], label)
	if not check(p is Object and p.is_class("RustWebSocketPeer"), "%s: get_peer(%d) -> %s" % [label, ctx["id"], p]):
		_dispose(ctx)
		return []
	check_eq(_state(p), 1, label + ": the peer is open while the session is")
	var out := [p, ctx.get("remote"), m.get_instance_id(), null]
	if ending == "close":
		_call(m, "close", [], label)
		out[3] = m
	else:
		_dispose(ctx)
	return out


## The RustWebSocketPeer that get_peer() returns, used after its multiplayer peer closed the
## session and after it was freed: every call answers (closed), none panics.
func test_multiplayer_get_peer_outlives_its_session() -> void:
	_begin()
	for state in ["server", "client_connected"]:
		for ending in ["close", "free"]:
			var label := "%s, %s" % [state, ending]
			var got: Array = await _orphan_peer(state, ending, label)
			if not check(not got.is_empty(), label + ": state reached"):
				continue
			var p: Object = got[0]
			if ending == "free":
				# Finished coroutines and lambdas let go of what they captured within a few frames.
				for i in 10:
					if not is_instance_id_valid(got[2]):
						break
					await get_tree().process_frame
				check(not is_instance_id_valid(got[2]), label + ": the multiplayer peer is freed")
			for call in [["poll", []], ["get_ready_state", []], ["send_text", ["x"]], ["put_packet", [PackedByteArray([1])]],
					["get_packet", []], ["get_available_packet_count", []], ["get_connected_host", []],
					["get_connected_port", []], ["close", [1000, "bye"]], ["poll", []], ["close", [-1, ""]]]:
				_call(p, call[0], call[1], "%s: %s" % [label, call[0]])
			check_eq(_state(p), 3, label + ": the peer reads closed")
			if got[3] != null:
				got[3].callv("close", [])
			if got[1] != null:
				got[1].close()
