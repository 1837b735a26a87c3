//! The HTTP upgrade's driver, both sides: moves bytes between a connected transport (TLS, where
//! used, runs inside the transport during the same reads and writes) and the protocol
//! ([`crate::proto::Upgrade`], which builds and checks the heads, answers or holds requests and
//! keeps the handshake timeout), and turns what it reports into events and I/O endings.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

use super::types::{fmt_addr, Event};
use super::{ClientRole, Role};
use crate::config::Config;
use crate::handshake::{Rejection, Selected};
use crate::proto::{self, UpgradeEvent};
use crate::tls;
use crate::transport::Transport;

pub(super) struct Upgrade {
    io: Transport,
    proto: proto::Upgrade,
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
    /// Client: writes the upgrade request for the client's URL; gives up at `deadline`.
    pub fn client(io: Transport, client: &ClientRole, config: &Config, deadline: Option<Instant>) -> Box<Upgrade> {
        let proto = proto::Upgrade::client(&client.url, &client.requested, config, deadline);
        Box::new(Upgrade { io, proto })
    }

    /// Server: reads a request; gives up at `deadline`.
    pub fn server(io: Transport, hold: bool, deadline: Option<Instant>) -> Box<Upgrade> {
        Box::new(Upgrade { io, proto: proto::Upgrade::server(hold, deadline) })
    }

    pub fn io_mut(&mut self) -> &mut Transport {
        &mut self.io
    }

    pub fn into_io(self) -> Transport {
        self.io
    }

    pub fn is_held(&self) -> bool {
        self.proto.is_held()
    }

    /// When the handshake times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.proto.next_deadline()
    }

    /// True once the handshake timeout has passed at `now`.
    pub fn timed_out(&self, now: Instant) -> bool {
        self.proto.handle_timeout(now)
    }

    /// Server: answers the held request (see [`proto::Upgrade::answer`]).
    pub fn answer(&mut self, decision: Result<(), Rejection>, extra_headers: &[String]) {
        self.proto.answer(decision, extra_headers);
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
            match self.proto.poll(config) {
                Some(UpgradeEvent::Request(request)) => role.set_request(request),
                Some(UpgradeEvent::Held) => events.push(Event::Request),
                Some(UpgradeEvent::Refused(refused)) => events.push(refused_warning(remote, &refused)),
                Some(UpgradeEvent::Open { tail, selected }) => return Upgraded::Open { io: self.io, tail, selected },
                Some(UpgradeEvent::Answered) => return Upgraded::Refused { io: self.io },
                Some(UpgradeEvent::Failed(why)) => return Upgraded::Failed { io: self.io, why: Some(why) },
                None if !self.proto.pending_transmit().is_empty() => {}
                None => {
                    let room = self.proto.read_room();
                    if room == 0 {
                        return Upgraded::Pending(self);
                    }
                    match self.read_more(room) {
                        Err(why) => return Upgraded::Failed { io: self.io, why },
                        Ok(false) => return Upgraded::Pending(self),
                        Ok(true) => {}
                    }
                }
            }
        }
    }

    /// Writes what the protocol has to send; Ok(true) once all of it is written and flushed,
    /// Ok(false) if it would block.
    fn pump(&mut self) -> Result<bool, String> {
        loop {
            let out = self.proto.pending_transmit();
            if out.is_empty() {
                break;
            }
            match self.io.write(out) {
                Ok(0) => return Err("the connection closed during the WebSocket handshake".into()),
                Ok(n) => self.proto.transmitted(n),
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

    /// Reads what is there, up to `room` bytes; Ok(false) if nothing could be read now.
    /// Err(None): the remote went away, nothing worth reporting.
    fn read_more(&mut self, room: usize) -> Result<bool, Option<String>> {
        let mut chunk = [0u8; 1024];
        let room = room.clamp(1, chunk.len());
        match self.io.read(&mut chunk[..room]) {
            Ok(0) => Err(None),
            Ok(n) => {
                self.proto.handle_bytes(&chunk[..n]);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Err(None),
            Err(e) => Err(Some(tls::explain_io("during the WebSocket handshake", &e))),
        }
    }
}

/// The log line for a refused upgrade request.
fn refused_warning(remote: Option<SocketAddr>, refused: &Rejection) -> Event {
    Event::Warning(format!("refused a WebSocket upgrade from {}: {refused}", fmt_addr(remote)))
}
