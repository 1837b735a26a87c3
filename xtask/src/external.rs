//! Drivers outside Godot against servers hosted in headless Godot (`tools/echo_server.tscn`):
//! the hostile-input suite and the leak/soak check (Python 3, standard library only).

use std::path::Path;
use std::process::Command;

use crate::run::{self, Background};
use crate::Result;

/// An echo server in headless Godot, started with `args`.
pub struct EchoServer {
    proc: Background,
    pub port: u16,
    pub pid: u32,
    tls: bool,
}

impl EchoServer {
    pub fn start(godot: &Path, name: &str, args: &[&str]) -> Result<EchoServer> {
        let mut cmd = Command::new(godot);
        cmd.args(["--headless", "--path"])
            .arg(crate::root().join("tests/godot"))
            .args(["res://tools/echo_server.tscn", "--", "--port=0"])
            .args(args);
        let mut proc = Background::spawn(cmd, name, false)?;
        let port = proc.wait_for("LISTENING ", 60)?.parse().map_err(|e| format!("{name}: bad port: {e}"))?;
        let pid = proc.wait_for("PID ", 5)?.parse().map_err(|e| format!("{name}: bad pid: {e}"))?;
        Ok(EchoServer { proc, port, pid, tls: args.contains(&"--tls") })
    }

    /// Asks the server to quit (a `__quit__` message), waits for it, and returns its log after
    /// checking it for script errors and leaks at exit.
    pub fn stop(mut self) -> Result<String> {
        let script = format!(
            "import sys; sys.path.insert(0, {:?}); import wsclient; wsclient.stop_server({}, {})",
            crate::root().join("tests/external").display().to_string(),
            self.port,
            if self.tls { "True" } else { "False" }
        );
        let _ = Command::new("python3").args(["-c", &script]).status();
        let start = std::time::Instant::now();
        while self.proc.is_running() && start.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let clean_exit = !self.proc.is_running();
        let log = self.proc.stop();
        if !clean_exit {
            return Err("the echo server did not quit when asked".into());
        }
        crate::godot::check_log(&log)?;
        Ok(log)
    }
}

fn python(script: &str, args: &[String], limit_s: u64) -> Result<run::Output> {
    let dir = crate::root().join("tests/external");
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join(script)).args(args).current_dir(&dir);
    run::capture(cmd, limit_s)
}

/// Hostile input, then the soak, against Godot-hosted servers. Returns (passed, failed, problem).
pub fn hostile_and_soak(godot: &Path) -> Result<(u32, u32, Option<String>)> {
    run::step("hostile input against a WebSocketServer in headless Godot");
    let limits = ["--inbound=1048576", "--outbound=65535"];
    let plain = EchoServer::start(godot, "echo server", &limits)?;
    let mut tls_args = limits.to_vec();
    tls_args.push("--tls");
    let tls = EchoServer::start(godot, "tls echo server", &tls_args)?;
    let hostile = python(
        "hostile.py",
        &[format!("--port={}", plain.port), format!("--pid={}", plain.pid), format!("--tls-port={}", tls.port)],
        600,
    )?;
    run::step("leak and soak: 20,000 connect/exchange/close cycles against one server");
    let soak = python("soak.py", &[format!("--port={}", plain.port), format!("--pid={}", plain.pid)], 900)?;
    let mut problems = Vec::new();
    let mut logs = String::new();
    for server in [plain, tls] {
        match server.stop() {
            Ok(log) => logs.push_str(&log),
            Err(e) => problems.push(e),
        }
    }
    // Each case names a line the server must have logged about it.
    for expected in hostile.text.lines().filter_map(|l| l.strip_prefix("EXPECT-LOG ")) {
        if !logs.contains(expected) {
            problems.push(format!("the server log lacks '{expected}'"));
        }
    }
    let (hp, hf) = crate::godot::summary(&hostile.text).unwrap_or((0, 1));
    let (sp, sf) = crate::godot::summary(&soak.text).unwrap_or((0, 1));
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    Ok((hp + sp, hf + sf, problem))
}
