//! Name resolution off the calling thread. mio does no DNS, and `getaddrinfo` blocks, so a
//! host name is looked up on a short-lived thread; IP literals never start one.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, TryRecvError};

/// A lookup in progress.
pub struct Resolve {
    rx: Option<Receiver<io::Result<Vec<SocketAddr>>>>,
    ready: Option<io::Result<Vec<SocketAddr>>>,
}

impl Resolve {
    /// Starts resolving `host:port`.
    pub fn start(host: &str, port: u16) -> Resolve {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Resolve { rx: None, ready: Some(Ok(vec![SocketAddr::new(ip, port)])) };
        }
        let (tx, rx) = mpsc::channel();
        let host = host.to_string();
        let spawned = std::thread::Builder::new().name("ws-dns".into()).spawn(move || {
            let result = (host.as_str(), port).to_socket_addrs().map(|it| it.collect::<Vec<_>>());
            let _ = tx.send(result); // The connection may be gone; that is fine.
        });
        match spawned {
            Ok(_) => Resolve { rx: Some(rx), ready: None },
            Err(e) => Resolve { rx: None, ready: Some(Err(e)) },
        }
    }

    /// The result, once there is one.
    pub fn poll(&mut self) -> Option<io::Result<Vec<SocketAddr>>> {
        if let Some(r) = self.ready.take() {
            return Some(r);
        }
        match self.rx.as_ref()?.try_recv() {
            Ok(r) => Some(r),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err(io::Error::other("resolver thread ended"))),
        }
    }
}
