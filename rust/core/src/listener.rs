//! Listening sockets, made as the engine's `TCPServer::listen` makes them, so that a server
//! listening on `"*"` takes IPv4 and IPv6 clients on every platform.
//!
//! mio's `TcpListener::bind` is bypassed (for `socket2`, the crate for exactly this): it never
//! touches `IPV6_V6ONLY`, whose default is off on Linux but on for Windows and the BSDs, so a
//! `[::]` listener there refuses every IPv4 client; and its backlog is a fixed 128, which a
//! burst of clients overflows before the game's next poll accepts them.
//!
//! The engine's rules (`NetSocket::open` and `TCPServer::listen`): `"*"` is every interface,
//! one IPv6 socket with `IPV6_V6ONLY` off (IPv4 clients arrive as `::ffff:a.b.c.d`), or an IPv4
//! socket on `0.0.0.0` where an IPv6 socket cannot be had (no IPv6 in the OS, or no dual-stack
//! sockets, as on OpenBSD); a failure to bind is the error, never a quiet fall back to IPv4 alone
//! (another program may hold `[::]` for IPv6). An explicit IPv6 address is IPv6 only, an
//! IPv4-mapped one (`::ffff:a.b.c.d`) is that IPv4 address, and an IPv4 address is IPv4 only.
//! `SO_REUSEADDR` is set except on Windows (there it would let another process take the port;
//! the engine and mio both leave it off there). Ours also takes `""` for every interface and
//! `"localhost"` for 127.0.0.1, which the engine refuses.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections the OS may queue before the server accepts them; the OS caps it (on
/// Linux at `net.core.somaxconn`, 4096 by default).
pub const BACKLOG: i32 = 1024;

/// Where a server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindAddress {
    /// Every interface, both families where the OS allows (the engine's `"*"`).
    Any,
    /// One address, with the OS's defaults for its family.
    Ip(IpAddr),
}

impl BindAddress {
    /// The engine's bind-address strings: `"*"` or `""` (every interface), `"localhost"`
    /// (127.0.0.1), or an IPv4/IPv6 address. `None` for anything else.
    pub fn parse(text: &str) -> Option<BindAddress> {
        match text {
            "*" | "" => Some(BindAddress::Any),
            "localhost" => Some(BindAddress::Ip(Ipv4Addr::LOCALHOST.into())),
            other => other.parse().ok().map(BindAddress::Ip),
        }
    }
}

/// A non-blocking listener on `port` (0 picks a free one) at `address`, ready for mio.
pub fn bind(address: BindAddress, port: u16) -> io::Result<mio::net::TcpListener> {
    let (socket, ip) = match address {
        BindAddress::Any => match dual_stack_socket() {
            Some(socket) => (socket, Ipv6Addr::UNSPECIFIED.into()),
            None => (tcp_socket(Domain::IPV4)?, Ipv4Addr::UNSPECIFIED.into()),
        },
        BindAddress::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => (tcp_socket(Domain::IPV4)?, v4.into()),
            None => {
                let socket = tcp_socket(Domain::IPV6)?;
                socket.set_only_v6(true)?;
                (socket, v6.into())
            }
        },
        BindAddress::Ip(ip @ IpAddr::V4(_)) => (tcp_socket(Domain::IPV4)?, ip),
    };
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(ip, port).into())?;
    socket.listen(BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// An IPv6 socket that also takes IPv4, where the OS gives one.
fn dual_stack_socket() -> Option<Socket> {
    let socket = tcp_socket(Domain::IPV6).ok()?;
    socket.set_only_v6(false).ok()?;
    Some(socket)
}

fn tcp_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_follow_the_engine() {
        assert_eq!(BindAddress::parse("*"), Some(BindAddress::Any));
        assert_eq!(BindAddress::parse(""), Some(BindAddress::Any));
        assert_eq!(BindAddress::parse("localhost"), Some(BindAddress::Ip(Ipv4Addr::LOCALHOST.into())));
        assert_eq!(BindAddress::parse("::1"), Some(BindAddress::Ip(Ipv6Addr::LOCALHOST.into())));
        assert_eq!(BindAddress::parse("10.1.2.3"), Some(BindAddress::Ip(Ipv4Addr::new(10, 1, 2, 3).into())));
        assert_eq!(BindAddress::parse("[::1]"), None);
        assert_eq!(BindAddress::parse("example.com"), None);
    }
}
