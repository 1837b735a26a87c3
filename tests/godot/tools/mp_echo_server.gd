extends Node
## Multiplayer server for external test drivers: a `RustWebSocketMultiplayerPeer` server under
## the tree's `SceneMultiplayer` (the engine's `WebSocketMultiplayerPeer` protocol: the id as
## the first message, 4 bytes little-endian, then one SceneMultiplayer packet per message).
## Every RAW packet (`send_bytes`, command byte 3) a client sends is answered with a RAW packet
## to that client: `echo <sender id> <text>`.
##
## Arguments after `--`: `--port=N` (0 = any; the chosen port is printed as `LISTENING <port>`),
## `--protocols=a,b` (the peer's `supported_protocols`).
##
## What it prints, for the drivers to check:
## - `MP JOIN <id> (<n> connected)` on `multiplayer.peer_connected`,
## - `MP RAW <id> "<text>"` for each RAW packet, the bytes read as UTF-8,
## - `MP LEAVE <id> (<n> connected)` on `multiplayer.peer_disconnected`.
##
## Control packets (RAW, from any client; never printed as `MP RAW`):
## - `__mark__ LABEL`: prints `MARK LABEL`, then sends the packet back, so that once the sender
##   has the answer everything logged before is ahead of the mark (as `echo_server.gd`).
## - `__quit__`: prints `QUIT`, closes the peer (close frames 1001 to every client) and quits.

const Args := preload("res://tools/args.gd")

var peer := RustWebSocketMultiplayerPeer.new()
var mp: SceneMultiplayer


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	if args.has("protocols"):
		peer.supported_protocols = PackedStringArray(args["protocols"].split(","))
	var err := peer.create_server(int(args.get("port", "0")), "127.0.0.1")
	if err != OK:
		printerr("mp_echo_server: create_server failed: ", error_string(err))
		get_tree().quit(1)
		return
	mp = get_tree().get_multiplayer() as SceneMultiplayer
	mp.multiplayer_peer = peer
	mp.peer_connected.connect(func(id): print("MP JOIN %d (%d connected)" % [id, mp.get_peers().size()]))
	mp.peer_disconnected.connect(func(id): print("MP LEAVE %d (%d connected)" % [id, mp.get_peers().size()]))
	mp.peer_packet.connect(_on_packet)
	print("LISTENING ", peer.get_local_port())
	print("PID ", OS.get_process_id())


func _on_packet(id: int, bytes: PackedByteArray) -> void:
	var text := bytes.get_string_from_utf8()
	if text == "__quit__":
		print("QUIT")
		# Not from inside SceneMultiplayer's packet loop: after this frame's poll.
		_quit.call_deferred()
		return
	if text.begins_with("__mark__ "):
		print("MARK ", text.trim_prefix("__mark__ "))
		mp.send_bytes(bytes, id)
		return
	print("MP RAW %d \"%s\"" % [id, text])
	var err := mp.send_bytes(("echo %d %s" % [id, text]).to_utf8_buffer(), id)
	if err != OK:
		printerr("mp_echo_server: send_bytes to %d failed: %s" % [id, error_string(err)])


func _quit() -> void:
	mp.multiplayer_peer = null
	peer.close()
	get_tree().quit(0)
