extends RefCounted
## The hostile values of the hostile-value suites (lib/hostile_suite.gd), by argument type and
## name, the harmless values for the arguments not under attack, and the methods and properties
## of a class that are called with them. URLs and bind addresses stay on 127.0.0.1 or [::1], or
## are invalid: none looks a name up or binds another interface.
##
## Not a class_name on purpose: load it with preload("res://lib/hostile_values.gd").

const I64_MIN := -9223372036854775807 - 1
const I64_MAX := 9223372036854775807
const INTS := [-1, 0, I64_MIN, I64_MAX, 1 << 31, -(1 << 31) - 1, 65536, 70000]

static var _tls_key: CryptoKey
static var _tls_cert: X509Certificate

## A port on 127.0.0.1 that nothing listens on (URLs to it fail at once).
var dead_port := 0


func _init(port: int) -> void:
	dead_port = port


func _tls_material() -> void:
	if _tls_key == null:
		_tls_key = Crypto.new().generate_rsa(1024)
		_tls_cert = Crypto.new().generate_self_signed_certificate(_tls_key, "CN=localhost")


func _tagged(o: Object, what: String) -> Object:
	o.set_meta("what", what)
	return o


static func floats() -> Array:
	var denormal := PackedByteArray([1, 0, 0, 0, 0, 0, 0, 0]).decode_double(0)
	return [NAN, INF, -INF, -1.0, 1e19, 1e20, 1e308, denormal]


static func strings() -> Array:
	return ["", "a".repeat(10240), "\u0000", "ws://", "wss://[::1", "http://x", "ws://127.0.0.1:0/",
		"ws://127.0.0.1:99999/", "X: a\r\nY: b", "héllo ✓"]


## URLs that fail at once or reach only 127.0.0.1/[::1] (never a name lookup).
func urls() -> Array:
	var dead := "ws://127.0.0.1:%d/" % dead_port
	return ["", "ws://", "wss://[::1", "http://x", "ws://127.0.0.1:0/", "ws://127.0.0.1:99999/",
		"ws://127.0.0.1:65536/", "ws://127.0.0.1:-1/", "ws://[::1", "wss://127.0.0.1:%d/" % dead_port,
		"ws://[::1]:%d/" % dead_port, "ws://127.0.0.1:%d" % dead_port, dead + "a".repeat(10240),
		dead + "\u0000", dead + "X: a\r\nY: b", dead + "?q=\r\n\r\n", "WS://127.0.0.1:%d/" % dead_port]


## Bind addresses that are invalid or loopback ("" and "*" would bind every interface).
static func binds() -> Array:
	return ["\u0000", "a".repeat(10240), "ws://", "wss://[::1", "http://x", "X: a\r\nY: b",
		"256.0.0.1", "::1", "localhost", "127.0.0.1 ", "127.0.0.1:80"]


func tls_values() -> Array:
	_tls_material()
	return [null, _tagged(RefCounted.new(), "wrong class"), _tagged(TLSOptions.client(), "client"),
		_tagged(TLSOptions.client_unsafe(), "client_unsafe"), _tagged(TLSOptions.server(_tls_key, _tls_cert), "server"),
		_tagged(TLSOptions.client(X509Certificate.new()), "client, empty certificate"),
		_tagged(TLSOptions.client_unsafe(X509Certificate.new()), "client_unsafe, empty certificate"),
		_tagged(TLSOptions.server(CryptoKey.new(), X509Certificate.new()), "server, empty key and certificate")]


func streams() -> Array:
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


func callables() -> Array:
	var n := Node.new()
	var freed := Callable(n, "get_name")
	n.free()
	return [Callable(), freed, Callable(self, "_v_no_args"), Callable(self, "_v_dict"), Callable(self, "_v_string"),
		Callable(self, "_v_huge_float"), Callable(self, "_v_int_out_of_range"), Callable(self, "_v_success_status"),
		Callable(self, "_v_negative"), Callable(self, "_v_null")]


## Hostile values for one argument (or a property's setter argument).
func hostile(arg: Dictionary) -> Array:
	var arg_name := String(arg["name"]).to_lower()
	# Anything that names a place to connect to or listen on gets only loopback or invalid values.
	if int(arg["type"]) in [TYPE_STRING, TYPE_STRING_NAME]:
		if arg_name.contains("url") or arg_name.contains("uri"):
			return urls()
		if arg_name.contains("address") or arg_name.contains("host") or arg_name.contains("bind"):
			return binds()
	var class_hint := String(arg.get("class_name", ""))
	match int(arg["type"]):
		TYPE_INT:
			return INTS
		TYPE_FLOAT:
			return floats()
		TYPE_BOOL:
			return [true, false]
		TYPE_STRING, TYPE_STRING_NAME:
			return strings()
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
				return tls_values()
			if class_hint.begins_with("StreamPeer"):
				return streams()
			return [null, _tagged(RefCounted.new(), "wrong class")]
		TYPE_CALLABLE:
			return callables()
		TYPE_NIL:
			var mib := PackedByteArray()
			mib.resize(1 << 20)
			return [null, mib, {"nan": NAN, "deep": [[[[]]]]}, "text"]
	return [null]


## A harmless value for an argument that is not the one under attack.
func sane(arg: Dictionary, default: Variant, has_default: bool, ctx: Dictionary) -> Variant:
	match String(arg["name"]):
		"url":
			return "ws://127.0.0.1:%d/" % dead_port
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
static func methods(cls: String) -> Array:
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
static func properties(cls: String) -> Array:
	var out := ClassDB.class_get_property_list(cls, true)
	if ClassDB.is_parent_class(cls, "MultiplayerPeer"):
		out = out + ClassDB.class_get_property_list("MultiplayerPeer", true)
	return out


## The argument lists to try for method `m`: each argument in turn hostile, the others sane.
func argument_lists(m: Dictionary, ctx: Dictionary) -> Array:
	var args: Array = m["args"]
	var defaults: Array = m["default_args"]
	var first_default := args.size() - defaults.size()
	var sane := []
	for i in args.size():
		sane.append(sane(args[i], defaults[i - first_default] if i >= first_default else null, i >= first_default, ctx))
	if args.is_empty():
		return [[]]
	var lists := []
	for i in args.size():
		for v in hostile(args[i]):
			var a := sane.duplicate()
			a[i] = v
			lists.append(a)
	return lists
