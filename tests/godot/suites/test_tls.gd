extends TestSuite
## wss:// with certificates made by Godot's own Crypto (self-signed, CN only, as most Godot
## projects make them), for our server, our client, the engine's client, and accept_stream over
## the engine's StreamPeerTLS.

var key: CryptoKey
var cert: X509Certificate


func _init() -> void:
	var crypto := Crypto.new()
	key = crypto.generate_rsa(2048)
	cert = crypto.generate_self_signed_certificate(key, "CN=localhost,O=godot-rust-websocket tests,C=IT")


func _tls_echo_server() -> WebSocketServer:
	var server := WebSocketServer.new()
	check_eq(server.listen(0, "127.0.0.1", TLSOptions.server(key, cert)), OK, "listen with TLS")
	var weak: WeakRef = weakref(server)
	server.data_received.connect(func(id: int) -> void:
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		while peer.get_available_packet_count() > 0:
			peer.send(peer.get_packet(), RustWebSocketPeer.WRITE_MODE_TEXT))
	pollables.append(server)
	return server


## Connects `client` to `url`; returns the state it settles in (1 open, 3 closed).
func _attempt(client, url: String, tls: TLSOptions) -> int:
	check_eq(client.connect_to_url(url, tls), OK, "connect_to_url " + url)
	pollables.append(client)
	await wait_until(func(): return client.get_ready_state() != 0, "settled: " + url)
	return client.get_ready_state()


func _echo_over(client) -> void:
	client.send_text("secret")
	if await wait_until(func(): return client.get_available_packet_count() > 0, "echo over TLS"):
		check_eq(client.get_packet().get_string_from_utf8(), "secret", "echo over TLS")


func test_our_client_and_the_engines_trust_a_pinned_godot_certificate() -> void:
	var server := _tls_echo_server()
	var url := "wss://localhost:%d/tls" % server.get_local_port()
	for client in [RustWebSocketPeer.new(), WebSocketPeer.new()]:
		if check_eq(await _attempt(client, url, TLSOptions.client(cert)), 1, "%s opens" % client.get_class()):
			await _echo_over(client)
			var log := []
			check(server.get_peer_ids().size() >= 1, "server lists the peer")
			check_eq(server.get_peer(server.get_peer_ids()[-1]).get_requested_url(), url, "server sees a wss URL")
			client.close(1000, "tls done")
			await wait_until(func(): return client.get_ready_state() == 3, "closed")
			check_eq(client.get_close_code(), 1000, "clean TLS close of " + client.get_class())


func test_hostname_is_checked_and_can_be_overridden() -> void:
	var server := _tls_echo_server()
	var url_ip := "wss://127.0.0.1:%d/" % server.get_local_port()
	check_eq(await _attempt(RustWebSocketPeer.new(), url_ip, TLSOptions.client(cert)), 3, "CN localhost does not match 127.0.0.1")
	check_eq(await _attempt(RustWebSocketPeer.new(), url_ip, TLSOptions.client(cert, "localhost")), 1, "common_name_override")
	check_eq(await _attempt(RustWebSocketPeer.new(), url_ip, TLSOptions.client_unsafe(cert)), 1, "client_unsafe(chain) skips the name")
	check_eq(await _attempt(RustWebSocketPeer.new(), url_ip, TLSOptions.client_unsafe()), 1, "client_unsafe() accepts anything")


func test_untrusted_and_expired_certificates_are_rejected() -> void:
	var server := _tls_echo_server()
	var url := "wss://localhost:%d/" % server.get_local_port()
	var peer := RustWebSocketPeer.new()
	check_eq(await _attempt(peer, url, null), 3, "default trust (the OS store) rejects a self-signed certificate")
	check_eq(peer.get_close_code(), -1, "unclean")
	var other := Crypto.new().generate_self_signed_certificate(Crypto.new().generate_rsa(2048), "CN=localhost")
	check_eq(await _attempt(RustWebSocketPeer.new(), url, TLSOptions.client(other)), 3, "another certificate is not trusted")
	# An expired certificate, trusted but out of date.
	var old := Crypto.new().generate_self_signed_certificate(key, "CN=localhost", "20010101000000", "20020101000000")
	var old_server := WebSocketServer.new()
	check_eq(old_server.listen(0, "127.0.0.1", TLSOptions.server(key, old)), OK, "listen with an expired certificate")
	pollables.append(old_server)
	var url_old := "wss://localhost:%d/" % old_server.get_local_port()
	check_eq(await _attempt(RustWebSocketPeer.new(), url_old, TLSOptions.client(old)), 3, "expired certificate rejected by us")
	check_eq(await _attempt(WebSocketPeer.new(), url_old, TLSOptions.client(old)), 3, "expired certificate rejected by the engine")


func test_wrong_tls_options_are_refused() -> void:
	var peer := RustWebSocketPeer.new()
	check_eq(peer.connect_to_url("wss://localhost:1/", TLSOptions.server(key, cert)), ERR_INVALID_PARAMETER, "server options on a client")
	var server := WebSocketServer.new()
	check_eq(server.listen(0, "127.0.0.1", TLSOptions.client()), ERR_INVALID_PARAMETER, "client options on a server")
	check(not server.is_listening(), "not listening")


func test_plain_client_against_tls_server_fails_and_server_keeps_serving() -> void:
	var server := _tls_echo_server()
	var plain := RustWebSocketPeer.new()
	check_eq(await _attempt(plain, "ws://localhost:%d/" % server.get_local_port(), null), 3, "plain ws to a wss server fails")
	var good := RustWebSocketPeer.new()
	if check_eq(await _attempt(good, "wss://localhost:%d/" % server.get_local_port(), TLSOptions.client(cert)), 1, "then a TLS client opens"):
		await _echo_over(good)


func test_accept_stream_over_engine_stream_peer_tls() -> void:
	var tcp := TCPServer.new()
	check_eq(tcp.listen(0, "127.0.0.1"), OK, "TCPServer.listen")
	var server_peer := RustWebSocketPeer.new()
	var client := WebSocketPeer.new()
	check_eq(client.connect_to_url("wss://localhost:%d/over-tls" % tcp.get_local_port(), TLSOptions.client(cert)), OK, "engine client connects")
	var state := {"tls": null, "accepted": false}
	var pump := func() -> void:
		if state["tls"] == null and tcp.is_connection_available():
			var tls := StreamPeerTLS.new()
			check_eq(tls.accept_stream(tcp.take_connection(), TLSOptions.server(key, cert)), OK, "StreamPeerTLS.accept_stream")
			state["tls"] = tls
			check_eq(server_peer.accept_stream(tls), OK, "RustWebSocketPeer.accept_stream(StreamPeerTLS)")
		client.poll()
		server_peer.poll()
		while server_peer.get_available_packet_count() > 0:
			server_peer.send(server_peer.get_packet(), RustWebSocketPeer.WRITE_MODE_TEXT)
	if not await wait_until(func(): pump.call(); return client.get_ready_state() == 1 and server_peer.get_ready_state() == 1, "open over StreamPeerTLS"):
		tcp.stop()
		return
	check_eq(server_peer.get_requested_url(), "wss://localhost:%d/over-tls" % tcp.get_local_port(), "server side URL is wss")
	client.send_text("through the engine's TLS")
	if await wait_until(func(): pump.call(); return client.get_available_packet_count() > 0, "echo"):
		check_eq(client.get_packet().get_string_from_utf8(), "through the engine's TLS", "echo")
	client.close(4100, "tls stream done")
	if await wait_until(func(): pump.call(); return server_peer.get_ready_state() == 3, "server peer closed"):
		check_eq(server_peer.get_close_code(), 4100, "close code through accept_stream")
	client.close(-1)
	tcp.stop()


## A server certificate chain (server certificate + intermediate CA) loaded from a .crt file:
## the whole chain must reach the client, which trusts only the root. The engine's
## X509Certificate.save_to_string() would repeat the first certificate; we read the file.
## `cargo xtask test` writes res://certs/ (a fresh root, intermediate and localhost certificate).
func test_certificate_chain_from_a_file() -> void:
	if not FileAccess.file_exists("res://certs/chain.crt"):
		check(false, "res://certs/ missing: run through cargo xtask test")
		return
	var chain: X509Certificate = load("res://certs/chain.crt")
	var root := X509Certificate.new()
	check_eq(root.load("res://certs/ca.crt"), OK, "load the root")
	var chain_key := CryptoKey.new()
	check_eq(chain_key.load("res://certs/server.key"), OK, "load the key")
	var server := WebSocketServer.new()
	check_eq(server.listen(0, "127.0.0.1", TLSOptions.server(chain_key, chain)), OK, "listen with the chain")
	pollables.append(server)
	var url := "wss://localhost:%d/chain" % server.get_local_port()
	check_eq(await _attempt(RustWebSocketPeer.new(), url, TLSOptions.client(root)), 1, "our client verifies the chain up to the root")
	check_eq(await _attempt(WebSocketPeer.new(), url, TLSOptions.client(root)), 1, "the engine's client verifies it too")
	check_eq(await _attempt(RustWebSocketPeer.new(), url, TLSOptions.client(cert)), 3, "an unrelated certificate is not trusted")
