//! permessage-deflate negotiation (RFC 7692 §5 and §7.1) as pure functions: the client's
//! offer, the server's choice among offers, the client's check of the answer. What was agreed
//! is a [`Deflate`]: the parameters of our compressor and of our decompressor, seen from our side.

use std::fmt::Write as _;

/// The extension's token.
pub const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

/// What our client offers: permessage-deflate, with a window of the server's choosing for our
/// compressor (as browsers offer it).
pub const CLIENT_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// Compression settings of a connection: off by default, as the engine never compresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// permessage-deflate is offered (client) or accepted (server).
    pub enabled: bool,
    /// Messages shorter than this many bytes are sent uncompressed.
    pub threshold: usize,
}

/// The default [`Compression::threshold`]: below it, deflate's CPU buys few bytes.
pub const DEFAULT_THRESHOLD: usize = 128;

impl Default for Compression {
    fn default() -> Self {
        Compression { enabled: false, threshold: DEFAULT_THRESHOLD }
    }
}

/// The agreed permessage-deflate parameters, from our side of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// LZ77 window bits (8–15) our compressor may use: the remote inflates with that window.
    pub send_window: u8,
    /// We start each message with an empty window (our compressor is reset after each).
    pub send_no_context: bool,
    /// The window bits the remote compresses with.
    pub receive_window: u8,
    /// The remote starts each message with an empty window.
    pub receive_no_context: bool,
}

/// What both sides agreed: the `Sec-WebSocket-Extensions` value of the 101 and its meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub header: String,
    pub deflate: Deflate,
}

/// The parameters of one permessage-deflate offer or answer (RFC 7692 §7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Params {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value (only a client may send it so).
    client_max_window_bits: Option<Option<u8>>,
}

/// One element of an extension list: its name and its parameters.
type Element = (String, Vec<(String, Option<String>)>);

/// Splits a `Sec-WebSocket-Extensions` value into its elements, each an extension name and its
/// parameters (`name[=value]`, a quoted value unquoted). Commas and semicolons inside quotes
/// are not separators.
fn elements(value: &str) -> Vec<Element> {
    split_outside_quotes(value, ',')
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(|element| {
            let mut parts = split_outside_quotes(element, ';').into_iter();
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let params = parts
                .filter(|p| !p.trim().is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"').to_string())),
                    None => (p.trim().to_ascii_lowercase(), None),
                })
                .collect();
            (name, params)
        })
        .collect()
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in s.char_indices() {
        if c == '"' {
            quoted = !quoted;
        } else if c == sep && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// Window bits from a parameter value: 8–15 in plain decimal (RFC 7692 §7.1.2.1).
fn window_bits(value: &str) -> Option<u8> {
    if value.len() > 2 || value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|b| (8..=15).contains(b))
}

/// Reads the parameters of one element; `Err` names the first one that is unknown, repeated
/// or has an invalid value (such an offer is declined, such an answer fails the handshake).
fn parse_params(params: &[(String, Option<String>)], from_server: bool) -> Result<Params, String> {
    let mut p = Params::default();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        if seen.contains(&name.as_str()) {
            return Err(format!("parameter '{name}' appears twice"));
        }
        seen.push(name);
        let bad = || format!("parameter '{name}' has an invalid value");
        match (name.as_str(), value.as_deref()) {
            ("server_no_context_takeover", None) => p.server_no_context_takeover = true,
            ("client_no_context_takeover", None) => p.client_no_context_takeover = true,
            ("server_max_window_bits", Some(v)) => p.server_max_window_bits = Some(window_bits(v).ok_or_else(bad)?),
            ("client_max_window_bits", None) if !from_server => p.client_max_window_bits = Some(None),
            ("client_max_window_bits", Some(v)) => {
                p.client_max_window_bits = Some(Some(window_bits(v).ok_or_else(bad)?))
            }
            ("server_no_context_takeover" | "client_no_context_takeover", Some(_)) => return Err(bad()),
            ("server_max_window_bits" | "client_max_window_bits", None) => return Err(bad()),
            _ => return Err(format!("unknown parameter '{name}'")),
        }
    }
    Ok(p)
}

/// Server: the first permessage-deflate offer in `offers` (the request's
/// `Sec-WebSocket-Extensions`, every line joined with commas) whose parameters are valid, and
/// the answer to it. Every valid offer can be honoured: a window limit we cannot compress
/// within (8 bits, which zlib cannot produce) only means our messages go uncompressed.
pub fn accept(offers: &str) -> Option<Agreement> {
    let offer = elements(offers)
        .into_iter()
        .filter(|(name, _)| name == PERMESSAGE_DEFLATE)
        .find_map(|(_, params)| parse_params(&params, false).ok())?;
    let mut header = String::from(PERMESSAGE_DEFLATE);
    if offer.server_no_context_takeover {
        header.push_str("; server_no_context_takeover");
    }
    if offer.client_no_context_takeover {
        header.push_str("; client_no_context_takeover");
    }
    if let Some(bits) = offer.server_max_window_bits {
        let _ = write!(header, "; server_max_window_bits={bits}");
    }
    // Without a value the client lets us choose; we leave it the whole window.
    if let Some(Some(bits)) = offer.client_max_window_bits {
        let _ = write!(header, "; client_max_window_bits={bits}");
    }
    let deflate = Deflate {
        send_window: offer.server_max_window_bits.unwrap_or(15),
        send_no_context: offer.server_no_context_takeover,
        receive_window: offer.client_max_window_bits.flatten().unwrap_or(15),
        receive_no_context: offer.client_no_context_takeover,
    };
    Some(Agreement { header, deflate })
}

/// Client: checks the server's `Sec-WebSocket-Extensions` answer (`None`: the header was
/// absent). `offered`: whether we sent [`CLIENT_OFFER`]. An extension we did not offer, more
/// than one, or a parameter the RFC does not allow in an answer fails the handshake
/// (RFC 6455 §4.1, RFC 7692 §5).
pub fn verify(answer: Option<&str>, offered: bool) -> Result<Option<Agreement>, String> {
    let Some(answer) = answer.filter(|a| !a.trim().is_empty()) else { return Ok(None) };
    let mut all = elements(answer);
    if !offered || all.len() != 1 || all[0].0 != PERMESSAGE_DEFLATE {
        return Err(format!("the server answered with the extension '{answer}', which was not offered"));
    }
    let (_, params) = all.remove(0);
    let p = parse_params(&params, true).map_err(|e| format!("the server's permessage-deflate answer: {e}"))?;
    let deflate = Deflate {
        send_window: p.client_max_window_bits.flatten().unwrap_or(15),
        send_no_context: p.client_no_context_takeover,
        receive_window: p.server_max_window_bits.unwrap_or(15),
        receive_no_context: p.server_no_context_takeover,
    };
    Ok(Some(Agreement { header: answer.trim().to_string(), deflate }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_valid_offer_is_taken_and_answered_with_its_parameters() {
        let a = accept("x-webkit-deflate-frame, permessage-deflate; foo, permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits").unwrap();
        assert_eq!(a.header, "permessage-deflate; client_no_context_takeover; server_max_window_bits=10");
        let d = a.deflate;
        assert_eq!((d.send_window, d.send_no_context, d.receive_window, d.receive_no_context), (10, false, 15, true));
        let b = accept("permessage-deflate; client_max_window_bits=\"9\"; server_no_context_takeover").unwrap();
        assert_eq!(b.header, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
        assert_eq!((b.deflate.receive_window, b.deflate.send_no_context), (9, true));
    }

    #[test]
    fn invalid_offers_are_declined() {
        for offer in [
            "",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; mystery",
            "deflate-frame",
        ] {
            assert_eq!(accept(offer), None, "{offer}");
        }
    }

    #[test]
    fn the_client_checks_the_answer() {
        assert_eq!(verify(None, true), Ok(None));
        assert_eq!(verify(Some(" "), false), Ok(None));
        let a = verify(Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9"), true)
            .unwrap()
            .unwrap();
        let d = a.deflate;
        assert_eq!((d.send_window, d.send_no_context, d.receive_window, d.receive_no_context), (9, false, 15, true));
        for bad in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=20",
            "permessage-deflate, permessage-deflate",
            "permessage-deflate; bogus",
            "x-other",
        ] {
            assert!(verify(Some(bad), true).is_err(), "{bad}");
        }
        assert!(verify(Some("permessage-deflate"), false).unwrap_err().contains("not offered"));
    }
}
