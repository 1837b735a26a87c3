//! `cargo xtask package [--no-build|--native] [--all-platforms]`: the addon as a release archive,
//! `target/dist/godot-rust-websocket-<version>.zip` (`addons/rust_websocket/`: manifest, `bin/`,
//! licences, a README for users, the helper script). What each flag builds and checks is in
//! docs/platforms.md: by default every desktop library this machine can make (`cross/`,
//! `windows/`); Android and iOS entries are listed as not included (the release workflow adds them).

mod check;
pub mod licenses;

use std::io::Write;
use std::path::Path;

pub use check::{run_in_fresh_project, stage};

use crate::Result;

/// The archive's folder, as it lands in a project.
const PREFIX: &str = "addons/rust_websocket/";

/// The addon's own files, copied as they are.
const ADDON_FILES: [&str; 4] = ["rust_websocket.gdextension", "LICENSE", "rust_websocket.gd", "rust_websocket.gd.uid"];

/// The manifest's operating systems whose libraries `cargo xtask package` builds here.
const DESKTOP: [&str; 3] = ["linux", "windows", "macos"];

/// What a library file name ends with, on any platform.
const LIBRARY_SUFFIXES: [&str; 3] = [".so", ".dll", ".dylib"];

/// Which of the manifest's libraries the archive must hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Required {
    /// Any (at least one library).
    Nothing,
    /// Every Linux, Windows and macOS one (`cargo xtask package` on Linux x86-64).
    Desktop,
    /// Every one (`--all-platforms`).
    Everything,
}

pub fn command(args: &[String]) -> Result<()> {
    if let Some(a) = args.iter().find(|a| !matches!(a.as_str(), "--no-build" | "--native" | "--all-platforms")) {
        return Err(format!("package: unknown option {a} (use --no-build, --native, --all-platforms)"));
    }
    let has = |o: &str| args.iter().any(|a| a == o);
    let cross = !has("--no-build") && !has("--native") && cfg!(all(target_os = "linux", target_arch = "x86_64"));
    let start = std::time::Instant::now();
    if cross {
        crate::windows::command()?;
        crate::cross::package_libraries()?;
        println!("xtask: every library built and checked in {}", crate::run::secs(start.elapsed()));
    } else if !has("--no-build") {
        crate::build()?;
        crate::build_export()?;
    }
    let required = if has("--all-platforms") {
        Required::Everything
    } else if cross {
        Required::Desktop
    } else {
        Required::Nothing
    };
    let version = workspace_field("version")?;
    let dest = crate::root().join("target/dist").join(format!("godot-rust-websocket-{version}.zip"));
    crate::run::step(&format!("packaging the addon into {}", dest.display()));
    let made = make(&dest, required)?;
    for line in &made.platforms {
        println!("xtask:   {line}");
    }
    println!("xtask: {} ({} libraries)", dest.display(), made.libraries.len());
    Ok(())
}

/// What went into an archive.
pub struct Made {
    /// The library files, as named in `bin/`.
    pub libraries: Vec<String>,
    /// One line per platform: which of its libraries are included.
    pub platforms: Vec<String>,
}

/// Writes the archive to `dest` from `addons/rust_websocket/` as it is now.
pub fn make(dest: &Path, required: Required) -> Result<Made> {
    make_from(&crate::root().join("addons/rust_websocket"), dest, required)
}

/// [`make`] from another copy of the addon folder (`cross/`: a temporary one whose `bin/` holds
/// only the library under test).
pub fn make_from(addon: &Path, dest: &Path, required: Required) -> Result<Made> {
    let addon = addon.to_path_buf();
    let read = |name: &str| std::fs::read(addon.join(name)).map_err(|e| format!("addons/rust_websocket/{name}: {e}"));
    let manifest = String::from_utf8_lossy(&read("rust_websocket.gdextension")?).into_owned();
    let entries = manifest_libraries(&manifest);
    let libraries = bin_libraries(&addon.join("bin"))?;
    if libraries.is_empty() {
        return Err("addons/rust_websocket/bin/ holds no library: run `cargo xtask build --export` first".into());
    }
    let missing: Vec<&str> = entries
        .iter()
        .filter(|(tags, _)| match required {
            Required::Nothing => false,
            Required::Desktop => DESKTOP.iter().any(|os| tags.split('.').next() == Some(os)),
            Required::Everything => true,
        })
        .map(|(_, p)| p.as_str())
        .filter(|p| !libraries.iter().any(|l| p == &format!("bin/{l}")))
        .collect();
    if !missing.is_empty() {
        return Err(format!("the manifest names libraries that bin/ lacks: {}", missing.join(", ")));
    }
    for lib in libraries.iter().filter(|l| !entries.iter().any(|(_, p)| p == &format!("bin/{l}"))) {
        println!("xtask: note: bin/{lib} is not named in the manifest (packaged anyway)");
    }
    let platforms = platforms(&entries, &libraries);
    let minimum = manifest_value(&manifest, "compatibility_minimum").unwrap_or_else(|| "4.3".into());
    let readme = user_readme(&workspace_field("version")?, &minimum, &workspace_field("repository")?, &platforms);
    let mut files: Vec<(String, Vec<u8>, u32)> = Vec::new();
    for name in ADDON_FILES {
        files.push((name.to_string(), read(name)?, 0o644));
    }
    files.push(("THIRD_PARTY_LICENSES.md".into(), current_licences(&addon)?.into_bytes(), 0o644));
    files.push(("README.md".into(), readme.into_bytes(), 0o644));
    for lib in &libraries {
        files.push((format!("bin/{lib}"), read(&format!("bin/{lib}"))?, 0o755));
    }
    write_zip(dest, &files).map_err(|e| format!("writing {}: {e}", dest.display()))?;
    Ok(Made { libraries, platforms })
}

/// The licence list from `cargo metadata`; when the addon's copy differs (dependencies changed),
/// the copy is rewritten so that the change shows in the work tree.
fn current_licences(addon: &Path) -> Result<String> {
    let text = licenses::generate()?;
    let copy = addon.join("THIRD_PARTY_LICENSES.md");
    if std::fs::read_to_string(&copy).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&copy, &text).map_err(|e| format!("{}: {e}", copy.display()))?;
        println!("xtask: updated addons/rust_websocket/THIRD_PARTY_LICENSES.md (the dependencies changed): commit it");
    }
    Ok(text)
}

/// The library files in `bin/`, sorted.
fn bin_libraries(bin: &Path) -> Result<Vec<String>> {
    let mut libs: Vec<String> = std::fs::read_dir(bin)
        .map_err(|e| format!("{}: {e}", bin.display()))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| LIBRARY_SUFFIXES.iter().any(|s| n.ends_with(s)))
        .collect();
    libs.sort();
    Ok(libs)
}

fn write_zip(dest: &Path, files: &[(String, Vec<u8>, u32)]) -> zip::result::ZipResult<()> {
    use zip::write::SimpleFileOptions;
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut zip = zip::ZipWriter::new(std::fs::File::create(dest)?);
    let options = |mode: u32| {
        SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated).unix_permissions(mode)
    };
    for dir in ["addons/", PREFIX, &format!("{PREFIX}bin/")] {
        zip.add_directory(dir, options(0o755))?;
    }
    for (name, bytes, mode) in files {
        zip.start_file(format!("{PREFIX}{name}"), options(*mode))?;
        zip.write_all(bytes)?;
    }
    zip.finish()?;
    Ok(())
}

/// The `[libraries]` of a `.gdextension`: (feature tags, path), in their order.
fn manifest_libraries(manifest: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[libraries]" {
            if let Some((key, value)) = line.split_once('=') {
                out.push((key.trim().to_string(), value.trim().trim_matches('"').to_string()));
            }
        }
    }
    out
}

/// The manifest's `entry_symbol`, which every platform's library must export.
pub fn entry_symbol() -> Result<String> {
    let path = crate::root().join("addons/rust_websocket/rust_websocket.gdextension");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    manifest_value(&text, "entry_symbol").ok_or_else(|| format!("{} has no entry_symbol", path.display()))
}

/// A `key = "value"` of the manifest's `[configuration]` (or any section).
fn manifest_value(manifest: &str, key: &str) -> Option<String> {
    manifest.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// One line per operating system and architecture of the manifest, saying which of its
/// libraries are present: "Linux x86-64: editor and debug builds, release exports".
fn platforms(entries: &[(String, String)], present: &[String]) -> Vec<String> {
    let mut groups: Vec<(String, Vec<(&str, bool)>)> = Vec::new();
    for (tags, path) in entries {
        let mut parts = tags.split('.');
        let os = match parts.next().unwrap_or("") {
            "linux" => "Linux",
            "windows" => "Windows",
            "macos" => "macOS",
            "android" => "Android",
            "ios" => "iOS",
            other => other,
        };
        let build = if parts.next() == Some("release") { "release exports" } else { "editor and debug builds" };
        let arch = match parts.next() {
            Some("x86_64") => "x86-64",
            Some(other) => other,
            None if os == "macOS" => "universal (x86-64 and arm64)",
            None if os == "iOS" => "arm64",
            None => "any architecture",
        };
        let name = format!("{os} {arch}");
        let here = present.iter().any(|l| path == &format!("bin/{l}"));
        match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, builds)) => builds.push((build, here)),
            None => groups.push((name, vec![(build, here)])),
        }
    }
    groups
        .into_iter()
        .map(|(name, builds)| {
            let has: Vec<&str> = builds.iter().filter(|b| b.1).map(|b| b.0).collect();
            let lacks: Vec<&str> = builds.iter().filter(|b| !b.1).map(|b| b.0).collect();
            match (has.is_empty(), lacks.is_empty()) {
                (true, _) => format!("{name}: not included"),
                (false, true) => format!("{name}: {}", has.join(", ")),
                (false, false) => {
                    format!("{name}: {} (not {}: they will not load the extension)", has.join(", "), lacks.join(", "))
                }
            }
        })
        .collect()
}

/// A `key = "value"` of the workspace `Cargo.toml`'s `[workspace.package]`.
pub fn workspace_field(key: &str) -> Result<String> {
    let text = std::fs::read_to_string(crate::root().join("Cargo.toml")).map_err(|e| format!("Cargo.toml: {e}"))?;
    let section = text.split("[workspace.package]").nth(1).ok_or("Cargo.toml has no [workspace.package]")?;
    let section = section.split("\n[").next().unwrap_or("");
    manifest_value(section, key).ok_or_else(|| format!("Cargo.toml: [workspace.package] has no {key}"))
}

/// The archive's README.md, for a user who downloaded it.
fn user_readme(version: &str, minimum: &str, repository: &str, platforms: &[String]) -> String {
    let list: String = platforms.iter().map(|p| format!("- {p}\n")).collect();
    USER_README
        .replace("{version}", version)
        .replace("{minimum}", minimum)
        .replace("{repository}", repository)
        .replace("{platforms}", &list)
}

/// The template of the archive's README.md (`{version}`, `{minimum}`, `{repository}`, `{platforms}`).
const USER_README: &str = include_str!("user_readme.md");

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "[configuration]\ncompatibility_minimum = \"4.3\"\n\n[libraries]\n\
        linux.debug.x86_64 = \"bin/a.so\"\nlinux.release.x86_64 = \"bin/a.r.so\"\n\
        windows.debug.x86_64 = \"bin/b.dll\"\nwindows.release.x86_64 = \"bin/b.r.dll\"\n\
        macos.debug = \"bin/c.dylib\"\nmacos.release = \"bin/c.r.dylib\"\n";

    #[test]
    fn mobile_platforms_are_named() {
        let entries = manifest_libraries(
            "[libraries]\nandroid.debug.arm64 = \"bin/d.so\"\nandroid.debug.x86_64 = \"bin/e.so\"\nios.debug = \"bin/f.dylib\"\n",
        );
        assert_eq!(
            platforms(&entries, &["d.so".to_string()]),
            ["Android arm64: editor and debug builds", "Android x86-64: not included", "iOS arm64: not included"]
        );
    }

    #[test]
    fn platforms_say_what_each_has() {
        let entries = manifest_libraries(MANIFEST);
        assert_eq!(entries.len(), 6);
        assert_eq!(manifest_value(MANIFEST, "compatibility_minimum").as_deref(), Some("4.3"));
        let present = ["a.so", "a.r.so", "b.dll"].map(String::from);
        assert_eq!(
            platforms(&entries, &present),
            [
                "Linux x86-64: editor and debug builds, release exports",
                "Windows x86-64: editor and debug builds (not release exports: they will not load the extension)",
                "macOS universal (x86-64 and arm64): not included",
            ]
        );
    }
}
