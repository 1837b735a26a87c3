extends Node
## Test runner: finds res://suites/test_*.gd, runs every test_* method of each (coroutines are
## awaited) under a watchdog, prints one line per test, then "N passed, N failed" alone on its
## line, and quits with 0 only if everything passed.
##
## User arguments (after `--`) filter: a test runs if its "suite.test" name contains any of them.

const TEST_TIMEOUT_MS := 60000

var passed := 0
var failed := 0


func _ready() -> void:
	# Run polling loops at full speed instead of sleeping ~7 ms per frame.
	OS.low_processor_usage_mode_sleep_usec = 0
	Engine.max_fps = 0
	if not ClassDB.class_exists("WebSocketServer") or not ClassDB.class_exists("RustWebSocketPeer"):
		printerr("FATAL: the rust_websocket extension is not loaded")
		print("0 passed, 1 failed")
		get_tree().quit(1)
		return
	var filters := OS.get_cmdline_user_args()
	var started := Time.get_ticks_msec()
	for path in _suite_paths():
		await _run_suite(path, filters)
	print("--- %d tests in %.1f s" % [passed + failed, (Time.get_ticks_msec() - started) / 1000.0])
	print("%d passed, %d failed" % [passed, failed])
	get_tree().quit(0 if failed == 0 else 1)


func _suite_paths() -> Array[String]:
	var paths: Array[String] = []
	for f in DirAccess.get_files_at("res://suites"):
		if f.begins_with("test_") and f.ends_with(".gd"):
			paths.append("res://suites/" + f)
	paths.sort()
	return paths


func _selected(full_name: String, filters: PackedStringArray) -> bool:
	if filters.is_empty():
		return true
	for f in filters:
		if full_name.contains(f):
			return true
	return false


func _run_suite(path: String, filters: PackedStringArray) -> void:
	var suite_name := path.get_file().get_basename()
	# Selection by the source text first: a suite none of whose tests is selected is not even
	# loaded (one that does not compile then only fails the runs that select it).
	var declared := RegEx.create_from_string("(?m)^func (test_\\w+)\\s*\\(").search_all(FileAccess.get_file_as_string(path))
	if not declared.any(func(m): return _selected(suite_name + "." + m.get_string(1), filters)):
		return
	var script: GDScript = load(path)
	if script == null or not script.can_instantiate():
		failed += 1
		print("  FAIL  %s (the suite does not compile)" % suite_name)
		return
	var names: Array[String] = []
	for m in script.get_script_method_list():
		var n: String = m["name"]
		if n.begins_with("test_") and _selected(suite_name + "." + n, filters) and not names.has(n):
			names.append(n)
	if names.is_empty():
		return
	print("== %s" % suite_name)
	for n in names:
		var suite: TestSuite = script.new()
		add_child(suite)
		var state := {"done": false}
		var t0 := Time.get_ticks_msec()
		# A dynamic call starts the coroutine without awaiting it, so the watchdog can run.
		Callable(self, "_call_test").call(suite, n, state)
		while not state["done"] and Time.get_ticks_msec() - t0 < TEST_TIMEOUT_MS:
			await get_tree().process_frame
		var ms := Time.get_ticks_msec() - t0
		if not state["done"]:
			suite.failures.append("timed out after %d ms" % TEST_TIMEOUT_MS)
		suite.cleanup()
		if suite.failures.is_empty():
			passed += 1
			print("  ok    %s.%s (%d ms)" % [suite_name, n, ms])
		else:
			failed += 1
			print("  FAIL  %s.%s (%d ms)" % [suite_name, n, ms])
			for f in suite.failures:
				print("        - %s" % f)
		remove_child(suite)
		suite.free()
		# Let deferred frees and closing sockets settle between tests.
		await get_tree().process_frame


func _call_test(suite: TestSuite, test_name: String, state: Dictionary) -> void:
	await suite.call(test_name)
	state["done"] = true
