//! wss:// over real sockets with a throwaway CA made by the test (rcgen).

mod common;

use std::time::{Duration, Instant};

use common::{pump, pump_until_settled};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rust_websocket_core::connection::ClientTls;
use rust_websocket_core::tls::{self, ClientTrust, DefaultRoots, RootsOrigin};
use rust_websocket_core::{Config, Connection, ReadyState, Server, ServerEvent};

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    ca_named("godot-rust-websocket test CA")
}

/// A CA of another name (a CA of the same name would be taken for the issuer: a bad signature
/// instead of an unknown issuer).
fn other_ca() -> Ca {
    ca_named("godot-rust-websocket other test CA")
}

fn ca_named(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
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
    // The bundled roots (webpki-roots) do not know our CA.
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, warnings, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(DefaultRoots::bundled()), None));
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
fn system_roots_given_as_pem_are_trusted_and_no_others() {
    // What the binding hands over from `OS.get_system_ca_certificates()`: a PEM text.
    let (ca, other) = (ca(), other_ca());
    let (roots, warning) = DefaultRoots::from_system_pem(&ca.pem);
    assert_eq!((roots.origin(), warning), (RootsOrigin::System(1), None));
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(roots.clone()), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "127.0.0.1", client(ClientTrust::Default(roots.clone()), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("not valid for this host name")), "{w:?}");
    // Not the bundled public roots besides: a store of only `other` refuses `ca`'s server.
    let (only_other, _) = DefaultRoots::from_system_pem(&other.pem);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(only_other), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("unknown issuer")), "{w:?}");
    // A store of many, one of them unreadable: the readable ones are trusted, with a warning.
    let bad = "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
    let (roots, warning) = DefaultRoots::from_system_pem(&format!("{}{bad}{}", other.pem, ca.pem));
    assert_eq!(roots.origin(), RootsOrigin::System(2));
    assert!(warning.is_some_and(|w| w.contains("1 certificates of the OS certificate store could not be used")));
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(roots), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
}

#[test]
fn an_empty_or_unusable_system_store_falls_back_to_the_bundled_roots() {
    let ca = ca();
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    for (pem, says) in [
        ("", "the OS certificate store is empty"),
        ("\n\n", "the OS certificate store is empty"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "none of the 1 certificates"),
        ("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n", "none of the 1 certificates"),
    ] {
        let (roots, warning) = DefaultRoots::from_system_pem(pem);
        assert_eq!(roots.origin(), RootsOrigin::Bundled, "{pem:?}");
        let warning = warning.unwrap_or_default();
        assert!(warning.contains(says) && warning.contains("bundled Mozilla roots"), "{pem:?}: {warning}");
        // The bundled list is webpki-roots: public CAs only.
        let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(roots), None));
        assert_eq!(c.ready_state(), ReadyState::Closed);
        assert!(w.iter().any(|w| w.contains("unknown issuer")), "{w:?}");
    }
    assert_eq!(DefaultRoots::bundled().origin(), RootsOrigin::Bundled);
}

#[test]
fn override_roots_are_the_only_ones_and_pin_godot_certificates() {
    // As `network/tls/certificate_bundle_override`: exactly these roots.
    let (ca, other) = (ca(), other_ca());
    let only_other = DefaultRoots::only(roots(&other.pem)).unwrap();
    assert_eq!(only_other.origin(), RootsOrigin::Override(1));
    let (key, chain) = leaf(&ca, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(only_other.clone()), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("unknown issuer")), "{w:?}");
    let (key, chain) = leaf(&other, &["localhost"], false);
    let mut s = tls_server(&key, &chain);
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(only_other), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    // A Godot-made certificate in the bundle is trusted as it is; its CN is checked.
    let (key, cert) = godot_style_self_signed("localhost");
    let mut s = tls_server(&key, &cert);
    let pinned = DefaultRoots::only(roots(&cert)).unwrap();
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(pinned.clone()), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "127.0.0.1", client(ClientTrust::Default(pinned), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("not valid for this host name")), "{w:?}");
    assert!(DefaultRoots::only(Vec::new()).is_err());
}

#[test]
fn default_roots_are_built_once_and_shared() {
    use std::sync::Arc;
    let ca = ca();
    let (roots, _) = DefaultRoots::from_system_pem(&ca.pem);
    let copy = roots.clone();
    let a = tls::client_config(&ClientTrust::Default(roots), true).unwrap();
    let b = tls::client_config(&ClientTrust::Default(copy.clone()), true).unwrap();
    assert!(Arc::ptr_eq(&a, &b), "one configuration for every connection");
    let tls12 = tls::client_config(&ClientTrust::Default(copy), false).unwrap();
    assert!(!Arc::ptr_eq(&a, &tls12), "TLS 1.2 only is its own configuration");
    let bundled = ClientTls::default_client().unwrap().config;
    assert!(Arc::ptr_eq(&bundled, &DefaultRoots::bundled().config(true).unwrap()));
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

#[test]
fn a_root_of_the_os_store_presented_as_the_server_certificate_is_refused() {
    // A CA (CA:TRUE, valid for "localhost") that the OS store holds, presented by a server as its
    // own certificate: a root of the store is a trust anchor, not a pinned certificate, so
    // webpki's end-entity checks apply and refuse it.
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "godot-rust-websocket OS store CA");
    let ca = params.self_signed(&key).unwrap();
    let (system, warning) = DefaultRoots::from_system_pem(&format!("{}{}", other_ca().pem, ca.pem()));
    assert_eq!((system.origin(), warning), (RootsOrigin::System(2), None));
    let mut s = tls_server(&key.serialize_pem(), &ca.pem());
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(system), None));
    assert_eq!(c.ready_state(), ReadyState::Closed);
    assert!(w.iter().any(|w| w.contains("it is a CA (self-signed?) certificate")), "{w:?}");
    // Named explicitly (the bundle override, or TLSOptions.client(chain)), it is pinned as before.
    let named = DefaultRoots::only(roots(&ca.pem())).unwrap();
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Default(named), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
    let (c, w, _) = attempt(&mut s, "localhost", client(ClientTrust::Chain(roots(&ca.pem())), None));
    assert_eq!(c.ready_state(), ReadyState::Open, "{w:?}");
}
