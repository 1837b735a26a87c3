extends "res://lib/compression_suite.gd"
## permessage-deflate (RFC 7692) between peers: compression_enabled / compression_threshold on
## RustWebSocketPeer, WebSocketServer and RustWebSocketMultiplayerPeer, and
## RustWebSocketPeer.get_negotiated_extensions(). What goes on the wire, and the 1009 cap, are in
## test_compression_wire.gd; the helpers both use are in lib/compression_suite.gd.
##
## What it covers:
## - ours with ours, both compressing: "permessage-deflate" agreed on both sides; text and binary
##   messages of many sizes (0 bytes, below/at/above the threshold, 2 KiB of JSON, 1 MiB) and 250
##   messages in a row (context takeover) echo byte-exact, with their type, in order;
## - peers that do not compress: the engine's WebSocketPeer client (never offers), the engine's
##   TCPServer + WebSocketPeer.accept_stream server (never accepts), ours with compression off on
##   either side: nothing agreed ("" on both sides), messages still flow;
## - high-level multiplayer: SceneMultiplayer RPCs between our compressing server and clients
##   (agreed on both sides), the engine's WebSocketMultiplayerPeer client with our compressing
##   server, our compressing client with the engine's server (nothing agreed);
## - defaults (false, 128), compression_threshold = -1 refused with an error on all three
##   classes, a huge threshold compresses nothing (seen on the wire), compression_enabled changed
##   on a listening server applies to the clients accepted afterwards (and the multiplayer server
##   likewise).
## Every wait is "until X is observed", bounded; loopback only.

const Lobby := preload("res://lib/mp_lobby.gd")
const ErrorCapture := preload("res://lib/error_capture.gd")
const OURS_MP := "RustWebSocketMultiplayerPeer"
const CONNECTED := MultiplayerPeer.CONNECTION_CONNECTED

## Lobby nodes of the current multiplayer session.
var _branches: Array = []
## A Logger (Godot 4.5+) that keeps the errors pushed, for the refusal checks.
var _logger: Object = null


func cleanup() -> void:
	_end_session()
	ErrorCapture.remove(_logger)
	_logger = null
	super.cleanup()


# --- Errors pushed -----------------------------------------------------------------------------

func _start_logger() -> bool:
	if _logger == null:
		_logger = ErrorCapture.install()
	return _logger != null


func _errors_pushed() -> Array[String]:
	if _logger == null:
		return []
	return _logger.take()


# --- Multiplayer sessions (the branches of lib/mp_lobby.gd, as test_multiplayer.gd) -------------

## A multiplayer peer of `kind` ("ours" compressing if `compress`, or the engine's);
## `setup(peer)` runs on it.
func _make_mp(kind: String, compress: bool, setup: Callable) -> MultiplayerPeer:
	var p: MultiplayerPeer
	if kind == "ours":
		p = ClassDB.instantiate(OURS_MP)
		p.set("compression_enabled", compress)
	else:
		p = WebSocketMultiplayerPeer.new()
	if setup.is_valid():
		setup.call(p)
	return p


func _mp_server(kind: String, compress: bool, setup := Callable()) -> Lobby:
	var peer := _make_mp(kind, compress, setup)
	var port := Lobby.free_port()
	check_eq(peer.create_server(port, "127.0.0.1"), OK, "create_server (%s)" % kind)
	return Lobby.host(self, _branches, kind, peer, port)


func _mp_client(branch_name: String, kind: String, compress: bool, server: Lobby, player_name: String, setup := Callable()) -> Lobby:
	var peer := _make_mp(kind, compress, setup)
	check_eq(peer.create_client("ws://127.0.0.1:%d" % server.get_meta("port")), OK, "create_client (%s)" % kind)
	var client: Lobby = Lobby.branch(self, _branches, branch_name, kind, peer)
	client.player_name = player_name
	return client


func _mp_id(c: Lobby) -> int:
	return c.peer.get_unique_id()


func _mp_connected(c: Lobby) -> bool:
	return c.status() == CONNECTED and c.count("api.connected_to_server") == 1


func _end_session() -> void:
	Lobby.end_session(self, _branches)


## One multiplayer session: `line_up` is [server kind, client kinds...], `compress` whether our
## peers compress. Checks the agreed extensions on both ends of every client connection
## (`expected` for each client), names registered by RPC and acknowledged to all, a 100 KiB RPC
## argument each way and client to client (relayed), then tears the session down.
func _mp_session(line_up: Array, compress: bool, expected: Array) -> void:
	var ctx := "[server %s, clients %s] " % [line_up[0], "+".join(PackedStringArray(line_up.slice(1)))]
	var big := func(p):
		p.inbound_buffer_size = 1 << 20
		p.outbound_buffer_size = 1 << 20
	var server := _mp_server(line_up[0], compress, big)
	var clients := []
	var player_names := ["alice", "bob", "carol"]
	for i in range(1, line_up.size()):
		clients.append(_mp_client("Client%d" % i, line_up[i], compress, server, player_names[i - 1], big))
	var everyone := func() -> bool:
		for c in clients:
			if not _mp_connected(c) or c.peer_ids().size() != clients.size():
				return false
		return server.peer_ids().size() == clients.size()
	if not await wait_until(everyone, ctx + "every client connected and announced to the others"):
		_end_session()
		return
	var roster := {1: "host"}
	for i in clients.size():
		roster[_mp_id(clients[i])] = player_names[i]
	if await wait_until(func(): return server.names == roster and clients.all(func(c): return c.names == roster), ctx + "every roster complete"):
		check_eq(server.names, roster, ctx + "the server's roster")
	# The agreed extensions, on both ends of each connection.
	for i in clients.size():
		var c: Lobby = clients[i]
		var id := _mp_id(c)
		var on_server: Object = server.peer.get_peer(id)
		if check(on_server != null, ctx + "server get_peer(%d)" % id) and line_up[0] == "ours":
			check_eq(on_server.get_negotiated_extensions(), expected[i], ctx + "client %d (%s): extensions on the server's side" % [i + 1, c.kind])
		if c.kind == "ours":
			var to_server: Object = c.peer.get_peer(1)
			if check(to_server != null, ctx + "client get_peer(1)"):
				check_eq(to_server.get_negotiated_extensions(), expected[i], ctx + "client %d (ours): extensions on the client's side" % (i + 1))
	# RPCs with a compressible 100 KiB argument, each way and relayed between clients.
	var blob := _compressible_text(100 * 1024).to_utf8_buffer()
	server.expected_blob = blob
	for c in clients:
		c.expected_blob = blob
	var a: Lobby = clients[0]
	server.blob.rpc_id(_mp_id(a), blob)
	a.blob.rpc_id(1, blob)
	var want_a := 1
	if clients.size() > 1:
		var b: Lobby = clients[1]
		b.blob.rpc_id(_mp_id(a), blob)
		a.note.rpc_id(_mp_id(b), "hello from A")
		want_a = 2
		if await wait_until(func(): return b.notes.size() == 1, ctx + "A's note relayed to B"):
			check_eq(b.notes, [[_mp_id(a), "hello from A"]], ctx + "B got A's note, sender A")
	if await wait_until(func(): return a.blobs.size() == want_a and server.blobs.size() == 1, ctx + "every 100 KiB RPC delivered", 10.0):
		check_eq(server.blobs, [[_mp_id(a), blob.size(), true]], ctx + "the server got A's payload intact")
		check(a.blobs.all(func(e): return e[1] == blob.size() and e[2]), ctx + "A got every payload intact: %s" % str(a.blobs))
	# A ping round trip to every client: everything before it was processed.
	var nonces := []
	for c in clients:
		var nonce := randi()
		nonces.append(nonce)
		server.ping.rpc_id(_mp_id(c), nonce)
	await wait_until(func(): return nonces.all(func(n): return server.pongs.has(n)), ctx + "every client answered a ping")
	_end_session()


# --- The tests ---------------------------------------------------------------------------------

## Case 1: our server and our client, both compressing. permessage-deflate is agreed on both
## sides; messages of every size and both types echo byte-exact, in order.
func test_ours_with_ours_agree_and_echo_every_size() -> void:
	var log := []
	var server := _server(func(s):
		s.compression_enabled = true
		s.inbound_buffer_size = 2 << 20
		s.outbound_buffer_size = 4 << 20)
	record(server, log)
	var c := _client(_url(server), true, func(c):
		c.inbound_buffer_size = 2 << 20
		c.outbound_buffer_size = 4 << 20)
	if not await wait_until(func(): return c.get_ready_state() == OPEN and count(log, "connected") == 1, "open"):
		return
	check_eq(c.get_negotiated_extensions(), PMD, "client: negotiated extensions")
	check_eq(_server_peer(server, log).get_negotiated_extensions(), PMD, "server get_peer(id): negotiated extensions")
	check_eq(c.compression_threshold, 128, "threshold default")
	await _echo_all(c, _size_sweep(128), "size sweep")
	# 1 MiB: compressible text, and binary that deflate cannot shrink (stored blocks).
	var mib := 1 << 20
	var random := Crypto.new().generate_random_bytes(mib)
	var big := [_text(_compressible_text(mib, 7)), _binary(random), _text(random.slice(0, mib >> 1).hex_encode()), _binary(_pattern_bytes(mib, 3))]
	await _echo_all(c, big, "1 MiB messages", 20.0)
	check_eq(c.get_ready_state(), OPEN, "still open after everything")


## Case 1 (continued): 250 messages in a row, mostly over the threshold, with context takeover
## (each message compressed against the ones before): all echo in order, byte-exact.
func test_ours_with_ours_many_messages_in_order() -> void:
	var server := _server(func(s): s.compression_enabled = true)
	var c := _client(_url(server), true)
	if not await wait_until(func(): return c.get_ready_state() == OPEN, "open"):
		return
	check_eq(c.get_negotiated_extensions(), PMD, "client: negotiated extensions")
	var msgs := []
	for i in 250:
		var n: int = [40, 127, 128, 300, 700, 1500][i % 6]
		var body := '{"seq":%d,"payload":"%s"}' % [i, _compressible_text(n, i)]
		msgs.append(_text(body) if i % 2 == 0 else _binary(body.to_utf8_buffer()))
	await _echo_all(c, msgs, "250 messages")
	# A second batch on the same contexts.
	var again := []
	for i in 60:
		again.append(_text("again %d %s" % [i, _compressible_text(200 + i * 13, i)]))
	await _echo_all(c, again, "60 more messages")


## Case 2: the engine's WebSocketPeer client (it never offers permessage-deflate) against our
## compressing server: nothing agreed, messages of every size flow both ways.
func test_engine_client_with_compressing_server() -> void:
	var log := []
	var server := _server(func(s): s.compression_enabled = true)
	record(server, log)
	var c := WebSocketPeer.new()
	check_eq(c.connect_to_url(_url(server)), OK, "connect_to_url")
	pollables.append(c)
	if not await wait_until(func(): return c.get_ready_state() == WebSocketPeer.STATE_OPEN and count(log, "connected") == 1, "engine client open"):
		return
	check_eq(_server_peer(server, log).get_negotiated_extensions(), "", "server side: nothing agreed with the engine's client")
	var msgs := _size_sweep(128)
	await _echo_all(c, msgs, "engine client")


## Case 3: our compressing client against the engine's way of serving (TCPServer +
## WebSocketPeer.accept_stream), which ignores the offer: nothing agreed, messages flow.
func test_compressing_client_with_engine_server() -> void:
	var engine := EngineEchoServer.new()
	var port := engine.listen()
	pollables.append(engine)
	var c := _client(engine.url(), true)
	if not await wait_until(func(): return c.get_ready_state() == OPEN and engine.peer.get_ready_state() == WebSocketPeer.STATE_OPEN, "open against the engine's server"):
		return
	check(port > 0, "engine server listening")
	check_eq(c.get_negotiated_extensions(), "", "client side: nothing agreed with the engine's server")
	await _echo_all(c, _size_sweep(128), "against the engine's server")


## Case 4: compression on only one side: nothing agreed on either side, messages flow.
func test_one_side_off_agrees_nothing() -> void:
	for sides in [[false, true], [true, false]]:
		var what := "client %s, server %s" % ["on" if sides[0] else "off", "on" if sides[1] else "off"]
		var log := []
		var server := _server(func(s): s.compression_enabled = sides[1])
		record(server, log)
		var c := _client(_url(server), sides[0])
		if not await wait_until(func(): return c.get_ready_state() == OPEN and count(log, "connected") == 1, what + ": open"):
			continue
		check_eq(c.get_negotiated_extensions(), "", what + ": client side agreed nothing")
		check_eq(_server_peer(server, log).get_negotiated_extensions(), "", what + ": server side agreed nothing")
		await _echo_all(c, _size_sweep(128), what)
		c.close(1000, "done")
		if await wait_until(func(): return c.get_ready_state() == CLOSED, what + ": closed"):
			check_eq(c.get_close_code(), 1000, what + ": clean close")


## Case 5: high-level multiplayer. Our server and our clients, all compressing: agreed on both
## ends, RPCs (names, 100 KiB arguments, relayed notes) work. The engine's
## WebSocketMultiplayerPeer client with our compressing server, and our compressing client with
## the engine's server: nothing agreed, RPCs work.
func test_multiplayer_sessions_with_compression() -> void:
	if not ClassDB.class_exists(OURS_MP):
		check(false, OURS_MP + " is not registered")
		return
	await _mp_session(["ours", "ours", "ours"], true, [PMD, PMD])
	await _mp_session(["ours", "engine", "ours"], true, ["", PMD])
	await _mp_session(["engine", "ours"], true, [""])
	# Our server compressing, our client not: nothing agreed.
	var server := _mp_server("ours", true)
	var client := _mp_client("Plain", "ours", false, server, "plain")
	if await wait_until(func(): return _mp_connected(client) and server.names.size() == 2, "[ours, plain client] connected and named"):
		check_eq(client.peer.get_peer(1).get_negotiated_extensions(), "", "[ours, plain client] client side agreed nothing")
		check_eq(server.peer.get_peer(_mp_id(client)).get_negotiated_extensions(), "", "[ours, plain client] server side agreed nothing")
	_end_session()


## Case 7: defaults (false, 128) on all three classes and on a fresh peer's agreed extensions;
## compression_threshold = -1 refused with an error, the value kept; 0 and large values taken.
func test_defaults_and_refused_threshold() -> void:
	var logging := _start_logger()
	check(logging, "a Logger can be installed (Godot 4.5+) to see pushed errors")
	for cls in ["RustWebSocketPeer", "WebSocketServer", OURS_MP]:
		var obj: Object = ClassDB.instantiate(cls)
		check_eq(obj.get("compression_enabled"), false, cls + ".compression_enabled default")
		check_eq(obj.get("compression_threshold"), 128, cls + ".compression_threshold default")
		obj.set("compression_enabled", true)
		check_eq(obj.get("compression_enabled"), true, cls + ".compression_enabled = true")
		obj.set("compression_threshold", 500)
		_errors_pushed()
		obj.set("compression_threshold", -1)
		var errs := _errors_pushed()
		check_eq(obj.get("compression_threshold"), 500, cls + ".compression_threshold = -1: the value set before is kept")
		if logging:
			check(not errs.is_empty(), cls + ".compression_threshold = -1: an error is pushed")
			check(errs.any(func(e): return e.contains("compression_threshold")), cls + ": the error names the property: %s" % str(errs))
		obj.set("compression_threshold", -(1 << 62))
		check_eq(obj.get("compression_threshold"), 500, cls + ".compression_threshold = -2^62: kept")
		_errors_pushed()
		obj.set("compression_threshold", 0)
		check_eq(obj.get("compression_threshold"), 0, cls + ".compression_threshold = 0")
		obj.set("compression_threshold", 1 << 40)
		check_eq(obj.get("compression_threshold"), 1 << 40, cls + ".compression_threshold = 2^40")
		check(_errors_pushed().is_empty(), cls + ": valid thresholds push no error")
	check_eq(RustWebSocketPeer.new().get_negotiated_extensions(), "", "a new peer agreed nothing")
	# A huge threshold: agreed, but nothing is compressed (checked on the wire).
	var raw := _raw_server(PMD)
	var c := _client(_raw_url(raw), true, func(c): c.compression_threshold = 1 << 40)
	if await wait_until(func(): return c.get_ready_state() == OPEN, "open (huge threshold)"):
		check_eq(c.get_negotiated_extensions(), PMD, "agreed with a huge threshold")
		var long := _compressible_text(20000)
		c.send_text(long)
		await _first_frame_uncompressed(func(): return raw.inbound, long, "huge threshold: sent uncompressed")


## Case 7 (continued): compression_enabled changed on a listening WebSocketServer applies to the
## clients accepted afterwards; the ones already connected keep what they agreed and still work.
## The same on our multiplayer server.
func test_enabling_on_a_listening_server_applies_to_later_clients() -> void:
	var log := []
	var server := _server()
	record(server, log)
	var a := _client(_url(server), true)
	if not await wait_until(func(): return a.get_ready_state() == OPEN and count(log, "connected") == 1, "a open"):
		return
	check_eq(a.get_negotiated_extensions(), "", "a, before enabling: nothing agreed")
	server.compression_enabled = true
	check_eq(server.compression_enabled, true, "enabled while listening")
	var b := _client(_url(server), true)
	if not await wait_until(func(): return b.get_ready_state() == OPEN and count(log, "connected") == 2, "b open"):
		return
	check_eq(b.get_negotiated_extensions(), PMD, "b, after enabling: agreed")
	check_eq(_server_peer(server, log, 1).get_negotiated_extensions(), PMD, "b's server side: agreed")
	check_eq(_server_peer(server, log, 0).get_negotiated_extensions(), "", "a's server side: still nothing")
	await _echo_all(a, [_text(_compressible_text(3000)), _binary(_pattern_bytes(500))], "a after enabling")
	await _echo_all(b, [_text(_compressible_text(3000)), _binary(_pattern_bytes(500))], "b")
	# And off again: a new client agrees nothing, b keeps compressing.
	server.compression_enabled = false
	var c := _client(_url(server), true)
	if await wait_until(func(): return c.get_ready_state() == OPEN and count(log, "connected") == 3, "c open"):
		check_eq(c.get_negotiated_extensions(), "", "c, after disabling: nothing agreed")
		check_eq(b.get_negotiated_extensions(), PMD, "b keeps what it agreed")
		await _echo_all(b, [_text(_compressible_text(3000, 5))], "b after disabling")
		await _echo_all(c, [_text(_compressible_text(3000, 5))], "c")
	# The multiplayer server: enabled while running, for clients joining afterwards.
	if not ClassDB.class_exists(OURS_MP):
		return
	var mp := _mp_server("ours", false)
	var first := _mp_client("First", "ours", true, mp, "first")
	if not await wait_until(func(): return _mp_connected(first), "[mp] first client connected"):
		_end_session()
		return
	check_eq(first.peer.get_peer(1).get_negotiated_extensions(), "", "[mp] first client, before enabling: nothing agreed")
	mp.peer.set("compression_enabled", true)
	var second := _mp_client("Second", "ours", true, mp, "second")
	if await wait_until(func(): return _mp_connected(second) and mp.names.size() == 3, "[mp] second client connected and named"):
		check_eq(second.peer.get_peer(1).get_negotiated_extensions(), PMD, "[mp] second client, after enabling: agreed")
		check_eq(mp.peer.get_peer(_mp_id(second)).get_negotiated_extensions(), PMD, "[mp] second client's server side: agreed")
		check_eq(mp.peer.get_peer(_mp_id(first)).get_negotiated_extensions(), "", "[mp] first client's server side: still nothing")
		first.note.rpc_id(_mp_id(second), _compressible_text(1000))
		if await wait_until(func(): return second.notes.size() == 1, "[mp] a note relayed from the first client to the second"):
			check_eq(second.notes[0], [_mp_id(first), _compressible_text(1000)], "[mp] the relayed note")
	_end_session()
