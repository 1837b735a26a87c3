//! A connection shared between its driver and the game's peer objects, across threads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use super::Connection;

/// A connection shared between its driver (a server, a multiplayer session, an I/O thread) and
/// the game's peer object, which outlives the driver's table. Each side locks it only for one
/// call: the I/O thread while it gives the connection one step, the game's thread while it
/// reads or sends.
#[derive(Clone)]
pub struct SharedConnection(Arc<Locked>);

struct Locked {
    conn: Mutex<Connection>,
    /// The thread holding the lock (0: none), so that locking it twice on one thread panics
    /// with a message, as a `RefCell` would, instead of hanging the game.
    holder: AtomicU64,
}

/// The lock of a [`SharedConnection`]; the connection is unlocked when it is dropped.
pub struct ConnectionGuard<'a> {
    guard: MutexGuard<'a, Connection>,
    holder: &'a AtomicU64,
}

impl std::ops::Deref for ConnectionGuard<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.guard
    }
}

impl std::ops::DerefMut for ConnectionGuard<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.guard
    }
}

impl Drop for ConnectionGuard<'_> {
    fn drop(&mut self) {
        self.holder.store(0, Ordering::Release);
    }
}

/// A number for the calling thread, never 0.
fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static NUMBER: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    NUMBER.with(|n| *n)
}

impl SharedConnection {
    pub fn new(conn: Connection) -> SharedConnection {
        SharedConnection(Arc::new(Locked { conn: Mutex::new(conn), holder: AtomicU64::new(0) }))
    }

    /// The connection, to read (the same lock as [`SharedConnection::borrow_mut`]; both names
    /// say what the caller intends). Never hold it across a call that may lock it again.
    pub fn borrow(&self) -> ConnectionGuard<'_> {
        self.borrow_mut()
    }

    /// The connection, locked. Panics if this thread holds it already.
    pub fn borrow_mut(&self) -> ConnectionGuard<'_> {
        let me = thread_number();
        let guard = match self.0.conn.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                assert_ne!(self.0.holder.load(Ordering::Acquire), me, "a connection was locked twice by one thread");
                // A panic inside a connection's method is a bug already reported; what it
                // leaves is still a connection that can be closed and dropped.
                self.0.conn.lock().unwrap_or_else(|e| e.into_inner())
            }
        };
        self.0.holder.store(me, Ordering::Release);
        ConnectionGuard { guard, holder: &self.0.holder }
    }
}
