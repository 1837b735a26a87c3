//! The generator's loop: sending (closed or open loop), the socket events, the echoes and their
//! round trips, and the measured window.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use mio::Token;

use super::sockets::{connected, Schedule};
use super::*;
use crate::client;
use crate::figures::{cpu_ticks, rank, HZ};

impl Fleet {
    /// Starts `load` on every open load connection: closed loop fills each connection's window,
    /// open loop starts the schedule. Counters start from zero.
    pub fn start(&mut self, load: Load) {
        self.frame.clear();
        client::message(&mut self.frame, load.text, &vec![b'e'; load.size]);
        self.load = Some(load);
        self.sending = true;
        self.counters = Counters::default();
        self.order = (0..self.conns.len()).filter(|&i| self.conns[i].state == State::Open).collect();
        match load.pattern {
            Pattern::Closed { window } => {
                for k in 0..self.order.len() {
                    let i = self.order[k];
                    for _ in 0..window {
                        self.send(i);
                    }
                    self.flush(i);
                }
            }
            Pattern::Open { per_s } => {
                let per_s = per_s * self.order.len().max(1) as f64;
                self.schedule = Some(Schedule { start: Instant::now(), per_s, next: 0 });
            }
        }
    }

    /// Queues one load message on connection `i` (written by the next flush).
    fn send(&mut self, i: usize) {
        let now = self.now_us();
        let c = &mut self.conns[i];
        if c.state == State::Open {
            c.queued += 1;
            c.sent_at.push_back(now);
            self.counters.sent += 1;
        }
    }

    fn flush(&mut self, i: usize) {
        if !self.conns[i].flush(&self.frame) {
            self.fail(Token(i));
        }
    }

    pub fn run_for(&mut self, length: Duration) -> Result<()> {
        let until = Instant::now() + length;
        while Instant::now() < until {
            self.step(until)?;
        }
        Ok(())
    }

    /// Runs until `done` holds, at most `limit`.
    pub(super) fn wait(&mut self, done: impl Fn(&Fleet) -> bool, limit: Duration) -> Result<()> {
        let until = Instant::now() + limit;
        while !done(self) {
            if Instant::now() >= until {
                return Err(format!("nothing within {} s", limit.as_secs_f64()));
            }
            self.step(until.min(Instant::now() + Duration::from_millis(10)))?;
        }
        Ok(())
    }

    /// Opens the measured window: echoes and round trips count from now on.
    pub fn begin_window(&mut self) {
        self.counters.window = true;
        self.counters.window_echoed = 0;
        self.counters.rtts.clear();
        self.window_start = (Instant::now(), cpu_ticks(&self.target.pid.to_string()), cpu_ticks("self"));
    }

    /// Closes the measured window; its figures (the drain adds the rest).
    pub fn end_window(&mut self) -> Report {
        let (t0, server0, ours0) = self.window_start;
        let (server1, ours1) = (cpu_ticks(&self.target.pid.to_string()), cpu_ticks("self"));
        let wall = t0.elapsed().as_secs_f64().max(1e-6);
        self.counters.window = false;
        let share = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 / HZ / wall * 100.0,
            _ => f64::NAN,
        };
        let size = self.load.map_or(0, |l| l.size) as f64;
        let echoed = self.counters.window_echoed as f64;
        let rtts = &mut self.counters.rtts;
        rtts.sort_unstable();
        Report {
            conns: self.order.len(),
            seconds: wall,
            msgs_per_s: echoed / wall,
            mb_per_s: echoed * size / wall / 1e6,
            rtt_p50_us: rank(rtts, 0.5),
            rtt_p99_us: rank(rtts, 0.99),
            rtt_max_us: rtts.last().copied().unwrap_or(0),
            server_cpu: share(server0, server1),
            generator_cpu: share(ours0, ours1),
            ..Report::default()
        }
    }

    /// Stops sending and waits (at most `limit`) for the echoes still due; adds the totals.
    pub fn drain(&mut self, report: &mut Report, limit: Duration) {
        self.sending = false;
        self.schedule = None;
        let _ = self.wait(|f| f.conns.iter().all(|c| c.state != State::Open || c.sent_at.is_empty()), limit);
        let k = &self.counters;
        report.lost = self.conns.iter().map(|c| c.sent_at.len() as u64).sum();
        (report.sent, report.echoed, report.bad, report.other) = (k.sent, k.echoed, k.bad, k.other);
        report.dropped = k.dropped;
        report.lag_ms = k.max_lag.as_secs_f64() * 1000.0;
    }

    /// Sends the open-loop messages that are due.
    fn send_due(&mut self) {
        let (Some(s), true) = (&self.schedule, self.sending) else { return };
        if self.order.is_empty() {
            return;
        }
        let (now, n, mut next) = (Instant::now(), self.order.len() as u64, s.next);
        loop {
            let at = self.schedule.as_ref().expect("scheduled").due(next);
            if at > now {
                break;
            }
            let i = self.order[(next % n) as usize];
            self.send(i);
            self.flush(i);
            self.counters.max_lag = self.counters.max_lag.max(Instant::now().saturating_duration_since(at));
            next += 1;
        }
        if let Some(s) = &mut self.schedule {
            s.next = next;
        }
    }

    /// Sends what is due, waits for socket events (until `limit` or the next scheduled
    /// message), and handles them.
    pub(super) fn step(&mut self, limit: Instant) -> Result<()> {
        self.send_due();
        let until = match (&self.schedule, self.sending) {
            (Some(s), true) => limit.min(s.due(s.next)),
            _ => limit,
        };
        let timeout = until.saturating_duration_since(Instant::now());
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("mio poll: {e}")),
        }
        let ready: Vec<(Token, bool, bool)> = self
            .events
            .iter()
            .map(|e| {
                (e.token(), e.is_readable() || e.is_read_closed() || e.is_error(), e.is_writable() || e.is_error())
            })
            .collect();
        for (token, readable, writable) in ready {
            self.service(token, readable, writable);
        }
        self.send_due();
        Ok(())
    }

    /// A connection's socket is ready: connect, write, read, and handle what it read.
    fn service(&mut self, token: Token, readable: bool, writable: bool) {
        let conn = match token {
            CTL => self.ctl.as_mut(),
            Token(i) => self.conns.get_mut(i),
        };
        let Some(conn) = conn else { return };
        let connecting = matches!(conn.state, State::Connecting | State::Upgrading);
        let mut msgs = std::mem::take(&mut self.msgs);
        let ok = io(conn, self.target.addr, &self.frame, &mut self.buf, &mut msgs, readable, writable);
        let open = conn.state == State::Open;
        if connecting && (open || !ok) && token != CTL {
            self.connecting -= 1;
        }
        if !ok {
            self.msgs = msgs;
            return self.fail(token);
        }
        for m in msgs.drain(..) {
            self.on_msg(token, m);
        }
        self.msgs = msgs;
        let conn = if token == CTL { self.ctl.as_mut() } else { self.conns.get_mut(token.0) };
        if let Some(conn) = conn.filter(|c| c.state != State::Dead) {
            if !conn.flush(&self.frame) {
                self.fail(token);
            }
        }
    }

    fn on_msg(&mut self, token: Token, m: Msg) {
        let conn = if token == CTL { self.ctl.as_mut() } else { self.conns.get_mut(token.0) };
        let Some(conn) = conn else { return };
        match m.op {
            8 => return self.fail(token),
            9 => return conn.queue_pong(&m.payload),
            1 if token == CTL => {
                if let Some(answer) = m.payload.strip_prefix(b"__bench__ ") {
                    self.answers.push_back(String::from_utf8_lossy(answer).into_owned());
                }
                return;
            }
            1 | 2 if token != CTL => {}
            _ => return,
        }
        let Some(load) = self.load else { return };
        let k = &mut self.counters;
        if m.len == load.size && m.op == if load.text { 1 } else { 2 } {
            let Some(sent) = conn.sent_at.pop_front() else {
                k.bad += 1;
                return;
            };
            k.echoed += 1;
            if k.window {
                k.window_echoed += 1;
                let now = self.epoch.elapsed().as_micros() as u64;
                k.rtts.push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
            }
            if self.sending && matches!(load.pattern, Pattern::Closed { .. }) {
                self.send(token.0);
            }
        } else if Some(m.len) == load.other_len {
            k.other += 1;
        } else {
            k.bad += 1;
        }
    }

    /// A connection failed or was closed by the server.
    fn fail(&mut self, token: Token) {
        let conn = if token == CTL { self.ctl.as_mut() } else { self.conns.get_mut(token.0) };
        let Some(conn) = conn else { return };
        if let Some(mut sock) = conn.sock.take() {
            let _ = self.poll.registry().deregister(&mut sock);
        }
        if conn.state == State::Open && self.sending && token != CTL {
            self.counters.dropped += 1;
        }
        let retry = matches!(conn.state, State::Connecting | State::Upgrading) && token != CTL;
        conn.state = State::Dead;
        if let (true, Some(queue)) = (retry, self.retry.as_mut()) {
            queue.push_back(token.0);
        }
    }
}

/// One connection's socket work: finish connecting, write, read; false when it failed.
fn io(
    c: &mut Conn,
    addr: std::net::SocketAddr,
    frame: &[u8],
    buf: &mut [u8],
    msgs: &mut Vec<Msg>,
    readable: bool,
    writable: bool,
) -> bool {
    if c.state == State::Connecting {
        match c.sock.as_ref().and_then(connected) {
            Some(true) => {
                let request = c.request(addr, &RAW_PROBE);
                c.extra.extend_from_slice(&request);
                c.state = State::Upgrading;
            }
            Some(false) => return true,
            None => return false,
        }
    }
    if (writable || !c.extra.is_empty()) && !c.flush(frame) {
        return false;
    }
    !readable || c.receive(buf, msgs)
}
