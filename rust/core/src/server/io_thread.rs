//! The optional I/O thread: a background thread that owns the sockets of a [`crate::Server`]
//! (accept, TLS, the upgrade, reads, writes, pings, timeouts) or of one client
//! [`Connection`], so that the game's thread never makes a system call for networking and
//! heartbeats go on while a frame takes long.
//!
//! Nothing is duplicated: the thread runs the same engine or connection the main-thread path
//! runs, waiting in mio for readiness, the earliest timer, or a wake-up from the game's thread
//! (through the [`crate::connection::Attention`] the connections share). The game's thread
//! locks a connection only for the call it makes (a send frames the message and lists the
//! connection for writing), and takes events in its poll, which is also when the messages they
//! announce become readable and the state it sees changes.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use super::engine::{lock, Engine, WAKER};
use super::ServerEvent;
use crate::connection::{Attention, ReadyState, SharedConnection};

/// How soon a client thread looks again while it has no socket to wait on (the name lookup
/// runs on a helper thread that cannot wake it).
const DIAL_TICK: Duration = Duration::from_millis(2);

/// A running I/O thread; dropping it stops it (see [`IoThread::stop`]).
pub struct IoThread {
    stop: Arc<AtomicBool>,
    attention: Arc<Attention>,
    handle: Option<JoinHandle<()>>,
}

impl IoThread {
    /// Runs a server's engine, taking its mio `Poll` until the thread ends.
    pub(crate) fn serve(engine: Arc<Mutex<Engine>>, attention: Arc<Attention>) -> io::Result<IoThread> {
        let waker = {
            let e = lock(&engine);
            let poll = e.poll.as_ref().ok_or_else(|| io::Error::other("the server is already driven"))?;
            Arc::new(Waker::new(poll.registry(), WAKER)?)
        };
        attention.attach_thread(waker);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let spawned = std::thread::Builder::new().name("rust_websocket server I/O".into()).spawn(move || {
            // Taken here, not before the spawn: if the thread cannot start, the engine keeps it.
            let Some(mut poll) = lock(&engine).poll.take() else { return };
            let mut events = Events::with_capacity(1024);
            let mut timeout = Some(Duration::ZERO);
            loop {
                let waited = poll.poll(&mut events, timeout);
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                let mut engine = lock(&engine);
                if let Err(e) = waited {
                    if e.kind() != io::ErrorKind::Interrupted {
                        engine.out.push(ServerEvent::Warning(format!("polling the server's sockets failed: {e}")));
                    }
                }
                let round = catch_unwind(AssertUnwindSafe(|| engine.handle(&events, Instant::now())));
                if round.is_err() {
                    engine.out.push(ServerEvent::Warning("the server's I/O thread recovered from a panic".into()));
                    engine.hand_over();
                    // What that round had taken (wake-ups, sends, due timers) may be lost: every
                    // connection is looked at again at once.
                    let ids: Vec<u32> = engine.conns.keys().copied().collect();
                    for id in ids {
                        engine.attention.wake(id);
                    }
                    engine.attention.signal_always();
                }
                timeout = engine.next_timer().map(|t| t.saturating_duration_since(Instant::now()));
            }
            lock(&engine).poll = Some(poll);
        });
        Self::started(spawned, stop, attention)
    }

    /// Drives one client connection (see [`Connection::connect`]) until it is closed and its
    /// socket drained, or until stopped. The game keeps calling the connection's `poll` and
    /// `take_events`, which then only take what the thread found.
    pub fn client(conn: SharedConnection) -> io::Result<IoThread> {
        let mut poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let attention = Arc::new(Attention::default());
        attention.attach_thread(waker);
        conn.borrow_mut().set_attention(attention.clone(), 0);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let attending = attention.clone();
        let spawned = std::thread::Builder::new().name("rust_websocket client I/O".into()).spawn(move || {
            let ended = catch_unwind(AssertUnwindSafe(|| drive_client(&conn, &attending, &mut poll, &stopping)));
            let why = match ended {
                Ok(Ok(())) => return,
                Ok(Err(e)) => format!("waiting for its socket failed: {e}"),
                Err(_) => "it panicked".to_string(),
            };
            // The connection goes back to its owner's polls rather than freeze.
            attending.detach_thread();
            conn.borrow_mut()
                .warn(format!("the connection's I/O thread stopped ({why}); it runs in poll() from now on"));
        });
        Self::started(spawned, stop, attention)
    }

    fn started(
        spawned: io::Result<JoinHandle<()>>,
        stop: Arc<AtomicBool>,
        attention: Arc<Attention>,
    ) -> io::Result<IoThread> {
        match spawned {
            Ok(handle) => Ok(IoThread { stop, attention, handle: Some(handle) }),
            Err(e) => {
                attention.detach_thread();
                Err(e)
            }
        }
    }

    /// Ends the thread and waits for it; its connections are driven by their owner's polls
    /// again.
    pub fn stop(&mut self) {
        let Some(handle) = self.handle.take() else { return };
        self.stop.store(true, Ordering::Release);
        self.attention.signal_always();
        let _ = handle.join();
        self.attention.detach_thread();
    }

    /// Whether the thread still runs (a client thread ends by itself once its connection is
    /// closed).
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The client thread's loop; returns once the connection is closed and drained, or stopped.
fn drive_client(conn: &SharedConnection, attention: &Attention, poll: &mut Poll, stop: &AtomicBool) -> io::Result<()> {
    let mut events = Events::with_capacity(64);
    let mut watched: Option<u64> = None;
    while !stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let (deadline, done, blind) = {
            let mut c = conn.borrow_mut();
            // Whatever asked: a step reads, then writes what the game sent (see `Engine::handle`).
            attention.take_wake();
            attention.take_later();
            c.drive(now);
            let socket = watch(poll, &mut c, &mut watched);
            let closed = c.live_state() == ReadyState::Closed;
            // Without a socket to wait on (dialing, or an embedder's stream), look again soon.
            (c.next_deadline(), closed && !c.is_lingering(), !closed && (socket.is_none() || c.is_dialing()))
        };
        if done {
            return Ok(());
        }
        let mut timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if blind {
            timeout = Some(timeout.map_or(DIAL_TICK, |t| t.min(DIAL_TICK)));
        }
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The operating system's number for a socket, to tell a new socket from the one watched.
#[cfg(unix)]
fn socket_number(socket: &mio::net::TcpStream) -> u64 {
    use std::os::fd::AsRawFd;
    socket.as_raw_fd() as u64
}

#[cfg(windows)]
fn socket_number(socket: &mio::net::TcpStream) -> u64 {
    use std::os::windows::io::AsRawSocket;
    socket.as_raw_socket()
}

/// Registers the connection's socket with the thread's poll when it is a new one; returns its
/// number.
fn watch(poll: &mut Poll, conn: &mut crate::Connection, watched: &mut Option<u64>) -> Option<u64> {
    let socket = conn.socket_mut()?;
    let fd = socket_number(socket);
    if *watched != Some(fd) {
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registered = match poll.registry().register(socket, Token(1), interest) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                poll.registry().reregister(socket, Token(1), interest)
            }
            other => other,
        };
        // Unwatched, the connection still advances on its timers and the dial tick.
        *watched = registered.ok().map(|()| fd);
    }
    *watched
}
