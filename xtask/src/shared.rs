//! What xtask and the bench crate both use, compiled into each (`bench/src/main.rs` includes this
//! file with `#[path]`, so it depends on nothing but std): finding programs, step headings,
//! background processes, and the Godot log check.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// Runs `cmd` (its output shown); `Err(failed)` when it fails or cannot start.
pub fn status(cmd: &mut Command, failed: &str) -> Result<()> {
    match cmd.status() {
        Ok(s) if s.success() => Ok(()),
        Ok(_) => Err(failed.into()),
        Err(e) => Err(format!("{failed}: cannot run {:?}: {e}", cmd.get_program())),
    }
}

/// Node `ws` 8.23.0 under `target/interop/node/` (the interop stage's drivers and the echo
/// benchmark's Node server use the same copy), installed with npm when missing: its
/// `node_modules` folder.
pub fn node_ws(root: &std::path::Path) -> Result<std::path::PathBuf> {
    let dir = root.join("target/interop/node");
    if which("node").is_none() {
        return Err("`node` is not installed".into());
    }
    if !dir.join("node_modules/ws").exists() {
        step("installing Node ws 8.23.0 into target/interop/node");
        let mut npm = Command::new("npm");
        npm.args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"]).arg(&dir).arg("ws@8.23.0");
        status(&mut npm, "npm install ws failed")?;
    }
    Ok(dir.join("node_modules"))
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

/// Fails on what a clean run never prints.
pub fn check_log(log: &str) -> Result<()> {
    const BAD: [&str; 7] = [
        "SCRIPT ERROR",
        "Error loading extension",
        "Error loading GDExtension",
        "GDExtension dynamic library not found",
        "ObjectDB instances leaked",
        "resources still in use at exit",
        "panicked at",
    ];
    let found: Vec<&str> = BAD.iter().copied().filter(|b| log.contains(b)).collect();
    if found.is_empty() {
        Ok(())
    } else {
        Err(format!("the Godot log shows: {}", found.join(", ")))
    }
}
