extends RefCounted
## Shared by the tool scenes: command-line options after `--`, and polling at full speed.


## `--name=value` (or `--flag`, read as "1") user arguments as a Dictionary.
static func parse() -> Dictionary:
	var args := {}
	for a in OS.get_cmdline_user_args():
		var kv: PackedStringArray = a.trim_prefix("--").split("=", true, 1)
		args[kv[0]] = kv[1] if kv.size() > 1 else "1"
	return args


## Headless Godot otherwise sleeps ~7 ms per frame; these tools poll sockets every frame.
static func full_speed() -> void:
	OS.low_processor_usage_mode_sleep_usec = 0
	Engine.max_fps = 0
