extends Node
## RustWebSocketPeer against a third-party server: text and binary messages, small and 1 MiB,
## with a subprotocol, then a close with a code and reason. Prints `INTEROP OK <label>` or
## `INTEROP FAIL <label>: why` and quits with 0 or 1.
## Arguments after `--`: `--url=ws://…`, `--protocol=P`, `--label=NAME`, `--ca=PEM` (trusted CA).

const Args := preload("res://tools/args.gd")

var label := ""


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	label = args.get("label", "server")
	var peer := RustWebSocketPeer.new()
	peer.supported_protocols = PackedStringArray([args.get("protocol", "chat.v1")])
	peer.inbound_buffer_size = 16 << 20
	peer.outbound_buffer_size = 0
	var tls: TLSOptions = null
	if args.has("ca"):
		var ca := X509Certificate.new()
		if ca.load(args["ca"]) != OK:
			return _done(false, "cannot load CA " + args["ca"])
		tls = TLSOptions.client(ca)
	if peer.connect_to_url(args.get("url", ""), tls) != OK:
		return _done(false, "connect_to_url refused the URL")
	if not await _until(func(): return peer.get_ready_state() != RustWebSocketPeer.STATE_CONNECTING, peer):
		return _done(false, "no connection")
	if peer.get_ready_state() != RustWebSocketPeer.STATE_OPEN:
		return _done(false, "closed during the handshake (%d)" % peer.get_close_code())
	if peer.get_selected_protocol() != args.get("protocol", "chat.v1"):
		return _done(false, "subprotocol '%s'" % peer.get_selected_protocol())
	var big := PackedByteArray()
	big.resize(1 << 20)
	for i in big.size():
		big[i] = (i * 31) % 256
	var messages := ["hello from godot", "é✓".repeat(1 << 18), PackedByteArray([0, 1, 255]), big]
	for m in messages:
		var text: bool = m is String
		var err: int = peer.send_text(m) if text else peer.send(m, RustWebSocketPeer.WRITE_MODE_BINARY)
		if err != OK:
			return _done(false, "send failed: %s" % error_string(err))
		if not await _until(func(): return peer.get_available_packet_count() > 0, peer):
			return _done(false, "no echo")
		var back := peer.get_packet()
		var same: bool = (back.get_string_from_utf8() == m) if text else (back == m)
		if not same or peer.was_string_packet() != text:
			return _done(false, "echo of a %d-byte %s message differs" % [back.size(), "text" if text else "binary"])
	peer.close(4000, "godot bye")
	if not await _until(func(): return peer.get_ready_state() == RustWebSocketPeer.STATE_CLOSED, peer):
		return _done(false, "did not close")
	if peer.get_close_code() != 4000 or peer.get_close_reason() != "godot bye":
		return _done(false, "close %d '%s'" % [peer.get_close_code(), peer.get_close_reason()])
	_done(true, "text, binary, 1 MiB, subprotocol, close 4000")


func _until(cond: Callable, peer: RustWebSocketPeer) -> bool:
	var deadline := Time.get_ticks_msec() + 20000
	while not cond.call():
		if Time.get_ticks_msec() > deadline:
			return false
		peer.poll()
		await get_tree().process_frame
	return true


func _done(ok: bool, detail: String) -> void:
	print("INTEROP %s RustWebSocketPeer -> %s: %s" % ["OK" if ok else "FAIL", label, detail])
	get_tree().quit(0 if ok else 1)
