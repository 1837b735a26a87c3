//! An in-memory duplex byte stream that behaves like a non-blocking socket (`WouldBlock` when
//! empty, `Ok(0)` once closed, optionally at most N bytes per read/write). For tests, fuzzing,
//! and embedders tunnelling WebSocket over something else.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::transport::ByteStream;

#[derive(Default)]
struct Pipe {
    bytes: VecDeque<u8>,
    closed: bool,
}

fn lock(pipe: &Mutex<Pipe>) -> MutexGuard<'_, Pipe> {
    pipe.lock().unwrap_or_else(|e| e.into_inner())
}

/// One end of an in-memory connection.
pub struct MemoryStream {
    rx: Arc<Mutex<Pipe>>,
    tx: Arc<Mutex<Pipe>>,
    /// Most bytes moved by one read or write (1 exercises every partial-I/O path).
    pub chunk: usize,
    /// Most bytes this end's writes may leave unread by the other end (a full socket buffer:
    /// writes then return `WouldBlock`).
    pub capacity: usize,
}

impl MemoryStream {
    /// Two connected ends.
    pub fn pair() -> (MemoryStream, MemoryStream) {
        let a = Arc::new(Mutex::new(Pipe::default()));
        let b = Arc::new(Mutex::new(Pipe::default()));
        (
            MemoryStream { rx: a.clone(), tx: b.clone(), chunk: usize::MAX, capacity: usize::MAX },
            MemoryStream { rx: b, tx: a, chunk: usize::MAX, capacity: usize::MAX },
        )
    }

    /// Bytes written by the other end and not yet read.
    pub fn pending(&self) -> usize {
        lock(&self.rx).bytes.len()
    }

    /// Takes everything the other end wrote.
    pub fn take_all(&mut self) -> Vec<u8> {
        lock(&self.rx).bytes.drain(..).collect()
    }

    /// Ends this side: the other end reads `Ok(0)` after the bytes already sent.
    pub fn close(&mut self) {
        lock(&self.tx).closed = true;
    }
}

impl Read for MemoryStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut p = lock(&self.rx);
        if p.bytes.is_empty() {
            return if p.closed { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = buf.len().min(p.bytes.len()).min(self.chunk.max(1));
        for (slot, b) in buf.iter_mut().zip(p.bytes.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl Write for MemoryStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if Arc::strong_count(&self.tx) == 1 {
            return Err(io::ErrorKind::BrokenPipe.into()); // the other end is gone
        }
        let mut tx = lock(&self.tx);
        let room = self.capacity.saturating_sub(tx.bytes.len());
        if room == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk.max(1)).min(room);
        tx.bytes.extend(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ByteStream for MemoryStream {
    fn peer_addr(&self) -> Option<SocketAddr> {
        None
    }
    fn set_nodelay(&mut self, _: bool) -> bool {
        true
    }
    fn is_tls(&self) -> bool {
        false
    }
    fn shutdown(&mut self) {
        self.close();
    }
}
