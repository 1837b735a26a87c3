//! Dialing, the client's first phase: the host name is looked up on a helper thread (IP
//! literals need none), then each address is tried with a non-blocking TCP connect until one
//! answers. A connect is finished when the socket has no error and a peer address (mio's rule).
//! Then TLS, if the URL asks for it, is set up on the socket, and the upgrade phase begins.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use mio::net::TcpStream;

use super::ClientRole;
use crate::resolve::Resolve;
use crate::transport::Transport;

pub(super) struct Dial {
    client: ClientRole,
    stage: Stage,
}

enum Stage {
    Resolving(Resolve),
    Connecting { stream: TcpStream, rest: VecDeque<SocketAddr> },
}

/// What a poll of the dial came to.
pub(super) enum Dialed {
    /// Still under way.
    Pending(Dial),
    /// Connected to `remote` (with TLS set up where the URL asks for it); the upgrade phase
    /// starts.
    Connected { io: Transport, remote: SocketAddr, client: ClientRole },
    /// No address answered, or TLS could not be set up; the reason, for the log.
    Failed(String),
}

impl Dial {
    pub fn start(client: ClientRole) -> Dial {
        let stage = Stage::Resolving(Resolve::start(&client.url.host, client.url.port));
        Dial { client, stage }
    }

    /// The socket being connected, for registration with a mio registry.
    pub fn socket_mut(&mut self) -> Option<&mut TcpStream> {
        match &mut self.stage {
            Stage::Connecting { stream, .. } => Some(stream),
            Stage::Resolving(_) => None,
        }
    }

    /// Advances as far as possible now.
    pub fn poll(self, no_delay: bool) -> Dialed {
        let Dial { client, stage } = self;
        let requested = client.requested.as_str();
        match stage {
            Stage::Resolving(mut lookup) => match lookup.poll() {
                None => Dialed::Pending(Dial { client, stage: Stage::Resolving(lookup) }),
                Some(Ok(addrs)) if !addrs.is_empty() => match connect_next(addrs.into(), requested) {
                    Ok(stage) => Dial { client, stage }.poll(no_delay),
                    Err(why) => Dialed::Failed(why),
                },
                Some(Ok(_)) => Dialed::Failed(format!("no address found for '{}'", client.url.host)),
                Some(Err(e)) => Dialed::Failed(format!("could not resolve '{}': {e}", client.url.host)),
            },
            Stage::Connecting { stream, rest } => {
                let error = match stream.take_error() {
                    Ok(None) => match stream.peer_addr() {
                        Ok(remote) => return connected(client, stream, remote, no_delay),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            return Dialed::Pending(Dial { client, stage: Stage::Connecting { stream, rest } });
                        }
                        Err(e) => e,
                    },
                    Ok(Some(e)) | Err(e) => e,
                };
                if rest.is_empty() {
                    return Dialed::Failed(format!("could not connect to '{requested}': {error}"));
                }
                match connect_next(rest, requested) {
                    Ok(stage) => Dialed::Pending(Dial { client, stage }),
                    Err(why) => Dialed::Failed(why),
                }
            }
        }
    }
}

/// TLS on the connected socket where the URL asks for it.
fn connected(client: ClientRole, stream: TcpStream, remote: SocketAddr, no_delay: bool) -> Dialed {
    let _ = stream.set_nodelay(no_delay);
    match Transport::dialed(stream, client.tls.as_ref(), &client.url.host) {
        Ok(io) => Dialed::Connected { io, remote, client },
        Err(why) => Dialed::Failed(why),
    }
}

/// Starts a connect to the first address that takes one.
fn connect_next(mut addrs: VecDeque<SocketAddr>, requested: &str) -> Result<Stage, String> {
    let mut last_err = None;
    while let Some(addr) = addrs.pop_front() {
        match TcpStream::connect(addr) {
            Ok(stream) => return Ok(Stage::Connecting { stream, rest: addrs }),
            Err(e) => last_err = Some(format!("{addr}: {e}")),
        }
    }
    let why = last_err.unwrap_or_else(|| "no address left to try".into());
    Err(format!("could not connect to '{requested}': {why}"))
}
