//! The HTTP/1.1 upgrade of RFC 6455, both sides, as pure functions over bytes.
//!
//! Written here rather than taken from tungstenite's handshake machine because the engine's wire
//! format is the contract (header order, `Host` without a default port, raw extra header lines),
//! because a refused request must get an HTTP error response, and because the game needs the
//! request's path and headers. tungstenite still provides the key derivation.

use std::fmt;

pub use tungstenite::handshake::client::generate_key;
pub use tungstenite::handshake::derive_accept_key;

use crate::extensions::{self, Agreement};
use crate::url::WsUrl;

/// Most bytes of a response head a client reads (the engine's `WSL_MAX_HEADER_SIZE`).
pub const MAX_RESPONSE_HEAD: usize = 4096;
/// Most bytes of a request head a server reads; browsers with cookies need more than 4 KiB.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Most header lines parsed in either direction.
pub const MAX_HEADERS: usize = 64;

/// A parsed header list, names as sent.
pub type Headers = Vec<(String, String)>;

/// Value of the first header named `name` (case-insensitive), repeated headers joined with ",".
pub fn header(headers: &Headers, name: &str) -> Option<String> {
    let mut values = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let first = values.next()?;
    Some(values.fold(first.to_string(), |acc, v| format!("{acc},{v}")))
}

fn has_token(headers: &Headers, name: &str, token: &str) -> bool {
    header(headers, name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

fn split_list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

/// Why a client handshake failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandshakeError {
    TooLarge,
    Malformed(String),
    Status(u16, String),
    MissingUpgrade,
    AcceptMismatch,
    Protocol(String),
    Extension(String),
}

impl fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge => write!(f, "the server's response headers exceed {MAX_RESPONSE_HEAD} bytes"),
            Self::Malformed(e) => write!(f, "malformed HTTP response from the server: {e}"),
            Self::Status(c, r) => write!(f, "the server answered HTTP {c} {r} instead of 101 Switching Protocols"),
            Self::MissingUpgrade => {
                write!(f, "the server's 101 response lacks 'Upgrade: websocket' / 'Connection: Upgrade'")
            }
            Self::AcceptMismatch => write!(f, "the server's Sec-WebSocket-Accept does not match the key sent"),
            Self::Protocol(e) => write!(f, "subprotocol negotiation failed: {e}"),
            Self::Extension(e) => write!(f, "extension negotiation failed: {e}"),
        }
    }
}

/// The client's upgrade request, byte for byte as the engine writes it.
/// With `compression`, permessage-deflate is offered after the engine's lines.
pub fn client_request(
    url: &WsUrl,
    key: &str,
    protocols: &[String],
    compression: bool,
    extra_headers: &[String],
) -> Vec<u8> {
    let mut s = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
        url.target,
        url.host_header()
    );
    if !protocols.is_empty() {
        s.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", protocols.join(",")));
    }
    if compression {
        s.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", extensions::CLIENT_OFFER));
    }
    end_head(s, extra_headers)
}

/// Appends the caller's extra header lines (without their own line ends) and the blank line
/// that ends the head.
fn end_head(mut head: String, extra_headers: &[String]) -> Vec<u8> {
    for h in extra_headers {
        head.push_str(h.trim_end_matches(['\r', '\n']));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Whether `text` can go into an HTTP head as it is (a header line, a subprotocol name): no CR,
/// LF or other control character, which would end the line early and start another (a tab
/// is allowed). Trailing line ends are tolerated: the request writer strips them.
pub fn is_safe_in_head(text: &str) -> bool {
    !text.trim_end_matches(['\r', '\n']).chars().any(|c| c.is_control() && c != '\t')
}

/// The head of an HTTP response.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
}

/// Parses a response head from `buf`: `Ok(None)` until it is complete, then its length in bytes.
pub fn parse_response(buf: &[u8]) -> Result<Option<(usize, ResponseHead)>, ClientHandshakeError> {
    let mut hdrs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hdrs);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => Ok(Some((
            n,
            ResponseHead {
                status: resp.code.unwrap_or(0),
                reason: resp.reason.unwrap_or("").to_string(),
                headers: collect(resp.headers),
            },
        ))),
        Ok(httparse::Status::Partial) if buf.len() > MAX_RESPONSE_HEAD => Err(ClientHandshakeError::TooLarge),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(ClientHandshakeError::Malformed(e.to_string())),
    }
}

fn collect(headers: &[httparse::Header<'_>]) -> Headers {
    headers.iter().map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).trim().to_string())).collect()
}

/// What the server's 101 selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    /// The subprotocol, "" for none.
    pub protocol: String,
    pub extension: Option<Agreement>,
}

/// Checks a response as the engine does, and its extension answer as RFC 7692 asks
/// (`compression`: whether we offered permessage-deflate).
pub fn verify_response(
    head: &ResponseHead,
    key: &str,
    offered: &[String],
    compression: bool,
) -> Result<Selected, ClientHandshakeError> {
    if head.status != 101 {
        return Err(ClientHandshakeError::Status(head.status, head.reason.clone()));
    }
    if !has_token(&head.headers, "upgrade", "websocket") || !has_token(&head.headers, "connection", "upgrade") {
        return Err(ClientHandshakeError::MissingUpgrade);
    }
    if header(&head.headers, "sec-websocket-accept").as_deref() != Some(derive_accept_key(key.as_bytes()).as_str()) {
        return Err(ClientHandshakeError::AcceptMismatch);
    }
    let answer = header(&head.headers, "sec-websocket-extensions");
    let extension = extensions::verify(answer.as_deref(), compression).map_err(ClientHandshakeError::Extension)?;
    let protocol = selected_protocol(head, offered)?;
    Ok(Selected { protocol, extension })
}

fn selected_protocol(head: &ResponseHead, offered: &[String]) -> Result<String, ClientHandshakeError> {
    let selected = header(&head.headers, "sec-websocket-protocol").unwrap_or_default();
    match (offered.is_empty(), selected.is_empty()) {
        (true, true) => Ok(selected),
        (true, false) => {
            Err(ClientHandshakeError::Protocol(format!("the server selected '{selected}', none was offered")))
        }
        (false, true) => {
            Err(ClientHandshakeError::Protocol(format!("the server selected none of {}", offered.join(","))))
        }
        (false, false) if offered.contains(&selected) => Ok(selected),
        (false, false) => {
            Err(ClientHandshakeError::Protocol(format!("the server selected '{selected}', which was not offered")))
        }
    }
}

/// The head of an HTTP request, as the server read it.
#[derive(Debug, Clone, Default)]
pub struct RequestHead {
    pub method: String,
    pub target: String,
    pub headers: Headers,
}

/// A refused upgrade: the HTTP status and a short reason sent as the body and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

impl Rejection {
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Rejection { status, reason: reason.into() }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {} {}: {}", self.status, status_text(self.status), self.reason)
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Parses a request head from `buf`: `Ok(None)` until it is complete, then its length in bytes.
pub fn parse_request(buf: &[u8]) -> Result<Option<(usize, RequestHead)>, Rejection> {
    let mut hdrs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hdrs);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => {
            if req.version != Some(1) {
                return Err(Rejection::new(400, "HTTP/1.1 is required"));
            }
            Ok(Some((
                n,
                RequestHead {
                    method: req.method.unwrap_or("").to_string(),
                    target: req.path.unwrap_or("").to_string(),
                    headers: collect(req.headers),
                },
            )))
        }
        Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
            Err(Rejection::new(431, format!("request head over {MAX_REQUEST_HEAD} bytes")))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(Rejection::new(431, format!("more than {MAX_HEADERS} headers"))),
        Err(e) => Err(Rejection::new(400, format!("malformed request: {e}"))),
    }
}

/// What the server answers an acceptable request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub accept_key: String,
    /// The selected subprotocol, "" for none.
    pub protocol: String,
    /// permessage-deflate, when offered and accepted.
    pub extension: Option<Agreement>,
}

/// Decides whether `req` is a WebSocket upgrade this server accepts.
///
/// Subprotocols: the first offered one (client's order) that `supported` lists. With `supported`
/// empty, any offer is accepted without a protocol (RFC 6455 allows it; the engine refuses). With
/// `supported` non-empty, a client that offers none of them is refused, as by the engine.
///
/// With `compression`, the first valid permessage-deflate offer is accepted.
pub fn accept_request(req: &RequestHead, supported: &[String], compression: bool) -> Result<Accepted, Rejection> {
    if req.method != "GET" {
        return Err(Rejection::new(405, format!("method {} is not GET", req.method)));
    }
    let h = &req.headers;
    if !has_token(h, "upgrade", "websocket") || !has_token(h, "connection", "upgrade") {
        return Err(Rejection::new(
            426,
            "this is a WebSocket endpoint: 'Upgrade: websocket' and 'Connection: Upgrade' are required",
        ));
    }
    if header(h, "sec-websocket-version").as_deref().map(str::trim) != Some("13") {
        return Err(Rejection::new(426, "Sec-WebSocket-Version 13 is required"));
    }
    if header(h, "host").is_none() {
        return Err(Rejection::new(400, "missing Host header"));
    }
    let key = header(h, "sec-websocket-key").unwrap_or_default();
    if !valid_key(key.trim()) {
        return Err(Rejection::new(400, "missing or invalid Sec-WebSocket-Key"));
    }
    let offered = header(h, "sec-websocket-protocol").unwrap_or_default();
    let protocol = split_list(&offered).find(|p| supported.iter().any(|s| s == p)).unwrap_or("").to_string();
    if protocol.is_empty() && !supported.is_empty() {
        return Err(Rejection::new(
            400,
            format!("no supported subprotocol offered (offered '{offered}', supported '{}')", supported.join(",")),
        ));
    }
    // Every Sec-WebSocket-Extensions line counts (RFC 6455 §9.1): `header` joins them in order.
    let offers = header(h, "sec-websocket-extensions").unwrap_or_default();
    let extension = if compression { extensions::accept(&offers) } else { None };
    Ok(Accepted { accept_key: derive_accept_key(key.trim().as_bytes()), protocol, extension })
}

/// A key is the base64 encoding of 16 bytes: 22 characters and "==".
fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 24
        && b[22..] == *b"=="
        && b[..22].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
        && b"AQgw".contains(&b[21]) // the last 4 bits of the 16th byte are padding, so zero
}

/// The 101 response, byte for byte as the engine writes it.
pub fn response_101(accepted: &Accepted, extra_headers: &[String]) -> Vec<u8> {
    let mut s = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n",
        accepted.accept_key
    );
    if !accepted.protocol.is_empty() {
        s.push_str(&format!("Sec-WebSocket-Protocol: {}\r\n", accepted.protocol));
    }
    if let Some(agreed) = &accepted.extension {
        s.push_str(&format!("Sec-WebSocket-Extensions: {}\r\n", agreed.header));
    }
    end_head(s, extra_headers)
}

/// An HTTP error response for a refused request; the connection is closed after it.
pub fn error_response(r: &Rejection) -> Vec<u8> {
    let body = format!("{}\n", r.reason);
    let extra = if r.status == 426 { "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" } else { "" };
    format!(
        "HTTP/1.1 {} {}\r\n{extra}Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        r.status,
        status_text(r.status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_text_without_line_breaks_goes_into_a_head() {
        assert!(is_safe_in_head("Authorization: Bearer x"));
        assert!(is_safe_in_head("X-Tab:\tok\r\n"), "a trailing line end is stripped by the writer");
        assert!(!is_safe_in_head("X: a\r\nY: b"));
        assert!(!is_safe_in_head("X: a\nY: b"));
        assert!(!is_safe_in_head("proto\u{0}"));
    }

    fn request(extra: &str) -> RequestHead {
        let raw = format!(
            "GET /chat?x=1 HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        parse_request(raw.as_bytes()).unwrap().unwrap().1
    }

    #[test]
    fn rfc_example_key_and_target() {
        let req = request("");
        assert_eq!(req.target, "/chat?x=1");
        let a = accept_request(&req, &[], false).unwrap();
        assert_eq!(a.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(a.protocol, "");
    }

    #[test]
    fn subprotocols_follow_client_order_and_are_lenient_without_support() {
        let req = request("Sec-WebSocket-Protocol: a, b\r\nSec-WebSocket-Protocol: c\r\n");
        assert_eq!(accept_request(&req, &["c".into(), "b".into()], false).unwrap().protocol, "b");
        assert_eq!(accept_request(&req, &[], false).unwrap().protocol, "");
        assert_eq!(accept_request(&req, &["z".into()], false).unwrap_err().status, 400);
        assert_eq!(accept_request(&request(""), &["z".into()], false).unwrap_err().status, 400);
    }

    #[test]
    fn refusals_have_statuses() {
        let plain = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap().unwrap().1;
        assert_eq!(accept_request(&plain, &[], false).unwrap_err().status, 426);
        let bad_key = request("")
            .headers
            .into_iter()
            .map(|(n, v)| if n == "Sec-WebSocket-Key" { (n, "abc".into()) } else { (n, v) })
            .collect();
        let r = RequestHead { headers: bad_key, ..request("") };
        assert_eq!(accept_request(&r, &[], false).unwrap_err().status, 400);
        assert_eq!(parse_request(b"\x16\x03\x01garbage\r\n\r\n").unwrap_err().status, 400);
        let big = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_REQUEST_HEAD + 1));
        assert_eq!(parse_request(big.as_bytes()).unwrap_err().status, 431);
        let resp = String::from_utf8(error_response(&Rejection::new(426, "x"))).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n") && resp.contains("Sec-WebSocket-Version: 13\r\n")
        );
    }

    #[test]
    fn client_request_and_response_round_trip() {
        let url = WsUrl::parse("ws://localhost:9080/p").unwrap();
        let key = generate_key();
        let raw = client_request(&url, &key, &["a".into(), "b".into()], false, &["X-Token: 1".into()]);
        let (n, req) = parse_request(&raw).unwrap().unwrap();
        assert_eq!(n, raw.len());
        assert_eq!(header(&req.headers, "host").unwrap(), "localhost:9080");
        assert_eq!(header(&req.headers, "x-token").unwrap(), "1");
        let acc = accept_request(&req, &["b".into()], false).unwrap();
        let resp = response_101(&acc, &["X-Extra: y".into()]);
        let (_, head) = parse_response(&resp).unwrap().unwrap();
        let selected = verify_response(&head, &key, &["a".into(), "b".into()], false).unwrap();
        assert_eq!((selected.protocol.as_str(), selected.extension), ("b", None));
        assert!(matches!(verify_response(&head, &key, &[], false), Err(ClientHandshakeError::Protocol(_))));
        assert_eq!(verify_response(&head, "other", &["b".into()], false), Err(ClientHandshakeError::AcceptMismatch));
    }

    #[test]
    fn permessage_deflate_is_offered_and_accepted_only_when_enabled() {
        let url = WsUrl::parse("ws://localhost/").unwrap();
        let key = generate_key();
        let plain = client_request(&url, &key, &[], false, &[]);
        assert!(!String::from_utf8_lossy(&plain).contains("Extensions"), "the engine's request stays exact");
        let raw = client_request(&url, &key, &[], true, &[]);
        let (_, req) = parse_request(&raw).unwrap().unwrap();
        assert_eq!(header(&req.headers, "sec-websocket-extensions").unwrap(), extensions::CLIENT_OFFER);
        assert_eq!(accept_request(&req, &[], false).unwrap().extension, None);
        let acc = accept_request(&req, &[], true).unwrap();
        let resp = response_101(&acc, &[]);
        assert!(String::from_utf8_lossy(&resp).contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"));
        let (_, head) = parse_response(&resp).unwrap().unwrap();
        let agreed = verify_response(&head, &key, &[], true).unwrap().extension.unwrap();
        assert_eq!(agreed.deflate.send_window, 15);
        assert!(matches!(verify_response(&head, &key, &[], false), Err(ClientHandshakeError::Extension(_))));
    }
}
