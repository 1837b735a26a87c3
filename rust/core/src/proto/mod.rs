//! The WebSocket protocol without I/O, as quinn-proto is for QUIC: bytes and time go in, bytes,
//! deadlines and what the remote sent come out. Nothing here names a socket, a thread or the
//! clock; the caller (a driver: the connection module on the game's thread, the server's I/O
//! thread through the same connections) owns the transport and passes `now`.
//!
//! * [`upgrade::Upgrade`]: the HTTP upgrade, both sides: the request or the answer out, the
//!   heads in and checked (the pure functions of `crate::handshake`), held requests reported
//!   and answered by the owner's decision, the handshake timeout as a deadline.
//! * [`open::Open`]: the open WebSocket: frames in and out, permessage-deflate, the closing
//!   handshake, the heartbeat, the outbound caps, and the rule that messages received before a
//!   protocol violation reach the game before the connection fails.
//!
//! `tests/proto.rs` runs two of them against each other with made-up time.

pub mod open;
pub mod upgrade;

pub use self::open::{Ended, Open, Received};
pub use self::upgrade::{Upgrade, UpgradeEvent};
