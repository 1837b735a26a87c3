//! The settings of every class: defaults, and hostile values through `Object.set()` as GDScript
//! sets them (refused ones leave the property unchanged, others read back clamped).

use godot::prelude::*;

use super::{call, itests, make};
use crate::multiplayer_peer::RustWebSocketMultiplayerPeer;
use crate::peer::RustWebSocketPeer;
use crate::server::WebSocketServer;

const CLASSES: [(&str, crate::settings::Names); 3] = [
    ("RustWebSocketPeer", RustWebSocketPeer::SETTINGS),
    ("WebSocketServer", WebSocketServer::SETTINGS),
    ("RustWebSocketMultiplayerPeer", RustWebSocketMultiplayerPeer::SETTINGS),
];

fn get(obj: &Variant, property: &str) -> Variant {
    call(obj, "get", &[property.to_variant()])
}

fn set(obj: &Variant, property: &str, value: &Variant) {
    call(obj, "set", &[property.to_variant(), value.clone()]);
}

fn strings(items: &[&str]) -> Variant {
    items.iter().map(|s| GString::from(*s)).collect::<PackedStringArray>().to_variant()
}

/// What a property reads after being set to a value: `None` when the value is refused (the
/// property keeps what it had).
fn hostile_values(property: &str) -> Vec<(Variant, Option<Variant>)> {
    let v = |x: Variant| x;
    match property {
        "handshake_timeout" | "heartbeat_interval" => vec![
            (v(f64::NAN.to_variant()), None),
            (v(f64::INFINITY.to_variant()), None),
            (v(f64::NEG_INFINITY.to_variant()), None),
            (v((-1.0f64).to_variant()), None),
            (v(1e20f64.to_variant()), Some(1e9f64.to_variant())),
            (v(f64::MIN_POSITIVE.to_variant()), Some(0.0f64.to_variant())),
            (v(2.5f64.to_variant()), Some(2.5f64.to_variant())),
        ],
        "inbound_buffer_size" => vec![
            (v((-1i64).to_variant()), None),
            (v(i64::MIN.to_variant()), None),
            (v(i64::MAX.to_variant()), Some(2147483647i64.to_variant())),
            (v(0i64.to_variant()), Some(0i64.to_variant())),
        ],
        "outbound_buffer_size" => vec![
            (v((-1i64).to_variant()), Some(0i64.to_variant())),
            (v(i64::MIN.to_variant()), Some(0i64.to_variant())),
            (v(i64::MAX.to_variant()), Some(i64::MAX.to_variant())),
            (v(70000i64.to_variant()), Some(70000i64.to_variant())),
        ],
        "max_queued_packets" | "compression_threshold" | "max_peers" => vec![
            (v((-1i64).to_variant()), None),
            (v(i64::MIN.to_variant()), None),
            (v(i64::MAX.to_variant()), Some(i64::MAX.to_variant())),
            (v(0i64.to_variant()), Some(0i64.to_variant())),
        ],
        "handshake_headers" => vec![
            (strings(&["X: a\r\nY: b"]), None),
            (strings(&["X-Ok: 1", "bad\u{7}"]), None),
            (strings(&[]), Some(strings(&[]))),
            (strings(&["X-Ok: 1"]), Some(strings(&["X-Ok: 1"]))),
        ],
        "supported_protocols" => vec![
            (strings(&["ch\r\nat"]), None),
            // White space at both ends is trimmed first, as the engine does.
            (strings(&["chat\r\n"]), Some(strings(&["chat"]))),
            (strings(&["  chat  ", "b"]), Some(strings(&["chat", "b"]))),
            (strings(&[""]), Some(strings(&[""]))),
        ],
        "compression_enabled" | "io_thread" => {
            vec![(v(true.to_variant()), Some(true.to_variant())), (v(false.to_variant()), Some(false.to_variant()))]
        }
        "request_validator" => {
            let valid = Callable::from_fn("accept", |_| true);
            vec![
                (v(valid.to_variant()), Some(valid.to_variant())),
                (v(Callable::invalid().to_variant()), Some(Callable::invalid().to_variant())),
            ]
        }
        other => panic!("no hostile values for the setting {other}: add them here"),
    }
}

/// Each class's defaults, as the engine's classes have them (and as the docs say).
fn default_of(class: &str, property: &str) -> Variant {
    let server = class != "RustWebSocketPeer";
    match property {
        "supported_protocols" | "handshake_headers" => strings(&[]),
        "handshake_timeout" => (if server { 3.0f64 } else { 30.0 }).to_variant(),
        "heartbeat_interval" => 0.0f64.to_variant(),
        "inbound_buffer_size" | "outbound_buffer_size" => 65535i64.to_variant(),
        "max_queued_packets" | "max_peers" => 4096i64.to_variant(),
        "compression_enabled" => false.to_variant(),
        "compression_threshold" => 128i64.to_variant(),
        "request_validator" => Callable::invalid().to_variant(),
        "io_thread" => crate::settings::io_thread_default().to_variant(),
        other => panic!("no default known for the setting {other}: add it here"),
    }
}

itests! {
    /// Every setting of every class starts at the engine's default, and the class registers
    /// exactly the declared properties.
    fn every_setting_starts_at_its_default() {
        for (class, settings) in CLASSES {
            let obj = make(class);
            for (property, _, _) in settings {
                assert_eq!(get(&obj, property), default_of(class, property), "{class}.{property}");
            }
            assert_eq!(settings.len(), if class == "RustWebSocketPeer" { 10 } else { 12 }, "{class}");
        }
    }

    /// NaN, infinities, negative and huge numbers, control characters: refused values keep the
    /// property's value, the others read back clamped. Never a panic.
    fn every_setting_takes_hostile_values_without_panicking() {
        for (class, settings) in CLASSES {
            for (property, getter, setter) in settings {
                let obj = make(class);
                for (value, expected) in hostile_values(property) {
                    let before = get(&obj, property);
                    set(&obj, property, &value);
                    let after = get(&obj, property);
                    let expected = expected.unwrap_or(before);
                    assert_eq!(after, expected, "{class}.{property} = {value}");
                    // The accessors are the same through their own names.
                    call(&obj, setter, std::slice::from_ref(&after));
                    assert_eq!(call(&obj, getter, &[]), expected, "{class}.{getter}() after {setter}({after})");
                }
            }
        }
    }

    /// A server applies settings changed while it listens; hostile values then change nothing.
    fn a_listening_server_keeps_working_after_hostile_settings() {
        for class in ["WebSocketServer", "RustWebSocketMultiplayerPeer"] {
            let obj = make(class);
            let listen = if class == "WebSocketServer" { "listen" } else { "create_server" };
            let code = super::call_err(&obj, listen, &[0.to_variant(), "127.0.0.1".to_variant()]);
            assert_eq!(code, godot::global::Error::OK, "{class}.{listen}");
            for (property, value) in [("handshake_timeout", f64::NAN), ("heartbeat_interval", -1.0)] {
                set(&obj, property, &value.to_variant());
            }
            set(&obj, "max_peers", &(-5i64).to_variant());
            assert_eq!(get(&obj, "max_peers"), 4096i64.to_variant(), "{class}.max_peers");
            set(&obj, "max_peers", &1i64.to_variant());
            assert_eq!(get(&obj, "max_peers"), 1i64.to_variant(), "{class}.max_peers");
            call(&obj, "poll", &[]);
            let port: i64 = call(&obj, "get_local_port", &[]).to();
            assert!(port > 0, "{class}: listening on port {port}");
            call(&obj, if class == "WebSocketServer" { "stop" } else { "close" }, &[]);
        }
    }
}
