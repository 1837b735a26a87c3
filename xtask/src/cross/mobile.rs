//! Android and iOS: the core and the binding type-checked for `aarch64-linux-android` and
//! `aarch64-apple-ios` (`cargo check -Zbuild-std` with Debian's Rust), so that platform code
//! cannot rot. No library is linked here (that needs the NDK's and Xcode's linkers): the release
//! workflow builds them (`cargo-ndk` for Android, Xcode for iOS). `ring`'s build script compiles
//! its C and assembly even under `check` (the objects are not linked by a check). Debian's
//! `clang` compiles them for these targets with `--target`; the few libc headers ring's C
//! includes (`assert.h`, `string.h`, Apple's `TargetConditionals.h`) come from Zig's bundled
//! ones (musl's for Android, Darwin's for iOS), since neither the NDK nor an Apple SDK is here
//! (`-nostdlibinc` keeps this machine's glibc headers out). Zig's `TargetConditionals.h` needs a
//! newer clang than Debian 12's (`-fdefine-target-os-macros`), so the iOS check puts a small one
//! of its own first, with the iOS device values (`TARGET_OS_IPHONE`, what ring reads).

use std::process::Command;
use std::time::Instant;

use super::Toolchain;
use crate::{run, Result};

/// The targets checked: (triple, clang's target, Zig's libc header folders).
pub const TARGETS: [(&str, &str, &[&str]); 2] = [
    (
        "aarch64-linux-android",
        "aarch64-linux-android21",
        &["aarch64-linux-musl", "generic-musl", "aarch64-linux-any", "any-linux-any"],
    ),
    ("aarch64-apple-ios", "arm64-apple-ios12.0", &["any-darwin-any"]),
];

/// `cargo check` of both crates for `triple`; returns how long it took.
pub fn check(tc: &Toolchain, triple: &str, clang_target: &str, headers: &[&str]) -> Result<String> {
    let (cargo, rustc) = tc.debian()?;
    if run::which("clang").is_none() {
        crate::apt::ensure("clang", &["clang"])?;
    }
    let env_triple = triple.replace('-', "_");
    // `check --release` in the quick builds' directory and profile: the host's build scripts and
    // proc macros are theirs.
    let dir = super::quick_dir();
    run::step(&format!("type-checking the core and the binding for {triple} (Debian's Rust, -Zbuild-std)"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::root())
        .args([
            "check",
            "--release",
            "--locked",
            "-p",
            "rust_websocket_core",
            "-p",
            "rust_websocket",
            "--target",
            triple,
        ])
        .arg("-Zbuild-std=std,panic_unwind")
        .arg("--target-dir")
        .arg(&dir)
        .env("RUSTC", rustc)
        .env("RUSTC_BOOTSTRAP", "1")
        .env(format!("CC_{env_triple}"), "clang")
        .env(format!("CFLAGS_{env_triple}"), cflags(tc, clang_target, headers))
        .env(format!("AR_{env_triple}"), super::llvm_tool("llvm-ar")?);
    if triple.contains("apple") {
        let own = dir.join("ios-headers");
        std::fs::create_dir_all(&own).map_err(|e| e.to_string())?;
        std::fs::write(own.join("TargetConditionals.h"), IOS_TARGET_CONDITIONALS).map_err(|e| e.to_string())?;
        let flags = cflags(tc, clang_target, headers).replacen(
            " -isystem",
            &format!(" -isystem {} -isystem", own.display()),
            1,
        );
        cmd.env(format!("CFLAGS_{env_triple}"), flags);
        // The cc crate asks `xcrun` for the SDK unless SDKROOT names one; ring needs no SDK file.
        let sdk = dir.join("no-sdk");
        std::fs::create_dir_all(&sdk).map_err(|e| e.to_string())?;
        cmd.env("SDKROOT", &sdk);
    }
    for var in
        ["RUSTUP_TOOLCHAIN", "LD_LIBRARY_PATH", "CARGO", "RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR"]
    {
        cmd.env_remove(var);
    }
    super::quick_env(&mut cmd);
    let start = Instant::now();
    let out = run::capture(cmd, run::BUILD_LIMIT_S)?;
    let took = run::secs(start.elapsed());
    if !out.success {
        return Err(format!("cargo check for {triple} failed ({}) after {took}", out.status));
    }
    Ok(format!("checked in {took}"))
}

/// `--target=<clang target> -nostdlibinc -isystem <Zig's headers>…`.
fn cflags(tc: &Toolchain, clang_target: &str, headers: &[&str]) -> String {
    let include = tc.zig_lib.join("libc/include");
    let mut flags = format!("--target={clang_target} -nostdlibinc");
    for h in headers {
        flags.push_str(&format!(" -isystem {}", include.join(h).display()));
    }
    flags
}

/// The iOS device values of Apple's `TargetConditionals.h`, for the iOS type-check's C.
const IOS_TARGET_CONDITIONALS: &str = include_str!("TargetConditionals.h");
