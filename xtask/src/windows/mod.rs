//! `cargo xtask build --windows` and the `windows` stage: the Windows x86-64 libraries cross-built
//! on this Debian machine, then checked (`check.rs`). Toolchain and checks: docs/platforms.md.
//!
//! No rustup download: the standard library is compiled from Debian's `rust-web-src` with
//! `-Zbuild-std` (`RUSTC_BOOTSTRAP=1`); its own `library/Cargo.lock` pins the dependencies, fetched
//! from crates.io. The mingw gcc of the win32 thread model with `+crt-static` links libgcc and
//! winpthread in, so the DLLs import nothing but Windows' own. Each library has its own target
//! directory under `target/windows/`: the two differ in features, and would relink each other.

mod check;
mod core_tests;
mod pe;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::cross::Variant;
use crate::{apt, run, Result};

const TARGET: &str = "x86_64-pc-windows-gnu";
/// The mingw-w64 gcc whose runtime uses Win32 threads (no libwinpthread DLL).
const GCC: &str = "x86_64-w64-mingw32-gcc-win32";
const OBJDUMP: &str = "x86_64-w64-mingw32-objdump";
/// The Debian packages the build and its checks need.
const PACKAGES: [&str; 5] = ["rustc-web", "cargo-web", "rust-web-src", "gcc-mingw-w64-x86-64-win32", "wine64"];
/// The part of `PACKAGES` that is Debian's Rust (`debian_rust()`, also the other cross-builds').
const RUST: [&str; 3] = ["rustc-web", "cargo-web", "rust-web-src"];
/// Debian packages that `rustc-web`/`cargo-web`/`rust-web-src` conflict with: apt would remove
/// them to install ours, so their presence stops the install instead.
const CONFLICTS: [&str; 4] = ["rustc", "cargo", "libstd-rust-dev", "rust-src"];

/// The editor and debug library's name, as in `rust_websocket.gdextension` (the release export
/// one's is made from it, `cross::Variant::file_name`).
pub const NAME: &str = "rust_websocket.windows.x86_64.dll";

/// Where the tools are.
pub struct Tools {
    pub(crate) cargo: PathBuf,
    pub(crate) rustc: PathBuf,
    pub wine: PathBuf,
    pub wineserver: PathBuf,
}

/// `cargo xtask build --windows`: both libraries into `addons/rust_websocket/bin/`, then the checks.
pub fn command() -> Result<()> {
    let start = Instant::now();
    let tools = tools()?;
    let built = build_all(&tools)?;
    let (passed, problems) = check::run(&tools, &built);
    println!("xtask: Windows build and checks took {}", run::secs(start.elapsed()));
    if problems.is_empty() {
        println!("xtask: Windows x86-64: {passed} checks passed");
        Ok(())
    } else {
        Err(format!("Windows checks failed: {}", problems.join("; ")))
    }
}

/// `cargo xtask windows [tests|check-dll <dll>…]`: the `windows` stage alone (the libraries,
/// their checks and the core's tests under wine), only the core's tests under wine, or only the
/// import and export checks of the DLLs named (built elsewhere, e.g. by MSVC on a Windows
/// runner; no tool needed but xtask).
pub fn windows_command(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("check-dll") if args.len() > 1 => {
            let dlls: Vec<PathBuf> = args[1..].iter().map(PathBuf::from).collect();
            let problems = check::check_dlls(&dlls);
            if problems.is_empty() {
                Ok(())
            } else {
                Err(format!("{} of {} DLLs failed the checks", problems.len(), dlls.len()))
            }
        }
        Some("tests") => {
            let tools = tools()?;
            let t = core_tests::run(&tools)?;
            println!(
                "windows: the core's tests under wine: {} passed, {} failed, {} skipped",
                t.passed, t.failed, t.skipped
            );
            if t.problems.is_empty() {
                Ok(())
            } else {
                Err(t.problems.join("; "))
            }
        }
        None => crate::stages::alone("windows", stage()?),
        _ => Err("usage: cargo xtask windows [tests|check-dll <dll>…]".into()),
    }
}

/// The `windows` stage of `cargo xtask test` (also `cargo xtask windows`, alone): (passed,
/// failed, problem). Three checks per library (imports, export, wine load), then the core's
/// tests cross-built and run under wine (`core_tests.rs`), each libtest test counted. A failed
/// install or build errors out (one failure).
pub fn stage() -> Result<(u32, u32, Option<String>)> {
    run::step("windows: cross-build of the Windows x86-64 libraries, imports, exports, wine load; the core's tests under wine");
    let start = Instant::now();
    let result = tools().and_then(|tools| {
        let built = build_all(&tools)?;
        let (passed, mut problems) = check::run(&tools, &built);
        let checks_failed = problems.len() as u32;
        let tests = match core_tests::run(&tools) {
            Ok(t) => t,
            Err(e) => core_tests::Outcome { passed: 0, failed: 1, skipped: 0, problems: vec![e] },
        };
        println!(
            "xtask: windows: {passed} checks passed, {checks_failed} failed; the core's tests under wine: {} passed, {} failed, {} skipped",
            tests.passed, tests.failed, tests.skipped
        );
        problems.extend(tests.problems);
        Ok((passed + tests.passed, checks_failed + tests.failed, problems))
    });
    println!("xtask: the windows stage took {}", run::secs(start.elapsed()));
    let (passed, failed, problems) = result?;
    Ok((passed, failed, (!problems.is_empty()).then(|| problems.join("; "))))
}

/// Builds both libraries; returns them as installed in the addon's `bin/`.
fn build_all(tools: &Tools) -> Result<Vec<(Variant, PathBuf)>> {
    Variant::BOTH.into_iter().map(|variant| Ok((variant, build(tools, variant)?))).collect()
}

fn build(tools: &Tools, variant: Variant) -> Result<PathBuf> {
    run::step(&format!("building the Windows x86-64 library ({}) with Debian's Rust and mingw-w64", variant.what()));
    let target_dir = crate::root().join("target/windows").join(variant.dir());
    let mut cmd = cargo(tools);
    cmd.args(["build", "--release", "--locked", "-p", "rust_websocket", "--target", TARGET])
        .arg("-Zbuild-std=std,panic_unwind")
        .arg("--target-dir")
        .arg(&target_dir)
        .args(variant.features());
    let start = Instant::now();
    let out = run::capture(cmd, run::BUILD_LIMIT_S)?;
    if !out.success {
        return Err(format!("the Windows build ({}) failed ({})", variant.what(), out.status));
    }
    println!("xtask: the Windows library ({}) built in {}", variant.what(), run::secs(start.elapsed()));
    crate::cross::install(&target_dir.join(TARGET).join("release/rust_websocket.dll"), &variant.file_name(NAME))
}

/// Debian's cargo, set up to cross-build for Windows: Debian's rustc (a stable compiler that
/// accepts `-Zbuild-std` with `RUSTC_BOOTSTRAP=1`), the mingw-w64 gcc as linker and C compiler,
/// `+crt-static`; run from the workspace root.
fn cargo(tools: &Tools) -> Command {
    let mut cmd = Command::new(&tools.cargo);
    cmd.current_dir(crate::root())
        .env("RUSTC", &tools.rustc)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", GCC)
        .env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CC_x86_64_pc_windows_gnu", GCC)
        .env("AR_x86_64_pc_windows_gnu", "x86_64-w64-mingw32-ar");
    // What `cargo xtask` inherits from rustup's cargo must not steer Debian's: rustup's toolchain
    // choice and library path, and flags that would replace the target's.
    for var in
        ["RUSTUP_TOOLCHAIN", "LD_LIBRARY_PATH", "CARGO", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR"]
    {
        cmd.env_remove(var);
    }
    cmd
}

/// The tools, installing the Debian packages that are missing (or a Rust too old for the
/// workspace) first.
pub(crate) fn tools() -> Result<Tools> {
    let missing: Vec<&str> = PACKAGES[RUST.len()..].iter().copied().filter(|p| !apt::installed(p)).collect();
    if !missing.is_empty() {
        install(&missing, &PACKAGES, "the Windows build")?;
    }
    let (cargo, rustc) = debian_rust("the Windows build")?;
    for tool in [GCC, OBJDUMP] {
        if run::which(tool).is_none() {
            return Err(format!("{tool} is not on PATH (gcc-mingw-w64-x86-64-win32)"));
        }
    }
    let tools = Tools {
        cargo,
        rustc,
        wine: package_file("wine64", "/wine/wine64")?,
        wineserver: package_file("wine64", "/wine/wineserver64")?,
    };
    println!("xtask: {GCC}, {}", tools.wine.display());
    Ok(tools)
}

/// Debian's Rust only (`rustc-web`, `cargo-web`, `rust-web-src`), as (cargo, rustc), installed
/// when missing or too old for the workspace: the toolchain of `-Zbuild-std` builds, for
/// `for_what` (said in errors). The Windows build (`tools()`) and the other cross-builds
/// (`cross/`) use it.
pub(crate) fn debian_rust(for_what: &str) -> Result<(PathBuf, PathBuf)> {
    let need = rust_version_needed()?;
    let mut missing: Vec<&str> = RUST.iter().copied().filter(|p| !apt::installed(p)).collect();
    if missing.is_empty() {
        if let Ok(v) = rust_version(&package_file("rustc-web", "/bin/rustc")?) {
            if v < need {
                println!("xtask: Debian's rustc-web is {}.{}, the workspace needs {}.{}", v.0, v.1, need.0, need.1);
                missing.extend(RUST);
            }
        }
    }
    if !missing.is_empty() {
        install(&missing, &RUST, for_what)?;
    }
    let rustc = package_file("rustc-web", "/bin/rustc")?;
    let found = rust_version(&rustc)?;
    if found < need {
        return Err(format!(
            "Debian's rustc-web is {}.{} and the workspace needs {}.{} (rust-version): newer ones come \
             from bookworm-security (deb http://deb.debian.org/debian-security bookworm-security main)",
            found.0, found.1, need.0, need.1
        ));
    }
    let sysroot = Command::new(&rustc).args(["--print", "sysroot"]).output().map_err(|e| e.to_string())?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    let lock = sysroot.join("lib/rustlib/src/rust/library/Cargo.lock");
    if !lock.is_file() {
        return Err(format!("the standard library's sources are not at {} (rust-web-src)", lock.display()));
    }
    let cargo = package_file("cargo-web", "/bin/cargo")?;
    println!(
        "xtask: Debian's Rust {}.{} ({}, {}), std sources in {}",
        found.0,
        found.1,
        rustc.display(),
        cargo.display(),
        lock.parent().unwrap().display()
    );
    Ok((cargo, rustc))
}

/// Installs `packages` with apt (as root) for `for_what`; `all` is what the manual command names.
/// Not over Debian's own Rust packages: apt would remove them for ours.
fn install(packages: &[&str], all: &[&str], for_what: &str) -> Result<()> {
    let conflicting: Vec<&str> = CONFLICTS.iter().copied().filter(|p| apt::installed(p)).collect();
    if packages.iter().any(|p| RUST.contains(p)) && !conflicting.is_empty() {
        return Err(format!(
            "Debian's rustc-web conflicts with the installed {}: apt would remove them, so nothing was \
             installed (remove them, or `apt-get install --no-install-recommends {}` yourself)",
            conflicting.join(", "),
            all.join(" ")
        ));
    }
    apt::install(packages, all, for_what)
}

/// The file of an installed package whose path ends with `suffix` (not under /usr/share, where
/// cargo-web keeps a wrapper script and the docs are), from `dpkg -L`.
fn package_file(package: &str, suffix: &str) -> Result<PathBuf> {
    let out = Command::new("dpkg").args(["-L", package]).output().map_err(|e| format!("dpkg -L {package}: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(Path::new)
        .find(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)) && !p.starts_with("/usr/share") && p.is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("the Debian package {package} has no file …{suffix} (is it installed?)"))
}

/// (major, minor) of `rustc -V` ("rustc 1.96.0 (…)").
fn rust_version(rustc: &Path) -> Result<(u32, u32)> {
    let out = Command::new(rustc).arg("-V").output().map_err(|e| format!("{}: {e}", rustc.display()))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    run::major_minor(text.split_whitespace().nth(1).unwrap_or(""))
        .ok_or_else(|| format!("{} -V printed '{}'", rustc.display(), text.trim()))
}

/// The workspace's `rust-version`.
fn rust_version_needed() -> Result<(u32, u32)> {
    let v = crate::package::workspace_field("rust-version")?;
    run::major_minor(&v).ok_or_else(|| format!("Cargo.toml: rust-version {v} is not major.minor"))
}
