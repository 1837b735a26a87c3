//! The core's test suite on Windows: `rust/core/tests/*.rs` and the unit tests of
//! `rust_websocket_core`, cross-compiled for x86_64-pc-windows-gnu exactly as the libraries are
//! (Debian's Rust with `-Zbuild-std`, mingw-w64, `+crt-static`; a debug build in its own target
//! directory, `target/windows/tests/`), then each test executable run under wine in a prefix of
//! its own, with a time limit, its libtest summary counted.
//!
//! Wine's `[::]` sockets start v6-only as Windows' do (docs/platforms.md), so the dual-stack
//! listener's test means something here; a control (`tests/windows/v6only.c`), counted with the
//! tests, checks that first. A test that cannot work under wine is listed in `SKIPPED` with its
//! reason, passed to libtest as `--skip` and printed; none is skipped silently.

use std::path::PathBuf;
use std::time::Instant;

use super::check::Wine;
use super::{Tools, TARGET};
use crate::{run, Result};

/// Time limit of each test executable under wine (the slowest there, `memory`, takes about
/// 3 minutes on the 2-core machine: its one-byte-per-call test; the others take seconds).
const RUN_LIMIT_S: u64 = 600;

/// Tests that cannot work under wine: (executable, test name as libtest prints it, why).
/// Each is passed to that executable as `--skip <name> --exact` and printed with its reason.
const SKIPPED: &[(&str, &str, &str)] = &[];

/// What the run of the core's tests under wine found.
pub struct Outcome {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub problems: Vec<String>,
}

/// Builds the core's tests for Windows and runs them under wine.
pub fn run(tools: &Tools) -> Result<Outcome> {
    let start = Instant::now();
    let exes = build(tools)?;
    println!("xtask: built {} test executables in {:.0} s", exes.len(), start.elapsed().as_secs_f64());
    if exes.is_empty() {
        return Err("the cross-build of the core's tests produced no test executable".into());
    }
    run::step("windows: the core's tests under wine (fresh prefix, headless)");
    let wine = Wine::start(tools, "wineprefix-tests")?;
    let mut outcome = Outcome { passed: 0, failed: 0, skipped: 0, problems: Vec::new() };
    // The control: wine refuses IPv4 clients on a [::] socket left as created, as Windows does;
    // otherwise the dual-stack listener's test would pass here without proving anything.
    match v6only_control(tools, &wine) {
        Ok(()) => outcome.passed += 1,
        Err(e) => {
            println!("xtask: FAILED: {e}");
            outcome.failed += 1;
            outcome.problems.push(e);
        }
    }
    for (name, exe) in &exes {
        let skips: Vec<&(&str, &str, &str)> = SKIPPED.iter().filter(|s| s.0 == name).collect();
        let mut args: Vec<String> = vec!["--test-threads=1".into()];
        for (_, test, why) in &skips {
            println!("xtask: skipped under wine: {name}::{test}: {why}");
            args.extend(["--skip".into(), (*test).into()]);
        }
        if !skips.is_empty() {
            args.push("--exact".into());
        }
        let started = Instant::now();
        let mut cmd = wine.command(&tools.wine, &[]);
        cmd.arg(exe).args(&args).current_dir(crate::root().join("rust/core"));
        let out = run::capture(cmd, RUN_LIMIT_S)?;
        let took = started.elapsed().as_secs_f64();
        let result = libtest_result(&out.text);
        match result {
            Some((p, f, ignored)) => {
                println!("xtask: wine: {name}: {p} passed, {f} failed, {ignored} ignored in {took:.0} s");
                outcome.passed += p;
                outcome.failed += f;
                outcome.skipped += skips.len() as u32;
                if f > 0 {
                    let names = failed_tests(&out.text);
                    outcome.problems.push(format!("{name} under wine: {f} failed ({})", names.join(", ")));
                } else if !out.success {
                    outcome.failed += 1;
                    outcome.problems.push(format!("{name} under wine exited with {}", out.status));
                }
            }
            None => {
                // Killed at the time limit or crashed: what finished counts, the rest is one failure.
                let (p, f, last) = partial(&out.text);
                outcome.passed += p;
                outcome.failed += f + 1;
                let hung = last.map(|t| format!(", last test started: {t}")).unwrap_or_default();
                outcome.problems.push(format!(
                    "{name} under wine printed no libtest result ({} after {took:.0} s{hung})",
                    out.status
                ));
            }
        }
    }
    drop(wine);
    println!("xtask: the core's tests under wine took {:.0} s with the build", start.elapsed().as_secs_f64());
    Ok(outcome)
}

/// Runs `tests/windows/v6only.c` under `wine`: a new AF_INET6 socket must start with
/// `IPV6_V6ONLY` on and, bound to `[::]`, refuse 127.0.0.1 while taking ::1 (Windows' default),
/// and take both once the option is cleared (what the listener does).
fn v6only_control(tools: &Tools, wine: &Wine) -> Result<()> {
    let out_dir = crate::root().join("target/windows/loadcheck");
    std::fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let exe = out_dir.join("v6only.exe");
    super::check::mingw(&[crate::root().join("tests/windows/v6only.c").as_path()], &exe, &["-lws2_32"])?;
    let mut cmd = wine.command(&tools.wine, &[]);
    cmd.arg(&exe);
    let out = run::capture_quiet(cmd, 120)?;
    let text = out.text.trim();
    println!(
        "xtask: wine: {}",
        text.lines().filter(|l| l.contains("IPV6_V6ONLY")).collect::<Vec<_>>().join("\nxtask: wine: ")
    );
    let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap_or("").to_string();
    let (created, cleared) = (line("as created: "), line("V6ONLY cleared: "));
    if !out.success || !created.contains("IPV6_V6ONLY=1;") {
        return Err(format!("wine's IPv6 sockets do not start V6ONLY as Windows' do ({}): {text}", out.status));
    }
    if !created.ends_with("127.0.0.1: no, ::1: yes") || !cleared.ends_with("127.0.0.1: yes, ::1: yes") {
        return Err(format!("wine's [::] listener does not behave as Windows': {text}"));
    }
    println!("xtask: wine defaults IPV6_V6ONLY on and refuses IPv4 on [::], as Windows does: the listener test means something here");
    Ok(())
}

/// `cargo test --no-run` for the Windows target; (name, path) of each test executable.
fn build(tools: &Tools) -> Result<Vec<(String, PathBuf)>> {
    let root = crate::root();
    run::step("building the core's tests for Windows x86-64 with Debian's Rust and mingw-w64");
    let mut cmd = super::cargo(tools);
    cmd.args(["test", "--no-run", "--locked", "-p", "rust_websocket_core", "--target", TARGET])
        .arg("-Zbuild-std=std,panic_unwind")
        .arg("--target-dir")
        .arg(root.join("target/windows/tests"))
        .arg("--message-format=json-render-diagnostics");
    let out = run::capture_quiet(cmd, run::BUILD_LIMIT_S)?;
    // cargo's own lines (Compiling…, warnings, errors) are not JSON: show them.
    for line in out.text.lines().filter(|l| !l.starts_with('{')) {
        println!("{line}");
    }
    if !out.success {
        return Err(format!("the cross-build of the core's tests failed ({})", out.status));
    }
    Ok(test_executables(&out.text))
}

/// (target name, executable) of each test artifact in cargo's JSON messages; the library's unit
/// tests are named `lib`.
fn test_executables(json_lines: &str) -> Vec<(String, PathBuf)> {
    let mut exes = Vec::new();
    for line in json_lines.lines().filter(|l| l.starts_with('{')) {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else { continue };
        let kind = msg["target"]["kind"][0].as_str().unwrap_or("");
        let name = if kind == "lib" { "lib".to_string() } else { msg["target"]["name"].as_str().unwrap_or("?").into() };
        exes.push((name, PathBuf::from(exe)));
    }
    exes.sort();
    exes.dedup();
    exes
}

/// (passed, failed, ignored) of libtest's "test result:" line.
fn libtest_result(text: &str) -> Option<(u32, u32, u32)> {
    let line = text.lines().find_map(|l| l.trim().strip_prefix("test result: "))?;
    let num = |key: &str| {
        line.split(';').find_map(|p| p.trim().strip_suffix(key).and_then(|n| n.split(' ').next_back()?.parse().ok()))
    };
    Some((num(" passed")?, num(" failed")?, num(" ignored").unwrap_or(0)))
}

/// The names of the tests libtest reported as FAILED.
fn failed_tests(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("test ")?.strip_suffix(" ... FAILED").map(str::to_string))
        .collect()
}

/// For an executable that printed no result: (passed, failed) so far, and the test that had
/// started last without a verdict (with `--test-threads=1`, the one that hung or crashed).
fn partial(text: &str) -> (u32, u32, Option<String>) {
    let (mut passed, mut failed, mut last) = (0, 0, None);
    for line in text.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("test ") else { continue };
        if let Some(name) = rest.strip_suffix(" ... ok") {
            passed += 1;
            last = last.filter(|l: &String| l != name);
        } else if rest.ends_with(" ... FAILED") {
            failed += 1;
            last = None;
        } else if let Some(name) = rest.strip_suffix(" ...") {
            last = Some(name.to_string());
        }
    }
    (passed, failed, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libtest_output_and_cargo_artifacts() {
        let out = "running 3 tests\ntest a ... ok\ntest b ... FAILED\ntest c ... ignored\n\n\
                   test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.1s";
        assert_eq!(libtest_result(out), Some((1, 1, 1)));
        assert_eq!(failed_tests(out), ["b"]);
        assert_eq!(partial("test a ... ok\ntest b ...\n"), (1, 0, Some("b".into())));
        assert_eq!(libtest_result("test a ... ok\n"), None);
        let json = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"rust_websocket_core"},"profile":{"test":true},"executable":"/t/rust_websocket_core-1.exe"}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"loopback"},"profile":{"test":true},"executable":"/t/loopback-2.exe"}
{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"ring"},"profile":{"test":false},"executable":null}
   Compiling x"#;
        assert_eq!(
            test_executables(json),
            [
                ("lib".to_string(), PathBuf::from("/t/rust_websocket_core-1.exe")),
                ("loopback".into(), "/t/loopback-2.exe".into())
            ]
        );
    }
}
