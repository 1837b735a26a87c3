//! One WebSocket connection, client or server side, as a state machine driven by [`Connection::poll`].
//!
//! Phases: resolving → TCP connecting → (TLS inside the transport) → HTTP upgrade → open →
//! closing → closed. Every step is non-blocking: each `poll` does what the socket allows now and
//! returns. What happened is queued as [`Event`]s for the owner to drain.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ServerConfig, StreamOwned};
use tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::{Role, WebSocketConfig, WebSocketContext};
use tungstenite::{Bytes, Message};

use crate::config::Config;
use crate::handshake::{self, RequestHead};
use crate::resolve::Resolve;
use crate::transport::{ByteStream, Transport};
use crate::url::{UrlError, WsUrl};

/// The engine's `WebSocketPeer.State`, same values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadyState {
    Connecting = 0,
    Open = 1,
    Closing = 2,
    Closed = 3,
}

/// Something the owner of a connection should know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server side with `hold_requests`: an acceptable upgrade request waits for `approve`.
    Request,
    /// The upgrade completed; `protocol` is the selected subprotocol ("" for none).
    Open { protocol: String },
    /// One complete message was queued for reading.
    Message,
    /// The remote sent a close frame first (it wants to close).
    CloseRequest { code: i32, reason: String },
    /// The connection reached CLOSED. `was_open`: it had completed the upgrade. `clean`: the
    /// remote's close frame was received.
    Closed { was_open: bool, clean: bool },
    /// A problem worth a warning in the log (refused connection, protocol violation, TLS error…).
    Warning(String),
}

/// Why a message could not be queued for sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The connection is not OPEN (`FAILED` in Godot).
    NotOpen,
    /// The outbound byte or message cap would be exceeded (`ERR_OUT_OF_MEMORY`).
    QueueFull,
    /// The transport failed; the connection was closed (`FAILED`).
    Failed,
}

/// Why `connect` refused to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The URL cannot be used (`ERR_INVALID_PARAMETER`).
    Url(UrlError),
    /// The connection is neither CLOSED nor CLOSING (`ERR_ALREADY_IN_USE`).
    InUse,
    /// TLS could not be set up (`ERR_INVALID_PARAMETER`).
    Tls(String),
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub data: Bytes,
    pub text: bool,
}

/// Client TLS: the rustls configuration and an optional name to verify instead of the host.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub name_override: Option<String>,
}

/// Lets a connection owned by a [`crate::Server`] ask to be polled although its socket reported
/// nothing (for example after the game drained a full inbound queue).
pub type WakeList = std::rc::Rc<std::cell::RefCell<Vec<u32>>>;

enum Phase {
    Closed,
    Resolving(Resolve),
    Connecting(TcpStream, VecDeque<SocketAddr>),
    Handshake(Box<Handshake>),
    Ws(Transport, Box<WebSocketContext>),
}

struct Handshake {
    io: Transport,
    out: Vec<u8>,
    sent: usize,
    inbuf: Vec<u8>,
    /// Client: the key sent. Server: unused.
    key: String,
    /// Server: what to do once `out` is written.
    after_write: AfterWrite,
}

#[derive(PartialEq, Eq)]
enum AfterWrite {
    Read,
    /// Server: the request is acceptable; the embedder decides (see `Connection::approve`).
    Pending {
        accepted: handshake::Accepted,
        tail: Vec<u8>,
    },
    Open {
        tail: Vec<u8>,
        protocol: String,
    },
    Close,
}

/// One WebSocket connection.
pub struct Connection {
    config: Config,
    server_side: bool,
    phase: Phase,
    url: Option<WsUrl>,
    client_tls: Option<ClientTls>,
    server_tls: Option<Arc<ServerConfig>>,
    /// Server side over an embedder's stream that is already TLS.
    secure_stream: bool,
    /// Server side: wait for `approve` before answering an acceptable request.
    hold_requests: bool,
    requested_url: String,
    request: Option<RequestHead>,
    selected_protocol: String,
    remote: Option<SocketAddr>,
    no_delay: bool,
    inbound: VecDeque<Packet>,
    inbound_bytes: usize,
    out_pending_bytes: usize,
    out_pending_msgs: usize,
    close_code: i32,
    close_reason: String,
    close_sent: bool,
    close_received: bool,
    was_open: bool,
    deadline: Option<Instant>,
    next_ping: Option<Instant>,
    ping_outstanding: bool,
    events: Vec<Event>,
    waker: Option<(WakeList, u32)>,
    /// After failing a connection: the socket, write side shut, read and discarded until the
    /// remote closes or the deadline, so that our close frame is not lost to a TCP reset.
    linger: Option<(Transport, Instant)>,
}

/// How long a failed connection keeps draining its socket before it is dropped.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
/// How long a closing handshake may take before the connection is dropped (close code -1):
/// a remote that never answers our close frame, or never reads our reply, holds nothing longer.
pub const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const READ_CHUNK: usize = 4096;

impl Connection {
    /// A new connection in the CLOSED state (close code -1), as the engine's `WebSocketPeer.new()`.
    pub fn new(config: Config) -> Connection {
        Connection {
            config,
            server_side: false,
            phase: Phase::Closed,
            url: None,
            client_tls: None,
            server_tls: None,
            secure_stream: false,
            hold_requests: false,
            requested_url: String::new(),
            request: None,
            selected_protocol: String::new(),
            remote: None,
            no_delay: true,
            inbound: VecDeque::new(),
            inbound_bytes: 0,
            out_pending_bytes: 0,
            out_pending_msgs: 0,
            close_code: -1,
            close_reason: String::new(),
            close_sent: false,
            close_received: false,
            was_open: false,
            deadline: None,
            next_ping: None,
            ping_outstanding: false,
            events: Vec::new(),
            waker: None,
            linger: None,
        }
    }

    /// The server side of an accepted TCP connection: reads the upgrade request in later polls.
    pub fn accept(stream: TcpStream, config: Config, tls: Option<Arc<ServerConfig>>, now: Instant) -> Connection {
        let mut c = Connection::new(config);
        c.server_side = true;
        c.server_tls = tls;
        c.remote = stream.peer_addr().ok();
        c.deadline = c.config.handshake_timeout.map(|t| now + t);
        let _ = stream.set_nodelay(true);
        match c.wrap(stream) {
            Ok(io) => {
                c.phase = Phase::Handshake(Box::new(Handshake::new(io, Vec::new(), String::new(), AfterWrite::Read)))
            }
            Err(e) => c.fail_early(format!("TLS setup failed: {e}")),
        }
        c
    }

    /// The server side of an already-connected stream supplied by the embedder (the engine's
    /// `accept_stream`). A CLOSED or CLOSING connection can be reused.
    pub fn accept_stream(&mut self, stream: Box<dyn ByteStream>, now: Instant) -> Result<(), ConnectError> {
        if !matches!(self.ready_state(), ReadyState::Closed | ReadyState::Closing) {
            return Err(ConnectError::InUse);
        }
        self.reset();
        self.server_side = true;
        self.secure_stream = stream.is_tls();
        self.remote = stream.peer_addr();
        self.deadline = self.config.handshake_timeout.map(|t| now + t);
        let mut io = Transport::Custom(stream);
        io.set_nodelay(self.no_delay);
        self.phase = Phase::Handshake(Box::new(Handshake::new(io, Vec::new(), String::new(), AfterWrite::Read)));
        Ok(())
    }

    /// The client side over an already-connected stream supplied by the embedder (a tunnel, an
    /// in-memory pipe): the upgrade request for `url` (`ws://` only) is written at the next poll.
    pub fn connect_over(&mut self, url: &str, stream: Box<dyn ByteStream>, now: Instant) -> Result<(), ConnectError> {
        if !matches!(self.ready_state(), ReadyState::Closed | ReadyState::Closing) {
            return Err(ConnectError::InUse);
        }
        let parsed = WsUrl::parse(url).map_err(ConnectError::Url)?;
        if parsed.tls {
            return Err(ConnectError::Tls("wss:// needs a TCP connection (use connect)".into()));
        }
        self.reset();
        self.requested_url = url.to_string();
        self.deadline = self.config.handshake_timeout.map(|t| now + t);
        self.remote = stream.peer_addr();
        let key = handshake::generate_key();
        let request =
            handshake::client_request(&parsed, &key, &self.config.supported_protocols, &self.config.handshake_headers);
        self.url = Some(parsed);
        self.phase =
            Phase::Handshake(Box::new(Handshake::new(Transport::Custom(stream), request, key, AfterWrite::Read)));
        Ok(())
    }

    /// Back to a fresh CLOSED connection, keeping the settings and the waker.
    fn reset(&mut self) {
        let config = std::mem::take(&mut self.config);
        let waker = self.waker.take();
        let (no_delay, hold) = (self.no_delay, self.hold_requests);
        *self = Connection::new(config);
        self.waker = waker;
        self.no_delay = no_delay;
        self.hold_requests = hold;
    }

    /// Starts a client connection to `url`. Resolution, connect, TLS and the upgrade happen in
    /// later polls. A CLOSED or CLOSING connection can be reused.
    pub fn connect(&mut self, url: &str, tls: Option<ClientTls>, now: Instant) -> Result<(), ConnectError> {
        if !matches!(self.ready_state(), ReadyState::Closed | ReadyState::Closing) {
            return Err(ConnectError::InUse);
        }
        let parsed = WsUrl::parse(url).map_err(ConnectError::Url)?;
        let tls = if parsed.tls {
            match tls {
                Some(t) => Some(t),
                None => {
                    let config = crate::tls::client_config(&crate::tls::ClientTrust::Default(Vec::new()), true)
                        .map_err(|e| ConnectError::Tls(e.0))?;
                    Some(ClientTls { config, name_override: None })
                }
            }
        } else {
            None
        };
        self.reset();
        self.requested_url = url.to_string();
        self.client_tls = tls;
        self.deadline = self.config.handshake_timeout.map(|t| now + t);
        self.phase = Phase::Resolving(Resolve::start(&parsed.host, parsed.port));
        self.url = Some(parsed);
        Ok(())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Settings read when the upgrade completes (buffer sizes) or on each use (caps, heartbeat).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Lets a server's poll know when this connection needs attention without socket activity.
    pub fn set_waker(&mut self, list: WakeList, token: u32) {
        self.waker = Some((list, token));
    }

    fn wake(&self) {
        if let Some((list, token)) = &self.waker {
            list.borrow_mut().push(*token);
        }
    }

    pub fn ready_state(&self) -> ReadyState {
        match &self.phase {
            Phase::Closed => ReadyState::Closed,
            Phase::Resolving(..) | Phase::Connecting(..) | Phase::Handshake(_) => ReadyState::Connecting,
            Phase::Ws(..) if self.close_sent || self.close_received => ReadyState::Closing,
            Phase::Ws(..) => ReadyState::Open,
        }
    }

    /// Server side: hold every acceptable upgrade request until [`Connection::approve`] is
    /// called (an [`Event::Request`] announces it), so the embedder can read the request and
    /// answer with an HTTP error instead of the 101.
    pub fn hold_requests(&mut self, hold: bool) {
        self.hold_requests = hold;
    }

    /// Whether a request waits for [`Connection::approve`].
    pub fn is_awaiting_approval(&self) -> bool {
        matches!(&self.phase, Phase::Handshake(h) if matches!(h.after_write, AfterWrite::Pending { .. }))
    }

    /// Answers a held request: `Ok` sends the 101 and opens the connection at the next poll;
    /// `Err` sends that HTTP error and closes. Does nothing when no request is held.
    pub fn approve(&mut self, decision: Result<(), handshake::Rejection>) {
        let Phase::Handshake(hs) = &mut self.phase else { return };
        let AfterWrite::Pending { accepted, tail } = std::mem::replace(&mut hs.after_write, AfterWrite::Read) else {
            return;
        };
        if let Some(refused) = hs.answer(decision.map(|()| (accepted, tail)), &self.config.handshake_headers) {
            self.events
                .push(Event::Warning(format!("refused a WebSocket upgrade from {}: {refused}", fmt_addr(self.remote))));
        }
        self.wake();
    }

    /// Close code: the remote's, the one we failed with, or -1 when the close was not clean.
    pub fn close_code(&self) -> i32 {
        self.close_code
    }

    pub fn close_reason(&self) -> &str {
        &self.close_reason
    }

    pub fn selected_protocol(&self) -> &str {
        &self.selected_protocol
    }

    /// Client: the URL as given. Server: scheme + `Host` + request target.
    pub fn requested_url(&self) -> String {
        match (&self.request, self.server_side) {
            (Some(req), true) => {
                let scheme = if self.server_tls.is_some() || self.secure_stream { "wss" } else { "ws" };
                let host = handshake::header(&req.headers, "host").unwrap_or_default();
                format!("{scheme}://{host}{}", req.target)
            }
            _ => self.requested_url.clone(),
        }
    }

    /// Server side: the client's upgrade request (path, query, headers).
    pub fn request(&self) -> Option<&RequestHead> {
        self.request.as_ref()
    }

    /// The remote address, once TCP is connected.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        match &self.phase {
            Phase::Closed | Phase::Resolving(..) | Phase::Connecting(..) => None,
            _ => self.remote,
        }
    }

    /// The mio TCP socket, for registration with a mio registry.
    pub fn socket_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.phase {
            Phase::Connecting(s, _) => Some(s),
            Phase::Handshake(h) => h.io.tcp_mut(),
            Phase::Ws(io, _) => io.tcp_mut(),
            _ => None,
        }
    }

    /// TCP_NODELAY, on by default like the engine. Returns false without a socket.
    pub fn set_no_delay(&mut self, enabled: bool) -> bool {
        self.no_delay = enabled;
        match &mut self.phase {
            Phase::Connecting(s, _) => s.set_nodelay(enabled).is_ok(),
            Phase::Handshake(h) => h.io.set_nodelay(enabled),
            Phase::Ws(io, _) => io.set_nodelay(enabled),
            _ => false,
        }
    }

    /// Bytes of messages queued for sending and not yet fully written; 0 unless OPEN.
    pub fn buffered_amount(&self) -> usize {
        if self.ready_state() == ReadyState::Open {
            self.out_pending_bytes
        } else {
            0
        }
    }

    /// Messages ready to be read. They stay readable in CLOSING and CLOSED.
    pub fn available(&self) -> usize {
        self.inbound.len()
    }

    /// Takes the next received message.
    pub fn pop(&mut self) -> Option<Packet> {
        let was_full = self.inbound_full();
        let p = self.inbound.pop_front()?;
        self.inbound_bytes -= p.data.len();
        if was_full && !self.inbound_full() {
            self.wake();
        }
        Some(p)
    }

    fn inbound_full(&self) -> bool {
        self.inbound.len() >= self.config.max_queued_packets.max(1)
            || self.inbound_bytes >= self.config.inbound_buffer_size.max(1)
    }

    /// The earliest time `poll` has work to do without socket activity (timeouts, heartbeat).
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.ready_state() {
            ReadyState::Connecting | ReadyState::Closing => self.deadline,
            ReadyState::Open => self.next_ping,
            ReadyState::Closed => self.linger.as_ref().map(|(_, d)| *d),
        }
    }

    /// Drains the events queued since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// True while a failed connection still drains its socket (see `poll`).
    pub fn is_lingering(&self) -> bool {
        self.linger.is_some()
    }

    fn drain_linger(&mut self, now: Instant) {
        let Some((io, deadline)) = &mut self.linger else {
            return;
        };
        let mut scratch = [0u8; 4096];
        let mut budget = 64 * 1024;
        let done = now >= *deadline
            || loop {
                match io.read(&mut scratch) {
                    Ok(0) => break true,
                    Ok(n) if n < budget => budget -= n,
                    Ok(_) => break false,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break true,
                }
            };
        if done {
            if let Some((mut io, _)) = self.linger.take() {
                io.shutdown();
            }
        }
    }

    /// Drives the connection as far as the socket allows now.
    pub fn poll(&mut self, now: Instant) {
        self.drain_linger(now);
        if self.deadline.is_some_and(|d| now >= d) {
            match self.ready_state() {
                ReadyState::Connecting => {
                    return self.fail_early("the connection timed out before the WebSocket handshake completed".into());
                }
                ReadyState::Closing => {
                    self.events.push(Event::Warning(format!(
                        "the closing handshake with {} did not complete within {} s; dropping the connection",
                        fmt_addr(self.remote),
                        CLOSE_TIMEOUT.as_secs()
                    )));
                    self.close_received = false;
                    return self.finish(-1, String::new());
                }
                _ => {}
            }
        }
        loop {
            let before = std::mem::discriminant(&self.phase);
            match &self.phase {
                Phase::Closed => return,
                Phase::Resolving(..) => self.step_resolve(),
                Phase::Connecting(..) => self.step_connect(),
                Phase::Handshake(_) => self.step_handshake(now),
                Phase::Ws(..) => {
                    self.step_ws(now);
                    return;
                }
            }
            if std::mem::discriminant(&self.phase) == before {
                return;
            }
        }
    }

    fn step_resolve(&mut self) {
        let Phase::Resolving(r) = &mut self.phase else {
            return;
        };
        match r.poll() {
            None => {}
            Some(Ok(addrs)) if !addrs.is_empty() => self.try_next_addr(addrs.into()),
            Some(Ok(_)) => self.fail_early(format!("no address found for '{}'", self.host())),
            Some(Err(e)) => self.fail_early(format!("could not resolve '{}': {e}", self.host())),
        }
    }

    fn host(&self) -> String {
        self.url.as_ref().map(|u| u.host.clone()).unwrap_or_default()
    }

    fn try_next_addr(&mut self, mut addrs: VecDeque<SocketAddr>) {
        let mut last_err = None;
        while let Some(addr) = addrs.pop_front() {
            match TcpStream::connect(addr) {
                Ok(s) => {
                    self.phase = Phase::Connecting(s, addrs);
                    return;
                }
                Err(e) => last_err = Some(format!("{addr}: {e}")),
            }
        }
        let why = last_err.unwrap_or_else(|| "no address left to try".into());
        self.fail_early(format!("could not connect to '{}': {why}", self.requested_url));
    }

    fn step_connect(&mut self) {
        let Phase::Connecting(s, _) = &self.phase else {
            return;
        };
        let err = match s.take_error() {
            Ok(None) => match s.peer_addr() {
                Ok(addr) => {
                    self.remote = Some(addr);
                    None
                }
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return, // still in progress
                Err(e) => Some(e),
            },
            Ok(Some(e)) | Err(e) => Some(e),
        };
        let Phase::Connecting(stream, rest) = std::mem::replace(&mut self.phase, Phase::Closed) else {
            return;
        };
        if let Some(e) = err {
            if rest.is_empty() {
                self.fail_early(format!("could not connect to '{}': {e}", self.requested_url));
            } else {
                self.try_next_addr(rest);
            }
            return;
        }
        let _ = stream.set_nodelay(self.no_delay);
        let io = match self.wrap(stream) {
            Ok(io) => io,
            Err(e) => return self.fail_early(e),
        };
        let Some(url) = self.url.as_ref() else {
            return self.fail_early("internal error: a client connection without a URL".into());
        };
        let key = handshake::generate_key();
        let request =
            handshake::client_request(url, &key, &self.config.supported_protocols, &self.config.handshake_headers);
        self.phase = Phase::Handshake(Box::new(Handshake::new(io, request, key, AfterWrite::Read)));
    }

    /// Wraps a connected TCP stream in TLS where this connection uses it.
    fn wrap(&self, stream: TcpStream) -> Result<Transport, String> {
        if let Some(cfg) = &self.server_tls {
            let conn = rustls::ServerConnection::new(cfg.clone()).map_err(|e| e.to_string())?;
            return Ok(Transport::TlsServer(Box::new(StreamOwned::new(conn, stream))));
        }
        if let Some(tls) = &self.client_tls {
            let host = tls.name_override.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| self.host());
            let name =
                ServerName::try_from(host.clone()).map_err(|e| format!("invalid TLS server name '{host}': {e}"))?;
            let conn = rustls::ClientConnection::new(tls.config.clone(), name).map_err(|e| e.to_string())?;
            return Ok(Transport::TlsClient(Box::new(StreamOwned::new(conn, stream))));
        }
        Ok(Transport::Plain(stream))
    }

    fn step_handshake(&mut self, now: Instant) {
        let Phase::Handshake(hs) = &mut self.phase else {
            return;
        };
        let server_side = self.server_side;
        let result = loop {
            match hs.pump() {
                Err(e) => break Err(e),
                Ok(false) => return, // would block
                Ok(true) => {}
            }
            // `out` is fully written.
            match std::mem::replace(&mut hs.after_write, AfterWrite::Read) {
                AfterWrite::Close => break Err(String::new()),
                AfterWrite::Open { tail, protocol } => break Ok((tail, protocol)),
                pending @ AfterWrite::Pending { .. } => {
                    hs.after_write = pending;
                    return;
                }
                AfterWrite::Read => {}
            }
            let limit = if server_side { handshake::MAX_REQUEST_HEAD } else { handshake::MAX_RESPONSE_HEAD };
            match hs.read_more(limit + 1) {
                Err(e) => break Err(e),
                Ok(false) => return,
                Ok(true) => {}
            }
            if server_side {
                let decision = match handshake::parse_request(&hs.inbuf) {
                    Ok(None) => continue,
                    Ok(Some((n, req))) => {
                        let tail = hs.inbuf.split_off(n);
                        let decision = handshake::accept_request(&req, &self.config.supported_protocols);
                        self.request = Some(req);
                        decision.map(|acc| (acc, tail))
                    }
                    Err(rej) => Err(rej),
                };
                match decision {
                    Ok((accepted, tail)) if self.hold_requests => {
                        (hs.out, hs.sent) = (Vec::new(), 0);
                        hs.after_write = AfterWrite::Pending { accepted, tail };
                        self.events.push(Event::Request);
                        return;
                    }
                    decision => {
                        if let Some(refused) = hs.answer(decision, &self.config.handshake_headers) {
                            let from = fmt_addr(self.remote);
                            self.events
                                .push(Event::Warning(format!("refused a WebSocket upgrade from {from}: {refused}")));
                        }
                    }
                }
            } else {
                match handshake::parse_response(&hs.inbuf) {
                    Ok(None) => continue,
                    Ok(Some((n, head))) => {
                        match handshake::verify_response(&head, &hs.key, &self.config.supported_protocols) {
                            Ok(protocol) => break Ok((hs.inbuf.split_off(n), protocol)),
                            Err(e) => {
                                break Err(format!("WebSocket handshake with '{}' failed: {e}", self.requested_url))
                            }
                        }
                    }
                    Err(e) => break Err(format!("WebSocket handshake with '{}' failed: {e}", self.requested_url)),
                }
            }
        };
        match result {
            Ok((tail, protocol)) => self.open(tail, protocol, now),
            Err(why) if why.is_empty() => self.finish(-1, String::new()),
            Err(why) => self.fail_early(why),
        }
    }

    fn open(&mut self, tail: Vec<u8>, protocol: String, now: Instant) {
        let Phase::Handshake(hs) = std::mem::replace(&mut self.phase, Phase::Closed) else {
            return;
        };
        let max = self.config.inbound_buffer_size.max(1);
        let ws_config = WebSocketConfig::default()
            .read_buffer_size(READ_CHUNK)
            .write_buffer_size(0)
            .max_write_buffer_size(usize::MAX)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let role = if self.server_side { Role::Server } else { Role::Client };
        let ctx = WebSocketContext::from_partially_read(tail, role, Some(ws_config));
        self.phase = Phase::Ws(hs.io, Box::new(ctx));
        self.selected_protocol = protocol.clone();
        self.was_open = true;
        self.deadline = None;
        // As the engine: the first ping goes out at once, then one every interval.
        self.next_ping = self.config.heartbeat_interval.map(|_| now);
        self.events.push(Event::Open { protocol });
    }

    fn step_ws(&mut self, now: Instant) {
        // Heartbeat, as the engine: a ping every interval; a ping still unanswered closes at once.
        if let (Some(interval), Some(due)) = (self.config.heartbeat_interval, self.next_ping) {
            if now >= due && self.ready_state() == ReadyState::Open {
                if self.ping_outstanding {
                    self.events.push(Event::Warning(format!(
                        "no pong from {} within the heartbeat interval; closing",
                        fmt_addr(self.remote)
                    )));
                    return self.finish(-1, String::new());
                }
                self.ping_outstanding = true;
                self.next_ping = Some(now + interval);
                let Phase::Ws(io, ctx) = &mut self.phase else {
                    return;
                };
                if let Err(e) = ignore_would_block(ctx.write(io, Message::Ping(Bytes::new()))) {
                    return self.on_ws_error(e);
                }
            }
        } else if self.config.heartbeat_interval.is_some() && self.next_ping.is_none() {
            self.next_ping = Some(now);
        }
        loop {
            if self.inbound_full() {
                break;
            }
            let Phase::Ws(io, ctx) = &mut self.phase else {
                return;
            };
            match ctx.read(io) {
                Ok(Message::Text(t)) => self.push_packet(Bytes::from(t), true),
                Ok(Message::Binary(b)) => self.push_packet(b, false),
                Ok(Message::Pong(_)) => self.ping_outstanding = false,
                Ok(Message::Ping(_)) | Ok(Message::Frame(_)) => {}
                Ok(Message::Close(frame)) => {
                    let (code, reason) = match frame {
                        Some(f) => (u16::from(f.code) as i32, f.reason.to_string()),
                        None => (1005, String::new()),
                    };
                    self.close_received = true;
                    self.close_code = code;
                    self.close_reason = reason.clone();
                    if !self.close_sent {
                        // tungstenite queued the echo; the remote asked to close.
                        self.close_sent = true;
                        self.deadline = Some(now + CLOSE_TIMEOUT);
                        self.events.push(Event::CloseRequest { code, reason });
                    }
                    break;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.on_ws_error(e),
            }
        }
        self.flush();
    }

    fn push_packet(&mut self, data: Bytes, text: bool) {
        self.inbound_bytes += data.len();
        self.inbound.push_back(Packet { data, text });
        self.events.push(Event::Message);
    }

    /// Writes what tungstenite holds; finishes a completed closing handshake.
    fn flush(&mut self) {
        let Phase::Ws(io, ctx) = &mut self.phase else {
            return;
        };
        match ctx.flush(io) {
            Ok(()) => {
                self.out_pending_bytes = 0;
                self.out_pending_msgs = 0;
                if self.close_sent && self.close_received {
                    self.finish_clean();
                }
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => self.on_ws_error(e),
        }
    }

    fn finish_clean(&mut self) {
        let (code, reason) = (self.close_code, std::mem::take(&mut self.close_reason));
        self.finish(code, reason);
    }

    fn on_ws_error(&mut self, e: tungstenite::Error) {
        use tungstenite::error::ProtocolError as P;
        use tungstenite::Error as E;
        match e {
            E::ConnectionClosed | E::AlreadyClosed if self.close_received => self.finish_clean(),
            E::ConnectionClosed | E::AlreadyClosed | E::Protocol(P::ResetWithoutClosingHandshake) => {
                self.finish(-1, String::new())
            }
            E::Io(e) => {
                if !matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionAborted
                ) {
                    self.events.push(Event::Warning(format!("connection to {} failed: {e}", fmt_addr(self.remote))));
                }
                self.finish(-1, String::new())
            }
            E::Capacity(c) => self.fail(1009, "Message too big", c.to_string()),
            E::Utf8(s) => self.fail(1007, "Invalid frame payload data", format!("invalid UTF-8: {s}")),
            E::Protocol(p) => self.fail(1002, "Protocol error", p.to_string()),
            other => self.fail(1011, "Unknown", other.to_string()),
        }
    }

    /// Fails the WebSocket connection: sends a close frame with `code` if still possible, then
    /// closes. Locally the close code reads `code` and the reason `text`, as in the engine.
    fn fail(&mut self, code: u16, text: &str, detail: String) {
        self.events.push(Event::Warning(format!(
            "closing the connection with {} with code {code}: {detail}",
            fmt_addr(self.remote)
        )));
        if let Phase::Ws(io, ctx) = &mut self.phase {
            if ctx.can_write() {
                let frame = CloseFrame { code: CloseCode::from(code), reason: "".into() };
                let _ = ctx.close(io, Some(frame));
            }
        }
        self.close_received = false;
        if let Phase::Ws(..) = self.phase {
            let Phase::Ws(io, _) = std::mem::replace(&mut self.phase, Phase::Closed) else { unreachable!() };
            self.retire(io, true);
        }
        self.finish(code as i32, text.to_string());
    }

    /// A failure before the connection opened: CLOSED with code -1 and a warning.
    fn fail_early(&mut self, why: String) {
        if !why.is_empty() {
            self.events.push(Event::Warning(why));
        }
        self.finish(-1, String::new());
    }

    /// Lets go of a transport. Over TLS, and after failing a connection, the socket is kept and
    /// drained for a while ("lingering") so that what we sent last is not lost: a TCP reset
    /// would discard it, and a TLS close_notify right behind a close frame makes some stacks
    /// (mbedTLS in Godot) drop the frame unread.
    fn retire(&mut self, mut io: Transport, failed: bool) {
        if io.is_tls() {
            self.linger = Some((io, Instant::now() + LINGER));
        } else if failed {
            io.shutdown();
            self.linger = Some((io, Instant::now() + LINGER));
        } else {
            io.shutdown();
        }
    }

    fn finish(&mut self, code: i32, reason: String) {
        match std::mem::replace(&mut self.phase, Phase::Closed) {
            Phase::Ws(io, _) => self.retire(io, false),
            Phase::Handshake(hs) => self.retire(hs.io, false),
            _ => {}
        }
        self.close_code = code;
        self.close_reason = reason;
        self.out_pending_bytes = 0;
        self.out_pending_msgs = 0;
        self.deadline = None;
        self.next_ping = None;
        let clean = self.close_received;
        self.events.push(Event::Closed { was_open: self.was_open, clean });
        self.wake();
    }

    /// Queues one message (`text` picks the frame type; the bytes are sent as given) and tries
    /// to write it at once.
    pub fn send(&mut self, data: &[u8], text: bool) -> Result<(), SendError> {
        if self.ready_state() != ReadyState::Open {
            return Err(SendError::NotOpen);
        }
        if self.out_pending_msgs >= self.config.max_queued_packets {
            return Err(SendError::QueueFull);
        }
        let cap = self.config.outbound_buffer_size;
        if cap > 0 && (self.out_pending_bytes + data.len()) as i64 > cap {
            return Err(SendError::QueueFull);
        }
        let opcode = OpCode::Data(if text { OpData::Text } else { OpData::Binary });
        let frame = Frame::message(Bytes::copy_from_slice(data), opcode, true);
        let Phase::Ws(io, ctx) = &mut self.phase else {
            return Err(SendError::NotOpen);
        };
        match ignore_would_block(ctx.write(io, Message::Frame(frame))) {
            Ok(()) => {
                self.out_pending_bytes += data.len();
                self.out_pending_msgs += 1;
                self.flush();
                if self.ready_state() == ReadyState::Closed {
                    return Err(SendError::Failed);
                }
                Ok(())
            }
            Err(e) => {
                self.on_ws_error(e);
                Err(SendError::Failed)
            }
        }
    }

    /// The engine's `close(code, reason)`: a negative code, or a connection not yet open, closes
    /// at once without a close frame; an open one sends the close frame and goes CLOSING.
    pub fn close(&mut self, code: i32, reason: &str) {
        match self.ready_state() {
            ReadyState::Closed => {}
            _ if code < 0 => self.finish(-1, String::new()),
            ReadyState::Connecting => self.finish(-1, String::new()),
            ReadyState::Closing => {}
            ReadyState::Open => {
                let Phase::Ws(io, ctx) = &mut self.phase else {
                    return;
                };
                let frame = CloseFrame {
                    code: CloseCode::from(code.clamp(0, 65535) as u16),
                    reason: truncate_utf8(reason, 123).into(),
                };
                self.close_sent = true;
                self.deadline = Some(Instant::now() + CLOSE_TIMEOUT);
                match ignore_would_block(ctx.close(io, Some(frame))) {
                    Ok(()) => {}
                    Err(e) => return self.on_ws_error(e),
                }
                self.flush();
            }
        }
    }
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new(Config::default())
    }
}

impl Handshake {
    fn new(io: Transport, out: Vec<u8>, key: String, after_write: AfterWrite) -> Handshake {
        Handshake { io, out, sent: 0, inbuf: Vec::new(), key, after_write }
    }

    /// Server: queues the answer to a request, the 101 or an HTTP error; returns the refusal.
    fn answer(
        &mut self,
        decision: Result<(handshake::Accepted, Vec<u8>), handshake::Rejection>,
        extra_headers: &[String],
    ) -> Option<handshake::Rejection> {
        self.sent = 0;
        match decision {
            Ok((accepted, tail)) => {
                self.out = handshake::response_101(&accepted, extra_headers);
                self.after_write = AfterWrite::Open { tail, protocol: accepted.protocol };
                None
            }
            Err(rej) => {
                self.out = handshake::error_response(&rej);
                self.after_write = AfterWrite::Close;
                Some(rej)
            }
        }
    }

    /// Writes `out`; Ok(true) once all of it is written and flushed, Ok(false) if it would block.
    fn pump(&mut self) -> Result<bool, String> {
        while self.sent < self.out.len() {
            match self.io.write(&self.out[self.sent..]) {
                Ok(0) => return Err("the connection closed during the WebSocket handshake".into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(describe_io("during the WebSocket handshake", &e)),
            }
        }
        match self.io.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(describe_io("during the WebSocket handshake", &e)),
        }
    }

    /// Reads what is there, up to `limit` bytes in all; Ok(false) if nothing could be read now.
    fn read_more(&mut self, limit: usize) -> Result<bool, String> {
        let mut chunk = [0u8; 1024];
        let room = limit.saturating_sub(self.inbuf.len()).clamp(1, chunk.len());
        match self.io.read(&mut chunk[..room]) {
            Ok(0) => Err(String::new()), // the remote went away; nothing to report
            Ok(n) => {
                self.inbuf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(String::new()),
            Err(e) => Err(describe_io("during the WebSocket handshake", &e)),
        }
    }
}

fn describe_io(when: &str, e: &io::Error) -> String {
    use rustls::CertificateError as C;
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            let why = match cert {
                C::NotValidForName | C::NotValidForNameContext { .. } => "it is not valid for this host name",
                C::Expired | C::ExpiredContext { .. } => "it has expired",
                C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet",
                C::UnknownIssuer => "it is not signed by a trusted authority (unknown issuer)",
                C::BadSignature => "its signature is invalid",
                C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => {
                    "it is a CA (self-signed?) certificate; trust it explicitly with TLSOptions.client(certificate)"
                }
                C::Revoked => "it was revoked",
                _ => "it failed verification",
            };
            format!("TLS error {when}: the server's certificate was rejected: {why} ({cert})")
        }
        Some(tls) => format!("TLS error {when}: {tls}"),
        None => format!("I/O error {when}: {e}"),
    }
}

fn ignore_would_block(r: tungstenite::Result<()>) -> tungstenite::Result<()> {
    match r {
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        r => r,
    }
}

fn fmt_addr(a: Option<SocketAddr>) -> String {
    a.map(|a| a.to_string()).unwrap_or_else(|| "the remote".into())
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
