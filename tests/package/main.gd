extends Node
## The package test's game: the addon as unzipped from the release archive, used as a user
## would. A WebSocketServer on 127.0.0.1 and a client made by the addon's RustWebSocket helper
## (a RustWebSocketPeer where the extension is loaded) exchange one message each way, then the
## client closes with 1000. Each step prints a "package test: " line that xtask checks; the exit
## code is 0 only when every step happened within the time limit.

const TIMEOUT_MS := 15000
const CLOSE_REASON := "package test done"

var _server := WebSocketServer.new()
var _client  # untyped: PacketPeer lacks the WebSocket methods
var _server_got := ""
var _client_got := ""
var _close_request := ""
var _disconnect_clean := -1


func _ready() -> void:
	var info := Engine.get_version_info()
	_say("Godot %d.%d.%d" % [info.major, info.minor, info.patch])
	_client = RustWebSocket.new_peer()
	_say("helper: native %s, client class %s" % [RustWebSocket.is_native(), _client.get_class()])
	if not _client is RustWebSocketPeer:
		return _fail("the RustWebSocket helper did not hand out a RustWebSocketPeer")
	_server.data_received.connect(_on_server_data)
	_server.client_close_request.connect(func(_id, code, reason): _close_request = "%d '%s'" % [code, reason])
	_server.client_disconnected.connect(func(_id, clean): _disconnect_clean = int(clean))
	if _server.listen(0, "127.0.0.1") != OK:
		return _fail("the server could not listen")
	_say("server listening on port %d" % _server.get_local_port())
	if _client.connect_to_url("ws://127.0.0.1:%d/" % _server.get_local_port()) != OK:
		return _fail("the client could not start connecting")
	await _exchange()


func _exchange() -> void:
	var open := func(): return _client.get_ready_state() == WebSocketPeer.STATE_OPEN
	if not await _until(open, "client open"):
		return
	_client.send_text("ping from client")
	var replied := func(): return _client.get_available_packet_count() > 0
	if not await _until(replied, "reply to the client"):
		return
	_client_got = _client.get_packet().get_string_from_utf8()
	_say("server got '%s'" % _server_got)
	_say("client got '%s'" % _client_got)
	_client.close(1000, CLOSE_REASON)
	var closed := func(): return _client.get_ready_state() == WebSocketPeer.STATE_CLOSED and _disconnect_clean != -1
	if not await _until(closed, "closing handshake"):
		return
	_say("server close request: %s" % _close_request)
	_say("client closed: code %d, reason '%s'" % [_client.get_close_code(), _client.get_close_reason()])
	_say("server disconnect clean: %s" % bool(_disconnect_clean))
	_server.stop()
	var ok: bool = (
		_server_got == "ping from client"
		and _client_got == "pong from server"
		and _close_request == "1000 '%s'" % CLOSE_REASON
		and _client.get_close_code() == 1000
		and _disconnect_clean == 1
	)
	_say("PASSED" if ok else "FAILED")
	get_tree().quit(0 if ok else 1)


func _on_server_data(id: int) -> void:
	_server_got = _server.get_peer(id).get_packet().get_string_from_utf8()
	_server.get_peer(id).send_text("pong from server")


## Polls both ends every frame until `done` holds; false (after failing the run) at the time limit.
func _until(done: Callable, what: String) -> bool:
	var deadline := Time.get_ticks_msec() + TIMEOUT_MS
	while not done.call():
		if Time.get_ticks_msec() > deadline:
			_fail("timed out waiting for: " + what)
			return false
		await get_tree().process_frame
		_server.poll()
		_client.poll()
	return true


func _say(what: String) -> void:
	print("package test: " + what)


func _fail(why: String) -> void:
	_say("FAILED: " + why)
	get_tree().quit(1)
