//! `cargo xtask bench`, high-level multiplayer stage: 1,000 clients against a headless Godot
//! server that runs `SceneMultiplayer` at 60 fps (`tests/godot/tools/mp_bench_server.tscn`),
//! once with our `RustWebSocketMultiplayerPeer` and once with the engine's
//! `WebSocketMultiplayerPeer` as its peer, alternating, three times each; one table of medians.
//!
//! Per run: the time for all clients to join; the server's main-thread cost of a frame
//! (`multiplayer.poll()`, which includes the RPC handlers, timed by the server script) while the
//! clients are idle and while each calls an RPC 20 times a second that the server answers with
//! an RPC back to the caller; RPCs handled per second, round trip p50/p99, RPCs never answered;
//! the CPU time of the server process and of this load generator over each phase.
//!
//! The load generator is this process: one thread, non-blocking sockets under mio, open loop
//! (RPCs go out on a fixed schedule whatever the answers do), all on 127.0.0.1, bounded in
//! clients, time and attempts. Its WebSocket side is the core's protocol code (`crate::client`: the
//! HTTP upgrade, masked binary frames); over it, it speaks the engine's multiplayer protocol
//! directly: the 4-byte little-endian id the server sends first, then `SceneMultiplayer` packets.
//! It makes real RPCs rather than RAW packets (`send_bytes`, `[3] + bytes`): RAW would skip what
//! a game's RPC costs the server (node and method lookup, argument decoding, the GDScript call,
//! encoding the answer, the node path cache), and that work is the same for both peers, so it
//! belongs in the frame cost that both columns show. The packets (Godot 4.x,
//! `modules/multiplayer/scene_rpc_interface.cpp` and `scene_cache_interface.cpp`):
//!
//! - SIMPLIFY_PATH, once per client after its id: `[1] + rpc md5 (32 hex) + [0] + cache id
//!   (u32 LE) + node path + [0]`, the server answers CONFIRM_PATH `[2, ok, cache id]`;
//! - REMOTE_CALL `ping(bytes)`: `[0x80, cache id, method id] + bytes`: byte 0 is the command (0)
//!   with 8-bit node and method ids and the flag "one PackedByteArray argument, sent raw";
//! - the server's `pong(bytes)` comes as REMOTE_CALL too, with the node's full path appended
//!   (id `0x80000000 | offset`) until the client confirmed the server's own SIMPLIFY_PATH, which
//!   the generator does, as an engine client would.
//!
//! The RPC bytes are 16: the send time (µs since the generator started, u64 LE), the client
//! index and a sequence number (u32 LE each); the answer carries them back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::figures::{cpu_ticks, int, rank, HZ};
use crate::run::{self, Background};
use crate::Result;

mod generator;

use generator::{Generator, RpcInfo};

/// Clients per run (`MP_BENCH_CLIENTS` overrides it, for quick checks).
const CLIENTS: usize = 1000;
/// RPCs each client calls per second under load.
const RATE: f64 = 20.0;
/// Clients connecting at once (TCP connect to id received). A larger burst mostly measures the
/// kernel dropping SYNs at the engine's accept backlog of 8 and the clients' 1 s, 3 s, 7 s…
/// retransmits, which would make a run's length unbounded.
const JOIN_WINDOW: usize = 64;
/// How long all clients may take to join; a run continues with those that did.
const JOIN_LIMIT: Duration = Duration::from_secs(45);
/// A client that is not joined this long after its connect starts is dropped and tries again.
const ATTEMPT_LIMIT: Duration = Duration::from_secs(10);
/// Phases: idle sample (the whole `multiplayer.poll()`, then the peer's `poll()` alone), load
/// before the sample, load sample, and the wait for late answers.
const IDLE: Duration = Duration::from_secs(2);
const IDLE_PEER: Duration = Duration::from_secs(2);
const RAMP: Duration = Duration::from_secs(1);
const LOAD: Duration = Duration::from_secs(4);
const DRAIN: Duration = Duration::from_secs(5);
/// Runs of each server (`MP_BENCH_RUNS` overrides it).
const REPS: usize = 3;

/// The two servers, in the order each repetition runs them.
const KINDS: [(&str, &str); 2] =
    [("ours", "ours (`RustWebSocketMultiplayerPeer`)"), ("engine", "engine (`WebSocketMultiplayerPeer`)")];

/// Runs the stage and prints the table.
pub fn run(godot: &Path) -> Result<()> {
    let setting = |name: &str, default: usize| {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
    };
    let (clients, reps) = (setting("MP_BENCH_CLIENTS", CLIENTS), setting("MP_BENCH_RUNS", REPS));
    run::step(&format!(
        "high-level multiplayer: {clients} clients, SceneMultiplayer server at 60 fps, ours and the engine's peer, {reps} runs each"
    ));
    let started = Instant::now();
    let mut results: BTreeMap<&str, Vec<Figures>> = BTreeMap::new();
    for rep in 1..=reps {
        for (kind, _) in KINDS {
            let figures = one_run(godot, kind, clients)?;
            println!("mp bench {kind} #{rep}: {}", figures.summary());
            results.entry(kind).or_default().push(figures);
        }
    }
    println!();
    println!("{}", table(&results, clients));
    println!("(medians of {reps} runs; stage took {:.0} s)", started.elapsed().as_secs_f64());
    Ok(())
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
struct Figures {
    joined: usize,
    join_s: f64,
    join_attempts: u32,
    idle: Phase,
    idle_peer: Phase,
    load: Phase,
    offered_per_s: f64,
    handled_per_s: f64,
    answered_per_s: f64,
    rtt_p50_ms: f64,
    rtt_p99_ms: f64,
    unanswered: u64,
    dropped: usize,
    generator_lag_ms: f64,
}

/// One phase's figures: the server's frame costs and both processes' CPU.
#[derive(Debug, Clone, Default)]
struct Phase {
    frames: f64,
    fps: f64,
    poll_p50_us: f64,
    poll_p99_us: f64,
    poll_max_us: f64,
    rpcs: f64,
    seconds: f64,
    server_cpu: f64,
    generator_cpu: f64,
}

impl Figures {
    fn summary(&self) -> String {
        format!(
            "{} joined in {:.2} s ({} attempts); idle poll p50 {:.0} µs p99 {:.0} µs max {:.0} µs ({:.0} frames), peer's own p50 {:.0} µs p99 {:.0} µs; load poll p50 {:.0} µs p99 {:.0} µs max {:.0} µs ({:.0} frames, {:.1} fps), {:.0}/{:.0} RPCs/s handled, rtt p50 {:.1} ms p99 {:.1} ms, {} unanswered, {} dropped; cpu server {:.0} % / generator {:.0} % (lag max {:.1} ms)",
            self.joined,
            self.join_s,
            self.join_attempts,
            self.idle.poll_p50_us,
            self.idle.poll_p99_us,
            self.idle.poll_max_us,
            self.idle.frames,
            self.idle_peer.poll_p50_us,
            self.idle_peer.poll_p99_us,
            self.load.poll_p50_us,
            self.load.poll_p99_us,
            self.load.poll_max_us,
            self.load.frames,
            self.load.fps,
            self.handled_per_s,
            self.offered_per_s,
            self.rtt_p50_ms,
            self.rtt_p99_ms,
            self.unanswered,
            self.dropped,
            self.load.server_cpu,
            self.load.generator_cpu,
            self.generator_lag_ms,
        )
    }
}

/// One server process, one load: started, measured, stopped on every path.
fn one_run(godot: &Path, kind: &str, clients: usize) -> Result<Figures> {
    let mut cmd = Command::new(godot);
    cmd.args(["--headless", "--path"]).arg(crate::root().join("tests/godot")).args([
        "res://tools/mp_bench_server.tscn",
        "--",
        &format!("--peer={kind}"),
        "--port=0",
        "--quit-after=150",
    ]);
    // Dropped on every path out of this function, which kills the process if it still runs.
    let mut server = Background::spawn(cmd, &format!("mp bench server ({kind})"), false)?;
    let port: u16 = server.wait_for("LISTENING ", 60)?.parse().map_err(|e| format!("bad port: {e}"))?;
    let pid: u32 = server.wait_for("PID ", 5)?.parse().map_err(|e| format!("bad pid: {e}"))?;
    let rpc = RpcInfo::parse(&server.wait_for("RPC ", 5)?)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let measured = Generator::new(addr, pid, rpc, clients).and_then(|mut g| g.measure());
    // Give the server a moment to quit by itself (the `quit` control), then make sure.
    let start = Instant::now();
    while server.is_running() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.stop();
    let figures =
        measured.map_err(|e| format!("{kind} server: {e}\n--- server log (last lines) ---\n{}", tail(&log, 30)))?;
    crate::run::check_log(&log).map_err(|e| format!("{kind} server: {e}\n{}", tail(&log, 30)))?;
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).take(5).collect();
    if !errors.is_empty() {
        return Err(format!("{kind} server logged errors:\n{}", errors.join("\n")));
    }
    Ok(figures)
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A duration in seconds, as ms below 1 s.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.1} s")
    }
}

/// A duration in µs, as µs below 10 ms, else as ms.
fn micros(us: f64) -> String {
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{} µs", int(us))
    }
}

/// The markdown table of medians, one column per server.
fn table(results: &BTreeMap<&str, Vec<Figures>>, clients: usize) -> String {
    let m = |kind: &str, f: &dyn Fn(&Figures) -> f64| median(results.get(kind).into_iter().flatten().map(f));
    type Row<'a> = (String, Box<dyn Fn(&str) -> String + 'a>);
    let rows: Vec<Row> = vec![
        (
            format!("all joined ({JOIN_WINDOW} connecting at a time) in"),
            Box::new(|k| {
                let joined = m(k, &|f| f.joined as f64);
                let time = seconds(m(k, &|f| f.join_s));
                if joined as usize == clients {
                    time
                } else {
                    format!("only {} joined in {time}", int(joined))
                }
            }),
        ),
        (
            "idle: `multiplayer.poll()` per frame, p50 / p99".into(),
            Box::new(|k| {
                format!("{} / {}", micros(m(k, &|f| f.idle.poll_p50_us)), micros(m(k, &|f| f.idle.poll_p99_us)))
            }),
        ),
        (
            "idle: the peer's own `poll()` alone (its own sample), p50 / p99".into(),
            Box::new(|k| {
                format!(
                    "{} / {}",
                    micros(m(k, &|f| f.idle_peer.poll_p50_us)),
                    micros(m(k, &|f| f.idle_peer.poll_p99_us))
                )
            }),
        ),
        ("idle: server CPU (one core = 100 %)".into(), Box::new(|k| format!("{:.0} %", m(k, &|f| f.idle.server_cpu)))),
        (
            format!("load, {} RPCs/s each answered by RPC: poll + handlers per frame, p50 / p99", RATE),
            Box::new(|k| {
                format!("{} / {}", micros(m(k, &|f| f.load.poll_p50_us)), micros(m(k, &|f| f.load.poll_p99_us)))
            }),
        ),
        ("load: frames per second (of 60)".into(), Box::new(|k| format!("{:.1}", m(k, &|f| f.load.fps)))),
        (
            "load: RPCs handled per second (offered)".into(),
            Box::new(|k| format!("{} ({})", int(m(k, &|f| f.handled_per_s)), int(m(k, &|f| f.offered_per_s)))),
        ),
        (
            "load: round trip p50 / p99".into(),
            Box::new(|k| format!("{:.1} / {:.1} ms", m(k, &|f| f.rtt_p50_ms), m(k, &|f| f.rtt_p99_ms))),
        ),
        (
            format!("load: RPCs unanswered {} s after the last", DRAIN.as_secs()),
            Box::new(|k| int(m(k, &|f| f.unanswered as f64))),
        ),
        (
            "load: server CPU / load generator CPU".into(),
            Box::new(|k| format!("{:.0} % / {:.0} %", m(k, &|f| f.load.server_cpu), m(k, &|f| f.load.generator_cpu))),
        ),
    ];
    let mut out = format!(
        "| {} clients, SceneMultiplayer server at 60 fps | {} | {} |\n|---|---|---|\n",
        int(clients as f64),
        KINDS[0].1,
        KINDS[1].1
    );
    for (label, cell) in rows {
        out.push_str(&format!("| {label} | {} | {} |\n", cell(KINDS[0].0), cell(KINDS[1].0)));
    }
    out
}
