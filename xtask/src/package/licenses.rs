//! `THIRD_PARTY_LICENSES.md`, generated from `cargo tree` and `cargo metadata`: every crate linked into the
//! `rust_websocket` library on the platforms a release ships (proc macros and build-time crates,
//! which only run while compiling, left out), its licence, and the licence texts its source
//! package ships.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::Result;

/// The targets of the manifest's libraries (Windows with either toolchain, macOS both halves).
const TARGETS: [&str; 6] = [
    "x86_64-unknown-linux-gnu",
    "aarch64-unknown-linux-gnu",
    "x86_64-pc-windows-msvc",
    "x86_64-pc-windows-gnu",
    "x86_64-apple-darwin",
    "aarch64-apple-darwin",
];

/// Licence texts for crates whose package ships none (gdext's crates are MPL-2.0 without a file).
const FALLBACK: [(&str, &str); 1] = [("MPL-2.0", include_str!("../../licenses/MPL-2.0.txt"))];

/// The library crate whose dependency tree is listed.
const LIBRARY: &str = "rust_websocket";

pub struct Crate {
    pub name: String,
    pub version: String,
    pub license: String,
    pub repository: String,
    pub dir: PathBuf,
}

/// The file's text (the same wherever it is generated from the same `Cargo.lock`).
pub fn generate() -> Result<String> {
    let tree = cargo(&["tree", "-p", LIBRARY, "-e", "normal,no-proc-macro", "--prefix", "none", "--format", "{p}"])?;
    let meta = cargo(&["metadata", "--format-version", "1"])?;
    let meta: Value = serde_json::from_str(&meta).map_err(|e| format!("cargo metadata: {e}"))?;
    let crates = linked_crates(&meta, &tree)?;
    Ok(render(&crates, &|c| license_files(c)))
}

/// Runs cargo with `args` for every target of `TARGETS`, locked; returns its output.
fn cargo(args: &[&str]) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).arg("--locked").current_dir(crate::root());
    let flag = if args[0] == "tree" { "--target" } else { "--filter-platform" };
    for t in TARGETS {
        cmd.args([flag, t]);
    }
    crate::run::stdout(&mut cmd)
}

/// The third-party crates of `tree` (`cargo tree` lines "name vX.Y.Z", which is what a build of
/// `LIBRARY` alone links: `cargo metadata`'s resolve unifies the features of the whole workspace,
/// xtask's included), with what `cargo metadata` says of them; sorted by name and version.
pub fn linked_crates(meta: &Value, tree: &str) -> Result<Vec<Crate>> {
    let packages = meta["packages"].as_array().ok_or("cargo metadata lists no packages")?;
    let mut wanted: Vec<(&str, &str)> = tree
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            Some((words.next()?, words.next()?.strip_prefix('v')?))
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let text = |p: &Value, key: &str| p[key].as_str().unwrap_or("").to_string();
    let mut crates = Vec::new();
    for (name, version) in wanted {
        let Some(p) = packages.iter().find(|p| p["name"] == name && p["version"] == version) else {
            return Err(format!("cargo metadata does not know {name} {version}"));
        };
        if p["source"].is_null() {
            continue; // A workspace crate: ours.
        }
        crates.push(Crate {
            name: name.to_string(),
            version: version.to_string(),
            license: p["license"].as_str().map(str::to_string).unwrap_or_else(|| text(p, "license_file")),
            repository: text(p, "repository"),
            dir: PathBuf::from(text(p, "manifest_path")).parent().map(PathBuf::from).unwrap_or_default(),
        });
    }
    Ok(crates)
}

/// The licence files at the top of a crate's source package: (file name, text).
fn license_files(c: &Crate) -> Vec<(String, String)> {
    const PREFIXES: [&str; 6] = ["LICENSE", "LICENCE", "COPYING", "COPYRIGHT", "NOTICE", "UNLICENSE"];
    let mut files: Vec<(String, String)> = std::fs::read_dir(&c.dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let upper = name.to_uppercase();
            if !PREFIXES.iter().any(|p| upper.starts_with(p)) {
                return None;
            }
            let text = std::fs::read(e.path()).ok()?;
            Some((name, String::from_utf8_lossy(&text).into_owned()))
        })
        .collect();
    files.sort();
    files
}

/// Line ends and trailing blanks do not make two copies of a licence different texts.
fn normalize(text: &str) -> String {
    text.lines().map(str::trim_end).collect::<Vec<_>>().join("\n").trim_matches('\n').to_string()
}

/// The Markdown file: the table of crates, then each distinct licence text once, with the
/// crates that ship it.
pub fn render(crates: &[Crate], files: &dyn Fn(&Crate) -> Vec<(String, String)>) -> String {
    let mut texts: Vec<(String, Vec<String>)> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut add = |text: String, shipped_by: String| {
        let n = *index.entry(text.clone()).or_insert_with(|| {
            texts.push((text, Vec::new()));
            texts.len() - 1
        });
        texts[n].1.push(shipped_by);
        n + 1
    };
    let mut rows = String::new();
    for c in crates {
        let mut numbers: Vec<String> = Vec::new();
        for (file, text) in files(c) {
            numbers.push(add(normalize(&text), format!("{} {} (`{file}`)", c.name, c.version)).to_string());
        }
        if numbers.is_empty() {
            for (spdx, text) in FALLBACK.iter().filter(|(spdx, _)| c.license == *spdx) {
                let n =
                    add(normalize(text), format!("{} {} (no file in its package: the {spdx} text)", c.name, c.version));
                numbers.push(n.to_string());
            }
        }
        let numbers = if numbers.is_empty() { "none in its package".to_string() } else { numbers.join(", ") };
        rows.push_str(&format!("| {} | {} | {} | {} | {} |\n", c.name, c.version, c.license, numbers, c.repository));
    }
    let mut out =
        format!("{HEADER}\n| crate | version | licence | texts below | source |\n|---|---|---|---|---|\n{rows}");
    out.push_str("\n## Licence texts\n");
    for (n, (text, shipped_by)) in texts.iter().enumerate() {
        out.push_str(&format!(
            "\n### Text {}\n\nShipped by {}.\n\n````text\n{text}\n````\n",
            n + 1,
            shipped_by.join(", ")
        ));
    }
    out
}

const HEADER: &str = "# Third-party software in the rust_websocket library

The native libraries in `bin/` are built from godot-rust-websocket (MIT, see `LICENSE`) and link
the Rust crates below: those of the Linux, Windows and macOS libraries together (proc macros and
build tools, which only run while the library is compiled, are not in it). Each licence text
follows, copied from the crates' source packages on crates.io; a crate offered under a choice of
licences ships the texts of every choice. The source code of each crate is on crates.io and at
the address given. Generated by `cargo xtask package` (`cargo tree`, `cargo metadata`); do not edit.
";

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, source: Option<&str>, license: &str) -> Value {
        serde_json::json!({"name": name, "version": "1.0.0", "source": source, "license": license,
            "repository": format!("https://example.com/{name}"), "manifest_path": format!("/reg/{name}/Cargo.toml")})
    }

    #[test]
    fn lists_third_party_crates_and_shares_licence_texts() {
        let reg = Some("registry+https://github.com/rust-lang/crates.io-index");
        let meta = serde_json::json!({"packages": [pkg("rust_websocket", None, "MIT"),
            pkg("zlib", reg, "Zlib"), pkg("gd", reg, "MPL-2.0"), pkg("unused", reg, "MIT")]});
        let tree = "rust_websocket v1.0.0 (/w/rust/godot)\nzlib v1.0.0\ngd v1.0.0\nzlib v1.0.0 (*)\n\n";
        let crates = linked_crates(&meta, tree).unwrap();
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["gd", "zlib"]);
        assert!(linked_crates(&meta, "other v1.0.0").is_err());
        let md = render(&crates, &|c| match c.name.as_str() {
            "zlib" => vec![("LICENSE".into(), "zlib licence\r\n".into())],
            _ => vec![],
        });
        assert!(md.contains("| gd | 1.0.0 | MPL-2.0 | 1 | https://example.com/gd |"), "{md}");
        assert!(md.contains("| zlib | 1.0.0 | Zlib | 2 | https://example.com/zlib |"), "{md}");
        assert!(md.contains("Mozilla Public License Version 2.0"));
        assert!(md.contains("Shipped by zlib 1.0.0 (`LICENSE`).\n\n````text\nzlib licence\n````"), "{md}");
    }
}
