//! The HTTP upgrade as a state machine, both sides. Bytes in: [`Upgrade::handle_bytes`], at most
//! [`Upgrade::read_room`] at a time; bytes out: [`Upgrade::pending_transmit`], then
//! [`Upgrade::transmitted`] with how many were written; time: the handshake timeout is
//! [`Upgrade::next_deadline`], checked by [`Upgrade::handle_timeout`]. What the upgrade comes to
//! is taken from [`Upgrade::poll`], one [`UpgradeEvent`] at a time. The client's request is queued
//! at once and its answer checked; the server reads a request and answers it with the 101 or an
//! HTTP error, or, when held, reports [`UpgradeEvent::Held`] and waits for [`Upgrade::answer`].

use std::time::Instant;

use crate::config::Config;
use crate::handshake::{self, Accepted, Rejection, RequestHead, Selected};
use crate::url::WsUrl;

pub struct Upgrade {
    /// What to transmit, and how much of it is transmitted.
    out: Vec<u8>,
    sent: usize,
    /// What was received and not yet parsed.
    inbuf: Vec<u8>,
    side: Side,
    next: Next,
    /// When the handshake gives up (`handshake_timeout`).
    deadline: Option<Instant>,
}

enum Side {
    /// The `Sec-WebSocket-Key` sent, to check the answer against, and the URL as given, for
    /// messages.
    Client { key: String, requested: String },
    /// Hold acceptable requests for the owner's decision.
    Server { hold: bool },
}

/// What comes next, once `out` is transmitted.
enum Next {
    Read,
    /// Server: a request was read and reported; its answer (or its hold) comes at the next poll.
    Decide(Result<(Accepted, Vec<u8>), Rejection>),
    /// Server: an acceptable request waits for [`Upgrade::answer`].
    Held {
        accepted: Accepted,
        tail: Vec<u8>,
    },
    Open {
        tail: Vec<u8>,
        selected: Selected,
    },
    /// Our HTTP error answer: the connection ends once it is transmitted.
    Close,
}

/// What the upgrade came to.
#[derive(Debug)]
pub enum UpgradeEvent {
    /// Server: the request head was read (the owner keeps it); its answer comes next.
    Request(RequestHead),
    /// Server with `hold`: the acceptable request waits for [`Upgrade::answer`].
    Held,
    /// Server: we refused a bad request; its HTTP answer is queued (worth a warning).
    Refused(Rejection),
    /// The 101 was sent or received. `tail`: bytes received past the HTTP head (first frames).
    Open { tail: Vec<u8>, selected: Selected },
    /// Our HTTP error answer is transmitted: the connection ends.
    Answered,
    /// The handshake failed; why, for the log.
    Failed(String),
}

impl Upgrade {
    /// Client: queues the upgrade request for `url` (`requested`: the URL as given).
    pub fn client(url: &WsUrl, requested: &str, config: &Config, deadline: Option<Instant>) -> Upgrade {
        let key = handshake::generate_key();
        let compression = config.compression.enabled;
        let protocols = &config.supported_protocols;
        let out = handshake::client_request(url, &key, protocols, compression, &config.handshake_headers);
        let side = Side::Client { key, requested: requested.to_string() };
        Upgrade { out, sent: 0, inbuf: Vec::new(), side, next: Next::Read, deadline }
    }

    /// Server: waits for a request.
    pub fn server(hold: bool, deadline: Option<Instant>) -> Upgrade {
        let side = Side::Server { hold };
        Upgrade { out: Vec::new(), sent: 0, inbuf: Vec::new(), side, next: Next::Read, deadline }
    }

    /// When the handshake times out.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// True once the handshake timeout has passed at `now`.
    pub fn handle_timeout(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| now >= d)
    }

    pub fn is_held(&self) -> bool {
        matches!(self.next, Next::Held { .. })
    }

    /// The bytes to transmit now (empty when none).
    pub fn pending_transmit(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// `n` bytes of [`Upgrade::pending_transmit`] were written.
    pub fn transmitted(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
    }

    /// How many bytes the upgrade takes now: 0 while something waits to be transmitted, a
    /// request is held or the head is complete; else up to one byte past the longest head.
    pub fn read_room(&self) -> usize {
        if self.sent < self.out.len() || !matches!(self.next, Next::Read) {
            return 0;
        }
        let limit = match self.side {
            Side::Client { .. } => handshake::MAX_RESPONSE_HEAD,
            Side::Server { .. } => handshake::MAX_REQUEST_HEAD,
        };
        (limit + 1).saturating_sub(self.inbuf.len()).max(1)
    }

    /// Bytes received from the remote.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        self.inbuf.extend_from_slice(bytes);
    }

    /// Server: answers the held request: `Ok` queues the 101, `Err` that HTTP error. Does
    /// nothing when no request is held.
    pub fn answer(&mut self, decision: Result<(), Rejection>, extra_headers: &[String]) {
        if let Next::Held { accepted, tail } = std::mem::replace(&mut self.next, Next::Read) {
            self.queue_answer(decision.map(|()| (accepted, tail)), extra_headers);
        }
    }

    /// What the upgrade came to, once what is queued is transmitted; `None`: it needs bytes,
    /// a transmit or the owner's answer.
    pub fn poll(&mut self, config: &Config) -> Option<UpgradeEvent> {
        if self.sent < self.out.len() {
            return None;
        }
        match std::mem::replace(&mut self.next, Next::Read) {
            Next::Read => {}
            Next::Open { tail, selected } => return Some(UpgradeEvent::Open { tail, selected }),
            Next::Close => return Some(UpgradeEvent::Answered),
            held @ Next::Held { .. } => {
                self.next = held;
                return None;
            }
            Next::Decide(decision) => return self.decide(decision, config),
        }
        match &self.side {
            Side::Client { key, requested } => match check_response(&mut self.inbuf, key, requested, config) {
                Ok(None) => None,
                Ok(Some((tail, selected))) => Some(UpgradeEvent::Open { tail, selected }),
                Err(why) => Some(UpgradeEvent::Failed(why)),
            },
            Side::Server { .. } => match handshake::parse_request(&self.inbuf) {
                Ok(None) => None,
                Ok(Some((n, request))) => {
                    let tail = self.inbuf.split_off(n);
                    let compression = config.compression.enabled;
                    let decision = handshake::accept_request(&request, &config.supported_protocols, compression);
                    self.next = Next::Decide(decision.map(|accepted| (accepted, tail)));
                    Some(UpgradeEvent::Request(request))
                }
                Err(rej) => self.decide(Err(rej), config),
            },
        }
    }

    /// Server: holds an acceptable request for the owner, or answers it.
    fn decide(&mut self, decision: Result<(Accepted, Vec<u8>), Rejection>, config: &Config) -> Option<UpgradeEvent> {
        match decision {
            Ok((accepted, tail)) if matches!(self.side, Side::Server { hold: true }) => {
                self.next = Next::Held { accepted, tail };
                Some(UpgradeEvent::Held)
            }
            decision => self.queue_answer(decision, &config.handshake_headers).map(UpgradeEvent::Refused),
        }
    }

    /// Server: queues the answer to a request, the 101 or an HTTP error; returns the refusal.
    fn queue_answer(
        &mut self,
        decision: Result<(Accepted, Vec<u8>), Rejection>,
        extra_headers: &[String],
    ) -> Option<Rejection> {
        self.sent = 0;
        match decision {
            Ok((accepted, tail)) => {
                self.out = handshake::response_101(&accepted, extra_headers);
                let selected = Selected { protocol: accepted.protocol, extension: accepted.extension };
                self.next = Next::Open { tail, selected };
                None
            }
            Err(rej) => {
                self.out = handshake::error_response(&rej);
                self.next = Next::Close;
                Some(rej)
            }
        }
    }
}

/// Client: once a whole response head is received, checks it. Ok(None): not complete yet;
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
