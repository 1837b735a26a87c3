//! Running child processes: streamed output, time limits.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Result;

pub use crate::shared::{node_ws, status, step, which, Background};

/// Time limit of one library build (a cold one compiles the standard library too, for minutes).
pub const BUILD_LIMIT_S: u64 = 2400;

/// A duration in whole seconds, "12 s".
pub fn secs(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

pub fn cargo(args: &[&str]) -> Result<()> {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    status(cargo.args(args).current_dir(crate::root()), &format!("cargo {} failed", args.join(" ")))
}

/// `cmd`'s stdout; when it fails, an error with the command and its stderr.
pub fn stdout(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        let args: Vec<_> = cmd.get_args().map(|a| a.to_string_lossy()).collect();
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} {} failed: {}", cmd.get_program().to_string_lossy(), args.join(" "), err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the Rust tests (the core's, the extension's documentation check, xtask's and the bench
/// crate's own), streaming their output; returns (passed, failed).
pub fn cargo_test() -> Result<(u32, u32)> {
    cargo_test_counted(&["-p", "rust_websocket_core", "-p", "rust_websocket", "-p", "xtask", "-p", "bench"], &[])
}

/// The core's suites over real sockets again, every server driven from its I/O thread
/// (`RUST_WEBSOCKET_IO_THREAD=1`, read by the suites' `common::listen`).
pub fn cargo_test_io_thread() -> Result<(u32, u32)> {
    // (`io_thread.rs` makes its threads itself: it runs once, in `cargo_test`.)
    let suites = ["--test", "loopback", "--test", "tls", "--test", "multiplayer"];
    let mut args = vec!["-p", "rust_websocket_core"];
    args.extend(suites);
    cargo_test_counted(&args, &[("RUST_WEBSOCKET_IO_THREAD", "1")])
}

/// `cargo test --locked <args>`; its passed and failed counts.
fn cargo_test_counted(args: &[&str], env: &[(&str, &str)]) -> Result<(u32, u32)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--locked"]).args(args).envs(env.iter().copied()).current_dir(crate::root());
    let out = capture(cmd, 900)?;
    let (mut passed, mut failed) = (0, 0);
    for line in out.text.lines() {
        // "test result: ok. 9 passed; 0 failed; ..."
        if let Some(rest) = line.strip_prefix("test result: ") {
            let num = |key: &str| {
                rest.split(';').find_map(|p| {
                    p.trim().strip_suffix(key).and_then(|n| n.trim().split(' ').next_back()?.parse::<u32>().ok())
                })
            };
            passed += num(" passed").unwrap_or(0);
            failed += num(" failed").unwrap_or(0);
        }
    }
    if !out.success && failed == 0 {
        failed = 1;
    }
    Ok((passed, failed))
}

pub struct Output {
    pub text: String,
    pub success: bool,
    pub status: String,
}

/// Runs `cmd`, echoing stdout and stderr as they come, and kills it after `limit_s` seconds.
pub fn capture(cmd: Command, limit_s: u64) -> Result<Output> {
    capture_with(cmd, limit_s, true)
}

/// As `capture`, without echoing (for chatty tools whose output is summarised instead).
pub fn capture_quiet(cmd: Command, limit_s: u64) -> Result<Output> {
    capture_with(cmd, limit_s, false)
}

fn capture_with(mut cmd: Command, limit_s: u64, echo: bool) -> Result<Output> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let (tx, rx) = mpsc::channel::<String>();
    let pipe = |r: Box<dyn Read + Send>, tx: mpsc::Sender<String>| {
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if echo {
                    println!("{line}");
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        })
    };
    let t1 = pipe(Box::new(child.stdout.take().unwrap()), tx.clone());
    let t2 = pipe(Box::new(child.stderr.take().unwrap()), tx);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(limit_s) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = t1.join();
    let _ = t2.join();
    let text: Vec<String> = rx.try_iter().collect();
    let text = text.join("\n");
    Ok(match status {
        Some(s) => Output { text, success: s.success(), status: s.to_string() },
        None => Output { text, success: false, status: format!("killed after {limit_s} s") },
    })
}

/// Whether this process runs as root (may install with apt, make namespaces); never off unix.
pub fn is_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    return unsafe { libc::geteuid() == 0 };
    #[cfg(not(unix))]
    false
}

/// (major, minor) of a dotted version: "1.96.0" (rustc), "4.6.3.stable" (Godot), "2.2.5" (glibc).
pub fn major_minor(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versions() {
        use super::major_minor;
        assert_eq!(major_minor("1.96.0"), Some((1, 96)));
        assert_eq!(major_minor("1.94"), Some((1, 94)));
        assert_eq!(major_minor("4.6.3.stable.debian"), Some((4, 6)));
        assert_eq!(major_minor("2.2.5"), Some((2, 2)));
        assert_eq!(major_minor("x"), None);
        assert!(major_minor("1.85.0") < Some((1, 94)));
    }
}
