//! Listening sockets (`listener.rs`): `"*"` takes IPv4 and IPv6 clients whatever the OS's
//! `IPV6_V6ONLY` default (on under Windows and the BSDs; on Linux in a network namespace with
//! `net.ipv6.bindv6only=1`, made here), and the backlog is the one asked for.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::Instant;

mod common;

use common::pump;
use rust_websocket_core::listener::{self, BindAddress, BACKLOG};
use rust_websocket_core::{Config, Connection, ReadyState, Server, ServerEvent};

/// Set in the child that runs inside the namespace.
const INSIDE: &str = "RUST_WEBSOCKET_TEST_V6ONLY_NAMESPACE";

/// Whether the OS gives IPv6 sockets at all (then `"*"` must be a dual-stack `[::]`).
fn has_ipv6_sockets() -> bool {
    socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None).is_ok()
}

/// Whether ::1 can be reached (IPv6 sockets exist, but the loopback may be switched off).
fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A WebSocket client of ours reaches `server` at `ip` and its message arrives.
fn reach(server: &mut Server, ip: IpAddr) {
    let url = format!("ws://{}/", SocketAddr::new(ip, server.local_addr().port()));
    let mut c = Connection::new(Config::default());
    c.connect(&url, None, Instant::now()).unwrap();
    let mut log = Vec::new();
    pump(server, &mut c, &mut log, |_, c, log| {
        c.ready_state() != ReadyState::Connecting && log.iter().any(|e| matches!(e, ServerEvent::Connected { .. }))
    });
    assert_eq!(c.ready_state(), ReadyState::Open, "{url}: {:?}", c.take_events());
    c.send(b"over both families", true, Instant::now()).unwrap();
    pump(server, &mut c, &mut log, |_, _, log| log.iter().any(|e| matches!(e, ServerEvent::Data { .. })));
}

/// `"*"`: one socket, IPv6 with `IPV6_V6ONLY` off where IPv6 exists, taking clients over
/// 127.0.0.1 and ::1.
fn any_takes_both_families() {
    let l = listener::bind(BindAddress::Any, 0).expect("listen on *");
    let local = l.local_addr().unwrap();
    if has_ipv6_sockets() {
        assert!(local.is_ipv6(), "'*' should listen on [::] where IPv6 exists, got {local}");
        assert!(!socket2::SockRef::from(&l).only_v6().unwrap(), "IPV6_V6ONLY is still on");
    } else {
        assert_eq!(local.ip(), IpAddr::from(Ipv4Addr::UNSPECIFIED));
    }
    let mut server = Server::listen_on(l, Config::default(), None).unwrap();
    reach(&mut server, Ipv4Addr::LOCALHOST.into());
    if has_ipv6_loopback() {
        reach(&mut server, Ipv6Addr::LOCALHOST.into());
    } else {
        println!("::1 not reached: this machine has no IPv6 loopback");
    }
}

#[test]
fn any_address_takes_ipv4_and_ipv6_clients() {
    any_takes_both_families();
}

#[test]
fn an_explicit_address_is_that_address_alone() {
    let mut server = Server::listen("127.0.0.1:0".parse().unwrap(), Config::default(), None).unwrap();
    assert_eq!(server.local_addr().ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
    reach(&mut server, Ipv4Addr::LOCALHOST.into());
    if has_ipv6_loopback() {
        let port = server.local_addr().port();
        assert!(TcpStream::connect((Ipv6Addr::LOCALHOST, port)).is_err(), "::1 reached a 127.0.0.1 listener");
    }
}

/// As in the engine: an explicit IPv6 address is IPv6 only (even where the OS default would
/// take IPv4 too), an IPv4-mapped one is its IPv4 address.
#[test]
fn explicit_ipv6_is_ipv6_only_and_mapped_addresses_are_ipv4() {
    if has_ipv6_sockets() {
        let l = listener::bind(BindAddress::Ip(Ipv6Addr::UNSPECIFIED.into()), 0).unwrap();
        assert!(socket2::SockRef::from(&l).only_v6().unwrap(), "'::' takes IPv4 clients");
    }
    let mapped = BindAddress::parse("::ffff:127.0.0.1").unwrap();
    let l = listener::bind(mapped, 0).unwrap();
    assert_eq!(l.local_addr().unwrap().ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
}

/// A port whose `[::]` another program holds for IPv6 alone: `"*"` fails to bind, rather than
/// quietly listening on IPv4 alone while IPv6 clients (`localhost` → ::1) reach the other one.
#[test]
fn any_address_on_a_port_held_for_ipv6_fails_instead_of_going_ipv4_only() {
    if !has_ipv6_sockets() {
        println!("skipped: no IPv6 sockets on this machine");
        return;
    }
    let holder = listener::bind(BindAddress::Ip(Ipv6Addr::UNSPECIFIED.into()), 0).unwrap();
    let port = holder.local_addr().unwrap().port();
    let err = listener::bind(BindAddress::Any, port).expect_err("'*' bound beside an IPv6-only holder");
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
}

/// The backlog asked of the OS, read back from the kernel (`TCP_INFO` of a listening socket
/// carries its maximum in `tcpi_sacked`), capped by `net.core.somaxconn` as the OS does.
#[cfg(target_os = "linux")]
#[test]
fn the_backlog_is_the_one_asked_for() {
    use std::os::fd::AsRawFd;
    let l = listener::bind(BindAddress::Any, 0).unwrap();
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let r = unsafe {
        libc::getsockopt(
            l.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(r, 0, "getsockopt(TCP_INFO): {}", std::io::Error::last_os_error());
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    assert_eq!(info.tcpi_sacked, (BACKLOG as u32).min(somaxconn));
}

/// Windows' default, on Linux: a network namespace with `net.ipv6.bindv6only=1` (made with
/// `unshare`, so root only; elsewhere the test says why it skips). This process runs itself
/// again inside it, for `inside_a_v6only_namespace`.
#[test]
fn any_address_takes_ipv4_where_the_os_defaults_to_v6_only() {
    if !cfg!(target_os = "linux") {
        println!("skipped: network namespaces are Linux's (on this OS the plain test is the one that matters)");
        return;
    }
    #[cfg(unix)]
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: making a network namespace needs root (CI runs as root)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--net", "sh", "-c", "ip link set lo up && sysctl -qw net.ipv6.bindv6only=1 && exec \"$0\" \"$@\""])
        .arg(&exe)
        .args(["--exact", "inside_a_v6only_namespace", "--include-ignored", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("run unshare (util-linux)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "inside the namespace:\n{text}");
    assert!(text.contains("1 passed"), "the inner test did not run:\n{text}");
}

#[test]
#[ignore = "runs inside the namespace made by any_address_takes_ipv4_where_the_os_defaults_to_v6_only"]
fn inside_a_v6only_namespace() {
    assert_eq!(std::env::var(INSIDE).as_deref(), Ok("1"), "run by the namespace test only");
    let v6only = std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").unwrap();
    assert_eq!(v6only.trim(), "1", "the namespace does not default to IPV6_V6ONLY");
    // The OS default really refuses IPv4 here: what mio's bind made of "[::]".
    let plain = std::net::TcpListener::bind((Ipv6Addr::UNSPECIFIED, 0)).unwrap();
    assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, plain.local_addr().unwrap().port())).is_err());
    any_takes_both_families();
}
