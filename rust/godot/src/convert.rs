//! Checks and translations between Godot's values and conventions and the core's types: done
//! once, here, with an error pushed for what cannot be taken.

use std::time::Duration;

use godot::classes::TlsOptions;
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::meta::GodotImmutable;
use godot::prelude::*;
use rust_websocket_core::connection::{is_sendable_close_code, ConnectError, Packet, SendError};
use rust_websocket_core::handshake;
use rust_websocket_core::multiplayer::Target;

pub fn send_error(e: SendError) -> Error {
    match e {
        SendError::NotOpen | SendError::Failed => Error::FAILED,
        SendError::QueueFull => Error::ERR_OUT_OF_MEMORY,
    }
}

pub fn connect_error(e: &ConnectError) -> Error {
    match e {
        ConnectError::InUse => Error::ERR_ALREADY_IN_USE,
        ConnectError::Url(_) | ConnectError::Tls(_) => Error::ERR_INVALID_PARAMETER,
    }
}

/// `handshake_headers`: raw `Name: value` lines. A line holding a line break (which would add
/// headers of its own) or another control character is refused with an error (`None`).
pub fn header_lines(what: &str, a: &PackedStringArray) -> Option<Vec<String>> {
    checked_strings(what, a, false)
}

/// `supported_protocols`: the engine's setter trims white space at both ends of each entry;
/// entries with control characters are refused as for [`header_lines`].
pub fn protocols(what: &str, a: &PackedStringArray) -> Option<Vec<String>> {
    checked_strings(what, a, true)
}

fn checked_strings(what: &str, a: &PackedStringArray, trim: bool) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(a.len());
    for s in a.as_slice() {
        let s = s.to_string();
        let s = if trim { s.trim().to_string() } else { s };
        if !handshake::is_safe_in_head(&s) {
            godot_error!(
                "{what}: {s:?} contains a line break or control character and cannot be sent; nothing changed"
            );
            return None;
        }
        out.push(s);
    }
    Some(out)
}

pub fn packed(v: &[String]) -> PackedStringArray {
    v.iter().map(GString::from).collect()
}

/// The longest duration a property holds, in seconds (about 31.7 years); longer ones count as this.
pub const MAX_SECONDS: f64 = 1e9;

/// Godot's packets have `int32` sizes: the largest message that can be handed to GDScript.
pub const MAX_PACKET: usize = i32::MAX as usize;

/// A duration property in seconds, as the engine takes it: `0` (or anything under a
/// nanosecond) turns it off. NaN, infinite and negative values are refused with an error
/// (`None`: the property keeps its value); values above [`MAX_SECONDS`] count as that.
pub fn seconds(what: &str, s: f64) -> Option<Option<Duration>> {
    if !s.is_finite() || s < 0.0 {
        godot_error!("{what} must be a finite number of seconds, 0 or more (0 turns it off), not {s}");
        return None;
    }
    let d = Duration::from_secs_f64(s.min(MAX_SECONDS));
    Some((!d.is_zero()).then_some(d))
}

pub fn secs_f64(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A size or count property: negative values are refused with an error (`None`: the property
/// keeps its value); values above `max` count as `max`, with a warning.
pub fn size(what: &str, v: i64, max: usize) -> Option<usize> {
    let Ok(v) = usize::try_from(v) else {
        godot_error!("{what} cannot be negative ({v})");
        return None;
    };
    if v > max {
        godot_warn!("{what} is capped at {max}; {v} was given");
        return Some(max);
    }
    Some(v)
}

/// `outbound_buffer_size`: `0` or less removes the byte cap, as in the engine.
pub fn byte_cap(v: i64) -> Option<usize> {
    (v > 0).then(|| usize::try_from(v).unwrap_or(usize::MAX))
}

pub fn byte_cap_to_godot(cap: Option<usize>) -> i64 {
    cap.map_or(0, |c| i64::try_from(c).unwrap_or(i64::MAX))
}

/// What `close(code)` / `disconnect_peer(id, code)` ask for.
pub enum CloseWith {
    /// A negative code: close at once without a close frame (close code -1).
    Abort,
    /// A close frame with this status code, or with none (`None`; the remote reads 1005).
    Frame(Option<u16>),
}

/// A close code from GDScript: negative aborts; `0` sends a close frame without a status code,
/// as the engine does. Any other code must be one a close frame may carry (the core's
/// `is_sendable_close_code`: 1000–1003, 1007–1013, 3000–4999); otherwise an error says so and
/// the frame goes out without a code, so that the connection still closes and nothing invalid
/// is sent.
pub fn close_with(what: &str, code: i64) -> CloseWith {
    match u16::try_from(code) {
        _ if code < 0 => CloseWith::Abort,
        Ok(0) => CloseWith::Frame(None),
        Ok(code) if is_sendable_close_code(code) => CloseWith::Frame(Some(code)),
        _ => {
            godot_error!(
                "{what}: close code {code} cannot be sent in a close frame (use 1000-1003, 1007-1013 or 3000-4999, \
                 or -1 to close at once); closing without a status code"
            );
            CloseWith::Frame(None)
        }
    }
}

/// The engine's close code: the core's, or -1 for none.
pub fn close_code_to_godot(code: Option<u16>) -> i64 {
    code.map_or(-1, i64::from)
}

/// `MultiplayerPeer.target_peer`: 0 everyone, `n > 0` peer `n`, `-n` everyone but peer `n`.
pub fn target(peer: i32) -> Target {
    match peer {
        0 => Target::All,
        p if p > 0 => Target::One(p.unsigned_abs()),
        p => Target::AllBut(p.unsigned_abs()),
    }
}

/// The bytes of `put_packet(buffer, size)` from Godot; a negative size is refused.
///
/// # Safety
/// `buffer` must point to `size` readable bytes that stay valid for the returned lifetime (Godot
/// guarantees it for the duration of the virtual call).
pub unsafe fn packet_in<'a>(what: &str, buffer: RawPtr<*const u8>, size: i32) -> Result<&'a [u8], Error> {
    let Ok(len) = usize::try_from(size) else {
        godot_error!("{what}: put_packet() with a negative size ({size})");
        return Err(Error::ERR_INVALID_PARAMETER);
    };
    if len == 0 || buffer.ptr().is_null() {
        return Ok(&[]);
    }
    // SAFETY: see the function's contract.
    Ok(unsafe { std::slice::from_raw_parts(buffer.ptr(), len) })
}

/// Hands `packet` to Godot's `get_packet(r_buffer, r_size)`, keeping it in `keep` so that its
/// bytes outlive the call (until the next one replaces it).
///
/// # Safety
/// `r_buffer` and `r_size` must be valid out-pointers (Godot passes them).
pub unsafe fn packet_out(
    packet: Packet,
    keep: &mut Option<Packet>,
    r_buffer: RawPtr<*mut RawPtr<*const u8>>,
    r_size: RawPtr<*mut i32>,
) -> Error {
    // Never more than `inbound_buffer_size`, which is capped at `MAX_PACKET`.
    let Ok(len) = i32::try_from(packet.data.len()) else {
        godot_error!("a message of {} bytes is too big for a Godot packet", packet.data.len());
        return Error::ERR_OUT_OF_MEMORY;
    };
    let ptr = packet.data.as_ptr();
    *keep = Some(packet);
    // SAFETY: see the function's contract; the bytes live in `keep` until it is replaced.
    unsafe {
        *(r_buffer.ptr() as *mut *const u8) = ptr;
        *r_size.ptr() = len;
    }
    Error::OK
}

/// An optional `TLSOptions` argument whose default is `null` (gdext only takes immutable values
/// as defaults; a null object reference is one).
#[derive(Clone, Debug)]
pub struct OptionalTls(pub Option<Gd<TlsOptions>>);

impl GodotConvert for OptionalTls {
    type Via = Option<Gd<TlsOptions>>;
    fn godot_shape() -> godot::meta::shape::GodotShape {
        <Option<Gd<TlsOptions>> as GodotConvert>::godot_shape()
    }
}

impl ToGodot for OptionalTls {
    type Pass = godot::meta::conv::ByValue;
    fn to_godot(&self) -> Self::Via {
        self.0.clone()
    }
}

impl FromGodot for OptionalTls {
    fn try_from_godot(via: Self::Via) -> Result<Self, godot::meta::error::ConvertError> {
        Ok(OptionalTls(via))
    }
}

impl OptionalTls {
    pub fn none() -> Self {
        OptionalTls(None)
    }
}

// SAFETY: the only default ever built is `None`, which holds no object and cannot change.
unsafe impl GodotImmutable for OptionalTls {}
