//! The `dual-stack` stage of `cargo xtask test`: the GDScript suite `test_dual_stack` again, in a
//! Linux network namespace whose `net.ipv6.bindv6only` is 1 (Windows' and the BSDs' default, so
//! a server that leaves `IPV6_V6ONLY` alone on `[::]` refuses IPv4 clients there). The namespace
//! is made with `unshare --net` (util-linux), which needs root: CI runs as root; elsewhere the
//! stage says why it does not run.

use std::path::Path;
use std::process::Command;

use crate::{godot, run, Result};

/// Sets the namespace up (loopback up, the v6-only default), then runs the rest of its arguments.
const SETUP: &str = "ip link set lo up && sysctl -qw net.ipv6.bindv6only=1 && exec \"$0\" \"$@\"";

/// `(passed, failed, problem)`, or `None` when this machine cannot make the namespace.
pub fn stage(godot: &Path, project: &Path) -> Option<Result<(u32, u32, Option<String>)>> {
    if let Some(why) = unavailable() {
        println!("xtask: dual-stack stage skipped: {why}");
        return None;
    }
    run::step("GDScript test_dual_stack in a network namespace with net.ipv6.bindv6only=1");
    let mut cmd = Command::new("unshare");
    cmd.args(["--net", "sh", "-c", SETUP])
        .arg(godot)
        .args(["--headless", "--path"])
        .arg(project)
        .args(["--", "test_dual_stack"])
        .env("RUST_WEBSOCKET_EXPECT_V6ONLY", "1");
    Some(run::capture(cmd, 120).map(|out| {
        let mut problem = godot::check_log(&out.text).err();
        let summary = godot::summary(&out.text);
        if summary.is_none() || summary == Some((0, 0)) {
            problem = Some(format!("test_dual_stack ran no test in the namespace (exit {})", out.status));
        } else if !out.success && problem.is_none() {
            problem = Some(format!("Godot exited with {} in the namespace", out.status));
        }
        let (p, f) = summary.unwrap_or((0, 0));
        (p, f, problem)
    }))
}

/// Why the namespace cannot be made here, if it cannot.
fn unavailable() -> Option<&'static str> {
    if !cfg!(target_os = "linux") {
        return Some("network namespaces are Linux's");
    }
    if !run::is_root() {
        return Some("making a network namespace needs root (CI runs as root)");
    }
    None
}
