//! The libraries for other platforms than this machine's, built here: Linux x86-64 and arm64
//! against glibc 2.28, macOS x86-64 and arm64 joined into one universal dylib, and a type-check
//! of the core and the binding for Android and iOS. Used by `cargo xtask package` (every library
//! the zip ships; `package.rs` of the caller) and by the `platforms` stage of `cargo xtask test`
//! (`stage()`, leaner: see there).
//!
//! Toolchain, installed by xtask when missing:
//! * `cargo-zigbuild` (crates.io, `cargo install cargo-zigbuild --locked --version`
//!   `ZIGBUILD_VERSION`) with Zig from the `ziglang` wheel (PyPI, `python3 -m pip install
//!   ziglang==ZIG_VERSION`, into the machine's Python; cargo-zigbuild runs `python3 -m ziglang`
//!   itself): zig links ELF against the glibc version named in the target
//!   (`x86_64-unknown-linux-gnu.2.28`) and Mach-O against its own libSystem stubs (no Apple SDK),
//!   and is the C compiler of `ring`'s build script.
//! * x86-64 Linux uses the rustup toolchain running xtask and its prebuilt standard library. Every
//!   other target has no prebuilt standard library here (no rustup download), so it is compiled
//!   from source with `-Zbuild-std` by Debian's Rust (`rustc-web`, `cargo-web`, `rust-web-src`,
//!   also the Windows build's: `windows::debian_rust()`, which installs it), `RUSTC_BOOTSTRAP=1`.
//! * `llvm-lipo`, `llvm-objdump`, `llvm-nm` (Debian's `llvm`, installed by `llvm_tool()`) for the universal dylib and the
//!   checks; `qemu-aarch64` (Debian's `qemu-user`) to run the arm64 Godot (`linux.rs`).
//!
//! Each library gets its own target directory, `target/cross/<triple>/<variant>/`, so re-runs are
//! warm; the CI stage's quick builds with Debian's Rust and its mobile checks share one,
//! `target/cross/quick/`, so that the host's build scripts and proc macros are compiled once. Android and iOS libraries are not built here (their linkers are the NDK's and Xcode's):
//! the release workflow builds them; here `mobile.rs` type-checks the crates for them.

pub mod apple;
pub mod linux;
pub mod mobile;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{run, Result};

/// The cargo-zigbuild installed when it is missing (the one the stage was last run with).
const ZIGBUILD_VERSION: &str = "0.24.1";
/// The `ziglang` wheel installed when `python3 -m ziglang` does not run.
const ZIG_VERSION: &str = "0.17.1";

/// Time limit of one build (a cold one compiles the standard library too).
const BUILD_LIMIT_S: u64 = 2400;

/// One of the two libraries of a platform: the editor and debug one (class reference embedded)
/// and the release export one, as in `rust_websocket.gdextension`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    Editor,
    Export,
}

impl Variant {
    pub const BOTH: [Variant; 2] = [Variant::Editor, Variant::Export];

    fn dir(self) -> &'static str {
        match self {
            Variant::Editor => "editor",
            Variant::Export => "export",
        }
    }

    fn features(self) -> &'static [&'static str] {
        match self {
            Variant::Editor => &[],
            Variant::Export => &["--no-default-features"],
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Variant::Editor => "editor and debug",
            Variant::Export => "release export",
        }
    }

    /// `librust_websocket.linux.arm64.so` → `librust_websocket.linux.arm64.template_release.so`.
    pub fn file_name(self, editor_name: &str) -> String {
        match self {
            Variant::Editor => editor_name.to_string(),
            Variant::Export => {
                let (base, ext) = editor_name.rsplit_once('.').expect("library names have an extension");
                format!("{base}.template_release.{ext}")
            }
        }
    }
}

/// A target the library is built for.
pub struct Target {
    /// Rust's target triple.
    pub triple: &'static str,
    /// What cargo-zigbuild is given: the triple, with the glibc version for Linux.
    zig_target: &'static str,
    /// The file cargo writes.
    built: &'static str,
    /// Whether the standard library is compiled from source (Debian's Rust, `-Zbuild-std`).
    build_std: bool,
    /// The oldest macOS the library loads on (`MACOSX_DEPLOYMENT_TARGET`; without it zig
    /// writes its own default, macOS 15).
    macos_min: Option<&'static str>,
}

pub const LINUX_X86_64: Target = Target {
    triple: "x86_64-unknown-linux-gnu",
    zig_target: "x86_64-unknown-linux-gnu.2.28",
    built: "librust_websocket.so",
    build_std: false,
    macos_min: None,
};
pub const LINUX_ARM64: Target = Target {
    triple: "aarch64-unknown-linux-gnu",
    zig_target: "aarch64-unknown-linux-gnu.2.28",
    built: "librust_websocket.so",
    build_std: true,
    macos_min: None,
};
pub const MACOS_X86_64: Target = Target {
    triple: "x86_64-apple-darwin",
    zig_target: "x86_64-apple-darwin",
    built: "librust_websocket.dylib",
    build_std: true,
    macos_min: Some(apple::MIN_X86_64),
};
pub const MACOS_ARM64: Target = Target {
    triple: "aarch64-apple-darwin",
    zig_target: "aarch64-apple-darwin",
    built: "librust_websocket.dylib",
    build_std: true,
    macos_min: Some(apple::MIN_ARM64),
};

/// How a build is made: the release profile the zip ships (LTO, one codegen unit), or a quick
/// one for the CI stage (same code and link, no LTO, parallel codegen), in its own directory.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    Release,
    Quick,
}

/// The tools of the cross-builds.
pub struct Toolchain {
    zigbuild: PathBuf,
    /// Zig's `lib/` (its libc headers serve the mobile type-checks' C, `mobile.rs`).
    zig_lib: PathBuf,
    /// Debian's cargo and rustc (`-Zbuild-std`), once asked for.
    debian: std::cell::OnceCell<(PathBuf, PathBuf)>,
}

impl Toolchain {
    /// cargo-zigbuild and Zig, installed when missing.
    pub fn new() -> Result<Toolchain> {
        let zig = zig()?;
        let env = Command::new("python3")
            .args(["-m", "ziglang", "env"])
            .output()
            .map_err(|e| format!("python3 -m ziglang env: {e}"))?;
        let env = String::from_utf8_lossy(&env.stdout);
        // `.lib_dir = "/…/ziglang/lib",` (zon), or `"lib_dir": "…"` (JSON, older Zig).
        let zig_lib = env
            .lines()
            .find(|l| l.contains("lib_dir"))
            .and_then(|l| l.split('"').find(|p| p.starts_with('/')))
            .map(PathBuf::from)
            .ok_or("`zig env` names no lib_dir")?;
        let zigbuild = match zigbuild_path() {
            Some(p) => p,
            None => {
                run::step(&format!("installing cargo-zigbuild {ZIGBUILD_VERSION} (crates.io) for the cross-builds"));
                run::cargo(&["install", "cargo-zigbuild", "--locked", "--version", ZIGBUILD_VERSION])?;
                zigbuild_path()
                    .ok_or("cargo install cargo-zigbuild did not put cargo-zigbuild on PATH or in ~/.cargo/bin")?
            }
        };
        let version = Command::new(&zigbuild).arg("--version").output().map_err(|e| e.to_string())?;
        println!("xtask: {} with Zig {zig}", String::from_utf8_lossy(&version.stdout).trim());
        Ok(Toolchain { zigbuild, zig_lib, debian: std::cell::OnceCell::new() })
    }

    /// Debian's cargo and rustc (installed by `windows::debian_rust()` when missing).
    fn debian(&self) -> Result<&(PathBuf, PathBuf)> {
        if self.debian.get().is_none() {
            let _ = self.debian.set(crate::windows::debian_rust("the cross-builds")?);
        }
        Ok(self.debian.get().expect("set above"))
    }

    /// A cargo command for `target`: Debian's with `-Zbuild-std` set up when the target needs it,
    /// else the one running xtask; run from the workspace root.
    fn cargo(&self, build_std: bool) -> Result<Command> {
        let mut cmd = Command::new(&self.zigbuild);
        cmd.current_dir(crate::root());
        if build_std {
            let (cargo, rustc) = self.debian()?;
            cmd.env("CARGO", cargo).env("RUSTC", rustc).env("RUSTC_BOOTSTRAP", "1");
            // What `cargo xtask` inherits from rustup's cargo must not steer Debian's.
            for var in ["RUSTUP_TOOLCHAIN", "LD_LIBRARY_PATH", "RUSTC_WRAPPER", "RUSTDOC"] {
                cmd.env_remove(var);
            }
        }
        for var in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
            cmd.env_remove(var);
        }
        Ok(cmd)
    }

    /// Builds `variant` of the library for `target`; returns the file and how long it took.
    pub fn build(&self, target: &Target, variant: Variant, profile: Profile) -> Result<(PathBuf, Duration)> {
        let dir = match (profile, target.build_std) {
            (Profile::Quick, true) => quick_dir(),
            _ => target_dir(target.triple, &dir_name(variant, profile)),
        };
        run::step(&format!(
            "building the {} library ({}) for {}{}",
            target.triple,
            variant.what(),
            target.zig_target,
            if profile == Profile::Quick { ", quick profile (no LTO)" } else { "" }
        ));
        let mut cmd = self.cargo(target.build_std)?;
        cmd.args(["zigbuild", "--release", "--locked", "-p", "rust_websocket", "--target", target.zig_target])
            .arg("--target-dir")
            .arg(&dir)
            .args(variant.features());
        if target.build_std {
            cmd.arg("-Zbuild-std=std,panic_unwind");
        }
        if let Some(min) = target.macos_min {
            cmd.env("MACOSX_DEPLOYMENT_TARGET", min);
        }
        if profile == Profile::Quick {
            quick_env(&mut cmd);
        }
        let start = Instant::now();
        let out = run::capture(cmd, BUILD_LIMIT_S)?;
        let took = start.elapsed();
        if !out.success {
            return Err(format!("the {} build ({}) failed ({})", target.triple, variant.what(), out.status));
        }
        let file = dir.join(target.triple).join("release").join(target.built);
        if !file.is_file() {
            return Err(format!("the {} build wrote no {}", target.triple, file.display()));
        }
        println!("xtask: {} ({}) built in {}", file.display(), variant.what(), secs(took));
        Ok((file, took))
    }
}

/// Zig's version: `python3 -m ziglang`, which cargo-zigbuild runs itself; when it does not run,
/// the `ziglang` wheel (`ZIG_VERSION`) is installed into the machine's Python first.
fn zig() -> Result<String> {
    let version = || {
        Command::new("python3")
            .args(["-m", "ziglang", "version"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    if let Some(v) = version() {
        return Ok(format!("{v} (python3 -m ziglang)"));
    }
    let wheel = format!("ziglang=={ZIG_VERSION}");
    run::step(&format!("installing Zig (the {wheel} wheel, PyPI) into python3 for the cross-builds"));
    let pip = |extra: &[&str]| {
        Command::new("python3")
            .args(["-m", "pip", "install", "--quiet"])
            .args(extra)
            .arg(&wheel)
            .output()
            .map_err(|e| format!("python3 -m pip: {e}"))
    };
    let mut out = pip(&[])?;
    // A Python managed by Debian (PEP 668) refuses packages outside a venv; the wheel is one
    // self-contained package with no dependencies, so it cannot break the system's.
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("externally-managed") {
        out = pip(&["--break-system-packages"])?;
    }
    if !out.status.success() {
        return Err(format!(
            "Zig is missing and `python3 -m pip install {wheel}` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    version().map(|v| format!("{v} (python3 -m ziglang, just installed)")).ok_or_else(|| {
        format!("`python3 -m pip install {wheel}` succeeded but `python3 -m ziglang version` does not run")
    })
}

/// The one target directory of the quick builds with Debian's Rust and of the mobile checks
/// (the CI stage's): their build scripts and proc macros (gdext's code generator among them)
/// are compiled once for all targets, not once per target.
fn quick_dir() -> PathBuf {
    crate::root().join("target/cross/quick")
}

/// The quick profile: the release profile without LTO, 16 codegen units.
fn quick_env(cmd: &mut Command) {
    cmd.env("CARGO_PROFILE_RELEASE_LTO", "false").env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16");
}

/// A build's folder name: the variant's, `-quick` for the quick profile.
fn dir_name(variant: Variant, profile: Profile) -> String {
    format!("{}{}", variant.dir(), if profile == Profile::Quick { "-quick" } else { "" })
}

/// `target/cross/<triple>/<name>/`.
fn target_dir(triple: &str, name: &str) -> PathBuf {
    crate::root().join("target/cross").join(triple).join(name)
}

/// cargo-zigbuild on PATH or in cargo's bin folder.
fn zigbuild_path() -> Option<PathBuf> {
    if let Some(p) = run::which("cargo-zigbuild") {
        return Some(p);
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    let p = home.join("bin/cargo-zigbuild");
    p.is_file().then_some(p)
}

/// The first of `names` on PATH (Debian names LLVM tools with their version too); Debian's
/// `llvm` (which provides the unversioned names) is installed when none is there.
pub fn llvm_tool(names: &[&str]) -> Result<PathBuf> {
    let first = || names.iter().find_map(|n| run::which(n));
    if let Some(p) = first() {
        return Ok(p);
    }
    // `llvm` has some tools only under versioned names (`llvm-lipo-14` from `llvm-14`), so
    // whether the install gave `names[0]` does not matter, only whether one of `names` is there.
    let installed = apt_install(names[0], &["llvm"]);
    first().ok_or_else(|| match installed {
        Err(e) => e,
        Ok(()) => format!("none of {} is on PATH after installing Debian's llvm", names.join(", ")),
    })
}

/// Copies a built library into the addon's `bin/` as `name`.
pub fn install(built: &Path, name: &str) -> Result<PathBuf> {
    let bin = crate::root().join("addons/rust_websocket/bin");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let dest = bin.join(name);
    std::fs::copy(built, &dest).map_err(|e| format!("copying {} to {}: {e}", built.display(), dest.display()))?;
    let size = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    println!("xtask: addons/rust_websocket/bin/{name} ({:.1} MiB)", size as f64 / 1048576.0);
    Ok(dest)
}

/// Installs Debian packages (as root) when `tool` is missing.
pub fn apt_install(tool: &str, packages: &[&str]) -> Result<()> {
    if run::which(tool).is_some() {
        return Ok(());
    }
    let manual = format!("apt-get install --no-install-recommends {}", packages.join(" "));
    if run::which("apt-get").is_none() || !run::is_root() {
        return Err(format!("{tool} is missing: `{manual}` (as root)"));
    }
    run::step(&format!("installing Debian's {}", packages.join(", ")));
    let _ = Command::new("apt-get").args(["-q", "update"]).status();
    let ok = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok || run::which(tool).is_none() {
        return Err(format!("`{manual}` did not provide {tool}"));
    }
    Ok(())
}

pub fn secs(d: Duration) -> String {
    format!("{:.0} s", d.as_secs_f64())
}

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
}

/// What `cargo xtask package` builds here besides the Windows libraries: both variants of Linux
/// x86-64 and arm64 (glibc 2.28) and of the macOS universal dylib, release profile, installed
/// into `bin/` under the manifest's names, then checked: glibc versions, Mach-O architectures,
/// exports and imports, and the x86-64 and arm64 libraries (editor) running the package test
/// (this machine's Godot; the arm64 one under qemu).
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
    println!("xtask: the Linux and macOS libraries and their checks took {}", secs(start.elapsed()));
    if checks.problems.is_empty() {
        println!("xtask: Linux and macOS: {} checks passed", checks.passed);
        Ok(())
    } else {
        Err(format!("Linux/macOS checks failed: {}", checks.problems.join("; ")))
    }
}

/// The package test's project (`package/check.rs`: the archive unzipped into a fresh project,
/// imported, a client and a server exchanging a message each way) run by Debian's arm64 Godot
/// under qemu with the arm64 library `lib` (see [`package_test`]). The import is made by this
/// machine's Godot, which must be the same Godot version: it writes nothing
/// architecture-specific (the file system cache, the class list, the extension list), and the
/// editor's import does not finish under qemu-user (nothing printed after the banner in 300 s).
/// The main scene, which loads the arm64 library and runs the exchange, takes about 15 s under
/// qemu.
fn arm64_package_test(lib: &Path) -> Result<String> {
    let godot = linux::arm64_godot()?;
    let importer = crate::godot::find()?;
    let (arm64, host) = (linux::version(&godot), linux::version(&importer));
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
    Ok(format!("in {}; {}", secs(start.elapsed()), lines.join(" | ")))
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
    let (passed, failed, problem) = stage(true)?;
    println!("platforms: {passed} passed, {failed} failed");
    match problem {
        Some(p) => Err(p),
        None => Ok(()),
    }
}

/// The `platforms` stage: (passed, failed, problem). Lean, for CI: one library per target in
/// the quick profile (no LTO; the same code, linked the same way against the same glibc and
/// libSystem), each checked as `cargo xtask package` checks the release ones: Linux x86-64
/// (release export variant, which this machine's Godot loads and runs the package test with) and
/// arm64 (editor variant, which the arm64 Godot loads and runs the package test with under qemu;
/// both from a temporary copy of the addon, `bin/` untouched), then the Android and iOS type-checks; with `macos` (`cargo
/// xtask platforms`), also macOS x86-64 + arm64 joined (export variant) and its checks.
/// `cargo xtask test` runs it without macOS: cold, the macOS pair adds about 12 minutes (two
/// standard libraries and dependency trees), which would take CI past its budget; macOS is
/// built and checked by `cargo xtask package` (release profile, both variants) and by `cargo
/// xtask platforms`. Only `cargo xtask package` builds the LTO libraries and both variants.
pub fn stage(macos: bool) -> Result<(u32, u32, Option<String>)> {
    run::step(&format!(
        "platforms: Linux x86-64/arm64 (glibc 2.28) checked, the arm64 one run under qemu; {}Android/iOS type-check",
        if macos { "macOS universal checked; " } else { "" }
    ));
    let start = Instant::now();
    let tc = Toolchain::new()?;
    let mut checks = Checks::default();
    let timed = |what: &str, f: &mut dyn FnMut(&mut Checks) -> Result<()>, checks: &mut Checks| {
        let t = Instant::now();
        if let Err(e) = f(checks) {
            checks.check(what, Err(e));
        }
        println!("xtask: platforms: {what} took {}", secs(t.elapsed()));
    };
    timed(
        "Linux x86-64",
        &mut |c| {
            let (lib, _) = tc.build(&LINUX_X86_64, Variant::Export, Profile::Quick)?;
            c.check("Linux x86-64 (export, quick) needs glibc <= 2.28", linux::check_glibc(&lib));
            c.check(
                "the zig-built x86-64 library (export, quick) runs the package test in this machine's Godot",
                x86_64_package_test(&lib),
            );
            Ok(())
        },
        &mut checks,
    );
    timed(
        "Linux arm64",
        &mut |c| {
            let (lib, _) = tc.build(&LINUX_ARM64, Variant::Editor, Profile::Quick)?;
            c.check("Linux arm64 (editor, quick) needs glibc <= 2.28", linux::check_glibc(&lib));
            c.check("the arm64 library runs the package test in arm64 Godot under qemu", arm64_package_test(&lib));
            Ok(())
        },
        &mut checks,
    );
    timed(
        "macOS",
        &mut |c| {
            if !macos {
                println!("xtask: platforms: macOS left to `cargo xtask package` and `cargo xtask platforms`");
                return Ok(());
            }
            let lib = apple::build_universal(&tc, Variant::Export, Profile::Quick)?;
            apple::check(c, "macOS universal (export, quick)", &lib);
            Ok(())
        },
        &mut checks,
    );
    for (triple, clang, headers) in mobile::TARGETS {
        timed(
            triple,
            &mut |c| {
                c.check(&format!("cargo check for {triple}"), mobile::check(&tc, triple, clang, headers));
                Ok(())
            },
            &mut checks,
        );
    }
    println!("xtask: the platforms stage took {}", secs(start.elapsed()));
    let failed = checks.problems.len() as u32;
    Ok((checks.passed, failed, (!checks.problems.is_empty()).then(|| checks.problems.join("; "))))
}
