extends Node
## Runs the tutorial's server and both tutorial clients (the engine's WebSocketPeer and the
## RustWebSocketPeer twin) against each other on 127.0.0.1 and closes the clients; then the
## multiplayer sample (multiplayer/multiplayer_demo.tscn: RPCs, names, turns) and quits.
## Exit code 0 only when every expected exchange happened.

const ServerScene := preload("res://server/server.tscn")
const ClientScene := preload("res://client/client.tscn")
const RustClientScene := preload("res://client/client_rust.tscn")
const MultiplayerScene := preload("res://multiplayer/multiplayer_demo.tscn")
const TIMEOUT_MS := 20000

var _echoes := 0
var _disconnects := 0


func _ready() -> void:
	var server = ServerScene.instantiate()
	add_child(server)
	if not server._server.is_listening():
		get_tree().quit(1)
		return
	var url := "ws://127.0.0.1:%d" % server.PORT
	server._server.data_received.connect(func(_id): _echoes += 1)
	server._server.client_disconnected.connect(func(_id, _clean): _disconnects += 1)
	var clients := []
	for scene in [ClientScene, RustClientScene]:
		var client = scene.instantiate()
		client.websocket_url = url  # The tutorial points at a public echo server; we use ours.
		add_child(client)
		clients.append(client)
	var deadline := Time.get_ticks_msec() + TIMEOUT_MS
	# Each client sends "Test packet" after 2 s; wait for both echoes to arrive back.
	while _echoes < 2 or clients.any(func(c): return c.socket.get_ready_state() != 1):
		if Time.get_ticks_msec() > deadline:
			return _fail("no echo within %d ms" % TIMEOUT_MS)
		await get_tree().process_frame
	for i in 10:
		await get_tree().process_frame  # Let the clients print what they received.
	for c in clients:
		c.socket.close(1000, "demo done")
	while _disconnects < 2 or clients.any(func(c): return c.is_processing()):
		if Time.get_ticks_msec() > deadline:
			return _fail("clients did not close within %d ms" % TIMEOUT_MS)
		await get_tree().process_frame
	print("Demo finished: 2 clients exchanged messages with the server and closed cleanly.")
	# The multiplayer part, which bounds its own waits; this bound only guards against a hang.
	var mp = MultiplayerScene.instantiate()
	add_child(mp)
	deadline = Time.get_ticks_msec() + TIMEOUT_MS
	while not mp.done:
		if Time.get_ticks_msec() > deadline:
			return _fail("the multiplayer demo did not end within %d ms" % TIMEOUT_MS)
		await get_tree().process_frame
	get_tree().quit(0 if mp.ok else 1)


func _fail(why: String) -> void:
	printerr("Demo failed: " + why)
	get_tree().quit(1)
