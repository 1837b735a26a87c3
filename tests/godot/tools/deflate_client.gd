extends Node
## RustWebSocketPeer with permessage-deflate (RFC 7692) against a third-party echo server
## (`interop_node.js deflate-server`, `interop_py.py deflate-server`), which checks the bytes on
## its side of the wire. Prints `NEGOTIATED "<get_negotiated_extensions()>"`, then
## `INTEROP OK <label>: …` or `INTEROP FAIL <label>: why`, and quits with 0 or 1.
##
## Arguments after `--`: `--url=ws://…`, `--label=NAME`, `--mode=json|mixed`,
## `--threshold=N` (`compression_threshold`, default 128), `--count=N` (json mode, default 1000).
## - json: N game-like JSON states (~2.3 KiB, 50 entities, a few of them changing per tick),
##   each echoed back byte-exact, one at a time: context takeover across the whole stream.
## - mixed: text and binary messages around the threshold (empty, below, at, above, 70 KB, one
##   incompressible), each echoed back byte-exact with its type. The server measures each one.
## Both end with a close 4000 "godot bye".

const Args := preload("res://tools/args.gd")
const KINDS := ["knight", "archer", "orc", "goblin", "mage", "wolf"]

var label := ""
var lcg := 7


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	label = args.get("label", "server")
	var mode: String = args.get("mode", "json")
	var threshold := int(args.get("threshold", "128"))
	var peer := RustWebSocketPeer.new()
	peer.compression_enabled = true
	peer.compression_threshold = threshold
	peer.inbound_buffer_size = 16 << 20
	peer.outbound_buffer_size = 0
	if peer.connect_to_url(args.get("url", "")) != OK:
		return _done(false, "connect_to_url refused the URL")
	if not await _until(func(): return peer.get_ready_state() != RustWebSocketPeer.STATE_CONNECTING, peer):
		return _done(false, "no connection")
	if peer.get_ready_state() != RustWebSocketPeer.STATE_OPEN:
		return _done(false, "closed during the handshake (%d)" % peer.get_close_code())
	var ext := peer.get_negotiated_extensions()
	print('NEGOTIATED "%s"' % ext)
	if not ext.begins_with("permessage-deflate"):
		return _done(false, "permessage-deflate not negotiated (get_negotiated_extensions() = \"%s\")" % ext)
	var messages: Array = _json_states(int(args.get("count", "1000"))) if mode == "json" else _mixed(threshold)
	var total := 0
	for i in messages.size():
		var m = messages[i]
		var text: bool = m is String
		var bytes: PackedByteArray = m.to_utf8_buffer() if text else m
		total += bytes.size()
		var err: int = peer.send_text(m) if text else peer.send(m, RustWebSocketPeer.WRITE_MODE_BINARY)
		if err != OK:
			return _done(false, "sending message %d (%d bytes) failed: %s" % [i, bytes.size(), error_string(err)])
		if not await _until(func(): return peer.get_available_packet_count() > 0 or peer.get_ready_state() != RustWebSocketPeer.STATE_OPEN, peer):
			return _done(false, "no echo of message %d (%d bytes)" % [i, bytes.size()])
		if peer.get_available_packet_count() == 0:
			return _done(false, "closed (%d '%s') before the echo of message %d" % [peer.get_close_code(), peer.get_close_reason(), i])
		var back := peer.get_packet()
		if back != bytes or peer.was_string_packet() != text:
			return _done(false, "echo of message %d differs: sent %d bytes %s, got %d bytes %s" % [i, bytes.size(), "text" if text else "binary", back.size(), "text" if peer.was_string_packet() else "binary"])
	peer.close(4000, "godot bye")
	if not await _until(func(): return peer.get_ready_state() == RustWebSocketPeer.STATE_CLOSED, peer):
		return _done(false, "did not close")
	if peer.get_close_code() != 4000 or peer.get_close_reason() != "godot bye":
		return _done(false, "close %d '%s'" % [peer.get_close_code(), peer.get_close_reason()])
	_done(true, "%s: %d messages (%d bytes) echoed byte-exact, %s, close 4000" % [mode, messages.size(), total, ext])


## `count` world states of a game: 50 entities, 8 random moves per tick (a fixed-seed LCG).
func _json_states(count: int) -> Array:
	var ents := []
	for i in 50:
		ents.append([i + 1, KINDS[_rnd(KINDS.size())], _rnd(4096), _rnd(4096), 100])
	var out := []
	for t in count:
		for _k in 8:
			var e: Array = ents[_rnd(ents.size())]
			e[2] = (e[2] + _rnd(33) - 16 + 4096) % 4096
			e[3] = (e[3] + _rnd(33) - 16 + 4096) % 4096
			e[4] = maxi(0, e[4] - _rnd(4))
		var parts := PackedStringArray()
		for e in ents:
			parts.append('{"id":%d,"k":"%s","x":%d,"y":%d,"hp":%d}' % e)
		out.append('{"tick":%d,"entities":[%s]}' % [t, ",".join(parts)])
	return out


## Text and binary messages, alternating, below, at and above `threshold` bytes.
func _mixed(threshold: int) -> Array:
	var out := []
	var sizes := [0, 1, 2, threshold >> 1, threshold - 3, threshold - 2, threshold - 1, threshold, threshold + 1, 2 * threshold + 44, 4000, 70000]
	for k in sizes.size():
		var n: int = max(sizes[k], 0)
		if k % 2 == 0:
			out.append("hello godot ".repeat(int(n / 12.0) + 1).substr(0, n))
		else:
			var b := PackedByteArray()
			b.resize(n)
			for i in n:
				b[i] = i % 16
			out.append(b)
	# UTF-8 text above the threshold, and binary that does not compress.
	out.append("é✓ ".repeat(threshold))
	var rng := RandomNumberGenerator.new()
	rng.seed = 99
	var noise := PackedByteArray()
	noise.resize(threshold * 3)
	for i in noise.size():
		noise[i] = rng.randi() % 256
	out.append(noise)
	# Below the threshold again after compressed ones, both types, then empty ones.
	out.append("bye ".repeat(threshold >> 3))
	out.append(PackedByteArray([1, 2, 3]))
	out.append("")
	out.append(PackedByteArray())
	return out


func _rnd(m: int) -> int:
	lcg = (lcg * 1103515245 + 12345) % 2147483648
	return (lcg >> 8) % m


func _until(cond: Callable, peer: RustWebSocketPeer) -> bool:
	var deadline := Time.get_ticks_msec() + 20000
	while not cond.call():
		if Time.get_ticks_msec() > deadline:
			return false
		peer.poll()
		await get_tree().process_frame
	return true


func _done(ok: bool, detail: String) -> void:
	print("INTEROP %s RustWebSocketPeer (permessage-deflate) -> %s: %s" % ["OK" if ok else "FAIL", label, detail])
	get_tree().quit(0 if ok else 1)
