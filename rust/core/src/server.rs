//! A WebSocket server: a mio listener plus the connections it accepted.
//!
//! `poll` costs work only for connections with activity: sockets that mio reports ready, ones
//! that asked to be woken (see [`WakeList`]), and ones whose timer (handshake timeout,
//! heartbeat) is due. Thousands of idle peers cost nothing per poll.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use rustls::ServerConfig;

use crate::config::Config;
use crate::connection::{Connection, Cork, Event, ReadyState, WakeList};
use crate::frames::write::Outgoing;
use crate::handshake::{error_response, Rejection};

use crate::connection::SharedConnection;

const LISTENER: Token = Token(0);

/// What a server poll reports, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// With `hold_requests`: an acceptable upgrade request from `id` waits for `approve`.
    Request {
        id: u32,
    },
    Connected {
        id: u32,
        protocol: String,
    },
    Data {
        id: u32,
    },
    CloseRequest {
        id: u32,
        code: u16,
        reason: String,
    },
    Disconnected {
        id: u32,
        clean: bool,
    },
    Warning(String),
}

pub struct Server {
    poll: Poll,
    events: Events,
    listener: TcpListener,
    local: SocketAddr,
    /// Copied into every accepted connection.
    pub config: Config,
    tls: Option<Arc<ServerConfig>>,
    /// Most simultaneous connections (in handshake or open); extra ones get HTTP 503.
    pub max_peers: usize,
    /// Hold each acceptable request for [`Server::approve`] (the `hold` of `Connection::accept`).
    pub hold_requests: bool,
    conns: HashMap<u32, SharedConnection>,
    wake: WakeList,
    cork: Rc<Cork>,
    timers: BinaryHeap<Reverse<(Instant, u32)>>,
    scheduled: HashMap<u32, Instant>,
    out: Vec<ServerEvent>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one).
    pub fn listen(addr: SocketAddr, config: Config, tls: Option<Arc<ServerConfig>>) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::bind(addr)?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let local = listener.local_addr()?;
        Ok(Server {
            poll,
            events: Events::with_capacity(1024),
            listener,
            local,
            config,
            tls,
            max_peers: 4096,
            hold_requests: false,
            conns: HashMap::new(),
            wake: Rc::new(RefCell::new(Vec::new())),
            cork: Rc::new(Cork::default()),
            timers: BinaryHeap::new(),
            scheduled: HashMap::new(),
            out: Vec::new(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A connection that completed its upgrade and is not closed.
    pub fn peer(&self, id: u32) -> Option<SharedConnection> {
        self.conns
            .get(&id)
            .filter(|c| matches!(c.borrow().ready_state(), ReadyState::Open | ReadyState::Closing))
            .cloned()
    }

    /// Number of connections held: in the handshake, open, closing, or draining after a failure.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections that count against `max_peers`: every one not yet closed.
    fn live_count(&self) -> usize {
        self.conns.values().filter(|c| c.borrow().ready_state() != ReadyState::Closed).count()
    }

    /// Accepts, reads and writes what is ready; returns what happened.
    pub fn poll(&mut self, now: Instant) -> Vec<ServerEvent> {
        let mut active = Vec::new();
        if let Err(e) = self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.out.push(ServerEvent::Warning(format!("polling the server's sockets failed: {e}")));
            }
        }
        let mut accept = false;
        for ev in self.events.iter() {
            match ev.token() {
                LISTENER => accept = true,
                Token(t) => active.push(t as u32),
            }
        }
        if accept {
            self.accept(now, &mut active);
        }
        active.append(&mut self.wake.borrow_mut());
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
        std::mem::take(&mut self.out)
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
                Ok((mut stream, addr)) => {
                    if self.conns.len() >= self.max_peers && self.live_count() >= self.max_peers {
                        let rej =
                            Rejection { status: 503, reason: format!("the server is full ({} peers)", self.max_peers) };
                        let _ = stream.write(&error_response(&rej));
                        crate::stats::refused();
                        self.out.push(ServerEvent::Warning(format!("refused {addr}: {}", rej.reason)));
                        continue;
                    }
                    let id = self.new_id();
                    let mut conn =
                        Connection::accept(stream, self.config.clone(), self.tls.clone(), self.hold_requests, now);
                    conn.set_waker(self.wake.clone(), id);
                    conn.set_cork(self.cork.clone());
                    if let Some(s) = conn.socket_mut() {
                        if let Err(e) = self.poll.registry().register(
                            s,
                            Token(id as usize),
                            Interest::READABLE | Interest::WRITABLE,
                        ) {
                            self.out.push(ServerEvent::Warning(format!("could not watch the socket of {addr}: {e}")));
                            continue;
                        }
                    }
                    self.conns.insert(id, Rc::new(RefCell::new(conn)));
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

    fn drive(&mut self, id: u32, now: Instant) {
        let Some(rc) = self.conns.get(&id).cloned() else {
            return;
        };
        let mut conn = rc.borrow_mut();
        conn.poll(now);
        for e in conn.take_events() {
            self.out.push(match e {
                Event::Request => ServerEvent::Request { id },
                Event::Open { protocol } => ServerEvent::Connected { id, protocol },
                Event::Message => ServerEvent::Data { id },
                Event::CloseRequest { code, reason } => ServerEvent::CloseRequest { id, code, reason },
                Event::Closed { was_open: true, clean } => ServerEvent::Disconnected { id, clean },
                Event::Closed { was_open: false, .. } => continue,
                Event::Warning(w) => ServerEvent::Warning(w),
            });
        }
        if conn.ready_state() == ReadyState::Closed && !conn.is_lingering() {
            drop(conn);
            self.conns.remove(&id);
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

    /// Until [`Server::uncork`], messages sent to this server's connections are framed but not
    /// written: a game that answers many messages in one poll's handlers makes one write per
    /// connection instead of one per message. The caps count them as queued.
    pub fn cork(&mut self) {
        self.cork.on.set(true);
    }

    /// Writes what was sent since [`Server::cork`]; sends write at once again. A connection
    /// whose write fails ends, and its ending is reported by the next poll.
    pub fn uncork(&mut self, now: Instant) {
        self.cork.on.set(false);
        let mut ids = std::mem::take(&mut *self.cork.written_later.borrow_mut());
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(conn) = self.conns.get(&id) {
                conn.borrow_mut().write_pending(now);
            }
        }
    }

    /// Sends one message to every open connection but `exclude`, framing it once for all that
    /// send the same bytes. Each connection's caps apply as for [`Connection::send`]; returns
    /// the connections that refused it and why (the others have it queued).
    pub fn broadcast(
        &mut self,
        data: &[u8],
        text: bool,
        exclude: Option<u32>,
        now: Instant,
    ) -> Vec<(u32, crate::SendError)> {
        let msg = Outgoing::new(data, text);
        let mut refused = Vec::new();
        for (&id, conn) in self.conns.iter().filter(|(id, _)| Some(**id) != exclude) {
            let mut conn = conn.borrow_mut();
            if conn.ready_state() != ReadyState::Open {
                continue;
            }
            if let Err(e) = conn.send_outgoing(&msg, now) {
                refused.push((id, e));
            }
        }
        refused
    }

    /// A connection whose request waits for [`Server::approve`].
    pub fn pending(&self, id: u32) -> Option<SharedConnection> {
        self.conns.get(&id).filter(|c| c.borrow().is_awaiting_approval()).cloned()
    }

    /// Answers the held request of `id` (see `Connection::approve`).
    pub fn approve(&mut self, id: u32, decision: Result<(), crate::handshake::Rejection>) {
        if let Some(c) = self.conns.get(&id) {
            c.borrow_mut().approve(decision);
        }
    }

    /// Starts closing one peer with a close frame; its `Disconnected` comes from a later poll.
    pub fn disconnect_peer(&mut self, id: u32, code: Option<u16>, reason: &str, now: Instant) -> bool {
        self.conns.get(&id).map(|c| c.borrow_mut().close(code, reason, now)).is_some()
    }

    /// Drops one peer at once, without a close frame; its `Disconnected` comes from a later poll.
    pub fn abort_peer(&mut self, id: u32, now: Instant) -> bool {
        self.conns.get(&id).map(|c| c.borrow_mut().abort(now)).is_some()
    }

    /// Closes every connection: open ones get a close frame with 1001 (going away), then all
    /// sockets are closed. Returns the `Disconnected` events of the peers that were open.
    pub fn stop(&mut self, now: Instant) -> Vec<ServerEvent> {
        let mut ids: Vec<u32> = self.conns.keys().copied().collect();
        ids.sort_unstable();
        for id in &ids {
            if let Some(c) = self.conns.get(id) {
                let mut c = c.borrow_mut();
                c.close(Some(1001), "", now);
                c.poll(now);
                c.abort(now);
            }
            self.drive(*id, now);
        }
        self.conns.clear();
        std::mem::take(&mut self.out)
    }
}
