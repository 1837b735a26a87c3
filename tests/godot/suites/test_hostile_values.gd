extends TestSuite
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
const I64_MIN := -9223372036854775807 - 1
const I64_MAX := 9223372036854775807
const INTS := [-1, 0, I64_MIN, I64_MAX, 1 << 31, -(1 << 31) - 1, 65536, 70000]
const TEST_BUDGET_MS := 45000
const ErrorCapture := preload("res://lib/error_capture.gd")

var _logger: Object = null
var _echo: EngineEcho
var _silent: SilentServer
## The engine's WebSocketMultiplayerPeer as a server on 127.0.0.1 that echoes every packet to
## its sender: what our multiplayer client joins.
var _mp_host: WebSocketMultiplayerPeer
var _mp_host_port := 0
var _mp_host_peers := {}
var _mp_host_polled := 0
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
	if _logger == null:
		_logger = ErrorCapture.install()
	_echo = EngineEcho.new()
	_silent = SilentServer.new()
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	_dead_port = tcp.get_local_port()
	tcp.stop()
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
		"id", "peer_id", "peer":
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


## The methods tested for `cls`: its own, plus for the peers the MultiplayerPeer and PacketPeer
## methods (they call its virtuals). Virtual methods ("_...") are not called directly.
func _methods(cls: String) -> Array:
	var out := []
	var lists := [ClassDB.class_get_method_list(cls, true)]
	if ClassDB.is_parent_class(cls, "MultiplayerPeer"):
		lists.append(ClassDB.class_get_method_list("MultiplayerPeer", true))
	if ClassDB.is_parent_class(cls, "PacketPeer"):
		lists.append(ClassDB.class_get_method_list("PacketPeer", true))
	for list in lists:
		for m in list:
			if String(m["name"]).begins_with("_") or (int(m["flags"]) & METHOD_FLAG_VIRTUAL) != 0:
				continue
			out.append(m)
	return out


## The properties tested for `cls`: its own, plus for the multiplayer peer those of
## MultiplayerPeer (transfer_mode, transfer_channel, refuse_new_connections: they call its
## virtuals).
func _properties(cls: String) -> Array:
	var out := ClassDB.class_get_property_list(cls, true)
	if ClassDB.is_parent_class(cls, "MultiplayerPeer"):
		out = out + ClassDB.class_get_property_list("MultiplayerPeer", true)
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
	for p in _properties(obj.get_class()):
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
	for p in _properties(cls):
		var prop: String = p["name"]
		var setter := ClassDB.class_get_property_setter(cls, prop)
		var arg: Dictionary = p
		for m in _methods(cls):
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


func test_peer_properties() -> void:
	await _hammer_properties("RustWebSocketPeer")


func test_server_properties() -> void:
	await _hammer_properties("WebSocketServer")


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
	# Every state listed is one `_make` reaches.
	_begin()
	for cls in EXTENSION_CLASSES:
		if not ClassDB.class_exists(cls):
			continue
		for state in EXTENSION_CLASSES[cls]:
			var ctx: Dictionary = await _make(cls, state, "%s[%s]" % [cls, state])
			if check(not ctx.is_empty(), "%s: _make does not reach state %s" % [cls, state]):
				_dispose(ctx)


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


# --- Specific expectations: RustWebSocketMultiplayerPeer ----------------------------------------


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


## handshake_timeout and heartbeat_interval set to NaN, ±inf or a negative number: refused with
## an error, the value set before is kept.
func test_invalid_durations_are_refused() -> void:
	_begin()
	for cls in [MP, "RustWebSocketPeer", "WebSocketServer"]:
		for prop in ["heartbeat_interval", "handshake_timeout"]:
			for v in [NAN, INF, -INF, -1.0, -1e-300, -1e308]:
				var label := "%s.%s = %s" % [cls, prop, _desc(v)]
				var obj: Object = ClassDB.instantiate(cls)
				_assign(obj, prop, 0.25, label)
				_assign(obj, prop, v, label)
				check(not _errors.is_empty(), label + ": an error is pushed")
				check_eq(obj.get(prop), 0.25, label + ": the value set before is kept")
				if cls == MP:
					var why: String = await _mp_works(obj, label)
					check(why.is_empty(), "%s: afterwards the peer does not work: %s" % [label, why])


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
