//! Debian packages without a system-wide install: a private apt configuration (own sources
//! list, lists and cache under `target/`), `apt-get download`, and `dpkg -x` into a folder.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{run, Result};

/// Installs Debian `packages` system-wide with apt-get (as root) for `for_what` (said in the
/// heading and in errors); `all`: the packages the manual command in an error names.
pub fn install(packages: &[&str], all: &[&str], for_what: &str) -> Result<()> {
    let manual = format!("apt-get install --no-install-recommends {}", all.join(" "));
    if run::which("apt-get").is_none() || !run::is_root() {
        return Err(format!("{for_what} needs Debian packages: `{manual}` (as root)"));
    }
    run::step(&format!("installing Debian's {} for {for_what}", packages.join(", ")));
    let _ = Command::new("apt-get").args(["-q", "update"]).status();
    let mut apt = Command::new("apt-get");
    apt.args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run::status(&mut apt, &format!("apt-get install {} failed", packages.join(" ")))
}

/// Installs Debian `packages` (as root) when `tool` is not on PATH.
pub fn ensure(tool: &str, packages: &[&str]) -> Result<()> {
    if run::which(tool).is_some() {
        return Ok(());
    }
    install(packages, packages, tool)?;
    run::which(tool).map(|_| ()).ok_or_else(|| format!("Debian's {} did not provide {tool}", packages.join(", ")))
}

/// Whether Debian `package` is installed (dpkg-query).
pub fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "install ok installed")
        .unwrap_or(false)
}

pub struct Apt {
    dir: PathBuf,
    opts: Vec<String>,
}

impl Apt {
    /// Prepares `dir` for the Debian `suite` (e.g. "sid", "bullseye") and fetches its lists.
    pub fn new(dir: &Path, suite: &str) -> Result<Apt> {
        Apt::with_arch(dir, suite, None)
    }

    /// [`Apt::new`] for the packages of architecture `arch` (e.g. "arm64"; else this machine's),
    /// as if that were the only one: dependencies resolve and download within it.
    pub fn with_arch(dir: &Path, suite: &str, arch: Option<&str>) -> Result<Apt> {
        for d in ["etc", "lists/partial", "cache/archives/partial", "debs"] {
            std::fs::create_dir_all(dir.join(d)).map_err(|e| e.to_string())?;
        }
        let mirror = debian_mirror();
        std::fs::write(dir.join("etc/sources.list"), format!("deb {mirror} {suite} main\n"))
            .map_err(|e| e.to_string())?;
        let d = dir.display();
        let opts = vec![
            format!("-oDir::Etc::SourceList={d}/etc/sources.list"),
            "-oDir::Etc::SourceParts=/dev/null".into(),
            format!("-oDir::State::Lists={d}/lists"),
            format!("-oDir::Cache={d}/cache"),
            "-oDir::State::status=/dev/null".into(),
            "-oDebug::NoLocking=1".into(),
            "-oAPT::Sandbox::User=root".into(),
        ];
        let mut opts = opts;
        if let Some(arch) = arch {
            opts.push(format!("-oAPT::Architecture={arch}"));
            opts.push(format!("-oAPT::Architectures={arch}"));
        }
        let apt = Apt { dir: dir.to_path_buf(), opts };
        println!("xtask: apt-get update ({mirror} {suite}{})", arch.map(|a| format!(", {a}")).unwrap_or_default());
        apt.run("apt-get", &["-q", "update"], dir)?;
        Ok(apt)
    }

    fn run(&self, tool: &str, args: &[&str], cwd: &Path) -> Result<String> {
        run::stdout(Command::new(tool).args(&self.opts).args(args).current_dir(cwd))
    }

    /// `package` and everything it depends on (no recommends), as if nothing were installed.
    pub fn closure(&self, package: &str) -> Result<Vec<String>> {
        let out = self.run(
            "apt-cache",
            &[
                "depends",
                "--recurse",
                "--no-recommends",
                "--no-suggests",
                "--no-conflicts",
                "--no-breaks",
                "--no-replaces",
                "--no-enhances",
                package,
            ],
            &self.dir,
        )?;
        let mut pkgs: Vec<String> = out
            .lines()
            .filter(|l| !l.starts_with(' ') && !l.starts_with('<') && !l.is_empty())
            .map(str::to_string)
            .collect();
        pkgs.sort_unstable();
        pkgs.dedup();
        Ok(pkgs)
    }

    /// Downloads `packages` and unpacks each into `root`.
    pub fn unpack(&self, packages: &[&str], root: &Path) -> Result<()> {
        std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
        let debs = self.dir.join("debs");
        let mut args = vec!["-q", "download"];
        args.extend(packages.iter().copied());
        self.run("apt-get", &args, &debs)?;
        for deb in std::fs::read_dir(&debs).map_err(|e| e.to_string())?.flatten() {
            let mut dpkg = Command::new("dpkg");
            run::status(dpkg.arg("-x").arg(deb.path()).arg(root), &format!("dpkg -x {} failed", deb.path().display()))?;
        }
        let _ = std::fs::remove_dir_all(&debs);
        let _ = std::fs::remove_dir_all(self.dir.join("cache"));
        Ok(())
    }
}

/// The Debian mirror apt already uses here (first `.../debian` URI), else deb.debian.org.
fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        files.extend(dir.flatten().map(|e| e.path()));
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else { continue };
        for line in text.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            for word in line.split_whitespace() {
                if (word.starts_with("http://") || word.starts_with("https://"))
                    && word.trim_end_matches('/').ends_with("/debian")
                {
                    return word.trim_end_matches('/').to_string();
                }
            }
        }
    }
    "http://deb.debian.org/debian".into()
}
