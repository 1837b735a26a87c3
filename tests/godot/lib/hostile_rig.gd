extends TestSuite
## The rig of the hostile-value suites (lib/hostile_suite.gd builds on it): the helper servers
## (an engine echo server for any number of clients, a silent server, the engine's multiplayer
## server), calls that catch panics through a Logger, bounded waiting loops, and the objects of
## every extension class in each of their states (`_make`, `_dispose`).
##
## Not a class_name on purpose: lib/hostile_suite.gd extends "res://lib/hostile_rig.gd".

## The extension's classes and the states their objects are tested in.
const EXTENSION_CLASSES := {
	"RustWebSocketPeer": ["new", "connecting", "open", "server_side"],
	"WebSocketServer": ["stopped", "listening"],
	"RustWebSocketMultiplayerPeer": ["new", "server", "client_connecting", "client_connected"],
}
const MP := "RustWebSocketMultiplayerPeer"
const DISCONNECTED := MultiplayerPeer.CONNECTION_DISCONNECTED
const CONNECTING := MultiplayerPeer.CONNECTION_CONNECTING
const CONNECTED := MultiplayerPeer.CONNECTION_CONNECTED
const Values := preload("res://lib/hostile_values.gd")
const I64_MIN := Values.I64_MIN
const I64_MAX := Values.I64_MAX
const INTS := Values.INTS
const TEST_BUDGET_MS := 45000
const ErrorCapture := preload("res://lib/error_capture.gd")
const EngineEchoPool := preload("res://lib/engine_echo_pool.gd")
const SilentServer := preload("res://lib/silent_server.gd")

var _logger: Object = null
var _echo: EngineEchoPool
var _silent: SilentServer
## The engine's WebSocketMultiplayerPeer as a server on 127.0.0.1 that echoes every packet to
## its sender: what our multiplayer client joins.
var _mp_host: WebSocketMultiplayerPeer
var _mp_host_port := 0
var _mp_host_peers := {}
var _mp_host_polled := 0
var _dead_port := 0
## The hostile values for this test (they know `_dead_port`).
var _values: Values
var _cases := 0
var _panics := 0
## Cases after which the object was checked and still worked.
var _working := 0
var _started := 0
## Errors (not panics) pushed by the last `_call`.
var _errors: Array[String] = []


# --- Infrastructure -------------------------------------------------------------------------


func _begin() -> void:
	_started = Time.get_ticks_msec()
	if _logger == null:
		_logger = ErrorCapture.install()
	_echo = EngineEchoPool.new()
	_silent = SilentServer.new()
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	_dead_port = tcp.get_local_port()
	tcp.stop()
	_values = Values.new(_dead_port)
	# The engine's server cannot listen on port 0 and report the port: a free one is probed
	# (another process may take it meanwhile, hence the retries).
	_mp_host = WebSocketMultiplayerPeer.new()
	# A joining client stuck in its handshake (a hostile request) is dropped soon.
	_mp_host.handshake_timeout = 0.5
	_mp_host.peer_connected.connect(func(id: int) -> void: _mp_host_peers[id] = true)
	_mp_host.peer_disconnected.connect(func(id: int) -> void: _mp_host_peers.erase(id))
	for attempt in 5:
		var probe := TCPServer.new()
		probe.listen(0, "127.0.0.1")
		_mp_host_port = probe.get_local_port()
		probe.stop()
		if _mp_host.create_server(_mp_host_port, "127.0.0.1") == OK:
			break
		_mp_host_port = 0
	_scan("engine multiplayer server setup")
	_errors.clear()


func cleanup() -> void:
	ErrorCapture.remove(_logger)
	_logger = null
	if _echo != null:
		_echo.stop()
	if _silent != null:
		_silent.stop()
	if _mp_host != null:
		_mp_host.close()
	super.cleanup()


func _over_budget() -> bool:
	if Time.get_ticks_msec() - _started < TEST_BUDGET_MS:
		return false
	failures.append("stopped after %d cases: over the time budget of %d ms" % [_cases, TEST_BUDGET_MS])
	return true


## Looks at what was logged since the last look: a panic fails `label`; other errors are kept in
## `_errors`.
func _scan(label: String) -> void:
	if _logger == null:
		return
	for e: String in _logger.take():
		if e.contains("[panic") or e.contains("panicked"):
			_panics += 1
			failures.append("%s: PANIC %s" % [label, e.strip_edges().replace("\n", " ").substr(0, 300)])
		else:
			_errors.append(e)


func _call(obj: Object, method: String, args: Array, label: String) -> Variant:
	_scan(label)
	_errors.clear()
	var r = obj.callv(method, args)
	_scan(label)
	return r


func _assign(obj: Object, prop: String, value: Variant, label: String) -> void:
	_scan(label)
	_errors.clear()
	obj.set(prop, value)
	_scan(label)


## Polls the helpers and `objs` (through callv, so that a panic in poll() is reported, not
## fatal) until `cond` holds or `timeout_s` passes; returns whether it held.
func _wait(cond: Callable, objs: Array, label: String, timeout_s := 2.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while true:
		_echo.poll()
		_silent.poll()
		_poll_mp_host()
		for o in objs:
			if o != null:
				o.callv("poll", [])
		_scan(label)
		if cond.call():
			return true
		if Time.get_ticks_msec() > deadline:
			return false
		await get_tree().process_frame
	return false


func _state(peer: Object) -> int:
	var s = peer.callv("get_ready_state", [])
	return s if s is int else -1


## A multiplayer peer's connection status (-1 if the call returned junk).
func _status(mp: Object) -> int:
	var s = mp.callv("get_connection_status", [])
	return s if s is int else -1


## Polls the engine's multiplayer server (at most once a millisecond: it prints an error on every
## poll while a client's request is too big, until handshake_timeout) and echoes every packet
## to its sender.
func _poll_mp_host() -> void:
	if _mp_host == null or _mp_host.get_connection_status() != CONNECTED:
		return
	var now := Time.get_ticks_usec()
	if now - _mp_host_polled < 1000:
		return
	_mp_host_polled = now
	_mp_host.poll()
	while _mp_host.get_available_packet_count() > 0:
		var from := _mp_host.get_packet_peer()
		var pkt := _mp_host.get_packet()
		if _mp_host_peers.has(from):
			_mp_host.set_target_peer(from)
			_mp_host.put_packet(pkt)


func _mp_host_url() -> String:
	return "ws://127.0.0.1:%d" % _mp_host_port


func _desc(v: Variant) -> String:
	match typeof(v):
		TYPE_STRING, TYPE_STRING_NAME:
			var s := String(v)
			return "'%s'" % s.c_escape() if s.length() <= 40 else "'%s…'(%d chars)" % [s.substr(0, 16).c_escape(), s.length()]
		TYPE_PACKED_BYTE_ARRAY:
			return "bytes[%d]" % v.size()
		TYPE_PACKED_STRING_ARRAY:
			return str(v).c_escape() if v.size() <= 4 else "strings[%d]" % v.size()
		TYPE_OBJECT:
			return "null" if v == null else "%s%s" % [v.get_class(), "" if not v.has_meta("what") else "(%s)" % v.get_meta("what")]
		TYPE_CALLABLE:
			return "Callable(%s)" % str(v)
		TYPE_FLOAT:
			return "NaN" if is_nan(v) else String.num_scientific(v)
	return str(v)


# --- Objects under test, their use, and the check that they still work ----------------------


func _wire_echo(server: Object) -> void:
	var weak: WeakRef = weakref(server)
	server.connect("data_received", func(id: int) -> void:
		var s: Object = weak.get_ref()
		if s == null:
			return
		var peer = s.callv("get_peer", [id])
		if peer == null:
			return
		while int(peer.callv("get_available_packet_count", [])) > 0:
			var pkt = peer.callv("get_packet", [])
			peer.callv("send", [pkt, 0 if peer.callv("was_string_packet", []) else 1]))


## A new object of `cls` in `state`: {obj, poll: [objects to poll], client (an engine peer
## connected to a server under test), server, id; for the multiplayer peer remote (the engine
## WebSocketMultiplayerPeer client that joined our server) and id (the remote's peer id, 1 for
## our client)}. Returns {} if the state was not reached.
func _make(cls: String, state: String, label: String) -> Dictionary:
	match cls + ":" + state:
		"RustWebSocketMultiplayerPeer:new":
			var m: Object = ClassDB.instantiate(MP)
			return {"obj": m, "poll": [m]}
		"RustWebSocketMultiplayerPeer:server":
			var m: Object = ClassDB.instantiate(MP)
			var ids := []
			m.connect("peer_connected", func(id: int) -> void: ids.append(id))
			if _call(m, "create_server", [0, "127.0.0.1"], label) != OK:
				return {}
			var c := WebSocketMultiplayerPeer.new()
			c.create_client("ws://127.0.0.1:%d" % m.callv("get_local_port", []))
			var ok := await _wait(func(): return ids.size() == 1 and c.get_connection_status() == CONNECTED, [m, c], label, 3.0)
			if ok and ids[0] == c.get_unique_id():
				return {"obj": m, "poll": [m, c], "remote": c, "id": ids[0]}
			c.close()
			m.callv("close", [])
			return {}
		"RustWebSocketMultiplayerPeer:client_connecting":
			var m: Object = ClassDB.instantiate(MP)
			_call(m, "create_client", [_silent.url()], label)
			await _wait(func(): return _silent.conns.size() > 0, [m], label, 1.0)
			if _status(m) == CONNECTING:
				return {"obj": m, "poll": [m], "id": 1}
			m.callv("close", [])
			return {}
		"RustWebSocketMultiplayerPeer:client_connected":
			var m: Object = ClassDB.instantiate(MP)
			_call(m, "create_client", [_mp_host_url()], label)
			var ok := await _wait(func(): return _status(m) == CONNECTED, [m], label, 3.0)
			if ok and int(m.callv("get_unique_id", [])) > 1:
				return {"obj": m, "poll": [m], "id": 1}
			m.callv("close", [])
			return {}
		"RustWebSocketPeer:new":
			return {"obj": RustWebSocketPeer.new(), "poll": []}
		"RustWebSocketPeer:connecting":
			var p := RustWebSocketPeer.new()
			_call(p, "connect_to_url", [_silent.url()], label)
			await _wait(func(): return _silent.conns.size() > 0, [p], label, 1.0)
			return {"obj": p, "poll": [p]} if _state(p) == 0 else {}
		"RustWebSocketPeer:open":
			var p := RustWebSocketPeer.new()
			_call(p, "connect_to_url", [_echo.url()], label)
			var ok := await _wait(func(): return _state(p) != 0, [p], label, 3.0)
			return {"obj": p, "poll": [p]} if ok and _state(p) == 1 else {}
		"RustWebSocketPeer:server_side":
			var ctx: Dictionary = await _make("WebSocketServer", "listening", label)
			if ctx.is_empty():
				return {}
			var peer = ctx["obj"].callv("get_peer", [ctx["id"]])
			if peer == null:
				return {}
			ctx["server"] = ctx["obj"]
			ctx["obj"] = peer
			return ctx
		"WebSocketServer:stopped":
			var s := WebSocketServer.new()
			_wire_echo(s)
			return {"obj": s, "poll": [s]}
		"WebSocketServer:listening":
			var s := WebSocketServer.new()
			_wire_echo(s)
			var ids := []
			s.connect("client_connected", func(id, _p): ids.append(id))
			if _call(s, "listen", [0, "127.0.0.1"], label) != OK:
				return {}
			var c := WebSocketPeer.new()
			c.connect_to_url("ws://127.0.0.1:%d/" % s.callv("get_local_port", []))
			var ok := await _wait(func(): return ids.size() == 1 and c.get_ready_state() == 1, [s, c], label, 3.0)
			return {"obj": s, "poll": [s, c], "client": c, "id": ids[0]} if ok else {}
	return {}


func _dispose(ctx: Dictionary) -> void:
	if ctx.get("obj") != null and ctx["obj"].is_class(MP):
		ctx["obj"].callv("close", [])
		if ctx.get("remote") != null:
			ctx["remote"].close()
		_silent.drop_all()
		_echo.drop_all()
		return
	for o in [ctx.get("obj"), ctx.get("server"), ctx.get("client")]:
		if o == null or not is_instance_valid(o):
			continue
		if o.has_method("stop"):
			o.callv("stop", [])
		elif o is WebSocketPeer:
			o.close(-1)
		elif o.has_method("close") and not ctx.has("server"):
			o.callv("close", [-1, ""])
	_silent.drop_all()
	_echo.drop_all()
