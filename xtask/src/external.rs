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
    protocol: Option<String>,
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
        let protocol = args
            .iter()
            .find_map(|a| a.strip_prefix("--protocols="))
            .map(|p| p.split(',').next().unwrap_or("").to_string());
        Ok(EchoServer { proc, port, pid, tls: args.contains(&"--tls"), protocol })
    }

    /// Asks the server to quit (a `__quit__` message), waits for it, and returns its log after
    /// checking it for script errors and leaks at exit.
    pub fn stop(mut self) -> Result<String> {
        let script = format!(
            "import sys; sys.path.insert(0, {:?}); import wsclient; wsclient.stop_server({}, {}, {})",
            crate::root().join("tests/external").display().to_string(),
            self.port,
            if self.tls { "True" } else { "False" },
            self.protocol.as_ref().map(|p| format!("{p:?}")).unwrap_or_else(|| "None".into())
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

/// Third-party packages the interop drivers use, installed under `target/interop/`.
fn interop_deps() -> Result<std::path::PathBuf> {
    let dir = crate::root().join("target/interop");
    if !dir.join("py/websockets").exists() {
        run::step("installing Python websockets 17.4 into target/interop/py");
        let ok = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"])
            .arg(dir.join("py"))
            .arg("websockets==17.4")
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok {
            return Err("pip install websockets failed".into());
        }
    }
    if !dir.join("node/node_modules/ws").exists() {
        run::step("installing Node ws 8.23.0 into target/interop/node");
        let ok = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir.join("node"))
            .arg("ws@8.23.0")
            .status()
            .map_err(|e| format!("npm: {e}"))?
            .success();
        if !ok {
            return Err("npm install ws failed".into());
        }
    }
    if run::which("chromium").is_none() {
        run::step("installing Debian's chromium for the browser interop test");
        if run::which("apt-get").is_none() {
            return Err("chromium is needed for the browser interop test (apt-get install chromium)".into());
        }
        let _ = Command::new("apt-get").args(["-q", "update"]).status();
        let ok = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| e.to_string())?
            .success();
        if !ok {
            return Err("apt-get install chromium failed (run as root, or install it)".into());
        }
    }
    crate::certs::write(&dir.join("certs"))?;
    Ok(dir)
}

fn driver(program: &str, args: &[String], deps: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(crate::root().join("tests/external"))
        .env("PYTHONPATH", deps.join("py"))
        .env("NODE_PATH", deps.join("node/node_modules"));
    cmd
}

/// The interop matrix: third-party clients against our server, our client against third-party
/// servers. Returns (passed, failed, problem).
pub fn interop(godot: &Path) -> Result<(u32, u32, Option<String>)> {
    let deps = interop_deps()?;
    let ext = crate::root().join("tests/external");
    let mut lines = Vec::new();
    let mut problems = Vec::new();

    run::step("interop: Python websockets, Node ws and Chromium clients -> WebSocketServer in Godot");
    let server = EchoServer::start(godot, "interop echo server", &["--protocols=chat.v1", "--verbose"])?;
    let url = format!("ws://127.0.0.1:{}/interop", server.port);
    let clients = [
        ("python3", vec![ext.join("interop_py.py").display().to_string(), "client".into(), format!("--url={url}")]),
        (
            "node",
            vec![ext.join("interop_node.js").display().to_string(), "client".into(), url.clone(), "chat.v1".into()],
        ),
        ("python3", vec![ext.join("interop_browser.py").display().to_string(), format!("--ws-port={}", server.port)]),
    ];
    let mut expected_log = Vec::new();
    for (program, args) in clients {
        let out = run::capture(driver(program, &args, &deps), 120)?;
        lines.extend(out.text.lines().filter(|l| l.starts_with("INTEROP ")).map(str::to_string));
        expected_log.extend(out.text.lines().filter_map(|l| l.strip_prefix("EXPECT-LOG ")).map(str::to_string));
        if !out.text.contains("INTEROP ") {
            lines.push(format!("INTEROP FAIL {program} {}: no result ({})", args[0], out.status));
        }
    }
    match server.stop() {
        Ok(log) => {
            for e in expected_log {
                if !log.contains(&e) {
                    problems.push(format!("our server did not log '{e}'"));
                }
            }
        }
        Err(e) => problems.push(e),
    }

    run::step("interop: RustWebSocketPeer in Godot -> Python websockets and Node ws servers (ws and wss)");
    let certs = deps.join("certs");
    let servers: [(&str, Vec<String>, &str, bool); 3] = [
        (
            "python3",
            vec![ext.join("interop_py.py").display().to_string(), "server".into(), "--protocol=chat.v1".into()],
            "python-websockets",
            false,
        ),
        (
            "node",
            vec![ext.join("interop_node.js").display().to_string(), "server".into(), "chat.v1".into(), "1".into()],
            "node-ws",
            false,
        ),
        (
            "node",
            vec![
                ext.join("interop_node.js").display().to_string(),
                "server".into(),
                "chat.v1".into(),
                "1".into(),
                certs.join("chain.crt").display().to_string(),
                certs.join("server.key").display().to_string(),
            ],
            "node-ws over TLS (test CA, intermediate)",
            true,
        ),
    ];
    for (program, args, label, tls) in servers {
        let mut srv = Background::spawn(driver(program, &args, &deps), label, false)?;
        let port = match srv.wait_for("LISTENING ", 30) {
            Ok(p) => p,
            Err(e) => {
                lines.push(format!("INTEROP FAIL {label}: {e}"));
                continue;
            }
        };
        let url =
            if tls { format!("wss://localhost:{port}/interop") } else { format!("ws://127.0.0.1:{port}/interop") };
        let mut cmd = Command::new(godot);
        cmd.args(["--headless", "--path"]).arg(crate::root().join("tests/godot")).args([
            "res://tools/interop_client.tscn".to_string(),
            "--".into(),
            format!("--url={url}"),
            "--protocol=chat.v1".into(),
            format!("--label={label}"),
        ]);
        if tls {
            cmd.arg(format!("--ca={}", certs.join("ca.crt").display()));
        }
        let out = run::capture(cmd, 120)?;
        if let Err(e) = crate::godot::check_log(&out.text) {
            problems.push(format!("{label}: {e}"));
        }
        let line = out.text.lines().find(|l| l.starts_with("INTEROP ")).unwrap_or("").to_string();
        let _ = srv.wait_for("CLOSE ", 10);
        let server_log = srv.stop();
        if line.starts_with("INTEROP OK") && !server_log.contains("CLOSE 4000 godot bye") {
            lines.push(format!("INTEROP FAIL {label}: the server did not see close 4000 'godot bye'"));
        } else if line.is_empty() {
            lines.push(format!("INTEROP FAIL {label}: the Godot client printed no result ({})", out.status));
        } else {
            lines.push(line);
        }
    }
    println!();
    for l in &lines {
        println!("{l}");
    }
    let passed = lines.iter().filter(|l| l.starts_with("INTEROP OK")).count() as u32;
    let failed = lines.len() as u32 - passed;
    Ok((passed, failed, (!problems.is_empty()).then(|| problems.join("; "))))
}
