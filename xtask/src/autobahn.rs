//! The Autobahn|Testsuite, both roles, through real headless Godot.
//!
//! `wstest` (PyPI autobahntestsuite 0.8.2) needs Python 2.7, which Debian 12 lacks: Debian 11's
//! python2.7 packages are unpacked into `target/autobahn/prefix`, pip is bootstrapped from its
//! wheel, and a pinned set of packages is installed into `target/autobahn/site`. Nothing is
//! installed system-wide.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::run::{self, Background};
use crate::Result;

/// Versions known to work together (`pip check` clean) on Python 2.7.
const PINNED: &[&str] = &[
    "autobahntestsuite==0.8.2",
    "autobahn==0.10.9",
    "txaio==2.1.0",
    "Twisted==20.3.0",
    "zope.interface==5.5.2",
    "wsaccel==0.6.6",
    "ujson==2.0.3",
    "pyOpenSSL==21.0.0",
    "cryptography==3.3.2",
    "cffi==1.15.1",
    "pycparser==2.21",
    "service-identity==21.1.0",
    "pyasn1==0.5.1",
    "pyasn1-modules==0.3.0",
    "attrs==21.4.0",
    "ipaddress==1.0.23",
    "enum34==1.1.10",
    "six==1.17.0",
    "idna==2.10",
    "klein==20.6.0",
    "Werkzeug==1.0.1",
    "Tubes==0.2.1",
    "incremental==22.10.0",
    "hyperlink==21.0.0",
    "typing==3.10.0.0",
    "Jinja2==2.11.3",
    "MarkupSafe==1.1.1",
    "unittest2==1.1.0",
    "traceback2==1.4.0",
    "linecache2==1.0.0",
    "Automat==22.10.0",
    "constantly==15.1.0",
    "PyHamcrest==1.10.1",
];

/// Runs wstest on loopback only: the fuzzing server would otherwise bind every interface.
const WSTEST_LO: &str = r#"
import autobahn.twisted.websocket as w
_listen = w.listenWS
def _loopback(factory, contextFactory=None, backlog=50, interface='127.0.0.1'):
    return _listen(factory, contextFactory, backlog, '127.0.0.1')
w.listenWS = _loopback
import autobahntestsuite.fuzzing as f
f.listenWS = _loopback
from autobahntestsuite.wstest import run
run()
"#;

struct Python27 {
    dir: PathBuf,
}

impl Python27 {
    fn command(&self) -> Command {
        let p = self.dir.join("prefix");
        let mut cmd = Command::new(p.join("usr/bin/python2.7"));
        cmd.env("LD_LIBRARY_PATH", format!("{0}/usr/lib/x86_64-linux-gnu:{0}/lib/x86_64-linux-gnu", p.display()))
            .env("PYTHONHOME", p.join("usr"))
            // The user site (unlike PYTHONPATH) reads .pth files, which namespace packages need.
            .env("PYTHONUSERBASE", self.dir.join("site"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("CFLAGS", format!("-I{0}/usr/include -I{0}/usr/include/python2.7", p.display()))
            .current_dir(&self.dir);
        cmd
    }

    fn wstest(&self, args: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.arg(self.dir.join("wstest_lo.py")).args(args);
        cmd
    }
}

fn provision() -> Result<Python27> {
    let dir = crate::root().join("target/autobahn");
    let py = Python27 { dir: dir.clone() };
    if dir.join(".ready").exists() {
        return Ok(py);
    }
    run::step("provisioning the Autobahn|Testsuite (Python 2.7 from Debian 11, pinned PyPI packages)");
    let _ = std::fs::remove_dir_all(&dir);
    let apt = crate::apt::Apt::new(&dir.join("apt"), "bullseye")?;
    apt.unpack(
        &[
            "python2.7",
            "python2.7-minimal",
            "libpython2.7-minimal",
            "libpython2.7-stdlib",
            "libpython2.7",
            "python2.7-dev",
            "libpython2.7-dev",
            "libssl1.1",
            "libffi7",
        ],
        &dir.join("prefix"),
    )?;
    let wheels = dir.join("wheels");
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "-q", "--no-deps", "--python-version", "2.7", "--only-binary=:all:", "-d"])
        .arg(&wheels)
        .args(["pip==20.3.4", "setuptools==44.1.1", "wheel==0.37.1"])
        .status()
        .map_err(|e| format!("python3 -m pip: {e}"))?;
    if !status.success() {
        return Err("downloading pip for Python 2.7 failed".into());
    }
    let site = dir.join("site");
    let pip_whl = wheels.join("pip-20.3.4-py2.py3-none-any.whl");
    let ok = py
        .command()
        .arg(pip_whl.join("pip"))
        .args(["install", "-q", "--no-warn-script-location", "--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--prefix")
        .arg(&site)
        .args(["pip==20.3.4", "setuptools==44.1.1", "wheel==0.37.1"])
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if !ok {
        return Err("bootstrapping pip under Python 2.7 failed".into());
    }
    println!("xtask: installing {} pinned packages for wstest", PINNED.len());
    let ok = py
        .command()
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--no-warn-script-location",
            "--disable-pip-version-check",
            "--no-deps",
            "--prefix",
        ])
        .arg(&site)
        .args(PINNED)
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if !ok {
        return Err("installing the Autobahn|Testsuite failed".into());
    }
    std::fs::write(dir.join("wstest_lo.py"), WSTEST_LO).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(".ready"), "").map_err(|e| e.to_string())?;
    Ok(py)
}

/// The outcomes a report gives a case, in the order the summary lists them.
const OUTCOMES: [&str; 5] = ["OK", "NON-STRICT", "INFORMATIONAL", "FAILED", "UNIMPLEMENTED"];

/// One role's report: outcome → number of cases, and the cases that did not pass.
pub struct Verdict {
    pub role: &'static str,
    pub counts: BTreeMap<String, u32>,
    pub bad: Vec<String>,
}

impl Verdict {
    pub fn cases(&self) -> u32 {
        self.counts.values().sum()
    }

    /// Why this role fails: a case neither OK, NON-STRICT nor INFORMATIONAL, or a report that
    /// does not hold every case (wstest writes a short one when a peer dies mid-run).
    pub fn problem(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.cases() != EXPECTED_CASES {
            why.push(format!("the report holds {} cases, not {EXPECTED_CASES}", self.cases()));
        }
        if !self.bad.is_empty() {
            why.push(format!("not passed: {}", self.bad.join("; ")));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// `autobahn server role: 301 cases: 289 OK, 9 NON-STRICT, 3 INFORMATIONAL, 0 FAILED, 0 UNIMPLEMENTED`
    pub fn line(&self) -> String {
        let known = OUTCOMES.iter().map(|o| format!("{} {o}", self.counts.get(*o).copied().unwrap_or(0)));
        let other =
            self.counts.iter().filter(|(k, _)| !OUTCOMES.contains(&k.as_str())).map(|(k, v)| format!("{v} {k}"));
        let parts: Vec<String> = known.chain(other).collect();
        format!("autobahn {} role: {} cases: {}", self.role, self.cases(), parts.join(", "))
    }
}

/// Cases 1.* to 10.*: what a complete run reports.
const EXPECTED_CASES: u32 = 301;

fn read_report(index: &Path, role: &'static str) -> Result<Verdict> {
    let text = std::fs::read_to_string(index).map_err(|e| format!("{}: {e}", index.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut counts = BTreeMap::new();
    let mut bad = Vec::new();
    for cases in json.as_object().into_iter().flat_map(|o| o.values()) {
        for (case, result) in cases.as_object().into_iter().flatten() {
            let b = result["behavior"].as_str().unwrap_or("?").to_string();
            if !matches!(b.as_str(), "OK" | "NON-STRICT" | "INFORMATIONAL") {
                bad.push(format!("{case} {b} (close: {})", result["behaviorClose"].as_str().unwrap_or("?")));
            }
            *counts.entry(b).or_insert(0) += 1;
        }
    }
    Ok(Verdict { role, counts, bad })
}

fn spec(path: &Path, json: serde_json::Value) -> Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(&json).unwrap()).map_err(|e| e.to_string())
}

/// Runs both roles; returns their verdicts.
pub fn run_both(godot: &Path) -> Result<Vec<Verdict>> {
    let py = provision()?;
    let project = crate::root().join("tests/godot");
    let out = crate::root().join("target/autobahn/reports");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let agent = "godot-rust-websocket";

    run::step("Autobahn|Testsuite, server role: wstest fuzzingclient -> WebSocketServer in headless Godot");
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--path"]).arg(&project).args(["res://tools/echo_server.tscn", "--", "--port=0"]);
    let mut server = Background::spawn(cmd, "godot echo server", false)?;
    let port = server.wait_for("LISTENING ", 60)?;
    spec(
        &out.join("fuzzingclient.json"),
        serde_json::json!({
            "outdir": out.join("server"), "cases": ["*"], "exclude-cases": ["12.*", "13.*"], "exclude-agent-cases": {},
            "servers": [{"agent": agent, "url": format!("ws://127.0.0.1:{port}")}],
        }),
    )?;
    let mut wstest = py.wstest(&["-m", "fuzzingclient", "-s"]);
    wstest.arg(out.join("fuzzingclient.json"));
    let result = run::capture_quiet(wstest, 1200);
    let log = server.stop();
    crate::godot::check_log(&log).map_err(|e| format!("echo server: {e}"))?;
    let result = result?;
    if !result.success {
        return Err(format!("wstest fuzzingclient exited with {}:\n{}", result.status, tail(&result.text, 30)));
    }
    let server_verdict = read_report(&out.join("server/index.json"), "server")?;

    run::step("Autobahn|Testsuite, client role: RustWebSocketPeer in headless Godot -> wstest fuzzingserver");
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    spec(
        &out.join("fuzzingserver.json"),
        serde_json::json!({
            "url": format!("ws://127.0.0.1:{port}"), "outdir": out.join("client"), "webport": 0,
            "cases": ["*"], "exclude-cases": ["12.*", "13.*"], "exclude-agent-cases": {},
        }),
    )?;
    let mut cmd = py.wstest(&["-m", "fuzzingserver", "-s"]);
    cmd.arg(out.join("fuzzingserver.json"));
    let fuzz = Background::spawn(cmd, "wstest fuzzingserver", false)?;
    let start = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed().as_secs() > 60 {
            return Err(format!("wstest fuzzingserver did not listen:\n{}", fuzz.stop()));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--path"]).arg(&project).args([
        "res://tools/autobahn_client.tscn".to_string(),
        "--".into(),
        format!("--url=ws://127.0.0.1:{port}"),
        format!("--agent={agent}"),
    ]);
    let client = run::capture_quiet(cmd, 1500);
    fuzz.stop();
    let client = client?;
    crate::godot::check_log(&client.text).map_err(|e| format!("autobahn client: {e}"))?;
    if !client.text.contains("REPORTS UPDATED") {
        return Err(format!("the Godot client did not finish ({}):\n{}", client.status, tail(&client.text, 30)));
    }
    let client_verdict = read_report(&out.join("client/index.json"), "client")?;
    Ok(vec![server_verdict, client_verdict])
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{Verdict, EXPECTED_CASES};
    use std::collections::BTreeMap;

    fn verdict(counts: &[(&str, u32)], bad: &[&str]) -> Verdict {
        let counts: BTreeMap<String, u32> = counts.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Verdict { role: "server", counts, bad: bad.iter().map(|b| b.to_string()).collect() }
    }

    #[test]
    fn a_role_fails_on_a_failed_case_or_a_short_report() {
        let ok = verdict(&[("OK", EXPECTED_CASES - 12), ("NON-STRICT", 9), ("INFORMATIONAL", 3)], &[]);
        assert_eq!(ok.problem(), None);
        assert_eq!(
            ok.line(),
            "autobahn server role: 301 cases: 289 OK, 9 NON-STRICT, 3 INFORMATIONAL, 0 FAILED, 0 UNIMPLEMENTED"
        );
        let failed = verdict(&[("OK", EXPECTED_CASES - 1), ("FAILED", 1)], &["5.6 FAILED (close: OK)"]);
        assert!(failed.problem().unwrap().contains("5.6 FAILED"));
        let short = verdict(&[("OK", 200)], &[]);
        assert!(short.problem().unwrap().contains("200 cases"));
    }
}
