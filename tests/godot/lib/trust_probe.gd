extends SceneTree
## Run by suites/test_tls_trust.gd in a child Godot (`--script`, in a mount namespace whose
## system CA bundle is the test's): two TLS servers, one with the certificate chain of each test
## root (`<certs>/` and `<certs>/other/`), and for each a client with no TLSOptions, ours and the
## engine's, one attempt at a time. Prints `TRUST <client class> <set> <ready state> <why>` for
## each (state 1 open, 3 closed), then `TRUST done`, and quits. `why` is what the errors and
## warnings logged during that attempt say: `certificate` when the client refused the server's
## certificate (ours: "unknown issuer"; the engine's mbedTLS: X509 verification failed, -9984),
## `other` for any other failure (DNS, refused connection, no default roots...), `open`, or
## `nolog` on a Godot without the Logger class (before 4.5), where it cannot be told.

## What a certificate refusal logs, by client class.
const REFUSALS := {
	"RustWebSocketPeer": ["RustWebSocketPeer", "certificate was rejected", "unknown issuer"],
	"WebSocketPeer": ["TLS handshake error: -9984"],
}

## Collects every logged error, warning and message (Godot 4.5+).
const LOGGER_SOURCE := """extends Logger
var lines: Array = []
var mutex := Mutex.new()
func _log_error(function, file, line, code, rationale, editor_notify, error_type, script_backtraces):
	mutex.lock()
	lines.append(str(code) + " " + str(rationale))
	mutex.unlock()
func _log_message(message, error):
	mutex.lock()
	lines.append(str(message))
	mutex.unlock()
"""

var pollables: Array = []
var logger: Object = null


func _initialize() -> void:
	_run()


func _make_logger() -> void:
	if not ClassDB.class_exists("Logger") or not OS.has_method("add_logger"):
		return
	var script := GDScript.new()
	script.source_code = LOGGER_SOURCE
	if script.reload() != OK:
		return
	logger = script.new()
	OS.call("add_logger", logger)


func _logged_since(start: int) -> Array:
	logger.mutex.lock()
	var lines: Array = logger.lines.slice(start)
	logger.mutex.unlock()
	return lines


func _label(client: Object) -> String:
	return "RustWebSocketPeer" if client is RustWebSocketPeer else "WebSocketPeer"


func _why(client: Object, start: int) -> String:
	if client.get_ready_state() == 1:
		return "open"
	if logger == null:
		return "nolog"
	for line in _logged_since(start):
		if REFUSALS[_label(client)].all(func(part): return line.contains(part)):
			return "certificate"
	return "other"


func _run() -> void:
	_make_logger()
	var certs: String = OS.get_cmdline_user_args()[0]
	var results: Array = []
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
			var start: int = logger.lines.size() if logger != null else 0
			client.connect_to_url("wss://localhost:%d/trust" % server.get_local_port())
			var deadline := Time.get_ticks_msec() + 10000
			while Time.get_ticks_msec() < deadline and client.get_ready_state() == 0:
				server.poll()
				client.poll()
				await process_frame
			# A few more frames, for what is logged after the state changed.
			for i in 5:
				server.poll()
				client.poll()
				await process_frame
			results.append("TRUST %s %s %d %s" % [_label(client), set_name, client.get_ready_state(), _why(client, start)])
			client.close(-1)
		server.stop()
	pollables.clear()
	for r in results:
		print(r)
	print("TRUST done")
	if logger != null:
		OS.call("remove_logger", logger)
	quit(0)
