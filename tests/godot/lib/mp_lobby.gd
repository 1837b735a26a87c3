extends Node
## One participant of a multiplayer test session: the node that carries the RPCs, in the spirit
## of godot-demo-projects' networking/websocket_multiplayer (players set their names by RPC, the
## server acknowledges each name to everyone). Each participant lives in its own branch of the
## tree with its own SceneMultiplayer (`get_tree().set_multiplayer(api, branch_path)`), so one
## headless process hosts a server and several clients. It records every signal it sees.
## The static functions below build and tear down those branches for a suite.
##
## Not a class_name on purpose: load it with preload("res://lib/mp_lobby.gd").

## "engine" or "ours": which class the peer is.
var kind := ""
## This participant's SceneMultiplayer and MultiplayerPeer (set by the suite).
var api: SceneMultiplayer
var peer: MultiplayerPeer
## The name this participant announces once connected ("" announces nothing).
var player_name := ""

## Every signal, in order: [signal, args...] of the SceneMultiplayer ("api.*") and of the
## MultiplayerPeer ("peer.*").
var events: Array = []
## id -> name, as acknowledged by the server (update_player_name).
var names := {}
## [sender, text] for every note() received.
var notes: Array = []
## [sender, size, matches] for every blob() received; `matches` compares with expected_blob.
var blobs: Array = []
var expected_blob := PackedByteArray()
## [sender, bytes] for every raw packet (SceneMultiplayer.send_bytes) received.
var raw: Array = []
## Authentication: the token this client sends, the one the server expects, and what each
## side received.
var auth_token := PackedByteArray()
var auth_expected := PackedByteArray()
var auth_seen: Array = []
## Replies to ping(): nonce values received back by pong().
var pongs: Array = []


# --- Sessions: building and tearing down the branches of a suite -------------------------------

## A free TCP port on 127.0.0.1. WebSocketMultiplayerPeer cannot report the port it bound, so
## port 0 cannot be used directly.
static func free_port() -> int:
	var probe := TCPServer.new()
	probe.listen(0, "127.0.0.1")
	var port := probe.get_local_port()
	probe.stop()
	return port


## A branch of `suite` (a child node named `branch_name`) with its own SceneMultiplayer and a
## Lobby node of `kind` for `peer`; the SceneMultiplayer is polled with the suite's pollables,
## the Lobby appended to `branches` (for end_session). `api_setup(api, lobby)` runs before the
## peer is assigned (for auth_callback and the like).
static func branch(suite: TestSuite, branches: Array, branch_name: String, kind: String, peer: MultiplayerPeer, api_setup := Callable()) -> Node:
	var holder := Node.new()
	holder.name = branch_name
	suite.add_child(holder)
	var lobby := new()
	lobby.name = "Lobby"
	lobby.kind = kind
	holder.add_child(lobby)
	var api := SceneMultiplayer.new()
	suite.get_tree().set_multiplayer(api, holder.get_path())
	lobby.attach(api, peer)
	if api_setup.is_valid():
		api_setup.call(api, lobby)
	if peer.get_connection_status() != MultiplayerPeer.CONNECTION_DISCONNECTED:
		api.multiplayer_peer = peer
	suite.pollables.append(api)
	branches.append(lobby)
	return lobby


## The server's branch, "Server", for `peer` serving on `port` (kept as the meta "port"); its
## player is "host", id 1, in its own roster.
static func host(suite: TestSuite, branches: Array, kind: String, peer: MultiplayerPeer, port: int, api_setup := Callable()) -> Node:
	var server = branch(suite, branches, "Server", kind, peer, api_setup)
	server.set_meta("port", port)
	server.player_name = "host"
	server.names[1] = "host"
	return server


## Tears down every branch of `branches` (made by branch()) and empties the list.
static func end_session(suite: TestSuite, branches: Array) -> void:
	for lobby in branches:
		if not is_instance_valid(lobby):
			continue
		var holder: Node = lobby.get_parent()
		var api: SceneMultiplayer = lobby.api
		suite.pollables.erase(api)
		api.multiplayer_peer = null
		lobby.peer.close()
		api.auth_callback = Callable()
		suite.get_tree().set_multiplayer(null, holder.get_path())
		holder.free()
	branches.clear()


## Connects every signal of `api` and `peer` to this node's recorders. The connections are to
## methods of this node, never to lambdas holding `api` or `peer` (that would be a reference
## cycle, reported as a leak at exit).
func attach(p_api: SceneMultiplayer, p_peer: MultiplayerPeer) -> void:
	api = p_api
	peer = p_peer
	api.peer_connected.connect(_on_api_peer_connected)
	api.peer_disconnected.connect(_on_api.bind("api.peer_disconnected"))
	api.connected_to_server.connect(_on_api_connected_to_server)
	api.connection_failed.connect(_on_api.bind(-1, "api.connection_failed"))
	api.server_disconnected.connect(_on_api.bind(-1, "api.server_disconnected"))
	api.peer_authenticating.connect(_on_api_peer_authenticating)
	api.peer_authentication_failed.connect(_on_api.bind("api.peer_authentication_failed"))
	api.peer_packet.connect(_on_api_peer_packet)
	peer.peer_connected.connect(_on_api.bind("peer.peer_connected"))
	peer.peer_disconnected.connect(_on_api.bind("peer.peer_disconnected"))


func count(what: String, id := -1) -> int:
	var n := 0
	for e in events:
		if e[0] == what and (id == -1 or (e.size() > 1 and e[1] == id)):
			n += 1
	return n


func status() -> int:
	return peer.get_connection_status() if peer != null else MultiplayerPeer.CONNECTION_DISCONNECTED


## The peers this participant's SceneMultiplayer knows, sorted.
func peer_ids() -> Array:
	if api == null or api.multiplayer_peer == null:
		return []
	var ids := Array(api.get_peers())
	ids.sort()
	return ids


func _on_api(id: int, what: String) -> void:
	events.append([what] if id == -1 else [what, id])


func _on_api_peer_connected(id: int) -> void:
	events.append(["api.peer_connected", id])
	# As the demo's game.gd: the server tells a newcomer every name it already knows.
	if api.is_server():
		for pid in names:
			update_player_name.rpc_id(id, pid, names[pid])


func _on_api_connected_to_server() -> void:
	events.append(["api.connected_to_server"])
	if not player_name.is_empty():
		set_player_name.rpc_id(1, player_name)


func _on_api_peer_authenticating(id: int) -> void:
	events.append(["api.peer_authenticating", id])
	# A client opens the exchange with its token; the server answers in auth_callback.
	if not api.is_server() and not auth_token.is_empty():
		api.send_auth(id, auth_token)


func _on_api_peer_packet(id: int, packet: PackedByteArray) -> void:
	raw.append([id, packet])


## SceneMultiplayer.auth_callback of both sides.
func on_auth(id: int, data: PackedByteArray) -> void:
	auth_seen.append([id, data.get_string_from_utf8()])
	if api.is_server():
		if data == auth_expected:
			api.send_auth(id, "welcome".to_utf8_buffer())
			api.complete_auth(id)
		else:
			api.disconnect_peer(id)
	elif data == "welcome".to_utf8_buffer():
		api.complete_auth(id)


## Sent by a client to the server, which acknowledges the name to everyone (itself included).
@rpc("any_peer", "reliable")
func set_player_name(p_name: String) -> void:
	if not multiplayer.is_server():
		return
	update_player_name.rpc(multiplayer.get_remote_sender_id(), p_name)
	names[multiplayer.get_remote_sender_id()] = p_name


@rpc("authority", "reliable")
func update_player_name(id: int, p_name: String) -> void:
	names[id] = p_name


@rpc("any_peer", "reliable")
func note(text: String) -> void:
	notes.append([multiplayer.get_remote_sender_id(), text])


@rpc("any_peer", "reliable")
func blob(data: PackedByteArray) -> void:
	blobs.append([multiplayer.get_remote_sender_id(), data.size(), data == expected_blob])


@rpc("any_peer", "reliable")
func ping(nonce: int) -> void:
	pong.rpc_id(multiplayer.get_remote_sender_id(), nonce)


@rpc("any_peer", "reliable")
func pong(nonce: int) -> void:
	pongs.append(nonce)
