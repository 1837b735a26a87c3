extends "res://lib/hostile_suite.gd"
## No panic reachable from GDScript: hostile values for every method and property of every class
## the extension registers (lib/hostile_suite.gd says how; one suite per class:
## test_hostile_peer.gd, test_hostile_server.gd, test_hostile_multiplayer.gd). This one checks
## that every extension class is covered, and what durations and sizes do on every class.


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


# --- Durations and sizes, every class --------------------------------------------------------


func test_durations_stay_finite_and_non_negative() -> void:
	_begin()
	for cls in ["RustWebSocketPeer", "WebSocketServer"]:
		for prop in ["heartbeat_interval", "handshake_timeout"]:
			var obj: Object = ClassDB.instantiate(cls)
			_assign(obj, prop, 0.25, "%s.%s = 0.25" % [cls, prop])
			check_eq(obj.get(prop), 0.25, "%s.%s reads back 0.25" % [cls, prop])
			for v in Values.floats():
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
