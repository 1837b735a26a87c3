//! macOS: the x86-64 and arm64 dylibs (zig links Mach-O against its own libSystem stubs; the
//! crates need no Apple framework), joined by `llvm-lipo` into the universal dylib the manifest
//! names, and checked with Debian's LLVM (architectures, entry symbol, system-only imports, minimum
//! macOS; docs/platforms.md). The arm64 slice carries zig's ad-hoc signature, which Apple silicon
//! requires; loading on a Mac and code signing are not checked here.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Checks, Profile, Toolchain, Variant, MACOS_ARM64, MACOS_X86_64};
use crate::Result;

/// The manifest's name of the editor library (`macos.debug`).
pub const NAME: &str = "librust_websocket.macos.dylib";
/// The architectures the universal dylib must hold, as `llvm-lipo -archs` names them.
const ARCHS: [&str; 2] = ["x86_64", "arm64"];
/// The oldest macOS each architecture's library loads on: Godot 4's own minimum on Intel
/// (10.13), the first arm64 macOS.
pub const MIN_X86_64: &str = "10.13";
pub const MIN_ARM64: &str = "11.0";

/// Builds both architectures of `variant` and joins them into
/// `target/cross/universal-apple-darwin/<variant>[-quick]/librust_websocket.dylib`.
pub fn build_universal(tc: &Toolchain, variant: Variant, profile: Profile) -> Result<PathBuf> {
    let (x86, _) = tc.build(&MACOS_X86_64, variant, profile)?;
    let (arm, _) = tc.build(&MACOS_ARM64, variant, profile)?;
    let lipo = super::llvm_tool("llvm-lipo")?;
    let out_dir = super::target_dir("universal-apple-darwin", &super::dir_name(variant, profile));
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let fat = out_dir.join("librust_websocket.dylib");
    crate::run::stdout(Command::new(&lipo).arg("-create").arg(&x86).arg(&arm).arg("-output").arg(&fat))?;
    Ok(fat)
}

/// The three checks of a universal dylib, counted.
pub fn check(checks: &mut Checks, name: &str, lib: &Path) {
    checks.check(&format!("{name} holds x86_64 and arm64"), archs(lib));
    let symbol = crate::package::entry_symbol();
    for arch in ARCHS {
        let exported = symbol.clone().and_then(|s| exports(lib, arch, &s));
        checks.check(&format!("{name} ({arch}) exports the entry symbol"), exported);
        checks.check(&format!("{name} ({arch}) imports only system libraries"), imports(lib, arch));
        let min = if arch == "x86_64" { MIN_X86_64 } else { MIN_ARM64 };
        checks.check(
            &format!("{name} ({arch}) asks for macOS <= {min} (header only, not loaded)"),
            minimum(lib, arch, min),
        );
    }
}

fn archs(lib: &Path) -> Result<String> {
    let lipo = super::llvm_tool("llvm-lipo")?;
    let out = crate::run::stdout(Command::new(lipo).arg("-archs").arg(lib))?;
    let found: Vec<&str> = out.split_whitespace().collect();
    let missing: Vec<&str> = ARCHS.iter().copied().filter(|a| !found.contains(a)).collect();
    if missing.is_empty() {
        Ok(format!("architectures: {}", found.join(", ")))
    } else {
        Err(format!("holds {}, lacks {}", found.join(", "), missing.join(", ")))
    }
}

fn exports(lib: &Path, arch: &str, symbol: &str) -> Result<String> {
    let nm = super::llvm_tool("llvm-nm")?;
    let out = crate::run::stdout(Command::new(nm).args(["--extern-only", "--defined-only", "--arch", arch]).arg(lib))?;
    // Mach-O C symbols carry a leading underscore.
    let want = format!("_{symbol}");
    match out.lines().find(|l| l.split_whitespace().next_back() == Some(want.as_str())) {
        Some(line) => Ok(line.trim().to_string()),
        None => Err(format!("{want} is not among the {} exported symbols", out.lines().count())),
    }
}

fn imports(lib: &Path, arch: &str) -> Result<String> {
    let objdump = super::llvm_tool("llvm-objdump")?;
    let out = crate::run::stdout(
        Command::new(&objdump).args(["--macho", "--dylibs-used", &format!("--arch={arch}")]).arg(lib),
    )?;
    // The first line names the file ("<lib> (architecture x86_64):"); then one dylib a line,
    // "\t/usr/lib/libSystem.B.dylib (compatibility version 1.0.0, current version …)", the
    // library's own install name (LC_ID_DYLIB) among them: cargo leaves it at the path the linker
    // wrote (as on a Mac); Godot loads the file by its path, so it is not an import.
    let own =
        crate::run::stdout(Command::new(&objdump).args(["--macho", "--dylib-id", &format!("--arch={arch}")]).arg(lib))?;
    let own: Vec<&str> = own.lines().skip(1).map(str::trim).collect();
    let dylibs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with('\t') || l.starts_with(' '))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|d| !own.contains(d))
        .collect();
    if dylibs.is_empty() {
        return Err(format!("no dylib listed: {}", out.trim()));
    }
    let foreign: Vec<&str> =
        dylibs.iter().copied().filter(|d| !d.starts_with("/usr/lib/") && !d.starts_with("/System/Library/")).collect();
    if foreign.is_empty() {
        Ok(dylibs.join(", "))
    } else {
        Err(format!("imports libraries that are not the system's: {}", foreign.join(", ")))
    }
}

/// The macOS version the library asks for (LC_BUILD_VERSION's `minos`, or the older
/// LC_VERSION_MIN_MACOSX's `version`) is at most `want`.
fn minimum(lib: &Path, arch: &str, want: &str) -> Result<String> {
    let objdump = super::llvm_tool("llvm-objdump")?;
    let out = crate::run::stdout(
        Command::new(&objdump).args(["--macho", "--private-headers", &format!("--arch={arch}")]).arg(lib),
    )?;
    let mut lines = out.lines().map(str::trim);
    let mut found = None;
    while let Some(line) = lines.next() {
        if line == "cmd LC_BUILD_VERSION" || line == "cmd LC_VERSION_MIN_MACOSX" {
            let key = if line.ends_with("LC_BUILD_VERSION") { "minos " } else { "version " };
            found = lines.by_ref().take(4).find_map(|l| l.strip_prefix(key)).map(str::to_string);
            break;
        }
    }
    let found = found.ok_or("no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX")?;
    let v = |s: &str| s.split('.').map(|p| p.parse::<u32>().unwrap_or(0)).collect::<Vec<u32>>();
    if v(&found) <= v(want) {
        Ok(format!("minimum macOS {found}"))
    } else {
        Err(format!("asks for macOS {found}, newer than {want}"))
    }
}
