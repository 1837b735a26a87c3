//! The frame layer between the socket and the open connection (RFC 6455 §5, RFC 7692).
//!
//! tungstenite parses and formats frame headers for us ([`tungstenite::protocol::frame::FrameHeader`]);
//! the rest is ours, because its `WebSocketContext` decides too early and too late for us:
//! it refuses every frame with RSV1 before a caller can see it (so no permessage-deflate),
//! it validates UTF-8 only on whole messages (a connection must fail at the first invalid
//! byte), and it hides the close code of a remote's invalid close frame behind its own answer.
//!
//! [`read::Reader`] turns bytes into [`read::Incoming`] or a [`Violation`]; [`write::Writer`]
//! frames what we send; [`deflate`] holds the permessage-deflate codec, [`utf8`] the
//! incremental UTF-8 check. Neither touches a socket: the open connection moves the bytes.

pub mod deflate;
pub mod read;
pub mod utf8;
pub mod write;

use tungstenite::Bytes;

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub data: Bytes,
    pub text: bool,
}

/// Whether `code` may be sent in a close frame: 1000–1003, 1007–1013 (RFC 6455 §7.4 and the
/// IANA registry's 1012/1013), 3000–4999. It is tungstenite's rule (`CloseCode::is_allowed`),
/// so it is also the rule for received frames: one with another code fails the connection.
pub fn is_sendable_close_code(code: u16) -> bool {
    tungstenite::protocol::frame::coding::CloseCode::from(code).is_allowed()
}

/// A protocol violation by the remote: the close code we fail the connection with, the local
/// reason (as the engine reports it) and what happened, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: u16,
    pub reason: &'static str,
    pub detail: String,
}

impl Violation {
    pub fn protocol(detail: impl Into<String>) -> Violation {
        Violation { code: 1002, reason: "Protocol error", detail: detail.into() }
    }

    pub fn utf8() -> Violation {
        Violation { code: 1007, reason: "Invalid frame payload data", detail: "invalid UTF-8 in a text message".into() }
    }

    pub fn too_big(max: usize) -> Violation {
        let detail = format!("a message over the {max}-byte limit (inbound_buffer_size)");
        Violation { code: 1009, reason: "Message too big", detail }
    }

    /// A state the frame layer should never reach; failing the connection beats a panic.
    pub fn internal(detail: &str) -> Violation {
        Violation { code: 1011, reason: "Unknown", detail: format!("internal error: {detail}") }
    }
}

/// XORs `buf` with `mask`, starting at byte `phase` of the payload (a payload may arrive in
/// pieces). tungstenite's own masking function is private to it.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4], phase: usize) {
    let m = [mask[phase % 4], mask[(phase + 1) % 4], mask[(phase + 2) % 4], mask[(phase + 3) % 4]];
    let word = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v =
            u64::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i % 4];
    }
}
