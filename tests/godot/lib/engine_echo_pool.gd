extends RefCounted
## An echo server made of the engine's TCPServer and WebSocketPeer (independent of the code under
## test), for any number of clients: each message goes back to its sender with its type. Pollable.
## (lib/engine_echo_server.gd is the one-client server the tutorial writes.)
##
## Not a class_name on purpose: load it with preload("res://lib/engine_echo_pool.gd").

## A handshake not done after this long is dropped. The engine's peer never gives up on a
## request it refuses (over 4 KiB, for one): it prints an error on every poll.
const HANDSHAKE_MS := 500
## After this long in the handshake, a peer is polled only every THROTTLE_MS.
const FREE_MS := 20
const THROTTLE_MS := 5

var tcp := TCPServer.new()
var peers: Array[WebSocketPeer] = []
var _since := {}
var _polled := {}


func _init() -> void:
	tcp.listen(0, "127.0.0.1")


func url() -> String:
	return "ws://127.0.0.1:%d/" % tcp.get_local_port()


func poll() -> void:
	var now := Time.get_ticks_msec()
	while tcp.is_connection_available():
		var p := WebSocketPeer.new()
		p.accept_stream(tcp.take_connection())
		peers.append(p)
		_since[p] = now
	for p: WebSocketPeer in peers.duplicate():
		if p.get_ready_state() == WebSocketPeer.STATE_CONNECTING:
			var age: int = now - _since[p]
			if age > HANDSHAKE_MS:
				_drop(p)
				continue
			if age > FREE_MS and now - _polled.get(p, 0) < THROTTLE_MS:
				continue
			_polled[p] = now
		p.poll()
		while p.get_ready_state() == WebSocketPeer.STATE_OPEN and p.get_available_packet_count() > 0:
			var pkt := p.get_packet()
			p.send(pkt, WebSocketPeer.WRITE_MODE_TEXT if p.was_string_packet() else WebSocketPeer.WRITE_MODE_BINARY)
		if p.get_ready_state() == WebSocketPeer.STATE_CLOSED:
			_drop(p)


func _drop(p: WebSocketPeer) -> void:
	p.close(-1)
	peers.erase(p)
	_since.erase(p)
	_polled.erase(p)


func drop_all() -> void:
	for p in peers.duplicate():
		_drop(p)


func stop() -> void:
	drop_all()
	tcp.stop()
