//! Listening sockets, made as the engine's `TCPServer::listen` makes them, so that a server
//! listening on `"*"` takes IPv4 and IPv6 clients on every platform.
//!
//! mio's `TcpListener::bind` is bypassed (for `socket2`, the crate for exactly this): it never
//! touches `IPV6_V6ONLY`, whose default is off on Linux but on for Windows and the BSDs, so a
//! `[::]` listener there refuses every IPv4 client; and its backlog is a fixed 128, which a
//! burst of clients overflows before the game's next poll accepts them.
//!
//! The engine's rules ([`BindAddress::parse`]): `"*"` (and `""`) is every interface, one IPv6
//! socket with `IPV6_V6ONLY` off (IPv4 clients arrive as `::ffff:a.b.c.d`), or an IPv4 socket on
//! `0.0.0.0` where IPv6 is absent or cannot take both families; an explicit address is one
//! socket of its own family with the OS's defaults (so `"::"` follows the OS, as in the engine).
//! `SO_REUSEADDR` is set except on Windows (there it would let another process take the
//! port; the engine and mio both leave it off there).

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
    let listener = match address {
        BindAddress::Ip(ip) => open(SocketAddr::new(ip, port), false)?,
        // Where IPv6 is missing, or a dual-stack socket cannot be had (OpenBSD), IPv4 alone.
        BindAddress::Any => open(SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port), true)
            .or_else(|_| open(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port), false))?,
    };
    Ok(mio::net::TcpListener::from_std(listener))
}

/// One listening socket; `dual_stack` clears `IPV6_V6ONLY` (an IPv6 address only).
fn open(addr: SocketAddr, dual_stack: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if dual_stack {
        socket.set_only_v6(false)?;
    }
    #[cfg(not(windows))]
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
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
