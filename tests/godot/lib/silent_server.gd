extends RefCounted
## Accepts TCP connections on 127.0.0.1 and never answers: its WebSocket clients stay CONNECTING.
## Pollable.
##
## Not a class_name on purpose: load it with preload("res://lib/silent_server.gd").

var tcp := TCPServer.new()
var conns: Array[StreamPeerTCP] = []


func _init() -> void:
	tcp.listen(0, "127.0.0.1")


func url() -> String:
	return "ws://127.0.0.1:%d/" % tcp.get_local_port()


func poll() -> void:
	while tcp.is_connection_available():
		conns.append(tcp.take_connection())


func drop_all() -> void:
	for c in conns:
		c.disconnect_from_host()
	conns.clear()


func stop() -> void:
	drop_all()
	tcp.stop()
