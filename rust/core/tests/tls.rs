//! wss:// over real sockets with a throwaway CA made by the test (rcgen).

mod common;

use std::time::{Duration, Instant};

use common::{pump, pump_until_settled};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rust_websocket_core::connection::ClientTls;
use rust_websocket_core::tls::{self, ClientTrust};
use rust_websocket_core::{Config, Connection, ReadyState, Server, ServerEvent};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "godot-rust-websocket test CA");
    let cert = params.self_signed(&key).unwrap();
    Ca { pem: cert.pem(), issuer: Issuer::new(params, key) }
}

/// A server certificate for `names`, signed by `ca`; `expired` puts its validity in the past.
fn leaf(ca: &Ca, names: &[&str], expired: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2001, 1, 1);
        params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    }
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (key.serialize_pem(), format!("{}{}", cert.pem(), ca.pem))
}

/// Like Godot's `Crypto.generate_self_signed_certificate`: CA:TRUE, only a CN, no SAN.
fn godot_style_self_signed(cn: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (key.serialize_pem(), cert.pem())
}

fn tls_server(key: &str, chain: &str) -> Server {
    let cfg = tls::server_config(key, chain, true).expect("server config");
    common::listen(Config::default(), Some(cfg))
}

fn client(trust: ClientTrust, name_override: Option<&str>) -> ClientTls {
    ClientTls { config: tls::client_config(&trust, true).unwrap(), name_override: name_override.map(str::to_string) }
}

/// Connects to `host` at the server's port; returns the final client state and its warnings.
fn attempt(s: &mut Server, host: &str, tls: ClientTls) -> (Connection, Vec<String>, Vec<ServerEvent>) {
    let mut c = Connection::default();
    c.connect(&format!("wss://{host}:{}/secure", s.local_addr().port()), Some(tls), Instant::now()).unwrap();
    let mut log = Vec::new();
    let warnings = pump_until_settled(s, &mut c, &mut log);
    (c, warnings, log)
}

fn roots(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    tls::certs_from_pem(pem).unwrap()
}

use rust_websocket_core::rustls;

#[test]
fn trusted_chain_opens_and_exchanges_messages() {
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (mut c, warnings, mut log) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{warnings:?}");
    pump(&mut s, &mut c, &mut log, |_, _, log| log.iter().any(|e| matches!(e, ServerEvent::Connected { .. })));
    let id = log.iter().find_map(|e| if let ServerEvent::Connected { id, .. } = e { Some(*id) } else { None }).unwrap();
    let peer = s.peer(id).unwrap();
    assert_eq!(peer.borrow().requested_url(), format!("wss://localhost:{}/secure", s.local_addr().port()));
    assert_eq!(c.send(&vec![42u8; 100_000], false, Instant::now()), Err(rust_websocket_core::SendError::QueueFull));
    c.send(&vec![42u8; 60_000], false, Instant::now()).unwrap();
    pump(&mut s, &mut c, &mut log, |_, _, _| peer.borrow().available() == 1);
    assert_eq!(peer.borrow_mut().pop().unwrap().data.len(), 60_000);
    c.close(Some(1000), "tls bye", Instant::now());
    pump(&mut s, &mut c, &mut log, |_, c, _| c.ready_state() == ReadyState::Closed);
    assert_eq!(c.close_code(), Some(1000));
}

#[test]
fn wrong_hostname_is_rejected_unless_unsafe_or_name_unchecked() {
    let ca = ca();
    let (key, chain) = leaf(&ca, &["other.example"], false);
    let mut s = tls_server(&key, &chain);
    let (c, warnings, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!((c.ready_state(), c.close_code()), (ReadyState::Closed, None));
    assert!(warnings.iter().any(|w| w.contains("TLS") && w.contains("not valid for this host name")), "{warnings:?}");
    // The common-name override of TLSOptions.client(chain, "other.example") fixes it.
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), Some("other.example")));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::ChainNoName(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Unsafe, None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
}

#[test]
fn expired_and_unknown_issuers_are_rejected() {
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], true);
    let mut s = tls_server(&key, &chain);
    let (c, warnings, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(warnings.iter().any(|w| w.contains("has expired")), "{warnings:?}");
    // The default trust (webpki-roots) does not know our CA.
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, warnings, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(Vec::new()), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(warnings.iter().any(|w| w.contains("unknown issuer")), "{warnings:?}");
}

#[test]
fn godot_style_self_signed_certificate_is_accepted_when_pinned() {
    let (key, cert) = godot_style_self_signed("localhost");
    let mut s = tls_server(&key, &cert);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&cert)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    // Its CN is checked: 127.0.0.1 is not "localhost".
    let (c, w, _) = attempt(&mut s, "127.0.0.1", client(ClientTrust::Chain(roots(&cert)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("not valid for this host name")), "{w:?}");
    // Another self-signed certificate is not trusted.
    let (_, other) = godot_style_self_signed("localhost");
    let (c, _, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&other)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
}

#[test]
fn plain_client_against_tls_server_and_tls_client_against_plain_server_fail_cleanly() {
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let mut c = Connection::default();
    c.connect(&format!("ws://localhost:{}/", s.local_addr().port()), None, Instant::now()).unwrap();
    let mut log = Vec::new();
    pump_until_settled(&mut s, &mut c, &mut log);
    assert_eq!(c.ready_state(), ReadyState::Closed);
    let start = Instant::now();
    while !log.iter().any(|e| matches!(e, ServerEvent::Warning(w) if w.contains("TLS"))) {
        assert!(start.elapsed() < Duration::from_secs(5), "{log:?}");
        log.extend(s.poll(Instant::now()));
    }
    assert!(!log.iter().any(|e| matches!(e, ServerEvent::Connected { .. })));
    // And the TLS server still serves a TLS client.
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");

    let mut plain = common::listen(Config::default(), None);
    let (c, w, _) = attempt(&mut plain, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("TLS")), "{w:?}");
}

#[test]
fn default_trust_with_extra_roots_accepts_them_and_checks_names() {
    // As `network/tls/certificate_bundle_override` adds to the default roots.
    let (key, cert) = godot_style_self_signed("localhost");
    let mut s = tls_server(&key, &cert);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(roots(&cert)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "127.0.0.1", client(ClientTrust::Default(roots(&cert)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("not valid for this host name")), "{w:?}");
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
}

#[test]
fn tls12_only_when_tls13_is_switched_off() {
    use rustls::pki_types::pem::PemObject;
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], false);
    // A server that speaks only TLS 1.3 refuses a client limited to TLS 1.2 (the engine's
    // `network/tls/enable_tls_v1.3 = false`), and accepts the default client.
    let only13 = rustls::ServerConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            tls::certs_from_pem(&chain).unwrap(),
            rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap();
    let mut s = common::listen(Config::default(), Some(std::sync::Arc::new(only13)));
    let tls12 = ClientTls {
        config: tls::client_config(&ClientTrust::Chain(roots(&ca.pem)), false).unwrap(),
        name_override: None,
    };
    let (c, w, _) = attempt(&mut s, "localhost", tls12);
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("TLS")), "{w:?}");
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
}

#[test]
fn a_ca_certificate_used_as_the_server_certificate_gets_its_own_advice() {
    // A CA:TRUE certificate signed by the trusted root, presented as the server's own: webpki
    // refuses it as CaUsedAsEndEntity, which rustls passes on as `CertificateError::Other`.
    let ca = ca();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    let mut s = tls_server(&key.serialize_pem(), &format!("{}{}", cert.pem(), ca.pem));
    let (c, warnings, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem)), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(
        warnings.iter().any(|w| w.contains("it is a CA (self-signed?) certificate; trust it explicitly")),
        "{warnings:?}"
    );
}
