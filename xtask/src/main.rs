//! Project tasks: `cargo xtask <task>` (the alias is in `.cargo/config.toml`); what each does for
//! a contributor is in CONTRIBUTING.md, the test stages in docs/testing.md.
//!
//! * `demo` – build, install the addon, run the sample project headless.
//! * `test [word…]` – every stage (`stages.rs`); words pick GDScript tests and stages.
//! * `build [--export|--windows]` – the extension and the addon install (`--windows`: `windows/`).
//! * `autobahn [--reference]` – the Autobahn|Testsuite in both roles (docs/conformance.md).
//! * `fuzz [seconds]` – libFuzzer on the core (default 300 s); not part of `test`.
//! * `bench [core|mp|echo]` – the `bench` crate in release (docs/bench.md).
//! * `package [--no-build|--native] [--all-platforms]` – the release zip (`package/`).
//! * `package-test` – the package stage on what `bin/` holds, with `$GODOT4_BIN` (required).
//! * `windows [tests|check-dll <dll>…]` – the `windows` stage alone, or a part of it.
//! * `platforms [godot-arm64|arm64-run]` – the `platforms` stage alone (`cross/`).
//! * `godot` – print the Godot 4 binary used, provisioning it if needed (`godot.rs`).

mod apt;
mod autobahn;
mod certs;
mod cross;
mod dual_stack;
mod external;
mod godot;
mod package;
mod run;
mod shared;
mod stages;
mod windows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Result<T> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("test") => stages::test(&args[1..]),
        Some("build") if args.iter().any(|a| a == "--windows") => windows::command(),
        Some("build") => {
            build().and_then(|_| if args.iter().any(|a| a == "--export") { build_export() } else { Ok(()) })
        }
        Some("godot") => godot::find().map(|g| println!("{}", g.display())),
        Some("autobahn") => godot::find().and_then(|g| {
            build()?;
            godot::import(&g, &root().join("tests/godot"))?;
            if args.iter().any(|a| a == "--reference") {
                return autobahn::run_reference(&g);
            }
            let verdicts = autobahn::run_both(&g)?;
            let mut failed = false;
            for v in &verdicts {
                println!("{}", v.line());
                if let Some(problem) = v.problem() {
                    println!("  FAILED: {problem}");
                    failed = true;
                }
            }
            if failed {
                return Err("the Autobahn|Testsuite found failures".into());
            }
            Ok(())
        }),
        Some("fuzz") => fuzz(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(300)),
        Some("bench") => bench(args.get(1).map(String::as_str)),
        Some("package") => package::command(&args[1..]),
        Some("platforms") => cross::command(&args[1..]),
        Some("windows") => windows::windows_command(&args[1..]),
        Some("package-test") => package_test(),
        _ => {
            eprintln!("usage: cargo xtask <demo|test [filter…]|build [--export|--windows]|autobahn [--reference]|fuzz [seconds]|bench [core|mp|echo]|package [--no-build|--native] [--all-platforms]|package-test|platforms|windows [tests|check-dll <dll>…]|godot>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask package-test`: the package stage on what `bin/` holds now (the release workflow
/// puts the libraries it built there), without building, with the Godot `$GODOT4_BIN` names
/// (required; `$GODOT_EXPECTED_VERSION`, when set, must match its version).
fn package_test() -> Result<()> {
    stages::alone("package", package::stage(&godot::named()?)?)
}

/// The benchmarks (the `bench` crate, in release; `docs/bench.md`): the core's figures, the
/// multiplayer stage, then the echo servers (`only`: one of them). Godot is found, the extension
/// built and the test project imported here; the crate is told where Godot is, or why it is not.
fn bench(only: Option<&str>) -> Result<()> {
    let which = only.unwrap_or("all");
    if !["all", "core", "mp", "echo"].contains(&which) {
        return Err(format!("bench {which}: expected core, mp or echo"));
    }
    let godot = (which != "core").then(|| {
        godot::find().and_then(|g| {
            build()?;
            godot::import(&g, &root().join("tests/godot"))?;
            Ok(g)
        })
    });
    let godot = match godot {
        Some(Ok(g)) => format!("--godot={}", g.display()),
        Some(Err(e)) => format!("--no-godot={e}"),
        None => "--no-godot=not needed".into(),
    };
    run::cargo(&["run", "--release", "--locked", "-p", "bench", "--", which, &godot])
}

/// Runs the core's fuzz target for `seconds`. cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP
/// lets the machine's stable toolchain accept them.
fn fuzz(seconds: u64) -> Result<()> {
    if std::process::Command::new("cargo")
        .args(["fuzz", "--version"])
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        run::step("installing cargo-fuzz");
        run::cargo(&["install", "cargo-fuzz", "--locked"])?;
    }
    run::step(&format!("fuzzing the core's handshake and frame paths for {seconds} s"));
    let mut fuzz = std::process::Command::new("cargo");
    fuzz.args(["fuzz", "run", "handshake_frames", "--", &format!("-max_total_time={seconds}"), "-rss_limit_mb=1024"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root().join("rust/core"));
    run::status(&mut fuzz, "the fuzzer found a crash (see rust/core/fuzz/artifacts/)")
}

/// The library file name Godot loads on this platform, as named in the `.gdextension`. On a Mac
/// the manifest names one universal dylib (`macos.debug`) and `build` makes it: both
/// architectures built and joined with `lipo` (see `build_for_host`).
fn library_names() -> (&'static str, String) {
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        other => other,
    };
    match std::env::consts::OS {
        "windows" => ("rust_websocket.dll", format!("rust_websocket.windows.{arch}.dll")),
        "macos" => ("librust_websocket.dylib", "librust_websocket.macos.dylib".into()),
        _ => ("librust_websocket.so", format!("librust_websocket.linux.{arch}.so")),
    }
}

/// Builds the library for release exports (no embedded class reference) next to the other.
fn build_export() -> Result<()> {
    let root = root();
    run::step("building the GDExtension for release exports (no docs)");
    let built =
        build_for_host(&["--no-default-features", "--target-dir", "target/export"], &root.join("target/export"))?;
    let (_, installed) = library_names();
    let (base, suffix) = installed.rsplit_once('.').expect("library names have an extension");
    let target = format!("{base}.template_release.{suffix}");
    std::fs::copy(built, root.join("addons/rust_websocket/bin").join(&target))
        .map_err(|e| format!("copying the export library: {e}"))?;
    println!("xtask: addons/rust_websocket/bin/{target}");
    Ok(())
}

/// `cargo build --release -p rust_websocket <extra>` for this machine (`target_dir`: the one
/// `extra` names, else `target/`); the library Godot loads. On a Mac, the one universal dylib the
/// manifest names: both architectures built (`rustup target add` first when rustup is there) and
/// joined with Xcode's `lipo`, so that the library is what its name says.
fn build_for_host(extra: &[&str], target_dir: &Path) -> Result<PathBuf> {
    let mut args = vec!["build", "--release", "--locked", "-p", "rust_websocket"];
    args.extend(extra);
    let (built, _) = library_names();
    // Cargo writes a cdylib of either feature set to the same file and judges freshness by
    // mtimes, so after a build with other features it may keep the other build's library: the
    // binding's own artefacts go whenever the features change (its dependencies stay).
    const MAC: [&str; 2] = ["x86_64-apple-darwin", "aarch64-apple-darwin"];
    let features = target_dir.join(".rust_websocket_features");
    if std::fs::read_to_string(&features).ok().as_deref() != Some(&extra.join(" ")) {
        let dir = target_dir.display().to_string();
        let clean = ["clean", "--release", "-p", "rust_websocket", "--target-dir", &dir];
        if std::env::consts::OS != "macos" {
            run::cargo(&clean)?;
        }
        for triple in MAC.iter().filter(|_| std::env::consts::OS == "macos") {
            run::cargo(&[&clean[..], &["--target", triple]].concat())?;
        }
    }
    let record = || {
        std::fs::create_dir_all(target_dir)
            .and_then(|_| std::fs::write(&features, extra.join(" ")))
            .map_err(|e| format!("{}: {e}", features.display()))
    };
    if std::env::consts::OS != "macos" {
        run::cargo(&args)?;
        record()?;
        return Ok(target_dir.join("release").join(built));
    }
    if run::which("rustup").is_some() {
        let _ = std::process::Command::new("rustup").args(["target", "add"]).args(MAC).status();
    }
    let mut parts = Vec::new();
    for triple in MAC {
        let mut with_target = args.clone();
        with_target.extend(["--target", triple]);
        run::cargo(&with_target)
            .map_err(|e| format!("{e} (both macOS targets are needed: rustup target add {})", MAC.join(" ")))?;
        parts.push(target_dir.join(triple).join("release").join(built));
    }
    let fat = target_dir.join("universal-apple-darwin/release").join(built);
    std::fs::create_dir_all(fat.parent().unwrap()).map_err(|e| e.to_string())?;
    let mut lipo = std::process::Command::new("lipo");
    lipo.arg("-create").args(&parts).arg("-output").arg(&fat);
    run::status(&mut lipo, "lipo -create (Xcode's command line tools) failed to join the two macOS libraries")?;
    record()?;
    Ok(fat)
}

/// Builds the extension in release and installs the addon into both Godot projects.
fn build() -> Result<PathBuf> {
    let root = root();
    run::step("building the GDExtension (release)");
    let built = build_for_host(&[], &root.join("target"))?;
    let (_, installed) = library_names();
    let addon = root.join("addons/rust_websocket");
    std::fs::create_dir_all(addon.join("bin")).map_err(|e| e.to_string())?;
    std::fs::copy(built, addon.join("bin").join(&installed)).map_err(|e| format!("copying the built library: {e}"))?;
    for project in ["godot_project", "tests/godot"] {
        install_addon(&addon, &root.join(project))?;
    }
    Ok(addon)
}

/// The extension with the binding's in-engine tests (feature `itest`), installed into the test
/// project only: `addons/` and the sample project keep the library users get, so a package made
/// after a test run never ships the tests.
fn build_itest() -> Result<()> {
    let root = root();
    run::step("building the GDExtension with its in-engine tests (release, --features itest)");
    let built = build_for_host(&["--features", "itest"], &root.join("target"))?;
    let project = root.join("tests/godot");
    install_addon(&root.join("addons/rust_websocket"), &project)?;
    let (_, installed) = library_names();
    let bin = project.join("addons/rust_websocket/bin");
    std::fs::create_dir_all(&bin).map_err(|e| e.to_string())?;
    std::fs::copy(built, bin.join(installed)).map_err(|e| format!("copying the built library: {e}"))?;
    Ok(())
}

/// Copies the addon folder into `project/addons/`, as a user would.
fn install_addon(addon: &Path, project: &Path) -> Result<()> {
    let dest = project.join("addons/rust_websocket");
    if dest.exists() {
        std::fs::remove_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    copy_dir(addon, &dest).map_err(|e| format!("installing the addon into {}: {e}", project.display()))?;
    let list = project.join(".godot/extension_list.cfg");
    if !list.exists() {
        std::fs::create_dir_all(list.parent().unwrap()).map_err(|e| e.to_string())?;
        std::fs::write(&list, "res://addons/rust_websocket/rust_websocket.gdextension\n").map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn demo() -> Result<()> {
    let godot = godot::find()?;
    build()?;
    let project = root().join("godot_project");
    godot::import(&godot, &project)?;
    run::step("running the sample project headless (the tutorial, then the multiplayer game, on 127.0.0.1)");
    let out = godot::run(&godot, &project, &[], 60, &[])?;
    godot::check_log(&out.text)?;
    if !out.success {
        return Err(format!("the demo exited with {}", out.status));
    }
    // Lines are counted by all their parts. First the tutorial's "This will print" lines, once per
    // client (engine peer and Rust peer); then the multiplayer game (godot_project/multiplayer/):
    // our RustWebSocketMultiplayerPeer server, alice on the engine's WebSocketMultiplayerPeer, bob
    // on ours (from the RustWebSocket helper), mallory turned away by the request_validator.
    let lines_with = |parts: &[&str]| out.text.lines().filter(|l| parts.iter().all(|p| l.contains(p))).count();
    for (parts, want) in [
        (&[" connected with protocol: "][..], 2),
        (&[": Test packet ... echoing"], 2),
        (&["Got data from server: Test packet"], 2),
        (&["WebSocket closed with code: 1000. Clean: true"], 2),
        (&["[server] RustWebSocketMultiplayerPeer listening on ws://127.0.0.1:"], 1),
        (&["[alice] WebSocketMultiplayerPeer joining ws://127.0.0.1:"], 1),
        (&["[bob] RustWebSocketMultiplayerPeer joining ws://127.0.0.1:"], 1),
        (&["[server] request for /lobby: admitted"], 2),
        (&["[server] request for /spectate: refused with HTTP 404"], 1),
        (&["[mallory] connection failed"], 1),
        (&["[server] player ", " joined from 127.0.0.1"], 2),
        (&["[alice] connected as player "], 1),
        (&["[bob] connected as player "], 1),
        (&["[server] player ", " is alice"], 1),
        (&["[server] player ", " is bob"], 1),
        (&["[alice] the server acknowledged my name: alice"], 1),
        (&["[bob] the server acknowledged my name: bob"], 1),
        (&["[alice] the server says player ", " is bob"], 1),
        (&["[bob] the server says player ", " is alice"], 1),
        (&["[server] round ", "'s turn"], 4),
        (&["[alice] my turn in round "], 2),
        (&["[bob] my turn in round "], 2),
        (&["[server] ", " rolls "], 4),
        (&["[alice] ", " rolled "], 4),
        (&["[bob] ", " rolled "], 4),
        (&["] game over: "], 3),
        (&["[server] player ", " (alice) left"], 1),
        (&["[bob] alice left the game"], 1),
        (&["[bob] the server closed the game"], 1),
        (&["Multiplayer demo finished: "], 1),
    ] {
        if lines_with(parts) != want {
            return Err(format!("the demo printed {} lines with {parts:?}, expected {want}", lines_with(parts)));
        }
    }
    println!("xtask: demo OK");
    Ok(())
}
