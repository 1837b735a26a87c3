//! Drivers outside Godot against servers hosted in headless Godot (`tools/echo_server.tscn`):
//! the hostile-input suite and the leak/soak check (Python 3, standard library only), and the
//! interop matrix with third-party peers in both roles (its permessage-deflate cases in
//! `deflate.rs`).
//!
//! A case that expects our server to log something is bracketed by `MARK begin CASE` and
//! `MARK end CASE` lines in the server's log (the echo server's `__mark__` control message), and
//! its expected line counts only between its own marks: a line logged for another case does not.

use std::path::Path;
use std::process::Command;

use crate::run::{self, Background};
use crate::Result;

mod deflate;
mod server;

use server::{expect_in_case, EchoServer, Tool};

fn python(script: &str, args: &[String], limit_s: u64) -> Result<run::Output> {
    let dir = crate::root().join("tests/external");
    let mut cmd = Command::new("python3");
    cmd.arg(dir.join(script)).args(args).current_dir(&dir);
    run::capture(cmd, limit_s)
}

/// Hostile input, then the soak, against Godot-hosted servers. Returns (passed, failed,
/// problem): the hostile cases, each failed by name when the server did not log what the case
/// expects between the case's own marks, plus the soak as one test.
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
    let mut logs = std::collections::HashMap::new();
    for (who, server) in [("plain", plain), ("tls", tls)] {
        let (log, problem) = server.stop();
        problems.extend(problem.map(|p| format!("{who} echo server: {p}")));
        logs.insert(who, log);
    }

    // The driver's verdict per case, then each passed case's expected log lines.
    let mut cases: Vec<(String, Option<String>)> = Vec::new();
    for line in hostile.text.lines() {
        if let Some(rest) = line.strip_prefix("  ok    ") {
            cases.push((rest.split_whitespace().next().unwrap_or(rest).to_string(), None));
        } else if let Some(rest) = line.strip_prefix("  FAIL  ") {
            let (name, why) = rest.split_once(": ").unwrap_or((rest, "failed"));
            cases.push((name.to_string(), Some(why.to_string())));
        }
    }
    for line in hostile.text.lines() {
        let Some(rest) = line.strip_prefix("EXPECT-LOG ") else { continue };
        let mut parts = rest.splitn(4, ' ');
        let (Some(case), Some(who), Some(count), Some(text)) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            problems.push(format!("malformed line from hostile.py: '{line}'"));
            continue;
        };
        let count: usize = count.parse().unwrap_or(1);
        let why = match logs.get(who) {
            Some(log) => expect_in_case(log, &format!("{who} server"), case, text, count),
            None => Some(format!("no server named '{who}'")),
        };
        match (why, cases.iter_mut().find(|(name, _)| name == case)) {
            (Some(why), Some((_, verdict @ None))) => *verdict = Some(why),
            (Some(why), Some((_, Some(earlier)))) => earlier.push_str(&format!("; {why}")),
            (Some(why), None) => cases.push((case.to_string(), Some(why))),
            (None, _) => {}
        }
    }
    let (passed, failed) = print_verdicts(&cases, "  ok   ", "  FAIL ");
    match crate::godot::summary(&hostile.text) {
        None => problems.push(format!("hostile.py ended without its summary ({})", hostile.status)),
        Some((p, f)) if (p + f) as usize != cases.len() => {
            problems.push(format!("hostile.py reports {} cases but printed {} verdicts", p + f, cases.len()))
        }
        Some(_) if !hostile.success && failed == 0 => {
            problems.push(format!("hostile.py exited with {}", hostile.status))
        }
        Some(_) => {}
    }

    // The soak is one test.
    let soak_ok = matches!(crate::godot::summary(&soak.text), Some((1, 0))) && soak.success;
    println!("  {}  soak ({})", if soak_ok { "ok  " } else { "FAIL" }, soak.status);
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    Ok((passed + u32::from(soak_ok), failed + u32::from(!soak_ok), problem))
}

/// Third-party packages the interop drivers use, installed under `target/interop/`: Python
/// websockets (as the Autobahn stage installs it), Node ws, Debian's chromium.
fn interop_deps() -> Result<std::path::PathBuf> {
    let dir = crate::root().join("target/interop");
    crate::autobahn::python_websockets()?;
    run::node_ws(&crate::root())?;
    crate::apt::ensure("chromium", &["chromium"])?;
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

/// Runs each client (name, program, arguments) against `server`, then stops the server. Each
/// client's run is bracketed by marks in the server's log, and the lines the client expects our
/// server to have logged (`EXPECT-LOG TEXT`) must be between its own marks. One result per
/// client goes to `results`, a problem with the server itself to `problems`.
fn run_clients(
    mut server: EchoServer,
    who: &str,
    clients: &[(&str, &str, Vec<String>)],
    deps: &Path,
    results: &mut Vec<(String, Option<String>)>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let mut expected_log = Vec::new();
    for (name, program, args) in clients {
        let case = format!("interop.{}", name.replace(' ', "-"));
        if let Err(e) = server.mark(&format!("begin {case}")) {
            results.push((name.to_string(), Some(format!("marking the server log: {e}"))));
            continue;
        }
        let out = run::capture(driver(program, args, deps), 120)?;
        let result = out.text.lines().find(|l| l.starts_with("INTEROP ")).map(str::to_string);
        let why = match result {
            _ if out.text.contains("INTEROP FAIL") => {
                Some(out.text.lines().find(|l| l.starts_with("INTEROP FAIL")).unwrap_or("").to_string())
            }
            Some(_) if !out.success => Some(format!("the client exited with {}", out.status)),
            Some(_) => None,
            None => Some(format!("no result ({})", out.status)),
        };
        if let Err(e) = server.mark(&format!("end {case}")) {
            problems.push(format!("marking the server log after {name}: {e}"));
        }
        if why.is_none() {
            for text in out.text.lines().filter_map(|l| l.strip_prefix("EXPECT-LOG ")) {
                expected_log.push((results.len(), case.clone(), text.to_string()));
            }
        }
        results.push((name.to_string(), why));
    }
    let (log, problem) = server.stop();
    problems.extend(problem.map(|p| format!("{who}: {p}")));
    for (i, case, text) in expected_log {
        if let Some(why) = expect_in_case(&log, "server", &case, &text, 1) {
            results[i].1 = Some(why);
        }
    }
    Ok(())
}

/// The interop matrix: third-party clients against our server, our client against third-party
/// servers, then the same with permessage-deflate. Returns (passed, failed, problem). Each peer
/// (each compression case) is one case, named in its `INTEROP OK|FAIL` line.
pub fn interop(godot: &Path) -> Result<(u32, u32, Option<String>)> {
    let deps = interop_deps()?;
    let ext = crate::root().join("tests/external");
    let mut results: Vec<(String, Option<String>)> = Vec::new();
    let mut problems = Vec::new();

    run::step("interop: Python websockets, Node ws and Chromium clients -> WebSocketServer in Godot");
    let server = EchoServer::start(godot, "interop echo server", &["--protocols=chat.v1", "--verbose"])?;
    let url = format!("ws://127.0.0.1:{}/interop", server.port);
    let clients = [
        (
            "python-websockets client",
            "python3",
            vec![ext.join("interop_py.py").display().to_string(), "client".into(), format!("--url={url}")],
        ),
        (
            "node-ws client",
            "node",
            vec![ext.join("interop_node.js").display().to_string(), "client".into(), url.clone(), "chat.v1".into()],
        ),
        (
            "chromium client",
            "python3",
            vec![ext.join("interop_browser.py").display().to_string(), format!("--ws-port={}", server.port)],
        ),
    ];
    run_clients(server, "interop echo server", &clients, &deps, &mut results, &mut problems)?;

    run::step("interop: Chromium as a Web export's multiplayer peer -> RustWebSocketMultiplayerPeer in Godot");
    // A Web export's multiplayer peer is the engine's WebSocketMultiplayerPeer over the
    // browser's own WebSocket API: the page speaks that protocol with the same API.
    let name = "chromium as a Web export's WebSocketMultiplayerPeer";
    match EchoServer::start_tool(godot, Tool::Multiplayer, "interop multiplayer server", &[]) {
        Ok(server) => {
            let page = vec![
                ext.join("interop_browser.py").display().to_string(),
                "--mode=multiplayer".into(),
                format!("--ws-port={}", server.port),
            ];
            run_clients(
                server,
                "interop multiplayer server",
                &[(name, "python3", page)],
                &deps,
                &mut results,
                &mut problems,
            )?;
        }
        Err(e) => results.push((name.to_string(), Some(format!("the multiplayer server did not start: {e}")))),
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
        let name = format!("RustWebSocketPeer -> {label}");
        let mut srv = Background::spawn(driver(program, &args, &deps), label, false)?;
        let port = match srv.wait_for("LISTENING ", 30) {
            Ok(p) => p,
            Err(e) => {
                results.push((name, Some(e)));
                continue;
            }
        };
        let url =
            if tls { format!("wss://localhost:{port}/interop") } else { format!("ws://127.0.0.1:{port}/interop") };
        let mut cmd = crate::godot::tool(
            godot,
            "interop_client",
            [format!("--url={url}"), "--protocol=chat.v1".into(), format!("--label={label}")],
        );
        if tls {
            cmd.arg(format!("--ca={}", certs.join("ca.crt").display()));
        }
        let out = run::capture(cmd, 120)?;
        let line = out.text.lines().find(|l| l.starts_with("INTEROP ")).unwrap_or("");
        // The third-party server must have seen our close, with its code and reason.
        let seen_close = srv.wait_for_line("CLOSE 4000 godot bye", 10);
        srv.stop();
        let why = if line.is_empty() {
            Some(format!("the Godot client printed no result ({})", out.status))
        } else if !line.starts_with("INTEROP OK") {
            Some(line.to_string())
        } else if !out.success {
            Some(format!("the Godot client exited with {}", out.status))
        } else if let Err(e) = crate::godot::check_log(&out.text) {
            Some(e)
        } else if seen_close.is_err() {
            Some("the server did not see close 4000 'godot bye'".into())
        } else {
            None
        };
        results.push((name, why));
    }
    if let Err(e) = deflate::interop(godot, &deps, &mut results, &mut problems) {
        results.push(("permessage-deflate cases".into(), Some(e)));
    }
    let (passed, failed) = print_verdicts(&results, "INTEROP OK  ", "INTEROP FAIL");
    Ok((passed, failed, (!problems.is_empty()).then(|| problems.join("; "))))
}

/// Prints each case's verdict after a blank line (`ok`/`fail` and its name, then why it failed);
/// returns (passed, failed).
fn print_verdicts(cases: &[(String, Option<String>)], ok: &str, fail: &str) -> (u32, u32) {
    println!();
    for (name, why) in cases {
        match why {
            None => println!("{ok} {name}"),
            Some(why) => println!("{fail} {name}: {why}"),
        }
    }
    let failed = cases.iter().filter(|(_, why)| why.is_some()).count() as u32;
    (cases.len() as u32 - failed, failed)
}
