extends TestSuite
## The addon's custom Performance monitors (debugger's Monitors tab), read while traffic flows.

const OPEN := &"RustWebSocket/open_connections"
const IN_MSGS := &"RustWebSocket/messages_in_per_second"
const OUT_MSGS := &"RustWebSocket/messages_out_per_second"
const IN_BYTES := &"RustWebSocket/bytes_in_per_second"
const OUT_BYTES := &"RustWebSocket/bytes_out_per_second"
const REFUSED := &"RustWebSocket/handshakes_refused"


func _monitor(id: StringName) -> float:
	return Performance.get_custom_monitor(id)


func test_monitors_follow_connections_traffic_and_refusals() -> void:
	var server := echo_server()
	for id in [OPEN, IN_MSGS, OUT_MSGS, IN_BYTES, OUT_BYTES, REFUSED]:
		check(Performance.has_custom_monitor(id), "monitor %s exists" % id)
	# Every connection of the suites before this one has ended: one still closing ends within
	# the 5 s a stuck closing handshake may last (hence 8 s here); one that never does is a leak.
	await wait_until(func(): return _monitor(OPEN) == 0, "no connection left open by earlier tests", 8.0)
	var refused_before := _monitor(REFUSED)
	var client := RustWebSocketPeer.new()
	client.connect_to_url("ws://127.0.0.1:%d/" % server.get_local_port())
	pollables.append(client)
	if not await wait_until(func(): return _monitor(OPEN) == 2, "both ends counted as open"):
		return
	# Traffic for a while: one 100-byte message each frame, echoed.
	var payload := PackedByteArray()
	payload.resize(100)
	var flowing := func() -> bool:
		client.send(payload)
		while client.get_available_packet_count() > 0:
			client.get_packet()
		return _monitor(IN_MSGS) > 0 and _monitor(OUT_MSGS) > 0 and _monitor(IN_BYTES) >= 100 * _monitor(IN_MSGS) and _monitor(OUT_BYTES) >= 100 * _monitor(OUT_MSGS)
	await wait_until(flowing, "per-second rates of messages and bytes while traffic flows", 5.0)
	var tcp := StreamPeerTCP.new()
	tcp.connect_to_host("127.0.0.1", server.get_local_port())
	var refused := func() -> bool:
		tcp.poll()
		if tcp.get_status() == StreamPeerTCP.STATUS_CONNECTED and tcp.get_available_bytes() == 0:
			tcp.put_data("GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_utf8_buffer())
		return _monitor(REFUSED) == refused_before + 1
	await wait_until(refused, "a plain HTTP request counted as a refused handshake")
	client.close()
	await wait_until(func(): return _monitor(OPEN) == 0, "open connections back to where they were")
	var quiet := func() -> bool:
		return _monitor(IN_MSGS) == 0 and _monitor(OUT_MSGS) == 0
	await wait_until(quiet, "rates back to 0 once traffic stops", 5.0)
