extends RefCounted
## The errors the engine reports (push_error, the engine's and the extension's error macros, a
## gdext panic), kept for a test to look at: a Logger (Godot 4.5+) added with OS.add_logger.
## The Logger is compiled from source at run time, so this script also loads on engines without
## the Logger class (install() then returns null).
##
## Not a class_name on purpose: load it with preload("res://lib/error_capture.gd").


## A new Logger, added to the engine, that keeps every error as "CODE RATIONALE"; its take()
## returns the errors kept since the last take() and forgets them. Null where there is no
## Logger class. Undo with remove().
static func install() -> Object:
	if not ClassDB.class_exists("Logger"):
		return null
	var src := GDScript.new()
	src.source_code = "\n".join([
		"extends Logger",
		"var entries: Array[String] = []",
		"var mutex := Mutex.new()",
		"func _log_error(function, file, line, code, rationale, editor_notify, error_type, script_backtraces):",
		"\tmutex.lock()",
		"\tentries.append(str(code) + \" \" + str(rationale))",
		"\tmutex.unlock()",
		"func take() -> Array[String]:",
		"\tmutex.lock()",
		"\tvar e := entries.duplicate()",
		"\tentries.clear()",
		"\tmutex.unlock()",
		"\treturn e",
	])
	if src.reload() != OK:
		return null
	var logger: Object = src.new()
	OS.call("add_logger", logger)
	return logger


## Takes a Logger of install() out of the engine (nothing if null).
static func remove(logger: Object) -> void:
	if logger != null:
		OS.call("remove_logger", logger)
