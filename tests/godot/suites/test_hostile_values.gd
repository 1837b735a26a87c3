extends TestSuite
## No panic reachable from GDScript: hostile values for every method and property of every class
## the extension registers.
##
## What it covers:
## - Discovery: EXTENSION_CLASSES (the one list of classes and their states below) must equal the
##   classes ClassDB reports as extension classes; a new class fails
##   test_every_extension_class_is_covered until it is added here.
## - Every method (ClassDB.class_get_method_list(cls, true); for RustWebSocketPeer also the
##   PacketPeer methods that run through its virtuals), in every state of its object (peer: new,
##   connecting, open client, a server's peer; server: stopped, listening with a client), called
##   with hostile values for one argument at a time, the other arguments sane. Values follow the
##   argument's type: ints (-1, 0, -2^63, 2^63-1, 2^31, -2^31-1, 65536, 70000), floats (NaN,
##   ±inf, -1, 1e19, 1e20, 1e308, the smallest denormal), strings ("", 10 KiB, "\u0000" (Godot
##   turns it into U+FFFD: a String cannot hold NUL), URL fragments, "X: a\r\nY: b", non-ASCII),
##   byte arrays (empty, 1 MiB), string arrays (["", "a b", "\r\n"], empty, 1,000 long lines),
##   objects (null, an object of the wrong class, and per argument: TLSOptions of every kind, also
##   with empty keys and certificates; streams of every kind), Callables (invalid, a freed
##   object's method, wrong arity, functions returning junk) and Variants.
##   After each call the object is used (a message exchanged if it is connected), then reset to
##   its defaults and must still work: a peer reaches an echo server and exchanges a message; a
##   server listens on 127.0.0.1 port 0 and echoes a client's message.
## - Every property (class_get_property_list(cls, true)) set to each hostile value on a new
##   object, read back, then used (a connection made or served with it), reset, and checked.
## - Specific expectations, where the engine reports an error or the value has one meaning:
##   out-of-range ports (ERR_INVALID_PARAMETER, an error pushed, not listening); durations set to
##   NaN/inf/negative/huge stay finite and non-negative and work; sizes never read back negative;
##   invalid peer ids (null, an error pushed, other clients untouched); get_packet on an empty
##   queue (ERR_UNAVAILABLE, or FAILED when closed); close codes a close frame cannot carry
##   (outside 0..65535, or not sendable: an error, and the close frame goes out without a
##   status code, so nothing invalid is sent); messages
##   over the outbound cap (ERR_OUT_OF_MEMORY); CR/LF in a URL never reaches the request as a
##   header; request_validator returning junk refuses the client.
## A panic is seen by a Logger (Godot 4.5+; gdext reports it as an error "[panic ...]") and
## fails the case that caused it, with its message; on older engines the run's log check
## ("panicked at") still fails the run. Calls go through callv()/set(), so that a panicking call
## returns (a direct call would abort the test with a SCRIPT ERROR).
## Network: everything stays on 127.0.0.1 (or [::1]): URLs and bind addresses are limited to
## values that cannot look a name up or bind another interface; every wait is bounded, and each
## test stops itself after TEST_BUDGET_MS.

## The extension's classes and the states their objects are tested in.
const EXTENSION_CLASSES := {
	"RustWebSocketPeer": ["new", "connecting", "open", "server_side"],
	"WebSocketServer": ["stopped", "listening"],
}
const I64_MIN := -9223372036854775807 - 1
const I64_MAX := 9223372036854775807
const INTS := [-1, 0, I64_MIN, I64_MAX, 1 << 31, -(1 << 31) - 1, 65536, 70000]
const TEST_BUDGET_MS := 45000

var _logger: Object = null
var _echo: EngineEcho
var _silent: SilentServer
var _dead_port := 0
var _cases := 0
var _panics := 0
## Cases after which the object was checked and still worked.
var _working := 0
var _started := 0
## Errors (not panics) pushed by the last `_call`.
var _errors: Array[String] = []
static var _tls_key: CryptoKey
static var _tls_cert: X509Certificate


## An echo server made of the engine's TCPServer and WebSocketPeer (independent of the code under
## test), for any number of clients.
class EngineEcho:
	## A handshake not done after this long is dropped. The engine's peer never gives up on a
	## request it refuses (over 4 KiB, for one): it prints an error on every poll.
	const HANDSHAKE_MS := 500
	## After this long in the handshake, a peer is polled only every THROTTLE_MS.
	const FREE_MS := 20
	const THROTTLE_MS := 5
	var tcp := TCPServer.new()
	var peers: Array[WebSocketPeer] = []
	var _since := {}
	var _polled := {}

	func _init() -> void:
		tcp.listen(0, "127.0.0.1")

	func url() -> String:
		return "ws://127.0.0.1:%d/" % tcp.get_local_port()

	func poll() -> void:
		var now := Time.get_ticks_msec()
		while tcp.is_connection_available():
			var p := WebSocketPeer.new()
			p.accept_stream(tcp.take_connection())
			peers.append(p)
			_since[p] = now
		for p: WebSocketPeer in peers.duplicate():
			if p.get_ready_state() == WebSocketPeer.STATE_CONNECTING:
				var age: int = now - _since[p]
				if age > HANDSHAKE_MS:
					_drop(p)
					continue
				if age > FREE_MS and now - _polled.get(p, 0) < THROTTLE_MS:
					continue
				_polled[p] = now
			p.poll()
			while p.get_ready_state() == WebSocketPeer.STATE_OPEN and p.get_available_packet_count() > 0:
				var pkt := p.get_packet()
				p.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if p.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
			if p.get_ready_state() == WebSocketPeer.STATE_CLOSED:
				_drop(p)

	func _drop(p: WebSocketPeer) -> void:
		p.close(-1)
		peers.erase(p)
		_since.erase(p)
		_polled.erase(p)

	func drop_all() -> void:
		for p in peers.duplicate():
			_drop(p)

	func stop() -> void:
		drop_all()
		tcp.stop()


## Accepts TCP connections and never answers: its clients stay CONNECTING.
class SilentServer:
	var tcp := TCPServer.new()
	var conns: Array[StreamPeerTCP] = []

	func _init() -> void:
		tcp.listen(0, "127.0.0.1")

	func url() -> String:
		return "ws://127.0.0.1:%d/" % tcp.get_local_port()

	func poll() -> void:
		while tcp.is_connection_available():
			conns.append(tcp.take_connection())

	func drop_all() -> void:
		for c in conns:
			c.disconnect_from_host()
		conns.clear()

	func stop() -> void:
		drop_all()
		tcp.stop()


# --- Infrastructure -------------------------------------------------------------------------


func _begin() -> void:
	_started = Time.get_ticks_msec()
	if ClassDB.class_exists("Logger") and _logger == null:
		var src := GDScript.new()
		src.source_code = "\n".join([
			"extends Logger",
			"var entries: Array[String] = []",
			"var mutex := Mutex.new()",
			"func _log_error(function, file, line, code, rationale, editor_notify, error_type, script_backtraces):",
			"\tmutex.lock()",
			"\tentries.append(str(code) + \" \" + str(rationale))",
			"\tmutex.unlock()",
			"func take() -> Array[String]:",
			"\tmutex.lock()",
			"\tvar e := entries.duplicate()",
			"\tentries.clear()",
			"\tmutex.unlock()",
			"\treturn e",
		])
		if src.reload() == OK:
			_logger = src.new()
			OS.call("add_logger", _logger)
	_echo = EngineEcho.new()
	_silent = SilentServer.new()
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	_dead_port = tcp.get_local_port()
	tcp.stop()


func cleanup() -> void:
	if _logger != null:
		OS.call("remove_logger", _logger)
		_logger = null
	if _echo != null:
		_echo.stop()
	if _silent != null:
		_silent.stop()
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


func _tls_material() -> void:
	if _tls_key == null:
		_tls_key = Crypto.new().generate_rsa(1024)
		_tls_cert = Crypto.new().generate_self_signed_certificate(_tls_key, "CN=localhost")


func _tagged(o: Object, what: String) -> Object:
	o.set_meta("what", what)
	return o


# --- Hostile values -------------------------------------------------------------------------


func _floats() -> Array:
	var denormal := PackedByteArray([1, 0, 0, 0, 0, 0, 0, 0]).decode_double(0)
	return [NAN, INF, -INF, -1.0, 1e19, 1e20, 1e308, denormal]


func _strings() -> Array:
	return ["", "a".repeat(10240), "\u0000", "ws://", "wss://[::1", "http://x", "ws://127.0.0.1:0/",
		"ws://127.0.0.1:99999/", "X: a\r\nY: b", "héllo ✓"]


## URLs that fail at once or reach only 127.0.0.1/[::1] (never a name lookup).
func _urls() -> Array:
	var dead := "ws://127.0.0.1:%d/" % _dead_port
	return ["", "ws://", "wss://[::1", "http://x", "ws://127.0.0.1:0/", "ws://127.0.0.1:99999/",
		"ws://127.0.0.1:65536/", "ws://127.0.0.1:-1/", "ws://[::1", "wss://127.0.0.1:%d/" % _dead_port,
		"ws://[::1]:%d/" % _dead_port, "ws://127.0.0.1:%d" % _dead_port, dead + "a".repeat(10240),
		dead + "\u0000", dead + "X: a\r\nY: b", dead + "?q=\r\n\r\n", "WS://127.0.0.1:%d/" % _dead_port]


## Bind addresses that are invalid or loopback ("" and "*" would bind every interface).
func _binds() -> Array:
	return ["\u0000", "a".repeat(10240), "ws://", "wss://[::1", "http://x", "X: a\r\nY: b",
		"256.0.0.1", "::1", "localhost", "127.0.0.1 ", "127.0.0.1:80"]


func _tls_values() -> Array:
	_tls_material()
	return [null, _tagged(RefCounted.new(), "wrong class"), _tagged(TLSOptions.client(), "client"),
		_tagged(TLSOptions.client_unsafe(), "client_unsafe"), _tagged(TLSOptions.server(_tls_key, _tls_cert), "server"),
		_tagged(TLSOptions.client(X509Certificate.new()), "client, empty certificate"),
		_tagged(TLSOptions.client_unsafe(X509Certificate.new()), "client_unsafe, empty certificate"),
		_tagged(TLSOptions.server(CryptoKey.new(), X509Certificate.new()), "server, empty key and certificate")]


func _streams() -> Array:
	var buf := StreamPeerBuffer.new()
	buf.data_array = "GET / HTTP/1.1\r\n\r\n".to_ascii_buffer()
	return [null, _tagged(RefCounted.new(), "wrong class"), _tagged(buf, "request bytes"),
		_tagged(StreamPeerTCP.new(), "unconnected"), _tagged(StreamPeerTLS.new(), "unconnected")]


func _v_dict(_id, _peer):
	return {"junk": 1}


func _v_string(_id, _peer):
	return "yes"


func _v_huge_float(_id, _peer):
	return 1e300


func _v_int_out_of_range(_id, _peer):
	return 99999


func _v_success_status(_id, _peer):
	return 200


func _v_negative(_id, _peer):
	return -1


func _v_null(_id, _peer):
	return null


func _v_no_args():
	return true


func _callables() -> Array:
	var n := Node.new()
	var freed := Callable(n, "get_name")
	n.free()
	return [Callable(), freed, Callable(self, "_v_no_args"), Callable(self, "_v_dict"), Callable(self, "_v_string"),
		Callable(self, "_v_huge_float"), Callable(self, "_v_int_out_of_range"), Callable(self, "_v_success_status"),
		Callable(self, "_v_negative"), Callable(self, "_v_null")]


## Hostile values for one argument (or a property's setter argument).
func _hostile(arg: Dictionary) -> Array:
	var arg_name := String(arg["name"]).to_lower()
	# Anything that names a place to connect to or listen on gets only loopback or invalid values.
	if int(arg["type"]) in [TYPE_STRING, TYPE_STRING_NAME]:
		if arg_name.contains("url") or arg_name.contains("uri"):
			return _urls()
		if arg_name.contains("address") or arg_name.contains("host") or arg_name.contains("bind"):
			return _binds()
	var class_hint := String(arg.get("class_name", ""))
	match int(arg["type"]):
		TYPE_INT:
			return INTS
		TYPE_FLOAT:
			return _floats()
		TYPE_BOOL:
			return [true, false]
		TYPE_STRING, TYPE_STRING_NAME:
			return _strings()
		TYPE_PACKED_BYTE_ARRAY:
			var mib := PackedByteArray()
			mib.resize(1 << 20)
			return [PackedByteArray(), mib]
		TYPE_PACKED_STRING_ARRAY:
			var many := PackedStringArray()
			for i in 1000:
				many.append("X-Long-%d: %s" % [i, "v".repeat(100)])
			return [PackedStringArray(["", "a b", "\r\n"]), PackedStringArray(), many]
		TYPE_OBJECT:
			if class_hint == "TLSOptions":
				return _tls_values()
			if class_hint.begins_with("StreamPeer"):
				return _streams()
			return [null, _tagged(RefCounted.new(), "wrong class")]
		TYPE_CALLABLE:
			return _callables()
		TYPE_NIL:
			var mib := PackedByteArray()
			mib.resize(1 << 20)
			return [null, mib, {"nan": NAN, "deep": [[[[]]]]}, "text"]
	return [null]


## A harmless value for an argument that is not the one under attack.
func _sane(arg: Dictionary, default: Variant, has_default: bool, ctx: Dictionary) -> Variant:
	match String(arg["name"]):
		"url":
			return "ws://127.0.0.1:%d/" % _dead_port
		"bind_address":
			return "127.0.0.1"
		"port":
			return 0
		"id":
			return ctx.get("id", 0)
		"code":
			return 1000
		"write_mode":
			return 1
		"message", "buffer":
			return "hi" if int(arg["type"]) == TYPE_STRING else PackedByteArray([1, 2, 3])
		"enabled":
			return true
		"name":
			return "host"
	if has_default:
		return default
	match int(arg["type"]):
		TYPE_INT:
			return 0
		TYPE_FLOAT:
			return 0.0
		TYPE_BOOL:
			return false
		TYPE_STRING:
			return ""
		TYPE_STRING_NAME:
			return &""
		TYPE_PACKED_BYTE_ARRAY:
			return PackedByteArray()
		TYPE_PACKED_STRING_ARRAY:
			return PackedStringArray()
		TYPE_CALLABLE:
			return Callable()
	return null


## The methods tested for `cls`: its own, plus for the peer the PacketPeer methods (they call
## its virtuals). Virtual methods ("_...") are not called directly.
func _methods(cls: String) -> Array:
	var out := []
	var lists := [ClassDB.class_get_method_list(cls, true)]
	if ClassDB.is_parent_class(cls, "PacketPeer"):
		lists.append(ClassDB.class_get_method_list("PacketPeer", true))
	for list in lists:
		for m in list:
			if String(m["name"]).begins_with("_") or (int(m["flags"]) & METHOD_FLAG_VIRTUAL) != 0:
				continue
			out.append(m)
	return out


## The argument lists to try for method `m`: each argument in turn hostile, the others sane.
func _argument_lists(m: Dictionary, ctx: Dictionary) -> Array:
	var args: Array = m["args"]
	var defaults: Array = m["default_args"]
	var first_default := args.size() - defaults.size()
	var sane := []
	for i in args.size():
		sane.append(_sane(args[i], defaults[i - first_default] if i >= first_default else null, i >= first_default, ctx))
	if args.is_empty():
		return [[]]
	var lists := []
	for i in args.size():
		for v in _hostile(args[i]):
			var a := sane.duplicate()
			a[i] = v
			lists.append(a)
	return lists


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
## connected to a server under test), server, id}. Returns {} if the state was not reached.
func _make(cls: String, state: String, label: String) -> Dictionary:
	match cls + ":" + state:
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


## Exercises the object after a hostile call: a message through it if it is connected. Any
## outcome but a panic is fine here.
func _use(ctx: Dictionary, label: String) -> void:
	var obj: Object = ctx["obj"]
	var objs: Array = ctx["poll"]
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
	for p in ClassDB.class_get_property_list(obj.get_class(), true):
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


## After a hostile call: the object (reset to defaults) still works.
func _still_works(ctx: Dictionary, label: String) -> void:
	var obj: Object = ctx["obj"]
	var server: Object = ctx.get("server")
	var why := ""
	if server != null:
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
	for m in _methods(cls):
		for args in _argument_lists(m, ctx_ids):
			if _over_budget():
				return
			var label := "%s[%s].%s(%s)" % [cls, state, m["name"], ", ".join(args.map(_desc))]
			var ctx: Dictionary = await _make(cls, state, label + " setup")
			if ctx.is_empty():
				failures.append("%s: could not reach state %s" % [label, state])
				continue
			if ctx.has("id"):
				# Ids are per connection: a sane "id" is this connection's.
				var idx: int = m["args"].map(func(a): return a["name"]).find("id")
				if idx >= 0 and typeof(args[idx]) == TYPE_INT and args[idx] == ctx_ids["id"]:
					args = args.duplicate()
					args[idx] = ctx["id"]
			_cases += 1
			_call(ctx["obj"], m["name"], args, label)
			await _use(ctx, label)
			await _still_works(ctx, label)
			_dispose(ctx)
	print("    %s[%s]: %d calls, %d panics, still working after %d, %.1f s" % [cls, state, _cases, _panics, _working, (Time.get_ticks_msec() - _started) / 1000.0])


func test_peer_methods_on_a_new_peer() -> void:
	await _hammer_methods("RustWebSocketPeer", "new")


func test_peer_methods_while_connecting() -> void:
	await _hammer_methods("RustWebSocketPeer", "connecting")


func test_peer_methods_on_an_open_client() -> void:
	await _hammer_methods("RustWebSocketPeer", "open")


func test_peer_methods_on_a_server_peer() -> void:
	await _hammer_methods("RustWebSocketPeer", "server_side")


func test_server_methods_when_stopped() -> void:
	await _hammer_methods("WebSocketServer", "stopped")


func test_server_methods_while_listening() -> void:
	await _hammer_methods("WebSocketServer", "listening")


## Every property of `cls`: set on a new object, read back, used, reset; the object must work.
func _hammer_properties(cls: String) -> void:
	_begin()
	for p in ClassDB.class_get_property_list(cls, true):
		var prop: String = p["name"]
		var setter := ClassDB.class_get_property_setter(cls, prop)
		var arg := p
		for m in ClassDB.class_get_method_list(cls, true):
			if m["name"] == setter and m["args"].size() == 1:
				arg = m["args"][0]
		for v in _hostile(arg):
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


func test_peer_properties() -> void:
	await _hammer_properties("RustWebSocketPeer")


func test_server_properties() -> void:
	await _hammer_properties("WebSocketServer")


func test_every_extension_class_is_covered() -> void:
	var found := []
	for c in ClassDB.get_class_list():
		if ClassDB.class_get_api_type(c) in [ClassDB.API_EXTENSION, ClassDB.API_EDITOR_EXTENSION]:
			found.append(String(c))
	found.sort()
	var known := EXTENSION_CLASSES.keys()
	known.sort()
	check_eq(found, known, "extension classes (add a new one, with its states, to EXTENSION_CLASSES and _make)")
	if not ClassDB.class_exists("Logger"):
		print("    no Logger class (Godot < 4.5): panics are only caught by the log check (\"panicked at\")")


# --- Specific expectations ------------------------------------------------------------------


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


func test_durations_stay_finite_and_non_negative() -> void:
	_begin()
	for cls in ["RustWebSocketPeer", "WebSocketServer"]:
		for prop in ["heartbeat_interval", "handshake_timeout"]:
			var obj: Object = ClassDB.instantiate(cls)
			_assign(obj, prop, 0.25, "%s.%s = 0.25" % [cls, prop])
			check_eq(obj.get(prop), 0.25, "%s.%s reads back 0.25" % [cls, prop])
			for v in _floats():
				var label := "%s.%s = %s" % [cls, prop, _desc(v)]
				obj = ClassDB.instantiate(cls)
				if obj is WebSocketServer:
					_wire_echo(obj)
				_assign(obj, prop, v, label)
				var got = obj.get(prop)
				check(typeof(got) == TYPE_FLOAT and is_finite(got) and got >= 0.0, "%s: reads back %s" % [label, got])
				if typeof(got) == TYPE_FLOAT and v > 0.0 and v < 1e6:
					check(is_equal_approx(got, v) or got == 0.0, "%s: reads back %s" % [label, got])
				await _use_setting(obj, label)
				await _still_works({"obj": obj, "poll": [obj]}, label)
				_dispose({"obj": obj})


func test_sizes_never_read_back_negative() -> void:
	_begin()
	var props := {"RustWebSocketPeer": ["inbound_buffer_size", "outbound_buffer_size", "max_queued_packets"],
		"WebSocketServer": ["inbound_buffer_size", "outbound_buffer_size", "max_queued_packets", "max_peers"]}
	for cls in props:
		for prop in props[cls]:
			for v in INTS:
				var label := "%s.%s = %d" % [cls, prop, v]
				var obj: Object = ClassDB.instantiate(cls)
				if obj is WebSocketServer:
					_wire_echo(obj)
				_assign(obj, prop, v, label)
				var got = obj.get(prop)
				check(typeof(got) == TYPE_INT, "%s: reads back an int" % label)
				if prop != "outbound_buffer_size":
					check(typeof(got) == TYPE_INT and got >= 0, "%s: reads back %s" % [label, got])
				await _use_setting(obj, label)
				await _still_works({"obj": obj, "poll": [obj]}, label)
				_dispose({"obj": obj})


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


## close(code) with a code a close frame cannot carry (RFC 6455 section 7.4: only 1000-1003,
## 1007-1014 and 3000-4999 may be sent; 0..65535 is all 16 bits can hold) is refused with an
## error and changes nothing (the engine sends such codes, truncated to 16 bits); a negative code
## closes at once (code -1, no close frame). No panic either way, and the peer closes normally
## afterwards.
func test_close_codes_a_frame_cannot_carry() -> void:
	_begin()
	for code in [65536, 70000, I64_MAX, 1 << 31, 65535, 5000, 2999, 1015, 1006, 1005, 1004, 999, 1, -1, -(1 << 31) - 1, I64_MIN]:
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
				check_eq(p.callv("get_close_code", []), 1009, state + ": 1009 from the server")
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


## A request_validator that returns anything but true, false or an HTTP error status refuses the
## client (with a warning), and so does one called with the wrong number of arguments; an
## invalid Callable (empty, or the method of a freed object) means no validator.
func test_request_validator_junk_refuses_the_client() -> void:
	_begin()
	for v in _callables():
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
