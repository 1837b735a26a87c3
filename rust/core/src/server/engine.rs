//! The server's working part: the listener, the connection table and the timers, driven by
//! readiness. On the main-thread path [`super::Server::poll`] runs it; with an I/O thread,
//! that thread does (see [`super::io_thread`]), and hands what happened over in a
//! [`Handover`] instead of returning it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::ServerConfig;

use super::ServerEvent;
use crate::config::Config;
use crate::connection::{Attention, Connection, Event, ReadyState, SharedConnection};
use crate::handshake::Rejection;

pub(crate) const LISTENER: Token = Token(0);
/// The I/O thread's waker (connection ids are below 2^31).
pub(crate) const WAKER: Token = Token(usize::MAX);

/// What the I/O thread hands the game's poll: the server's own warnings, and the connections
/// with events waiting (each listed once until the game takes them).
#[derive(Default)]
pub(crate) struct Handover {
    pub warnings: Vec<ServerEvent>,
    pub ready: Vec<(u32, SharedConnection)>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) struct Engine {
    /// Taken by the I/O thread, which waits on it without holding the engine's lock.
    pub poll: Option<Poll>,
    events: Events,
    registry: Registry,
    pub listener: TcpListener,
    /// Copied into every accepted connection.
    pub config: Config,
    pub tls: Option<Arc<ServerConfig>>,
    pub max_peers: usize,
    pub hold_requests: bool,
    pub conns: HashMap<u32, SharedConnection>,
    pub attention: Arc<Attention>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    scheduled: HashMap<u32, Instant>,
    /// Events for the main-thread path's poll.
    pub out: Vec<ServerEvent>,
    /// With an I/O thread: where what happened goes instead of `out`.
    pub handover: Option<Arc<Mutex<Handover>>>,
    /// Main-thread path: the connections the latest poll removed from `conns` (closed), so
    /// that the game can still find one whose whole life its events report.
    pub departed: HashMap<u32, SharedConnection>,
    ready: Vec<(u32, SharedConnection)>,
}

impl Engine {
    pub fn new(
        poll: Poll,
        listener: TcpListener,
        config: Config,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Engine> {
        Ok(Engine {
            registry: poll.registry().try_clone()?,
            poll: Some(poll),
            events: Events::with_capacity(1024),
            listener,
            config,
            tls,
            max_peers: 4096,
            hold_requests: false,
            conns: HashMap::new(),
            attention: Arc::new(Attention::default()),
            timers: BinaryHeap::new(),
            scheduled: HashMap::new(),
            out: Vec::new(),
            handover: None,
            departed: HashMap::new(),
            ready: Vec::new(),
        })
    }

    /// The main-thread path's poll: what is ready now, without waiting.
    pub fn poll_now(&mut self, now: Instant) {
        self.departed.clear();
        let Some(poll) = self.poll.as_mut() else { return };
        if let Err(e) = poll.poll(&mut self.events, Some(Duration::ZERO)) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.out.push(ServerEvent::Warning(format!("polling the server's sockets failed: {e}")));
            }
        }
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        self.handle(&events, now);
        self.events = events;
    }

    /// Connections that count against `max_peers`: every one not yet closed.
    fn live_count(&self) -> usize {
        self.conns.values().filter(|c| c.borrow().live_state() != ReadyState::Closed).count()
    }

    /// Accepts, reads and writes what `events` reported ready, what asked to be woken or
    /// written, and what is due.
    pub fn handle(&mut self, events: &Events, now: Instant) {
        let mut active = Vec::new();
        let mut accept = false;
        for ev in events.iter() {
            match ev.token() {
                LISTENER => accept = true,
                WAKER => {}
                Token(t) => active.push(t as u32),
            }
        }
        if accept {
            self.accept(now, &mut active);
        }
        active.extend(self.attention.take_wake());
        if self.attention.has_thread() {
            // What the game sent since is written here, off its thread, by a whole step of its
            // connection: reading first, as a poll on the main-thread path does, so that a
            // close frame the remote sent before it stopped reading is seen, not lost to the
            // failed write.
            active.extend(self.attention.take_later());
        }
        self.compact_timers();
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            if self.scheduled.get(&id) == Some(&t) {
                self.scheduled.remove(&id);
            }
            active.push(id);
        }
        active.sort_unstable();
        active.dedup();
        for id in active {
            self.drive(id, now);
        }
        self.hand_over();
    }

    /// With an I/O thread: what this round found goes to the game's next poll.
    pub fn hand_over(&mut self) {
        let Some(handover) = &self.handover else { return };
        if self.out.is_empty() && self.ready.is_empty() {
            return;
        }
        let mut h = lock(handover);
        h.warnings.append(&mut self.out);
        h.ready.append(&mut self.ready);
    }

    /// The earliest due timer.
    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// A timer outlives its connection until it comes due, which may be never (a deadline years
    /// away): once stale entries outnumber the live ones, the heap is rebuilt from `scheduled`.
    fn compact_timers(&mut self) {
        if self.timers.len() > 2 * self.scheduled.len() + 64 {
            self.timers = self.scheduled.iter().map(|(id, t)| Reverse((*t, *id))).collect();
        }
    }

    fn accept(&mut self, now: Instant, active: &mut Vec<u32>) {
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    let id = self.new_id();
                    if self.conns.len() >= self.max_peers && self.live_count() >= self.max_peers {
                        let rej =
                            Rejection { status: 503, reason: format!("the server is full ({} peers)", self.max_peers) };
                        self.out.push(ServerEvent::Warning(format!("refused {addr}: {}", rej.reason)));
                        // Kept (closed, not counted) while its socket lingers.
                        let mut conn = Connection::refuse(stream, &rej, self.config.clone(), now);
                        conn.set_attention(self.attention.clone(), id);
                        self.conns.insert(id, SharedConnection::new(conn));
                        active.push(id);
                        continue;
                    }
                    let mut conn =
                        Connection::accept(stream, self.config.clone(), self.tls.clone(), self.hold_requests, now);
                    conn.set_attention(self.attention.clone(), id);
                    if let Some(s) = conn.socket_mut() {
                        if let Err(e) =
                            self.registry.register(s, Token(id as usize), Interest::READABLE | Interest::WRITABLE)
                        {
                            self.out.push(ServerEvent::Warning(format!("could not watch the socket of {addr}: {e}")));
                            continue;
                        }
                    }
                    self.conns.insert(id, SharedConnection::new(conn));
                    active.push(id);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    // EMFILE and the like: leave the rest in the backlog for the next poll.
                    self.out.push(ServerEvent::Warning(format!("accepting a connection failed: {e}")));
                    return;
                }
            }
        }
    }

    /// A random id in [2, 2^31 - 1], unique among live connections (the engine's range).
    fn new_id(&self) -> u32 {
        loop {
            let id = rand::random::<u32>() & 0x7FFF_FFFF;
            if id >= 2 && !self.conns.contains_key(&id) {
                return id;
            }
        }
    }

    pub fn drive(&mut self, id: u32, now: Instant) {
        let Some(rc) = self.conns.get(&id).cloned() else {
            return;
        };
        let mut conn = rc.borrow_mut();
        conn.drive(now);
        if self.handover.is_some() {
            if conn.note_events() {
                self.ready.push((id, rc.clone()));
            }
        } else {
            server_events(id, conn.take_events(), &mut self.out);
        }
        if conn.live_state() == ReadyState::Closed && !conn.is_lingering() {
            drop(conn);
            if let Some(gone) = self.conns.remove(&id) {
                if self.handover.is_none() {
                    self.departed.insert(id, gone);
                }
            }
            self.scheduled.remove(&id);
            return;
        }
        if let Some(d) = conn.next_deadline() {
            if self.scheduled.get(&id) != Some(&d) {
                self.scheduled.insert(id, d);
                self.timers.push(Reverse((d, id)));
            }
        }
    }

    /// Closes every connection: open ones get a close frame with 1001 (going away), then all
    /// sockets are closed; what that reports goes to `out`.
    pub fn stop(&mut self, now: Instant) {
        let mut ids: Vec<u32> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids {
            if let Some(c) = self.conns.get(id) {
                let mut c = c.borrow_mut();
                c.close(Some(1001), "", now);
                c.drive(now);
                c.abort(now);
            }
            self.drive(*id, now);
        }
        self.conns.clear();
    }
}

/// A connection's events as the server reports them (events of a connection that never
/// opened, but its warnings, are the server's business only).
pub(crate) fn server_events(id: u32, events: Vec<Event>, out: &mut Vec<ServerEvent>) {
    for e in events {
        out.push(match e {
            Event::Request => ServerEvent::Request { id },
            Event::Open { protocol } => ServerEvent::Connected { id, protocol },
            Event::Message => ServerEvent::Data { id },
            Event::CloseRequest { code, reason } => ServerEvent::CloseRequest { id, code, reason },
            Event::Closed { was_open: true, clean } => ServerEvent::Disconnected { id, clean },
            Event::Closed { was_open: false, .. } => continue,
            Event::Warning(w) => ServerEvent::Warning(w),
        });
    }
}
