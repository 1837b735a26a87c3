//! A Godot `StreamPeerTCP` (or a `StreamPeerTLS` over one) as a non-blocking byte stream for
//! the core, so that `RustWebSocketPeer.accept_stream` runs the server side of a connection that
//! the game accepted with its own `TCPServer`.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use godot::classes::{stream_peer_tcp, stream_peer_tls, StreamPeer, StreamPeerTcp, StreamPeerTls};
use godot::global::Error;
use godot::prelude::*;
use rust_websocket_core::transport::ByteStream;

pub struct GodotStream {
    peer: Gd<StreamPeer>,
    tcp: Gd<StreamPeerTcp>,
    tls: Option<Gd<StreamPeerTls>>,
}

// SAFETY: the core asks byte streams to be `Send` because an I/O thread may drive a
// connection. A `GodotStream` never reaches one: it only serves `RustWebSocketPeer.accept_stream`,
// whose connection that class always drives in its own `poll()`, on the thread that made it,
// and it is dropped with that connection, on that thread (the peer object is its only owner).
unsafe impl Send for GodotStream {}

impl GodotStream {
    /// Accepts a connected `StreamPeerTCP`, or a `StreamPeerTLS` whose inner stream is one.
    pub fn new(peer: Gd<StreamPeer>) -> Result<GodotStream, String> {
        if let Ok(tcp) = peer.clone().try_cast::<StreamPeerTcp>() {
            return Ok(GodotStream { peer, tcp, tls: None });
        }
        if let Ok(tls) = peer.clone().try_cast::<StreamPeerTls>() {
            let inner = tls.get_stream().and_then(|s| s.try_cast::<StreamPeerTcp>().ok());
            return match inner {
                Some(tcp) => Ok(GodotStream { peer, tcp, tls: Some(tls) }),
                None => Err("the StreamPeerTLS must wrap a StreamPeerTCP".into()),
            };
        }
        Err(format!("accept_stream() takes a StreamPeerTCP or a StreamPeerTLS, not a {}", peer.get_class()))
    }

    /// Polls the Godot stream; `Ok(true)` when data can flow, `Ok(false)` while it is still
    /// connecting or in its TLS handshake, `Err` once it failed, `Ok(true)` + EOF handling by
    /// the caller when it is closed.
    fn ready(&mut self) -> io::Result<Option<bool>> {
        if let Some(tls) = &mut self.tls {
            tls.poll();
            let s = tls.get_status();
            return if s == stream_peer_tls::Status::CONNECTED {
                Ok(Some(true))
            } else if s == stream_peer_tls::Status::HANDSHAKING {
                Ok(Some(false))
            } else if s == stream_peer_tls::Status::DISCONNECTED {
                Ok(None)
            } else {
                Err(io::Error::other("the StreamPeerTLS failed (TLS handshake or certificate error)"))
            };
        }
        let _ = self.tcp.poll();
        let s = self.tcp.get_status();
        if s == stream_peer_tcp::Status::CONNECTED {
            Ok(Some(true))
        } else if s == stream_peer_tcp::Status::CONNECTING {
            Ok(Some(false))
        } else if s == stream_peer_tcp::Status::NONE {
            Ok(None)
        } else {
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "the StreamPeerTCP failed"))
        }
    }
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

impl Read for GodotStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.ready()? {
            None => return Ok(0),
            Some(false) => return Err(would_block()),
            Some(true) => {}
        }
        let available = self.peer.get_available_bytes().max(0) as usize;
        if available == 0 || buf.is_empty() {
            return Err(would_block());
        }
        let want = available.min(buf.len()).min(i32::MAX as usize) as i32;
        let result = self.peer.get_partial_data(want);
        let err = result.get(0).and_then(|v| v.try_to::<i64>().ok()).unwrap_or(Error::FAILED.ord() as i64);
        if err != Error::OK.ord() as i64 {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                format!("StreamPeer read failed (error {err})"),
            ));
        }
        let data = result.get(1).and_then(|v| v.try_to::<PackedByteArray>().ok()).unwrap_or_default();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data.as_slice()[..n]);
        if n == 0 {
            return Err(would_block());
        }
        Ok(n)
    }
}

impl Write for GodotStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.ready()? {
            None => return Err(io::Error::from(io::ErrorKind::BrokenPipe)),
            Some(false) => return Err(would_block()),
            Some(true) => {}
        }
        let result = self.peer.put_partial_data(&PackedByteArray::from(buf));
        let err = result.get(0).and_then(|v| v.try_to::<i64>().ok()).unwrap_or(Error::FAILED.ord() as i64);
        if err != Error::OK.ord() as i64 {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, format!("StreamPeer write failed (error {err})")));
        }
        let sent = result.get(1).and_then(|v| v.try_to::<i64>().ok()).unwrap_or(0).max(0) as usize;
        if sent == 0 && !buf.is_empty() {
            return Err(would_block());
        }
        Ok(sent)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ByteStream for GodotStream {
    fn peer_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.tcp.get_connected_host().to_string().parse().ok()?;
        Some(SocketAddr::new(ip, self.tcp.get_connected_port() as u16))
    }

    fn set_nodelay(&mut self, enabled: bool) -> bool {
        self.tcp.set_no_delay(enabled);
        true
    }

    fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn shutdown(&mut self) {
        match &mut self.tls {
            Some(tls) => tls.disconnect_from_stream(),
            None => self.tcp.disconnect_from_host(),
        }
    }
}
