extends SceneTree
## Run by suites/test_tls_trust.gd in a child Godot (`--script`, in a mount namespace whose
## system CA bundle is the test's): two TLS servers, one with the certificate chain of each test
## root (`<certs>/` and `<certs>/other/`), and for each a client with no TLSOptions, ours and the
## engine's. Prints `TRUST <client class> <set> <ready state>` for each (1 open, 3 closed), then
## `TRUST done`, and quits.

var pollables: Array = []


func _initialize() -> void:
	_run()


func _run() -> void:
	var certs: String = OS.get_cmdline_user_args()[0]
	var attempts: Array = []
	for set_name in ["ca", "other"]:
		var dir := certs if set_name == "ca" else certs.path_join("other")
		var key := CryptoKey.new()
		key.load(dir.path_join("server.key"))
		# Loaded as a resource, so that the binding reads the whole chain from the file.
		var chain: X509Certificate = load(dir.path_join("chain.crt"))
		var server := WebSocketServer.new()
		if server.listen(0, "127.0.0.1", TLSOptions.server(key, chain)) != OK:
			print("TRUST listen failed for ", set_name)
			quit(1)
			return
		pollables.append(server)
		for client in [RustWebSocketPeer.new(), WebSocketPeer.new()]:
			client.connect_to_url("wss://localhost:%d/trust" % server.get_local_port())
			pollables.append(client)
			attempts.append([client, set_name])
	var deadline := Time.get_ticks_msec() + 20000
	while Time.get_ticks_msec() < deadline:
		for p in pollables:
			p.poll()
		if attempts.all(func(a): return a[0].get_ready_state() != 0):
			break
		await process_frame
	for a in attempts:
		print("TRUST %s %s %d" % [a[0].get_class(), a[1], a[0].get_ready_state()])
	for p in pollables:
		if p is WebSocketServer:
			p.stop()
		else:
			p.close(-1)
	pollables.clear()
	attempts.clear()
	print("TRUST done")
	quit(0)
