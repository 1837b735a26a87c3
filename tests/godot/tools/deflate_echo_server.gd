extends Node
## Echo server with permessage-deflate (RFC 7692) for the interop drivers: a WebSocketServer
## that sends every message back with the same text/binary type, polled as fast as the engine
## allows. Third-party clients check what arrives on the wire; this server prints what it agreed.
##
## Arguments after `--`: `--port=N` (0 = any; printed as `LISTENING <port>`), `--compression=1|0`
## (`compression_enabled`, default 1), `--threshold=N` (`compression_threshold`, default 128).
##
## What it prints, for the drivers' per-case log checks:
## - `DEFLATE-EXT "<get_negotiated_extensions()>" id=<id>` when a client's first data message
##   arrives (control messages do not count, so the drivers' mark clients never print one),
## - `CLOSE_REQUEST <code> <reason>` when a client starts the closing handshake, followed by
##   `ECHOED <n> id=<id>` for a client that sent data: the messages echoed to it (all of its
##   messages came before its close frame); a client that leaves without a close frame gets its
##   `ECHOED` line when it is disconnected.
##
## Control messages (text, never echoed as data), as in `echo_server.gd`:
## - `__mark__ LABEL`: prints `MARK LABEL`, then sends the message back, so that once the sender
##   has the answer everything logged before is ahead of the mark;
## - `__quit__`: stops the server and quits.

const Args := preload("res://tools/args.gd")

var server := WebSocketServer.new()
var echoed := {}  # id -> messages echoed, for clients that sent data


func _ready() -> void:
	Args.full_speed()
	var args := Args.parse()
	server.inbound_buffer_size = 64 << 20
	server.outbound_buffer_size = 0
	server.max_queued_packets = 1 << 16
	server.compression_enabled = args.get("compression", "1") == "1"
	server.compression_threshold = int(args.get("threshold", "128"))
	server.data_received.connect(_on_data)
	server.client_close_request.connect(_on_close_request)
	server.client_disconnected.connect(func(id, _clean): _report_echoed(id))
	var err := server.listen(int(args.get("port", "0")), "127.0.0.1")
	if err != OK:
		printerr("deflate_echo_server: listen failed: ", error_string(err))
		get_tree().quit(1)
		return
	print("LISTENING ", server.get_local_port())
	print("PID ", OS.get_process_id())
	print("COMPRESSION enabled=%s threshold=%d" % [server.compression_enabled, server.compression_threshold])


func _on_data(id: int) -> void:
	var peer: RustWebSocketPeer = server.get_peer(id)
	while peer.get_available_packet_count() > 0:
		var pkt := peer.get_packet()
		var text := peer.was_string_packet()
		if text and pkt.size() >= 8 and pkt.slice(0, 2) == PackedByteArray([95, 95]):
			var s := pkt.get_string_from_utf8()
			if s == "__quit__":
				print("QUIT")
				server.stop()
				get_tree().quit(0)
				return
			if s.begins_with("__mark__ "):
				print("MARK ", s.trim_prefix("__mark__ "))
				peer.send_text(s)
				continue
		if not echoed.has(id):
			echoed[id] = 0
			print('DEFLATE-EXT "%s" id=%d' % [peer.get_negotiated_extensions(), id])
		var err := peer.send(pkt, RustWebSocketPeer.WRITE_MODE_TEXT if text else RustWebSocketPeer.WRITE_MODE_BINARY)
		if err != OK:
			printerr("deflate_echo_server: echo of a %d-byte message to %d failed: %s" % [pkt.size(), id, error_string(err)])
		else:
			echoed[id] += 1


func _on_close_request(id: int, code: int, reason: String) -> void:
	print("CLOSE_REQUEST %d %s" % [code, reason])
	_report_echoed(id)


func _report_echoed(id: int) -> void:
	if echoed.has(id):
		print("ECHOED %d id=%d" % [echoed[id], id])
		echoed.erase(id)


func _process(_delta: float) -> void:
	server.poll()
