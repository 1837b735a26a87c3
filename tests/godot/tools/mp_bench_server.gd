extends Node
## Multiplayer benchmark server for `cargo xtask bench` (bench/src/mp/): the tree's
## `SceneMultiplayer` over `--peer=ours` (`RustWebSocketMultiplayerPeer`) or `--peer=engine`
## (the engine's `WebSocketMultiplayerPeer`) as server, at 60 fps as a game runs. The tree's own
## multiplayer polling is turned off and `_process` calls `multiplayer.poll()` itself, timed with
## `Time.get_ticks_usec()`: that is the main-thread networking cost of a frame, the peer's I/O
## plus `SceneMultiplayer` plus the RPC handlers it calls.
##
## The game: `ping(bytes)` is an `any_peer` RPC that every client calls; the server answers the
## caller with the `pong(bytes)` RPC, same bytes. `server_relay` is off: with it on,
## `SceneMultiplayer` announces every joining peer to every other one (ADD_PEER), i.e. ~500,000
## packets for 1,000 clients, which is not what this measures.
##
## Arguments after `--`: `--peer=ours|engine`, `--port=N` (0 = any), `--quit-after=S` (a
## watchdog, default 300). Prints `LISTENING <port>`, `PID <pid>`, `RPC <md5> <ping id> <path>`
## (what a client needs to call `ping` with a cached node path, see bench/src/mp/mod.rs), and every 2 s a
## `FIGURES` line (peers, frames, poll µs p50/p99/max, RPCs handled).
##
## Control packets from a client (RAW, `multiplayer.send_bytes`, byte 0 = 3 on the wire):
## - `begin NAME`: starts a fresh sample of frame costs; answered `begun NAME`. When NAME ends
##   in `-peer`, the sample is the cost of the peer's own `poll()` alone, called just before
##   `multiplayer.poll()` (which then polls it once more, unmeasured): the peer's share of an
##   idle frame, without `SceneMultiplayer`'s own per-peer work;
## - `end NAME`: prints and answers `PHASE NAME frames=… seconds=… fps=… poll_p50_us=…
##   poll_p99_us=… poll_max_us=… rpcs=… peers=…` over the frames since `begin NAME`;
## - `quit`: leaves the session (`multiplayer_peer = null`, `close()`) and quits.

const Args := preload("res://tools/args.gd")

var peer: MultiplayerPeer
var mp: SceneMultiplayer
var quit_at_ms := 0
var rpcs := 0

## The current phase. It counts whole frames: from the one after the frame whose poll read
## `begin` (that one was measured the old way) to the one before the frame that reads `end`.
var phase := ""
var peer_only := false
var phase_armed := false
var counting := false
var phase_costs := PackedInt32Array()
## The RPC count and the time when the phase's first frame started.
var phase_rpcs := 0
var phase_start_us := 0
## The RPC count and the time when the current frame started.
var frame_rpcs := 0
var frame_start_us := 0

## The periodic FIGURES line's window.
var window_costs := PackedInt32Array()
var window_rpcs := 0
var next_figures_ms := 0


func _ready() -> void:
	# 60 frames per second, as a game; no extra sleep of the low-processor mode on top of it.
	OS.low_processor_usage_mode_sleep_usec = 0
	Engine.max_fps = 60
	var args := Args.parse()
	quit_at_ms = Time.get_ticks_msec() + int(float(args.get("quit-after", "300")) * 1000.0)
	var kind: String = args.get("peer", "ours")
	var port := int(args.get("port", "0"))
	if kind == "engine":
		# The engine's class cannot report the port it bound: probe a free one first.
		if port == 0:
			var probe := TCPServer.new()
			probe.listen(0, "127.0.0.1")
			port = probe.get_local_port()
			probe.stop()
		peer = WebSocketMultiplayerPeer.new()
	elif kind == "ours":
		peer = ClassDB.instantiate("RustWebSocketMultiplayerPeer")
	else:
		printerr("mp_bench_server: --peer must be ours or engine")
		get_tree().quit(2)
		return
	var err: Error = peer.call("create_server", port, "127.0.0.1")
	if err != OK:
		printerr("mp_bench_server: create_server failed: ", error_string(err))
		get_tree().quit(1)
		return
	if kind == "ours":
		port = peer.call("get_local_port")
	get_tree().multiplayer_poll = false
	mp = get_tree().get_multiplayer() as SceneMultiplayer
	mp.server_relay = false
	mp.multiplayer_peer = peer
	mp.peer_packet.connect(_on_control)
	# What a client needs to call `ping` with a cached path (SIMPLIFY_PATH, then REMOTE_CALL):
	# the RPC methods' ids are their indices in name order, and the checksum is the MD5 of the
	# names concatenated in that order (SceneRPCInterface::_parse_rpc_config, get_rpc_md5).
	# Strings, not StringNames: those sort by address.
	var names: Array = (get_script() as Script).get_rpc_config().keys().map(func(n): return str(n))
	names.sort()
	print("LISTENING ", port)
	print("PID ", OS.get_process_id())
	print("RPC %s %d %s" % ["".join(PackedStringArray(names)).md5_text(), names.find("ping"), get_tree().root.get_path_to(self)])
	next_figures_ms = Time.get_ticks_msec() + 2000


@rpc("any_peer")
func ping(data: PackedByteArray) -> void:
	rpcs += 1
	pong.rpc_id(mp.get_remote_sender_id(), data)


@rpc
func pong(_data: PackedByteArray) -> void:
	pass


func _process(_delta: float) -> void:
	var t0 := Time.get_ticks_usec()
	frame_start_us = t0
	frame_rpcs = rpcs
	if phase_armed:
		phase_armed = false
		counting = true
		phase_costs.clear()
		phase_start_us = t0
		phase_rpcs = rpcs
	var counted := counting
	var cost := 0
	if peer_only:
		peer.poll()
		cost = Time.get_ticks_usec() - t0
		mp.poll()
	else:
		mp.poll()
		cost = Time.get_ticks_usec() - t0
	window_costs.append(cost)
	# Unless this frame's poll read `end`.
	if counted and counting:
		phase_costs.append(cost)
	var now := Time.get_ticks_msec()
	if now >= next_figures_ms:
		next_figures_ms = now + 2000
		var s := _stats(window_costs)
		print("FIGURES peers=%d frames=%d poll_p50_us=%d poll_p99_us=%d poll_max_us=%d rpcs=%d" % [
			mp.get_peers().size(), window_costs.size(), s[0], s[1], s[2], rpcs - window_rpcs])
		window_costs.clear()
		window_rpcs = rpcs
	if now > quit_at_ms:
		printerr("mp_bench_server: --quit-after reached")
		_quit()


## [p50, p99, max] of a sample (nearest rank).
func _stats(costs: PackedInt32Array) -> Array:
	if costs.is_empty():
		return [0, 0, 0]
	var sorted := costs.duplicate()
	sorted.sort()
	var rank := func(q: float) -> int: return sorted[clampi(ceili(q * sorted.size()) - 1, 0, sorted.size() - 1)]
	return [rank.call(0.5), rank.call(0.99), sorted[sorted.size() - 1]]


func _on_control(id: int, bytes: PackedByteArray) -> void:
	var words := bytes.get_string_from_utf8().split(" ", false, 1)
	if words.is_empty():
		return
	var label := words[1] if words.size() > 1 else ""
	match words[0]:
		"begin":
			phase = label
			peer_only = label.ends_with("-peer")
			phase_armed = true
			counting = false
			phase_costs.clear()
			phase_start_us = Time.get_ticks_usec()
			phase_rpcs = rpcs
			mp.send_bytes(("begun " + label).to_utf8_buffer(), id)
		"end":
			var seconds := maxf(0.0, frame_start_us - phase_start_us) / 1e6
			var s := _stats(phase_costs)
			var line := "PHASE %s frames=%d seconds=%.3f fps=%.1f poll_p50_us=%d poll_p99_us=%d poll_max_us=%d rpcs=%d peers=%d" % [
				label, phase_costs.size(), seconds, phase_costs.size() / maxf(seconds, 1e-6), s[0], s[1], s[2],
				maxi(0, frame_rpcs - phase_rpcs), mp.get_peers().size()]
			print(line)
			phase = ""
			peer_only = false
			phase_armed = false
			counting = false
			mp.send_bytes(line.to_utf8_buffer(), id)
		"quit":
			# Not from inside SceneMultiplayer's packet loop: after this frame's poll.
			_quit.call_deferred()


func _quit() -> void:
	if mp.multiplayer_peer != null:
		mp.multiplayer_peer = null
		peer.close()
	get_tree().quit(0)
