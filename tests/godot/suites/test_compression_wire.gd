extends "res://lib/compression_suite.gd"
## permessage-deflate (RFC 7692) on the wire, read by scripted peers, and the 1009 cap. The
## agreement and exchanges between peers, multiplayer and the settings are in
## test_compression.gd; the helpers both use are in lib/compression_suite.gd.
##
## What it covers:
## - the bytes on the wire: our client offers "permessage-deflate; client_max_window_bits" (and
##   nothing when compression is off); messages at or over the threshold go out with RSV1 set and
##   their payloads inflate (as one raw deflate stream, context taken over) to what was sent;
##   shorter ones go out as they are. Both roles: a scripted server (lib/raw_server.gd) and a
##   scripted client (lib/raw_ws_client.gd) read our frames. A server answering an extension
##   that was not offered fails the handshake;
## - a message that inflates past inbound_buffer_size (200 KiB of one byte, a few hundred bytes
##   compressed) fails the connection with 1009 on the receiving side, in both directions, and the
##   server goes on serving.
## Every wait is "until X is observed", bounded; loopback only.

const RawWsClient := preload("res://lib/raw_ws_client.gd")


# --- Frames on the wire ------------------------------------------------------------------------

## A scripted client (lib/raw_ws_client.gd, polled) upgrading to `server` with `extensions`
## offered (none if "").
func _raw_client(server: WebSocketServer, extensions: String) -> RawWsClient:
	var raw := RawWsClient.new()
	if not extensions.is_empty():
		raw.extra_headers = "Sec-WebSocket-Extensions: %s\r\n" % extensions
	raw.connect_to(server.get_local_port())
	pollables.append(raw)
	return raw


static func _adler32(data: PackedByteArray) -> int:
	var a := 1
	var b := 0
	for x in data:
		a = (a + x) % 65521
		b = (b + a) % 65521
	return (b << 16) | a


## Inflates the payloads of consecutive compressed messages of one direction (context taken
## over: one raw deflate stream, each message's tail 00 00 FF FF removed, RFC 7692 §7.2.1),
## by wrapping them as one zlib stream, which the engine's decompressor reads. `plain` is what
## the messages should inflate to, concatenated (for the zlib checksum). Returns the inflated
## bytes (empty if the stream is not valid deflate of `plain`).
static func _inflate_stream(payloads: Array, plain: PackedByteArray) -> PackedByteArray:
	var z := PackedByteArray([0x78, 0x01])
	for p in payloads:
		z.append_array(p)
		z.append_array(PackedByteArray([0, 0, 0xFF, 0xFF]))
	z.append_array(PackedByteArray([0x03, 0x00]))  # an empty final block
	var adler := _adler32(plain)
	z.append_array(PackedByteArray([(adler >> 24) & 0xFF, (adler >> 16) & 0xFF, (adler >> 8) & 0xFF, adler & 0xFF]))
	return z.decompress_dynamic(plain.size() + 1024, FileAccess.COMPRESSION_DEFLATE)


## Checks the data frames `frames` carry `msgs` ([is_text, bytes]), one unfragmented frame each:
## RSV1 set exactly on the messages of at least `threshold` bytes, the uncompressed ones as they
## are, and the compressed ones inflating to what was sent.
func _check_wire(frames: Array, msgs: Array, threshold: int, what: String) -> void:
	var data := frames.filter(func(f): return f[2] < 8)
	if not check_eq(data.size(), msgs.size(), "%s: one data frame per message" % what):
		return
	var payloads := []
	var plain := PackedByteArray()
	var compressed_bytes := 0
	var plain_bytes := 0
	for i in msgs.size():
		var f: Array = data[i]
		var m: Array = msgs[i]
		var size: int = m[1].size()
		check(f[0], "%s: message #%d (%d bytes) is one final frame" % [what, i, size])
		check_eq(f[2], 1 if m[0] else 2, "%s: message #%d opcode" % [what, i])
		if not check_eq(f[1], size >= threshold, "%s: message #%d of %d bytes: RSV1 (compressed) iff at least the threshold %d" % [what, i, size, threshold]):
			continue
		if f[1]:
			payloads.append(f[3])
			plain.append_array(m[1])
			compressed_bytes += f[3].size()
			plain_bytes += size
		else:
			check_eq(f[3], m[1], "%s: message #%d sent as it is" % [what, i])
	if payloads.is_empty():
		return
	var inflated := _inflate_stream(payloads, plain)
	check(inflated == plain, "%s: the compressed payloads (%d bytes) inflate to the %d bytes sent (got %d bytes)" % [what, compressed_bytes, plain_bytes, inflated.size()])
	check(compressed_bytes * 3 < plain_bytes, "%s: compressible messages shrink (%d bytes for %d)" % [what, compressed_bytes, plain_bytes])


# --- The tests ---------------------------------------------------------------------------------

## Our client on the wire: it offers "permessage-deflate; client_max_window_bits"; once a
## (scripted) server accepts, messages at or over the threshold go out with RSV1 set and inflate
## to what was sent, shorter ones go out as they are. With compression off it offers nothing.
func test_our_client_compresses_on_the_wire() -> void:
	var raw := _raw_server(PMD)
	# The outbound cap counts a message's bytes before compression: raised for the 200 KiB one.
	var c := _client(_raw_url(raw), true, func(c): c.outbound_buffer_size = 1 << 20)
	if not await wait_until(func(): return c.get_ready_state() == OPEN, "open against the scripted server"):
		return
	check_eq(raw.header("Sec-WebSocket-Extensions"), CLIENT_OFFER, "the client's offer")
	check_eq(c.get_negotiated_extensions(), PMD, "agreed")
	var one_byte := PackedByteArray()
	one_byte.resize(200 * 1024)
	one_byte.fill(0x61)
	var msgs := [_text(""), _text("x"), _text(_compressible_text(127)), _text(_compressible_text(128)),
		_binary(_pattern_bytes(129)), _text(_compressible_text(4000, 1)), _binary(_compressible_text(4000, 1).to_utf8_buffer()),
		_text("short again"), _text(_json_2k()), _binary(one_byte)]
	for m in msgs:
		check_eq(c.send(m[1], RustWebSocketPeer.WRITE_MODE_TEXT if m[0] else RustWebSocketPeer.WRITE_MODE_BINARY), OK, "send %d bytes" % m[1].size())
	var frames: Array = await _frames_on(func(): return raw.inbound, msgs.size(), "every frame at the scripted server")
	if not frames.is_empty():
		_check_wire(frames, msgs, 128, "client to server")
		var last: PackedByteArray = frames[msgs.size() - 1][3]
		check(last.size() < 1024, "200 KiB of one byte travel in under 1 KiB (%d bytes)" % last.size())
	# A threshold of 0 compresses everything, the empty message included.
	var raw0 := _raw_server(PMD)
	var c0 := _client(_raw_url(raw0), true, func(c): c.compression_threshold = 0)
	if await wait_until(func(): return c0.get_ready_state() == OPEN, "open (threshold 0)"):
		var small := [_text(""), _text("a"), _binary(PackedByteArray([1, 2, 3])), _text(_compressible_text(500))]
		for m in small:
			c0.send(m[1], RustWebSocketPeer.WRITE_MODE_TEXT if m[0] else RustWebSocketPeer.WRITE_MODE_BINARY)
		var frames0: Array = await _frames_on(func(): return raw0.inbound, small.size(), "every frame (threshold 0)")
		if not frames0.is_empty():
			check(frames0.all(func(f): return f[1]), "threshold 0: every message compressed")
			var plain := PackedByteArray()
			for m in small:
				plain.append_array(m[1])
			check(_inflate_stream(frames0.map(func(f): return f[3]), plain) == plain, "threshold 0: the payloads inflate to what was sent")
	# Compression off: no offer.
	var raw2 := _raw_server()
	var plain_client := _client(_raw_url(raw2), false)
	if await wait_until(func(): return plain_client.get_ready_state() == OPEN, "open without compression"):
		check_eq(raw2.header("Sec-WebSocket-Extensions"), "", "no offer when compression is off")
		check_eq(plain_client.get_negotiated_extensions(), "", "nothing agreed")
		var long := _compressible_text(1000)
		plain_client.send_text(long)
		await _first_frame_uncompressed(func(): return raw2.inbound, long, "sent uncompressed")


## A server that answers permessage-deflate to a client that did not offer it fails the
## handshake (RFC 6455 §4.1); so does an answer with a parameter the RFC does not allow.
func test_extension_answer_not_offered_fails_the_handshake() -> void:
	for case in [[false, "permessage-deflate"], [true, "permessage-deflate; client_max_window_bits"], [true, "x-unknown"]]:
		var raw := _raw_server(case[1])
		var c := _client(_raw_url(raw), case[0])
		var what := "compression %s, answer '%s'" % [case[0], case[1]]
		if await wait_until(func(): return c.get_ready_state() == CLOSED, what + ": the client gives up"):
			check_eq(c.get_negotiated_extensions(), "", what + ": nothing agreed")
			check(raw.inbound.is_empty() or WsFrames.decode(raw.inbound).all(func(f): return f[2] >= 8), what + ": no message was sent")


## Our server on the wire: a (scripted) client offering permessage-deflate gets it in the 101;
## the server's messages at or over the threshold go out with RSV1 set and inflate to what was
## sent. A client offering nothing gets no extension and uncompressed frames.
func test_our_server_compresses_on_the_wire() -> void:
	var log := []
	var server := _server(func(s): s.compression_enabled = true)
	record(server, log)
	var raw := _raw_client(server, PMD)
	if not await wait_until(func(): return count(log, "connected") == 1 and not raw.response.is_empty(), "the scripted client connected"):
		return
	check(raw.response.begins_with("HTTP/1.1 101"), "101: " + raw.response)
	check(raw.response.to_lower().contains("sec-websocket-extensions: permessage-deflate\r\n"), "the 101 accepts permessage-deflate: " + raw.response)
	var peer := _server_peer(server, log)
	check_eq(peer.get_negotiated_extensions(), PMD, "server side agreed")
	var msgs := [_text(""), _text(_compressible_text(127)), _text(_compressible_text(128)), _binary(_pattern_bytes(3000)),
		_text(_compressible_text(5000, 2)), _text("tiny"), _binary(_compressible_text(5000, 2).to_utf8_buffer())]
	for m in msgs:
		check_eq(peer.send(m[1], RustWebSocketPeer.WRITE_MODE_TEXT if m[0] else RustWebSocketPeer.WRITE_MODE_BINARY), OK, "server send")
	var frames: Array = await _frames_on(func(): return raw.body, msgs.size(), "every frame at the scripted client")
	if not frames.is_empty():
		_check_wire(frames, msgs, 128, "server to client")
	# No offer: no extension, nothing compressed.
	var raw2 := _raw_client(server, "")
	if await wait_until(func(): return count(log, "connected") == 2 and not raw2.response.is_empty(), "the second scripted client connected"):
		check(not raw2.response.to_lower().contains("sec-websocket-extensions"), "no extension in the 101: " + raw2.response)
		var peer2 := _server_peer(server, log, 1)
		check_eq(peer2.get_negotiated_extensions(), "", "nothing agreed for the client that offered nothing")
		var long := _compressible_text(2000)
		peer2.send_text(long)
		await _first_frame_uncompressed(func(): return raw2.body, long, "sent uncompressed")


## Case 6: a message that inflates past inbound_buffer_size (200 KiB of one byte: a few hundred
## bytes on the wire) fails the connection with 1009 on the receiving side; the server keeps
## serving. Both directions: client to server, and server to client.
func test_inflated_message_over_inbound_buffer_is_1009() -> void:
	var log := []
	var server := _server(func(s): s.compression_enabled = true)
	record(server, log)
	check_eq(server.inbound_buffer_size, 65535, "server inbound_buffer_size")
	var bomb := PackedByteArray()
	bomb.resize(200 * 1024)
	bomb.fill(0x61)
	# Client to server.
	var a := _client(_url(server), true, func(c): c.outbound_buffer_size = 1 << 20)
	if not await wait_until(func(): return a.get_ready_state() == OPEN and count(log, "connected") == 1, "a open"):
		return
	check_eq(a.get_negotiated_extensions(), PMD, "a agreed")
	var a_on_server := _server_peer(server, log)
	a.send_text("before")
	check_eq(a.send(bomb, RustWebSocketPeer.WRITE_MODE_BINARY), OK, "a sends 200 KiB of one byte")
	if await wait_until(func(): return a.get_ready_state() == CLOSED and count(log, "disconnected") == 1, "a closed by the server"):
		check_eq(a.get_close_code(), 1009, "a sees 1009 (message too big)")
		check_eq(a_on_server.get_close_code(), 1009, "server side of a: 1009")
		check_eq(count(log, "data"), 1, "only the message before the big one reached the server")
	# The server keeps serving: another client exchanges messages.
	var b := _client(_url(server), true)
	if await wait_until(func(): return b.get_ready_state() == OPEN and count(log, "connected") == 2, "b open after a's failure"):
		check_eq(b.get_negotiated_extensions(), PMD, "b agreed")
		await _echo_all(b, [_text("still serving"), _text(_compressible_text(5000)), _binary(_pattern_bytes(300))], "b")
	# Server to client: our client's inbound_buffer_size is the default 65535.
	var c := _client(_url(server), true)
	if not await wait_until(func(): return c.get_ready_state() == OPEN and count(log, "connected") == 3, "c open"):
		return
	check_eq(c.inbound_buffer_size, 65535, "client inbound_buffer_size")
	var c_on_server := _server_peer(server, log, 2)
	c_on_server.outbound_buffer_size = 1 << 20
	c_on_server.send_text("before")
	check_eq(c_on_server.send(bomb, RustWebSocketPeer.WRITE_MODE_BINARY), OK, "server sends 200 KiB of one byte")
	if await wait_until(func(): return c.get_ready_state() == CLOSED and count(log, "disconnected") == 2, "c failed the connection"):
		check_eq(c.get_close_code(), 1009, "c closes with 1009 (message too big)")
		check_eq(c_on_server.get_close_code(), 1009, "the server sees c's 1009")
		var first: PackedByteArray = c.get_packet() if c.get_available_packet_count() > 0 else PackedByteArray()
		check_eq(first.get_string_from_utf8(), "before", "c got the message before the big one")
	check_eq(b.get_ready_state(), OPEN, "b is unaffected")
	await _echo_all(b, [_text("still here")], "b afterwards")
