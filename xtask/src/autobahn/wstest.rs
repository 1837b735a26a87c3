//! The Autobahn|Testsuite's `wstest` (PyPI autobahntestsuite 0.8.2), which needs Python 2.7,
//! which Debian 12 lacks: Debian 11's python2.7 packages are unpacked into
//! `target/autobahn/prefix`, pip is bootstrapped from its wheel, and a pinned set of packages is
//! installed into `target/autobahn/site`. Nothing is installed system-wide.

use std::path::PathBuf;
use std::process::Command;

use crate::run;
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

pub struct Python27 {
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

    pub fn wstest(&self, args: &[&str]) -> Command {
        let mut cmd = self.command();
        cmd.arg(self.dir.join("wstest_lo.py")).args(args);
        cmd
    }
}

pub fn provision() -> Result<Python27> {
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
    let mut download = Command::new("python3");
    download
        .args(["-m", "pip", "download", "-q", "--no-deps", "--python-version", "2.7", "--only-binary=:all:", "-d"])
        .arg(&wheels)
        .args(["pip==20.3.4", "setuptools==44.1.1", "wheel==0.37.1"]);
    run::status(&mut download, "downloading pip for Python 2.7 failed")?;
    let site = dir.join("site");
    let pip_whl = wheels.join("pip-20.3.4-py2.py3-none-any.whl");
    let mut bootstrap = py.command();
    bootstrap
        .arg(pip_whl.join("pip"))
        .args(["install", "-q", "--no-warn-script-location", "--no-index", "--find-links"])
        .arg(&wheels)
        .arg("--prefix")
        .arg(&site)
        .args(["pip==20.3.4", "setuptools==44.1.1", "wheel==0.37.1"]);
    run::status(&mut bootstrap, "bootstrapping pip under Python 2.7 failed")?;
    println!("xtask: installing {} pinned packages for wstest", PINNED.len());
    let mut install = py.command();
    install
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
        .args(PINNED);
    run::status(&mut install, "installing the Autobahn|Testsuite failed")?;
    std::fs::write(dir.join("wstest_lo.py"), WSTEST_LO).map_err(|e| e.to_string())?;
    std::fs::write(dir.join(".ready"), "").map_err(|e| e.to_string())?;
    Ok(py)
}
