//! The two servers of `bench echo` that live in this binary, each run in its own process
//! (`bench serve core|raw`): our core without Godot, and raw TCP
//! echo as the physical bound.
//!
//! - core: `rust_websocket_core::Server` in a loop as a game's `_process` would call it: `poll`,
//!   then each `Data` event's messages sent back with their type, corked as
//!   `WebSocketServer.poll()` corks its handlers; the control protocol of
//!   `tests/godot/tools/bench_echo_server.gd` (the frame cost is `poll` plus the echoes plus the
//!   broadcast, `Server::broadcast`); at `fps 0` it loops without sleeping, as headless Godot
//!   does at full speed.
//! - raw: one thread, mio, every byte read written back at once (what the socket does not take
//!   waits, and reading pauses above 4 MiB queued); no WebSocket, no control protocol.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use rust_websocket_core::{Config, Server, ServerEvent};

use crate::Result;

/// Frames over this networking time are over a 60 fps frame's budget.
const BUDGET_US: u32 = 16_667;
/// A watchdog: the servers quit by themselves after this long.
const LIFETIME: Duration = Duration::from_secs(900);

pub fn run(kind: &str) -> Result<()> {
    match kind {
        "core" => core(),
        "raw" => raw(),
        _ => Err(format!("serve {kind}: core or raw")),
    }
}

/// What the control texts set, and the frame costs sampled.
struct Control {
    fps: u32,
    arm: bool,
    sampling: bool,
    sample_start: Instant,
    costs: Vec<u32>,
    state: Vec<u8>,
    every: Option<Duration>,
    next_broadcast: Instant,
    broadcasts: u64,
    quit: bool,
}

fn core() -> Result<()> {
    let config = Config { inbound_buffer_size: 65535, outbound_buffer_size: Some(65535), ..Config::default() };
    let mut server = Server::listen(([127, 0, 0, 1], 0).into(), config, None).map_err(|e| format!("listen: {e}"))?;
    server.set_max_peers(100_000);
    println!("LISTENING {}", server.local_addr().port());
    println!("PID {}", std::process::id());
    let started = Instant::now();
    let mut ctl = Control {
        fps: 0,
        arm: false,
        sampling: false,
        sample_start: started,
        costs: Vec::new(),
        state: Vec::new(),
        every: None,
        next_broadcast: started,
        broadcasts: 0,
        quit: false,
    };
    while !ctl.quit && started.elapsed() < LIFETIME {
        let t0 = Instant::now();
        if std::mem::take(&mut ctl.arm) {
            (ctl.sampling, ctl.sample_start) = (true, t0);
            ctl.costs.clear();
        }
        // As `WebSocketServer.poll()`: what the handlers send goes out when they are done.
        server.cork();
        for event in server.poll(t0) {
            if let ServerEvent::Data { id } = event {
                echo(&mut server, id, &mut ctl, t0);
            }
        }
        server.uncork(Instant::now());
        if let Some(every) = ctl.every.filter(|_| t0 >= ctl.next_broadcast) {
            ctl.next_broadcast = (ctl.next_broadcast + every).max(t0);
            ctl.broadcasts += 1;
            server.broadcast(&ctl.state, false, None, t0);
        }
        if ctl.sampling {
            ctl.costs.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
        }
        if ctl.fps > 0 {
            let next = t0 + Duration::from_secs_f64(1.0 / f64::from(ctl.fps));
            std::thread::sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    server.stop(Instant::now());
    Ok(())
}

/// Sends client `id`'s messages back; answers its control texts.
fn echo(server: &mut Server, id: u32, ctl: &mut Control, now: Instant) {
    let Some(conn) = server.peer(id) else { return };
    let mut controls = Vec::new();
    {
        let mut conn = conn.borrow_mut();
        while let Some(p) = conn.pop() {
            if p.text && p.data.starts_with(b"__bench__ ") {
                controls.push(String::from_utf8_lossy(&p.data[10..]).into_owned());
                continue;
            }
            let _ = conn.send(&p.data, p.text, now);
        }
    }
    for words in controls {
        let answer = format!("__bench__ {}", ctl.answer(&words, server));
        let _ = conn.borrow_mut().send(answer.as_bytes(), true, now);
    }
}

impl Control {
    fn answer(&mut self, words: &str, server: &mut Server) -> String {
        let words: Vec<&str> = words.split_whitespace().collect();
        let num = |k: usize| words.get(k).and_then(|w| w.parse::<f64>().ok()).unwrap_or(0.0);
        match words.first().copied().unwrap_or("") {
            "fps" => self.fps = num(1) as u32,
            "buffers" => {
                let mut config = server.config();
                config.inbound_buffer_size = num(1) as usize;
                config.outbound_buffer_size = Some(num(1) as usize);
                server.set_config(config);
            }
            "begin" => self.arm = true,
            "broadcast" => {
                self.state = vec![b'b'; num(1) as usize];
                self.every = Some(Duration::from_secs_f64(1.0 / num(2).max(1e-3)));
                (self.next_broadcast, self.broadcasts) = (Instant::now(), 0);
            }
            "end" => {
                (self.sampling, self.every) = (false, None);
                return self.sample_line(server.connection_count());
            }
            "peers" => return format!("peers={}", server.connection_count()),
            "quit" => self.quit = true,
            _ => return "unknown".into(),
        }
        "ok".into()
    }

    fn sample_line(&self, peers: usize) -> String {
        let mut sorted = self.costs.clone();
        sorted.sort_unstable();
        let rank = |q: f64| crate::figures::rank(&sorted, q);
        format!(
            "frames={} seconds={:.3} p50_us={} p99_us={} max_us={} over={} broadcasts={} peers={peers}",
            sorted.len(),
            self.sample_start.elapsed().as_secs_f64(),
            rank(0.5),
            rank(0.99),
            sorted.last().copied().unwrap_or(0),
            sorted.iter().filter(|&&c| c > BUDGET_US).count(),
            self.broadcasts,
        )
    }
}

/// A raw TCP connection: what was read and not written back yet.
struct RawConn {
    sock: TcpStream,
    out: Vec<u8>,
    pos: usize,
}

fn raw() -> Result<()> {
    const LISTENER: Token = Token(usize::MAX - 1);
    let mut listener = TcpListener::bind(([127, 0, 0, 1], 0).into()).map_err(|e| format!("listen: {e}"))?;
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(|e| e.to_string())?;
    println!("LISTENING {}", listener.local_addr().map_err(|e| e.to_string())?.port());
    println!("PID {}", std::process::id());
    let (mut events, mut buf) = (Events::with_capacity(1024), vec![0u8; 256 * 1024]);
    let mut conns: Vec<Option<RawConn>> = Vec::new();
    let started = Instant::now();
    while started.elapsed() < LIFETIME {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_secs(1))) {
            if e.kind() != ErrorKind::Interrupted {
                return Err(format!("poll: {e}"));
            }
        }
        for ev in events.iter() {
            if ev.token() == LISTENER {
                while let Ok((mut sock, _)) = listener.accept() {
                    let _ = sock.set_nodelay(true);
                    let slot = conns.iter().position(Option::is_none).unwrap_or(conns.len());
                    if poll.registry().register(&mut sock, Token(slot), Interest::READABLE | Interest::WRITABLE).is_ok()
                    {
                        let conn = Some(RawConn { sock, out: Vec::new(), pos: 0 });
                        if slot == conns.len() {
                            conns.push(conn)
                        } else {
                            conns[slot] = conn
                        }
                    }
                }
            } else if let Some(slot) = conns.get_mut(ev.token().0) {
                if slot.as_mut().is_some_and(|c| !c.service(&mut buf)) {
                    *slot = None;
                }
            }
        }
    }
    Ok(())
}

impl RawConn {
    /// Writes what waits, then reads and writes back until the socket would block; false when
    /// the connection ended.
    fn service(&mut self, buf: &mut [u8]) -> bool {
        loop {
            while self.pos < self.out.len() {
                match self.sock.write(&self.out[self.pos..]) {
                    Ok(0) => return false,
                    Ok(n) => self.pos += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            if self.pos == self.out.len() {
                self.out.clear();
                self.pos = 0;
            } else if self.out.len() - self.pos > 4 << 20 {
                return true;
            }
            let n = match self.sock.read(buf) {
                Ok(0) => return false,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            };
            let mut written = 0;
            if self.out.is_empty() {
                while written < n {
                    match self.sock.write(&buf[written..n]) {
                        Ok(0) => return false,
                        Ok(k) => written += k,
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
            }
            self.out.extend_from_slice(&buf[written..n]);
        }
    }
}
