//! `bench echo` (`cargo xtask bench [echo]`): echo servers side by side in one
//! run, each in its own process on 127.0.0.1, under the same load from `loadgen`:
//!
//! - ours: `WebSocketServer` in headless Godot, echoing in `data_received`, `poll()` in `_process`
//!   (`tests/godot/tools/bench_echo_server.tscn --server=ours`);
//! - engine: the engine's way in the same scene, `TCPServer` + `WebSocketPeer` as the
//!   `websocket_chat` demo does it (`--server=engine`);
//! - Node `ws` (`node_server.js`; ws is the copy the interop stage installs under
//!   `target/interop/node/`, installed the same way here when it is missing);
//! - core: our `rust_websocket_core::Server` without Godot (`serve.rs`);
//! - raw TCP: a loopback byte echo, the physical bound (`serve.rs`).
//!
//! The rows are in `rows.rs`, the table in `table.rs`. Figures only: nothing here passes or fails
//! on timing, but a row whose run lost messages or failed says so in its cell.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, Result};

mod rows;
pub mod serve;
mod servers;
mod table;

use servers::Kind;

/// `godot`: the Godot that xtask found (the extension built, `tests/godot` imported), or why none.
pub fn run(godot: Result<PathBuf>) -> Result<()> {
    let started = std::time::Instant::now();
    let env = servers::Env {
        godot,
        node: servers::node_modules(),
        exe: std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?,
        fd_limit: raise_fd_limit(),
    };
    run::step(&format!(
        "echo servers side by side: ours (Godot, without and with io_thread), the engine's way (Godot), Node ws, our core, raw TCP ({})",
        rows::DURATIONS
    ));
    // `ECHO_BENCH_SERVERS=core,raw` runs only those (quick checks); the others show "?".
    let only = std::env::var("ECHO_BENCH_SERVERS").unwrap_or_default();
    let mut results = table::Results::default();
    for kind in Kind::ALL.into_iter().filter(|k| only.is_empty() || only.split(',').any(|w| w == k.key())) {
        rows::run_server(kind, &env, &mut results);
    }
    println!();
    println!("{}", table::render(&results, &machine(env.godot.as_deref().ok())));
    println!("(echo stage took {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// Raises this process's descriptor limit (children inherit it) to its hard limit; returns the
/// soft limit in force.
#[cfg(unix)]
fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max.min(1 << 20), rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = raised.rlim_cur;
            }
        }
        lim.rlim_cur
    }
}

/// Windows has no descriptor limit of this kind (sockets are handles, limited by memory): the
/// benchmark's 10,000 connections need nothing raised.
#[cfg(not(unix))]
fn raise_fd_limit() -> u64 {
    1 << 20
}

/// CPU model, cores, kernel; the Godot and Node versions.
fn machine(godot: Option<&Path>) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let version = |cmd: &Path, arg: &str| {
        let out = Command::new(cmd).arg(arg).output().ok()?;
        String::from_utf8_lossy(&out.stdout).lines().last().map(|l| l.trim().to_string())
    };
    let godot = godot.and_then(|g| version(g, "--version")).unwrap_or_else(|| "?".into());
    let node = version(&PathBuf::from("node"), "--version").unwrap_or_else(|| "?".into());
    format!("{model}, {cores} cores, Linux {}; Godot {godot}, Node {node}, ws 8.23.0", kernel.trim())
}
