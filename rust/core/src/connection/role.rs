//! What a connection is, fixed when it starts: a client with its URL and TLS, or the server
//! side with the request it received.

use crate::handshake::RequestHead;
use crate::tls::ClientTls;
use crate::url::WsUrl;

/// What a connection is, fixed when it starts.
pub(super) enum Role {
    /// Never started.
    Idle,
    Client(ClientRole),
    Server(ServerRole),
}

#[derive(Clone)]
pub(super) struct ClientRole {
    pub url: WsUrl,
    /// The URL as given.
    pub requested: String,
    pub tls: Option<ClientTls>,
}

pub(super) struct ServerRole {
    /// Reached over TLS (ours or the embedder's stream): the requested URL is `wss://`.
    pub secure: bool,
    /// The client's upgrade request, once read.
    pub request: Option<RequestHead>,
}

impl Role {
    /// Server side: keeps the request just read.
    pub fn set_request(&mut self, request: RequestHead) {
        if let Role::Server(server) = self {
            server.request = Some(request);
        }
    }
}
