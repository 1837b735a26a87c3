extends Node
## One participant of the sample turn game, in the spirit of godot-demo-projects'
## networking/websocket_multiplayer: the same script runs on the server and in every client.
## Players join and set their names by RPC; the server acknowledges each name to everyone; once
## every player is named, the server asks each player in turn for a move by RPC, rolls a die for
## it, and broadcasts the result; after ROUNDS rounds it announces the winner.
##
## RPCs are matched by node path, so every participant's node has the same path below the root
## of its own multiplayer branch (see multiplayer_demo.gd). Nothing here names a class of the
## extension: this script runs unchanged in a Web export, whose peer comes from RustWebSocket.

const PLAYERS := 2
const ROUNDS := 2

## Printed in front of every line: "[server]", "[alice]"...
var label := ""
## The name a client announces once connected.
var player_name := ""
## Names acknowledged by the server, id -> name (the server's own list is the roster).
var names := {}
## Results received by a client ([player name, roll]); the announced outcome (server and
## clients).
var results: Array = []
var outcome := ""
## Client: the players seen leaving; whether the server refused the connection or went away.
var departed: Array[String] = []
var join_failed := false
var server_gone := false

## Server: turn order (ids), the turn being played, scores by id. A seeded generator keeps the
## printed rolls the same from run to run.
var _order: Array[int] = []
var _turn := -1
var _scores := {}
var _rng := RandomNumberGenerator.new()


func say(text: String) -> void:
	print("%s %s" % [label, text])


## Wires this participant to its branch's MultiplayerAPI. Called once the node is in the tree.
func attach() -> void:
	multiplayer.peer_connected.connect(_on_peer_connected)
	multiplayer.peer_disconnected.connect(_on_peer_disconnected)
	multiplayer.connected_to_server.connect(_on_connected_to_server)
	multiplayer.connection_failed.connect(_on_connection_failed)
	multiplayer.server_disconnected.connect(_on_server_disconnected)
	_rng.seed = 4


func _on_peer_connected(id: int) -> void:
	if not multiplayer.is_server():
		return
	var peer = multiplayer.multiplayer_peer
	say("player %d joined from %s" % [id, peer.get_peer_address(id)])
	# As the demo's game: the newcomer learns the names the server already acknowledged.
	for pid in names:
		update_player_name.rpc_id(id, pid, names[pid])


func _on_peer_disconnected(id: int) -> void:
	if multiplayer.is_server():
		say("player %d (%s) left" % [id, names.get(id, "unnamed")])
	elif id != 1:  # The server going away is reported by server_disconnected.
		var who: String = names.get(id, str(id))
		say("%s left the game" % who)
		departed.append(who)
	names.erase(id)


func _on_connected_to_server() -> void:
	say("connected as player %d; sending my name" % multiplayer.get_unique_id())
	set_player_name.rpc_id(1, player_name)


func _on_connection_failed() -> void:
	say("connection failed: the server turned the request away")
	join_failed = true
	leave()


func _on_server_disconnected() -> void:
	say("the server closed the game")
	server_gone = true
	leave()


## Leaves the session as the demo does: the peer is taken off the MultiplayerAPI, then closed.
func leave() -> void:
	var peer := multiplayer.multiplayer_peer
	multiplayer.multiplayer_peer = null
	if peer != null:
		peer.close()


## Client -> server: "call me this". The server acknowledges the name to everyone.
@rpc("any_peer", "reliable")
func set_player_name(p_name: String) -> void:
	if not multiplayer.is_server():
		return
	var sender := multiplayer.get_remote_sender_id()
	names[sender] = p_name
	say("player %d is %s" % [sender, p_name])
	update_player_name.rpc(sender, p_name)
	if names.size() == PLAYERS and _turn == -1:
		_start()


## Server -> clients: player `id` is called `p_name`.
@rpc("authority", "reliable")
func update_player_name(id: int, p_name: String) -> void:
	names[id] = p_name
	if id == multiplayer.get_unique_id():
		say("the server acknowledged my name: %s" % p_name)
	else:
		say("the server says player %d is %s" % [id, p_name])


func _start() -> void:
	for id in names:
		_order.append(id)
		_scores[id] = 0
	say("%d players named: %d rounds, highest total wins" % [_order.size(), ROUNDS])
	_next_turn()


func _next_turn() -> void:
	_turn += 1
	if _turn == _order.size() * ROUNDS:
		var ranked := _order.duplicate()
		ranked.sort_custom(func(a, b): return _scores[a] > _scores[b])
		var totals := ", ".join(PackedStringArray(ranked.map(func(id): return "%s %d" % [names[id], _scores[id]])))
		var result := ("%s wins (%s)" % [names[ranked[0]], totals]) if _scores[ranked[0]] > _scores[ranked[1]] else "a draw (%s)" % totals
		outcome = result
		say("game over: " + result)
		announce_result.rpc(result)
		return
	var id := _order[_turn % _order.size()]
	var round_number := floori(_turn / float(_order.size())) + 1
	say("round %d: %s's turn" % [round_number, names[id]])
	your_turn.rpc_id(id, round_number)


## Server -> the player whose turn it is.
@rpc("authority", "reliable")
func your_turn(round_number: int) -> void:
	say("my turn in round %d: roll" % round_number)
	request_move.rpc_id(1, "roll")


## Client -> server: the move of the player whose turn it is (anyone else is refused).
@rpc("any_peer", "reliable")
func request_move(action: String) -> void:
	if not multiplayer.is_server():
		return
	var sender := multiplayer.get_remote_sender_id()
	if _turn < 0 or _turn >= _order.size() * ROUNDS or sender != _order[_turn % _order.size()] or action != "roll":
		say("ignored %s from player %d: not their turn" % [action, sender])
		return
	var roll := _rng.randi_range(1, 6)
	_scores[sender] += roll
	say("%s rolls %d (total %d)" % [names[sender], roll, _scores[sender]])
	move_result.rpc(names[sender], roll)
	_next_turn()


## Server -> everyone: the outcome of a move.
@rpc("authority", "reliable")
func move_result(who: String, roll: int) -> void:
	results.append([who, roll])
	say("%s rolled %d" % [who, roll])


## Server -> everyone: the final result.
@rpc("authority", "reliable")
func announce_result(result: String) -> void:
	outcome = result
	say("game over: " + result)
