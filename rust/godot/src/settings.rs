//! The connection settings every class exposes (the engine's `WebSocketPeer` and
//! `WebSocketMultiplayerPeer` properties), read and written the same way for all of them:
//! each class's `#[func]` accessors are one line over these. A setter returns whether it took
//! the value (a refused one leaves the property unchanged, with an error pushed).

use godot::prelude::*;
use rust_websocket_core::Config;

use crate::convert;

pub fn supported_protocols(c: &Config) -> PackedStringArray {
    convert::packed(&c.supported_protocols)
}

pub fn set_supported_protocols(c: &mut Config, class: &str, v: &PackedStringArray) -> bool {
    convert::protocols(&format!("{class}.supported_protocols"), v).map(|v| c.supported_protocols = v).is_some()
}

pub fn handshake_headers(c: &Config) -> PackedStringArray {
    convert::packed(&c.handshake_headers)
}

pub fn set_handshake_headers(c: &mut Config, class: &str, v: &PackedStringArray) -> bool {
    convert::header_lines(&format!("{class}.handshake_headers"), v).map(|v| c.handshake_headers = v).is_some()
}

pub fn handshake_timeout(c: &Config) -> f64 {
    convert::secs_f64(c.handshake_timeout)
}

pub fn set_handshake_timeout(c: &mut Config, class: &str, seconds: f64) -> bool {
    convert::seconds(&format!("{class}.handshake_timeout"), seconds).map(|d| c.handshake_timeout = d).is_some()
}

pub fn heartbeat_interval(c: &Config) -> f64 {
    convert::secs_f64(c.heartbeat_interval)
}

pub fn set_heartbeat_interval(c: &mut Config, class: &str, seconds: f64) -> bool {
    convert::seconds(&format!("{class}.heartbeat_interval"), seconds).map(|d| c.heartbeat_interval = d).is_some()
}

pub fn inbound_buffer_size(c: &Config) -> i64 {
    i64::try_from(c.inbound_buffer_size).unwrap_or(i64::MAX)
}

pub fn set_inbound_buffer_size(c: &mut Config, class: &str, size: i64) -> bool {
    let what = format!("{class}.inbound_buffer_size");
    convert::size(&what, size, convert::MAX_PACKET).map(|v| c.inbound_buffer_size = v).is_some()
}

pub fn outbound_buffer_size(c: &Config) -> i64 {
    convert::byte_cap_to_godot(c.outbound_buffer_size)
}

/// Any value is taken: `0` or less removes the cap.
pub fn set_outbound_buffer_size(c: &mut Config, size: i64) -> bool {
    c.outbound_buffer_size = convert::byte_cap(size);
    true
}

pub fn max_queued_packets(c: &Config) -> i64 {
    i64::try_from(c.max_queued_packets).unwrap_or(i64::MAX)
}

pub fn set_max_queued_packets(c: &mut Config, class: &str, count: i64) -> bool {
    let what = format!("{class}.max_queued_packets");
    convert::size(&what, count, usize::MAX).map(|v| c.max_queued_packets = v).is_some()
}

pub fn compression_enabled(c: &Config) -> bool {
    c.compression.enabled
}

pub fn set_compression_enabled(c: &mut Config, enabled: bool) -> bool {
    c.compression.enabled = enabled;
    true
}

pub fn compression_threshold(c: &Config) -> i64 {
    i64::try_from(c.compression.threshold).unwrap_or(i64::MAX)
}

/// Negative values are refused.
pub fn set_compression_threshold(c: &mut Config, class: &str, bytes: i64) -> bool {
    let what = format!("{class}.compression_threshold");
    convert::size(&what, bytes, usize::MAX).map(|v| c.compression.threshold = v).is_some()
}

/// The default of every class's `io_thread`: off, unless the environment variable
/// `RUST_WEBSOCKET_IO_THREAD` is `1` (how the test suites run in both modes, and a way to try a
/// whole game with the thread without changing it).
pub fn io_thread_default() -> bool {
    static DEFAULT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| std::env::var("RUST_WEBSOCKET_IO_THREAD").is_ok_and(|v| v == "1"))
}
