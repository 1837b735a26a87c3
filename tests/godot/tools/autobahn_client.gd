extends Node
## Client side of the Autobahn|Testsuite: drives `wstest -m fuzzingserver` with RustWebSocketPeer.
## Arguments after `--`: `--url=ws://127.0.0.1:PORT`, `--agent=NAME`, optional `--cases=1,2,3`,
## `--compression` (offer permessage-deflate) with `--compression-threshold=BYTES`, and
## `--engine` (the engine's own WebSocketPeer instead, for the reference runs).
## Fetches /getCaseCount, runs every /runCase?case=N echoing each message with its type, then
## /updateReports, and quits. Prints one line per case. The case count is always read with a
## RustWebSocketPeer: wstest sends it and its close frame back to back, and the engine's peer
## clears what it received when a poll completes the closing handshake, so it never reads it.

const Args := preload("res://tools/args.gd")

var base := ""
var agent := ""
var args := {}


func _ready() -> void:
	Args.full_speed()
	args = Args.parse()
	base = args.get("url", "ws://127.0.0.1:9001")
	agent = args.get("agent", "rust_websocket")
	var count_text := await _fetch_text("/getCaseCount", false)
	if not count_text.is_valid_int():
		printerr("autobahn_client: bad case count '%s'" % count_text)
		get_tree().quit(1)
		return
	var cases := range(1, int(count_text) + 1)
	if args.has("cases"):
		cases = Array(args["cases"].split(",")).map(func(c): return int(c))
	print("CASES ", cases.size())
	for n in cases:
		var t0 := Time.get_ticks_msec()
		var code := await _run_case(n)
		print("case %d done in %d ms (close %d)" % [n, Time.get_ticks_msec() - t0, code])
	await _fetch_text("/updateReports?agent=" + agent, args.has("engine"))
	print("REPORTS UPDATED")
	get_tree().quit(0)


## A RustWebSocketPeer, or a WebSocketPeer: the same API, so callers leave it untyped. Both
## state and write-mode enums have the engine's values.
func _peer(engine: bool) -> PacketPeer:
	if engine:
		var e := WebSocketPeer.new()
		e.inbound_buffer_size = 64 * 1024 * 1024
		e.outbound_buffer_size = 64 * 1024 * 1024
		e.max_queued_packets = 1 << 16
		return e
	var p := RustWebSocketPeer.new()
	p.inbound_buffer_size = 64 * 1024 * 1024
	p.outbound_buffer_size = 0
	p.max_queued_packets = 1 << 20
	p.handshake_timeout = 60.0
	if args.has("compression"):
		p.compression_enabled = true
	if args.has("compression-threshold"):
		p.compression_threshold = int(args["compression-threshold"])
	return p


func _fetch_text(path: String, engine: bool) -> String:
	var p = _peer(engine)
	p.connect_to_url(base + path)
	var text := ""
	while p.get_ready_state() != WebSocketPeer.STATE_CLOSED:
		p.poll()
		while p.get_available_packet_count() > 0:
			text += p.get_packet().get_string_from_utf8()
		await get_tree().process_frame
	while p.get_available_packet_count() > 0:
		text += p.get_packet().get_string_from_utf8()
	return text.strip_edges()


func _run_case(n: int) -> int:
	var p = _peer(args.has("engine"))
	p.connect_to_url("%s/runCase?case=%d&agent=%s" % [base, n, agent])
	var deadline := Time.get_ticks_msec() + 120000
	while p.get_ready_state() != WebSocketPeer.STATE_CLOSED and Time.get_ticks_msec() < deadline:
		p.poll()
		while p.get_available_packet_count() > 0:
			var pkt: PackedByteArray = p.get_packet()
			if p.get_ready_state() == WebSocketPeer.STATE_OPEN:
				p.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if p.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
		await get_tree().process_frame
	if p.get_ready_state() != WebSocketPeer.STATE_CLOSED:
		p.close(-1)
	return p.get_close_code()
