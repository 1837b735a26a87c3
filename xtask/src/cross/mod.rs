//! The libraries for other platforms than this machine's, built here (what each is built with
//! and checked for, and what xtask installs when missing: docs/platforms.md): Linux x86-64 and
//! arm64 against glibc 2.28 and the macOS universal dylib with cargo-zigbuild, and the Android and
//! iOS type-checks (`mobile.rs`). Used by `cargo xtask package` and the `platforms` stage.
//!
//! x86-64 Linux uses the rustup toolchain running xtask; every other target has no prebuilt
//! standard library here, so Debian's Rust compiles it with `-Zbuild-std`. Each library has its
//! own target directory, `target/cross/<triple>/<variant>/`; the CI stage's quick builds and mobile
//! checks share `target/cross/quick/`, so the host's build scripts and proc macros compile once.

pub mod apple;
pub mod linux;
pub mod mobile;
mod stage;

pub use stage::{command, package_libraries, stage, Checks};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{run, Result};

/// The cargo-zigbuild installed when it is missing (the one the stage was last run with).
const ZIGBUILD_VERSION: &str = "0.24.1";
/// The `ziglang` wheel installed when `python3 -m ziglang` does not run.
const ZIG_VERSION: &str = "0.17.1";

/// One of the two libraries of a platform: the editor and debug one (class reference embedded)
/// and the release export one, as in `rust_websocket.gdextension`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Variant {
    Editor,
    Export,
}

impl Variant {
    pub const BOTH: [Variant; 2] = [Variant::Editor, Variant::Export];

    pub fn dir(self) -> &'static str {
        match self {
            Variant::Editor => "editor",
            Variant::Export => "export",
        }
    }

    pub fn features(self) -> &'static [&'static str] {
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
        let out = run::capture(cmd, run::BUILD_LIMIT_S)?;
        let took = start.elapsed();
        if !out.success {
            return Err(format!("the {} build ({}) failed ({})", target.triple, variant.what(), out.status));
        }
        let file = dir.join(target.triple).join("release").join(target.built);
        if !file.is_file() {
            return Err(format!("the {} build wrote no {}", target.triple, file.display()));
        }
        println!("xtask: {} ({}) built in {}", file.display(), variant.what(), run::secs(took));
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

/// The LLVM tool `name` on PATH, or `name-22`, `name-14` (Debian names LLVM tools with their
/// version too); Debian's `llvm` (which provides the unversioned names) is installed when none is.
pub fn llvm_tool(name: &str) -> Result<PathBuf> {
    let names = [name.to_string(), format!("{name}-22"), format!("{name}-14")];
    let first = || names.iter().find_map(|n| run::which(n));
    if let Some(p) = first() {
        return Ok(p);
    }
    // `llvm` has some tools only under versioned names (`llvm-lipo-14` from `llvm-14`), so
    // whether the install gave `name` does not matter, only whether one of `names` is there.
    let installed = crate::apt::ensure(name, &["llvm"]);
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
