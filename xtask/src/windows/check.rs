//! The checks of the Windows libraries, made on this Linux machine:
//!
//! * imports: every DLL a library imports (`objdump -p`) is one of Windows' own, so that no
//!   mingw runtime (libgcc_s, libwinpthread) has to ship with it;
//! * export: the manifest's `entry_symbol` is in the export table;
//! * wine load: `tests/windows/loadcheck.c`, built with mingw, loads the library under Debian's
//!   wine in a fresh prefix under `target/windows/` (the loader resolves its imports, runs DllMain
//!   and the static initialisers) and resolves the entry symbol, at the address the export table
//!   gives. The entry function is not called: it needs the interface pointers only Godot gives.
//!
//! Not checked here: the library running inside Godot on Windows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::{pe, Tools, GCC, NAME, OBJDUMP};
use crate::cross::Variant;
use crate::{run, Result};

/// Windows' own DLLs a library may import (lower case, without `.dll`); `api-ms-win-*` API sets
/// too. bcryptprimitives is where Rust's standard library takes ProcessPrng from.
const SYSTEM_DLLS: [&str; 22] = [
    "kernel32",
    "kernelbase",
    "ntdll",
    "advapi32",
    "ws2_32",
    "userenv",
    "bcrypt",
    "bcryptprimitives",
    "msvcrt",
    "ucrtbase",
    "shell32",
    "ole32",
    "oleaut32",
    "secur32",
    "crypt32",
    "ncrypt",
    "iphlpapi",
    "dnsapi",
    "user32",
    "gdi32",
    "dbghelp",
    "synchronization",
];

/// Runs the three checks on each library; returns (passed, what failed).
pub fn run(tools: &Tools, built: &[(Variant, PathBuf)]) -> (u32, Vec<String>) {
    let start = Instant::now();
    let symbol = match crate::package::entry_symbol() {
        Ok(s) => s,
        Err(e) => return (0, vec![e]),
    };
    let mut passed = 0;
    let mut problems = Vec::new();
    let mut verdict = |name: String, result: Result<()>| match result {
        Ok(()) => passed += 1,
        Err(e) => {
            println!("xtask: FAILED: {name}: {e}");
            problems.push(format!("{name}: {e}"));
        }
    };
    run::step("windows: what the libraries import and export (objdump -p)");
    let mut rvas = Vec::new();
    for (variant, dll) in built {
        verdict(format!("{} imports", variant.file_name(NAME)), imports(dll));
        let rva = exported(dll, &symbol);
        rvas.push(rva.as_ref().ok().copied());
        verdict(format!("{} exports {symbol}", variant.file_name(NAME)), rva.map(|_| ()));
    }
    run::step("windows: loading each library under wine (fresh prefix, headless)");
    match Wine::start(tools, "wineprefix") {
        Ok(wine) => {
            for ((variant, dll), rva) in built.iter().zip(rvas) {
                verdict(format!("{} loads under wine", variant.file_name(NAME)), wine.load(dll, &symbol, rva));
            }
            drop(wine);
        }
        Err(e) => {
            for (variant, _) in built {
                verdict(format!("{} loads under wine", variant.file_name(NAME)), Err(e.clone()));
            }
        }
    }
    println!("xtask: the Windows checks took {:.0} s", start.elapsed().as_secs_f64());
    (passed, problems)
}

fn objdump(dll: &Path) -> Result<String> {
    run::stdout(Command::new(OBJDUMP).arg("-p").arg(dll))
}

/// Prints the DLLs `dll` imports; fails when one is not Windows' own, or when objdump and our own
/// reader of the PE tables (`pe.rs`, which checks the MSVC DLL on the Windows runner) disagree.
fn imports(dll: &Path) -> Result<()> {
    let names = import_names(&objdump(dll)?);
    println!("xtask: {} imports {}", file_name(dll), names.join(", "));
    let ours = read_tables(dll)?;
    if ours.imports != names {
        return Err(format!("objdump reads the imports {names:?}, pe.rs reads {:?}", ours.imports));
    }
    system_imports_only(&names)
}

fn system_imports_only(names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Err("no import table".into());
    }
    let foreign: Vec<&String> = names.iter().filter(|n| !is_system_dll(n)).collect();
    if !foreign.is_empty() {
        let crt = foreign.iter().any(|n| is_dynamic_crt(n));
        let hint =
            if crt { " (the C runtime is linked dynamically: build with -C target-feature=+crt-static)" } else { "" };
        return Err(format!("imports DLLs that are not part of Windows: {foreign:?}{hint}"));
    }
    Ok(())
}

fn read_tables(dll: &Path) -> Result<pe::Tables> {
    let bytes = std::fs::read(dll).map_err(|e| format!("{}: {e}", dll.display()))?;
    pe::read(&bytes).map_err(|e| format!("{}: {e}", dll.display()))
}

/// `cargo xtask windows check-dll <dll>…`: the import and export checks on DLLs built elsewhere
/// (the MSVC ones of the release workflow, on its Windows runner), with `pe.rs` alone. Returns
/// what failed.
pub fn check_dlls(dlls: &[PathBuf]) -> Vec<String> {
    let symbol = match crate::package::entry_symbol() {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let mut problems = Vec::new();
    for dll in dlls {
        let result = read_tables(dll).and_then(|t| {
            let names: Vec<&str> = t.imports.iter().map(String::as_str).collect();
            println!("xtask: {} imports {}", file_name(dll), names.join(", "));
            system_imports_only(&t.imports)?;
            entry_rva(dll, &t.exports, &symbol).map(|_| ())
        });
        match result {
            Ok(()) => println!("xtask: {}: imports only Windows' own DLLs, exports {symbol}", file_name(dll)),
            Err(e) => {
                println!("xtask: FAILED: {}: {e}", dll.display());
                problems.push(format!("{}: {e}", dll.display()));
            }
        }
    }
    problems
}

fn import_names(objdump: &str) -> Vec<String> {
    objdump.lines().filter_map(|l| l.trim().strip_prefix("DLL Name: ")).map(|n| n.trim().to_string()).collect()
}

fn is_system_dll(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".dll").unwrap_or(&lower);
    !is_dynamic_crt(stem) && (stem.starts_with("api-ms-win-") || SYSTEM_DLLS.contains(&stem))
}

/// The Visual C++ runtime (not part of Windows: players may lack it) or the UCRT's API sets,
/// which an MSVC build imports when its C runtime is not linked statically.
fn is_dynamic_crt(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["vcruntime", "msvcp", "api-ms-win-crt-"].iter().any(|p| lower.starts_with(p))
}

/// The export table's RVA of `symbol`; prints what `dll` exports.
fn exported(dll: &Path, symbol: &str) -> Result<u64> {
    let exports = export_table(&objdump(dll)?);
    let ours = read_tables(dll)?;
    if ours.exports != exports {
        return Err(format!("objdump reads the exports {exports:?}, pe.rs reads {:?}", ours.exports));
    }
    let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
    println!("xtask: {} exports {}", file_name(dll), names.join(", "));
    entry_rva(dll, &exports, symbol)
}

/// The RVA of `symbol` in `exports`, printed.
fn entry_rva(dll: &Path, exports: &[(String, u64)], symbol: &str) -> Result<u64> {
    let rva = exports.iter().find(|(n, _)| n == symbol).map(|(_, rva)| *rva);
    let rva = rva.ok_or_else(|| format!("{symbol} is not exported"))?;
    println!("xtask: {} exports {symbol} at RVA 0x{rva:x}", file_name(dll));
    Ok(rva)
}

/// (name, RVA) of each exported name, from objdump's "Export Address Table" (index → RVA) and
/// "[Ordinal/Name Pointer] Table" (index → name) of the export section.
fn export_table(objdump: &str) -> Vec<(String, u64)> {
    let mut addresses = Vec::new();
    let mut names = Vec::new();
    let mut section = "";
    for line in objdump.lines() {
        let t = line.trim();
        if t.starts_with("Export Address Table -- Ordinal Base") {
            section = "addresses";
        } else if t == "[Ordinal/Name Pointer] Table" {
            section = "names";
        } else if t.is_empty() {
            section = "";
        } else if let Some(rest) = t.strip_prefix('[') {
            let Some((index, rest)) = rest.split_once(']') else { continue };
            let Ok(index) = index.trim().parse::<usize>() else { continue };
            match section {
                // "[   0] +base[   1] 87a60 Export RVA"
                "addresses" => {
                    let rva = rest.split_whitespace().nth(2).and_then(|h| u64::from_str_radix(h, 16).ok());
                    addresses.extend(rva.map(|rva| (index, rva)));
                }
                // "[   0] rust_websocket_init"
                "names" => names.push((index, rest.trim().to_string())),
                _ => {}
            }
        }
    }
    names
        .into_iter()
        .filter_map(|(i, name)| addresses.iter().find(|(a, _)| *a == i).map(|(_, rva)| (name, *rva)))
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A fresh wine prefix (`target/windows/<name>/`) with the load check built for it; the wine
/// server is stopped on drop.
pub(super) struct Wine<'t> {
    tools: &'t Tools,
    prefix: PathBuf,
    loadcheck: PathBuf,
}

impl<'t> Wine<'t> {
    pub(super) fn start(tools: &'t Tools, name: &str) -> Result<Wine<'t>> {
        let dir = crate::root().join("target/windows");
        let out = dir.join("loadcheck");
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let src = crate::root().join("tests/windows");
        let loadcheck = out.join("loadcheck.exe");
        mingw(&[src.join("loadcheck.c").as_path()], &loadcheck, &["-municode"])?;
        let shim = out.join("bcryptprimitives.dll");
        mingw(&[src.join("bcryptprimitives.c").as_path()], &shim, &["-shared", "-ladvapi32"])?;
        let prefix = dir.join(name);
        if prefix.exists() {
            std::fs::remove_dir_all(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
        }
        let wine = Wine { tools, prefix, loadcheck };
        let booted = run::capture_quiet(wine.command(&tools.wine, &["wineboot", "--init"]), 300)?;
        if !booted.success {
            return Err(format!("wineboot --init failed ({}): {}", booted.status, booted.text));
        }
        let system32 = wine.prefix.join("drive_c/windows/system32");
        if !system32.join("bcryptprimitives.dll").exists() {
            // Wine 8.0 (Debian 12) lacks this Windows DLL: see tests/windows/bcryptprimitives.c.
            std::fs::copy(&shim, system32.join("bcryptprimitives.dll")).map_err(|e| e.to_string())?;
            println!(
                "xtask: this wine has no bcryptprimitives.dll (part of every Windows the target \
                 supports): tests/windows/bcryptprimitives.c stands in for it (ProcessPrng → RtlGenRandom)"
            );
        }
        Ok(wine)
    }

    pub(super) fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINESERVER", &self.tools.wineserver)
            .env("WINEDEBUG", "-all")
            // No Mono or Gecko install prompts; no display (headless).
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    }

    /// Runs the load check on `dll`; compares the entry point's offset with the export table's.
    fn load(&self, dll: &Path, symbol: &str, rva: Option<u64>) -> Result<()> {
        let path = windows_path(dll)?;
        let exe = self.loadcheck.to_string_lossy().into_owned();
        let out = run::capture_quiet(self.command(&self.tools.wine, &[exe.as_str(), path.as_str(), symbol]), 120)?;
        let text = out.text.trim();
        println!("xtask: wine: {text}");
        if !out.success {
            return Err(format!("the load check exited with {}: {text}", out.status));
        }
        let line = text.lines().find(|l| l.starts_with("loaded ")).ok_or("the load check printed no 'loaded' line")?;
        let loaded_rva = line
            .rsplit_once("(RVA 0x")
            .and_then(|(_, r)| u64::from_str_radix(r.trim_end_matches(')'), 16).ok())
            .ok_or_else(|| format!("no RVA in '{line}'"))?;
        if let Some(rva) = rva.filter(|r| *r != loaded_rva) {
            return Err(format!("{symbol} resolved at RVA 0x{loaded_rva:x}, the export table says 0x{rva:x}"));
        }
        Ok(())
    }
}

impl Drop for Wine<'_> {
    /// Ends the wine server and every process of the prefix, and waits for them.
    fn drop(&mut self) {
        let _ = run::capture_quiet(self.command(&self.tools.wineserver, &["-k"]), 30);
        let _ = run::capture_quiet(self.command(&self.tools.wineserver, &["-w"]), 30);
    }
}

/// Compiles C `sources` into `out` with the mingw gcc: no runtime DLL but Windows' own.
pub(super) fn mingw(sources: &[&Path], out: &Path, flags: &[&str]) -> Result<()> {
    let mut cmd = Command::new(GCC);
    cmd.args(["-O2", "-Wall", "-Wextra", "-Werror", "-static-libgcc", "-o"]).arg(out).args(sources).args(flags);
    run::stdout(&mut cmd).map(|_| ())
}

/// `/a/b.dll` as wine's drive Z: sees it.
fn windows_path(path: &Path) -> Result<String> {
    let abs = path.canonicalize().map_err(|e| format!("{}: {e}", path.display()))?;
    let s = abs.to_str().ok_or_else(|| format!("{} is not UTF-8", abs.display()))?;
    Ok(format!("Z:{}", s.replace('/', "\\")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJDUMP_OUT: &str = "\
The Import Tables (interpreted .idata section contents)
\tDLL Name: ADVAPI32.dll
\tDLL Name: api-ms-win-core-synch-l1-2-0.dll
\tDLL Name: libgcc_s_seh-1.dll

Export Address Table -- Ordinal Base 1
\t[   0] +base[   1] 87a60 Export RVA
\t[   1] +base[   2] 1000 Export RVA

[Ordinal/Name Pointer] Table
\t[   0] rust_websocket_init
\t[   1] other

The Function Table (interpreted .pdata section contents)
";

    #[test]
    fn reads_imports_and_exports() {
        let names = import_names(OBJDUMP_OUT);
        assert_eq!(names, ["ADVAPI32.dll", "api-ms-win-core-synch-l1-2-0.dll", "libgcc_s_seh-1.dll"]);
        assert_eq!(names.iter().filter(|n| !is_system_dll(n)).collect::<Vec<_>>(), ["libgcc_s_seh-1.dll"]);
        assert!(!is_system_dll("libwinpthread-1.dll"));
        // An MSVC build without +crt-static.
        assert!(!is_system_dll("VCRUNTIME140.dll"));
        assert!(!is_system_dll("api-ms-win-crt-runtime-l1-1-0.dll"));
        assert!(is_system_dll("api-ms-win-core-synch-l1-2-0.dll"));
        assert!(system_imports_only(&["KERNEL32.dll".into(), "VCRUNTIME140.dll".into()])
            .unwrap_err()
            .contains("+crt-static"));
        assert_eq!(export_table(OBJDUMP_OUT), [("rust_websocket_init".to_string(), 0x87a60), ("other".into(), 0x1000)]);
    }
}
