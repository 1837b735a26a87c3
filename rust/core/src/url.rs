//! `ws://` / `wss://` URLs, parsed the way the engine's `WebSocketPeer.connect_to_url` reads them.

use std::fmt;

/// A WebSocket URL split into what the connection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsUrl {
    /// `wss://`.
    pub tls: bool,
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    /// Port; 80 or 443 when the URL names none.
    pub port: u16,
    /// Request target: path and query, never empty (`/` by default). The fragment is dropped.
    pub target: String,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    Empty,
    Scheme(String),
    NoHost,
    Port(String),
    /// A control character, or white space outside the path: it would end up in the HTTP
    /// request as it is (the engine sends it, which lets a URL add its own headers).
    Character(char),
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Empty => write!(f, "the URL is empty"),
            UrlError::Scheme(s) => write!(f, "unsupported scheme '{s}' (use ws:// or wss://)"),
            UrlError::NoHost => write!(f, "the URL has no host"),
            UrlError::Port(p) => write!(f, "invalid port '{p}'"),
            UrlError::Character(c) => write!(f, "the URL contains {c:?}, which cannot be sent in a request"),
        }
    }
}

impl WsUrl {
    /// Parses `url`. A URL without a scheme is taken as `ws://`. Spaces in the path or query
    /// are sent percent-encoded; control characters are refused.
    pub fn parse(url: &str) -> Result<WsUrl, UrlError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlError::Empty);
        }
        if let Some(c) = url.chars().find(|c| c.is_control()) {
            return Err(UrlError::Character(c));
        }
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ws" => (false, rest),
                "wss" => (true, rest),
                _ => return Err(UrlError::Scheme(scheme.to_string())),
            },
            None => (false, url),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let target = match target.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{target}"),
            Some(_) => target.to_string(),
        }
        .replace(' ', "%20");
        // Userinfo is not sent by WebSocket clients; drop it like the engine does.
        let authority = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = if let Some(inner) = authority.strip_prefix('[') {
            let (host, after) = inner.split_once(']').ok_or(UrlError::NoHost)?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        if let Some(c) = authority.chars().find(|c| c.is_whitespace()) {
            return Err(UrlError::Character(c));
        }
        let default_port = if tls { 443 } else { 80 };
        let port = match port {
            None | Some("") => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(UrlError::Port(p.to_string())),
            },
        };
        Ok(WsUrl { tls, host: host.to_string(), port, target })
    }

    /// The `Host` header: `:port` is added only when the port is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_parts() {
        let u = WsUrl::parse("ws://example.com").unwrap();
        assert_eq!((u.tls, u.host.as_str(), u.port, u.target.as_str()), (false, "example.com", 80, "/"));
        assert_eq!(u.host_header(), "example.com");
        let u = WsUrl::parse("wss://example.com:8443/a/b?x=1#frag").unwrap();
        assert_eq!((u.tls, u.port, u.target.as_str()), (true, 8443, "/a/b?x=1"));
        assert_eq!(u.host_header(), "example.com:8443");
        let u = WsUrl::parse("127.0.0.1:9080?q").unwrap();
        assert_eq!((u.tls, u.port, u.target.as_str()), (false, 9080, "/?q"));
        let u = WsUrl::parse("ws://[::1]:9000/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9000));
        assert_eq!(u.host_header(), "[::1]:9000");
    }

    #[test]
    fn refusals() {
        assert_eq!(WsUrl::parse(""), Err(UrlError::Empty));
        assert_eq!(WsUrl::parse("http://x"), Err(UrlError::Scheme("http".into())));
        assert_eq!(WsUrl::parse("ws://:80/"), Err(UrlError::NoHost));
        assert_eq!(WsUrl::parse("ws://h:99999/"), Err(UrlError::Port("99999".into())));
        assert_eq!(WsUrl::parse("ws://h:abc"), Err(UrlError::Port("abc".into())));
        assert_eq!(WsUrl::parse("ws://h/a\r\nX: y"), Err(UrlError::Character('\r')));
        assert_eq!(WsUrl::parse("ws://h/\nX: y"), Err(UrlError::Character('\n')));
        assert_eq!(WsUrl::parse("ws://h o/"), Err(UrlError::Character(' ')));
    }

    #[test]
    fn spaces_in_the_path_are_percent_encoded() {
        let u = WsUrl::parse("ws://h/my room?q=a b").unwrap();
        assert_eq!(u.target, "/my%20room?q=a%20b");
    }
}
