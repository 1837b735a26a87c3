extends TestSuite
## Base of the permessage-deflate suites (suites/test_compression.gd: agreement and exchanges
## between peers, multiplayer, settings; suites/test_compression_wire.gd: the bytes on the wire
## and the 1009 cap): servers and clients set up for compression, scripted servers answering an
## extension, the frames they read (lib/ws_frames.gd), the messages exchanged and the echo check.
##
## Not a class_name on purpose: a suite extends "res://lib/compression_suite.gd".

const WsFrames := preload("res://lib/ws_frames.gd")
const PMD := "permessage-deflate"
const CLIENT_OFFER := "permessage-deflate; client_max_window_bits"
const OPEN := 1
const CLOSED := 3


func _server(setup := Callable()) -> WebSocketServer:
	var server := echo_server()
	if setup.is_valid():
		setup.call(server)
	return server


func _url(server: WebSocketServer, path := "/") -> String:
	return "ws://127.0.0.1:%d%s" % [server.get_local_port(), path]


func _client(url: String, compress: bool, setup := Callable()) -> RustWebSocketPeer:
	var c := RustWebSocketPeer.new()
	c.compression_enabled = compress
	if setup.is_valid():
		setup.call(c)
	check_eq(c.connect_to_url(url), OK, "connect_to_url " + url)
	pollables.append(c)
	return c


## The server-side peer of the one client `log` saw connect (null if none).
func _server_peer(server: WebSocketServer, log: Array, nth := 0) -> RustWebSocketPeer:
	var seen := log.filter(func(e): return e[0] == "connected")
	if seen.size() <= nth:
		return null
	return server.get_peer(seen[nth][1])


## A scripted server (RawServer, polled) whose 101 answers `extensions` in
## Sec-WebSocket-Extensions, whatever was offered (a plain 101 if "").
func _raw_server(extensions := "") -> RawServer:
	var raw := RawServer.new()
	raw.listen()
	if not extensions.is_empty():
		raw.response_override = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: %s\r\n\r\n" % extensions
	pollables.append(raw)
	return raw


func _raw_url(raw: RawServer) -> String:
	return "ws://127.0.0.1:%d/" % raw.tcp.get_local_port()


## Waits (as `what`) until the bytes `wire` returns hold `n` complete frames, and returns them
## (as lib/ws_frames.gd decodes them); [] if they did not arrive.
func _frames_on(wire: Callable, n: int, what: String) -> Array:
	if not await wait_until(func(): return WsFrames.decode(wire.call()).size() >= n, what):
		return []
	return WsFrames.decode(wire.call())


## Waits for the first frame in the bytes `wire` returns, and checks (as `what`) that it carries
## `text` as it is, RSV1 clear.
func _first_frame_uncompressed(wire: Callable, text: String, what: String) -> void:
	var frames: Array = await _frames_on(wire, 1, "the frame")
	if not frames.is_empty():
		check(not frames[0][1] and frames[0][3] == text.to_utf8_buffer(), what)


# --- Messages ----------------------------------------------------------------------------------

func _text(s: String) -> Array:
	return [true, s.to_utf8_buffer()]


func _binary(b: PackedByteArray) -> Array:
	return [false, b]


## `n` bytes of text that compresses well (JSON-like, repeating with variations).
func _compressible_text(n: int, seed := 0) -> String:
	var parts := PackedStringArray()
	var total := 0
	var i := seed
	while total < n:
		var part := '{"id":%d,"name":"player_%d","pos":[%d,%d],"hp":100},' % [i, i % 7, i * 3 % 50, i * 5 % 40]
		parts.append(part)
		total += part.length()
		i += 1
	return "".join(parts).substr(0, n)


## `n` bytes of binary data with structure (some repetition, all byte values).
func _pattern_bytes(n: int, seed := 0) -> PackedByteArray:
	var b := PackedByteArray()
	b.resize(n)
	for i in n:
		b[i] = ((i + seed) * 31 + ((i + seed) >> 7)) & 0xFF
	return b


## About 2 KiB of JSON, as a game might send its state.
func _json_2k() -> String:
	var players := []
	var i := 0
	var doc := ""
	while doc.length() < 2048:
		players.append({"id": 1000 + i, "name": "player %d" % i, "x": i * 1.5, "y": -i * 0.25, "alive": i % 3 != 0, "items": ["sword", "shield", "potion"].slice(0, i % 4)})
		doc = JSON.stringify({"tick": 4242, "players": players})
		i += 1
	return doc


## The messages of the size sweep: text and binary, 0 bytes, around the threshold, 2 KiB JSON.
func _size_sweep(threshold: int) -> Array:
	var msgs := []
	for n in [0, 1, threshold - 1, threshold, threshold + 1, 1000, 16384, 60000]:
		msgs.append(_text(_compressible_text(n, n)))
		msgs.append(_binary(_pattern_bytes(n, n)))
	msgs.append(_text(_json_2k()))
	msgs.append(_binary(_json_2k().to_utf8_buffer()))
	return msgs


## Sends every message of `msgs` ([is_text, bytes]) from `client` (ours or the engine's peer),
## collects what comes back until as many arrived, and checks each against what was sent: same
## type, same bytes, same order. Returns whether everything matched.
func _echo_all(client, msgs: Array, what: String, timeout_s := 10.0) -> bool:
	var sent_ok := 0
	for m in msgs:
		var mode: int = WebSocketPeer.WRITE_MODE_TEXT if m[0] else WebSocketPeer.WRITE_MODE_BINARY
		sent_ok += int(client.send(m[1], mode) == OK)
	if not check_eq(sent_ok, msgs.size(), "%s: every send() returned OK" % what):
		return false
	var got: Array = []
	var drain := func() -> bool:
		while client.get_available_packet_count() > 0:
			var pkt: PackedByteArray = client.get_packet()
			got.append([client.was_string_packet(), pkt])
		return got.size() >= msgs.size()
	if not await wait_until(drain, "%s: %d echoes" % [what, msgs.size()], timeout_s):
		failures.append("%s: %d of %d echoes arrived (client state %d, close code %d)" % [what, got.size(), msgs.size(), client.get_ready_state(), client.get_close_code()])
		return false
	if not check_eq(got.size(), msgs.size(), "%s: number of echoes" % what):
		return false
	for i in msgs.size():
		var want: Array = msgs[i]
		var have: Array = got[i]
		if have[0] != want[0] or have[1] != want[1]:
			failures.append("%s: echo #%d differs: sent %s of %d bytes, got %s of %d bytes%s" % [what, i,
				"text" if want[0] else "binary", want[1].size(), "text" if have[0] else "binary", have[1].size(),
				"" if have[1].size() != want[1].size() else " (same size, other bytes)"])
			return false
	return true
