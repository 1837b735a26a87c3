//! The byte pipe under a WebSocket: a mio TCP stream, plain or wrapped in rustls.
//! tungstenite has no server-side TLS wrapper, so both TLS roles live here.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConfig, ServerConnection, StreamOwned};

use crate::tls::ClientTls;

/// A non-blocking byte stream provided by the embedder (for example a Godot `StreamPeerTCP`
/// handed to `accept_stream`). `read`/`write` must return `WouldBlock` instead of waiting, and
/// `read` returns `Ok(0)` once the stream has ended.
pub trait ByteStream: Read + Write + Send {
    fn peer_addr(&self) -> Option<SocketAddr>;
    fn set_nodelay(&mut self, enabled: bool) -> bool;
    /// Whether the stream is already encrypted (the WebSocket URL is then `wss://`).
    fn is_tls(&self) -> bool;
    fn shutdown(&mut self);
}

/// A connected stream.
pub enum Transport {
    Plain(TcpStream),
    TlsClient(Box<StreamOwned<ClientConnection, Socket>>),
    TlsServer(Box<StreamOwned<ServerConnection, Socket>>),
    Custom(Box<dyn ByteStream>),
}

/// The TCP socket under rustls. rustls writes its records with `write_vectored`, which std
/// turns into `writev`: on a socket the remote has closed that raises SIGPIPE, and inside a
/// host process that does not ignore it (Godot) the signal ends the game. `write` uses `send`
/// with `MSG_NOSIGNAL` (an `EPIPE` error instead), so vectored writes are gathered into one
/// `write` here.
pub struct Socket(pub TcpStream);

/// Most bytes gathered for one vectored write (rustls's records are at most ~16 KiB each).
const GATHER: usize = 256 * 1024;

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        let Some(first) = nonempty.next() else { return Ok(0) };
        if bufs.iter().filter(|b| !b.is_empty()).count() == 1 {
            return self.0.write(first);
        }
        let mut gathered = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum::<usize>().min(GATHER));
        for b in bufs {
            let room = GATHER - gathered.len();
            gathered.extend_from_slice(&b[..b.len().min(room)]);
            if gathered.len() == GATHER {
                break;
            }
        }
        self.0.write(&gathered)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Transport {
    /// The server side of an accepted TCP stream, in TLS when `tls` is given.
    pub fn accepted(stream: TcpStream, tls: Option<Arc<ServerConfig>>) -> Result<Transport, String> {
        let Some(config) = tls else { return Ok(Transport::Plain(stream)) };
        let conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        Ok(Transport::TlsServer(Box::new(StreamOwned::new(conn, Socket(stream)))))
    }

    /// The client side of a connected TCP stream, in TLS when `tls` is given; the server's
    /// certificate must be valid for `host`, or for the name override.
    pub fn dialed(stream: TcpStream, tls: Option<&ClientTls>, host: &str) -> Result<Transport, String> {
        let Some(tls) = tls else { return Ok(Transport::Plain(stream)) };
        let host = tls.name_override.as_deref().filter(|n| !n.is_empty()).unwrap_or(host);
        let name =
            ServerName::try_from(host.to_string()).map_err(|e| format!("invalid TLS server name '{host}': {e}"))?;
        let conn = ClientConnection::new(tls.config.clone(), name).map_err(|e| e.to_string())?;
        Ok(Transport::TlsClient(Box::new(StreamOwned::new(conn, Socket(stream)))))
    }

    /// The mio TCP socket underneath, if this transport has one (for registration).
    pub fn tcp_mut(&mut self) -> Option<&mut TcpStream> {
        match self {
            Transport::Plain(s) => Some(s),
            Transport::TlsClient(s) => Some(&mut s.sock.0),
            Transport::TlsServer(s) => Some(&mut s.sock.0),
            Transport::Custom(_) => None,
        }
    }

    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Transport::Plain(s) => Some(s),
            Transport::TlsClient(s) => Some(&s.sock.0),
            Transport::TlsServer(s) => Some(&s.sock.0),
            Transport::Custom(_) => None,
        }
    }

    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match self {
            Transport::Custom(c) => c.peer_addr(),
            _ => self.tcp()?.peer_addr().ok(),
        }
    }

    /// Whether bytes go through TLS (ours or the embedder's).
    pub fn is_tls(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::TlsClient(_) | Transport::TlsServer(_) => true,
            Transport::Custom(c) => c.is_tls(),
        }
    }

    pub fn set_nodelay(&mut self, enabled: bool) -> bool {
        match self {
            Transport::Custom(c) => c.set_nodelay(enabled),
            _ => self.tcp().is_some_and(|s| s.set_nodelay(enabled).is_ok()),
        }
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
            Transport::Custom(c) => return c.shutdown(),
        }
        if let Some(s) = self.tcp() {
            let _ = s.shutdown(Shutdown::Write);
        }
    }
}

impl Read for Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::TlsClient(s) => s.read(buf),
            Transport::TlsServer(s) => s.read(buf),
            Transport::Custom(s) => s.read(buf),
        }
    }
}

impl Write for Transport {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.write(buf),
            Transport::TlsClient(s) => s.write(buf),
            Transport::TlsServer(s) => s.write(buf),
            Transport::Custom(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.flush(),
            Transport::TlsClient(s) => s.flush(),
            Transport::TlsServer(s) => s.flush(),
            Transport::Custom(s) => s.flush(),
        }
    }
}
