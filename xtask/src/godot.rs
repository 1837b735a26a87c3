//! Finding, provisioning and running a headless Godot 4.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::{self, Output};
use crate::Result;

/// The oldest Godot the addon supports (gdext `api-4-3`, `compatibility_minimum`).
const MIN: (u32, u32) = (4, 3);

/// `$GODOT4_BIN`, else `godot4`/`godot` on PATH when new enough, else Debian sid's package.
pub fn find() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("GODOT4_BIN").filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        let v = version(&bin).ok_or_else(|| format!("GODOT4_BIN={} does not run as Godot", bin.display()))?;
        println!("xtask: using GODOT4_BIN={} (Godot {v})", bin.display());
        check_version(&v)?;
        return Ok(bin);
    }
    for name in ["godot4", "godot"] {
        if let Some(bin) = run::which(name) {
            match version(&bin) {
                Some(v) if check_version(&v).is_ok() => {
                    println!("xtask: using {} (Godot {v})", bin.display());
                    return Ok(bin);
                }
                Some(v) => println!("xtask: ignoring {} (Godot {v}, need {}.{}+)", bin.display(), MIN.0, MIN.1),
                None => {}
            }
        }
    }
    provision()
}

/// `$GODOT4_BIN` only, for `cargo xtask package-test`: it must name an existing file (no search
/// on PATH, no provisioning, so that the Godot tested with is the one the caller downloaded),
/// whose `--version` is printed and, with `$GODOT_EXPECTED_VERSION` set, must start with it
/// (`4.3` accepts `4.3.stable.official…` and `4.3.1…`, not `4.30…` nor `4.4…`).
pub fn named() -> Result<PathBuf> {
    let bin = std::env::var_os("GODOT4_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or("GODOT4_BIN is not set: package-test runs only with the Godot it names")?;
    if !bin.is_file() {
        return Err(format!("GODOT4_BIN={} is not a file", bin.display()));
    }
    let v = version(&bin).ok_or_else(|| format!("GODOT4_BIN={} does not run as Godot", bin.display()))?;
    println!("xtask: using GODOT4_BIN={} (Godot {v})", bin.display());
    check_version(&v)?;
    if let Some(want) = std::env::var("GODOT_EXPECTED_VERSION").ok().filter(|w| !w.trim().is_empty()) {
        let want = want.trim();
        let matches = v.strip_prefix(want).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'));
        if !matches {
            return Err(format!("GODOT4_BIN={} is Godot {v}, GODOT_EXPECTED_VERSION is {want}", bin.display()));
        }
    }
    Ok(bin)
}

/// A Godot's `--headless --version` ("4.6.3.stable.debian").
pub fn version(bin: &Path) -> Option<String> {
    let out = Command::new(bin).args(["--headless", "--version"]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.starts_with('4') || l.starts_with('3') || l.starts_with('5'))?;
    Some(line.trim().to_string())
}

fn check_version(v: &str) -> Result<()> {
    match crate::run::major_minor(v) {
        Some((major, minor)) if major == MIN.0 && minor >= MIN.1 => Ok(()),
        _ => Err(format!("Godot {v} is not supported: need {}.{} or newer 4.x", MIN.0, MIN.1)),
    }
}

/// Debian sid's `godot` and its library closure, unpacked under `target/godot-sid/`, run through
/// their own loader by a small wrapper script (sid needs a newer glibc than Debian 12 has).
fn provision() -> Result<PathBuf> {
    let no_apt = format!(
        "no Godot {}.{}+ found: set GODOT4_BIN to a Godot 4 binary, or put `godot4` on PATH \
         (automatic download needs apt-get and dpkg, i.e. Debian or Ubuntu)",
        MIN.0, MIN.1
    );
    let (wrapper, v) = unpack_sid(&crate::root().join("target/godot-sid"), None, &no_apt)?;
    check_version(&v)?;
    Ok(wrapper)
}

/// Debian sid's `godot` for `arch` (`None`: x86-64, this machine's; `Some(qemu)`: arm64, run
/// under that `qemu-aarch64 -L <root>`) and its library closure, unpacked once under `cache` with
/// a private apt configuration (`apt.rs`), run through their own loader by the wrapper script
/// `cache/godot4`; `no_apt`: the error without apt-get and dpkg. The wrapper and its version.
pub fn unpack_sid(cache: &Path, qemu: Option<&Path>, no_apt: &str) -> Result<(PathBuf, String)> {
    let (label, arch, triple, loader) = match qemu {
        None => ("", None, "x86_64-linux-gnu", "ld-linux-x86-64.so.2"),
        Some(_) => ("arm64 ", Some("arm64"), "aarch64-linux-gnu", "ld-linux-aarch64.so.1"),
    };
    let wrapper = cache.join("godot4");
    if let Some(v) = wrapper.exists().then(|| version(&wrapper)).flatten() {
        println!("xtask: using cached {} (Godot {v}{})", wrapper.display(), qemu.map_or("", |_| ", arm64 under qemu"));
        return Ok((wrapper, v));
    }
    if run::which("apt-get").is_none() || run::which("dpkg").is_none() {
        return Err(no_apt.into());
    }
    run::step(&format!("provisioning Debian sid's {label}Godot (no system-wide install)"));
    let _ = std::fs::remove_dir_all(cache);
    let apt = crate::apt::Apt::with_arch(cache, "sid", arch)?;
    let deps = apt.closure("godot")?;
    // Libraries only: fonts and the debconf front ends are not needed to run headless.
    let skip = ["fonts-", "debconf", "cdebconf", "libdebian-installer", "libnewt", "libtextwrap", "libslang"];
    let pkgs: Vec<&str> = deps.iter().map(String::as_str).filter(|l| !skip.iter().any(|s| l.starts_with(s))).collect();
    println!("xtask: downloading {label}godot and {} packages of its closure", pkgs.len() - 1);
    let r = cache.join("root");
    apt.unpack(&pkgs, &r)?;
    let r = r.display();
    let lib = format!("{r}/usr/lib/{triple}:{r}/lib/{triple}:{r}/usr/lib/{triple}/pulseaudio");
    let runner = qemu.map(|q| format!("{} -L {r} ", q.display())).unwrap_or_default();
    let script = format!(
        "#!/bin/sh\n# Debian sid's {label}Godot, run through its own loader (made by `cargo xtask`).\n\
         exec {runner}{r}/usr/lib/{triple}/{loader} --library-path {lib} {r}/usr/bin/godot \"$@\"\n"
    );
    std::fs::write(&wrapper, script).map_err(|e| e.to_string())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
    }
    let v = version(&wrapper).ok_or_else(|| format!("the unpacked {label}Godot does not start"))?;
    println!("xtask: Godot {v} ({label}Debian sid) ready at {}", wrapper.display());
    Ok((wrapper, v))
}

/// Imports a project (needed once so that class_name scripts and the extension are known).
pub fn import(godot: &Path, project: &Path) -> Result<()> {
    run::step(&format!("importing {}", project.display()));
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--import", "--path"]).arg(project);
    let out = run::capture(cmd, 300)?;
    if !out.success {
        return Err(format!("importing {} failed ({})", project.display(), out.status));
    }
    Ok(())
}

/// A scene of the test project's `tools/` (`res://tools/<scene>.tscn`), headless, `args` after `--`.
pub fn tool<S: AsRef<std::ffi::OsStr>>(godot: &Path, scene: &str, args: impl IntoIterator<Item = S>) -> Command {
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--path"]).arg(crate::root().join("tests/godot"));
    cmd.arg(format!("res://tools/{scene}.tscn")).arg("--").args(args);
    cmd
}

/// Runs a project's main scene headless, with extra environment variables `env`.
pub fn run(godot: &Path, project: &Path, user_args: &[String], limit_s: u64, env: &[(&str, &str)]) -> Result<Output> {
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--path"]).arg(project).args(user_args).envs(env.iter().copied());
    // For tests that start another Godot (the TLS trust tests run one in a mount namespace):
    // the executable Godot reports may be a loader (Debian sid's through `ld-linux`).
    cmd.env("RUST_WEBSOCKET_TEST_GODOT", godot);
    run::capture(cmd, limit_s)
}

pub use crate::shared::check_log;

/// The runner's last `N passed, N failed` line.
pub fn summary(log: &str) -> Option<(u32, u32)> {
    log.lines().rev().find_map(|l| {
        let (p, f) = l.trim().split_once(" passed, ")?;
        let f = f.strip_suffix(" failed")?;
        Some((p.parse().ok()?, f.parse().ok()?))
    })
}
