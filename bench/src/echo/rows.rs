//! The rows of the echo benchmark and how each is measured against one server.
//!
//! Each server runs three processes in turn: one for the echo rows and the two game-tick rows
//! (connections closed and the server seen back to its controller alone between rows), a fresh
//! one for the idle row (its memory is a difference of resident sizes) and a fresh one for the
//! storm. The echo rows run the servers at full speed (a frame as soon as the last one ended,
//! as a dedicated server or the Autobahn runs do: at 60 fps a ping-pong would measure the frame
//! rate); the game tick, idle and storm rows at 60 fps, as a game runs.

use std::collections::BTreeMap;
use std::time::Duration;

use super::servers::{Env, Kind, Proc};
use super::table::{Outcome, Results};
use crate::loadgen::{Fleet, Load, Pattern, Report};
use crate::Result;

/// Said in the stage's heading and under the table.
pub const DURATIONS: &str = "echo rows: 0.5 s warm-up, 2 s measured; game tick: 1 s ramp, 4 s measured, 2 s drain; \
    idle: 1 s settled, 2 s sampled; storm: 10 s; connecting: 64 at a time, at most 20 s";
const WARMUP: Duration = Duration::from_millis(500);
const MEASURE: Duration = Duration::from_secs(2);
const DRAIN: Duration = Duration::from_secs(2);
const RAMP: Duration = Duration::from_secs(1);
const GAME: Duration = Duration::from_secs(4);
const SETTLE: Duration = Duration::from_secs(1);
const SAMPLE: Duration = Duration::from_secs(2);
const STORM: Duration = Duration::from_secs(10);
/// Outside the storm: connections under way at once (the engine's accept backlog is 8: a wider
/// burst mostly measures SYN retransmits), and how long all may take (a row goes on with those
/// that made it; the echo rows need all).
const CONNECTING: usize = 64;
const CONNECT_LIMIT: Duration = Duration::from_secs(20);
/// Connections: the game tick's, the idle row's, the storm's.
pub const GAME_CLIENTS: usize = 1000;
pub const IDLE_CLIENTS: usize = 10_000;
pub const STORM_CLIENTS: usize = 5000;
/// The game tick: messages per second per client, their size; the state broadcast's size and rate.
const GAME_RATE: f64 = 20.0;
const GAME_SIZE: usize = 64;
const STATE_SIZE: usize = 1024;
const STATE_HZ: u32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Row {
    Echo(usize),
    Game,
    GameBroadcast,
    Idle,
    Storm,
}

/// An echo row: `conns` connections, each keeping `window` messages of `size` bytes in flight.
pub struct EchoRow {
    pub label: &'static str,
    pub conns: usize,
    pub size: usize,
    pub text: bool,
    pub window: usize,
}

const fn echo(label: &'static str, conns: usize, size: usize, text: bool, window: usize) -> EchoRow {
    EchoRow { label, conns, size, text, window }
}

pub const ECHO: [EchoRow; 8] = [
    echo("1×16 B ping-pong (W=1): round trips/s · RTT p50", 1, 16, false, 1),
    echo("1×16 B binary, W=64: msgs/s", 1, 16, false, 64),
    echo("1×1 KiB binary, W=64: msgs/s", 1, 1024, false, 64),
    echo("1×1 KiB text, W=64: msgs/s", 1, 1024, true, 64),
    echo("1×64 KiB binary, W=16: MB/s", 1, 64 << 10, false, 16),
    echo("1×1 MiB binary, W=4: MB/s", 1, 1 << 20, false, 4),
    echo("100×1 KiB binary, W=16 each: msgs/s", 100, 1024, false, 16),
    echo("1,000×16 B binary, W=4 each: msgs/s", 1000, 16, false, 4),
];

/// What one row measured on one server.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub report: Report,
    /// The server's own sample of its frames (servers with a frame loop).
    pub sample: Option<BTreeMap<String, f64>>,
    pub wanted: usize,
    pub connected: usize,
    pub connect_s: f64,
    pub kib_per_conn: Option<f64>,
}

impl Figures {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.sample.as_ref()?.get(key).copied()
    }
}

/// Every row against one server.
pub fn run_server(kind: Kind, env: &Env, results: &mut Results) {
    let mut first: Vec<Row> = (0..ECHO.len()).map(Row::Echo).collect();
    first.extend([Row::Game, Row::GameBroadcast]);
    session(kind, env, &first, results);
    let fds = env.fd_limit as usize;
    for (row, clients) in [(Row::Idle, IDLE_CLIENTS), (Row::Storm, STORM_CLIENTS)] {
        if fds < clients + 256 {
            let why = format!("skipped: the descriptor limit is {fds} and could not be raised");
            results.put(row, kind, Err(why));
        } else {
            session(kind, env, &[row], results);
        }
    }
}

/// One server process through `rows`.
fn session(kind: Kind, env: &Env, rows: &[Row], results: &mut Results) {
    let started = Proc::start(kind, env).and_then(|proc| {
        let mut fleet = Fleet::new(proc.target)?;
        if kind.controlled() {
            fleet.open_controller()?;
        }
        Ok((proc, fleet))
    });
    let (mut proc, mut fleet) = match started {
        Ok(pair) => pair,
        Err(e) => {
            println!("echo bench {}: the server did not start: {e}", kind.label());
            for &row in rows {
                results.put(row, kind, Err("server did not start".into()));
            }
            return;
        }
    };
    for &row in rows {
        let outcome = one_row(row, kind, &mut proc, &mut fleet);
        println!("echo bench {} {row:?}: {}", kind.label(), summary(&outcome));
        results.put(row, kind, outcome);
        fleet.close_all();
        if kind.controlled() && proc.is_running() {
            settle(&mut fleet);
        }
    }
    drop(fleet);
    let tail = proc.stop();
    if rows.iter().any(|r| results.failed(*r, kind)) {
        println!("echo bench {}: the server's last lines: {tail}", kind.label());
    }
}

fn one_row(row: Row, kind: Kind, proc: &mut Proc, fleet: &mut Fleet) -> Outcome {
    if !proc.is_running() {
        return Err("the server had exited".into());
    }
    match row {
        Row::Echo(i) => echo_row(&ECHO[i], kind, fleet).map(Some),
        Row::GameBroadcast if kind == Kind::Raw => Ok(None),
        Row::Game | Row::GameBroadcast => game_row(row == Row::GameBroadcast, kind, fleet).map(Some),
        Row::Idle => idle_row(kind, proc, fleet).map(Some),
        Row::Storm => storm_row(kind, fleet).map(Some),
    }
}

/// Waits (bounded) until the server has only the controller left.
fn settle(fleet: &mut Fleet) {
    for _ in 0..100 {
        if fleet.control("peers").is_ok_and(|a| a == "peers=1") {
            return;
        }
        let _ = fleet.run_for(Duration::from_millis(100));
    }
}

fn echo_row(row: &EchoRow, kind: Kind, fleet: &mut Fleet) -> Result<Figures> {
    if kind.controlled() {
        // Room for a whole window of messages each way, and never below the engine's default.
        let buffers = (2 * row.window * (row.size + 14)).max(65535);
        fleet.control("fps 0")?;
        fleet.control(&format!("buffers {buffers}"))?;
    }
    let (connected, took) = fleet.connect(row.conns, CONNECTING, CONNECT_LIMIT, true);
    if connected < row.conns {
        return Err(format!("only {connected} of {} connected", row.conns));
    }
    let pattern = Pattern::Closed { window: row.window };
    fleet.start(Load { size: row.size, text: row.text, pattern, other_len: None });
    fleet.run_for(WARMUP)?;
    fleet.begin_window();
    fleet.run_for(MEASURE)?;
    let mut report = fleet.end_window();
    fleet.drain(&mut report, DRAIN);
    Ok(Figures { report, wanted: row.conns, connected, connect_s: took.as_secs_f64(), ..Figures::default() })
}

/// 1,000 clients × 20 messages/s of 64 B, echoed, the server at 60 fps; with `broadcast`, the
/// server also sends a 1 KiB state to every client 20 times a second.
fn game_row(broadcast: bool, kind: Kind, fleet: &mut Fleet) -> Result<Figures> {
    if kind.controlled() {
        fleet.control("fps 0")?;
        fleet.control("buffers 65535")?;
    }
    let (connected, took) = fleet.connect(GAME_CLIENTS, CONNECTING, CONNECT_LIMIT, true);
    if connected == 0 {
        return Err("no client connected".into());
    }
    if kind.controlled() {
        fleet.control("fps 60")?;
    }
    let pattern = Pattern::Open { per_s: GAME_RATE };
    fleet.start(Load { size: GAME_SIZE, text: false, pattern, other_len: broadcast.then_some(STATE_SIZE) });
    fleet.run_for(RAMP)?;
    if broadcast {
        fleet.control(&format!("broadcast {STATE_SIZE} {STATE_HZ}"))?;
    }
    if kind.controlled() {
        fleet.control("begin")?;
    }
    fleet.begin_window();
    fleet.run_for(GAME)?;
    let mut report = fleet.end_window();
    let sample = if kind.controlled() { Some(parse_sample(&fleet.control("end")?)) } else { None };
    fleet.drain(&mut report, DRAIN);
    let connect_s = took.as_secs_f64();
    Ok(Figures { report, sample, wanted: GAME_CLIENTS, connected, connect_s, ..Figures::default() })
}

/// 10,000 connections that send nothing: the server's frame cost at 60 fps and its resident
/// memory per connection (connected with the server at full speed, as fast as it accepts).
fn idle_row(kind: Kind, proc: &mut Proc, fleet: &mut Fleet) -> Result<Figures> {
    if kind.controlled() {
        fleet.control("fps 0")?;
        fleet.control("buffers 65535")?;
    }
    let before = proc.rss_kib().ok_or("cannot read the server's resident size")?;
    let (connected, took) = fleet.connect(IDLE_CLIENTS, CONNECTING, CONNECT_LIMIT, true);
    if kind.controlled() {
        fleet.control("fps 60")?;
    }
    fleet.run_for(SETTLE)?;
    let after = proc.rss_kib().ok_or("cannot read the server's resident size")?;
    let mut sample = None;
    if kind.framed() {
        fleet.control("begin")?;
        fleet.run_for(SAMPLE)?;
        sample = Some(parse_sample(&fleet.control("end")?));
    }
    let kib_per_conn = (connected > 0).then(|| after.saturating_sub(before) as f64 / connected as f64);
    let connect_s = took.as_secs_f64();
    Ok(Figures { sample, wanted: IDLE_CLIENTS, connected, connect_s, kib_per_conn, ..Figures::default() })
}

/// 5,000 connects at once against the server at 60 fps: how many are open within 10 s.
fn storm_row(kind: Kind, fleet: &mut Fleet) -> Result<Figures> {
    if kind.controlled() {
        fleet.control("fps 60")?;
    }
    let (connected, took) = fleet.connect(STORM_CLIENTS, STORM_CLIENTS, STORM, false);
    Ok(Figures { wanted: STORM_CLIENTS, connected, connect_s: took.as_secs_f64(), ..Figures::default() })
}

/// A server's `end` answer, `key=value` words.
fn parse_sample(answer: &str) -> BTreeMap<String, f64> {
    answer
        .split_whitespace()
        .filter_map(|w| w.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// One line of figures for the log.
fn summary(outcome: &Outcome) -> String {
    let f = match outcome {
        Ok(Some(f)) => f,
        Ok(None) => return "not applicable".into(),
        Err(e) => return format!("FAILED: {e}"),
    };
    let r = &f.report;
    let mut line = format!(
        "{} of {} connected in {:.2} s; {:.1} s measured: {:.0} msgs/s, {:.1} MB/s, rtt p50 {} µs p99 {} µs max {} µs; sent {}, echoed {}, lost {}, bad {}, other {}, dropped {}; cpu server {:.0} % generator {:.0} %",
        f.connected, f.wanted, f.connect_s, r.seconds, r.msgs_per_s, r.mb_per_s, r.rtt_p50_us, r.rtt_p99_us, r.rtt_max_us,
        r.sent, r.echoed, r.lost, r.bad, r.other, r.dropped, r.server_cpu, r.generator_cpu
    );
    if r.lag_ms > 0.0 {
        line.push_str(&format!(" (schedule lag max {:.1} ms)", r.lag_ms));
    }
    if let Some(s) = &f.sample {
        let words: Vec<String> = s.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.push_str(&format!("; server frames: {}", words.join(" ")));
    }
    if let Some(k) = f.kib_per_conn {
        line.push_str(&format!("; {k:.1} KiB per connection"));
    }
    line
}
