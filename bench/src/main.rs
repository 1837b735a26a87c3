//! The benchmarks (`cargo xtask bench [core|mp|echo]` runs this crate in release; `docs/bench.md`).
//! Figures only: nothing here passes or fails on timing.
//!
//! `bench <all|core|mp|echo> [--godot=PATH | --no-godot=REASON]`: `core` (the core's figures,
//! then the compression rows against Node `ws`; `corebench/`), `mp` (the multiplayer stage; `mp/`),
//! `echo` (the echo servers side by side; `echo/`), `all` all three. xtask finds Godot, builds the
//! extension and imports `tests/godot` first. The load generator of `mp` and `echo` is `loadgen/`.
//!
//! `core N` sets the idle scale's clients. Internal modes (this program started by itself):
//! `memory-child MODE N` (`corebench/deflate_memory.rs`), `serve core|raw` (`echo/serve.rs`).

mod client;
mod corebench;
mod echo;
mod figures;
mod loadgen;
mod mp;
// xtask's process helpers and Godot log check, one source for both (the benchmarks use most).
#[allow(dead_code)]
#[path = "../../xtask/src/shared.rs"]
mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

type Result<T> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench lives in the workspace").to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let godot = || -> Result<PathBuf> {
        let arg = |key: &str| args.iter().find_map(|a| a.strip_prefix(key));
        match (arg("--godot="), arg("--no-godot=")) {
            (Some(path), _) => Ok(PathBuf::from(path)),
            (None, Some(reason)) => Err(reason.to_string()),
            (None, None) => Err("no Godot named (run `cargo xtask bench`)".into()),
        }
    };
    let result = match args.first().map(String::as_str) {
        Some("all") => corebench::run(&[]).and_then(|_| mp::run(&godot()?)).and_then(|_| echo::run(godot())),
        Some("core") => corebench::run(&args[1..]),
        Some("mp") => godot().and_then(|g| mp::run(&g)),
        Some("echo") => echo::run(godot()),
        Some("memory-child") => corebench::memory_child(&args[1..]),
        Some("serve") => echo::serve::run(args.get(1).map_or("", String::as_str)),
        _ => {
            eprintln!("usage: bench <all|core|mp|echo> [--godot=PATH|--no-godot=REASON] (cargo xtask bench runs it)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: error: {e}");
            ExitCode::FAILURE
        }
    }
}
