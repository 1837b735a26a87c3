class_name RawServer
extends RefCounted
## A scripted WebSocket server for tests, built on the engine's TCPServer: it performs the
## upgrade by hand (or answers whatever a test says), sends the raw bytes a scenario lists, and
## records everything the client sends.

const GUID := "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
const WsFrames := preload("res://lib/ws_frames.gd")

var tcp := TCPServer.new()
var conn: StreamPeerTCP
## The client's request head, as received.
var request := ""
## Bytes the client sent after the upgrade.
var inbound := PackedByteArray()
## Every byte the client sent, the request head included.
var received := PackedByteArray()
## Sent instead of a correct 101 when set; "{accept}" is replaced by the correct accept key.
var response_override := ""
## Sec-WebSocket-Protocol answered ("" sends no header).
var protocol := ""
## Raw bytes sent, in one write, right after the 101 response.
var after_handshake := PackedByteArray()
## Close the TCP connection right after `after_handshake`.
var drop_after_send := false
## Read what the client sends after the upgrade (false: leave it unread in the socket).
var read_after_upgrade := true
## Answer the client's pings with pongs and its close frame with a close frame (then hang up).
var echo_control := false
var upgraded := false
## The client closed (or reset) the TCP connection; everything it sent before is in `inbound`.
var client_gone := false
## Pongs sent by `echo_control`.
var pongs_sent := 0
var _head := PackedByteArray()
var _hung_up := false
var _answered := 0


func listen() -> int:
	tcp.listen(0, "127.0.0.1")
	return tcp.get_local_port()


func poll() -> void:
	if conn == null and tcp.is_connection_available():
		conn = tcp.take_connection()
	if conn == null:
		return
	if _hung_up:
		return
	conn.poll()
	if conn.get_status() != StreamPeerTCP.STATUS_CONNECTED:
		client_gone = true
		return
	if upgraded and not read_after_upgrade:
		return
	var n := conn.get_available_bytes()
	if n <= 0:
		return
	var data: PackedByteArray = conn.get_partial_data(n)[1]
	received.append_array(data)
	if upgraded:
		inbound.append_array(data)
		if echo_control:
			_answer_control()
		return
	_head.append_array(data)
	var text := _head.get_string_from_ascii()
	var end := text.find("\r\n\r\n")
	if end < 0:
		return
	request = text.substr(0, end + 4)
	upgraded = true
	var accept := accept_key(header("Sec-WebSocket-Key"))
	var response := response_override.replace("{accept}", accept)
	if response.is_empty():
		response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % accept
		if not protocol.is_empty():
			response += "Sec-WebSocket-Protocol: %s\r\n" % protocol
		response += "\r\n"
	var out := response.to_ascii_buffer()
	out.append_array(after_handshake)
	conn.put_data(out)
	if drop_after_send:
		hang_up()


func send(bytes: PackedByteArray) -> void:
	conn.put_data(bytes)


## Closes the TCP connection from this side.
func hang_up() -> void:
	_hung_up = true
	conn.disconnect_from_host()


func stop() -> void:
	if conn != null:
		hang_up()
	tcp.stop()


## Bytes the client sent that are still unread in the socket.
func unread_bytes() -> int:
	return conn.get_available_bytes() if conn != null else 0


func _answer_control() -> void:
	var frames := decode_client_frames()
	while _answered < frames.size():
		var f: Array = frames[_answered]
		_answered += 1
		if f[0] == 9:
			conn.put_data(frame(10, f[1]))
			pongs_sent += 1
		elif f[0] == 8:
			conn.put_data(frame(8, f[1]))
			hang_up()
			return


## Value of a request header (case-insensitive name), or "".
func header(name: String) -> String:
	for line in request.split("\r\n"):
		var colon := line.find(":")
		if colon > 0 and line.substr(0, colon).strip_edges().to_lower() == name.to_lower():
			return line.substr(colon + 1).strip_edges()
	return ""


static func accept_key(key: String) -> String:
	var ctx := HashingContext.new()
	ctx.start(HashingContext.HASH_SHA1)
	ctx.update((key + GUID).to_utf8_buffer())
	return Marshalls.raw_to_base64(ctx.finish())


## One frame as a server sends it (unmasked unless `mask`).
static func frame(opcode: int, payload: PackedByteArray, fin := true, rsv := 0, mask := false) -> PackedByteArray:
	return WsFrames.encode(opcode, payload, fin, rsv, mask)


static func text(s: String) -> PackedByteArray:
	return frame(1, s.to_utf8_buffer())


static func close_frame(code: int, reason := "") -> PackedByteArray:
	var p := PackedByteArray([code >> 8, code & 0xFF])
	p.append_array(reason.to_utf8_buffer())
	return frame(8, p)


## The complete frames the client sent: [[opcode, payload (unmasked), masked], ...].
func decode_client_frames() -> Array:
	return WsFrames.decode(inbound).map(func(f): return [f[2], f[3], f[4]])


## The frames the client sent, as text: ["opcode payload-as-text", ...] ("close CODE reason").
func client_frames() -> Array[String]:
	var out: Array[String] = []
	for f in decode_client_frames():
		var opcode: int = f[0]
		var payload: PackedByteArray = f[1]
		var suffix := "" if f[2] else " (unmasked)"
		if opcode == 8 and payload.size() >= 2:
			out.append("close %d %s%s" % [(payload[0] << 8) | payload[1], payload.slice(2).get_string_from_utf8(), suffix])
		else:
			out.append("%s %s%s" % [["cont", "text", "binary", "3", "4", "5", "6", "7", "close", "ping", "pong"][opcode] if opcode <= 10 else str(opcode), payload.get_string_from_utf8(), suffix])
	return out
