//! permessage-deflate (RFC 7692) in the interop matrix, in both roles, with the peers that
//! support it: Node `ws` (perMessageDeflate, threshold 0), Python `websockets` (on by default) and
//! Chromium (always offers it).
//!
//! Third-party clients against `tools/deflate_echo_server.tscn` check on their side that the
//! extension was agreed, that every echo is byte-exact, and measure our server's frames on their
//! socket; our server logs the answer it gave (`DEFLATE-EXT "…"`), which must be the very one the
//! client received (an `EXPECT-LOG` line, between the case's marks). Our client
//! (`tools/deflate_client.tscn`) against third-party echo servers: the server measures our
//! client's frames and prints its verdict (`CHECK <path> OK|FAIL …`), and the extension our
//! client reports must be the server's answer.

use std::path::Path;

use super::server::{EchoServer, Tool};
use super::{driver, run_clients};
use crate::run::{self, Background};
use crate::Result;

/// `compression_threshold` of our server and client in most cases (the drivers check that
/// shorter messages travel uncompressed); the mixed messages also run with 0, where every
/// message is compressed, empty ones included.
const THRESHOLD: u32 = 128;

/// The path of a driver in `tests/external`.
fn script(name: &str) -> String {
    crate::root().join("tests/external").join(name).display().to_string()
}

/// What a third-party client does against our server.
#[derive(Clone, Copy)]
enum Peer {
    /// Node `ws`, 1,000 JSON states.
    NodeJson,
    /// Node `ws`, text and binary around our server's threshold.
    NodeMixed,
    /// Python `websockets`, 1,000 JSON states.
    PythonJson,
    /// Chromium, 1,000 JSON states and a few others; `false`: expects no extension (50 states).
    Chromium(bool),
}

impl Peer {
    fn name(self, threshold: u32) -> String {
        match self {
            Peer::NodeJson => "node-ws client (permessage-deflate, 1,000 JSON states)".into(),
            Peer::NodeMixed => format!("node-ws client (permessage-deflate, text and binary, threshold {threshold})"),
            Peer::PythonJson => "python-websockets client (permessage-deflate, 1,000 JSON states)".into(),
            Peer::Chromium(true) => "chromium client (permessage-deflate, 1,000 JSON states)".into(),
            Peer::Chromium(false) => "chromium client (compression off: permessage-deflate must not be agreed)".into(),
        }
    }

    fn command(self, port: u16, threshold: u32) -> (&'static str, Vec<String>) {
        let url = format!("ws://127.0.0.1:{port}/deflate");
        let node = |kind: &str| {
            vec![script("interop_node.js"), "deflate-client".into(), url.clone(), kind.into(), threshold.to_string()]
        };
        match self {
            Peer::NodeJson => ("node", node("json")),
            Peer::NodeMixed => ("node", node("mixed")),
            Peer::PythonJson => {
                ("python3", vec![script("interop_py.py"), "deflate-client".into(), format!("--url={url}")])
            }
            Peer::Chromium(on) => (
                "python3",
                vec![
                    script("interop_browser.py"),
                    "--mode=deflate".into(),
                    format!("--expect={}", if on { "deflate" } else { "none" }),
                    format!("--count={}", if on { 1000 } else { 50 }),
                    format!("--ws-port={port}"),
                ],
            ),
        }
    }
}

/// Adds the permessage-deflate cases to `results` (one per case) and `problems` (the servers).
pub(super) fn interop(
    godot: &Path,
    deps: &Path,
    results: &mut Vec<(String, Option<String>)>,
    problems: &mut Vec<String>,
) -> Result<()> {
    run::step("interop, permessage-deflate: Node ws, Python websockets, Chromium -> WebSocketServer in Godot");
    // Our servers: compression on (threshold 128, then 0), and off, the control: the same
    // browser must then agree on no extension.
    let servers: [(&str, bool, u32, &[Peer]); 3] = [
        (
            "deflate echo server",
            true,
            THRESHOLD,
            &[Peer::NodeJson, Peer::NodeMixed, Peer::PythonJson, Peer::Chromium(true)],
        ),
        ("deflate echo server, threshold 0", true, 0, &[Peer::NodeMixed]),
        ("echo server, compression off", false, THRESHOLD, &[Peer::Chromium(false)]),
    ];
    for (who, on, threshold, peers) in servers {
        let args = [format!("--compression={}", u8::from(on)), format!("--threshold={threshold}")];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match EchoServer::start_tool(godot, Tool::Deflate, who, &args) {
            Ok(server) => {
                let clients: Vec<(String, &str, Vec<String>)> = peers
                    .iter()
                    .map(|p| {
                        let (program, args) = p.command(server.port, threshold);
                        (p.name(threshold), program, args)
                    })
                    .collect();
                let clients: Vec<(&str, &str, Vec<String>)> =
                    clients.iter().map(|(n, p, a)| (n.as_str(), *p, a.clone())).collect();
                run_clients(server, who, &clients, deps, results, problems)?;
            }
            Err(e) => {
                results.extend(peers.iter().map(|p| (p.name(threshold), Some(format!("the {who} did not start: {e}")))))
            }
        }
    }

    run::step("interop, permessage-deflate: RustWebSocketPeer in Godot -> Node ws and Python websockets servers");
    // Each case is one connection; its path tells the server what to check (for the mixed
    // messages, the threshold our client was given).
    let servers = [
        (
            "node",
            vec![script("interop_node.js"), "deflate-server".into(), "3".into()],
            "node-ws",
            vec![("json", THRESHOLD), ("mixed", THRESHOLD), ("mixed", 0)],
        ),
        (
            "python3",
            vec![script("interop_py.py"), "deflate-server".into(), "--conns=1".into()],
            "python-websockets",
            vec![("json", THRESHOLD)],
        ),
    ];
    for (program, args, label, cases) in servers {
        let case_name = |mode: &str, threshold: u32| {
            let what = if mode == "json" {
                "1,000 JSON states".into()
            } else {
                format!("text and binary, threshold {threshold}")
            };
            format!("RustWebSocketPeer -> {label} (permessage-deflate, {what})")
        };
        let started = Background::spawn(driver(program, &args, deps), label, false)
            .and_then(|mut s| s.wait_for("LISTENING ", 30).map(|port| (s, port)));
        let (mut srv, port) = match started {
            Ok(started) => started,
            Err(e) => {
                results.extend(cases.iter().map(|&(mode, t)| (case_name(mode, t), Some(e.clone()))));
                continue;
            }
        };
        for &(mode, threshold) in &cases {
            let path = if mode == "json" { "/json".to_string() } else { format!("/mixed/{threshold}") };
            let why = our_client(godot, &mut srv, &port, label, &path, mode, threshold)?;
            results.push((case_name(mode, threshold), why));
        }
        srv.stop();
    }
    Ok(())
}

/// Runs our client (`tools/deflate_client.tscn`, compression enabled, `threshold`) in `mode`
/// against the third-party server `srv` on `port`, at `path` (which tells the server what to
/// measure).
/// Returns why the case failed: our client's own verdict, the extension both sides report, the
/// server's measurements of our frames, and the close it saw.
fn our_client(
    godot: &Path,
    srv: &mut Background,
    port: &str,
    label: &str,
    path: &str,
    mode: &str,
    threshold: u32,
) -> Result<Option<String>> {
    let cmd = crate::godot::tool(
        godot,
        "deflate_client",
        [
            format!("--url=ws://127.0.0.1:{port}{path}"),
            format!("--mode={mode}"),
            format!("--threshold={threshold}"),
            format!("--label={label}"),
        ],
    );
    let out = run::capture(cmd, 120)?;
    let line = out.text.lines().find(|l| l.starts_with("INTEROP ")).unwrap_or("");
    let ours = out.text.lines().find_map(|l| l.strip_prefix("NEGOTIATED ")).map(str::trim);
    let mut why = Vec::new();
    if line.is_empty() {
        why.push(format!("the Godot client printed no result ({})", out.status));
    } else if !line.starts_with("INTEROP OK") {
        why.push(line.to_string());
    } else if !out.success {
        why.push(format!("the Godot client exited with {}", out.status));
    }
    if let Err(e) = crate::godot::check_log(&out.text) {
        why.push(e);
    }
    // The server prints its lines as the connection opens and closes: not long to wait once our
    // client is done, unless it never connected.
    let limit = if ours.is_some() { 10 } else { 2 };
    match srv.wait_for(&format!("NEGOTIATED {path} "), limit) {
        Ok(theirs) => match ours {
            Some(ours) if ours == theirs => {}
            Some(ours) => why.push(format!(
                "our client's get_negotiated_extensions() is {ours}, the {label} server answered {theirs}"
            )),
            None => why.push(format!("the {label} server answered {theirs}; our client printed no NEGOTIATED line")),
        },
        Err(e) => why.push(format!("the {label} server: {e}")),
    }
    match srv.wait_for(&format!("CHECK {path} "), limit) {
        Ok(check) => {
            // Its measurements of our client's frames, passed or not.
            println!("{label} server: CHECK {path} {check}");
            if !check.starts_with("OK") {
                why.push(format!("the {label} server's check of our frames: {check}"));
            }
        }
        Err(e) => why.push(format!("the {label} server: {e}")),
    }
    match srv.wait_for(&format!("CLOSE {path} "), limit) {
        Ok(close) if close == "4000 godot bye" => {}
        Ok(close) => why.push(format!("the {label} server saw close {close}, not 4000 'godot bye'")),
        Err(_) => why.push(format!("the {label} server did not see our close")),
    }
    Ok((!why.is_empty()).then(|| why.join("; ")))
}
