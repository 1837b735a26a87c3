extends RefCounted
## A scripted WebSocket client for tests, on the engine's StreamPeerTCP: it performs the upgrade
## by hand, decodes every frame the server sends (kept in order, with its opcode), and sends any
## bytes a scenario lists (well-formed masked frames, or garbage). Pollable.
##
## Not a class_name on purpose: load it with preload("res://lib/raw_ws_client.gd").

const WsFrames := preload("res://lib/ws_frames.gd")

var tcp := StreamPeerTCP.new()
## Extra request header lines, each ending in "\r\n".
var extra_headers := ""
## The server's response head ("" until it arrived).
var response := ""
## Every complete frame from the server: [opcode, payload].
var frames: Array = []
## Every byte the server sent after its response head.
var body := PackedByteArray()
## True once the TCP connection was closed or reset (after having connected).
var closed := false

var _sent_request := false
var _head := PackedByteArray()
## Where the frames not yet in `frames` start in `body`.
var _read := 0
var _was_connected := false


func connect_to(port: int) -> int:
	return tcp.connect_to_host("127.0.0.1", port)


func poll() -> void:
	if closed:
		return
	tcp.poll()
	var st := tcp.get_status()
	if st == StreamPeerTCP.STATUS_CONNECTED:
		_was_connected = true
		if not _sent_request:
			_sent_request = true
			var req := "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n" % extra_headers
			tcp.put_data(req.to_ascii_buffer())
		var n := tcp.get_available_bytes()
		if n > 0:
			_take(tcp.get_partial_data(n)[1])
	elif st != StreamPeerTCP.STATUS_CONNECTING and (_was_connected or st == StreamPeerTCP.STATUS_ERROR):
		closed = true


## True once a 101 answer arrived.
func upgraded() -> bool:
	return response.begins_with("HTTP/1.1 101")


## Sends one masked frame (as a client must).
func send_frame(opcode: int, payload: PackedByteArray) -> void:
	tcp.put_data(WsFrames.encode(opcode, payload, true, 0, true))


## Sends raw bytes as they are.
func send_raw(bytes: PackedByteArray) -> void:
	tcp.put_data(bytes)


func disconnect_now() -> void:
	tcp.disconnect_from_host()
	closed = true


func _take(data: PackedByteArray) -> void:
	if response.is_empty():
		_head.append_array(data)
		var text := _head.get_string_from_ascii()
		var end := text.find("\r\n\r\n")
		if end < 0:
			return
		response = text.substr(0, end + 4)
		data = _head.slice(end + 4)
	body.append_array(data)
	var r := WsFrames.read(body, _read)
	for f in r[0]:
		frames.append([f[2], f[3]])
	_read = r[1]
