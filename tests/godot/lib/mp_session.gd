extends TestSuite
## Base of the multiplayer suites (suites/test_multiplayer*.gd; issue #8; design and engine
## references: docs/multiplayer-design.md): SceneMultiplayer sessions hosted in one headless
## process, each participant a branch of the tree with its own SceneMultiplayer
## (`get_tree().set_multiplayer(api, branch)`) and a node carrying the RPCs (lib/mp_lobby.gd).
##
## Which class plays which role is decided in one place, `_make_peer(kind)`: "engine" is
## WebSocketMultiplayerPeer, "ours" is RustWebSocketMultiplayerPeer. `_kinds()` lists the kinds
## that exist, so that every test runs the engine's server with the engine's clients (which
## proves the tests against the reference implementation) and, with RustWebSocketMultiplayerPeer
## registered, every mix: our server with engine clients and ours in one session, the engine's
## server with our client, ours with ours. Failures name the line-up, e.g.
## "[server ours, clients engine+ours]".
##
## Not a class_name on purpose: a suite extends "res://lib/mp_session.gd".

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


## Runs `body.call(line_up)` (awaited) for each line-up of `line_ups`, its failures named after
## it (`_label`), and ends its session after it; stops once the time budget is used.
func _for_each(line_ups: Array, body: Callable) -> void:
	for line_up in line_ups:
		if not _in_budget(line_up):
			break
		_label(line_up)
		await body.call(line_up)
		_end_session()


## `_for_each` with a session of each line-up (`_session` with the other arguments):
## `body.call(server, client A, client B..., line_up)` (the Lobby of each participant, then the
## line-up) runs once every client is connected and known to the others; a session that does not
## come up is a failure (`_session`'s) and runs no body.
func _for_each_session(line_ups: Array, body: Callable, peer_setup := Callable(), tls: TLSOptions = null, scheme := "ws", host := "127.0.0.1") -> void:
	await _for_each(line_ups, func(line_up: Array) -> void:
		var all := await _session(line_up, peer_setup, tls, scheme, host)
		if not all.is_empty():
			await body.callv(all + [line_up]))


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
