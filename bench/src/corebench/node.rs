//! `bench core`, for context: the compression rows (game-state JSON echoed by our client
//! `Connection`; `compression.rs`) against Node `ws` echo servers, one with `perMessageDeflate:
//! false`, one with `true` (ws's defaults: zlib's default level 6, context takeover, 15-bit
//! windows, threshold 1024 bytes). Our client offers permessage-deflate with the default
//! threshold in both. `compression::remote` knows nothing of Node: it measures the servers
//! started here. ws is the copy the interop stage of `cargo xtask test` installs under
//! `target/interop/node/`; without it (or without `node`) these rows are skipped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::{run, Result};

use super::compression;

/// A ws echo server on 127.0.0.1, perMessageDeflate per its argument (`on`/`off`); prints
/// `LISTENING <port>`.
const ECHO_SERVER: &str = r#"
const { WebSocketServer } = require('ws');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: process.argv[1] === 'on' });
wss.on('listening', () => console.log(`LISTENING ${wss.address().port}`));
wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
"#;

pub fn run() -> Result<()> {
    let modules = crate::root().join("target/interop/node/node_modules");
    if !modules.join("ws").exists() || run::which("node").is_none() {
        println!("\n(compression rows against Node ws skipped: needs `node` and ws under target/interop/node, which `cargo xtask test` installs)");
        return Ok(());
    }
    run::step("compression rows against Node ws echo servers (our client Connection)");
    let mut servers = Vec::new();
    let mut targets = Vec::new();
    for (mode, label) in [("off", "Node ws, perMessageDeflate off"), ("on", "Node ws, perMessageDeflate on")] {
        match start(&modules, mode) {
            Ok((child, port)) => {
                servers.push(child);
                targets.push(format!("{label}=ws://127.0.0.1:{port}/"));
            }
            Err(e) => {
                stop(servers);
                return Err(e);
            }
        }
    }
    compression::remote(&targets);
    stop(servers);
    Ok(())
}

/// Starts one echo server and reads its port.
fn start(modules: &Path, mode: &str) -> Result<(Child, u16)> {
    let mut child = Command::new("node")
        .args(["-e", ECHO_SERVER, mode])
        .env("NODE_PATH", modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("node: {e}"))?;
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
    match line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()) {
        Some(port) => Ok((child, port)),
        None => {
            stop(vec![child]);
            Err(format!("the Node ws echo server ({mode}) did not start: {line:?}"))
        }
    }
}

fn stop(servers: Vec<Child>) {
    for mut s in servers {
        let _ = s.kill();
        let _ = s.wait();
    }
}
