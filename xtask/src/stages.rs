//! `cargo xtask test`: the stages in order, each counted, and the closing tally.

use std::path::Path;

use crate::{autobahn, build_itest, certs, cross, dual_stack, external, godot, package, root, run, windows, Result};

/// Every stage, or with `filters` only the GDScript tests matching them plus the stages named.
pub fn test(filters: &[String]) -> Result<()> {
    let stage = |name: &str| filters.is_empty() || filters.iter().any(|f| f == name);
    let mut tally = Tally::default();
    if filters.is_empty() {
        run::step("Rust tests (core over real sockets on 127.0.0.1; documentation check)");
        tally.stage("rust", run::cargo_test().map(ran_some));
        run::step("Rust loopback, TLS and multiplayer suites again, every server on its I/O thread");
        tally.stage("rust (io thread)", run::cargo_test_io_thread().map(ran_some));
    }
    // The other platforms' builds and checks (`cross/`) need neither this Godot nor the Linux
    // build; macOS is left to `cargo xtask platforms` and `package` (CI's time budget).
    if stage("platforms") {
        tally.stage("platforms", cross::stage(false));
    }
    // The Windows cross-build and its checks need neither Godot nor the Linux build.
    if stage("windows") {
        tally.stage("windows", windows::stage());
    }
    // Every later stage needs Godot, the extension built and the test project imported.
    let project = root().join("tests/godot");
    let ready = godot::find().and_then(|godot| {
        build_itest()?;
        certs::write(&project.join("certs"))?;
        godot::import(&godot, &project)?;
        Ok(godot)
    });
    let godot = match ready {
        Ok(godot) => godot,
        Err(e) => {
            tally.add("build", 0, 1, Some(format!("{e} (no Godot stage could run)")));
            return tally.finish();
        }
    };
    // Every suite twice: as the classes default, then with every class's `io_thread` on.
    for (stage_name, env) in [("godot", &[][..]), ("godot (io thread)", &[("RUST_WEBSOCKET_IO_THREAD", "1")][..])] {
        run::step(&format!("GDScript suites in headless Godot ({stage_name})"));
        let (p, f, problem) = gdscript_stage(&godot, &project, filters, env);
        tally.add(stage_name, p, f, problem);
    }
    if stage("dual-stack") {
        if let Some(result) = dual_stack::stage(&godot, &project) {
            tally.stage("dual-stack", result);
        }
    }
    if stage("package") {
        // The library users get: the test project's was built with the in-engine tests.
        tally.stage("package", crate::build().and_then(|_| package::stage(&godot)));
    }
    if stage("autobahn") {
        match autobahn::run_both(&godot) {
            Ok(verdicts) => {
                for v in verdicts {
                    tally.autobahn(&v.line(), v.problem());
                }
            }
            Err(e) => tally.autobahn("autobahn: the stage did not complete", Some(e)),
        }
    }
    if stage("interop") {
        tally.stage("interop", external::interop(&godot));
    }
    if stage("hostile") {
        tally.stage("hostile+soak", external::hostile_and_soak(&godot));
    }
    tally.finish()
}

/// A stage run alone (`cargo xtask platforms`, `windows`, `package-test`): its line, and an
/// error when it failed.
pub fn alone(stage: &str, (passed, failed, problem): (u32, u32, Option<String>)) -> Result<()> {
    println!("{stage}: {passed} passed, {failed} failed");
    match problem {
        Some(p) => Err(format!("{stage}: {p}")),
        None if failed > 0 => Err(format!("{stage}: tests failed")),
        None => Ok(()),
    }
}

/// `cargo test`'s counts, with a problem when it ran no test.
fn ran_some((p, f): (u32, u32)) -> (u32, u32, Option<String>) {
    (p, f, ((p, f) == (0, 0)).then(|| "cargo test ran no tests".to_string()))
}

/// The GDScript suites (filtered by `filters`) in one run of headless Godot with `env`.
fn gdscript_stage(
    godot: &Path,
    project: &Path,
    filters: &[String],
    env: &[(&str, &str)],
) -> (u32, u32, Option<String>) {
    let mut args = vec!["--".to_string()];
    args.extend(filters.iter().cloned());
    match godot::run(godot, project, &args, 1500, env) {
        Ok(out) => {
            let summary = godot::summary(&out.text);
            let mut problem = godot::check_log(&out.text).err();
            if summary.is_none() {
                problem = Some(format!("the Godot test runner printed no summary (exit {})", out.status));
            } else if filters.is_empty() && summary == Some((0, 0)) {
                problem = Some("the Godot test runner found no tests".into());
            } else if !out.success && problem.is_none() {
                problem = Some(format!("the Godot test runner exited with {}", out.status));
            }
            let (p, f) = summary.unwrap_or((0, 0));
            (p, f, problem)
        }
        Err(e) => (0, 1, Some(e)),
    }
}

/// Results of the test stages, and the closing `total: N passed, N failed` line (what it counts:
/// docs/testing.md). A failing Autobahn role or a stage that errors out counts as one failure, so
/// that the closing line never reads "0 failed" for a failing run.
#[derive(Default)]
struct Tally {
    rows: Vec<(String, u32, u32, Option<String>)>,
    autobahn: Vec<(String, Option<String>)>,
}

impl Tally {
    /// A stage's counts; a problem (the stage errored out, a log shows a leak…) is one more
    /// failure when the stage counted none.
    fn add(&mut self, stage: &str, passed: u32, failed: u32, problem: Option<String>) {
        self.rows.push((stage.to_string(), passed, failed + u32::from(problem.is_some() && failed == 0), problem));
    }

    /// A stage's result: its counts, or its error as one failure.
    fn stage(&mut self, stage: &str, result: Result<(u32, u32, Option<String>)>) {
        let (passed, failed, problem) = result.unwrap_or_else(|e| (0, 1, Some(e)));
        self.add(stage, passed, failed, problem);
    }

    /// One Autobahn role's line (cases by outcome), and why it fails if it does.
    fn autobahn(&mut self, line: &str, problem: Option<String>) {
        self.autobahn.push((line.to_string(), problem));
    }

    /// The closing line's counts: the stages' tests, plus one failure per failing Autobahn role.
    fn totals(&self) -> (u32, u32) {
        let passed = self.rows.iter().map(|r| r.1).sum();
        let failed = self.rows.iter().map(|r| r.2).sum::<u32>()
            + self.autobahn.iter().filter(|(_, problem)| problem.is_some()).count() as u32;
        (passed, failed)
    }

    fn finish(self) -> Result<()> {
        println!();
        for (line, problem) in &self.autobahn {
            println!("{line}");
            if let Some(problem) = problem {
                println!("  FAILED: {problem}");
            }
        }
        if !self.autobahn.is_empty() {
            println!("(Autobahn cases are not counted below; a failing role counts as one failure)");
        }
        for (stage, p, f, problem) in &self.rows {
            println!("{stage}: {p} passed, {f} failed");
            if let Some(problem) = problem {
                println!("  {stage} problem: {problem}");
            }
        }
        let (passed, failed) = self.totals();
        println!("total: {passed} passed, {failed} failed");
        if failed > 0 {
            return Err("tests failed".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    #[test]
    fn a_failing_autobahn_role_or_stage_error_fails_the_run() {
        let mut t = Tally::default();
        t.add("rust", 10, 0, None);
        t.autobahn("autobahn server role: 301 cases: …", None);
        assert_eq!(t.totals(), (10, 0));
        assert!(t.finish().is_ok());
        let mut t = Tally::default();
        t.add("rust", 10, 0, None);
        t.autobahn("autobahn client role: 301 cases: …", Some("not passed: 5.6 FAILED".into()));
        assert_eq!(t.totals(), (10, 1));
        assert!(t.finish().is_err());
        let mut t = Tally::default();
        t.add("interop", 0, 0, Some("npm install ws failed".into()));
        assert!(t.finish().is_err());
    }
}
