//! A WebSocket server: a mio listener plus the connections it accepted.
//!
//! `poll` costs work only for connections with activity: sockets that mio reports ready, ones
//! that asked to be woken (see [`Attention`]), and ones whose timer (handshake timeout,
//! heartbeat) is due. Thousands of idle peers cost nothing per poll.
//!
//! The working part is the [`engine::Engine`]. On the main-thread path, `poll` runs it on the
//! caller's thread. After [`Server::start_io_thread`], a background thread runs it (accept,
//! TLS, reads, writes, pings, timeouts: see [`io_thread`]) and `poll` only takes the
//! connections that have events waiting; the caller's thread never touches a socket, and the
//! same events come in the same order per connection.

pub(crate) mod engine;
pub mod io_thread;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mio::net::TcpListener;
use mio::{Interest, Poll};
use rustls::ServerConfig;

use self::engine::{lock, server_events, Engine, Handover, LISTENER};
use self::io_thread::IoThread;
use crate::config::Config;
use crate::connection::{Attention, Message, ReadyState, SharedConnection};
use crate::listener::{self, BindAddress};

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
    local: SocketAddr,
    attention: Arc<Attention>,
    /// Locked by the game's thread only for rare calls (settings, counts, stop) when an I/O
    /// thread runs it; on the main-thread path nobody else locks it.
    engine: Arc<Mutex<Engine>>,
    thread: Option<Threaded>,
}

/// The game's side of a server driven by an I/O thread.
struct Threaded {
    handover: Arc<Mutex<Handover>>,
    /// The connections the game has heard of (by their events) and not yet seen close: the
    /// game's thread finds them here without waiting for the engine's lock.
    known: HashMap<u32, SharedConnection>,
    /// Those the latest poll saw close (found until the next poll, as on the main-thread path).
    departed: HashMap<u32, SharedConnection>,
    /// Those whose failure waits for the game's next poll (see `Connection::poll`).
    held: Vec<SharedConnection>,
    thread: IoThread,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one), with the OS's defaults for its family; see
    /// [`listener::bind`] for every interface of both families.
    pub fn listen(addr: SocketAddr, config: Config, tls: Option<Arc<ServerConfig>>) -> io::Result<Server> {
        Server::listen_on(listener::bind(BindAddress::Ip(addr.ip()), addr.port())?, config, tls)
    }

    /// Serves the clients of a listener made by [`listener::bind`] (or any non-blocking one).
    pub fn listen_on(mut listener: TcpListener, config: Config, tls: Option<Arc<ServerConfig>>) -> io::Result<Server> {
        let poll = Poll::new()?;
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        let local = listener.local_addr()?;
        let engine = Engine::new(poll, listener, config, tls)?;
        let attention = engine.attention.clone();
        Ok(Server { local, attention, engine: Arc::new(Mutex::new(engine)), thread: None })
    }

    /// From now on a background thread accepts, reads, writes and runs the timers; `poll` only
    /// collects what happened. Heartbeats and close handshakes go on while the caller's thread
    /// is busy. Does nothing if a thread already runs.
    pub fn start_io_thread(&mut self) -> io::Result<()> {
        if self.thread.is_some() {
            return Ok(());
        }
        let handover = Arc::new(Mutex::new(Handover::default()));
        lock(&self.engine).handover = Some(handover.clone());
        // The live connections accepted so far are known to the game already (closed ones
        // were reported as such).
        let known = lock(&self.engine)
            .conns
            .iter()
            .filter(|(_, c)| c.borrow().live_state() != ReadyState::Closed)
            .map(|(id, c)| (*id, c.clone()))
            .collect();
        match IoThread::serve(self.engine.clone(), self.attention.clone()) {
            Ok(thread) => {
                self.thread = Some(Threaded { handover, known, departed: HashMap::new(), held: Vec::new(), thread });
                Ok(())
            }
            Err(e) => {
                lock(&self.engine).handover = None;
                Err(e)
            }
        }
    }

    pub fn has_io_thread(&self) -> bool {
        self.thread.is_some()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Settings copied into every connection accepted from now on.
    pub fn set_config(&mut self, config: Config) {
        lock(&self.engine).config = config;
    }

    pub fn config(&self) -> Config {
        lock(&self.engine).config.clone()
    }

    /// Most simultaneous connections (in handshake or open); extra ones get HTTP 503.
    pub fn set_max_peers(&mut self, count: usize) {
        lock(&self.engine).max_peers = count;
    }

    /// Hold each acceptable request for [`Server::approve`] (the `hold` of `Connection::accept`).
    pub fn set_hold_requests(&mut self, hold: bool) {
        lock(&self.engine).hold_requests = hold;
    }

    /// A connection, by id, as the game knows it.
    fn conn(&self, id: u32) -> Option<SharedConnection> {
        match &self.thread {
            None => lock(&self.engine).conns.get(&id).cloned(),
            Some(t) => t.known.get(&id).cloned(),
        }
    }

    /// A connection that completed its upgrade and is not closed (as the game sees it).
    pub fn peer(&self, id: u32) -> Option<SharedConnection> {
        self.conn(id).filter(|c| matches!(c.borrow().ready_state(), ReadyState::Open | ReadyState::Closing))
    }

    /// The connection of a `Connected` event of the latest poll, also when it closed since:
    /// the same poll may report its whole life (connected, its messages, disconnected), most
    /// often with an I/O thread, and its owner still needs the connection to read them.
    pub fn joined(&self, id: u32) -> Option<SharedConnection> {
        let departed = || match &self.thread {
            None => lock(&self.engine).departed.get(&id).cloned(),
            Some(t) => t.departed.get(&id).cloned(),
        };
        self.conn(id).or_else(departed).filter(|c| c.borrow().has_opened())
    }

    /// Number of connections held: in the handshake, open, closing, or draining after a failure.
    pub fn connection_count(&self) -> usize {
        lock(&self.engine).conns.len()
    }

    /// Accepts, reads and writes what is ready; returns what happened. With an I/O thread, only
    /// takes what it found since the last poll.
    pub fn poll(&mut self, now: Instant) -> Vec<ServerEvent> {
        match &mut self.thread {
            None => {
                let mut engine = lock(&self.engine);
                engine.poll_now(now);
                std::mem::take(&mut engine.out)
            }
            Some(t) => t.take(),
        }
    }

    /// Until [`Server::uncork`], messages sent to this server's connections are framed but not
    /// written: a game that answers many messages in one poll's handlers makes one write per
    /// connection instead of one per message (with an I/O thread: one wake-up of the thread).
    /// The caps count them as queued.
    pub fn cork(&mut self) {
        self.attention.cork();
    }

    /// Writes what was sent since [`Server::cork`] (or hands it to the I/O thread); sends
    /// write at once again. A connection whose write fails ends, and its ending is reported by
    /// the next poll.
    pub fn uncork(&mut self, now: Instant) {
        for id in self.attention.uncork() {
            if let Some(conn) = self.conn(id) {
                conn.borrow_mut().write_pending(now);
            }
        }
    }

    /// Sends one message to every open connection but `exclude`, framing it once for all that
    /// send the same bytes. Each connection's caps apply as for
    /// [`crate::Connection::send`]; returns the connections that refused it and why (the others
    /// have it queued).
    pub fn broadcast(
        &mut self,
        data: &[u8],
        text: bool,
        exclude: Option<u32>,
        now: Instant,
    ) -> Vec<(u32, crate::SendError)> {
        let msg = Message::new(data, text);
        let mut refused = Vec::new();
        let conns: Vec<(u32, SharedConnection)> = match &self.thread {
            None => lock(&self.engine).conns.iter().map(|(id, c)| (*id, c.clone())).collect(),
            Some(t) => t.known.iter().map(|(id, c)| (*id, c.clone())).collect(),
        };
        for (id, conn) in conns.into_iter().filter(|(id, _)| Some(*id) != exclude) {
            let mut conn = conn.borrow_mut();
            if conn.ready_state() != ReadyState::Open {
                continue;
            }
            if let Err(e) = conn.send_message(&msg, now) {
                refused.push((id, e));
            }
        }
        refused
    }

    /// A connection whose request waits for [`Server::approve`].
    pub fn pending(&self, id: u32) -> Option<SharedConnection> {
        self.conn(id).filter(|c| c.borrow().is_awaiting_approval())
    }

    /// Answers the held request of `id` (see `Connection::approve`).
    pub fn approve(&mut self, id: u32, decision: Result<(), crate::handshake::Rejection>) {
        if let Some(c) = self.conn(id) {
            c.borrow_mut().approve(decision);
        }
    }

    /// Starts closing one peer with a close frame; its `Disconnected` comes from a later poll.
    pub fn disconnect_peer(&mut self, id: u32, code: Option<u16>, reason: &str, now: Instant) -> bool {
        self.conn(id).map(|c| c.borrow_mut().close(code, reason, now)).is_some()
    }

    /// Drops one peer at once, without a close frame; its `Disconnected` comes from a later poll.
    pub fn abort_peer(&mut self, id: u32, now: Instant) -> bool {
        self.conn(id).map(|c| c.borrow_mut().abort(now)).is_some()
    }

    /// Closes every connection: open ones get a close frame with 1001 (going away), then all
    /// sockets are closed. Returns the `Disconnected` events of the peers that were open (and,
    /// with an I/O thread, what it had found and the game had not polled yet). The I/O thread,
    /// if any, ends first.
    pub fn stop(&mut self, now: Instant) -> Vec<ServerEvent> {
        let mut out = Vec::new();
        if let Some(mut t) = self.thread.take() {
            t.thread.stop();
            self.attention.detach_thread();
            out = t.take();
        }
        let mut engine = lock(&self.engine);
        engine.handover = None;
        engine.stop(now);
        out.append(&mut engine.out);
        out
    }
}

impl Threaded {
    /// The game's side of a poll: the connections the I/O thread listed, each one's events
    /// taken (which makes their messages readable and their state visible), in order.
    fn take(&mut self) -> Vec<ServerEvent> {
        for conn in self.held.drain(..) {
            conn.borrow_mut().release_hold();
        }
        let Handover { warnings, ready } = std::mem::take(&mut *lock(&self.handover));
        self.departed.clear();
        let mut out = warnings;
        for (id, conn) in ready {
            let events = {
                let mut c = conn.borrow_mut();
                let events = c.take_events();
                if c.is_held_for_next_poll() {
                    self.held.push(conn.clone());
                }
                events
            };
            let closed = events.iter().any(|e| matches!(e, crate::Event::Closed { .. }));
            self.known.entry(id).or_insert_with(|| conn.clone());
            server_events(id, events, &mut out);
            if closed {
                self.known.remove(&id);
                self.departed.insert(id, conn);
            }
        }
        out
    }
}
