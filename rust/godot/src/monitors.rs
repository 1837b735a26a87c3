//! The addon's custom Performance monitors, shown as graphs in the debugger's Monitors tab
//! (group "RustWebSocket"): open connections, messages and bytes in and out per second, and
//! refused handshakes, for all of the addon's connections in the process: every config the
//! binding makes ([`config`]) counts into one set of counters, owned here. The monitors are
//! added when the first of the addon's objects is created and removed when the extension unloads.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use godot::classes::{Engine, Performance};
use godot::prelude::*;
use rust_websocket_core::stats::{Counters, Snapshot};
use rust_websocket_core::Config;

/// How a monitor's value is read from the rates.
type Reading = fn(&Rates) -> f64;

/// Monitor ids ("group/name") and how each is read.
const MONITORS: [(&str, Reading); 6] = [
    ("RustWebSocket/open_connections", |r| r.now.open as f64),
    ("RustWebSocket/messages_in_per_second", |r| r.messages_in),
    ("RustWebSocket/messages_out_per_second", |r| r.messages_out),
    ("RustWebSocket/bytes_in_per_second", |r| r.bytes_in),
    ("RustWebSocket/bytes_out_per_second", |r| r.bytes_out),
    ("RustWebSocket/handshakes_refused", |r| r.now.handshakes_refused as f64),
];

/// Per-second rates over the last whole second or more, and the counters now.
#[derive(Default)]
struct Rates {
    now: Snapshot,
    messages_in: f64,
    messages_out: f64,
    bytes_in: f64,
    bytes_out: f64,
}

struct Sampler {
    at: Instant,
    last: Snapshot,
    rates: Rates,
}

/// The counters of every connection the binding makes.
static COUNTERS: LazyLock<Arc<Counters>> = LazyLock::new(Arc::default);

/// The core's default settings, counted in the process-wide counters the monitors read.
pub fn config() -> Config {
    Config { counters: COUNTERS.clone(), ..Config::default() }
}

/// Process-wide: the first object may be made on any thread, the extension unloads on the main one.
static REGISTERED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static SAMPLER: RefCell<Option<Sampler>> = const { RefCell::new(None) };
}

/// Reads the counters; recomputes the rates once a second has passed since the last time.
fn read(monitor: Reading) -> f64 {
    SAMPLER.with_borrow_mut(|sampler| {
        let now = Instant::now();
        let sampler =
            sampler.get_or_insert_with(|| Sampler { at: now, last: COUNTERS.snapshot(), rates: Rates::default() });
        let current = COUNTERS.snapshot();
        let elapsed = now.duration_since(sampler.at).as_secs_f64();
        if elapsed >= 1.0 {
            let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / elapsed;
            sampler.rates = Rates {
                now: current,
                messages_in: rate(current.messages_in, sampler.last.messages_in),
                messages_out: rate(current.messages_out, sampler.last.messages_out),
                bytes_in: rate(current.bytes_in, sampler.last.bytes_in),
                bytes_out: rate(current.bytes_out, sampler.last.bytes_out),
            };
            sampler.at = now;
            sampler.last = current;
        }
        sampler.rates.now = current;
        monitor(&sampler.rates)
    })
}

fn performance() -> Option<Gd<Performance>> {
    Engine::singleton().has_singleton("Performance").then(Performance::singleton)
}

/// Adds the monitors, once per process (called from every class's constructor).
pub fn ensure_registered() {
    if REGISTERED.load(Ordering::Acquire) {
        return;
    }
    let Some(mut perf) = performance() else { return };
    if REGISTERED.swap(true, Ordering::AcqRel) {
        return;
    }
    for (id, monitor) in MONITORS {
        let id = StringName::from(id);
        if !perf.has_custom_monitor(&id) {
            perf.add_custom_monitor(&id, &Callable::from_fn(id.to_string(), move |_| read(monitor)));
        }
    }
}

/// Removes the monitors (the extension unloads: their callables would dangle).
pub fn unregister() {
    if !REGISTERED.swap(false, Ordering::AcqRel) {
        return;
    }
    let Some(mut perf) = performance() else { return };
    for (id, _) in MONITORS {
        let id = StringName::from(id);
        if perf.has_custom_monitor(&id) {
            perf.remove_custom_monitor(&id);
        }
    }
}
