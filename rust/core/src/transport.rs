//! The byte pipe under a WebSocket: a mio TCP stream, plain or wrapped in rustls.
//! tungstenite has no server-side TLS wrapper, so both TLS roles live here.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

use mio::net::TcpStream;
use rustls::{ClientConnection, ServerConnection, StreamOwned};

/// A connected stream.
pub enum Transport {
    Plain(TcpStream),
    TlsClient(Box<StreamOwned<ClientConnection, TcpStream>>),
    TlsServer(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Transport {
    /// The TCP socket underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::TlsClient(s) => &s.sock,
            Transport::TlsServer(s) => &s.sock,
        }
    }

    /// The TCP socket underneath, for registration with a mio registry.
    pub fn tcp_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::TlsClient(s) => &mut s.sock,
            Transport::TlsServer(s) => &mut s.sock,
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.tcp().peer_addr().ok()
    }

    /// Sends a TLS close_notify where there is TLS, then shuts the write side; best effort.
    pub fn shutdown(&mut self) {
        match self {
            Transport::Plain(_) => {}
            Transport::TlsClient(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
            Transport::TlsServer(s) => {
                s.conn.send_close_notify();
                let _ = s.conn.complete_io(&mut s.sock);
            }
        }
        let _ = self.tcp().shutdown(Shutdown::Write);
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::TlsClient(s) => s.read(buf),
            Transport::TlsServer(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::TlsClient(s) => s.write(buf),
            Transport::TlsServer(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::TlsClient(s) => s.flush(),
            Transport::TlsServer(s) => s.flush(),
        }
    }
}

/// Runs `f` again while it fails with `Interrupted`.
pub fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}
