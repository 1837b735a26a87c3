extends Node
## Echo server for `cargo xtask bench echo` (bench/src/echo/): every message goes back to
## its sender with the same text/binary type, from the main thread's `_process`, as a game
## would do it. `--server=ours`: our `WebSocketServer`, echoing in its `data_received` handler,
## `poll()` in `_process`. `--server=engine`: the engine's way, `TCPServer` + `WebSocketPeer`
## (`accept_stream`), organised as the `websocket_chat` demo of godot-demo-projects does it
## (pending peers until their handshake ends, then a dictionary of open peers polled every frame,
## a signal per message whose handler echoes it).
##
## What the frame costs: `_process` times its whole networking, `poll()` with the handlers it
## calls plus the state broadcast when one is due (`Time.get_ticks_usec()`), and keeps a sample
## between the controller's `begin` and `end`.
##
## Arguments after `--`: `--server=ours|engine`, `--quit-after=S` (a watchdog, default 900).
## Prints `LISTENING <port>` and `PID <pid>`. It runs at full speed until told otherwise.
##
## Control texts from the benchmark's controller connection, `__bench__ WORDS`, never echoed;
## answered `__bench__ ANSWER` (the same protocol as the Node and core servers of the benchmark):
## - `fps N`: `Engine.max_fps = N` (0: as fast as the engine goes); `ok`;
## - `buffers BYTES`: inbound and outbound buffer sizes of peers accepted from now on; `ok`;
## - `begin`: starts a fresh sample of frame costs (from the next frame); `ok`;
## - `broadcast BYTES HZ`: from now on sends a state of BYTES bytes to every peer HZ times a
##   second (ours: `broadcast()` when the class has it, else a loop over peers); `ok`;
## - `end`: stops sample and broadcast; `frames=… seconds=… p50_us=… p99_us=… max_us=… over=…
##   broadcasts=… peers=…` (`over`: frames whose networking alone took more than 16.7 ms);
## - `peers`: `peers=N`, the open peers, the controller included;
## - `quit`: stops the server and quits.

signal message_received(id: int, data: PackedByteArray, text: bool)

const Args := preload("res://tools/args.gd")
## One frame at 60 fps, in µs.
const BUDGET_US := 16667

var ours := true
var server  # WebSocketServer (ours)
var tcp: TCPServer  # the engine's way
var pending: Array[Array] = []  # [StreamPeerTCP, WebSocketPeer or null, connect time ms]
var peers := {}  # id -> WebSocketPeer
var buffers := 65535
var quit_at_ms := 0

var costs := PackedInt32Array()
var sampling := false
var arm := false
var sample_start_us := 0
var state := PackedByteArray()
var broadcast_every_us := 0
var next_broadcast_us := 0
var broadcasts := 0


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	quit_at_ms = Time.get_ticks_msec() + int(float(args.get("quit-after", "900")) * 1000.0)
	ours = args.get("server", "ours") != "engine"
	var port := 0
	if ours:
		server = WebSocketServer.new()
		server.max_peers = 100000
		_apply_buffers()
		server.data_received.connect(_on_data)
		var err: Error = server.listen(0, "127.0.0.1")
		port = server.get_local_port()
		if err != OK:
			printerr("bench_echo_server: listen failed: ", error_string(err))
			get_tree().quit(1)
			return
	else:
		tcp = TCPServer.new()
		var err := tcp.listen(0, "127.0.0.1")
		if err != OK:
			printerr("bench_echo_server: listen failed: ", error_string(err))
			get_tree().quit(1)
			return
		port = tcp.get_local_port()
		message_received.connect(_on_engine_message)
	print("LISTENING ", port)
	print("PID ", OS.get_process_id())


func _process(_delta: float) -> void:
	var t0 := Time.get_ticks_usec()
	if arm:
		arm = false
		sampling = true
		costs.clear()
		sample_start_us = t0
	if ours:
		server.poll()
	else:
		_poll_engine()
	if broadcast_every_us > 0 and t0 >= next_broadcast_us:
		next_broadcast_us = maxi(next_broadcast_us + broadcast_every_us, t0)
		_broadcast()
	if sampling:
		costs.append(Time.get_ticks_usec() - t0)
	if Time.get_ticks_msec() > quit_at_ms:
		printerr("bench_echo_server: --quit-after reached")
		_quit()


## Ours: the tutorial's handler, echoing.
func _on_data(id: int) -> void:
	var peer: RustWebSocketPeer = server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var pkt := peer.get_packet()
		var text := peer.was_string_packet()
		if text and pkt.size() > 10 and pkt[0] == 95 and pkt[1] == 95:
			var answer := _control(pkt)
			if answer != "":
				peer.send_text(answer)
				continue
		peer.send(pkt, RustWebSocketPeer.WRITE_MODE_TEXT if text else RustWebSocketPeer.WRITE_MODE_BINARY)


## The engine's way, as the demo's `poll()`: accept, advance handshakes, poll open peers and
## emit their messages.
func _poll_engine() -> void:
	while tcp.is_connection_available():
		pending.append([tcp.take_connection(), null, Time.get_ticks_msec()])
	var done: Array[Array] = []
	for p in pending:
		if _connect_pending(p):
			done.append(p)
		elif p[2] + 3000 < Time.get_ticks_msec():
			done.append(p)  # The demo's handshake timeout.
	for p in done:
		pending.erase(p)
	var gone: Array[int] = []
	for id: int in peers:
		var ws: WebSocketPeer = peers[id]
		ws.poll()
		if ws.get_ready_state() != WebSocketPeer.STATE_OPEN:
			gone.append(id)
			continue
		while ws.get_available_packet_count():
			var pkt := ws.get_packet()
			message_received.emit(id, pkt, ws.was_string_packet())
	for id in gone:
		peers.erase(id)


## True when the pending peer is done with (open, or failed).
func _connect_pending(p: Array) -> bool:
	var ws: WebSocketPeer = p[1]
	if ws != null:
		ws.poll()
		var ready := ws.get_ready_state()
		if ready == WebSocketPeer.STATE_OPEN:
			var id := randi_range(2, 1 << 30)
			while peers.has(id):
				id = randi_range(2, 1 << 30)
			peers[id] = ws
			return true
		return ready != WebSocketPeer.STATE_CONNECTING
	var conn: StreamPeerTCP = p[0]
	if conn.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		return true
	ws = WebSocketPeer.new()
	ws.inbound_buffer_size = buffers
	ws.outbound_buffer_size = buffers
	ws.accept_stream(conn)
	p[1] = ws
	return false


func _on_engine_message(id: int, pkt: PackedByteArray, text: bool) -> void:
	var ws: WebSocketPeer = peers[id]
	if text and pkt.size() > 10 and pkt[0] == 95 and pkt[1] == 95:
		var answer := _control(pkt)
		if answer != "":
			ws.send_text(answer)
			return
	ws.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if text else WebSocketPeer.WRITE_MODE_BINARY)


func _broadcast() -> void:
	broadcasts += 1
	if not ours:
		for id: int in peers:
			peers[id].send(state)
	elif server.has_method("broadcast"):
		server.broadcast(state)
	else:
		for id in server.get_peer_ids():
			server.get_peer(id).send(state)


func _apply_buffers() -> void:
	if ours:
		server.inbound_buffer_size = buffers
		server.outbound_buffer_size = buffers


## The answer to a control text, or "" when `pkt` is not one.
func _control(pkt: PackedByteArray) -> String:
	var line := pkt.get_string_from_utf8()
	if not line.begins_with("__bench__ "):
		return ""
	var words := line.trim_prefix("__bench__ ").split(" ", false)
	var answer := "ok"
	match words[0] if words.size() > 0 else "":
		"fps":
			Engine.max_fps = int(words[1])
		"buffers":
			buffers = int(words[1])
			_apply_buffers()
		"begin":
			arm = true
		"broadcast":
			state.resize(int(words[1]))
			state.fill(98)
			broadcasts = 0
			broadcast_every_us = int(1e6 / float(words[2]))
			next_broadcast_us = Time.get_ticks_usec()
		"end":
			answer = _sample_line()
			sampling = false
			broadcast_every_us = 0
		"peers":
			answer = "peers=%d" % _peer_count()
		"quit":
			_quit.call_deferred()
		_:
			answer = "unknown"
	return "__bench__ " + answer


func _sample_line() -> String:
	var sorted := costs.duplicate()
	sorted.sort()
	var over := 0
	for c in costs:
		if c > BUDGET_US:
			over += 1
	var rank := func(q: float) -> int:
		return 0 if sorted.is_empty() else sorted[clampi(ceili(q * sorted.size()) - 1, 0, sorted.size() - 1)]
	var seconds := (Time.get_ticks_usec() - sample_start_us) / 1e6
	return "frames=%d seconds=%.3f p50_us=%d p99_us=%d max_us=%d over=%d broadcasts=%d peers=%d" % [
		costs.size(), seconds, rank.call(0.5), rank.call(0.99), rank.call(1.0), over, broadcasts, _peer_count()]


func _peer_count() -> int:
	return server.get_peer_ids().size() if ours else peers.size()


func _quit() -> void:
	if ours:
		server.stop()
	else:
		tcp.stop()
		for id: int in peers:
			peers[id].close()
	get_tree().quit(0)
