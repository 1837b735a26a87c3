//! The HTTP upgrade, both sides, over a connected transport (TLS, where used, runs inside the
//! transport during the same reads and writes). The client writes its request and checks the
//! 101; the server reads the request and answers with the 101 or an HTTP error, or, when the
//! owner wants to decide (`hold`), keeps an acceptable request until [`Upgrade::answer`].

use std::io::{self, Read, Write};
use std::net::SocketAddr;

use super::types::{fmt_addr, Event};
use super::{ClientRole, Role};
use crate::config::Config;
use crate::handshake::{self, Accepted, Rejection, Selected};
use crate::tls;
use crate::transport::Transport;

pub(super) struct Upgrade {
    io: Transport,
    /// What to write, and how much of it is written.
    out: Vec<u8>,
    sent: usize,
    /// What was read and not yet parsed.
    inbuf: Vec<u8>,
    side: Side,
    next: AfterWrite,
}

enum Side {
    /// The `Sec-WebSocket-Key` sent, to check the answer against, and the URL as given, for
    /// messages.
    Client { key: String, requested: String },
    /// Hold acceptable requests for the owner's decision.
    Server { hold: bool },
}

/// What happens once `out` is written.
enum AfterWrite {
    Read,
    /// Server: an acceptable request waits for [`Upgrade::answer`].
    Held {
        accepted: Accepted,
        tail: Vec<u8>,
    },
    Open {
        tail: Vec<u8>,
        selected: Selected,
    },
    Close,
}

/// What a poll of the upgrade came to.
pub(super) enum Upgraded {
    Pending(Box<Upgrade>),
    /// The 101 was sent or received. `tail`: bytes read past the HTTP head (first frames).
    Open {
        io: Transport,
        tail: Vec<u8>,
        selected: Selected,
    },
    /// We answered with an HTTP error and it is written (logged when we refused a bad request;
    /// not when the owner refused, see `Connection::approve`).
    Refused {
        io: Transport,
    },
    /// It ended without a WebSocket; `why` is worth a warning (`None`: the remote left).
    Failed {
        io: Transport,
        why: Option<String>,
    },
}

impl Upgrade {
    /// Client: writes the upgrade request for the client's URL.
    pub fn client(io: Transport, client: &ClientRole, config: &Config) -> Box<Upgrade> {
        let key = handshake::generate_key();
        let compression = config.compression.enabled;
        let protocols = &config.supported_protocols;
        let out = handshake::client_request(&client.url, &key, protocols, compression, &config.handshake_headers);
        let side = Side::Client { key, requested: client.requested.clone() };
        Box::new(Upgrade { io, out, sent: 0, inbuf: Vec::new(), side, next: AfterWrite::Read })
    }

    /// Server: reads a request.
    pub fn server(io: Transport, hold: bool) -> Box<Upgrade> {
        let side = Side::Server { hold };
        Box::new(Upgrade { io, out: Vec::new(), sent: 0, inbuf: Vec::new(), side, next: AfterWrite::Read })
    }

    pub fn io_mut(&mut self) -> &mut Transport {
        &mut self.io
    }

    pub fn into_io(self) -> Transport {
        self.io
    }

    pub fn is_held(&self) -> bool {
        matches!(self.next, AfterWrite::Held { .. })
    }

    /// Takes the held request, if one waits.
    pub fn take_held(&mut self) -> Option<(Accepted, Vec<u8>)> {
        match std::mem::replace(&mut self.next, AfterWrite::Read) {
            AfterWrite::Held { accepted, tail } => Some((accepted, tail)),
            other => {
                self.next = other;
                None
            }
        }
    }

    /// Server: queues the answer to a request, the 101 or an HTTP error; returns the refusal.
    pub fn answer(
        &mut self,
        decision: Result<(Accepted, Vec<u8>), Rejection>,
        extra_headers: &[String],
    ) -> Option<Rejection> {
        self.sent = 0;
        match decision {
            Ok((accepted, tail)) => {
                self.out = handshake::response_101(&accepted, extra_headers);
                let selected = Selected { protocol: accepted.protocol, extension: accepted.extension };
                self.next = AfterWrite::Open { tail, selected };
                None
            }
            Err(rej) => {
                self.out = handshake::error_response(&rej);
                self.next = AfterWrite::Close;
                Some(rej)
            }
        }
    }

    /// Writes, reads and parses as far as the transport allows now.
    pub fn poll(
        mut self: Box<Self>,
        config: &Config,
        role: &mut Role,
        events: &mut Vec<Event>,
        remote: Option<SocketAddr>,
    ) -> Upgraded {
        loop {
            match self.pump() {
                Err(why) => return Upgraded::Failed { io: self.io, why: Some(why) },
                Ok(false) => return Upgraded::Pending(self),
                Ok(true) => {}
            }
            match std::mem::replace(&mut self.next, AfterWrite::Read) {
                AfterWrite::Read => {}
                AfterWrite::Open { tail, selected } => return Upgraded::Open { io: self.io, tail, selected },
                AfterWrite::Close => return Upgraded::Refused { io: self.io },
                held @ AfterWrite::Held { .. } => {
                    self.next = held;
                    return Upgraded::Pending(self);
                }
            }
            let limit = match self.side {
                Side::Client { .. } => handshake::MAX_RESPONSE_HEAD,
                Side::Server { .. } => handshake::MAX_REQUEST_HEAD,
            };
            match self.read_more(limit + 1) {
                Err(why) => return Upgraded::Failed { io: self.io, why },
                Ok(false) => return Upgraded::Pending(self),
                Ok(true) => {}
            }
            match &self.side {
                Side::Client { key, requested } => match check_response(&mut self.inbuf, key, requested, config) {
                    Ok(None) => {}
                    Ok(Some((tail, selected))) => return Upgraded::Open { io: self.io, tail, selected },
                    Err(why) => return Upgraded::Failed { io: self.io, why: Some(why) },
                },
                Side::Server { hold } => {
                    let hold = *hold;
                    self.on_request(config, role, events, remote, hold);
                }
            }
        }
    }

    /// Server: once a whole request head is read, answers it, or holds it for the owner.
    fn on_request(
        &mut self,
        config: &Config,
        role: &mut Role,
        events: &mut Vec<Event>,
        remote: Option<SocketAddr>,
        hold: bool,
    ) {
        let decision = match handshake::parse_request(&self.inbuf) {
            Ok(None) => return,
            Ok(Some((n, request))) => {
                let tail = self.inbuf.split_off(n);
                let compression = config.compression.enabled;
                let decision = handshake::accept_request(&request, &config.supported_protocols, compression);
                role.set_request(request);
                decision.map(|accepted| (accepted, tail))
            }
            Err(rej) => Err(rej),
        };
        match decision {
            Ok((accepted, tail)) if hold => {
                self.next = AfterWrite::Held { accepted, tail };
                events.push(Event::Request);
            }
            decision => {
                if let Some(refused) = self.answer(decision, &config.handshake_headers) {
                    events.push(refused_warning(remote, &refused));
                }
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
                Err(e) => return Err(tls::explain_io("during the WebSocket handshake", &e)),
            }
        }
        match self.io.flush() {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(tls::explain_io("during the WebSocket handshake", &e)),
        }
    }

    /// Reads what is there, up to `limit` bytes in all; Ok(false) if nothing could be read now.
    /// Err(None): the remote went away, nothing worth reporting.
    fn read_more(&mut self, limit: usize) -> Result<bool, Option<String>> {
        let mut chunk = [0u8; 1024];
        let room = limit.saturating_sub(self.inbuf.len()).clamp(1, chunk.len());
        match self.io.read(&mut chunk[..room]) {
            Ok(0) => Err(None),
            Ok(n) => {
                self.inbuf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(None),
            Err(e) => Err(Some(tls::explain_io("during the WebSocket handshake", &e))),
        }
    }
}

/// Client: once a whole response head is read, checks it. Ok(None): not complete yet;
/// Ok(Some((tail, selected))): accepted.
fn check_response(
    inbuf: &mut Vec<u8>,
    key: &str,
    requested: &str,
    config: &Config,
) -> Result<Option<(Vec<u8>, Selected)>, String> {
    let failed = |e: &dyn std::fmt::Display| format!("WebSocket handshake with '{requested}' failed: {e}");
    match handshake::parse_response(inbuf) {
        Ok(None) => Ok(None),
        Ok(Some((n, head))) => {
            match handshake::verify_response(&head, key, &config.supported_protocols, config.compression.enabled) {
                Ok(selected) => Ok(Some((inbuf.split_off(n), selected))),
                Err(e) => Err(failed(&e)),
            }
        }
        Err(e) => Err(failed(&e)),
    }
}

/// The log line for a refused upgrade request.
fn refused_warning(remote: Option<SocketAddr>, refused: &Rejection) -> Event {
    Event::Warning(format!("refused a WebSocket upgrade from {}: {refused}", fmt_addr(remote)))
}
