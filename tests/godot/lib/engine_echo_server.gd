class_name EngineEchoServer
extends RefCounted
## A server built from the engine's own TCPServer + WebSocketPeer.accept_stream, echoing every
## message with its type, as the current Godot tutorial writes one. Pollable; one client.

var tcp := TCPServer.new()
var peer := WebSocketPeer.new()
var accepted := false


func listen() -> int:
	tcp.listen(0, "127.0.0.1")
	return tcp.get_local_port()


func url(path := "/") -> String:
	return "ws://127.0.0.1:%d%s" % [tcp.get_local_port(), path]


func poll() -> void:
	if not accepted and tcp.is_connection_available():
		peer.accept_stream(tcp.take_connection())
		accepted = true
	if not accepted:
		return
	peer.poll()
	while peer.get_ready_state() == WebSocketPeer.STATE_OPEN and peer.get_available_packet_count() > 0:
		var pkt := peer.get_packet()
		peer.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)


func stop() -> void:
	peer.close(-1)
	tcp.stop()
