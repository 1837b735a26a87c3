//! Linux: x86-64 and arm64 libraries linked against glibc 2.28 (Godot's official Linux builds run
//! there: Ubuntu 20.04, Debian 11, RHEL 8), their check, and the arm64 Godot that runs the arm64
//! library here under `qemu-aarch64`.
//!
//! * glibc: no dynamic symbol of a library needs a glibc version above 2.28 (`llvm-objdump -T`
//!   reads both architectures; every `GLIBC_2.x` version named counts).
//! * arm64 run: Debian sid's arm64 `godot` package and its library closure are unpacked under
//!   `target/godot-sid-arm64/` as `godot.rs` does for x86-64 (a private apt configuration with
//!   `APT::Architecture=arm64`), and run through their own loader under `qemu-aarch64 -L <root>`
//!   by a wrapper script; the package test's project (unzip, import, exchange) runs on it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Checks;
use crate::{run, Result};

/// The newest glibc symbol version a Linux library may need.
pub const GLIBC_MAX: (u32, u32) = (2, 28);

/// The names the manifest gives the editor libraries.
pub const X86_64_NAME: &str = "librust_websocket.linux.x86_64.so";
pub const ARM64_NAME: &str = "librust_websocket.linux.arm64.so";

/// The `GLIBC_2.x` versions the library's dynamic symbols need, the newest first; an error when
/// one is above [`GLIBC_MAX`]. Returns a line naming the newest.
pub fn check_glibc(lib: &Path) -> Result<String> {
    let objdump = super::llvm_tool("llvm-objdump")?;
    let text = crate::run::stdout(Command::new(&objdump).arg("-T").arg(lib))?;
    let mut versions: Vec<((u32, u32), String)> = Vec::new();
    for line in text.lines() {
        let Some(at) = line.find("GLIBC_2.") else { continue };
        let word = line[at..].split(|c: char| c.is_whitespace() || c == ')').next().unwrap_or("");
        let Some(v) = parse_glibc(word) else { continue };
        let symbol = line.split_whitespace().next_back().unwrap_or("").to_string();
        versions.push((v, symbol));
    }
    if versions.is_empty() {
        return Err("no GLIBC_2.x symbol version found (is this a glibc library?)".into());
    }
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    let newest = versions[0].0;
    let over: Vec<String> =
        versions.iter().filter(|(v, _)| *v > GLIBC_MAX).map(|(v, s)| format!("{s} (GLIBC_{}.{})", v.0, v.1)).collect();
    if !over.is_empty() {
        return Err(format!("needs glibc above {}.{}: {}", GLIBC_MAX.0, GLIBC_MAX.1, over.join(", ")));
    }
    let at_newest: Vec<&str> = versions.iter().filter(|(v, _)| *v == newest).map(|(_, s)| s.as_str()).collect();
    Ok(format!(
        "newest glibc symbol version GLIBC_{}.{} ({}), limit {}.{}",
        newest.0,
        newest.1,
        at_newest.join(", "),
        GLIBC_MAX.0,
        GLIBC_MAX.1
    ))
}

/// "GLIBC_2.28" → (2, 28); "GLIBC_2.2.5" → (2, 2).
fn parse_glibc(word: &str) -> Option<(u32, u32)> {
    crate::run::major_minor(word.strip_prefix("GLIBC_")?)
}

/// The glibc check of each library, counted.
pub fn check_all(checks: &mut Checks, libs: &[(String, PathBuf)]) {
    for (name, path) in libs {
        checks.check(&format!("{name} needs glibc <= 2.28"), check_glibc(path));
    }
}

/// Debian sid's arm64 Godot, unpacked once under `target/godot-sid-arm64/`, run under
/// `qemu-aarch64` (`godot::unpack_sid`): the wrapper script's path.
pub fn arm64_godot() -> Result<PathBuf> {
    crate::apt::ensure("qemu-aarch64", &["qemu-user"])?;
    let qemu = run::which("qemu-aarch64").ok_or("qemu-aarch64 is not on PATH")?;
    let cache = crate::root().join("target/godot-sid-arm64");
    let no_apt = "the arm64 Godot is unpacked from Debian sid's package: needs apt-get and dpkg";
    crate::godot::unpack_sid(&cache, Some(&qemu), no_apt).map(|(wrapper, _)| wrapper)
}

#[cfg(test)]
mod tests {
    #[test]
    fn glibc_versions() {
        assert_eq!(super::parse_glibc("GLIBC_2.28"), Some((2, 28)));
        assert_eq!(super::parse_glibc("GLIBC_2.2.5"), Some((2, 2)));
        assert_eq!(super::parse_glibc("GLIBC_PRIVATE"), None);
        assert!(super::parse_glibc("GLIBC_2.34") > Some(super::GLIBC_MAX));
    }
}
