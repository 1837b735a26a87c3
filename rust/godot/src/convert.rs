//! Small translations between core types and Godot's.

use std::time::Duration;

use godot::classes::TlsOptions;
use godot::global::Error;
use godot::meta::GodotImmutable;
use godot::prelude::*;
use rust_websocket_core::connection::{ConnectError, SendError};

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

pub fn strings(a: &PackedStringArray) -> Vec<String> {
    a.as_slice().iter().map(|s| s.to_string()).collect()
}

/// The engine's setter trims white space at both ends of each protocol.
pub fn trimmed_strings(a: &PackedStringArray) -> Vec<String> {
    a.as_slice().iter().map(|s| s.to_string().trim().to_string()).collect()
}

pub fn packed(v: &[String]) -> PackedStringArray {
    v.iter().map(GString::from).collect()
}

/// Seconds as a duration; zero, negative or NaN mean "off".
pub fn seconds(s: f64) -> Option<Duration> {
    (s.is_finite() && s > 0.0).then(|| Duration::from_secs_f64(s))
}

pub fn secs_f64(d: Option<Duration>) -> f64 {
    d.map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A size property: negative values clamp to zero.
pub fn size(v: i64) -> usize {
    v.max(0) as usize
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
