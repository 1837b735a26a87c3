//! What connections share with whoever drives them (a server, or an I/O thread): which of them need a poll without socket activity, which
//! have framed bytes not written yet, the cork, and the waker of an I/O thread.
//!
//! On the main-thread path, the game's thread both sends and drives; with an I/O thread, the
//! game's thread only frames what it sends and lists the connection here, and the I/O thread
//! (woken through the mio [`Waker`]) writes it. Each list is a `Mutex<Vec>` taken whole
//! (`std::mem::take`), so neither thread holds it longer than a push or a swap.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Waker;

/// Shared by a driver and its connections (each knows its own id here).
#[derive(Debug, Default)]
pub struct Attention {
    /// Connections that asked to be polled although their socket reported nothing (the game
    /// drained a full inbox, closed one, answered a held request).
    wake: Mutex<Vec<u32>>,
    /// Connections holding framed messages not written yet (sent while corked, or sent by the
    /// game's thread while an I/O thread drives them).
    later: Mutex<Vec<u32>>,
    /// While on, sends are framed but not written until [`Attention::uncork`]; with an I/O
    /// thread, it also holds back waking it (the batch is handed over once, at the uncork).
    corked: AtomicBool,
    /// While an I/O thread drives these connections: sends never write on the caller's
    /// thread, and needing a poll wakes the I/O thread through `waker`.
    threaded: AtomicBool,
    waker: Mutex<Option<Arc<Waker>>>,
    /// The I/O thread was woken and has not looked at the lists since (one wake-up is enough).
    signalled: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while pushing a u32 leaves a valid Vec: the poison carries no meaning here.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Attention {
    /// Connection `id` needs a poll.
    pub fn wake(&self, id: u32) {
        lock(&self.wake).push(id);
        self.signal();
    }

    /// Connection `id` framed a message that it did not write (see [`Attention::writes_later`]).
    pub fn written_later(&self, id: u32) {
        lock(&self.later).push(id);
        if !self.corked.load(Ordering::Acquire) {
            self.signal();
        }
    }

    /// Whether a send must only frame its message: corked, or driven by an I/O thread.
    pub fn writes_later(&self) -> bool {
        self.corked.load(Ordering::Acquire) || self.has_thread()
    }

    pub fn cork(&self) {
        self.corked.store(true, Ordering::Release);
    }

    /// Ends the cork. Returns the connections to write now on the main-thread path; with an
    /// I/O thread, wakes it to write them and returns nothing.
    pub fn uncork(&self) -> Vec<u32> {
        self.corked.store(false, Ordering::Release);
        if self.has_thread() {
            if !lock(&self.later).is_empty() {
                self.signal();
            }
            return Vec::new();
        }
        self.take_later()
    }

    /// The I/O thread's side: from now on it drives these connections and is woken through
    /// `waker`.
    pub fn attach_thread(&self, waker: Arc<Waker>) {
        *lock(&self.waker) = Some(waker);
        self.threaded.store(true, Ordering::Release);
    }

    /// The I/O thread stopped: the connections are driven on the owner's thread again.
    pub fn detach_thread(&self) {
        self.threaded.store(false, Ordering::Release);
        *lock(&self.waker) = None;
    }

    pub fn has_thread(&self) -> bool {
        self.threaded.load(Ordering::Acquire)
    }

    /// Connections that asked to be polled, sorted, each once.
    pub fn take_wake(&self) -> Vec<u32> {
        self.signalled.store(false, Ordering::Release);
        let mut ids = std::mem::take(&mut *lock(&self.wake));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Connections with messages to write, sorted, each once.
    pub fn take_later(&self) -> Vec<u32> {
        let mut ids = std::mem::take(&mut *lock(&self.later));
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Wakes the I/O thread even if it was woken already (to see that it must stop).
    pub fn signal_always(&self) {
        self.signalled.store(false, Ordering::Release);
        self.signal();
    }

    /// Wakes the I/O thread, if there is one and it was not woken already.
    pub fn signal(&self) {
        if !self.has_thread() || self.signalled.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Some(waker) = lock(&self.waker).as_ref() {
            // Fails only when the thread's poll is gone (it stopped): nothing to wake.
            let _ = waker.wake();
        }
    }
}
