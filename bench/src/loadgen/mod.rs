//! A WebSocket load generator that should not be the bottleneck: one thread, non-blocking
//! sockets under mio, thousands of client connections to one server on 127.0.0.1.
//!
//! Clients speak plain `ws://` with masked frames, text or binary, and send the same message
//! over and over (one masked frame built once per run, written without copies; the server cannot
//! tell). Round trips are timed per connection in order: an echo server answers a connection's
//! messages in the order they came, so the oldest send time not yet answered is the answer's.
//! Two ways to load: closed loop (each connection keeps `window` messages in flight: one goes out
//! for each echo) and open loop (each connection sends `per_s` messages a second on a fixed
//! schedule, whatever the answers do). Figures: messages and payload MB echoed per second in the
//! measured window, round trip p50/p99/max, messages never echoed by the end of the drain, and the
//! CPU time of the server process and of this process over the window.
//!
//! A second kind of server is raw TCP (`Target::raw`): no upgrade (a first 6-byte probe must
//! come back instead), and the echo comes back as the masked frames that were sent, which the
//! reader accepts. A controller connection (not a load connection) sends the servers' control
//! texts (`__bench__ WORDS`, see `echo/`) and reads their answers. The WebSocket client side is
//! the core's own protocol code (`crate::client`); `sockets.rs` holds what this shares with `mp/`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::Result;

mod conn;
mod drive;
pub mod sockets;

use conn::{Conn, Msg, State};
use sockets::Schedule;

/// The controller connection's token (load connections use their index).
const CTL: Token = Token(usize::MAX - 1);
/// Raw TCP: what a connection sends first and waits to see echoed before it counts as open (an
/// empty masked pong, which a WebSocket server would not echo). A TCP connect completes in the
/// kernel before the server accepts it; without this the generator would open connections as
/// fast as the kernel completes handshakes and overflow the server's accept queue.
const RAW_PROBE: [u8; 6] = [0x8a, 0x80, 0, 0, 0, 0];

/// The server to load.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    /// Raw TCP echo: no upgrade, frames come back masked.
    pub raw: bool,
    /// The server process, for its CPU time.
    pub pid: u32,
}

/// How each connection sends.
#[derive(Debug, Clone, Copy)]
pub enum Pattern {
    /// Keep this many messages in flight.
    Closed { window: usize },
    /// Send this many messages a second, open loop.
    Open { per_s: f64 },
}

/// One load: what every load connection sends.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub size: usize,
    pub text: bool,
    pub pattern: Pattern,
    /// Messages of this length from the server are counted apart (a broadcast), not as echoes.
    pub other_len: Option<usize>,
}

/// What a measured window and the drain after it showed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Load connections open at the start of the window, and those that failed by the end.
    pub conns: usize,
    pub dropped: usize,
    pub seconds: f64,
    pub msgs_per_s: f64,
    /// Echoed payload, megabytes (10^6) a second, one way.
    pub mb_per_s: f64,
    pub rtt_p50_us: u32,
    pub rtt_p99_us: u32,
    pub rtt_max_us: u32,
    pub sent: u64,
    pub echoed: u64,
    /// Sent and never echoed by the end of the drain.
    pub lost: u64,
    /// Echoes of the wrong type or length, or with nothing in flight.
    pub bad: u64,
    /// Messages counted apart (`Load::other_len`) by load connections.
    pub other: u64,
    /// CPU over the window, one core = 100 %.
    pub server_cpu: f64,
    pub generator_cpu: f64,
    /// Open loop: the most a message went out after its scheduled time.
    pub lag_ms: f64,
}

#[derive(Default)]
struct Counters {
    sent: u64,
    echoed: u64,
    bad: u64,
    other: u64,
    dropped: usize,
    /// The measured window is open: echoes and their round trips count.
    window: bool,
    window_echoed: u64,
    rtts: Vec<u32>,
    max_lag: Duration,
}

pub struct Fleet {
    poll: Poll,
    events: Events,
    target: Target,
    conns: Vec<Conn>,
    /// Connections started and not open or failed yet.
    connecting: usize,
    /// While connecting with retries: the connections that failed before they were open.
    retry: Option<VecDeque<usize>>,
    ctl: Option<Conn>,
    answers: VecDeque<String>,
    /// The current load, its masked frame, and whether messages go out.
    load: Option<Load>,
    frame: Vec<u8>,
    sending: bool,
    schedule: Option<Schedule>,
    /// Load connections the open-loop schedule sends on, in turn.
    order: Vec<usize>,
    epoch: Instant,
    counters: Counters,
    window_start: (Instant, Option<u64>, Option<u64>),
    buf: Vec<u8>,
    msgs: Vec<Msg>,
}

impl Fleet {
    pub fn new(target: Target) -> Result<Fleet> {
        Ok(Fleet {
            poll: Poll::new().map_err(|e| format!("mio: {e}"))?,
            events: Events::with_capacity(1024),
            target,
            conns: Vec::new(),
            connecting: 0,
            retry: None,
            ctl: None,
            answers: VecDeque::new(),
            load: None,
            frame: Vec::new(),
            sending: false,
            schedule: None,
            order: Vec::new(),
            epoch: Instant::now(),
            counters: Counters::default(),
            window_start: (Instant::now(), None, None),
            buf: vec![0; 256 * 1024],
            msgs: Vec::new(),
        })
    }

    /// Starts one connection; its token is `token`.
    fn dial(&mut self, token: Token, keep: bool) -> Option<Conn> {
        let mut sock = TcpStream::connect(self.target.addr).ok()?;
        let _ = sock.set_nodelay(true);
        self.poll.registry().register(&mut sock, token, Interest::READABLE | Interest::WRITABLE).ok()?;
        Some(Conn::new(Some(sock), keep, self.target.raw))
    }

    /// Opens the controller connection (not for raw targets).
    pub fn open_controller(&mut self) -> Result<()> {
        let conn = self.dial(CTL, true).ok_or("cannot connect the controller")?;
        self.ctl = Some(conn);
        let settled =
            |f: &Fleet| f.ctl.as_ref().is_some_and(|c| !matches!(c.state, State::Connecting | State::Upgrading));
        self.wait(settled, Duration::from_secs(30))?;
        match self.ctl.as_ref().map(|c| c.state) {
            Some(State::Open) => Ok(()),
            _ => Err("the controller's connection failed".into()),
        }
    }

    /// Sends `__bench__ WORDS` on the controller and returns the server's answer (what follows
    /// `__bench__ ` in it). Load connections keep going meanwhile.
    pub fn control(&mut self, words: &str) -> Result<String> {
        let ctl = self.ctl.as_mut().ok_or("no controller")?;
        ctl.queue_text(&format!("__bench__ {words}"));
        if !ctl.flush(&[]) {
            return Err(format!("the controller's connection failed sending '{words}'"));
        }
        let done = |f: &Fleet| !f.answers.is_empty() || f.ctl.as_ref().is_none_or(|c| c.state == State::Dead);
        self.wait(done, Duration::from_secs(30)).map_err(|e| format!("{e} (answer to '{words}')"))?;
        self.answers.pop_front().ok_or_else(|| format!("the controller's connection closed (answer to '{words}')"))
    }

    /// Adds `n` load connections, at most `window` of them connecting at once; with `retry`, one
    /// that fails before it is open (refused, reset, closed by a handshake timeout) starts again.
    /// Returns how many are open when all are done or `limit` has passed, and the time it took.
    pub fn connect(&mut self, n: usize, window: usize, limit: Duration, retry: bool) -> (usize, Duration) {
        let start = Instant::now();
        let deadline = start + limit;
        let (first, mut started) = (self.conns.len(), 0);
        self.retry = retry.then(VecDeque::new);
        loop {
            while self.connecting < window {
                let slot = match self.retry.as_mut().and_then(VecDeque::pop_front) {
                    Some(i) => i,
                    None if started < n => {
                        started += 1;
                        self.conns.push(Conn::new(None, false, false));
                        self.conns.len() - 1
                    }
                    None => break,
                };
                // Out of ports or descriptors: counts as not connected.
                if let Some(conn) = self.dial(Token(slot), false) {
                    self.conns[slot] = conn;
                    self.connecting += 1;
                }
            }
            let now = Instant::now();
            let waiting = self.retry.as_ref().is_some_and(|r| !r.is_empty());
            if (started == n && self.connecting == 0 && !waiting) || now >= deadline {
                break;
            }
            let _ = self.step(deadline.min(now + Duration::from_millis(10)));
        }
        self.retry = None;
        let open = self.conns[first..].iter().filter(|c| c.state == State::Open).count();
        (open, start.elapsed())
    }

    /// Closes every load connection (the controller stays).
    pub fn close_all(&mut self) {
        for c in &mut self.conns {
            if let Some(mut sock) = c.sock.take() {
                let _ = self.poll.registry().deregister(&mut sock);
            }
        }
        self.conns.clear();
        self.connecting = 0;
        self.load = None;
        self.sending = false;
        self.schedule = None;
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}
