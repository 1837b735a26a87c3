extends TestSuite
## The three GDScript examples of the repository's README.md, run as written: the README is read
## at test time, so an example that stops compiling or working fails here. Two changes only, both
## textual: the port 9080 becomes a free one, and `print(` writes into a list the test reads.

const PORT_IN_README := "9080"


## The README's ```gdscript blocks, in order.
func _examples() -> Array[String]:
	var readme := ProjectSettings.globalize_path("res://").path_join("../../README.md").simplify_path()
	var text := FileAccess.get_file_as_string(readme)
	check(not text.is_empty(), "README.md read from " + readme)
	var blocks: Array[String] = []
	for m in RegEx.create_from_string("(?s)```gdscript\\n(.*?)```").search_all(text):
		blocks.append(m.get_string(1))
	return blocks


## A node running `source` with the port replaced and print() captured into its `printed` list.
func _node(source: String, port: int) -> Node:
	check(source.contains(PORT_IN_README), "the example uses port " + PORT_IN_README)
	var script := GDScript.new()
	script.source_code = source.replace(PORT_IN_README, str(port)).replace("print(", "_printed(") \
		+ "\nvar printed: Array = []\nfunc _printed(a = \"\", b = \"\", c = \"\") -> void:\n    printed.append(str(a, b, c))\n"
	if not check_eq(script.reload(), OK, "the example compiles:\n" + source):
		return null
	var node: Node = script.new()
	add_child(node)
	return node


## A port free on both families at the time of asking (the examples listen on "*" and dial
## "localhost", which may be ::1 or 127.0.0.1).
func _free_port() -> int:
	var probe := TCPServer.new()
	probe.listen(0, "*")
	var port := probe.get_local_port()
	probe.stop()
	return port


func _has(node: Node, line: String) -> bool:
	return node.printed.any(func(p): return p.begins_with(line))


func test_three_examples() -> void:
	check_eq(_examples().size(), 3, "gdscript examples in README.md")


func test_server_and_client_examples_talk() -> void:
	var blocks := _examples()
	if blocks.size() < 2:
		return
	var port := _free_port()
	var server := _node(blocks[0], port)
	var client := _node(blocks[1], port)
	if server == null or client == null:
		return
	await wait_until(func(): return _has(client, "got: hello"), "the client example prints the server example's echo")
	await wait_until(func(): return _has(server, "client "), "the server example prints its client joining")
	check(server.printed[0].ends_with(" joined"), "first server line: a client joined, got %s" % [server.printed])
	client.socket.close()
	await wait_until(func(): return _has(server, "client ") and server.printed.any(func(p): return p.contains(" left, clean: true")), "the server example prints a clean leave")
	check(client.printed.size() == 1, "one echo, got %s" % [client.printed])
	server.server.stop()


func test_multiplayer_example_calls_the_rpc() -> void:
	var blocks := _examples()
	if blocks.size() < 3:
		return
	var port := _free_port()
	# Host and client in one process: each under its own root with its own MultiplayerAPI, so
	# the RPC's node path ("Game", relative to the root) is the same on both sides.
	var games: Array[Node] = []
	var roots: Array[NodePath] = []
	for root_name in ["Host", "Join"]:
		var root := Node.new()
		root.name = root_name
		add_child(root)
		roots.append(root.get_path())
		get_tree().set_multiplayer(SceneMultiplayer.new(), root.get_path())
		var game := _node(blocks[2], port)
		if game == null:
			break
		game.reparent(root)
		game.name = "Game"
		games.append(game)
	if games.size() == 2:
		games[0].host()
		games[1].join("ws://localhost:%d" % port)
		await wait_until(func(): return games[1].printed.has("welcome"), "the joining peer runs hello(\"welcome\") called by the host")
		check_eq(games[0].printed, [], "the host prints nothing")
	for path in roots:
		var peer: MultiplayerPeer = get_tree().get_multiplayer(path).multiplayer_peer
		if peer != null:
			peer.close()
		get_tree().set_multiplayer(null, path)
