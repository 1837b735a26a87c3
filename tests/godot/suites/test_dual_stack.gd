extends TestSuite
## The default bind address "*" takes IPv4 and IPv6 clients, whatever the OS's IPV6_V6ONLY
## default. Runs with the other suites, and again (`cargo xtask test`'s "dual-stack" stage) in a
## Linux network namespace with net.ipv6.bindv6only=1, Windows' default: there
## RUST_WEBSOCKET_EXPECT_V6ONLY=1 and the control test proves the namespace refuses IPv4 on a
## plain "::" socket, as Windows does.

const URLS := ["ws://127.0.0.1:%d", "ws://[::1]:%d"]


func _v6only_expected() -> bool:
	return OS.get_environment("RUST_WEBSOCKET_EXPECT_V6ONLY") == "1"


## A client of `kind` ("ours" or "engine") at `url`, polled by the suite.
func _client(kind: String, url: String):
	var c = RustWebSocketPeer.new() if kind == "ours" else WebSocketPeer.new()
	check_eq(c.connect_to_url(url), OK, "%s connect_to_url(%s)" % [kind, url])
	pollables.append(c)
	return c


func test_listen_takes_ipv4_and_ipv6_clients() -> void:
	var server := WebSocketServer.new()
	check_eq(server.listen(0), OK, "listen(0) on the default bind address")
	pollables.append(server)
	var got: Array = []
	var weak: WeakRef = weakref(server)
	server.data_received.connect(func(id: int) -> void:
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		while peer.get_available_packet_count() > 0:
			got.append(peer.get_packet().get_string_from_utf8()))
	var port := server.get_local_port()
	for pattern in URLS:
		for kind in ["ours", "engine"]:
			var url: String = pattern % port
			var c = _client(kind, url)
			if not await wait_until(func(): return c.get_ready_state() != WebSocketPeer.STATE_CONNECTING, "%s client at %s settles" % [kind, url]):
				continue
			if not check_eq(c.get_ready_state(), WebSocketPeer.STATE_OPEN, "%s client at %s is open" % [kind, url]):
				continue
			var text := "%s via %s" % [kind, url]
			c.send_text(text)
			await wait_until(func(): return got.has(text), "the server received '%s'" % text)
	check_eq(server.get_peer_ids().size(), 4, "clients connected over both families")


func test_create_server_takes_ipv4_and_ipv6_clients() -> void:
	var server: MultiplayerPeer = ClassDB.instantiate("RustWebSocketMultiplayerPeer")
	check_eq(server.create_server(0), OK, "create_server(0) on the default bind address")
	pollables.append(server)
	var port: int = server.get_local_port()
	var clients: Array = []
	for pattern in URLS:
		for kind in ["ours", "engine"]:
			var url: String = pattern % port
			var c: MultiplayerPeer = ClassDB.instantiate("RustWebSocketMultiplayerPeer") if kind == "ours" else WebSocketMultiplayerPeer.new()
			check_eq(c.create_client(url), OK, "%s create_client(%s)" % [kind, url])
			pollables.append(c)
			clients.append(c)
			await wait_until(func(): return c.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, "%s multiplayer client at %s connects" % [kind, url])
	var ids := {}
	for c in clients:
		ids[c.get_unique_id()] = true
	check_eq(ids.size(), 4, "four distinct peer ids")
	# Multiplayer peers close without arguments: closed here, not by the suite's cleanup().
	for p in pollables:
		p.close()
	pollables.clear()


## A port another server holds: the engine's TCPServer answers ERR_ALREADY_IN_USE, and so do
## ours (listen and create_server), rather than listening on one family alone.
func test_a_port_in_use_is_refused_like_the_engine() -> void:
	var holder := WebSocketServer.new()
	check_eq(holder.listen(0), OK, "the first server listens")
	var port := holder.get_local_port()
	var engine := TCPServer.new()
	check_eq(engine.listen(port), ERR_ALREADY_IN_USE, "the engine's TCPServer on the same port")
	var second := WebSocketServer.new()
	check_eq(second.listen(port), ERR_ALREADY_IN_USE, "WebSocketServer.listen on the same port")
	check(not second.is_listening(), "the second server is not listening")
	var mp: MultiplayerPeer = ClassDB.instantiate("RustWebSocketMultiplayerPeer")
	check_eq(mp.create_server(port), ERR_ALREADY_IN_USE, "create_server on the same port")
	holder.stop()


## In the v6-only namespace: the OS default there is IPV6_V6ONLY on, which "*" must not inherit
## (the Rust test `inside_a_v6only_namespace` shows a plain `[::]` socket refusing IPv4 there).
func test_the_namespace_defaults_to_v6_only() -> void:
	if not _v6only_expected():
		print("  (runs in the dual-stack stage's namespace only)")
		return
	# FileAccess reads /proc files as empty (their size is 0): ask sysctl.
	var out := []
	OS.execute("sysctl", ["-n", "net.ipv6.bindv6only"], out)
	check_eq("".join(out).strip_edges(), "1", "net.ipv6.bindv6only in this namespace")
