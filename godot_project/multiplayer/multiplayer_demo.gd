extends Node
## The multiplayer part of the sample: the turn game of game.gd, hosted by our
## RustWebSocketMultiplayerPeer on 127.0.0.1 (port 0, then get_local_port()) and joined by
## - "alice", a client with the engine's WebSocketMultiplayerPeer (what every Web export uses),
## - "bob", a client made by the addon's RustWebSocket helper: our RustWebSocketMultiplayerPeer
##   here, the engine's class in a Web export, with the same script,
## - "mallory", whom the server's request_validator turns away before the upgrade (wrong path).
## The players name themselves, play ROUNDS rounds, alice leaves, then the server closes.
##
## One process hosts the server and every client: each participant is a branch of the tree with
## its own SceneMultiplayer (`get_tree().set_multiplayer(api, branch)`), as in the demo projects'
## combo scene, and the SceneTree polls each of them every frame. main.gd runs this after the
## tutorial; the scene also runs on its own. Every wait is bounded; `done`/`ok` report the end.

const Game := preload("res://multiplayer/game.gd")
const PROTOCOL := "ludus"
const LOBBY := "/lobby"
const TIMEOUT_MS := 15000

var done := false
var ok := false

var _deadline := 0
## [branch root, its SceneMultiplayer] of every participant, for the teardown.
var _branches: Array = []


func _ready() -> void:
	await get_tree().process_frame  # So that whoever added this node sees `done` change later.
	print("\n--- Multiplayer: our RustWebSocketMultiplayerPeer server, an engine client and one of ours")
	_deadline = Time.get_ticks_msec() + TIMEOUT_MS
	ok = await _play()
	_teardown()
	if ok:
		print("Multiplayer demo finished: 2 players joined, were named by RPC, played %d turns and left; 1 request was refused." % (Game.PLAYERS * Game.ROUNDS))
	done = true
	if get_parent() == get_tree().root:
		get_tree().quit(0 if ok else 1)


func _play() -> bool:
	# The server: ours, on a port the system picks, admitting only requests for LOBBY.
	var server_peer := RustWebSocketMultiplayerPeer.new()
	server_peer.supported_protocols = [PROTOCOL]
	server_peer.request_validator = _admit
	if server_peer.create_server(0, "127.0.0.1") != OK:
		return _fail("create_server failed")
	var base := "ws://127.0.0.1:%d" % server_peer.get_local_port()
	var server := _participant("Server", "[server]", server_peer)
	server.say("%s listening on %s, admitting requests for %s" % [server_peer.get_class(), base, LOBBY])

	var alice_peer := WebSocketMultiplayerPeer.new()
	var bob_peer := RustWebSocket.new_multiplayer_peer()
	var mallory_peer := RustWebSocket.new_multiplayer_peer()
	var alice := _client("Alice", "alice", alice_peer, base + LOBBY)
	var bob := _client("Bob", "bob", bob_peer, base + LOBBY)
	var mallory := _client("Mallory", "mallory", mallory_peer, base + "/spectate")
	if alice == null or bob == null or mallory == null:
		return false

	if not await _until(func(): return mallory.join_failed and alice.names.size() == 2 and bob.names.size() == 2, "both players named and acknowledged to all; mallory refused"):
		return false
	if not await _until(func(): return server.outcome != "" and alice.outcome == server.outcome and bob.outcome == server.outcome, "the game played to its end"):
		return false

	alice.say("leaving")
	alice.leave()
	if not await _until(func(): return server.names.size() == 1 and bob.departed.has("alice"), "alice's departure seen by the server and by bob"):
		return false

	server.say("closing the server")
	server.leave()
	if not await _until(func(): return bob.server_gone, "bob saw the server close"):
		return false
	return true


## A client branch named `branch` whose player is `player_name`, joining `url` with `peer`.
func _client(branch: String, player_name: String, peer: MultiplayerPeer, url: String) -> Game:
	peer.supported_protocols = [PROTOCOL]
	var err: int = peer.create_client(url)
	if err != OK:
		_fail("%s: create_client(%s) returned %s" % [player_name, url, error_string(err)])
		return null
	var game := _participant(branch, "[%s]" % player_name, peer)
	game.player_name = player_name
	game.say("%s joining %s" % [peer.get_class(), url])
	return game


## A branch `branch` of this node with its own SceneMultiplayer using `peer`, and the Game
## node, at the same path below the branch in every participant (RPCs find it by path).
func _participant(branch: String, label: String, peer: MultiplayerPeer) -> Game:
	var root := Node.new()
	root.name = branch
	add_child(root)
	var api := SceneMultiplayer.new()
	get_tree().set_multiplayer(api, root.get_path())
	var game: Game = Game.new()
	game.name = "Game"
	game.label = label
	root.add_child(game)
	game.attach()
	api.multiplayer_peer = peer
	_branches.append([root, api])
	return game


## The server's request_validator: asked about every upgrade request before it is answered.
## true admits the client; an HTTP status (400-599) refuses it with that status.
func _admit(_id: int, peer) -> Variant:
	var url: String = peer.get_requested_url()
	var path := url.substr(url.find("/", url.find("://") + 3))
	if path == LOBBY:
		print("[server] request for %s: admitted" % path)
		return true
	print("[server] request for %s: refused with HTTP 404" % path)
	return 404


## Waits, frame by frame, until `cond` holds; false (and a message) past the deadline.
func _until(cond: Callable, what: String) -> bool:
	while not cond.call():
		if Time.get_ticks_msec() > _deadline:
			return _fail("timed out waiting for: " + what)
		await get_tree().process_frame
	return true


func _fail(why: String) -> bool:
	printerr("Multiplayer demo failed: " + why)
	return false


func _teardown() -> void:
	for b in _branches:
		var root: Node = b[0]
		var api: SceneMultiplayer = b[1]
		var peer := api.multiplayer_peer
		api.multiplayer_peer = null
		if peer != null:
			peer.close()
		get_tree().set_multiplayer(null, root.get_path())
		root.free()
	_branches.clear()
