//! The five echo servers: how each is started (its own process, on 127.0.0.1, a free port) and
//! what it can do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use crate::loadgen::Target;
use crate::run::{self, Background};
use crate::Result;

/// What starting the servers needs; a server whose need is missing is skipped with the reason.
pub struct Env {
    pub godot: Result<PathBuf>,
    pub node: Result<PathBuf>,
    /// This program (release build), which runs the core and raw servers.
    pub exe: PathBuf,
    /// The descriptor limit in force (raised as far as allowed).
    pub fd_limit: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Ours,
    /// Ours with `io_thread` on (the same Godot server, `RUST_WEBSOCKET_IO_THREAD=1`).
    OursThread,
    Engine,
    Node,
    Core,
    Raw,
}

impl Kind {
    pub const ALL: [Kind; 6] = [Kind::Ours, Kind::OursThread, Kind::Engine, Kind::Node, Kind::Core, Kind::Raw];

    /// Its name in `ECHO_BENCH_SERVERS`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::OursThread => "ours-thread",
            Kind::Engine => "engine",
            Kind::Node => "node",
            Kind::Core => "core",
            Kind::Raw => "raw",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Ours => "ours (Godot)",
            Kind::OursThread => "ours, io_thread (Godot)",
            Kind::Engine => "engine (Godot)",
            Kind::Node => "Node ws",
            Kind::Core => "core",
            Kind::Raw => "raw TCP",
        }
    }

    /// Speaks the control protocol (`__bench__ …`) and is a WebSocket server.
    pub fn controlled(self) -> bool {
        self != Kind::Raw
    }

    /// Has a frame loop whose cost it samples.
    pub fn framed(self) -> bool {
        matches!(self, Kind::Ours | Kind::OursThread | Kind::Engine | Kind::Core)
    }
}

/// A running server; stopped when dropped.
pub struct Proc {
    bg: Background,
    pub target: Target,
}

impl Proc {
    pub fn start(kind: Kind, env: &Env) -> Result<Proc> {
        let mut cmd = match kind {
            Kind::Ours | Kind::OursThread | Kind::Engine => {
                let godot = env.godot.as_ref().map_err(|e| format!("no Godot: {e}"))?;
                let mut cmd = Command::new(godot);
                cmd.args(["--headless", "--path"]).arg(crate::root().join("tests/godot")).args([
                    "res://tools/bench_echo_server.tscn",
                    "--",
                    if kind == Kind::Engine { "--server=engine" } else { "--server=ours" },
                ]);
                if kind == Kind::OursThread {
                    cmd.env("RUST_WEBSOCKET_IO_THREAD", "1");
                }
                cmd
            }
            Kind::Node => {
                let modules = env.node.as_ref().map_err(|e| e.clone())?;
                let mut cmd = Command::new("node");
                cmd.args(["-e", include_str!("node_server.js")]).env("NODE_PATH", modules);
                cmd
            }
            Kind::Core | Kind::Raw => {
                let mut cmd = Command::new(&env.exe);
                cmd.args(["serve", if kind == Kind::Core { "core" } else { "raw" }]);
                cmd
            }
        };
        cmd.current_dir(crate::root());
        let mut bg = Background::spawn(cmd, &format!("{} echo server", kind.label()), false)?;
        let port: u16 = bg.wait_for("LISTENING ", 60)?.parse().map_err(|e| format!("bad port: {e}"))?;
        let pid: u32 = bg.wait_for("PID ", 10)?.parse().map_err(|e| format!("bad pid: {e}"))?;
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        Ok(Proc { bg, target: Target { addr, raw: kind == Kind::Raw, pid } })
    }

    pub fn is_running(&mut self) -> bool {
        self.bg.is_running()
    }

    /// Resident memory now, in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.target.pid)).ok()?;
        status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
    }

    /// Stops the server; the last lines it printed (for a failure's explanation).
    pub fn stop(self) -> String {
        let log = self.bg.stop();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }
}

/// Node's module folder with `ws`: the copy the interop stage installs (`run::node_ws`).
pub fn node_modules() -> Result<PathBuf> {
    run::node_ws(&crate::root())
}
