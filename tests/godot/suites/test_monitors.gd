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


## The multiplayer peer's connections and a client turned away for max_peers (HTTP 503) count
## in the same monitors: every connection the addon makes shares the process's counters.
func test_monitors_count_multiplayer_peers_and_full_servers() -> void:
	await wait_until(func(): return _monitor(OPEN) == 0, "no connection left open by earlier tests", 8.0)
	var host: MultiplayerPeer = ClassDB.instantiate("RustWebSocketMultiplayerPeer")
	check_eq(host.create_server(0, "127.0.0.1"), OK, "create_server")
	var guest: MultiplayerPeer = ClassDB.instantiate("RustWebSocketMultiplayerPeer")
	check_eq(guest.create_client("ws://127.0.0.1:%d" % host.get_local_port()), OK, "create_client")
	pollables.append_array([host, guest])
	await wait_until(func(): return _monitor(OPEN) == 2, "both multiplayer ends counted as open")
	await wait_until(func(): return guest.get_connection_status() == MultiplayerPeer.CONNECTION_CONNECTED, "the guest joins")
	guest.set_target_peer(1)
	var sent := func() -> bool:
		guest.put_packet(PackedByteArray([1, 2, 3]))
		while host.get_available_packet_count() > 0:
			host.get_packet()
		return _monitor(IN_MSGS) > 0 and _monitor(OUT_MSGS) > 0
	await wait_until(sent, "multiplayer packets counted as messages", 5.0)
	var full := WebSocketServer.new()
	full.max_peers = 1
	check_eq(full.listen(0, "127.0.0.1"), OK, "listen")
	pollables.append(full)
	var refused_before := _monitor(REFUSED)
	var first := RustWebSocketPeer.new()
	first.connect_to_url("ws://127.0.0.1:%d/" % full.get_local_port())
	pollables.append(first)
	await wait_until(func(): return first.get_ready_state() == RustWebSocketPeer.STATE_OPEN, "the first client fills the server")
	var second := RustWebSocketPeer.new()
	second.connect_to_url("ws://127.0.0.1:%d/" % full.get_local_port())
	pollables.append(second)
	await wait_until(func(): return _monitor(REFUSED) == refused_before + 1, "the client over max_peers (HTTP 503) counted as refused")
	await wait_until(func(): return second.get_ready_state() == RustWebSocketPeer.STATE_CLOSED, "the refused client closes")
