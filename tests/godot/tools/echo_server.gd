extends Node
## Echo server for external test drivers (Autobahn|Testsuite fuzzingclient, the hostile-input
## and soak drivers, third-party clients): a WebSocketServer that sends every message back with
## the same text/binary type, polled as fast as the engine allows.
##
## Arguments after `--`: `--port=N` (0 = any; the chosen port is printed as `LISTENING <port>`),
## `--tls` (wss with a throwaway self-signed certificate for CN=localhost, written to
## user://echo_cert.crt), `--protocols=a,b`, `--inbound=BYTES`, `--outbound=BYTES`,
## `--verbose` (print each connect and close), `--quit-after=S` (seconds; 0 = run until
## killed), `--compression` (accept permessage-deflate; off unless asked, so that the other
## drivers see the default server) with `--compression-threshold=BYTES`. A text message
## `__quit__` stops the server and quits, so that drivers can end it cleanly (and the log shows
## any leak at exit).
##
## `--engine`: the engine's own server instead, `TCPServer` + `WebSocketPeer.accept_stream`
## with the same buffer sizes (the Autobahn|Testsuite's reference runs); it only echoes.
##
## Control messages for the drivers (text, never echoed as data):
## - `__mark__ LABEL`: prints `MARK LABEL`, then sends the message back. Once the sender has the
##   answer, everything the server logged before is in its output, ahead of the mark (stdout is
##   flushed on every print, `run/flush_stdout_on_print`, and warnings go to unbuffered stderr):
##   the drivers bracket each case with `begin`/`end` marks so that each case's expected log
##   lines are looked for between its own marks.
## - `__peers__`: answers `PEERS N`, the number of connected clients (the asker included).

const Args := preload("res://tools/args.gd")

var server := WebSocketServer.new()
var quit_at := 0
var messages := 0
var engine_tcp: TCPServer
var engine_peers: Array[WebSocketPeer] = []


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	if args.has("engine"):
		_listen_engine(int(args.get("port", "0")))
		return
	# Autobahn sends messages of up to 16 MiB and thousands of fragments.
	server.inbound_buffer_size = int(args.get("inbound", str(64 * 1024 * 1024)))
	server.outbound_buffer_size = int(args.get("outbound", "0"))
	server.max_queued_packets = 1 << 20
	server.max_peers = 100000
	if args.has("protocols"):
		server.supported_protocols = PackedStringArray(args["protocols"].split(","))
	if args.has("compression"):
		server.compression_enabled = true
	if args.has("compression-threshold"):
		server.compression_threshold = int(args["compression-threshold"])
	server.data_received.connect(_on_data)
	if args.has("verbose"):
		server.client_connected.connect(func(id, proto): print("CONNECTED %d '%s'" % [id, proto]))
		server.client_close_request.connect(func(_id, code, reason): print("CLOSE_REQUEST %d %s" % [code, reason]))
		server.client_disconnected.connect(func(_id, clean): print("DISCONNECTED clean=%s" % clean))
	var tls: TLSOptions = null
	if args.has("tls"):
		var crypto := Crypto.new()
		var key := crypto.generate_rsa(2048)
		var cert := crypto.generate_self_signed_certificate(key, "CN=localhost")
		cert.save("user://echo_cert.crt")
		print("CERT ", ProjectSettings.globalize_path("user://echo_cert.crt"))
		tls = TLSOptions.server(key, cert)
	var err := server.listen(int(args.get("port", "0")), "127.0.0.1", tls)
	if err != OK:
		printerr("echo_server: listen failed: ", error_string(err))
		get_tree().quit(1)
		return
	print("LISTENING ", server.get_local_port())
	print("PID ", OS.get_process_id())
	var q := float(args.get("quit-after", "0"))
	if q > 0:
		quit_at = Time.get_ticks_msec() + int(q * 1000.0)


func _on_data(id: int) -> void:
	var peer: RustWebSocketPeer = server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var pkt := peer.get_packet()
		if peer.was_string_packet() and pkt.size() >= 8 and pkt.slice(0, 2) == PackedByteArray([95, 95]):
			var text := pkt.get_string_from_utf8()
			if text == "__quit__":
				print("QUIT after %d messages" % messages)
				server.stop()
				get_tree().quit(0)
				return
			if text.begins_with("__mark__ "):
				print("MARK ", text.trim_prefix("__mark__ "))
				peer.send_text(text)
				continue
			if text == "__peers__":
				peer.send_text("PEERS %d" % server.get_peer_ids().size())
				continue
		var mode := RustWebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else RustWebSocketPeer.WRITE_MODE_BINARY
		peer.send(pkt, mode)
		messages += 1


func _process(_delta: float) -> void:
	if engine_tcp:
		_poll_engine()
		return
	server.poll()
	if quit_at > 0 and Time.get_ticks_msec() > quit_at:
		server.stop()
		get_tree().quit(0)


func _listen_engine(port: int) -> void:
	engine_tcp = TCPServer.new()
	var err := engine_tcp.listen(port, "127.0.0.1")
	if err != OK:
		printerr("echo_server: listen failed: ", error_string(err))
		get_tree().quit(1)
		return
	print("LISTENING ", engine_tcp.get_local_port())


func _poll_engine() -> void:
	while engine_tcp.is_connection_available():
		var peer := WebSocketPeer.new()
		peer.inbound_buffer_size = 64 * 1024 * 1024
		peer.outbound_buffer_size = 64 * 1024 * 1024
		peer.max_queued_packets = 1 << 16
		peer.accept_stream(engine_tcp.take_connection())
		engine_peers.append(peer)
	for peer: WebSocketPeer in engine_peers.duplicate():
		peer.poll()
		while peer.get_ready_state() == WebSocketPeer.STATE_OPEN and peer.get_available_packet_count() > 0:
			var pkt := peer.get_packet()
			peer.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
		if peer.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			engine_peers.erase(peer)
