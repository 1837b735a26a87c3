extends TestSuite
## The binding's Rust in-engine tests (rust/godot/src/itest/, built with the cargo feature
## `itest` by `cargo xtask test`): runs their registry inside this Godot and asserts every one
## passed, printing each by name. A Rust test fails by panicking; panics are caught in Rust
## (catch_unwind and a panic hook) and come back here as the test's message.

const META := "rust_websocket_itests"


func test_rust_itests_all_pass() -> void:
	if not check(Engine.has_meta(META), "the library has no Rust itests (build it with the cargo feature itest: cargo xtask test does)"):
		return
	var runner: Callable = Engine.get_meta(META)
	var results: Array = runner.call()
	check(results.size() >= 10, "Rust itests found: %d" % results.size())
	var passed := 0
	for r in results:
		if r["passed"]:
			passed += 1
			print("    ok    rust %s (%d ms)" % [r["name"], r["ms"]])
		else:
			print("    FAIL  rust %s (%d ms)" % [r["name"], r["ms"]])
			check(false, "rust %s: %s" % [r["name"], r["message"]])
	print("    %d of %d Rust itests passed" % [passed, results.size()])
