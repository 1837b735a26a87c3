class_name TestSuite
extends Node
## Base of every suite: non-aborting checks, and waiting loops that poll the objects under test.

var failures: Array[String] = []
## Objects with a poll() method, polled every frame while a test waits.
var pollables: Array = []


func check(cond: bool, what: String) -> bool:
	if not cond:
		failures.append(what)
	return cond


func check_eq(actual, expected, what: String) -> bool:
	if typeof(actual) != typeof(expected) or actual != expected:
		failures.append("%s: expected %s, got %s" % [what, var_to_str(expected), var_to_str(actual)])
		return false
	return true


## Polls `pollables` every frame until `cond` returns true; records a failure after `timeout_s`.
func wait_until(cond: Callable, what: String, timeout_s := 5.0) -> bool:
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while true:
		for p in pollables:
			p.poll()
		if cond.call():
			return true
		if Time.get_ticks_msec() > deadline:
			failures.append("timed out waiting for: " + what)
			return false
		await get_tree().process_frame
	return false


## Called by the runner after each test: closes what the test left open.
func cleanup() -> void:
	for p in pollables:
		if p.has_method("stop"):
			p.stop()
		elif p is MultiplayerPeer:
			p.close()
		elif p.has_method("close"):
			p.close(-1)
	pollables.clear()


## A WebSocketServer on 127.0.0.1 with a free port, echoing every message with its type.
func echo_server() -> WebSocketServer:
	var server := WebSocketServer.new()
	check_eq(server.listen(0, "127.0.0.1"), OK, "listen")
	# A weak reference: a lambda holding the server itself would make a reference cycle.
	var weak: WeakRef = weakref(server)
	server.data_received.connect(func(id: int) -> void:
		var peer: RustWebSocketPeer = weak.get_ref().get_peer(id)
		while peer.get_available_packet_count() > 0:
			var pkt := peer.get_packet()
			peer.send(pkt, RustWebSocketPeer.WRITE_MODE_TEXT if peer.was_string_packet() else RustWebSocketPeer.WRITE_MODE_BINARY))
	pollables.append(server)
	return server


## Records every signal of `server` into `log` as arrays: [name, args...].
func record(server: WebSocketServer, log: Array) -> void:
	server.client_connected.connect(func(id, proto): log.append(["connected", id, proto]))
	server.client_disconnected.connect(func(id, clean): log.append(["disconnected", id, clean]))
	server.client_close_request.connect(func(id, code, reason): log.append(["close_request", id, code, reason]))
	server.data_received.connect(func(id): log.append(["data", id]))


func count(log: Array, kind: String) -> int:
	return log.filter(func(e): return e[0] == kind).size()


func find(log: Array, kind: String) -> Array:
	for e in log:
		if e[0] == kind:
			return e
	return []
