//! A Godot-hosted server for the external drivers (`tools/echo_server.tscn`,
//! `tools/mp_echo_server.tscn` or `tools/deflate_echo_server.tscn`), and the per-case log checks
//! between its `MARK` lines.

use std::path::Path;
use std::process::Command;

use crate::run::Background;
use crate::Result;

/// Which tool scene an [`EchoServer`] runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `tools/echo_server.tscn`: a `WebSocketServer` echoing every message.
    Echo,
    /// `tools/mp_echo_server.tscn`: a `RustWebSocketMultiplayerPeer` server under
    /// `SceneMultiplayer`, answering RAW packets; its control messages are RAW packets too.
    Multiplayer,
    /// `tools/deflate_echo_server.tscn`: a `WebSocketServer` with permessage-deflate (its
    /// `--compression` and `--threshold`), echoing every message and logging the extension it
    /// agreed with each client; the control messages of `Echo`.
    Deflate,
}

impl Tool {
    fn scene(self) -> &'static str {
        match self {
            Tool::Echo => "echo_server",
            Tool::Multiplayer => "mp_echo_server",
            Tool::Deflate => "deflate_echo_server",
        }
    }

    /// The `wsclient` functions that mark its log and stop it.
    fn control(self) -> (&'static str, &'static str) {
        match self {
            Tool::Echo | Tool::Deflate => ("mark", "stop_server"),
            Tool::Multiplayer => ("mp_mark", "mp_stop_server"),
        }
    }
}

/// A server in headless Godot (an echo server unless started with [`EchoServer::start_tool`]),
/// started with `args`.
pub struct EchoServer {
    proc: Background,
    pub port: u16,
    pub pid: u32,
    tls: bool,
    protocol: Option<String>,
    tool: Tool,
}

impl EchoServer {
    pub fn start(godot: &Path, name: &str, args: &[&str]) -> Result<EchoServer> {
        EchoServer::start_tool(godot, Tool::Echo, name, args)
    }

    pub fn start_tool(godot: &Path, tool: Tool, name: &str, args: &[&str]) -> Result<EchoServer> {
        let mut cmd = crate::godot::tool(godot, tool.scene(), ["--port=0"]);
        cmd.args(args);
        let mut proc = Background::spawn(cmd, name, false)?;
        let port = proc.wait_for("LISTENING ", 60)?.parse().map_err(|e| format!("{name}: bad port: {e}"))?;
        let pid = proc.wait_for("PID ", 5)?.parse().map_err(|e| format!("{name}: bad pid: {e}"))?;
        let protocol = args
            .iter()
            .find_map(|a| a.strip_prefix("--protocols="))
            .map(|p| p.split(',').next().unwrap_or("").to_string());
        Ok(EchoServer { proc, port, pid, tls: args.contains(&"--tls"), protocol, tool })
    }

    /// Runs a `wsclient` function against this server (`wsclient.NAME(port, EXTRA, tls, protocol)`).
    fn wsclient(&self, call: &str, extra: &str) -> Result<()> {
        let script = format!(
            "import sys; sys.path.insert(0, {:?}); import wsclient; wsclient.{call}({}, {extra}tls={}, protocol={})",
            crate::root().join("tests/external").display().to_string(),
            self.port,
            if self.tls { "True" } else { "False" },
            self.protocol.as_ref().map(|p| format!("{p:?}")).unwrap_or_else(|| "None".into())
        );
        let out = Command::new("python3").args(["-c", &script]).output().map_err(|e| format!("python3: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("wsclient.{call} failed: {}", String::from_utf8_lossy(&out.stderr).trim()))
        }
    }

    /// Has the server print `MARK label` (the `__mark__` control message) and waits until the
    /// line is in its log: what the server logged before is ahead of it.
    pub fn mark(&mut self, label: &str) -> Result<()> {
        self.wsclient(self.tool.control().0, &format!("{label:?}, "))?;
        self.proc.wait_for_line(&format!("MARK {label}"), 10)
    }

    /// Asks the server to quit (a `__quit__` message) and waits for it. Returns its log, and a
    /// problem if it did not quit when asked or its log shows script errors or leaks at exit.
    pub fn stop(mut self) -> (String, Option<String>) {
        let _ = self.wsclient(self.tool.control().1, "");
        let start = std::time::Instant::now();
        while self.proc.is_running() && start.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let clean_exit = !self.proc.is_running();
        let log = self.proc.stop();
        let problem = if !clean_exit {
            Some("the server did not quit when asked".to_string())
        } else {
            crate::godot::check_log(&log).err()
        };
        (log, problem)
    }
}

/// The lines a server logged between `MARK begin CASE` and `MARK end CASE`, if both are there.
fn case_lines<'a>(log: &'a str, case: &str) -> Option<Vec<&'a str>> {
    let (begin, end) = (format!("MARK begin {case}"), format!("MARK end {case}"));
    let mut lines = log.lines().skip_while(|l| l.trim() != begin).skip(1);
    let mut inside = Vec::new();
    for l in lines.by_ref() {
        if l.trim() == end {
            return Some(inside);
        }
        inside.push(l);
    }
    None
}

/// Checks that `server` (named `who`) logged a line containing `text` at least `count` times
/// during `case`; returns why not.
pub(super) fn expect_in_case(log: &str, who: &str, case: &str, text: &str, count: usize) -> Option<String> {
    let Some(lines) = case_lines(log, case) else {
        return Some(format!("the {who} log has no 'MARK begin/end {case}' pair"));
    };
    let seen = lines.iter().filter(|l| l.contains(text)).count();
    if seen >= count {
        return None;
    }
    // What the server did log then (its first lines, without the backtraces), to tell why.
    let logged: Vec<String> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| {
            !l.is_empty() && !l.starts_with("at:") && !l.starts_with("GDScript backtrace") && !l.starts_with('[')
        })
        .take(6)
        .map(|l| l.chars().take(160).collect())
        .collect();
    Some(format!(
        "the {who} logged '{text}' {seen} times between the case's marks, expected at least {count} (it logged: {})",
        if logged.is_empty() { "nothing".to_string() } else { logged.join(" | ") }
    ))
}

#[cfg(test)]
mod tests {
    use super::expect_in_case;

    const LOG: &str = "LISTENING 1\nMARK begin a\nWARNING: x with code 1002: bad\nMARK end a\nMARK begin b\n\
                       MARK end b\nWARNING: late with code 1009\nMARK begin c\nWARNING: y with code 1002\n";

    #[test]
    fn a_line_counts_only_between_its_own_case_marks() {
        assert_eq!(expect_in_case(LOG, "server", "a", "with code 1002", 1), None);
        assert!(expect_in_case(LOG, "server", "a", "with code 1002", 2).is_some());
        // Logged for case a, before b, after b: none of them is b's.
        assert!(expect_in_case(LOG, "server", "b", "with code 100", 1).is_some());
        // A case without its end mark cannot pass.
        assert!(expect_in_case(LOG, "server", "c", "with code 1002", 1).is_some());
        assert!(expect_in_case(LOG, "server", "d", "with code 1002", 1).is_some());
    }
}
