//! In-engine tests of the binding, as gdext's own `itest`: a registry of Rust test functions,
//! run inside headless Godot by `tests/godot/suites/test_rust_itest.gd`. Each test runs in
//! `catch_unwind`; a panic anywhere in it, also one the binding's FFI glue caught and turned into
//! an error, is recorded by a panic hook and fails the test with its message. Compiled only with
//! the cargo feature `itest` (`cargo xtask test` builds with it; the library users get does not
//! carry it). There is no runner class (a class would join the ones the GDScript suites
//! enumerate): the runner is a Callable stored as the `Engine` meta [`META`].

use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use godot::classes::Engine;
use godot::prelude::*;

mod calls;
mod settings;

/// `Engine.get_meta(META).call()` runs every test and returns one Dictionary per test:
/// `{name, passed, message, ms}`.
pub const META: &str = "rust_websocket_itests";

/// One test: its name and its body (fails by panicking).
pub struct ITest {
    pub name: &'static str,
    pub run: fn(),
}

/// Declares test functions and the module's list of them, `TESTS`.
macro_rules! itests {
    ($( $(#[doc = $doc:tt])* fn $name:ident() $body:block )*) => {
        $( $(#[doc = $doc])* fn $name() $body )*
        pub(super) const TESTS: &[$crate::itest::ITest] =
            &[$($crate::itest::ITest { name: concat!(module_path!(), "::", stringify!($name)), run: $name }),*];
    };
}
pub(crate) use itests;

fn registry() -> impl Iterator<Item = &'static ITest> {
    settings::TESTS.iter().chain(calls::TESTS)
}

thread_local! {
    /// Messages of the panics seen while a test runs.
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Adds the runner (at the `Scene` init stage).
pub fn register() {
    let runner = Callable::from_fn("rust_websocket_itests", |_args| run_all());
    Engine::singleton().set_meta(META, &runner.to_variant());
}

/// Removes the runner (the extension unloads: its callable would dangle).
pub fn unregister() {
    let mut engine = Engine::singleton();
    if engine.has_meta(META) {
        engine.remove_meta(META);
    }
}

fn run_all() -> Array<VarDictionary> {
    // Every panic on this thread is seen, also those gdext catches at a call's boundary.
    let previous: Arc<dyn Fn(&panic::PanicHookInfo) + Send + Sync> = panic::take_hook().into();
    let chained = previous.clone();
    panic::set_hook(Box::new(move |info| {
        PANICS.with_borrow_mut(|p| p.push(info.to_string()));
        chained(info);
    }));
    let mut results = Array::new();
    for test in registry() {
        PANICS.with_borrow_mut(Vec::clear);
        let started = Instant::now();
        let outcome = panic::catch_unwind(AssertUnwindSafe(test.run));
        let panics = PANICS.with_borrow_mut(std::mem::take);
        let message = match (outcome, panics.first()) {
            (Ok(()), None) => String::new(),
            (Ok(()), Some(p)) => format!("the binding panicked (caught at its boundary): {p}"),
            (Err(_), Some(p)) => p.clone(),
            (Err(_), None) => "panicked".to_string(),
        };
        let mut row = VarDictionary::new();
        row.set("name", test.name);
        row.set("passed", message.is_empty());
        row.set("message", message);
        row.set("ms", started.elapsed().as_millis() as i64);
        results.push(&row);
    }
    let _ = panic::take_hook();
    panic::set_hook(Box::new(move |info| previous(info)));
    results
}

/// Calls `method` on `obj` through Godot, as GDScript does.
pub fn call(obj: &Variant, method: &str, args: &[Variant]) -> Variant {
    obj.call(method, args)
}

/// Calls `method` and reads the Godot `Error` it returned.
pub fn call_err(obj: &Variant, method: &str, args: &[Variant]) -> godot::global::Error {
    let code = call(obj, method, args);
    let code: i64 = code.try_to().unwrap_or_else(|_| panic!("{method} returned {code}, not an Error"));
    godot::global::Error::from_ord(code as i32)
}

/// A new object of class `class`, as `ClassDB.instantiate(class)`.
pub fn make(class: &str) -> Variant {
    godot::classes::ClassDb::singleton().instantiate(class)
}

/// Polls `objs` (each through its `poll()`) until `done` holds; panics after `seconds`.
pub fn poll_until(objs: &[&Variant], what: &str, seconds: f64, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        for o in objs {
            call(o, "poll", &[]);
        }
        if done() {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}
