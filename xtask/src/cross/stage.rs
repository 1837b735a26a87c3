//! What the callers run: the `platforms` test stage (`stage`), `cargo xtask platforms`
//! (`command`), the libraries `cargo xtask package` ships (`package_libraries`), the checks'
//! tally (`Checks`) and the package test on a cross-built library.

use super::*;

/// Counts checks: each one passes or fails with a reason, printed as it comes.
#[derive(Default)]
pub struct Checks {
    pub passed: u32,
    pub problems: Vec<String>,
}

impl Checks {
    pub fn check(&mut self, name: &str, result: Result<String>) {
        match result {
            Ok(detail) => {
                self.passed += 1;
                println!("xtask: ok: {name}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") });
            }
            Err(e) => {
                println!("xtask: FAILED: {name}: {e}");
                self.problems.push(format!("{name}: {e}"));
            }
        }
    }

    /// Runs `f`, its error one failed check named `what`; prints how long it took.
    fn timed(&mut self, what: &str, f: impl FnOnce(&mut Checks) -> Result<()>) {
        let t = Instant::now();
        if let Err(e) = f(self) {
            self.check(what, Err(e));
        }
        println!("xtask: platforms: {what} took {}", run::secs(t.elapsed()));
    }
}

/// What `cargo xtask package` builds here besides the Windows libraries (docs/platforms.md):
/// both variants of Linux x86-64, arm64 and macOS universal, release profile, installed into
/// `bin/` under the manifest's names, then checked.
pub fn package_libraries() -> Result<()> {
    let start = Instant::now();
    let tc = Toolchain::new()?;
    let mut linux = Vec::new();
    let mut macos = Vec::new();
    for variant in Variant::BOTH {
        for (target, name) in [(&LINUX_X86_64, linux::X86_64_NAME), (&LINUX_ARM64, linux::ARM64_NAME)] {
            let (built, _) = tc.build(target, variant, Profile::Release)?;
            let file = variant.file_name(name);
            linux.push((file.clone(), install(&built, &file)?));
        }
        let file = variant.file_name(apple::NAME);
        let fat = apple::build_universal(&tc, variant, Profile::Release)?;
        macos.push((file.clone(), install(&fat, &file)?));
    }
    let mut checks = Checks::default();
    run::step("checking the Linux and macOS libraries (glibc versions; Mach-O architectures, exports, imports)");
    linux::check_all(&mut checks, &linux);
    for (name, path) in &macos {
        apple::check(&mut checks, name, path);
    }
    let bin = crate::root().join("addons/rust_websocket/bin");
    checks.check(
        "the x86-64 library (editor) runs the package test in this machine's Godot",
        x86_64_package_test(&bin.join(linux::X86_64_NAME)),
    );
    checks.check(
        "the arm64 library (editor) runs the package test in arm64 Godot under qemu",
        arm64_package_test(&bin.join(linux::ARM64_NAME)),
    );
    println!("xtask: the Linux and macOS libraries and their checks took {}", run::secs(start.elapsed()));
    if checks.problems.is_empty() {
        println!("xtask: Linux and macOS: {} checks passed", checks.passed);
        Ok(())
    } else {
        Err(format!("Linux/macOS checks failed: {}", checks.problems.join("; ")))
    }
}

/// The package test's project (see [`package_test`]) run by Debian's arm64 Godot under qemu with
/// the arm64 library `lib` (about 15 s). This machine's Godot, the same version, imports it: the
/// import writes nothing architecture-specific, and does not finish under qemu-user (nothing
/// printed after the banner in 300 s).
fn arm64_package_test(lib: &Path) -> Result<String> {
    let godot = linux::arm64_godot()?;
    let importer = crate::godot::find()?;
    let (arm64, host) = (crate::godot::version(&godot), crate::godot::version(&importer));
    let release = |v: &str| -> String {
        // "4.6.3.stable.debian" → "4.6.3.stable": the numbers and the status, not the build's name.
        let fields: Vec<&str> = v.split('.').collect();
        let end = fields.iter().position(|f| f.parse::<u32>().is_err()).map_or(fields.len(), |p| p + 1);
        fields[..end].join(".")
    };
    match (&arm64, &host) {
        (Some(a), Some(h)) if release(a) == release(h) => {
            println!("xtask: arm64 Godot {a}, this machine's Godot {h}: the same version")
        }
        _ => {
            return Err(format!(
                "the arm64 Godot ({}, {}) is not the version of this machine's Godot ({}, {}), which \
                 imports the project it runs: make them the same (Debian sid's godot is the arm64 one; \
                 GODOT4_BIN picks this machine's)",
                arm64.as_deref().unwrap_or("no --version"),
                godot.display(),
                host.as_deref().unwrap_or("no --version"),
                importer.display()
            ))
        }
    }
    package_test(lib, linux::ARM64_NAME, "package-test-arm64", &importer, &godot)
}

/// The zig-built Linux x86-64 library `lib` (glibc 2.28, what the zip ships) run by this
/// machine's Godot in the package test's project (see [`package_test`]), about 10 s.
fn x86_64_package_test(lib: &Path) -> Result<String> {
    let godot = crate::godot::find()?;
    package_test(lib, linux::X86_64_NAME, "package-test-x86_64", &godot, &godot)
}

/// The package test (`package/check.rs`) from an archive of a temporary copy of the addon,
/// `target/cross/<dir>/addon/`, whose `bin/` holds only `lib` named `name` (the manifest's
/// editor and debug name, the one an editor Godot loads): `addons/rust_websocket/bin/` is left
/// alone. `importer` imports the fresh project, `runner` runs its main scene. Returns how long
/// the run took and the lines it printed.
fn package_test(lib: &Path, name: &str, dir: &str, importer: &Path, runner: &Path) -> Result<String> {
    let dir = crate::root().join("target/cross").join(dir);
    let _ = std::fs::remove_dir_all(&dir);
    let addon = dir.join("addon");
    let bin = addon.join("bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let source = crate::root().join("addons/rust_websocket");
    for entry in std::fs::read_dir(&source).map_err(|e| format!("{}: {e}", source.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().map_err(|e| e.to_string())?.is_file() {
            std::fs::copy(entry.path(), addon.join(entry.file_name()))
                .map_err(|e| format!("{}: {e}", entry.path().display()))?;
        }
    }
    std::fs::copy(lib, bin.join(name)).map_err(|e| format!("copying {}: {e}", lib.display()))?;
    let archive = dir.join("godot-rust-websocket.zip");
    crate::package::make_from(&addon, &archive, crate::package::Required::Nothing)?;
    let start = Instant::now();
    let lines = crate::package::run_in_fresh_project(importer, runner, &archive, &dir.join("project"))?;
    Ok(format!("in {}; {}", run::secs(start.elapsed()), lines.join(" | ")))
}

/// `cargo xtask platforms [godot-arm64|arm64-run]`: the stage alone, or only the arm64 Godot, or
/// only its run of the package test with the arm64 library already in `bin/`.
pub fn command(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {}
        Some("godot-arm64") => return linux::arm64_godot().map(|g| println!("{}", g.display())),
        Some("arm64-run") => {
            let lib = crate::root().join("addons/rust_websocket/bin").join(linux::ARM64_NAME);
            return arm64_package_test(&lib).map(|lines| println!("xtask: arm64 run: {lines}"));
        }
        Some(other) => return Err(format!("platforms: unknown argument {other} (use godot-arm64, arm64-run)")),
    }
    crate::stages::alone("platforms", stage(true)?)
}

/// The `platforms` stage: (passed, failed, problem); what it builds and checks is in
/// docs/testing.md and docs/platforms.md. Lean, for CI: one library per target in the quick
/// profile (no LTO; the same code, linked the same way), checked as `package` checks the release
/// ones. `macos` (`cargo xtask platforms`) adds the macOS pair, about 12 minutes cold: past CI's
/// budget, so `cargo xtask test` leaves it to `platforms` and `package`.
pub fn stage(macos: bool) -> Result<(u32, u32, Option<String>)> {
    run::step(&format!(
        "platforms: Linux x86-64/arm64 (glibc 2.28) checked, the arm64 one run under qemu; {}Android/iOS type-check",
        if macos { "macOS universal checked; " } else { "" }
    ));
    let start = Instant::now();
    let tc = Toolchain::new()?;
    let mut checks = Checks::default();
    checks.timed("Linux x86-64", |c| {
        let (lib, _) = tc.build(&LINUX_X86_64, Variant::Export, Profile::Quick)?;
        c.check("Linux x86-64 (export, quick) needs glibc <= 2.28", linux::check_glibc(&lib));
        c.check(
            "the zig-built x86-64 library (export, quick) runs the package test in this machine's Godot",
            x86_64_package_test(&lib),
        );
        Ok(())
    });
    checks.timed("Linux arm64", |c| {
        let (lib, _) = tc.build(&LINUX_ARM64, Variant::Editor, Profile::Quick)?;
        c.check("Linux arm64 (editor, quick) needs glibc <= 2.28", linux::check_glibc(&lib));
        c.check("the arm64 library runs the package test in arm64 Godot under qemu", arm64_package_test(&lib));
        Ok(())
    });
    checks.timed("macOS", |c| {
        if !macos {
            println!("xtask: platforms: macOS left to `cargo xtask package` and `cargo xtask platforms`");
            return Ok(());
        }
        let lib = apple::build_universal(&tc, Variant::Export, Profile::Quick)?;
        apple::check(c, "macOS universal (export, quick)", &lib);
        Ok(())
    });
    for (triple, clang, headers) in mobile::TARGETS {
        checks.timed(triple, |c| {
            c.check(&format!("cargo check for {triple}"), mobile::check(&tc, triple, clang, headers));
            Ok(())
        });
    }
    println!("xtask: the platforms stage took {}", run::secs(start.elapsed()));
    let failed = checks.problems.len() as u32;
    Ok((checks.passed, failed, (!checks.problems.is_empty()).then(|| checks.problems.join("; "))))
}
