//! One WebSocket connection, client or server side, driven by [`Connection::poll`].
//!
//! A connection has a [`Role`] (what it is: a client with its URL and TLS, or the server side
//! with the request it received) and a phase (where it is). Each phase owns only its own data,
//! in its own module, and is advanced by value, returning what became of it:
//!
//! | phase       | module      | what it does                                                   |
//! |-------------|-------------|----------------------------------------------------------------|
//! | dialing     | [`dial`]    | client: name lookup, TCP connect, TLS set-up                   |
//! | upgrading   | [`upgrade`] | drives [`crate::proto::Upgrade`] (the HTTP upgrade, both sides) |
//! | open        | [`open`]    | drives [`crate::proto::Open`] (frames, closing, heartbeat, caps) |
//! | closed      | —           | nothing; a retired socket may still drain in [`linger`]        |
//!
//! `poll` holds the one transition match. Every way a connection ends goes through
//! `Connection::end` ([`end`]) with an `End` that says how: a clean close, a failure with a
//! close code, or an abort. [`role`] holds what the connection is, [`inbox`] the received
//! messages (readable in every phase), [`types`] what the owner sees. Time is an input: every method that can start or end a timer takes `now`.
//! What happened is queued as [`Event`]s for the owner to drain.

mod attention;
mod dial;
mod end;
mod inbox;
mod linger;
mod open;
mod role;
mod send;
mod shared;
mod types;
mod upgrade;
mod view;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use rustls::ServerConfig;

pub use self::attention::Attention;
pub use self::open::CLOSE_TIMEOUT;
pub use self::send::Message;
pub use self::shared::{ConnectionGuard, SharedConnection};
pub use self::types::{ConnectError, Event, ReadyState, SendError};
pub use crate::frames::{is_sendable_close_code, Packet};
pub use crate::tls::ClientTls;

use self::dial::{Dial, Dialed};
use self::end::{Dropped, End};
use self::inbox::Inbox;
use self::linger::Linger;
use self::open::{Open, Opened};
use self::role::{ClientRole, Role, ServerRole};
use self::upgrade::{Upgrade, Upgraded};
use self::view::Hold;
use crate::clock;
use crate::config::Config;
use crate::handshake::{self, RequestHead, Selected};
use crate::transport::{ByteStream, Transport};
use crate::url::WsUrl;

enum Phase {
    Closed,
    Dialing(Dial),
    Upgrading(Box<Upgrade>),
    Open(Box<Open>),
}

/// What one transition of `poll` came to.
enum Step {
    /// Nothing more to do now.
    Wait(Phase),
    /// Moved on; poll the new phase at once.
    Next(Phase),
    End(End, Option<Transport>),
}

/// One WebSocket connection.
pub struct Connection {
    config: Config,
    role: Role,
    phase: Phase,
    /// When a connection that is not open yet gives up (`handshake_timeout`).
    open_deadline: Option<Instant>,
    remote: Option<SocketAddr>,
    no_delay: bool,
    inbox: Inbox,
    selected_protocol: String,
    /// The agreed `Sec-WebSocket-Extensions` value ("" for none).
    extensions: String,
    /// Once closed: the close code (none unless clean or failed by us) and reason.
    close_code: Option<u16>,
    close_reason: String,
    was_open: bool,
    events: Vec<Event>,
    /// What it shares with its driver, and its id there (see [`Attention`]).
    attention: Option<(Arc<Attention>, u32)>,
    /// With an I/O thread: the state the game sees, brought up to date when the game takes
    /// the events (and by its own calls), so that it changes only between the game's polls.
    visible_state: ReadyState,
    /// With an I/O thread: its driver was told that events wait here.
    notified: bool,
    /// With an I/O thread: a failure held back so that the game can answer the messages that
    /// came before it (see [`Hold`]).
    hold: Hold,
    /// Counted in its config's counters as open (from the upgrade to the end).
    counted_open: bool,
    linger: Option<Linger>,
}

impl Connection {
    /// A new connection in the CLOSED state (no close code), as the engine's `WebSocketPeer.new()`.
    pub fn new(config: Config) -> Connection {
        Connection {
            config,
            role: Role::Idle,
            phase: Phase::Closed,
            open_deadline: None,
            remote: None,
            no_delay: true,
            inbox: Inbox::default(),
            selected_protocol: String::new(),
            extensions: String::new(),
            close_code: None,
            close_reason: String::new(),
            was_open: false,
            events: Vec::new(),
            attention: None,
            visible_state: ReadyState::Closed,
            notified: false,
            hold: Hold::No,
            counted_open: false,
            linger: None,
        }
    }

    /// The server side of an accepted TCP connection: reads the upgrade request in later polls.
    /// With `hold`, an acceptable request waits for [`Connection::approve`].
    pub fn accept(
        stream: TcpStream,
        config: Config,
        tls: Option<Arc<ServerConfig>>,
        hold: bool,
        now: Instant,
    ) -> Connection {
        let mut c = Connection::new(config);
        c.role = Role::Server(ServerRole { secure: tls.is_some(), request: None });
        c.remote = stream.peer_addr().ok();
        c.open_deadline = c.config.handshake_timeout.and_then(|t| clock::deadline(now, t));
        let _ = stream.set_nodelay(true);
        match Transport::accepted(stream, tls) {
            Ok(io) => c.phase = Phase::Upgrading(Upgrade::server(io, hold, c.open_deadline)),
            Err(e) => {
                let why = Dropped::Failed(format!("TLS setup failed: {e}"));
                c.end(End::Abort { close_received: false, why }, None, now);
            }
        }
        c
    }

    /// A client turned away before its request is read (the server is full): `rejection`'s
    /// HTTP answer is written at once and the connection ends; its socket lingers, so that the
    /// answer is not lost to a TCP reset when the client's request arrives after it.
    /// `config` is the server's: only its counters are used.
    pub fn refuse(mut stream: TcpStream, rejection: &handshake::Rejection, config: Config, now: Instant) -> Connection {
        use std::io::Write;
        let mut c = Connection::new(config);
        c.remote = stream.peer_addr().ok();
        let _ = stream.write(&handshake::error_response(rejection));
        c.config.counters.refused();
        c.end(End::Abort { close_received: false, why: Dropped::Refused }, Some(Transport::Plain(stream)), now);
        c
    }

    /// The server side of an already-connected stream supplied by the embedder (the engine's
    /// `accept_stream`). A CLOSED or CLOSING connection can be reused.
    pub fn accept_stream(&mut self, stream: Box<dyn ByteStream>, now: Instant) -> Result<(), ConnectError> {
        self.check_reusable()?;
        self.reset(now);
        self.role = Role::Server(ServerRole { secure: stream.is_tls(), request: None });
        self.remote = stream.peer_addr();
        let mut io = Transport::Custom(stream);
        io.set_nodelay(self.no_delay);
        self.phase = Phase::Upgrading(Upgrade::server(io, false, self.open_deadline));
        self.publish_state();
        Ok(())
    }

    /// The client side over an already-connected stream supplied by the embedder (a tunnel, an
    /// in-memory pipe): the upgrade request for `url` (`ws://` only) is written at the next poll.
    pub fn connect_over(&mut self, url: &str, stream: Box<dyn ByteStream>, now: Instant) -> Result<(), ConnectError> {
        self.check_reusable()?;
        let parsed = WsUrl::parse(url).map_err(ConnectError::Url)?;
        if parsed.tls {
            return Err(ConnectError::Tls("wss:// needs a TCP connection (use connect)".into()));
        }
        self.reset(now);
        self.remote = stream.peer_addr();
        let client = ClientRole { url: parsed, requested: url.to_string(), tls: None };
        let io = Transport::Custom(stream);
        self.phase = Phase::Upgrading(Upgrade::client(io, &client, &self.config, self.open_deadline));
        self.role = Role::Client(client);
        self.publish_state();
        Ok(())
    }

    /// Starts a client connection to `url`; `tls` (for `wss://`) defaults to
    /// [`ClientTls::default_client`]. Resolution, connect, TLS and the upgrade happen in later
    /// polls. A CLOSED or CLOSING connection can be reused.
    pub fn connect(&mut self, url: &str, tls: Option<ClientTls>, now: Instant) -> Result<(), ConnectError> {
        self.check_reusable()?;
        let parsed = WsUrl::parse(url).map_err(ConnectError::Url)?;
        let tls = match (parsed.tls, tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(tls),
            (true, None) => Some(ClientTls::default_client().map_err(|e| ConnectError::Tls(e.0))?),
        };
        self.reset(now);
        let client = ClientRole { url: parsed, requested: url.to_string(), tls };
        self.phase = Phase::Dialing(Dial::start(client.clone()));
        self.role = Role::Client(client);
        self.publish_state();
        Ok(())
    }

    fn check_reusable(&self) -> Result<(), ConnectError> {
        match self.ready_state() {
            ReadyState::Closed | ReadyState::Closing => Ok(()),
            _ => Err(ConnectError::InUse),
        }
    }

    /// Back to a fresh connection that starts now, keeping the settings, TCP_NODELAY, the waker
    /// and a previous socket still draining (its close frame must not be lost to a reset).
    /// Events not yet taken are dropped with the old connection.
    fn reset(&mut self, now: Instant) {
        let config = std::mem::take(&mut self.config);
        let attention = self.attention.take();
        // An embedder's stream (a Godot stream object) is not kept draining: the next
        // connection may be driven from an I/O thread, and such a stream belongs to the
        // embedder's thread. It is shut and dropped here, on the caller's thread.
        let linger = self.linger.take().filter(|l| !l.is_custom());
        let no_delay = self.no_delay;
        *self = Connection::new(config);
        self.attend(attention);
        self.linger = linger;
        self.no_delay = no_delay;
        self.open_deadline = self.config.handshake_timeout.and_then(|t| clock::deadline(now, t));
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Settings read when the upgrade completes (buffer sizes) or on each use (caps, heartbeat).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Queues a warning for the owner (what its driver has to report about it).
    pub(crate) fn warn(&mut self, warning: String) {
        self.events.push(Event::Warning(warning));
    }

    /// Whether the upgrade completed (it stays true once closed).
    pub fn has_opened(&self) -> bool {
        self.was_open
    }

    /// Whether a request waits for [`Connection::approve`].
    pub fn is_awaiting_approval(&self) -> bool {
        matches!(&self.phase, Phase::Upgrading(up) if up.is_held())
    }

    /// Answers a held request: `Ok` sends the 101 and opens the connection at the next poll;
    /// `Err` sends that HTTP error and closes (not logged: the owner decided it, and a game
    /// turning requests away routinely wants no warning each time). Does nothing when no
    /// request is held.
    pub fn approve(&mut self, decision: Result<(), handshake::Rejection>) {
        let Phase::Upgrading(up) = &mut self.phase else { return };
        if !up.is_held() {
            return;
        }
        up.answer(decision, &self.config.handshake_headers);
        self.wake();
    }

    /// Close code: the remote's (once its close frame arrived; 1005 when it had none), the one
    /// we failed with, or none when the close was not clean (the engine's -1).
    pub fn close_code(&self) -> Option<u16> {
        match &self.phase {
            Phase::Open(open) => open.received().map_or(self.close_code, |(code, _)| Some(*code)),
            _ => self.close_code,
        }
    }

    pub fn close_reason(&self) -> &str {
        match &self.phase {
            Phase::Open(open) => open.received().map_or(&self.close_reason, |(_, reason)| reason),
            _ => &self.close_reason,
        }
    }

    pub fn selected_protocol(&self) -> &str {
        &self.selected_protocol
    }

    /// The extensions agreed in the upgrade, as the 101's `Sec-WebSocket-Extensions` value ("" for
    /// none; only permessage-deflate is known).
    pub fn negotiated_extensions(&self) -> &str {
        &self.extensions
    }

    /// Client: the URL as given. Server: scheme + `Host` + request target ("" before a request).
    pub fn requested_url(&self) -> String {
        match &self.role {
            Role::Idle => String::new(),
            Role::Client(client) => client.requested.clone(),
            Role::Server(ServerRole { request: None, .. }) => String::new(),
            Role::Server(ServerRole { request: Some(req), secure }) => {
                let scheme = if *secure { "wss" } else { "ws" };
                let host = handshake::header(&req.headers, "host").unwrap_or_default();
                format!("{scheme}://{host}{}", req.target)
            }
        }
    }

    /// Server side: the client's upgrade request (path, query, headers).
    pub fn request(&self) -> Option<&RequestHead> {
        match &self.role {
            Role::Server(server) => server.request.as_ref(),
            _ => None,
        }
    }

    /// The remote address, once TCP is connected.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        match &self.phase {
            Phase::Closed | Phase::Dialing(_) => None,
            _ => self.remote,
        }
    }

    /// The mio TCP socket, for registration with a mio registry.
    pub fn socket_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.phase {
            Phase::Closed => None,
            Phase::Dialing(dial) => dial.socket_mut(),
            Phase::Upgrading(up) => up.io_mut().tcp_mut(),
            Phase::Open(open) => open.io_mut().tcp_mut(),
        }
    }

    /// TCP_NODELAY, on by default like the engine. Returns false without a socket.
    pub fn set_no_delay(&mut self, enabled: bool) -> bool {
        self.no_delay = enabled;
        match &mut self.phase {
            Phase::Closed => false,
            Phase::Dialing(dial) => dial.socket_mut().is_some_and(|s| s.set_nodelay(enabled).is_ok()),
            Phase::Upgrading(up) => up.io_mut().set_nodelay(enabled),
            Phase::Open(open) => open.io_mut().set_nodelay(enabled),
        }
    }

    /// Bytes of messages queued for sending and not yet fully written; 0 unless OPEN.
    pub fn buffered_amount(&self) -> usize {
        match &self.phase {
            Phase::Open(open) if !open.is_closing() => open.buffered_amount(),
            _ => 0,
        }
    }

    /// The earliest time `poll` has work to do without socket activity (timeouts, heartbeat,
    /// the end of a linger).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.hold != Hold::No {
            return None; // the game's poll releases it
        }
        match &self.phase {
            Phase::Dialing(_) => self.open_deadline,
            Phase::Upgrading(up) => up.next_deadline(),
            Phase::Open(open) => open.next_deadline(&self.config),
            Phase::Closed => self.linger.as_ref().and_then(Linger::until),
        }
    }

    /// True while a closed connection still drains its socket (see [`linger`]).
    pub fn is_lingering(&self) -> bool {
        self.linger.is_some()
    }

    /// One step of the driver: reads, writes, timers, as far as the socket allows now.
    pub(crate) fn drive(&mut self, now: Instant) {
        self.inbox.publish_on_take = self.is_deferred();
        if self.hold != Hold::No && !self.is_deferred() {
            // Its I/O thread stopped: the owner's polls drive it, and the failure goes on.
            self.hold = Hold::No;
        }
        if self.hold != Hold::No {
            // Held for the game (see `Hold`): its answers go out, nothing more is read.
            return self.write_pending(now);
        }
        self.step(now);
        if self.is_deferred() && matches!(&self.phase, Phase::Open(open) if open.is_failing()) {
            self.hold = Hold::Untaken;
        }
    }

    fn step(&mut self, now: Instant) {
        if self.linger.as_mut().is_some_and(|l| l.drain(now)) {
            self.linger = None;
        }
        let timed_out = match &self.phase {
            Phase::Dialing(_) => self.open_deadline.is_some_and(|d| now >= d),
            Phase::Upgrading(up) => up.timed_out(now),
            Phase::Open(_) | Phase::Closed => false,
        };
        if timed_out {
            return self.end_now(End::Abort { close_received: false, why: Dropped::HandshakeTimeout }, now);
        }
        loop {
            let step = match std::mem::replace(&mut self.phase, Phase::Closed) {
                Phase::Closed => return,
                Phase::Dialing(dial) => match dial.poll(self.no_delay) {
                    Dialed::Pending(dial) => Step::Wait(Phase::Dialing(dial)),
                    Dialed::Connected { io, remote, client } => {
                        self.remote = Some(remote);
                        Step::Next(Phase::Upgrading(Upgrade::client(io, &client, &self.config, self.open_deadline)))
                    }
                    Dialed::Failed(why) => {
                        Step::End(End::Abort { close_received: false, why: Dropped::Failed(why) }, None)
                    }
                },
                Phase::Upgrading(up) => match up.poll(&self.config, &mut self.role, &mut self.events, self.remote) {
                    Upgraded::Pending(up) => Step::Wait(Phase::Upgrading(up)),
                    Upgraded::Open { io, tail, selected } => Step::Next(self.open(io, tail, selected)),
                    Upgraded::Refused { io } => {
                        self.config.counters.refused();
                        Step::End(End::Abort { close_received: false, why: Dropped::Refused }, Some(io))
                    }
                    Upgraded::Failed { io, why } => {
                        let why = why.map_or(Dropped::ByRemote, Dropped::Failed);
                        Step::End(End::Abort { close_received: false, why }, Some(io))
                    }
                },
                Phase::Open(open) => match open.poll(now, &self.config, &mut self.inbox, &mut self.events) {
                    Opened::Stay(open) => Step::Wait(Phase::Open(open)),
                    Opened::Ended(end, io) => Step::End(end, Some(io)),
                },
            };
            match step {
                Step::Wait(phase) => return self.phase = phase,
                Step::Next(phase) => self.phase = phase,
                Step::End(end, io) => return self.end(end, io, now),
            }
        }
    }

    /// The upgrade completed: the open phase starts.
    fn open(&mut self, io: Transport, tail: Vec<u8>, selected: Selected) -> Phase {
        let Selected { protocol, extension } = selected;
        self.selected_protocol = protocol.clone();
        self.was_open = true;
        self.open_deadline = None;
        self.events.push(Event::Open { protocol });
        self.config.counters.opened();
        self.counted_open = true;
        let server = matches!(self.role, Role::Server(_));
        let open = Open::new(io, tail, server, &self.config, extension.as_ref());
        self.extensions = extension.map(|agreed| agreed.header).unwrap_or_default();
        Phase::Open(open)
    }
}

impl Default for Connection {
    fn default() -> Self {
        Connection::new(Config::default())
    }
}
