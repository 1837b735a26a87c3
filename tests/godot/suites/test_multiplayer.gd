extends TestSuite
## High-level multiplayer over WebSocket (issue #8): real SceneMultiplayer sessions with RPCs,
## the wire protocol of the engine's WebSocketMultiplayerPeer byte by byte, and the failure
## paths. Design and engine references: docs/multiplayer-design.md.
##
## One headless process hosts the server and every client: each participant is a branch of the
## tree with its own SceneMultiplayer (`get_tree().set_multiplayer(api, branch)`) and a node
## carrying the RPCs (lib/mp_lobby.gd).
##
## Which class plays which role is decided in one place, `_make_peer(kind)`: "engine" is
## WebSocketMultiplayerPeer, "ours" is RustWebSocketMultiplayerPeer. `_kinds()` lists the kinds
## that exist, so today every test runs engine server + engine clients (which proves the tests
## against the reference implementation), and as soon as the extension registers
## RustWebSocketMultiplayerPeer the same tests also run every mix: our server with engine
## clients and ours in one session, the engine's server with our client, ours with ours.
## Failures name the line-up, e.g. "[server ours, clients engine+ours]".
##
## Tests that only make sense for our class (request_validator, 500 clients) are at the end.

const Lobby := preload("res://lib/mp_lobby.gd")
const RawClient := preload("res://lib/raw_ws_client.gd")
const OURS := "RustWebSocketMultiplayerPeer"
const CONNECTING := MultiplayerPeer.CONNECTION_CONNECTING
const CONNECTED := MultiplayerPeer.CONNECTION_CONNECTED
const DISCONNECTED := MultiplayerPeer.CONNECTION_DISCONNECTED

## Lobby nodes of the current session (each the child "Lobby" of its branch).
var _branches: Array = []
## Prefix of every failure message: the line-up under test.
var _ctx := ""
var _tls_key: CryptoKey
var _tls_cert: X509Certificate
var _started_ms := Time.get_ticks_msec()


# --- Which class plays which role -------------------------------------------------------------

## The one factory: every peer of every test comes from here.
func _make_peer(kind: String) -> MultiplayerPeer:
	if kind == "ours":
		return ClassDB.instantiate(OURS)
	return WebSocketMultiplayerPeer.new()


## The kinds that exist in this build.
func _kinds() -> Array:
	return ["engine", "ours"] if ClassDB.class_exists(OURS) else ["engine"]


## Every [server, client] pair of kinds.
func _pairs() -> Array:
	var out := []
	for s in _kinds():
		for c in _kinds():
			out.append([s, c])
	return out


## Every [server, client A, client B] line-up of kinds (mixed sessions once ours exists).
func _line_ups() -> Array:
	var out := []
	for s in _kinds():
		for a in _kinds():
			for b in _kinds():
				out.append([s, a, b])
	return out


func _label(line_up: Array) -> void:
	_ctx = "[server %s, clients %s] " % [line_up[0], "+".join(PackedStringArray(line_up.slice(1)))]


## False (with a failure naming what was skipped) once a test has used 40 of the runner's 60
## seconds, so a broken line-up cannot hide the results of the others behind the watchdog.
func _in_budget(line_up: Array) -> bool:
	if Time.get_ticks_msec() - _started_ms < 40000:
		return true
	check(false, "not run (time budget used by earlier failures): %s" % str(line_up))
	return false


# --- Checks that name the line-up ---------------------------------------------------------------

func _ok(cond: bool, what: String) -> bool:
	return check(cond, _ctx + what)


func _eq(actual, expected, what: String) -> bool:
	return check_eq(actual, expected, _ctx + what)


func _wait(cond: Callable, what: String, timeout_s := 5.0) -> bool:
	return await wait_until(cond, _ctx + what, timeout_s)


# --- Sessions --------------------------------------------------------------------------------

## A server of `kind` listening on 127.0.0.1. `peer_setup(peer)` runs before create_server.
func _server(kind: String, peer_setup := Callable(), tls: TLSOptions = null, api_setup := Callable()) -> Lobby:
	var peer := _make_peer(kind)
	if peer_setup.is_valid():
		peer_setup.call(peer)
	var port := Lobby.free_port()
	_eq(peer.create_server(port, "127.0.0.1", tls), OK, "create_server")
	return Lobby.host(self, _branches, kind, peer, port, api_setup)


func _url(server: Lobby, scheme := "ws", host := "127.0.0.1") -> String:
	return "%s://%s:%d" % [scheme, host, server.get_meta("port")]


## A client of `kind` connecting to `url`, announcing `player_name` once connected.
func _client(branch_name: String, kind: String, url: String, player_name := "", peer_setup := Callable(), tls: TLSOptions = null, api_setup := Callable()) -> Lobby:
	var peer := _make_peer(kind)
	if peer_setup.is_valid():
		peer_setup.call(peer)
	var err: int = peer.create_client(url, tls)
	_eq(err, OK, "create_client " + url)
	var client: Lobby = Lobby.branch(self, _branches, branch_name, kind, peer, api_setup)
	client.player_name = player_name
	return client


func _connected(c: Lobby) -> bool:
	return c.status() == CONNECTED and c.count("api.connected_to_server") == 1


## A server and len(kinds)-1 named clients, waited for until every client is connected and
## knows every other one (SceneMultiplayer's relay announced them). Returns [] on failure.
func _session(line_up: Array, peer_setup := Callable(), tls: TLSOptions = null, scheme := "ws", host := "127.0.0.1") -> Array:
	var server := _server(line_up[0], peer_setup, tls)
	var all: Array = [server]
	var player_names := ["alice", "bob", "carol", "dave"]
	for i in range(1, line_up.size()):
		all.append(_client("Client%d" % i, line_up[i], _url(server, scheme, host), player_names[i - 1], peer_setup, TLSOptions.client(_tls_cert) if tls != null else null))
	var everyone_knows_everyone := func() -> bool:
		for i in range(1, all.size()):
			if not _connected(all[i]) or all[i].peer_ids().size() != all.size() - 1:
				return false
		return server.peer_ids().size() == all.size() - 1
	if not await _wait(everyone_knows_everyone, "every client connected and announced to the others"):
		return []
	return all


func _id(c: Lobby) -> int:
	return c.peer.get_unique_id()


## Waits until every client answered a ping from the server: everything sent before it has
## been processed on both sides (one reliable ordered stream per client).
func _barrier(server: Lobby, clients: Array) -> bool:
	var nonces := []
	for c in clients:
		var nonce := randi()
		nonces.append(nonce)
		server.ping.rpc_id(_id(c), nonce)
	return await _wait(func():
		for n in nonces:
			if not server.pongs.has(n):
				return false
		return true, "every client answered a ping")


## Tears down every branch of the current session.
func _end_session() -> void:
	Lobby.end_session(self, _branches)


func cleanup() -> void:
	_end_session()
	for p in pollables.duplicate():
		if p is MultiplayerPeer:
			p.close()
			pollables.erase(p)
	super.cleanup()


func _make_tls() -> void:
	if _tls_key == null:
		var crypto := Crypto.new()
		_tls_key = crypto.generate_rsa(2048)
		_tls_cert = crypto.generate_self_signed_certificate(_tls_key, "CN=localhost,O=godot-rust-websocket tests,C=IT")


static func _le32(v: int) -> PackedByteArray:
	var b := PackedByteArray()
	b.resize(4)
	b.encode_s32(0, v)
	return b


# --- The tests ---------------------------------------------------------------------------------

## The multiplayer demo's flow: every client sets its name by RPC to the server, which
## acknowledges it to everyone; every participant ends with the same roster.
func test_names_registered_by_rpc_are_acknowledged_to_all() -> void:
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		var roster := {1: "host", _id(a): "alice", _id(b): "bob"}
		if await _wait(func(): return server.names == roster and a.names == roster and b.names == roster, "every roster complete"):
			_eq(a.names, server.names, "client A's roster equals the server's")
			_eq(b.names, server.names, "client B's roster equals the server's")
		_ok(_id(a) >= 2 and _id(b) >= 2 and _id(a) != _id(b), "client ids are distinct and >= 2: %d %d" % [_id(a), _id(b)])
		_eq(_id(server), 1, "the server's id")
		_ok(server.api.is_server() and not a.api.is_server() and not b.api.is_server(), "is_server only on the server")
		_eq(server.peer_ids(), [_id(a), _id(b)] if _id(a) < _id(b) else [_id(b), _id(a)], "the server's peers")
		_eq(a.peer_ids(), [1, _id(b)], "client A knows the server and B")
		_eq(b.peer_ids(), [1, _id(a)], "client B knows the server and A")
		# Exactly once, everywhere.
		_eq(server.count("peer.peer_connected", _id(a)), 1, "server peer: peer_connected(A) once")
		_eq(server.count("api.peer_connected", _id(a)), 1, "server api: peer_connected(A) once")
		_eq(a.count("peer.peer_connected", 1), 1, "client A peer: peer_connected(1) once")
		_eq(a.count("api.connected_to_server"), 1, "client A: connected_to_server once")
		_eq(a.count("api.peer_connected", _id(b)), 1, "client A: peer_connected(B) once")
		_eq(b.count("api.peer_connected", _id(a)), 1, "client B: peer_connected(A) once")
		_eq(a.count("peer.peer_connected"), 1, "client A's peer announces only the server (others come from the relay)")
		_end_session()


## A client calls an RPC on another client; SceneMultiplayer relays it through the server
## (server_relay, is_server_relay_supported() == true), in both directions and as a broadcast.
func test_client_to_client_rpc_is_relayed_both_ways() -> void:
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		_eq(a.peer.is_server_relay_supported(), true, "client is_server_relay_supported()")
		_eq(server.peer.is_server_relay_supported(), true, "server is_server_relay_supported()")
		a.note.rpc_id(_id(b), "A to B")
		b.note.rpc_id(_id(a), "B to A")
		a.note.rpc("A to everyone")
		b.note.rpc_id(1, "B to the server")
		if await _wait(func(): return b.notes.size() == 2 and a.notes.size() == 1 and server.notes.size() == 2, "every note delivered"):
			_eq(b.notes, [[_id(a), "A to B"], [_id(a), "A to everyone"]], "B got A's direct and broadcast notes, sender A")
			_eq(a.notes, [[_id(b), "B to A"]], "A got B's note, sender B")
			var on_server := server.notes.duplicate()
			on_server.sort()
			var expected := [[_id(a), "A to everyone"], [_id(b), "B to the server"]]
			expected.sort()
			_eq(on_server, expected, "the server got the broadcast and its own note, not the relayed direct ones")
		await _barrier(server, [a, b])
		_eq(b.notes.size() + a.notes.size() + server.notes.size(), 5, "nothing delivered twice")
		_end_session()


## supported_protocols on both sides: a matching client connects and sees the protocol; a
## client offering another one fails (connection_failed) and the server never announces it.
func test_subprotocol_match_and_mismatch() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var ludus := func(p): p.supported_protocols = PackedStringArray(["ludus"])
		var server := _server(pair[0], ludus)
		var bad := _client("Bad", pair[1], _url(server), "", func(p): p.supported_protocols = PackedStringArray(["chat"]))
		if await _wait(func(): return bad.count("api.connection_failed") == 1, "mismatched client: connection_failed"):
			_eq(bad.status(), DISCONNECTED, "mismatched client ends DISCONNECTED")
			_eq(bad.count("api.connected_to_server") + bad.count("peer.peer_connected"), 0, "mismatched client never connected")
		var good := _client("Good", pair[1], _url(server), "", ludus)
		if await _wait(func(): return _connected(good) and server.count("api.peer_connected") >= 1, "matching client connected"):
			_eq(good.peer.get_peer(1).get_selected_protocol(), "ludus", "the client's selected protocol")
			_eq(server.peer.get_peer(_id(good)).get_selected_protocol(), "ludus", "the server's selected protocol")
			_eq(server.count("api.peer_connected"), 1, "the server announced only the matching client")
			_eq(server.count("peer.peer_connected"), 1, "the server's peer announced only the matching client")
			_eq(bad.count("api.connection_failed"), 1, "connection_failed exactly once")
		_end_session()


## SceneMultiplayer authentication over the peer: the client sends a token (send_auth), the
## server checks it in auth_callback, answers, and both call complete_auth. A wrong token is
## refused: the server drops the peer before admitting it.
func test_scene_multiplayer_authentication() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var auth := func(api: SceneMultiplayer, lobby: Lobby) -> void:
			api.auth_callback = lobby.on_auth
		var server := _server(pair[0], Callable(), null, auth)
		server.auth_expected = "letmein".to_utf8_buffer()
		var good := _client("Good", pair[1], _url(server), "", Callable(), null, auth)
		good.auth_token = "letmein".to_utf8_buffer()
		if await _wait(func(): return _connected(good) and server.count("api.peer_connected") == 1, "authenticated client admitted"):
			_eq(server.auth_seen, [[_id(good), "letmein"]], "the server's auth_callback got the token")
			_eq(good.auth_seen, [[1, "welcome"]], "the client's auth_callback got the answer")
			_eq(server.count("api.peer_authenticating", _id(good)), 1, "server: peer_authenticating once")
			_eq(good.count("api.peer_authenticating", 1), 1, "client: peer_authenticating(1) once")
			_eq(server.count("api.peer_connected", _id(good)), 1, "server: peer_connected after authentication")
		var bad := _client("Bad", pair[1], _url(server), "", Callable(), null, auth)
		bad.auth_token = "wrong".to_utf8_buffer()
		if await _wait(func(): return bad.count("api.peer_authentication_failed", 1) == 1 and bad.status() == DISCONNECTED, "wrong token: refused"):
			_eq(bad.count("api.connected_to_server"), 0, "refused client never connected_to_server")
			_eq(bad.count("api.server_disconnected"), 1, "refused client: server_disconnected (the peer was CONNECTED while authenticating)")
		await _wait(func(): return server.count("peer.peer_disconnected") == 1, "server peer drops the refused client")
		await _barrier(server, [good])
		_eq(server.count("api.peer_connected"), 1, "the server admitted only the good client")
		_eq(good.peer_ids(), [1], "the good client was never told about the refused one")
		_end_session()


## A client leaving (abruptly with close(), or cleanly with disconnect_peer(1)) is reported
## exactly once on the server and on every other client; the leaver itself sees
## server_disconnected.
func test_leaving_client_is_reported_once_everywhere() -> void:
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		var four: Array = line_up + [line_up[2]]
		_label(four)
		var all := await _session(four)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		var c: Lobby = all[3]
		var id_a := _id(a)
		var id_b := _id(b)
		# A leaves abruptly: the engine's close() sends no close frame.
		a.peer.close()
		if await _wait(func(): return server.count("api.peer_disconnected", id_a) == 1 and b.count("api.peer_disconnected", id_a) == 1 and c.count("api.peer_disconnected", id_a) == 1, "A's departure reported everywhere"):
			await _barrier(server, [b, c])
			_eq(server.count("api.peer_disconnected", id_a), 1, "server api: peer_disconnected(A) once")
			_eq(server.count("peer.peer_disconnected", id_a), 1, "server peer: peer_disconnected(A) once")
			_eq(b.count("api.peer_disconnected", id_a), 1, "B: peer_disconnected(A) once")
			_eq(c.count("api.peer_disconnected", id_a), 1, "C: peer_disconnected(A) once")
			_eq(a.count("api.server_disconnected"), 1, "A (closed locally) sees server_disconnected once")
			_eq(server.peer_ids(), [id_b, _id(c)] if id_b < _id(c) else [_id(c), id_b], "the server's peers after A left")
		# B leaves cleanly: disconnect_peer(1) closes with a close frame.
		b.peer.disconnect_peer(1)
		if await _wait(func(): return server.count("api.peer_disconnected", id_b) == 1 and c.count("api.peer_disconnected", id_b) == 1 and b.status() == DISCONNECTED, "B's departure reported everywhere"):
			await _barrier(server, [c])
			_eq(server.count("api.peer_disconnected", id_b), 1, "server api: peer_disconnected(B) once")
			_eq(server.count("peer.peer_disconnected", id_b), 1, "server peer: peer_disconnected(B) once")
			_eq(c.count("api.peer_disconnected", id_b), 1, "C: peer_disconnected(B) once")
			_eq(b.count("peer.peer_disconnected", 1), 1, "B's peer: peer_disconnected(1) once")
			_eq(b.count("api.server_disconnected"), 1, "B: server_disconnected once")
			_eq(c.peer_ids(), [1], "C knows only the server now")
			_eq(c.count("api.server_disconnected"), 0, "C is still connected")
		_end_session()


## The server kicks a client with the peer's disconnect_peer(id): the client sees
## server_disconnected, the others peer_disconnected, the server's peer reports it once.
## disconnect_peer(id, true) drops a client at once; our server's peer reports it exactly once,
## at its next poll (and so SceneMultiplayer forgets the client), the engine's reports nothing
## (godot#108716: the client stays in its SceneMultiplayer).
func test_server_disconnect_peer_kicks_a_client() -> void:
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		var id_a := _id(a)
		server.peer.disconnect_peer(id_a)
		if await _wait(func(): return a.count("api.server_disconnected") == 1 and b.count("api.peer_disconnected", id_a) == 1 and server.count("peer.peer_disconnected", id_a) == 1, "A kicked"):
			await _barrier(server, [b])
			_eq(server.count("peer.peer_disconnected", id_a), 1, "server peer: peer_disconnected(A) once")
			_eq(server.count("api.peer_disconnected", id_a), 1, "server api: peer_disconnected(A) once")
			_eq(b.count("api.peer_disconnected", id_a), 1, "B: peer_disconnected(A) once")
			_eq(a.count("api.connection_failed"), 0, "A was connected: no connection_failed")
			_eq(a.status(), DISCONNECTED, "A ends DISCONNECTED")
		var id_b := _id(b)
		server.peer.disconnect_peer(id_b, true)
		if await _wait(func(): return b.count("api.server_disconnected") == 1, "B dropped by a forced disconnect"):
			if line_up[0] == "ours":
				await _wait(func(): return server.count("peer.peer_disconnected", id_b) > 0, "our server peer reports B's forced disconnect", 2.0)
			# Some more polls, for a late or repeated report.
			var polls := [0]
			await _wait(func():
				polls[0] += 1
				return polls[0] > 30, "polls after the forced disconnect")
			if line_up[0] == "ours":
				_eq(server.count("peer.peer_disconnected", id_b), 1, "server peer (ours): peer_disconnected(B) exactly once after force")
				_eq(server.count("api.peer_disconnected", id_b), 1, "server api (ours): peer_disconnected(B) once after force")
			else:
				_eq(server.count("peer.peer_disconnected", id_b), 0, "server peer (engine): no peer_disconnected(B) after force")
			_eq(b.status(), DISCONNECTED, "B ends DISCONNECTED")
		_end_session()


## The server closing: every client sees server_disconnected exactly once (never
## connection_failed) and ends DISCONNECTED.
func test_server_closing_disconnects_every_client() -> void:
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		server.api.multiplayer_peer = null
		server.peer.close()
		_eq(server.peer.get_connection_status(), DISCONNECTED, "the server's peer is DISCONNECTED after close()")
		if await _wait(func(): return a.count("api.server_disconnected") == 1 and b.count("api.server_disconnected") == 1, "server_disconnected on every client"):
			for c in [a, b]:
				_eq(c.status(), DISCONNECTED, "client ends DISCONNECTED")
				_eq(c.count("api.connection_failed"), 0, "no connection_failed after being connected")
				_eq(c.count("peer.peer_disconnected", 1), 1, "the client's peer: peer_disconnected(1) once")
		_end_session()


## A 200 KiB RPC argument: server to client, client to server, and client to client through the
## relay. The buffers are raised to 1 MiB on every peer (the engine's default 65535 would fail).
func test_200_kib_rpc_payload() -> void:
	var data := PackedByteArray()
	data.resize(200 * 1024)
	for i in data.size():
		data[i] = (i * 31 + (i >> 8)) & 0xFF
	var big := func(p):
		p.inbound_buffer_size = 1 << 20
		p.outbound_buffer_size = 1 << 20
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up, big)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		for l in all:
			l.expected_blob = data
		server.blob.rpc_id(_id(a), data)
		a.blob.rpc_id(1, data)
		a.blob.rpc_id(_id(b), data)
		b.blob.rpc_id(_id(a), data)
		if await _wait(func(): return a.blobs.size() == 2 and b.blobs.size() == 1 and server.blobs.size() == 1, "every 200 KiB payload delivered", 10.0):
			_eq(server.blobs, [[_id(a), data.size(), true]], "server got A's payload intact")
			_eq(b.blobs, [[_id(a), data.size(), true]], "B got A's relayed payload intact")
			var at_a := a.blobs.duplicate()
			at_a.sort()
			var expected := [[1, data.size(), true], [_id(b), data.size(), true]]
			expected.sort()
			_eq(at_a, expected, "A got the server's and B's payloads intact")
		_end_session()


## wss: the server with TLSOptions.server, clients trusting its certificate.
func test_wss_session() -> void:
	_make_tls()
	for line_up in _line_ups():
		if not _in_budget(line_up):
			break
		_label(line_up)
		var all := await _session(line_up, Callable(), TLSOptions.server(_tls_key, _tls_cert), "wss", "localhost")
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var b: Lobby = all[2]
		_eq(a.peer.get_peer(1).get_requested_url(), "wss://localhost:%d" % server.get_meta("port"), "the client's URL")
		a.note.rpc_id(_id(b), "secret A to B")
		b.note.rpc_id(1, "secret B to server")
		if await _wait(func(): return b.notes.size() == 1 and server.notes.size() == 1, "notes over TLS"):
			_eq(b.notes, [[_id(a), "secret A to B"]], "relayed over TLS")
			_eq(server.notes, [[_id(b), "secret B to server"]], "to the server over TLS")
		# A plain ws:// client cannot join a wss server.
		var plain := _client("Plain", line_up[1], _url(server, "ws", "localhost"))
		if await _wait(func(): return plain.count("api.connection_failed") == 1, "plain client to a TLS server fails"):
			_eq(plain.count("api.connected_to_server"), 0, "the plain client never connected")
		await _barrier(server, [a, b])
		_eq(server.count("api.peer_connected"), 2, "the server announced only the TLS clients")
		_end_session()


## A refused port and a server that never answers end in connection_failed, bounded by
## handshake_timeout; an unsupported scheme is refused by create_client.
func test_refused_or_unreachable_url_fails_without_hanging() -> void:
	for kind in _kinds():
		_ctx = "[client %s] " % kind
		var probe := _make_peer(kind)
		_eq(probe.create_client("http://127.0.0.1:1/"), ERR_INVALID_PARAMETER, "create_client with http://")
		_eq(probe.get_connection_status(), DISCONNECTED, "still DISCONNECTED after a refused URL")
		var short := func(p): p.handshake_timeout = 0.5
		# A listener that never takes its connections: TCP connects, the upgrade is never answered.
		var silent := TCPServer.new()
		_eq(silent.listen(0, "127.0.0.1"), OK, "silent listener")
		var cases := [["refused port", "ws://127.0.0.1:%d" % Lobby.free_port()], ["silent server", "ws://127.0.0.1:%d" % silent.get_local_port()]]
		for c in cases:
			var t0 := Time.get_ticks_msec()
			var client := _client("Client", kind, c[1], "", short)
			if await _wait(func(): return client.count("api.connection_failed") == 1, c[0] + ": connection_failed", 5.0):
				var ms := Time.get_ticks_msec() - t0
				_ok(ms < 2500, "%s: failed within the handshake timeout (%d ms)" % [c[0], ms])
				_eq(client.status(), DISCONNECTED, c[0] + ": DISCONNECTED")
				_eq(client.count("api.connected_to_server") + client.count("api.server_disconnected"), 0, c[0] + ": no other signal")
			_end_session()


## Server-side refuse_new_connections: a joining client fails; after clearing it, a client joins.
func test_refuse_new_connections() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var server := _server(pair[0])
		server.peer.refuse_new_connections = true
		_eq(server.peer.refuse_new_connections, true, "refuse_new_connections")
		var turned_away := _client("Refused", pair[1], _url(server), "", func(p): p.handshake_timeout = 0.5)
		if await _wait(func(): return turned_away.count("api.connection_failed") == 1, "refused client: connection_failed"):
			_eq(server.count("api.peer_connected") + server.count("peer.peer_connected"), 0, "the server announced nobody")
		server.peer.refuse_new_connections = false
		var welcome := _client("Welcome", pair[1], _url(server))
		if await _wait(func(): return _connected(welcome) and server.count("api.peer_connected") == 1, "client joins after refuse_new_connections is cleared"):
			_eq(server.count("peer.peer_connected"), 1, "only the later client was announced")
		_end_session()


## MultiplayerPeer's packet API without SceneMultiplayer: target peer 0 (broadcast), -id (all
## but id) and id; packets keep their boundaries; the server reads the sender with
## get_packet_peer(); channel 0 and RELIABLE are reported; an unknown target is refused.
func test_target_peer_semantics_and_packet_queries() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var server_peer := _make_peer(pair[0])
		var port := Lobby.free_port()
		_eq(server_peer.create_server(port, "127.0.0.1"), OK, "create_server")
		var server_events := []
		server_peer.peer_connected.connect(func(id): server_events.append(["connected", id]))
		pollables.append(server_peer)
		var clients := []
		for i in 3:
			var c := _make_peer(pair[1])
			_eq(c.create_client("ws://127.0.0.1:%d" % port), OK, "create_client")
			_eq(c.get_connection_status(), CONNECTING, "CONNECTING right after create_client")
			pollables.append(c)
			clients.append(c)
		if not await _wait(func(): return clients.all(func(c): return c.get_connection_status() == CONNECTED) and server_events.size() == 3, "3 bare clients connected"):
			continue
		var ids := clients.map(func(c): return c.get_unique_id())
		var announced := server_events.map(func(e): return e[1])
		ids.sort()
		announced.sort()
		_eq(announced, ids, "the server announced exactly the ids the clients received")
		var got := func(c) -> Array:
			var out := []
			while c.get_available_packet_count() > 0:
				_eq(c.get_packet_peer(), 1, "a client's packets come from peer 1")
				_eq(c.get_packet_channel(), 0, "channel 0")
				_eq(c.get_packet_mode(), MultiplayerPeer.TRANSFER_MODE_RELIABLE, "mode RELIABLE")
				out.append(c.get_packet().get_string_from_utf8())
			return out
		server_peer.transfer_mode = MultiplayerPeer.TRANSFER_MODE_UNRELIABLE
		server_peer.transfer_channel = 3
		server_peer.set_target_peer(0)
		_eq(server_peer.put_packet("all".to_utf8_buffer()), OK, "broadcast")
		server_peer.set_target_peer(-clients[0].get_unique_id())
		_eq(server_peer.put_packet("not0".to_utf8_buffer()), OK, "all but client 0")
		server_peer.set_target_peer(clients[1].get_unique_id())
		_eq(server_peer.put_packet("only1".to_utf8_buffer()), OK, "client 1 only")
		var unknown := 2
		while ids.has(unknown):
			unknown += 1
		server_peer.set_target_peer(unknown)
		_eq(server_peer.put_packet("nobody".to_utf8_buffer()), ERR_INVALID_PARAMETER, "unknown target refused")
		server_peer.set_target_peer(0)
		_eq(server_peer.put_packet("last".to_utf8_buffer()), OK, "broadcast again")
		var received := [[], [], []]
		if await _wait(func():
			for i in 3:
				received[i].append_array(got.call(clients[i]))
			return received[0].has("last") and received[1].has("last") and received[2].has("last"), "every client got the last broadcast"):
			_eq(received[0], ["all", "last"], "client 0: broadcasts only")
			_eq(received[1], ["all", "not0", "only1", "last"], "client 1: everything addressed to it, in order")
			_eq(received[2], ["all", "not0", "last"], "client 2: all but the direct one")
		# Clients always send to the server, whatever their target.
		for i in 3:
			clients[i].set_target_peer(clients[(i + 1) % 3].get_unique_id())
			_eq(clients[i].put_packet(("from %d" % i).to_utf8_buffer()), OK, "client put_packet")
		var at_server := {}
		if await _wait(func():
			while server_peer.get_available_packet_count() > 0:
				var sender: int = server_peer.get_packet_peer()
				_eq(server_peer.get_packet_channel(), 0, "server: channel 0")
				_eq(server_peer.get_packet_mode(), MultiplayerPeer.TRANSFER_MODE_RELIABLE, "server: mode RELIABLE")
				at_server[sender] = server_peer.get_packet().get_string_from_utf8()
			return at_server.size() == 3, "the server got a packet from every client"):
			for i in 3:
				_eq(at_server.get(clients[i].get_unique_id(), ""), "from %d" % i, "get_packet_peer() names client %d" % i)
		for c in clients:
			c.close()
			pollables.erase(c)
		server_peer.close()
		pollables.erase(server_peer)


## The API surface the class must copy: defaults, return codes, ids, addresses.
func test_peer_api_defaults_and_return_codes() -> void:
	_make_tls()
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var p := _make_peer(pair[0])
		_eq([p.get_connection_status(), p.get_unique_id(), p.refuse_new_connections, p.transfer_mode, p.transfer_channel], [DISCONNECTED, 0, false, MultiplayerPeer.TRANSFER_MODE_RELIABLE, 0], "MultiplayerPeer defaults")
		_eq([p.supported_protocols, p.handshake_headers, p.inbound_buffer_size, p.outbound_buffer_size, p.handshake_timeout, p.max_queued_packets], [PackedStringArray(), PackedStringArray(), 65535, 65535, 3.0, 4096], "WebSocketMultiplayerPeer property defaults")
		_eq(p.is_server_relay_supported(), true, "is_server_relay_supported()")
		_eq(p.create_server(0, "127.0.0.1", TLSOptions.client()), ERR_INVALID_PARAMETER, "create_server with client TLS options")
		_eq(p.create_client("wss://localhost:1", TLSOptions.server(_tls_key, _tls_cert)), ERR_INVALID_PARAMETER, "create_client with server TLS options")
		var server := _server(pair[0])
		_eq(server.peer.get_connection_status(), CONNECTED, "a server is CONNECTED at once")
		_eq(server.peer.get_unique_id(), 1, "a server's id is 1")
		_eq(server.peer.create_server(Lobby.free_port()), ERR_ALREADY_IN_USE, "create_server twice")
		_eq(server.peer.create_client("ws://127.0.0.1:1"), ERR_ALREADY_IN_USE, "create_client on a server")
		var client := _client("Client", pair[1], _url(server), "carol")
		_eq(client.peer.create_client(_url(server)), ERR_ALREADY_IN_USE, "create_client twice")
		if await _wait(func(): return _connected(client) and server.count("api.peer_connected") == 1, "client connected"):
			var id := _id(client)
			_eq(server.peer.get_peer_address(id), "127.0.0.1", "get_peer_address")
			_ok(server.peer.get_peer_port(id) > 0, "get_peer_port > 0")
			_eq(server.peer.get_peer(id).get_ready_state(), WebSocketPeer.STATE_OPEN, "get_peer(id) is open on the server")
			_eq(client.peer.get_peer(1).get_ready_state(), WebSocketPeer.STATE_OPEN, "get_peer(1) is open on the client")
			_ok(id >= 2 and id <= 0x7FFFFFFF, "client id in [2, 2^31-1]: %d" % id)
			client.peer.close()
			_eq([client.peer.get_connection_status(), client.peer.get_unique_id()], [DISCONNECTED, 0], "a closed client is DISCONNECTED with id 0")
		server.peer.close()
		_eq([server.peer.get_connection_status(), server.peer.get_unique_id()], [DISCONNECTED, 0], "a closed server is DISCONNECTED with id 0")
		_end_session()


# --- Wire protocol, byte by byte --------------------------------------------------------------

## A raw WebSocket client against the server: the first message is the 4-byte little-endian id
## (the same id the server announces), then SceneMultiplayer packets travel as binary messages
## without any header, both ways.
func test_wire_first_message_is_the_id_then_headerless_packets() -> void:
	for kind in _kinds():
		_ctx = "[server %s] " % kind
		var server := _server(kind)
		var raw := RawClient.new()
		_eq(raw.connect_to(server.get_meta("port")), OK, "raw connect")
		pollables.append(raw)
		if not await _wait(func(): return raw.frames.size() >= 1 and server.count("api.peer_connected") == 1, "raw client got its id"):
			_end_session()
			continue
		_ok(raw.upgraded(), "101 Switching Protocols: " + raw.response.get_slice("\r\n", 0))
		var id: int = server.events.filter(func(e): return e[0] == "api.peer_connected")[0][1]
		_eq(raw.frames[0][0], 2, "the id message is a binary frame")
		_eq(raw.frames[0][1], _le32(id), "the id message is the announced id as 4 bytes, little-endian")
		# A second client joins: SceneMultiplayer's ADD_PEER reaches the raw client verbatim.
		# (Before it, the raw client also got the server's RPCs, each one bare message too.)
		var other := _client("Other", kind, _url(server))
		if await _wait(func(): return _connected(other), "second client connected"):
			var add_peer := PackedByteArray([7, 1])
			add_peer.append_array(_le32(_id(other)))
			_ok(await _wait(func(): return raw.frames.has([2, add_peer]), "ADD_PEER(other) reached the raw client"), "SYS ADD_PEER(other) as one binary message, no header")
			_eq(raw.frames.filter(func(f): return f[1].size() == 4).size(), 1, "exactly one 4-byte message (the id)")
		# Raw client -> server: one binary message is one packet.
		raw.send_frame(2, PackedByteArray([3]) + "hi".to_utf8_buffer())
		if await _wait(func(): return server.raw.size() == 1, "server got the raw packet"):
			_eq(server.raw[0], [id, "hi".to_utf8_buffer()], "peer_packet(id, 'hi') on the server")
		# Server -> raw client.
		server.api.send_bytes("yo".to_utf8_buffer(), id)
		var want := PackedByteArray([3]) + "yo".to_utf8_buffer()
		if await _wait(func(): return raw.frames.any(func(f): return f[1] == want), "raw client got the server's packet"):
			_eq(raw.frames.filter(func(f): return f[1] == want)[0][0], 2, "sent as a binary frame")
		raw.disconnect_now()
		if await _wait(func(): return server.count("api.peer_disconnected", id) == 1 and other.count("api.peer_disconnected", id) >= 1, "raw client's departure noticed, and told"):
			_eq(other.count("api.peer_disconnected", id), 1, "the other client was told once")
		_end_session()


## A raw client that sends garbage: malformed SceneMultiplayer packets are dropped with an error
## and the peer stays; bytes that are not WebSocket drop that peer only. The other client
## keeps talking to the server throughout.
func test_server_survives_garbage_from_a_raw_client() -> void:
	for pair in _pairs():
		if not _in_budget(pair):
			break
		_label(pair)
		var all := await _session(pair)
		if all.is_empty():
			_end_session()
			continue
		var server: Lobby = all[0]
		var a: Lobby = all[1]
		var raw := RawClient.new()
		raw.connect_to(server.get_meta("port"))
		pollables.append(raw)
		if not await _wait(func(): return raw.frames.size() >= 1 and server.count("api.peer_connected") == 2, "raw client admitted"):
			_end_session()
			continue
		var raw_id: int = raw.frames[0][1].decode_s32(0)
		for junk in [[7, 9, 0, 0, 0, 0], [7], [0xFF], [6], [2, 0xFF, 0xFF, 0xFF, 0xFF]]:
			raw.send_frame(2, PackedByteArray(junk))
		raw.send_frame(2, PackedByteArray([3]) + "still here".to_utf8_buffer())
		if await _wait(func(): return server.raw.size() == 1, "a good packet after the junk still arrives"):
			_eq(server.raw[0], [raw_id, "still here".to_utf8_buffer()], "the raw peer survived malformed packets")
		_eq(server.count("peer.peer_disconnected"), 0, "malformed packets dropped no peer")
		# Not WebSocket at all: an unmasked frame with a reserved opcode.
		raw.send_raw(PackedByteArray([0x83, 0x02, 0x41, 0x42]))
		if await _wait(func(): return server.count("api.peer_disconnected", raw_id) == 1, "the raw peer is dropped"):
			await _barrier(server, [a])
			_eq(server.count("peer.peer_disconnected", raw_id), 1, "server peer: peer_disconnected(raw) once")
			_eq(a.count("api.peer_disconnected", raw_id), 1, "client A told once")
			_eq(server.count("peer.peer_disconnected"), 1, "no other peer dropped")
		a.note.rpc_id(1, "after the garbage")
		if await _wait(func(): return server.notes.size() == 1, "A still talks to the server"):
			_eq(server.notes, [[_id(a), "after the garbage"]], "A's note")
		_end_session()


## A client against a scripted server: it stays CONNECTING while the WebSocket is open but no id
## has arrived (it even answers pings), becomes CONNECTED with exactly the id sent, and then
## reads headerless packets from peer 1.
func test_client_stays_connecting_until_the_id_arrives() -> void:
	for kind in _kinds():
		_ctx = "[client %s] " % kind
		var rs := RawServer.new()
		var port := rs.listen()
		rs.after_handshake = RawServer.frame(9, "are you there".to_utf8_buffer())
		pollables.append(rs)
		var client := _client("Client", kind, "ws://127.0.0.1:%d" % port)
		if not await _wait(func(): return rs.client_frames().has("pong are you there"), "the client's WebSocket is open (it answered a ping)"):
			_end_session()
			continue
		_eq(client.status(), CONNECTING, "CONNECTING while no id arrived")
		_eq(client.count("api.connected_to_server") + client.count("peer.peer_connected"), 0, "no signal before the id")
		_eq(rs.client_frames(), ["pong are you there"], "the client sent nothing but the pong")
		rs.send(RawServer.frame(2, _le32(123456789)))
		if await _wait(func(): return _connected(client), "CONNECTED once the id arrived"):
			_eq(client.peer.get_unique_id(), 123456789, "get_unique_id() is the id sent")
			_eq(client.count("peer.peer_connected", 1), 1, "the peer announced the server (1) once")
		rs.send(RawServer.frame(2, PackedByteArray([3]) + "hi".to_utf8_buffer()))
		if await _wait(func(): return client.raw.size() == 1, "a packet from the server"):
			_eq(client.raw[0], [1, "hi".to_utf8_buffer()], "peer_packet(1, 'hi'): from peer 1, no header")
		client.api.send_bytes("yo".to_utf8_buffer(), 1)
		await _wait(func(): return rs.client_frames().size() == 2, "the client's packet")
		_eq(rs.client_frames(), ["pong are you there", "binary %syo" % char(3)], "a masked binary frame with the bare packet")
		_end_session()


## A malformed id message (wrong size, id < 2) or a non-WebSocket answer: the client never
## reports CONNECTED, gives up, and SceneMultiplayer emits connection_failed once.
func test_malformed_id_message_is_rejected() -> void:
	var cases := [
		["3 bytes", RawServer.frame(2, PackedByteArray([5, 0, 0]))],
		["5 bytes", RawServer.frame(2, PackedByteArray([5, 0, 0, 0, 0]))],
		["empty", RawServer.frame(2, PackedByteArray())],
		["id 1", RawServer.frame(2, _le32(1))],
		["id 0", RawServer.frame(2, _le32(0))],
		["negative id", RawServer.frame(2, _le32(-5))],
	]
	for kind in _kinds():
		for c in cases:
			_ctx = "[client %s, %s] " % [kind, c[0]]
			var rs := RawServer.new()
			var port := rs.listen()
			rs.after_handshake = c[1]
			pollables.append(rs)
			var client := _client("Client", kind, "ws://127.0.0.1:%d" % port, "", func(p): p.handshake_timeout = 2.0)
			# Answer the client's close frame, as a real server would.
			var pump := func() -> bool:
				if rs.conn != null and rs.conn.get_status() == StreamPeerTCP.STATUS_CONNECTED and rs.client_frames().any(func(f): return f.begins_with("close")):
					rs.send(RawServer.close_frame(1000))
					rs.conn.disconnect_from_host()
				return client.count("api.connection_failed") == 1
			if await _wait(pump, "connection_failed", 5.0):
				_eq(client.count("api.connected_to_server") + client.count("peer.peer_connected"), 0, "never connected")
				_eq(client.status(), DISCONNECTED, "ends DISCONNECTED")
				_eq(client.peer.get_unique_id(), 0, "no id adopted")
			rs.stop()
			pollables.erase(rs)
			_end_session()
	# Not WebSocket at all.
	for kind in _kinds():
		_ctx = "[client %s, garbage answer] " % kind
		var rs := RawServer.new()
		var port := rs.listen()
		rs.response_override = "garbage\r\n\r\n"
		rs.drop_after_send = true
		pollables.append(rs)
		var client := _client("Client", kind, "ws://127.0.0.1:%d" % port)
		if await _wait(func(): return client.count("api.connection_failed") == 1, "connection_failed"):
			_eq(client.count("api.connected_to_server"), 0, "never connected")
		rs.stop()
		pollables.erase(rs)
		_end_session()


# --- Our class only ----------------------------------------------------------------------------
# They need RustWebSocketMultiplayerPeer.

## request_validator (as WebSocketServer's): a refused client gets HTTP 403 before the upgrade,
## fails with connection_failed, and the server never announces it.
func test_request_validator_refuses_with_http_403() -> void:
	for client_kind in _kinds():
		_ctx = "[server ours, client %s] " % client_kind
		var server := _server("ours")
		server.peer.request_validator = func(_id: int, ws) -> bool:
			return ws.get_request_header("authorization") == "Bearer ok"
		var ok_client := _client("Good", client_kind, _url(server), "", func(p): p.handshake_headers = PackedStringArray(["Authorization: Bearer ok"]))
		var refused := _client("Bad", client_kind, _url(server), "", func(p): p.handshake_headers = PackedStringArray(["Authorization: Bearer nope"]))
		await _wait(func(): return _connected(ok_client) and refused.count("api.connection_failed") == 1, "good in, bad out")
		var raw := RawClient.new()
		raw.extra_headers = "Authorization: x\r\n"
		raw.connect_to(server.get_meta("port"))
		pollables.append(raw)
		if await _wait(func(): return not raw.response.is_empty(), "raw client answered"):
			_ok(raw.response.begins_with("HTTP/1.1 403"), "403 for a refused request: " + raw.response.get_slice("\r\n", 0))
		_eq(server.count("api.peer_connected"), 1, "only the accepted client was announced")
		server.peer.request_validator = Callable()
		_end_session()


## 500 clients join our server; everyone gets a distinct id, the server announces each once,
## a broadcast reaches all, each client's packet reaches the server, and all leave once.
func test_five_hundred_clients_join_our_server() -> void:
	var server := _server("ours")
	var clients := []
	for i in 500:
		var c := _make_peer(_kinds()[i % _kinds().size()])
		c.create_client(_url(server))
		clients.append(c)
		pollables.append(c)
	var t0 := Time.get_ticks_msec()
	if not await _wait(func(): return server.count("api.peer_connected") == 500 and clients.all(func(c): return c.get_connection_status() == CONNECTED), "500 connected", 30.0):
		return
	var ids := {}
	for c in clients:
		ids[c.get_unique_id()] = true
	_eq(ids.size(), 500, "500 distinct ids")
	server.api.send_bytes("hello all".to_utf8_buffer())
	for c in clients:
		c.put_packet(PackedByteArray([3]) + ("from %d" % c.get_unique_id()).to_utf8_buffer())
	var got := {}
	await _wait(func():
		for c in clients:
			while c.get_available_packet_count() > 0:
				if c.get_packet() == PackedByteArray([3]) + "hello all".to_utf8_buffer():
					got[c.get_unique_id()] = true
		return got.size() == 500 and server.raw.size() == 500, "broadcast and 500 packets", 30.0)
	for c in clients:
		c.close()
	await _wait(func(): return server.count("api.peer_disconnected") == 500, "500 left", 30.0)
	print("    500 clients on our server: whole session %d ms" % (Time.get_ticks_msec() - t0))


## The RustWebSocketPeer that our get_peer(id) hands out shows the connection and can send on
## it, but cannot take the packets the multiplayer peer reads (they would then be credited to
## the wrong sender); the same object comes back for the same id while it is in the session.
func test_our_peer_objects_show_the_connection_but_leave_its_packets_to_the_session() -> void:
	var server_peer := _make_peer("ours")
	_eq(server_peer.create_server(0, "127.0.0.1"), OK, "create_server")
	pollables.append(server_peer)
	var client := WebSocketMultiplayerPeer.new()
	_eq(client.create_client("ws://127.0.0.1:%d" % server_peer.get_local_port()), OK, "create_client")
	pollables.append(client)
	if not await _wait(func(): return client.get_connection_status() == CONNECTED, "client joined"):
		return
	var id := client.get_unique_id()
	var view: RustWebSocketPeer = server_peer.get_peer(id)
	_ok(view != null and view == server_peer.get_peer(id), "the same object for the same id")
	_eq(view.get_connected_host(), "127.0.0.1", "it shows the connection")
	client.put_packet("to the session".to_utf8_buffer())
	if not await _wait(func(): return server_peer.get_available_packet_count() == 1, "the packet arrived"):
		return
	_eq(view.get_available_packet_count(), 0, "the peer object offers no packets")
	_eq(view.get_packet(), PackedByteArray(), "get_packet on it takes nothing")
	_eq(server_peer.get_packet_peer(), id, "the session still has the packet, from its sender")
	_eq(server_peer.get_packet().get_string_from_utf8(), "to the session", "and reads it")
	_eq(view.send_text("direct"), OK, "the peer object can send")
	_ok(await _wait(func(): return client.get_available_packet_count() == 1, "the direct message arrived"), "sent directly")
	view.close(1000, "not this way")
	_eq(view.get_ready_state(), RustWebSocketPeer.STATE_OPEN, "close() on it is refused: disconnect_peer(id) leaves the session")
	# A new session hands out no object of the previous one.
	server_peer.close()
	_eq(server_peer.create_server(0, "127.0.0.1"), OK, "a new session")
	_eq(server_peer.get_peer(id), null, "no peer object survives its session")


## A client of ours that is still connecting: get_peer(1) shows the connection, and
## disconnect_peer(1) ends it (as the engine), with connection_failed-style DISCONNECTED status.
func test_our_connecting_client_can_be_disconnected_from_peer_1() -> void:
	var silent := TCPServer.new()
	_eq(silent.listen(0, "127.0.0.1"), OK, "silent listener")
	var client := _make_peer("ours")
	_eq(client.create_client("ws://127.0.0.1:%d" % silent.get_local_port()), OK, "create_client")
	pollables.append(client)
	await _wait(func(): return client.get_peer_port(1) != 0, "TCP connected", 2.0)
	_eq(client.get_connection_status(), CONNECTING, "CONNECTING: the upgrade is never answered")
	_ok(client.get_peer(1) != null, "get_peer(1) while connecting")
	client.disconnect_peer(1)
	_ok(await _wait(func(): return client.get_connection_status() == DISCONNECTED, "disconnected", 2.0), "disconnect_peer(1) ends it")
	silent.stop()
