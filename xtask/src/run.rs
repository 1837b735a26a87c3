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

/// Runs the Rust tests (the core's, and the extension's documentation check), streaming their
/// output; returns (passed, failed).
pub fn cargo_test() -> Result<(u32, u32)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--locked", "-p", "rust_websocket_core", "-p", "rust_websocket"]).current_dir(crate::root());
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
/// `echo` is set).
pub struct Background {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    name: String,
}

impl Background {
    pub fn spawn(mut cmd: Command, name: &str, echo: bool) -> Result<Background> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        for r in
            [Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>, Box::new(child.stderr.take().unwrap())]
        {
            let lines = lines.clone();
            let prefix = name.to_string();
            std::thread::spawn(move || {
                for line in BufReader::new(r).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        println!("[{prefix}] {line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        Ok(Background { child, lines, name: name.to_string() })
    }

    /// Waits for a line starting with `prefix`; returns the rest of it.
    pub fn wait_for(&mut self, prefix: &str, limit_s: u64) -> Result<String> {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.starts_with(prefix)) {
                return Ok(l[prefix.len()..].trim().to_string());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited ({status}) before printing '{prefix}':\n{}", self.name, self.text()));
            }
            if start.elapsed() > Duration::from_secs(limit_s) {
                return Err(format!("{} did not print '{prefix}' within {limit_s} s", self.name));
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

    /// Stops the process; returns everything it printed.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.text()
    }
}
