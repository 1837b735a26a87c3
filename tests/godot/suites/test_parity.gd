extends TestSuite
## Differential tests: each scenario runs once with the engine's WebSocketPeer and once with
## RustWebSocketPeer, against the same kind of server, and records a trace (states seen, packets
## with their text/binary flag, return codes, close codes and reasons, requested URL, selected
## protocol, what the server received).
##
## Every scenario states what its trace must show (`_expect`): a broken echo server, a peer that
## never opens or a message that never arrives fails the test even when both peers agree. The
## two traces must also be equal, except for the documented improvements over the engine, which
## are asserted explicitly.

const ENGINE := "engine"
const OURS := "ours"

## A connection to a working server, as `_connect` records it.
const OPENED := ["connect_to_url -> 0", "state 0", "state 1"]
## `_close_clean` against a server that answers the close handshake.
const CLEAN_CLOSE := ["close(1000, 'done') -> state 2", "state 3", "closed 1000 'done'"]
## Trace lines that must all be expected: an extra packet or close is a failure.
const STRICT := ["pkt ", "closed "]

## Last state recorded per peer (instance id), so that a state is traced only when it changes.
var _traced := {}


func _make(kind: String):
	return WebSocketPeer.new() if kind == ENGINE else RustWebSocketPeer.new()


## Runs `scenario` (a method taking a peer kind and a trace array) for both peers; returns both
## traces, [engine, ours].
func _both(scenario: Callable) -> Array:
	var traces := []
	for kind in [ENGINE, OURS]:
		var trace := []
		_traced.clear()
		await scenario.call(kind, trace)
		cleanup()
		traces.append(trace)
	return traces


## Checks that `trace` holds the `expected` lines in this order (other lines may come between).
## An entry matches a line equal to it; "~text" matches a line containing text; "!text" (or
## "!~text") means no line is (or contains) text. Lines starting with a STRICT prefix must all be
## expected: an extra packet or close line fails.
func _expect(trace: Array, expected: Array, who: String) -> bool:
	trace = _as_compared(trace)
	expected = _as_compared(expected)
	var ok := true
	var at := 0
	var matched := {}
	for e: String in expected:
		if e.begins_with("!"):
			var bad := e.substr(1)
			for line: String in trace:
				if line == bad or (bad.begins_with("~") and line.contains(bad.substr(1))):
					ok = check(false, "%s: unexpected line '%s'" % [who, line])
			continue
		var found := -1
		for i in range(at, trace.size()):
			var line: String = trace[i]
			if line == e or (e.begins_with("~") and line.contains(e.substr(1))):
				found = i
				break
		if found < 0:
			ok = check(false, "%s: missing '%s'%s" % [who, e, "" if at == 0 else " after '%s'" % trace[at - 1]])
			continue
		matched[found] = true
		at = found + 1
	for i in trace.size():
		if not matched.has(i) and STRICT.any(func(p): return trace[i].begins_with(p)):
			ok = check(false, "%s: unexpected line '%s'" % [who, trace[i]])
	if not ok:
		failures.append("%s trace: %s" % [who, JSON.stringify(trace)])
	return ok


## Both traces must show `expected` (the engine's `engine_expected` when given), and be equal.
func _check(t: Array, expected: Array, engine_expected = null, equal := true) -> void:
	_expect(t[1], expected, "RustWebSocketPeer")
	_expect(t[0], expected if engine_expected == null else engine_expected, "WebSocketPeer (engine)")
	if equal:
		check_eq(_as_compared(t[1]), _as_compared(t[0]), "trace of RustWebSocketPeer (actual) vs WebSocketPeer (expected)")


## A trace as it is compared with the engine's. With the I/O thread the peer moves on between
## polls, so a passing state (CONNECTING, CLOSING) may be seen at one more or one fewer poll
## than the engine's: the states each poll settles on are compared, everything else line by line.
static func _as_compared(trace: Array) -> Array:
	return _settled(trace) if _threaded() else trace


## Whether our peers run their I/O thread (RUST_WEBSOCKET_IO_THREAD=1 flips every default).
static func _threaded() -> bool:
	return RustWebSocketPeer.new().io_thread


## `trace` without the "state N" lines directly followed by another "state" line, nor the
## "state 0" lines (CONNECTING, which the first poll may or may not see).
static func _settled(trace: Array) -> Array:
	var out := []
	for i in trace.size():
		var line: String = trace[i]
		var next: String = trace[i + 1] if i + 1 < trace.size() else ""
		if line != "state 0" and not (line.begins_with("state ") and next.begins_with("state ")):
			out.append(line)
	return out


## Runs the scenario for both peers and checks the traces (see `_check`).
func _same(scenario: Callable, expected: Array) -> void:
	_check(await _both(scenario), expected)


func _show(pkt: PackedByteArray, is_text: bool) -> String:
	var digest := ""
	if pkt.size() > 40:
		var ctx := HashingContext.new()
		ctx.start(HashingContext.HASH_SHA1)
		ctx.update(pkt)
		digest = " sha1 " + ctx.finish().hex_encode().substr(0, 12)
	if is_text:
		var s := pkt.get_string_from_utf8()
		return "t[%d] %s%s" % [pkt.size(), s.substr(0, 40), digest]
	return "b[%d] %s%s" % [pkt.size(), pkt.slice(0, 8).hex_encode(), digest]


## Polls `peer` (and the servers in `pollables`), recording each state change and every packet
## popped, until `done` returns true, the peer is CLOSED, or `timeout_s` passes. The close code
## and reason are recorded once per close, after the packets still readable.
func _run(peer, trace: Array, done := Callable(), timeout_s := 3.0) -> void:
	var key: int = peer.get_instance_id()
	var deadline := Time.get_ticks_msec() + int(timeout_s * 1000.0)
	while true:
		for p in pollables:
			p.poll()
		peer.poll()
		var st: int = peer.get_ready_state()
		var was: int = _traced.get(key, -1)
		if st != was:
			trace.append("state %d" % st)
			_traced[key] = st
		while peer.get_available_packet_count() > 0:
			var pkt: PackedByteArray = peer.get_packet()
			trace.append("pkt " + _show(pkt, peer.was_string_packet()))
		if st == 3:
			if st != was:
				trace.append("closed %d '%s'" % [peer.get_close_code(), peer.get_close_reason()])
			return
		if done.is_valid() and done.call():
			return
		if Time.get_ticks_msec() > deadline:
			trace.append("still in state %d after %.1f s" % [st, timeout_s])
			return
		await get_tree().process_frame


func _pkts(trace: Array, n: int) -> Callable:
	return func(): return trace.filter(func(e): return e.begins_with("pkt")).size() >= n


func _opened(peer) -> Callable:
	return func(): return peer.get_ready_state() != 0


## Connects `peer` to `url` and runs until it leaves CONNECTING.
func _connect(peer, url: String, trace: Array) -> void:
	trace.append("connect_to_url -> %d" % peer.connect_to_url(url))
	await _run(peer, trace, _opened(peer))


func _echo_url() -> String:
	return "ws://127.0.0.1:%d/" % echo_server().get_local_port()


func _raw(setup := Callable()) -> RawServer:
	var raw := RawServer.new()
	raw.listen()
	if setup.is_valid():
		setup.call(raw)
	pollables.append(raw)
	return raw


func _raw_url(raw: RawServer, path := "/") -> String:
	return "ws://127.0.0.1:%d%s" % [raw.tcp.get_local_port(), path]


func _close_clean(peer, trace: Array) -> void:
	peer.close(1000, "done")
	trace.append("close(1000, 'done') -> state %d" % peer.get_ready_state())
	await _run(peer, trace)


## Waits until the client has closed its TCP connection to `raw`, so that everything it sent
## (a close frame, or nothing) is in `raw.inbound`, then records it.
func _server_got(raw: RawServer, trace: Array) -> void:
	await wait_until(func(): return raw.client_gone, "the client closes the TCP connection")
	trace.append("server got %s" % [raw.client_frames()])


## What `record` logged, without the connection (the ids differ from run to run).
func _server_saw(log: Array) -> String:
	return "server saw %s" % [log.filter(func(e): return e[0] != "connected").map(func(e): return [e[0]] + e.slice(2))]


# --- Messages -------------------------------------------------------------------------------


func _sc_text(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("send_text -> %d" % peer.send_text("hello"))
	trace.append("send_text -> %d" % peer.send_text("héllo ✓ ünïcode"))
	await _run(peer, trace, _pkts(trace, 2))
	await _close_clean(peer, trace)


func test_text_messages() -> void:
	await _same(_sc_text, OPENED + [
		"send_text -> 0", "send_text -> 0", "pkt t[5] hello", "pkt t[20] héllo ✓ ünïcode"] + CLEAN_CLOSE)


func _sc_binary(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([0, 1, 2, 255])))
	trace.append("send bin -> %d" % peer.send(PackedByteArray([9, 9]), 1))
	trace.append("send bytes as text -> %d" % peer.send(PackedByteArray([65, 66]), 0))
	await _run(peer, trace, _pkts(trace, 3))
	await _close_clean(peer, trace)


func test_binary_messages_and_write_modes() -> void:
	await _same(_sc_binary, OPENED + [
		"put_packet -> 0", "send bin -> 0", "send bytes as text -> 0",
		"pkt b[4] 000102ff", "pkt b[2] 0909", "pkt t[2] AB"] + CLEAN_CLOSE)


func _sc_empty(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("send empty text -> %d" % peer.send(PackedByteArray(), 0))
	trace.append("send empty binary -> %d" % peer.send(PackedByteArray(), 1))
	trace.append("send_text empty -> %d" % peer.send_text(""))
	trace.append("marker -> %d" % peer.send_text("end"))
	await _run(peer, trace, _pkts(trace, 4))
	await _close_clean(peer, trace)


func test_empty_messages() -> void:
	await _same(_sc_empty, OPENED + [
		"send empty text -> 0", "send empty binary -> 0", "send_text empty -> 0", "marker -> 0",
		"pkt t[0] ", "pkt b[0] ", "pkt t[0] ", "pkt t[3] end"] + CLEAN_CLOSE)


func _big(n: int) -> PackedByteArray:
	var big := PackedByteArray()
	big.resize(n)
	for i in big.size():
		big[i] = (i * 7) % 256
	return big


func _sc_large(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	trace.append("send 60000 -> %d" % peer.send(_big(60000), 1))
	await _run(peer, trace, _pkts(trace, 1))
	await _close_clean(peer, trace)


func test_large_message() -> void:
	await _same(_sc_large, OPENED + ["send 60000 -> 0", "pkt " + _show(_big(60000), false)] + CLEAN_CLOSE)


func _sc_too_big(kind: String, trace: Array) -> void:
	var big := PackedByteArray()
	big.resize(70000)
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(2, big))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)
	await _server_got(raw, trace)


## Same close code and reason on both; we also deliver the 1009 close frame to the server, which
## the engine (4.6) does not always manage before it drops the connection.
func test_message_over_inbound_buffer_closes_1009() -> void:
	var t: Array = await _both(_sc_too_big)
	var local := ["connect_to_url -> 0", "state 0", "state 3", "closed 1009 'Message too big'"]
	_check(t, local + ["server got [\"close 1009 \"]"], local, false)
	check_eq(t[1].slice(0, -1), t[0].slice(0, -1), "local trace")


func _sc_fragmented(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := RawServer.frame(1, "Hel".to_utf8_buffer(), false)
		b.append_array(RawServer.frame(0, "lo ".to_utf8_buffer(), false))
		b.append_array(RawServer.frame(0, "world".to_utf8_buffer(), true))
		b.append_array(RawServer.frame(2, PackedByteArray([1]), false))
		b.append_array(RawServer.frame(0, PackedByteArray([2, 3]), true))
		r.after_handshake = b)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace, _pkts(trace, 2))


func test_fragmented_messages() -> void:
	await _same(_sc_fragmented, ["connect_to_url -> 0", "state 0", "pkt t[11] Hello world", "pkt b[3] 010203", "!state 3"])


func _sc_ping(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(9, "abc".to_utf8_buffer()))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace, func(): return raw.client_frames().size() >= 1, 1.0)
	trace.append("server got %s" % [raw.client_frames()])


func test_ping_is_answered_with_pong() -> void:
	await _same(_sc_ping, ["connect_to_url -> 0", "state 0", "server got [\"pong abc\"]", "!state 3"])


# --- Handshake ------------------------------------------------------------------------------


func _sc_request(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray([" chat ", "json"])
	peer.handshake_headers = PackedStringArray(["X-Token: abc123", "Cookie: a=b"])
	raw.protocol = "json"
	var url := _raw_url(raw, "/some/path?q=1&r=2")
	await _connect(peer, url, trace)
	var key := raw.header("Sec-WebSocket-Key")
	trace.append("key is 16 bytes in base64: %s" % (Marshalls.base64_to_raw(key).size() == 16))
	var req := raw.request.replace(key, "<key>").replace(":%d" % raw.tcp.get_local_port(), ":<port>")
	for line in req.split("\r\n"):
		trace.append("request: " + line)
	trace.append("supported_protocols %s" % [peer.supported_protocols])
	trace.append("selected '%s'" % peer.get_selected_protocol())
	trace.append("requested_url is the URL given: %s" % (peer.get_requested_url() == url))
	trace.append("connected_host %s" % peer.get_connected_host())
	trace.append("connected_port is the server's: %s" % (peer.get_connected_port() == raw.tcp.get_local_port()))
	trace.append("buffered %d" % peer.get_current_outbound_buffered_amount())


func test_request_bytes_headers_protocol_and_url() -> void:
	await _same(_sc_request, OPENED + [
		"key is 16 bytes in base64: true",
		"request: GET /some/path?q=1&r=2 HTTP/1.1",
		"request: Host: 127.0.0.1:<port>",
		"request: Upgrade: websocket",
		"request: Connection: Upgrade",
		"request: Sec-WebSocket-Key: <key>",
		"request: Sec-WebSocket-Version: 13",
		"request: Sec-WebSocket-Protocol: chat,json",
		"request: X-Token: abc123",
		"request: Cookie: a=b",
		"request: ", "request: ",  # the empty line that ends the head, then nothing
		"supported_protocols [\"chat\", \"json\"]",
		"selected 'json'",
		"requested_url is the URL given: true",
		"connected_host 127.0.0.1",
		"connected_port is the server's: true",
		"buffered 0"])


func _sc_protocol_selected(kind: String, trace: Array) -> void:
	var server := echo_server()
	server.supported_protocols = PackedStringArray(["b", "c"])
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray(["a", "b", "c"])
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	trace.append("selected '%s'" % peer.get_selected_protocol())
	await _close_clean(peer, trace)


func test_subprotocol_selected_in_client_order() -> void:
	await _same(_sc_protocol_selected, OPENED + ["selected 'b'"] + CLEAN_CLOSE)


func _sc_protocol_refused(kind: String, trace: Array) -> void:
	# Offered x; the server answers none, then (second connection) one it was not offered.
	for answer in ["", "zzz"]:
		var raw := _raw(func(r): r.protocol = answer)
		var peer = _make(kind)
		peer.supported_protocols = PackedStringArray(["x"])
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		trace.append("offered '%s', answered '%s'" % [raw.header("Sec-WebSocket-Protocol"), answer])
	# Offered none; the server answers one anyway.
	var raw2 := _raw(func(r): r.protocol = "zzz")
	var peer2 = _make(kind)
	await _connect(peer2, _raw_url(raw2), trace)
	await _run(peer2, trace)
	trace.append("offered '%s', answered 'zzz'" % raw2.header("Sec-WebSocket-Protocol"))


func test_subprotocol_mismatch_fails() -> void:
	var refused := ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"]
	await _same(_sc_protocol_refused, refused + ["offered 'x', answered ''"] + refused
		+ ["offered 'x', answered 'zzz'"] + refused + ["offered '', answered 'zzz'", "!state 1"])


func _sc_bad_responses(kind: String, trace: Array) -> void:
	var responses := [
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n",
	]
	for response in responses:
		var raw := _raw(func(r): r.response_override = response)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)


func test_bad_handshake_responses_fail() -> void:
	var refused := ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"]
	await _same(_sc_bad_responses, refused + refused + refused + ["!state 1"])


# --- Closing --------------------------------------------------------------------------------


func _sc_client_close(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	peer.close(4000, "bye now")
	trace.append("after close() state %d" % peer.get_ready_state())
	await _run(peer, trace)
	await wait_until(func(): return count(log, "disconnected") == 1, "the server reports the disconnection")
	trace.append(_server_saw(log))


func test_close_by_client() -> void:
	await _same(_sc_client_close, OPENED + [
		"after close() state 2", "state 3", "closed 4000 'bye now'",
		"server saw [[\"close_request\", 4000, \"bye now\"], [\"disconnected\", true]]"])


func _sc_server_close(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	await wait_until(func(): return count(log, "connected") == 1, "server connected")
	server.disconnect_peer(find(log, "connected")[1], 4001, "server bye")
	await _run(peer, trace)
	await wait_until(func(): return count(log, "disconnected") == 1, "the server reports the disconnection")
	trace.append(_server_saw(log))


func test_close_by_server() -> void:
	await _same(_sc_server_close, OPENED + [
		"state 3", "closed 4001 'server bye'", "server saw [[\"disconnected\", true]]"])


func _sc_close_no_code(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.after_handshake = RawServer.frame(8, PackedByteArray()))
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)
	await _server_got(raw, trace)


## A close frame without a status code: RFC 6455 section 7.1.5 (and browsers) report 1005; the
## engine reports 0. Everything else is the same.
func test_close_frame_without_code() -> void:
	var t: Array = await _both(_sc_close_no_code)
	var before := ["connect_to_url -> 0", "state 0", "state 3"]
	var after := ["server got [\"close \"]"]
	_check(t, before + ["closed 1005 ''"] + after, before + ["closed 0 ''"] + after, false)
	check_eq(_as_compared(t[1]), _as_compared(t[0].map(func(e): return e.replace("closed 0 ''", "closed 1005 ''"))), "trace (engine's 0 read as 1005)")


func _sc_close_code_zero(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.echo_control = true)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	peer.close(0, "zero")
	trace.append("after close(0) state %d" % peer.get_ready_state())
	# The server answers the client's close frame, so once the peer is closed the frame is in.
	await _run(peer, trace)
	trace.append("server got %s" % [raw.client_frames()])


## close(0): the engine (wslay) sends a close frame without a status code (0 is not a code that
## may appear on the wire, RFC 6455 section 7.4). The answer, a close frame without a code, reads
## 1005 on ours and 0 on the engine (see test_close_frame_without_code).
func test_close_code_zero_sends_a_close_without_code() -> void:
	var t: Array = await _both(_sc_close_code_zero)
	var before := OPENED + ["after close(0) state 2", "state 3"]
	var after := ["server got [\"close \"]"]
	_check(t, before + ["closed 1005 ''"] + after, before + ["closed 0 ''"] + after, false)
	check_eq(_as_compared(t[1]), _as_compared(t[0].map(func(e): return e.replace("closed 0 ''", "closed 1005 ''"))), "trace (engine's 0 read as 1005)")


func _sc_close_immediate(kind: String, trace: Array) -> void:
	var server := echo_server()
	var log := []
	record(server, log)
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	peer.close(-1)
	trace.append("after close(-1): state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])
	await wait_until(func(): return count(log, "disconnected") == 1, "server noticed")
	trace.append("server saw %s" % [find(log, "disconnected").slice(2)])


func test_close_negative_code_is_immediate() -> void:
	await _same(_sc_close_immediate, OPENED + ["after close(-1): state 3 code -1", "server saw [false]"])


func _sc_close_while_connecting(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	trace.append("connect -> %d state %d" % [peer.connect_to_url(_raw_url(raw)), peer.get_ready_state()])
	peer.close()
	trace.append("state %d code %d" % [peer.get_ready_state(), peer.get_close_code()])


func test_close_while_connecting() -> void:
	await _same(_sc_close_while_connecting, ["connect -> 0 state 0", "state 3 code -1"])


func _sc_remote_drop(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.drop_after_send = true)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	await _run(peer, trace)


func test_remote_drops_tcp() -> void:
	await _same(_sc_remote_drop, ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''"])


func _sc_tcp_reset(kind: String, trace: Array) -> void:
	var raw := _raw(func(r): r.read_after_upgrade = false)
	var peer = _make(kind)
	await _connect(peer, _raw_url(raw), trace)
	# The server leaves our message unread and closes: the kernel answers with a reset.
	trace.append("send_text -> %d" % peer.send_text("unread"))
	await wait_until(func(): return raw.unread_bytes() > 0, "the message reaches the server's socket")
	raw.hang_up()
	await _run(peer, trace)


func test_tcp_reset() -> void:
	await _same(_sc_tcp_reset, OPENED + ["send_text -> 0", "state 3", "closed -1 ''"])


func _protocol_error(bytes: PackedByteArray) -> Callable:
	return func(kind: String, trace: Array) -> void:
		var raw := _raw(func(r): r.after_handshake = bytes)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		await _server_got(raw, trace)


## What a peer does when it fails the connection with `code`: close, and tell the server.
func _failed_with(code: int, reason: String) -> Array:
	return ["connect_to_url -> 0", "state 0", "state 3", "closed %d '%s'" % [code, reason], "server got [\"close %d \"]" % code]


func test_reserved_bits_close_1002() -> void:
	await _same(_protocol_error(RawServer.frame(1, "x".to_utf8_buffer(), true, 4)), _failed_with(1002, "Protocol error"))


func test_masked_server_frame_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(1, "x".to_utf8_buffer(), true, 0, true)), _failed_with(1002, "Protocol error"))


func test_reserved_opcode_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(3, "x".to_utf8_buffer())), _failed_with(1002, "Protocol error"))


## A ping with 126 bytes of payload: RFC 6455 says fail with a close frame (1002), which we do;
## the engine drops the connection without one (close code -1).
func test_oversized_control_frame_closes_1002() -> void:
	var p := PackedByteArray()
	p.resize(126)
	var t: Array = await _both(_protocol_error(RawServer.frame(9, p)))
	_check(t, _failed_with(1002, "Protocol error"), ["connect_to_url -> 0", "state 0", "state 3", "closed -1 ''", "server got []"], false)


func test_continuation_without_start_closes_1002() -> void:
	await _same(_protocol_error(RawServer.frame(0, "x".to_utf8_buffer())), _failed_with(1002, "Protocol error"))


## Invalid UTF-8 in a text message fails the connection with 1007 (RFC 6455 section 8.1); the
## engine (4.6.3) does so too.
func test_invalid_utf8_text_closes_1007() -> void:
	await _same(_protocol_error(RawServer.frame(1, PackedByteArray([0x66, 0xFF, 0x6F]))), _failed_with(1007, "Invalid frame payload data"))


# --- Caps, errors, reuse ---------------------------------------------------------------------


func _sc_outbound_caps(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var b := PackedByteArray()
	b.resize(101)
	peer.outbound_buffer_size = 100
	trace.append("101 bytes, cap 100 -> %d" % peer.send(b, 1))
	trace.append("100 bytes, cap 100 -> %d" % peer.put_packet(b.slice(0, 100)))
	await _run(peer, trace, _pkts(trace, 1))
	b.resize(70000)
	peer.outbound_buffer_size = 65535
	trace.append("70000 bytes, cap 65535 -> %d" % peer.put_packet(b))
	peer.outbound_buffer_size = 0
	trace.append("70000 bytes, no cap -> %d" % peer.put_packet(b))
	# The echo server's inbound_buffer_size (65535) refuses it: 1009.
	await _run(peer, trace)


func _zeros(n: int) -> PackedByteArray:
	var b := PackedByteArray()
	b.resize(n)
	return b


func test_outbound_caps() -> void:
	await _same(_sc_outbound_caps, OPENED + [
		"101 bytes, cap 100 -> %d" % ERR_OUT_OF_MEMORY, "100 bytes, cap 100 -> 0", "pkt " + _show(_zeros(100), false),
		"70000 bytes, cap 65535 -> %d" % ERR_OUT_OF_MEMORY, "70000 bytes, no cap -> 0", "state 3", "closed 1009 ''"])


func _sc_not_open(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	trace.append("put_packet -> %d" % peer.put_packet(PackedByteArray([1])))
	trace.append("send_text -> %d" % peer.send_text("x"))
	trace.append("get_packet -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])
	trace.append("available %d buffered %d" % [peer.get_available_packet_count(), peer.get_current_outbound_buffered_amount()])
	trace.append("state %d code %d reason '%s' url '%s' proto '%s'" % [peer.get_ready_state(), peer.get_close_code(), peer.get_close_reason(), peer.get_requested_url(), peer.get_selected_protocol()])


func test_calls_on_a_closed_peer() -> void:
	await _same(_sc_not_open, [
		"put_packet -> %d" % FAILED, "send_text -> %d" % FAILED, "get_packet -> [] err %d" % FAILED,
		"available 0 buffered 0", "state 3 code -1 reason '' url '' proto ''"])


func _sc_bad_urls(kind: String, trace: Array) -> void:
	var key := Crypto.new().generate_rsa(1024)
	var cert := Crypto.new().generate_self_signed_certificate(key, "CN=localhost")
	for url in ["", "http://example.com", "ftp://x/", "wss://localhost:1/"]:
		var peer = _make(kind)
		var tls: TLSOptions = TLSOptions.server(key, cert) if url.begins_with("wss") else null
		trace.append("'%s' -> %d state %d" % [url, peer.connect_to_url(url, tls), peer.get_ready_state()])


func test_bad_urls_and_server_tls_options() -> void:
	var e := ERR_INVALID_PARAMETER
	await _same(_sc_bad_urls, ["'' -> %d state 3" % e, "'http://example.com' -> %d state 3" % e,
		"'ftp://x/' -> %d state 3" % e, "'wss://localhost:1/' -> %d state 3" % e])


func _sc_refused(kind: String, trace: Array) -> void:
	var tcp := TCPServer.new()
	tcp.listen(0, "127.0.0.1")
	var port := tcp.get_local_port()
	tcp.stop()
	var peer = _make(kind)
	await _connect(peer, "ws://127.0.0.1:%d/" % port, trace)
	await _run(peer, trace)


func test_connection_refused() -> void:
	await _same(_sc_refused, ["connect_to_url -> 0", "state 3", "closed -1 ''", "!state 1"])


func _sc_reuse(kind: String, trace: Array) -> void:
	var url := _echo_url()
	var peer = _make(kind)
	for round in 2:
		await _connect(peer, url, trace)
		trace.append("connect while open -> %d" % peer.connect_to_url(url))
		peer.send_text("round %d" % round)
		await _run(peer, trace, _pkts(trace, round + 1))
		await _close_clean(peer, trace)


func test_reuse_after_close() -> void:
	var round := func(n: int) -> Array:
		return OPENED + ["connect while open -> %d" % ERR_ALREADY_IN_USE, "pkt t[7] round %d" % n] + CLEAN_CLOSE
	await _same(_sc_reuse, round.call(0) + round.call(1))


func _sc_var(kind: String, trace: Array) -> void:
	var peer = _make(kind)
	await _connect(peer, _echo_url(), trace)
	var value := {"name": "player", "pos": Vector2(1.5, -2), "items": [1, 2, 3]}
	trace.append("put_var -> %d" % peer.put_var(value))
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() > 0, "echo")
	var got = peer.get_var()
	trace.append("get_var %s err %d string %s" % [got, peer.get_packet_error(), peer.was_string_packet()])
	trace.append("get_var equals put_var: %s" % (got == value))
	pollables.erase(peer)
	await _close_clean(peer, trace)


func test_put_var_get_var() -> void:
	await _same(_sc_var, OPENED + ["put_var -> 0", "~get_var {", "get_var equals put_var: true"] + CLEAN_CLOSE)


func _sc_was_string(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := RawServer.text("a")
		b.append_array(RawServer.frame(2, PackedByteArray([1])))
		r.after_handshake = b)
	var peer = _make(kind)
	trace.append("connect_to_url -> %d" % peer.connect_to_url(_raw_url(raw)))
	# Poll without popping: the packets stay queued.
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() == 2, "both messages queued")
	pollables.erase(peer)
	trace.append("before any pop %s, available %d" % [peer.was_string_packet(), peer.get_available_packet_count()])
	trace.append("pop %s" % peer.get_packet().get_string_from_utf8())
	trace.append("after text %s" % peer.was_string_packet())
	trace.append("pop %s" % peer.get_packet().hex_encode())
	trace.append("after binary %s" % peer.was_string_packet())
	trace.append("empty queue -> %s err %d" % [peer.get_packet(), peer.get_packet_error()])


func test_was_string_packet_is_about_the_last_pop() -> void:
	await _same(_sc_was_string, ["connect_to_url -> 0", "before any pop false, available 2", "pop a", "after text true",
		"pop 01", "after binary false", "empty queue -> [] err %d" % ERR_UNAVAILABLE])


func _sc_heartbeat_dead(kind: String, trace: Array) -> void:
	var raw := _raw()
	var peer = _make(kind)
	# 0.5 s, so that a hitch of the machine (or the I/O thread's opening a little before the
	# game sees it) does not blur one interval into none or two.
	peer.heartbeat_interval = 0.5
	await _connect(peer, _raw_url(raw), trace)
	var t0 := Time.get_ticks_msec()
	await _run(peer, trace, Callable(), 3.0)
	var ms := Time.get_ticks_msec() - t0
	print("    heartbeat 0.5 s: %s peer closed %d ms after opening" % [kind, ms])
	trace.append("closed one interval after the first ping: %s" % (ms >= 350 and ms < 800))
	trace.append("pings sent %s" % [raw.client_frames().filter(func(f): return f.begins_with("ping")).size() >= 1])


func test_heartbeat_closes_a_silent_link() -> void:
	await _same(_sc_heartbeat_dead, OPENED + ["state 3", "closed -1 ''", "closed one interval after the first ping: true", "pings sent true"])


func _sc_heartbeat_alive(kind: String, trace: Array) -> void:
	# This server answers pings (and the close handshake), nothing else: only pongs keep the link.
	var raw := _raw(func(r): r.echo_control = true)
	var peer = _make(kind)
	# (0.25 s: the pongs come from this thread's frames, which a hitch of the machine can delay.)
	peer.heartbeat_interval = 0.25
	await _connect(peer, _raw_url(raw), trace)
	# Four answered pings: three intervals at least, each of which would have closed a peer that
	# did not see the previous pong.
	await _run(peer, trace, func(): return raw.pongs_sent >= 4, 5.0)
	trace.append("after 4 answered pings: state %d" % peer.get_ready_state())
	await _close_clean(peer, trace)


func test_heartbeat_keeps_a_live_link_open() -> void:
	await _same(_sc_heartbeat_alive, OPENED + ["after 4 answered pings: state 1"] + CLEAN_CLOSE)


func _sc_engine_server(kind: String, trace: Array) -> void:
	var srv := EngineEchoServer.new()
	srv.listen()
	srv.peer.supported_protocols = PackedStringArray(["p2"])
	pollables.append(srv)
	var peer = _make(kind)
	peer.supported_protocols = PackedStringArray(["p1", "p2"])
	await _connect(peer, srv.url("/e"), trace)
	trace.append("selected '%s' server selected '%s'" % [peer.get_selected_protocol(), srv.peer.get_selected_protocol()])
	peer.send_text("to engine")
	await _run(peer, trace, _pkts(trace, 1))
	srv.peer.close(4002, "engine bye")
	await _run(peer, trace)


func test_against_the_engine_accept_stream_server() -> void:
	await _same(_sc_engine_server, OPENED + ["selected 'p2' server selected 'p2'", "pkt t[9] to engine", "state 3", "closed 4002 'engine bye'"])


func _sc_backpressure(kind: String, trace: Array) -> void:
	var raw := _raw(func(r):
		var b := PackedByteArray()
		for i in 10:
			b.append_array(RawServer.text("m%d" % i))
		r.after_handshake = b)
	var peer = _make(kind)
	peer.max_queued_packets = 3
	trace.append("connect -> %d" % peer.connect_to_url(_raw_url(raw)))
	pollables.append(peer)
	await wait_until(func(): return peer.get_available_packet_count() >= 3, "the queue fills")
	# Nothing shows a read that does not happen: poll a bounded number of times more.
	for i in 20:
		raw.poll()
		peer.poll()
		await get_tree().process_frame
	pollables.erase(peer)
	trace.append("state %d, queued without reading: %d" % [peer.get_ready_state(), peer.get_available_packet_count()])
	var got := []
	var deadline := Time.get_ticks_msec() + 3000
	while got.size() < 10 and Time.get_ticks_msec() < deadline:
		raw.poll()
		peer.poll()
		if peer.get_available_packet_count() > 0:
			got.append(peer.get_packet().get_string_from_utf8())
		await get_tree().process_frame
	trace.append("received in order: %s" % [got])
	trace.append("state %d" % peer.get_ready_state())


## A full inbound queue stops reading from the socket; nothing is dropped.
func test_full_inbound_queue_applies_back_pressure() -> void:
	await _same(_sc_backpressure, ["connect -> 0", "state 1, queued without reading: 3",
		"received in order: [\"m0\", \"m1\", \"m2\", \"m3\", \"m4\", \"m5\", \"m6\", \"m7\", \"m8\", \"m9\"]", "state 1"])


# --- Documented differences -----------------------------------------------------------------


## The engine drops messages that arrive in the same poll as the close frame (godot#107442); we
## keep them readable.
func test_messages_before_close_stay_readable() -> void:
	var scenario := func(kind: String, trace: Array) -> void:
		var raw := _raw(func(r):
			var b := RawServer.text("bye1")
			b.append_array(RawServer.text("bye2"))
			b.append_array(RawServer.close_frame(4000, "done"))
			r.after_handshake = b)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		trace.append("available after close %d" % peer.get_available_packet_count())
	var t: Array = await _both(scenario)
	var start := ["connect_to_url -> 0", "state 0", "state 3"]
	var end := ["closed 4000 'done'", "available after close 0"]
	# If the engine line fails, the engine was fixed: update the docs.
	_check(t, start + ["pkt t[4] bye1", "pkt t[4] bye2"] + end, start + end, false)


# --- Enums ----------------------------------------------------------------------------------


## The same enums, with the same constants and values, registered as enums (ClassDB), so that
## `RustWebSocketPeer.State` and `RustWebSocketPeer.WriteMode` are types in GDScript.
func test_enums_match_the_engine() -> void:
	var ours := "RustWebSocketPeer"
	var engine_enums := Array(ClassDB.class_get_enum_list("WebSocketPeer", true))
	var our_enums := Array(ClassDB.class_get_enum_list(ours, true))
	engine_enums.sort()
	our_enums.sort()
	check_eq(our_enums, engine_enums, "class_get_enum_list")
	check_eq(engine_enums, ["State", "WriteMode"], "the engine's enums (the test's assumption)")
	for e in engine_enums:
		if not check(ClassDB.class_has_enum(ours, e, true), "class_has_enum(%s, %s)" % [ours, e]):
			continue
		var constants := ClassDB.class_get_enum_constants("WebSocketPeer", e, true)
		check_eq(ClassDB.class_get_enum_constants(ours, e, true), constants, "constants of %s" % e)
		for c in constants:
			check_eq(ClassDB.class_get_integer_constant(ours, c), ClassDB.class_get_integer_constant("WebSocketPeer", c), "value of %s" % c)
			check_eq(ClassDB.class_get_integer_constant_enum(ours, c, true), StringName(e), "enum of %s" % c)
	check(not ClassDB.class_get_integer_constant_enum(ours, "STATE_OPEN", true).is_empty(), "STATE_OPEN belongs to an enum")


## Methods typed with the enums in the engine (get_ready_state() -> State, send(..., WriteMode))
## are typed with ours.
func test_enum_typed_signatures_match_the_engine() -> void:
	var engine_methods := {}
	for m in ClassDB.class_get_method_list("WebSocketPeer", true):
		engine_methods[m["name"]] = m
	var compared := 0
	for m in ClassDB.class_get_method_list("RustWebSocketPeer", true):
		if not engine_methods.has(m["name"]):
			continue
		var e: Dictionary = engine_methods[m["name"]]
		var typed := func(info: Dictionary) -> String:
			var cn := String(info["class_name"])
			return cn.replace("WebSocketPeer.", "") if cn.begins_with("WebSocketPeer.") or cn.begins_with("RustWebSocketPeer.") else ""
		var ret_e: String = typed.call(e["return"])
		if not ret_e.is_empty():
			compared += 1
			check_eq(m["return"]["class_name"], StringName("RustWebSocketPeer." + ret_e), "%s() return type" % m["name"])
		for i in mini(e["args"].size(), m["args"].size()):
			var arg_e: String = typed.call(e["args"][i])
			if not arg_e.is_empty():
				compared += 1
				check_eq(m["args"][i]["class_name"], StringName("RustWebSocketPeer." + arg_e), "%s() argument %s type" % [m["name"], e["args"][i]["name"]])
	check(compared >= 2, "enum-typed signatures compared: %d (get_ready_state, send)" % compared)
