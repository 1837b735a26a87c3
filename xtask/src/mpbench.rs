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
//! clients, time and attempts. It speaks the protocol directly: the HTTP upgrade, masked binary
//! frames, the 4-byte little-endian id the server sends first, then `SceneMultiplayer` packets.
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

use std::collections::{BTreeMap, VecDeque};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::run::{self, Background};
use crate::Result;

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
/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on Linux).
const HZ: f64 = 100.0;

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
    crate::godot::check_log(&log).map_err(|e| format!("{kind} server: {e}\n{}", tail(&log, 30)))?;
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

/// What the server printed on its `RPC` line.
struct RpcInfo {
    md5: String,
    ping_id: u8,
    path: String,
}

impl RpcInfo {
    fn parse(line: &str) -> Result<RpcInfo> {
        let mut words = line.split_whitespace();
        let (Some(md5), Some(id), Some(path)) = (words.next(), words.next(), words.next()) else {
            return Err(format!("the server's RPC line is malformed: {line}"));
        };
        let ping_id = id.parse().map_err(|_| format!("the server's RPC line has no method id: {line}"))?;
        if md5.len() != 32 {
            return Err(format!("the server's RPC line has no md5: {line}"));
        }
        Ok(RpcInfo { md5: md5.to_string(), ping_id, path: path.to_string() })
    }
}

/// The cache id our clients give the server's node (any value; one node).
const CACHE_ID: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not started yet, or waiting to try again.
    Waiting,
    Connecting,
    Upgrading,
    WaitingId,
    Joined,
    Dead,
}

struct Client {
    sock: Option<TcpStream>,
    state: State,
    since: Instant,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    mask: [u8; 4],
    seq: u32,
}

/// The open-loop send schedule: RPC number `n` goes out at `start + n / per_s`, to joined client
/// `n % joined`.
struct Schedule {
    start: Instant,
    per_s: f64,
    next: u64,
}

impl Schedule {
    fn due(&self, n: u64) -> Instant {
        self.start + Duration::from_secs_f64(n as f64 / self.per_s)
    }
}

#[derive(Default)]
struct Counters {
    sent: u64,
    answered: u64,
    /// RPCs sent inside the measured window (send times in µs), and their answers' round trips.
    window: (u64, u64),
    window_sent: u64,
    rtts: Vec<u32>,
    /// The most an RPC went out after its scheduled time (the generator falling behind).
    max_lag: Duration,
    control: VecDeque<String>,
}

struct Generator {
    poll: Poll,
    events: Events,
    ready: Vec<(usize, bool, bool)>,
    addr: SocketAddr,
    server_pid: u32,
    rpc: RpcInfo,
    epoch: Instant,
    clients: Vec<Client>,
    /// Joined clients, in join order; the first is the controller.
    joined: Vec<usize>,
    retry: VecDeque<usize>,
    attempts: u32,
    counters: Counters,
    schedule: Option<Schedule>,
    request: Vec<u8>,
}

impl Generator {
    fn new(addr: SocketAddr, server_pid: u32, rpc: RpcInfo, count: usize) -> Result<Generator> {
        let now = Instant::now();
        let clients = (0..count)
            .map(|i| Client {
                sock: None,
                state: State::Waiting,
                since: now,
                inbuf: Vec::new(),
                out: Vec::new(),
                mask: (0x9e37_79b9u32.wrapping_mul(i as u32 + 1)).to_le_bytes(),
                seq: 0,
            })
            .collect();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .into_bytes();
        Ok(Generator {
            poll: Poll::new().map_err(|e| format!("mio: {e}"))?,
            events: Events::with_capacity(1024),
            ready: Vec::with_capacity(1024),
            addr,
            server_pid,
            rpc,
            epoch: now,
            clients,
            joined: Vec::new(),
            retry: (0..count).collect(),
            attempts: 0,
            counters: Counters::default(),
            schedule: None,
            request,
        })
    }

    fn measure(&mut self) -> Result<Figures> {
        let mut f = Figures::default();
        // Join: at most JOIN_WINDOW clients between TCP connect and their id.
        let start = Instant::now();
        let deadline = start + JOIN_LIMIT;
        while self.joined.len() < self.clients.len() && Instant::now() < deadline {
            self.start_joins();
            self.step(deadline.min(Instant::now() + Duration::from_millis(10)))?;
        }
        f.join_s = start.elapsed().as_secs_f64();
        f.joined = self.joined.len();
        f.join_attempts = self.attempts;
        for i in self.retry.drain(..).collect::<Vec<_>>() {
            self.clients[i].state = State::Dead;
        }
        for i in 0..self.clients.len() {
            if !matches!(self.clients[i].state, State::Joined | State::Dead) {
                self.drop_client(i);
            }
        }
        if self.joined.is_empty() {
            return Err(format!("no client joined within {} s", JOIN_LIMIT.as_secs()));
        }
        // Warm-up: one RPC from each client, answered, so that both sides cache the node path.
        for k in 0..self.joined.len() {
            self.send_ping(self.joined[k], None);
        }
        let want = self.joined.len() as u64;
        self.wait(|g| g.counters.answered >= want, Duration::from_secs(30), "the warm-up RPCs' answers")?;
        // Idle.
        f.idle = self.phase("idle", IDLE)?;
        f.idle_peer = self.phase("idle-peer", IDLE_PEER)?;
        // Load: open loop from now on; the sample starts after RAMP.
        self.counters = Counters { control: std::mem::take(&mut self.counters.control), ..Counters::default() };
        let per_s = RATE * self.joined.len() as f64;
        f.offered_per_s = per_s;
        self.schedule = Some(Schedule { start: Instant::now(), per_s, next: 0 });
        self.run_for(RAMP)?;
        self.counters.window = (self.now_us(), u64::MAX);
        let answered_before = self.counters.answered;
        let load_start = Instant::now();
        f.load = self.phase("load", LOAD)?;
        f.answered_per_s = (self.counters.answered - answered_before) as f64 / load_start.elapsed().as_secs_f64();
        // `phase` closed the window when it sent `end`; now stop sending and wait for the rest.
        self.schedule = None;
        let sent = self.counters.sent;
        let _ = self.wait(|g| g.counters.answered >= sent, DRAIN, "");
        f.unanswered = self.counters.sent - self.counters.answered;
        f.handled_per_s = f.load.rpcs / f.load.seconds.max(1e-6);
        let rtts = &mut self.counters.rtts;
        rtts.sort_unstable();
        f.rtt_p50_ms = rank(rtts, 0.5) as f64 / 1000.0;
        f.rtt_p99_ms = rank(rtts, 0.99) as f64 / 1000.0;
        f.generator_lag_ms = self.counters.max_lag.as_secs_f64() * 1000.0;
        f.dropped = self.joined.iter().filter(|&&i| self.clients[i].state != State::Joined).count();
        // Done: the server quits by itself; our sockets close with the generator.
        self.send_control("quit");
        let _ = self.run_for(Duration::from_millis(100));
        Ok(f)
    }

    /// A measured phase: `begin NAME` … `end NAME` on the controller, the process CPU in between.
    fn phase(&mut self, name: &str, length: Duration) -> Result<Phase> {
        self.control(&format!("begin {name}"), &format!("begun {name}"))?;
        let (server0, ours0, t0) = (cpu_ticks(&self.server_pid.to_string()), cpu_ticks("self"), Instant::now());
        self.run_for(length)?;
        let (server1, ours1, t1) = (cpu_ticks(&self.server_pid.to_string()), cpu_ticks("self"), Instant::now());
        self.counters.window.1 = self.now_us();
        let line = self.control(&format!("end {name}"), &format!("PHASE {name} "))?;
        let kv: BTreeMap<&str, f64> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter_map(|(k, v)| Some((k, v.parse().ok()?)))
            .collect();
        let get = |k: &str| kv.get(k).copied().ok_or_else(|| format!("the server's phase line lacks {k}: {line}"));
        let wall = (t1 - t0).as_secs_f64();
        let share = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => (b.saturating_sub(a)) as f64 / HZ / wall * 100.0,
            _ => f64::NAN,
        };
        Ok(Phase {
            frames: get("frames")?,
            fps: get("fps")?,
            poll_p50_us: get("poll_p50_us")?,
            poll_p99_us: get("poll_p99_us")?,
            poll_max_us: get("poll_max_us")?,
            rpcs: get("rpcs")?,
            seconds: get("seconds")?,
            server_cpu: share(server0, server1),
            generator_cpu: share(ours0, ours1),
        })
    }

    /// Sends a control text (RAW) from the controller and waits for the answer starting with `want`.
    fn control(&mut self, text: &str, want: &str) -> Result<String> {
        self.send_control(text);
        let want = want.to_string();
        self.wait(
            |g| g.counters.control.iter().any(|l| l.starts_with(&want)),
            Duration::from_secs(30),
            &format!("the server's answer to '{text}'"),
        )?;
        let at = self.counters.control.iter().position(|l| l.starts_with(&want)).expect("waited for it");
        Ok(self.counters.control.remove(at).expect("present"))
    }

    fn send_control(&mut self, text: &str) {
        let mut packet = vec![3u8];
        packet.extend_from_slice(text.as_bytes());
        let controller = self.joined[0];
        send_frame(&mut self.clients[controller], &packet);
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Calls `ping` from client `i`; `scheduled` is when the schedule wanted it sent.
    fn send_ping(&mut self, i: usize, scheduled: Option<Instant>) {
        let now_us = self.now_us();
        let c = &mut self.clients[i];
        if c.state != State::Joined {
            return;
        }
        c.seq = c.seq.wrapping_add(1);
        let mut packet = [0u8; 19];
        packet[..3].copy_from_slice(&[0x80, CACHE_ID, self.rpc.ping_id]);
        packet[3..11].copy_from_slice(&now_us.to_le_bytes());
        packet[11..15].copy_from_slice(&(i as u32).to_le_bytes());
        packet[15..19].copy_from_slice(&c.seq.to_le_bytes());
        send_frame(c, &packet);
        let counters = &mut self.counters;
        counters.sent += 1;
        if now_us >= counters.window.0 && now_us <= counters.window.1 {
            counters.window_sent += 1;
        }
        if let Some(at) = scheduled {
            counters.max_lag = counters.max_lag.max(Instant::now().saturating_duration_since(at));
        }
    }

    fn run_for(&mut self, length: Duration) -> Result<()> {
        let until = Instant::now() + length;
        while Instant::now() < until {
            self.step(until)?;
        }
        Ok(())
    }

    fn wait(&mut self, done: impl Fn(&Generator) -> bool, limit: Duration, what: &str) -> Result<()> {
        let until = Instant::now() + limit;
        while !done(self) {
            if Instant::now() >= until {
                return Err(format!("no {what} within {} s", limit.as_secs()));
            }
            self.step(until.min(Instant::now() + Duration::from_millis(10)))?;
        }
        Ok(())
    }

    /// Sends the RPCs that are due.
    fn send_due(&mut self) {
        let Some(s) = &self.schedule else { return };
        let (now, n, mut next) = (Instant::now(), self.joined.len() as u64, s.next);
        loop {
            let at = self.schedule.as_ref().expect("scheduled").due(next);
            if at > now {
                break;
            }
            self.send_ping(self.joined[(next % n) as usize], Some(at));
            next += 1;
        }
        if let Some(s) = &mut self.schedule {
            s.next = next;
        }
    }

    /// Sends what is due, waits for socket events (until `limit` or the next scheduled RPC),
    /// and handles them.
    fn step(&mut self, limit: Instant) -> Result<()> {
        self.send_due();
        let until = match &self.schedule {
            Some(s) => limit.min(s.due(s.next)),
            None => limit,
        };
        let timeout = until.saturating_duration_since(Instant::now());
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("mio poll: {e}")),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| {
            (e.token().0, e.is_readable() || e.is_read_closed() || e.is_error(), e.is_writable() || e.is_error())
        }));
        for &(i, readable, writable) in &ready {
            if i < self.clients.len() {
                self.service(i, readable, writable);
            }
        }
        self.ready = ready;
        self.send_due();
        Ok(())
    }

    /// Starts connections while fewer than JOIN_WINDOW are joining; gives up attempts that take
    /// longer than ATTEMPT_LIMIT.
    fn start_joins(&mut self) {
        let now = Instant::now();
        let joining = |s: State| matches!(s, State::Connecting | State::Upgrading | State::WaitingId);
        for i in 0..self.clients.len() {
            if joining(self.clients[i].state) && now - self.clients[i].since > ATTEMPT_LIMIT {
                self.fail(i);
            }
        }
        let mut in_flight = self.clients.iter().filter(|c| joining(c.state)).count();
        while in_flight < JOIN_WINDOW {
            let Some(i) = self.retry.pop_front() else { break };
            self.attempts += 1;
            let c = &mut self.clients[i];
            c.inbuf.clear();
            c.out.clear();
            c.since = now;
            match TcpStream::connect(self.addr) {
                Ok(mut sock) => {
                    let _ = sock.set_nodelay(true);
                    if self
                        .poll
                        .registry()
                        .register(&mut sock, Token(i), Interest::READABLE | Interest::WRITABLE)
                        .is_ok()
                    {
                        c.sock = Some(sock);
                        c.state = State::Connecting;
                        in_flight += 1;
                        continue;
                    }
                    self.retry.push_back(i);
                }
                Err(_) => self.retry.push_back(i),
            }
            // Connecting failed at once (out of ports or descriptors): try again at the next step.
            break;
        }
    }

    /// A client's connection failed: before it joined, it tries again; after, it is gone.
    fn fail(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.sock = None;
        if c.state == State::Joined {
            c.state = State::Dead;
        } else if c.state != State::Dead {
            c.state = State::Waiting;
            self.retry.push_back(i);
        }
    }

    fn drop_client(&mut self, i: usize) {
        self.clients[i].sock = None;
        self.clients[i].state = State::Dead;
    }

    fn service(&mut self, i: usize, readable: bool, writable: bool) {
        let c = &mut self.clients[i];
        let Some(sock) = c.sock.as_mut() else { return };
        if c.state == State::Connecting {
            if !matches!(sock.take_error(), Ok(None)) {
                return self.fail(i);
            }
            match sock.peer_addr() {
                Ok(_) => {
                    c.state = State::Upgrading;
                    queue(c, &self.request);
                }
                Err(e) if e.kind() == ErrorKind::NotConnected => return,
                Err(_) => return self.fail(i),
            }
        }
        let c = &mut self.clients[i];
        if writable && !flush(c) {
            return self.fail(i);
        }
        if readable {
            let Some(sock) = c.sock.as_mut() else { return };
            let mut buf = [0u8; 16384];
            loop {
                match sock.read(&mut buf) {
                    Ok(0) => return self.fail(i),
                    Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return self.fail(i),
                }
            }
            self.parse(i);
        }
    }

    /// Handles what client `i` has read: the upgrade answer, then whole frames.
    fn parse(&mut self, i: usize) {
        let mut data = std::mem::take(&mut self.clients[i].inbuf);
        let mut pos = 0;
        if self.clients[i].state == State::Upgrading {
            let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                self.clients[i].inbuf = data;
                return;
            };
            if !data.starts_with(b"HTTP/1.1 101") {
                return self.fail(i);
            }
            pos = end + 4;
            self.clients[i].state = State::WaitingId;
        }
        loop {
            let buf = &data[pos..];
            if buf.len() < 2 {
                break;
            }
            let (fin, op, masked) = (buf[0] & 0x80 != 0, buf[0] & 0x0f, buf[1] & 0x80 != 0);
            let (len, header) = match buf[1] & 0x7f {
                126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
                127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize, 10),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if buf.len() < header + len {
                break;
            }
            // Servers send whole messages, unmasked.
            if !fin || masked || op == 0 {
                return self.fail(i);
            }
            let payload = &buf[header..header + len];
            pos += header + len;
            match op {
                1 | 2 => self.on_message(i, payload),
                8 => return self.fail(i),
                9 => send_control_frame(&mut self.clients[i], 0x8a, payload),
                _ => {}
            }
            if self.clients[i].sock.is_none() {
                return;
            }
        }
        data.drain(..pos);
        self.clients[i].inbuf = data;
    }

    fn on_message(&mut self, i: usize, p: &[u8]) {
        let c = &mut self.clients[i];
        if c.state == State::WaitingId {
            if p.len() != 4 {
                return self.fail(i);
            }
            c.state = State::Joined;
            self.joined.push(i);
            // Cache the node path on the server, as an engine client does before its first RPC.
            let mut packet = vec![1u8];
            packet.extend_from_slice(self.rpc.md5.as_bytes());
            packet.push(0);
            packet.extend_from_slice(&u32::from(CACHE_ID).to_le_bytes());
            packet.extend_from_slice(self.rpc.path.as_bytes());
            packet.push(0);
            send_frame(c, &packet);
            return;
        }
        let Some(&meta) = p.first() else { return };
        match meta & 7 {
            // REMOTE_CALL: pong(bytes).
            0 => {
                let node = match (meta >> 4) & 3 {
                    0 => 1,
                    1 => 2,
                    _ => 4,
                };
                let name = if (meta >> 6) & 1 == 0 { 1 } else { 2 };
                let start = 1 + node + name;
                let mut end = p.len();
                if node == 4 && p.len() >= 5 {
                    let target = u32::from_le_bytes(p[1..5].try_into().unwrap());
                    if target & 0x8000_0000 != 0 {
                        end = (target & 0x7fff_ffff) as usize;
                    }
                }
                if end > p.len() || end < start + 8 {
                    return;
                }
                let sent_us = u64::from_le_bytes(p[start..start + 8].try_into().unwrap());
                let now_us = self.now_us();
                let k = &mut self.counters;
                k.answered += 1;
                if sent_us >= k.window.0 && sent_us <= k.window.1 {
                    k.rtts.push(u32::try_from(now_us.saturating_sub(sent_us)).unwrap_or(u32::MAX));
                }
            }
            // SIMPLIFY_PATH: confirm, so that the server sends short RPCs.
            1 if p.len() >= 38 => {
                let mut packet = [2u8, 1, 0, 0, 0, 0];
                packet[2..6].copy_from_slice(&p[34..38]);
                send_frame(c, &packet);
            }
            // RAW: an answer to a control text.
            3 => self.counters.control.push_back(String::from_utf8_lossy(&p[1..]).into_owned()),
            _ => {}
        }
    }
}

/// Sends one masked binary message.
fn send_frame(c: &mut Client, payload: &[u8]) {
    send_control_frame(c, 0x82, payload);
}

/// Sends one masked frame with the first byte `b0`.
fn send_control_frame(c: &mut Client, b0: u8, payload: &[u8]) {
    let mut frame = Vec::with_capacity(payload.len() + 8);
    frame.push(b0);
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=65535 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&c.mask);
    frame.extend(payload.iter().enumerate().map(|(k, b)| b ^ c.mask[k % 4]));
    queue(c, &frame);
}

/// Writes at once what the socket takes; keeps the rest for the next writable event.
fn queue(c: &mut Client, bytes: &[u8]) {
    c.out.extend_from_slice(bytes);
    flush(c);
}

/// Writes what is queued; false when the connection failed.
fn flush(c: &mut Client) -> bool {
    let Some(sock) = c.sock.as_mut() else { return false };
    while !c.out.is_empty() {
        match sock.write(&c.out) {
            Ok(0) => return false,
            Ok(n) => {
                c.out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Not connected yet: the request goes out at the writable event.
            Err(e) if e.kind() == ErrorKind::NotConnected => return true,
            Err(_) => return false,
        }
    }
    true
}

/// User + system CPU ticks of a process (`self` or a pid), all threads.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Nearest-rank quantile of sorted values.
fn rank(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let k = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// An integer with thousands separators.
fn int(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    let digits = format!("{:.0}", x.abs());
    let mut out = String::new();
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if x < 0.0 {
        out.insert(0, '-');
    }
    out
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
