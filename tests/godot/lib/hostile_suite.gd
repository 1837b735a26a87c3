extends "res://lib/hostile_rig.gd"
## No panic reachable from GDScript: hostile values for every method and property of every class
## the extension registers.
##
## What it covers:
## - Discovery: EXTENSION_CLASSES (the one list of classes and their states below) must equal the
##   classes ClassDB reports as extension classes; a new class fails
##   test_every_extension_class_is_covered until it is added here.
## - Every method (ClassDB.class_get_method_list(cls, true); for RustWebSocketPeer also the
##   PacketPeer methods that run through its virtuals, for RustWebSocketMultiplayerPeer the
##   MultiplayerPeer and PacketPeer ones), in every state of its object (peer: new, connecting,
##   open client, a server's peer; server: stopped, listening with a client; multiplayer peer:
##   new, a server on 127.0.0.1 port 0 that an engine WebSocketMultiplayerPeer client joined, a
##   client connecting to a server that never answers, a client joined to an engine
##   WebSocketMultiplayerPeer server), called
##   with hostile values for one argument at a time, the other arguments sane. Values follow the
##   argument's type: ints (-1, 0, -2^63, 2^63-1, 2^31, -2^31-1, 65536, 70000), floats (NaN,
##   ±inf, -1, 1e19, 1e20, 1e308, the smallest denormal), strings ("", 10 KiB, "\u0000" (Godot
##   turns it into U+FFFD: a String cannot hold NUL), URL fragments, "X: a\r\nY: b", non-ASCII),
##   byte arrays (empty, 1 MiB), string arrays (["", "a b", "\r\n"], empty, 1,000 long lines),
##   objects (null, an object of the wrong class, and per argument: TLSOptions of every kind, also
##   with empty keys and certificates; streams of every kind), Callables (invalid, a freed
##   object's method, wrong arity, functions returning junk) and Variants.
##   After each call the object is used (a message exchanged if it is connected; for the
##   multiplayer peer a packet each way through the MultiplayerPeer API: set_target_peer,
##   put_packet, poll, get_packet_peer, get_packet), then reset to its defaults and must still
##   work: a peer reaches an echo server and exchanges a message; a server listens on 127.0.0.1
##   port 0 and echoes a client's message; a multiplayer peer hosts on 127.0.0.1 port 0, an
##   engine client joins and a packet goes each way, then it joins an engine server as a client
##   and gets a packet echoed.
## - Every property (class_get_property_list(cls, true), for the multiplayer peer also the
##   inherited transfer_mode, transfer_channel and refuse_new_connections) set to each hostile
##   value on a new object, read back, then used (a connection made or served with it), reset,
##   and checked.
## - Specific expectations, where the engine reports an error or the value has one meaning:
##   out-of-range ports (ERR_INVALID_PARAMETER, an error pushed, not listening); durations set to
##   NaN/inf/negative/huge stay finite and non-negative and work; sizes never read back negative;
##   invalid peer ids (null, an error pushed, other clients untouched; for the multiplayer peer
##   also disconnect_peer of an unknown id: an error, nothing else happens, and put_packet to an
##   unknown target: ERR_INVALID_PARAMETER); the multiplayer peer's create_server with a port
##   outside 0..65535 and create_client with a URL the engine rejects (ERR_INVALID_PARAMETER,
##   an error pushed, still disconnected), either one while in use (ERR_ALREADY_IN_USE, nothing
##   changes), durations set to NaN/±inf/negative (an error, the value kept), the
##   RustWebSocketPeer of get_peer() used after its multiplayer peer closed or was freed;
##   get_packet on an empty queue (ERR_UNAVAILABLE, or FAILED when closed); close codes a close
##   frame cannot carry (outside 0..65535, or not sendable: an error, and the close frame goes
##   out without a status code, so nothing invalid is sent); messages over the outbound cap
##   (ERR_OUT_OF_MEMORY); CR/LF in a URL never reaches the request as a header;
##   request_validator returning junk refuses the client.
## A panic is seen by a Logger (Godot 4.5+; gdext reports it as an error "[panic ...]") and
## fails the case that caused it, with its message; on older engines the run's log check
## ("panicked at") still fails the run. Calls go through callv()/set(), so that a panicking call
## returns (a direct call would abort the test with a SCRIPT ERROR).
## Network: everything stays on 127.0.0.1 (or [::1]): URLs and bind addresses are limited to
## values that cannot look a name up or bind another interface; every wait is bounded, and each
## test stops itself after TEST_BUDGET_MS.
##
## The suites: suites/test_hostile_peer.gd (RustWebSocketPeer), test_hostile_server.gd
## (WebSocketServer), test_hostile_multiplayer.gd (RustWebSocketMultiplayerPeer) and
## test_hostile_values.gd (the classes covered, and what every class's durations and sizes do).
## This script adds to lib/hostile_rig.gd what they share: the use of an object after a hostile
## call, the check that it still works, and the generic tests over every method and property.
##
## Not a class_name on purpose: a suite extends "res://lib/hostile_suite.gd".


# --- The use of an object, and the check that it still works --------------------------------


## Exercises the object after a hostile call: a message through it if it is connected. Any
## outcome but a panic is fine here.
func _use(ctx: Dictionary, label: String) -> void:
	var obj: Object = ctx["obj"]
	var objs: Array = ctx["poll"]
	if obj.is_class(MP):
		var st := _status(obj)
		if st == CONNECTED and (ctx.get("remote") != null or int(obj.callv("get_unique_id", [])) > 1):
			await _mp_exchange(obj, ctx.get("remote"), ctx.get("id", 1), label)
		elif st == CONNECTING:
			# A connection a hostile call started fails or gets through within a few polls on
			# loopback; one to the silent server is left connecting.
			var polls := [0]
			await _wait(func():
				polls[0] += 1
				return _status(obj) != CONNECTING or polls[0] >= 20, objs, label, 1.0)
		else:
			await _wait(func(): return true, objs, label)
		return
	var client: WebSocketPeer = ctx.get("client")
	if client != null:
		if client.get_ready_state() == WebSocketPeer.STATE_OPEN:
			client.send_text("use")
			await _wait(func(): return client.get_available_packet_count() > 0 or client.get_ready_state() == WebSocketPeer.STATE_CLOSED, objs, label, 1.0)
		return
	if obj is RustWebSocketPeer:
		var st := _state(obj)
		if st == 1:
			_call(obj, "send_text", ["use"], label)
			await _wait(func(): return _state(obj) != 1 or int(obj.callv("get_available_packet_count", [])) > 0, objs, label, 1.0)
		elif st == 2:
			await _wait(func(): return _state(obj) == 3, objs, label, 1.0)
		elif st == 0:
			# Connecting: a connection attempt a hostile call started fails or gets through within
			# a few polls on loopback; one still connecting (to the silent server) is left so.
			var polls := [0]
			await _wait(func():
				polls[0] += 1
				return _state(obj) != 0 or polls[0] >= 20, objs, label, 1.0)
	else:
		await _wait(func(): return true, objs, label)


## Puts every property of `obj` back to the value a new object has.
func _reset(obj: Object, label: String) -> void:
	var fresh: Object = ClassDB.instantiate(obj.get_class())
	for p in Values.properties(obj.get_class()):
		_assign(obj, p["name"], fresh.get(p["name"]), label + " (reset)")


## A peer that exchanges one message with the echo server.
func _peer_works(p: Object, label: String) -> String:
	if _state(p) != 3:
		return "not closed after close(-1): state %d" % _state(p)
	var r = _call(p, "connect_to_url", [_echo.url()], label)
	if r != OK:
		return "connect_to_url -> %s" % [r]
	if not await _wait(func(): return _state(p) != 0, [p], label, 3.0) or _state(p) != 1:
		return "did not open (state %d, close code %s)" % [_state(p), p.callv("get_close_code", [])]
	_call(p, "send_text", ["alive"], label)
	if not await _wait(func(): return int(p.callv("get_available_packet_count", [])) > 0 or _state(p) != 1, [p], label, 3.0):
		return "no echo"
	var pkt = p.callv("get_packet", [])
	if not (pkt is PackedByteArray and pkt.get_string_from_utf8() == "alive" and p.callv("was_string_packet", [])):
		return "wrong echo %s" % [pkt]
	_call(p, "close", [-1, ""], label)
	return ""


## A server that listens on 127.0.0.1 port 0 and echoes a client's message.
func _server_works(s: Object, label: String) -> String:
	var r = _call(s, "listen", [0, "127.0.0.1"], label)
	if r != OK:
		return "listen(0, \"127.0.0.1\") -> %s" % [r]
	var c := WebSocketPeer.new()
	c.connect_to_url("ws://127.0.0.1:%d/" % s.callv("get_local_port", []))
	var why := ""
	if not await _wait(func(): return c.get_ready_state() != 0, [s, c], label, 3.0) or c.get_ready_state() != 1:
		why = "a client could not connect (state %d)" % c.get_ready_state()
	else:
		c.send_text("alive")
		if not await _wait(func(): return c.get_available_packet_count() > 0, [s, c], label, 3.0):
			why = "no echo"
		elif c.get_packet().get_string_from_utf8() != "alive":
			why = "wrong echo"
	c.close(-1)
	_call(s, "stop", [], label)
	return why


## One packet each way through the MultiplayerPeer API between our multiplayer peer `m` and
## `remote`: for our server, the engine client `remote` whose peer id is `id`; for our client
## (`remote` null), the engine server, which echoes. Returns what went wrong, or "".
func _mp_exchange(m: Object, remote: WebSocketMultiplayerPeer, id: int, label: String) -> String:
	if _status(m) != CONNECTED:
		return "not connected (status %d)" % _status(m)
	var out := ("to %d: %d" % [id, randi()]).to_utf8_buffer()
	if remote != null:
		_call(m, "set_target_peer", [id], label)
		var r = _call(m, "put_packet", [out], label)
		if r != OK:
			return "put_packet to %d -> %s" % [id, r]
		if not await _wait(func(): return remote.get_available_packet_count() > 0 or remote.get_connection_status() != CONNECTED, [m, remote], label, 2.0) \
				or remote.get_available_packet_count() == 0:
			return "the engine client got nothing (status %d)" % remote.get_connection_status()
		var from := remote.get_packet_peer()
		var got := remote.get_packet()
		if from != 1 or got != out:
			return "the engine client got %s from %d" % [got.get_string_from_utf8().c_escape(), from]
		var back := ("from %d: %d" % [id, randi()]).to_utf8_buffer()
		remote.set_target_peer(1)
		remote.put_packet(back)
		if not await _wait(func(): return int(m.callv("get_available_packet_count", [])) > 0 or _status(m) != CONNECTED, [m, remote], label, 2.0) \
				or int(m.callv("get_available_packet_count", [])) == 0:
			return "nothing from the engine client (status %d)" % _status(m)
		from = m.callv("get_packet_peer", [])
		got = m.callv("get_packet", [])
		if from != id or got != back:
			return "got %s from %d, expected %s from %d" % [got.get_string_from_utf8().c_escape(), from, back.get_string_from_utf8().c_escape(), id]
		return ""
	_call(m, "set_target_peer", [1], label)
	var r = _call(m, "put_packet", [out], label)
	if r != OK:
		return "put_packet to 1 -> %s" % [r]
	if not await _wait(func(): return int(m.callv("get_available_packet_count", [])) > 0 or _status(m) != CONNECTED, [m], label, 2.0) \
			or int(m.callv("get_available_packet_count", [])) == 0:
		return "no echo from the engine server (status %d)" % _status(m)
	var from = m.callv("get_packet_peer", [])
	var got = m.callv("get_packet", [])
	if from != 1 or got != out:
		return "echo %s from %s, expected %s from 1" % [got.get_string_from_utf8().c_escape() if got is PackedByteArray else str(got), from, out.get_string_from_utf8()]
	return ""


## A multiplayer peer (disconnected) that works in both roles: it hosts on 127.0.0.1 port 0,
## an engine client joins, a packet goes each way; then it joins the engine's server and gets
## a packet echoed.
func _mp_works(m: Object, label: String) -> String:
	if _status(m) != DISCONNECTED:
		return "not disconnected after close(): status %d" % _status(m)
	var r = _call(m, "create_server", [0, "127.0.0.1"], label)
	if r != OK:
		return "create_server(0, \"127.0.0.1\") -> %s" % [r]
	var port = m.callv("get_local_port", [])
	if not (port is int and port > 0):
		_call(m, "close", [], label)
		return "get_local_port() -> %s while hosting" % [port]
	var c := WebSocketMultiplayerPeer.new()
	c.create_client("ws://127.0.0.1:%d" % port)
	var why := ""
	if not await _wait(func(): return c.get_connection_status() == CONNECTED, [m, c], label, 3.0):
		why = "server: an engine client could not join (status %d)" % c.get_connection_status()
	else:
		why = await _mp_exchange(m, c, c.get_unique_id(), label)
		if not why.is_empty():
			why = "server: " + why
	c.close()
	_call(m, "close", [], label)
	if not why.is_empty():
		return why
	if _mp_host_port == 0:
		return "client: the engine's server could not listen"
	r = _call(m, "create_client", [_mp_host_url()], label)
	if r != OK:
		return "client: create_client -> %s" % [r]
	if not await _wait(func(): return _status(m) == CONNECTED, [m], label, 3.0):
		why = "client: could not join the engine's server (status %d)" % _status(m)
	else:
		why = await _mp_exchange(m, null, 1, label)
		if not why.is_empty():
			why = "client: " + why
	_call(m, "close", [], label)
	return why


## After a hostile call: the object (reset to defaults) still works.
func _still_works(ctx: Dictionary, label: String) -> void:
	var obj: Object = ctx["obj"]
	var server: Object = ctx.get("server")
	var why := ""
	if obj.is_class(MP):
		if ctx.get("remote") != null:
			ctx["remote"].close()
		_call(obj, "close", [], label)
		_reset(obj, label)
		why = await _mp_works(obj, label)
	elif server != null:
		# A server's peer cannot reconnect; its server must still serve.
		_call(server, "stop", [], label)
		_reset(server, label)
		why = await _server_works(server, label)
	elif obj is WebSocketServer:
		_call(obj, "stop", [], label)
		_reset(obj, label)
		why = await _server_works(obj, label)
	else:
		_call(obj, "close", [-1, ""], label)
		_reset(obj, label)
		why = await _peer_works(obj, label)
	if not why.is_empty():
		failures.append("%s: afterwards the object no longer works: %s" % [label, why])
	else:
		_working += 1


# --- Generic tests --------------------------------------------------------------------------


## Every method of `cls` in `state`, each argument hostile in turn.
func _hammer_methods(cls: String, state: String) -> void:
	_begin()
	var probe: Dictionary = await _make(cls, state, "%s[%s] setup" % [cls, state])
	if not check(not probe.is_empty(), "%s: could not reach state %s" % [cls, state]):
		return
	var ctx_ids := {"id": probe.get("id", 0)}
	_dispose(probe)
	for m in Values.methods(cls):
		for args in _values.argument_lists(m, ctx_ids):
			if _over_budget():
				return
			var label := "%s[%s].%s(%s)" % [cls, state, m["name"], ", ".join(args.map(_desc))]
			var ctx: Dictionary = await _make(cls, state, label + " setup")
			if ctx.is_empty():
				failures.append("%s: could not reach state %s" % [label, state])
				continue
			if ctx.has("id"):
				# Ids are per connection: a sane "id" is this connection's.
				for idx in m["args"].size():
					if m["args"][idx]["name"] in ["id", "peer_id", "peer"] and typeof(args[idx]) == TYPE_INT and args[idx] == ctx_ids["id"]:
						args = args.duplicate()
						args[idx] = ctx["id"]
			_cases += 1
			_call(ctx["obj"], m["name"], args, label)
			await _use(ctx, label)
			await _still_works(ctx, label)
			_dispose(ctx)
	print("    %s[%s]: %d calls, %d panics, still working after %d, %.1f s" % [cls, state, _cases, _panics, _working, (Time.get_ticks_msec() - _started) / 1000.0])



## Every property of `cls`: set on a new object, read back, used, reset; the object must work.
func _hammer_properties(cls: String) -> void:
	_begin()
	for p in Values.properties(cls):
		var prop: String = p["name"]
		var setter := ClassDB.class_get_property_setter(cls, prop)
		var arg: Dictionary = p
		for m in Values.methods(cls):
			if m["name"] == setter and m["args"].size() == 1:
				arg = m["args"][0]
		for v in _values.hostile(arg):
			if _over_budget():
				return
			var label := "%s.%s = %s" % [cls, prop, _desc(v)]
			_cases += 1
			var obj: Object = ClassDB.instantiate(cls)
			if cls == "WebSocketServer":
				_wire_echo(obj)
			_assign(obj, prop, v, label)
			var got = obj.get(prop)
			_scan(label + " (read back)")
			_check_read_back(cls, prop, v, got, label)
			await _use_setting(obj, label)
			await _still_works({"obj": obj, "poll": [obj]}, label)
			_dispose({"obj": obj})
	print("    %s properties: %d values, %d panics, still working after %d, %.1f s" % [cls, _cases, _panics, _working, (Time.get_ticks_msec() - _started) / 1000.0])


## What a property must read back after a hostile value.
func _check_read_back(_cls: String, prop: String, v: Variant, got: Variant, label: String) -> void:
	if typeof(v) == TYPE_FLOAT:
		check(typeof(got) == TYPE_FLOAT and is_finite(got) and got >= 0.0, "%s: reads back %s, not a finite non-negative duration" % [label, got])
	elif typeof(v) == TYPE_INT and prop in ["inbound_buffer_size", "max_queued_packets", "max_peers"]:
		check(typeof(got) == TYPE_INT and got >= 0, "%s: reads back %s, a negative size" % [label, got])


## Uses a new object configured with a hostile value: a peer connects to the echo server and
## sends a message; a server listens and a client sends it one. Any outcome but a panic or a
## hang is fine.
func _use_setting(obj: Object, label: String) -> void:
	if obj.is_class(MP):
		# As a server: an engine client joins and a packet goes each way.
		if _call(obj, "create_server", [0, "127.0.0.1"], label) == OK:
			var c := WebSocketMultiplayerPeer.new()
			c.create_client("ws://127.0.0.1:%d" % obj.callv("get_local_port", []))
			await _wait(func(): return c.get_connection_status() != CONNECTING, [obj, c], label, 2.0)
			if c.get_connection_status() == CONNECTED:
				await _mp_exchange(obj, c, c.get_unique_id(), label)
			c.close()
			_call(obj, "close", [], label)
		# As a client of the engine's server.
		if _mp_host_port != 0 and _call(obj, "create_client", [_mp_host_url()], label) == OK:
			await _wait(func(): return _status(obj) != CONNECTING, [obj], label, 2.0)
			if _status(obj) == CONNECTED:
				await _mp_exchange(obj, null, 1, label)
			_call(obj, "close", [], label)
		return
	if obj is RustWebSocketPeer:
		if _call(obj, "connect_to_url", [_echo.url()], label) != OK:
			return
		await _wait(func(): return _state(obj) != 0, [obj], label, 2.0)
		if _state(obj) == 1:
			_call(obj, "send_text", ["setting"], label)
			await _wait(func(): return _state(obj) == 3 or int(obj.callv("get_available_packet_count", [])) > 0, [obj], label, 1.0)
			_call(obj, "close", [1000, ""], label)
			await _wait(func(): return _state(obj) == 3, [obj], label, 1.0)
	else:
		if _call(obj, "listen", [0, "127.0.0.1"], label) != OK:
			return
		var c := WebSocketPeer.new()
		c.connect_to_url("ws://127.0.0.1:%d/" % obj.callv("get_local_port", []))
		await _wait(func(): return c.get_ready_state() != 0, [obj, c], label, 2.0)
		if c.get_ready_state() == 1:
			c.send_text("setting")
			await _wait(func(): return c.get_available_packet_count() > 0 or c.get_ready_state() == 3, [obj, c], label, 1.0)
		c.close(-1)
		_call(obj, "stop", [], label)
