//! The Autobahn|Testsuite, both roles, through real headless Godot: ours with permessage-deflate
//! on (`cargo xtask autobahn`, part of `test`), and the reference peers (`--reference`).
//! `wstest.rs` provisions the suite, `report.rs` reads its reports.
//!
//! Cases 12.* and 13.* (permessage-deflate, RFC 7692), as wstest 0.8.2 with autobahn 0.10.9 runs
//! them (`autobahntestsuite/case/case12_x_x.py`, `autobahn/websocket/compress_deflate.py`):
//!
//! - Every case sends 1,000 messages, each once the echo of the one before is back, and checks
//!   type, length and SHA-1 of each echo. 18 cases per group: 16 B to 128 KiB unfragmented, then
//!   8–128 KiB auto-fragmented into 256 B to 32 KiB frames. A case not done in time (60–480 s by
//!   size) is FAILED "Case did not finish within N seconds". 12.1–12.5 use five data sets (JSON
//!   and HTML as text; a bitmap, Faust and a PDF as binary) with the default offer; 13.1–13.7 use
//!   the JSON text with seven parameter sets. All messages are compressed on wstest's side.
//! - Server role (wstest offers; `nct` = no_context_takeover). Each offer is `permessage-deflate;
//!   client_no_context_takeover; client_max_window_bits` plus: 12.* and 13.1 nothing, 13.2
//!   `server_nct`, 13.3 `server_max_window_bits=9`, 13.4 `server_max_window_bits=15`, 13.5
//!   `server_nct` and `=9`, 13.6 `server_nct` and `=15`; 13.7 offers three: (`server_nct`, `=9`),
//!   (`server_nct`), (). The client_* parameters are capabilities only: wstest keeps its own
//!   context unless the response says `client_no_context_takeover`, and compresses with the
//!   window of the response's `client_max_window_bits=N` (15 without). It never checks the
//!   response against its offer: it inflates with the response's `server_max_window_bits` (15
//!   without) and `server_no_context_takeover`, so a response that ignores a requested 9 still
//!   passes here (RFC 7692 7.1.2.1 requires the parameter), while one that states 9 and
//!   compresses with a larger window fails ("invalid distance too far back").
//! - Client role (wstest answers the client's first acceptable offer): 12.* and 13.1 accept any
//!   offer as is (the response repeats its `server_nct`/`server_max_window_bits`); 13.2 adds
//!   `client_no_context_takeover`; 13.3 `client_max_window_bits=9`, 13.4 `=15`, 13.5 both nct and
//!   9, 13.6 nct and 15, but only for an offer that includes `client_max_window_bits`, or it
//!   declines; 13.7 tries 13.5, 13.2, 13.1 in turn. wstest reads every offer as allowing
//!   client_no_context_takeover, so 13.2 always accepts. An offer with any other parameter, one
//!   twice, or window bits outside 8–15 fails the handshake.
//! - UNIMPLEMENTED is graded only when the handshake agreed no permessage-deflate (no offer, or
//!   none accepted): the case closes at once with 1000. So a client that does not offer
//!   `client_max_window_bits` gets 13.3–13.6 UNIMPLEMENTED (72 cases).
//! - No case uses 8-bit windows (only 9 and 15). zlib since 1.2.9 refuses a raw deflate window of
//!   8, so a response with `client_max_window_bits=8` would break wstest's compressor (Python
//!   `websockets` refuses 8 for the same reason).
//! - Durations (2-core machine, one role at a time): docs/conformance.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::{self, Background};
use crate::Result;

mod report;
mod wstest;

use report::read_report;
pub use report::Verdict;
use wstest::{provision, Python27};

/// Each role's run (wstest, or the client) is stopped after this long.
const ROLE_LIMIT_S: u64 = 2400;

/// `AUTOBAHN_CASES=12.1.*,13.3.1`: run only these cases (wstest's patterns), e.g. while fixing one.
fn selection() -> Option<Vec<String>> {
    let value = std::env::var("AUTOBAHN_CASES").ok().filter(|v| !v.trim().is_empty())?;
    Some(value.split(',').map(|c| c.trim().to_string()).collect())
}

fn spec(path: &Path, json: serde_json::Value) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).map_err(|e| e.to_string())
}

/// An implementation under test, started in each role.
struct Testee {
    /// How the lines name it ("" for ours).
    peer: String,
    /// The agent name in the reports, which go to `<reports>/server` and `<reports>/client`.
    agent: &'static str,
    reports: PathBuf,
    /// The server role: a command that prints `LISTENING <port>`, then echoes every message.
    server: Box<dyn Fn() -> Command>,
    server_label: String,
    /// The client role: a command, given the fuzzing server's URL and the agent, that runs every
    /// case and prints `REPORTS UPDATED` once wstest has written its report.
    client: Box<ClientCommand>,
    client_label: String,
    /// Its output is a Godot log (checked for script errors, extensions not loaded, leaks).
    godot: bool,
}

/// Makes the client role's command from the fuzzing server's URL and the agent name.
type ClientCommand = dyn Fn(&str, &str) -> Command;

/// A fresh `<reports>/<role>` for a role's run; the cases to run, as wstest's spec lists them.
fn prepare(t: &Testee, role: &str) -> Result<serde_json::Value> {
    let _ = std::fs::remove_dir_all(t.reports.join(role));
    std::fs::create_dir_all(&t.reports).map_err(|e| e.to_string())?;
    Ok(selection().unwrap_or_else(|| vec!["*".into()]).into())
}

/// The server role: wstest's fuzzing client against `t`'s server.
fn server_role(py: &Python27, t: &Testee) -> Result<Verdict> {
    let cases = prepare(t, "server")?;
    run::step(&format!("Autobahn|Testsuite, server role: wstest fuzzingclient -> {}", t.server_label));
    let start = std::time::Instant::now();
    let mut server = Background::spawn((t.server)(), &t.server_label, false)?;
    let port = server.wait_for("LISTENING ", 60)?;
    let spec_file = t.reports.join("fuzzingclient.json");
    spec(
        &spec_file,
        serde_json::json!({
            "outdir": t.reports.join("server"), "cases": cases, "exclude-cases": [], "exclude-agent-cases": {},
            "servers": [{"agent": t.agent, "url": format!("ws://127.0.0.1:{port}")}],
        }),
    )?;
    let mut wstest = py.wstest(&["-m", "fuzzingclient", "-s"]);
    wstest.arg(spec_file);
    let result = run::capture_quiet(wstest, ROLE_LIMIT_S);
    let log = server.stop();
    if t.godot {
        crate::godot::check_log(&log).map_err(|e| format!("{}: {e}", t.server_label))?;
    }
    let result = result?;
    if !result.success {
        return Err(format!("wstest fuzzingclient exited with {}:\n{}", result.status, tail(&result.text, 30)));
    }
    let chosen = selection().map(|c| c.join(","));
    read_report(&t.reports.join("server"), &t.peer, "server", start.elapsed().as_secs(), chosen)
}

/// The client role: `t`'s client against wstest's fuzzing server.
fn client_role(py: &Python27, t: &Testee) -> Result<Verdict> {
    let cases = prepare(t, "client")?;
    run::step(&format!("Autobahn|Testsuite, client role: {} -> wstest fuzzingserver", t.client_label));
    let start = std::time::Instant::now();
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let spec_file = t.reports.join("fuzzingserver.json");
    spec(
        &spec_file,
        serde_json::json!({
            "url": format!("ws://127.0.0.1:{port}"), "outdir": t.reports.join("client"), "webport": 0,
            "cases": cases, "exclude-cases": [], "exclude-agent-cases": {},
        }),
    )?;
    let mut cmd = py.wstest(&["-m", "fuzzingserver", "-s"]);
    cmd.arg(spec_file);
    let fuzz = Background::spawn(cmd, "wstest fuzzingserver", false)?;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed().as_secs() > 60 {
            return Err(format!("wstest fuzzingserver did not listen:\n{}", fuzz.stop()));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let client = run::capture_quiet((t.client)(&format!("ws://127.0.0.1:{port}"), t.agent), ROLE_LIMIT_S);
    fuzz.stop();
    let client = client?;
    if t.godot {
        crate::godot::check_log(&client.text).map_err(|e| format!("{}: {e}", t.client_label))?;
    }
    if !client.text.contains("REPORTS UPDATED") {
        return Err(format!("{} did not finish ({}):\n{}", t.client_label, client.status, tail(&client.text, 30)));
    }
    let chosen = selection().map(|c| c.join(","));
    read_report(&t.reports.join("client"), &t.peer, "client", start.elapsed().as_secs(), chosen)
}

/// Runs both roles of ours, permessage-deflate on, every message compressed (threshold 0: the
/// 16- and 64-byte messages of 12.*/13.* go through the compressor too); returns their verdicts.
pub fn run_both(godot: &Path) -> Result<Vec<Verdict>> {
    let py = provision()?;
    let deflate = ["--compression".to_string(), "--compression-threshold=0".to_string()];
    let godot = godot.to_path_buf();
    let mut server_args = vec!["--port=0".to_string()];
    server_args.extend(deflate.iter().cloned());
    let testee = Testee {
        peer: String::new(),
        agent: "godot-rust-websocket",
        reports: crate::root().join("target/autobahn/reports"),
        server: Box::new({
            let godot = godot.clone();
            move || crate::godot::tool(&godot, "echo_server", &server_args)
        }),
        server_label: "WebSocketServer in headless Godot".into(),
        client: Box::new(move |url, agent| {
            let mut args = vec![format!("--url={url}"), format!("--agent={agent}")];
            args.extend(deflate.iter().cloned());
            crate::godot::tool(&godot, "autobahn_client", &args)
        }),
        client_label: "RustWebSocketPeer in headless Godot".into(),
        godot: true,
    };
    Ok(vec![server_role(&py, &testee)?, client_role(&py, &testee)?])
}

/// Python `websockets`, as the interop stage installs it (same version, same place).
const WEBSOCKETS: &str = "17.4";

pub fn python_websockets() -> Result<PathBuf> {
    let dir = crate::root().join("target/interop/py");
    if !dir.join("websockets").exists() {
        run::step(&format!("installing Python websockets {WEBSOCKETS} into target/interop/py"));
        let mut pip = Command::new("python3");
        pip.args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--target"])
            .arg(&dir)
            .arg(format!("websockets=={WEBSOCKETS}"));
        run::status(&mut pip, "pip install websockets failed")?;
    }
    Ok(dir)
}

/// `cargo xtask autobahn --reference`: the same cases against Python `websockets` (its defaults,
/// permessage-deflate on) and the engine's own `WebSocketPeer` (no extensions), in both roles.
/// Prints one line per peer and role; not part of `cargo xtask test`. Reports go to
/// `target/autobahn/reference/<peer>/{server,client}/`.
pub fn run_reference(godot: &Path) -> Result<()> {
    let py = provision()?;
    let deps = python_websockets()?;
    let script = crate::root().join("tests/external/autobahn_websockets.py");
    let python = move |args: &[&str]| {
        let mut cmd = Command::new("python3");
        cmd.arg(&script).args(args).env("PYTHONPATH", &deps);
        cmd
    };
    let version = Command::new(godot).args(["--headless", "--version"]).output().map_err(|e| e.to_string())?;
    let version = String::from_utf8_lossy(&version.stdout).lines().last().unwrap_or("?").trim().to_string();
    let dir = crate::root().join("target/autobahn/reference");
    let godot = godot.to_path_buf();
    let testees = [
        Testee {
            peer: format!("Python websockets {WEBSOCKETS}"),
            agent: "websockets",
            reports: dir.join("websockets"),
            server: Box::new({
                let python = python.clone();
                move || python(&["server"])
            }),
            server_label: "Python websockets server".into(),
            client: Box::new(move |url, agent| python(&["client", "--url", url, "--agent", agent])),
            client_label: "Python websockets client".into(),
            godot: false,
        },
        Testee {
            peer: format!("Godot {version} WebSocketPeer"),
            agent: "godot-engine",
            reports: dir.join("engine"),
            server: Box::new({
                let godot = godot.clone();
                move || crate::godot::tool(&godot, "echo_server", ["--port=0", "--engine"])
            }),
            server_label: "TCPServer + WebSocketPeer.accept_stream in headless Godot".into(),
            client: Box::new(move |url, agent| {
                crate::godot::tool(
                    &godot,
                    "autobahn_client",
                    &[format!("--url={url}"), format!("--agent={agent}"), "--engine".into()],
                )
            }),
            client_label: "WebSocketPeer in headless Godot".into(),
            godot: true,
        },
    ];
    let (mut lines, mut errors) = (Vec::new(), Vec::new());
    for t in &testees {
        for (role, run) in
            [("server", server_role as fn(&Python27, &Testee) -> Result<Verdict>), ("client", client_role)]
        {
            match run(&py, t) {
                Ok(verdict) => lines.push(verdict.line()),
                Err(e) => errors.push(format!("{} {role} role: {e}", t.peer)),
            }
        }
    }
    println!();
    for line in lines {
        println!("{line}");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("a reference run did not complete: {}", errors.join("; ")))
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
