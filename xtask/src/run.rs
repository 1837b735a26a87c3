//! Running child processes: streamed output, time limits.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Result;

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

pub fn step(what: &str) {
    println!("\n==> {what}");
}

pub fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(crate::root())
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args.join(" ")))
    }
}

/// Runs the Rust tests (the core's, the extension's documentation check, xtask's own), streaming their
/// output; returns (passed, failed).
pub fn cargo_test() -> Result<(u32, u32)> {
    cargo_test_counted(&["-p", "rust_websocket_core", "-p", "rust_websocket", "-p", "xtask"], &[])
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

/// A child process running in the background, its output lines collected (and echoed when
/// `echo` is set). Its stdout and stderr share one pipe, so the lines keep the order in which the
/// process wrote them (a server's warnings on stderr and its prints on stdout interleave as they
/// happened, which the per-case log checks rely on).
pub struct Background {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: mpsc::Receiver<()>,
    name: String,
}

impl Background {
    pub fn spawn(mut cmd: Command, name: &str, echo: bool) -> Result<Background> {
        let (read, write) = std::io::pipe().map_err(|e| format!("cannot start {name}: pipe: {e}"))?;
        let write2 = write.try_clone().map_err(|e| format!("cannot start {name}: pipe: {e}"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(write)
            .stderr(write2)
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        // The command holds the pipe's write ends: without dropping it the reader never sees EOF.
        drop(cmd);
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (done, reader) = mpsc::channel();
        {
            let lines = lines.clone();
            let prefix = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(read).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        println!("[{prefix}] {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
                let _ = done.send(());
            });
        }
        Ok(Background { child, lines, reader, name: name.to_string() })
    }

    /// Waits for a line starting with `prefix`; returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str, limit_s: u64) -> Result<String> {
        self.wait_until(&format!("'{prefix}'"), limit_s, |l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    }

    /// Waits for a line equal to `line` (surrounding blanks ignored).
    pub fn wait_for_line(&mut self, line: &str, limit_s: u64) -> Result<()> {
        self.wait_until(&format!("'{line}'"), limit_s, |l| l.trim() == line).map(|_| ())
    }

    fn wait_until(&mut self, what: &str, limit_s: u64, found: impl Fn(&str) -> bool) -> Result<String> {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| found(l)) {
                return Ok(l.clone());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Lines written just before the exit may still be on their way to the reader.
                let _ = self.reader.recv_timeout(Duration::from_secs(2));
                if let Some(l) = self.lines.lock().unwrap().iter().find(|l| found(l)) {
                    return Ok(l.clone());
                }
                return Err(format!("{} exited ({status}) before printing {what}:\n{}", self.name, self.text()));
            }
            if start.elapsed() > Duration::from_secs(limit_s) {
                return Err(format!("{} did not print {what} within {limit_s} s", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the process; returns everything it printed (the reader has reached the end of the
    /// pipe, or 5 s have passed because a grandchild still holds it).
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.reader.recv_timeout(Duration::from_secs(5));
        self.text()
    }
}

impl Drop for Background {
    /// A stage that gives up early (an error) does not leave the process running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process runs as root (may install with apt, make namespaces); never off unix.
pub fn is_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    return unsafe { libc::geteuid() == 0 };
    #[cfg(not(unix))]
    false
}
