//! The load generator of the multiplayer benchmark: 1,000 clients speaking the engine's
//! WebSocket multiplayer protocol and `SceneMultiplayer` RPC packets (see the module above).

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::*;

mod conn;

use crate::client::{Frames, Upgrade};
use crate::loadgen::sockets::Schedule;
use conn::send_frame;

pub(super) struct RpcInfo {
    md5: String,
    ping_id: u8,
    path: String,
}

impl RpcInfo {
    pub(super) fn parse(line: &str) -> Result<RpcInfo> {
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
    /// The upgrade, and its answer while incomplete; then the frames in.
    upgrade: Upgrade,
    inbuf: Vec<u8>,
    frames: Option<Frames>,
    out: Vec<u8>,
    seq: u32,
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

pub(super) struct Generator {
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
    /// Open loop: RPC number `n` goes to joined client `n % joined`.
    schedule: Option<Schedule>,
}

impl Generator {
    pub(super) fn new(addr: SocketAddr, server_pid: u32, rpc: RpcInfo, count: usize) -> Result<Generator> {
        let now = Instant::now();
        let clients = (0..count)
            .map(|_| Client {
                sock: None,
                state: State::Waiting,
                since: now,
                upgrade: Upgrade::new(),
                inbuf: Vec::new(),
                frames: None,
                out: Vec::new(),
                seq: 0,
            })
            .collect();
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
        })
    }

    pub(super) fn measure(&mut self) -> Result<Figures> {
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
            c.frames = None;
            c.upgrade = Upgrade::new();
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
}
