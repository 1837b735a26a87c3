extends TestSuite
## Base of the differential suites (suites/test_parity*.gd): each scenario runs once with the
## engine's WebSocketPeer and once with RustWebSocketPeer, against the same kind of server, and
## records a trace (states seen, packets with their text/binary flag, return codes, close codes
## and reasons, requested URL, selected protocol, what the server received).
##
## Every scenario states what its trace must show (`_expect`): a broken echo server, a peer that
## never opens or a message that never arrives fails the test even when both peers agree. The
## two traces must also be equal, except for the documented improvements over the engine, which
## are asserted explicitly.
##
## Not a class_name on purpose: a suite extends "res://lib/parity_suite.gd".

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


## The scenario of a peer against an echo server: `send(peer, trace)` sends (and traces what it
## sent), the peer runs until `n` messages came back, then closes cleanly.
func _echoed(send: Callable, n: int) -> Callable:
	return func(kind: String, trace: Array) -> void:
		var peer = _make(kind)
		await _connect(peer, _echo_url(), trace)
		send.call(peer, trace)
		await _run(peer, trace, _pkts(trace, n))
		await _close_clean(peer, trace)


## The scenario of a scripted server that sends `bytes` right after the handshake: the peer runs
## until it is closed (or the time is up), then what the server got is recorded.
func _server_sends(bytes: PackedByteArray) -> Callable:
	return func(kind: String, trace: Array) -> void:
		var raw := _raw(func(r): r.after_handshake = bytes)
		var peer = _make(kind)
		await _connect(peer, _raw_url(raw), trace)
		await _run(peer, trace)
		await _server_got(raw, trace)


## Connects `peer` to a new echo server whose signals `record` logs into `log`; returns the server.
func _connect_recorded(peer, trace: Array, log: Array) -> WebSocketServer:
	var server := echo_server()
	record(server, log)
	await _connect(peer, "ws://127.0.0.1:%d/" % server.get_local_port(), trace)
	return server


func _zeros(n: int) -> PackedByteArray:
	var b := PackedByteArray()
	b.resize(n)
	return b


## What `record` logged, without the connection (the ids differ from run to run).
func _server_saw(log: Array) -> String:
	return "server saw %s" % [log.filter(func(e): return e[0] != "connected").map(func(e): return [e[0]] + e.slice(2))]
