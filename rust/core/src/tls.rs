//! rustls configurations for the meanings of Godot's `TLSOptions`.
//!
//! | `TLSOptions`                  | here                                                      |
//! |-------------------------------|-----------------------------------------------------------|
//! | `client()`                    | [`ClientTrust::Default`]: the [`DefaultRoots`], name checked |
//! | `client(chain, cn)`           | [`ClientTrust::Chain`]: only `chain` is trusted, name = `cn` or the host |
//! | `client_unsafe()`             | [`ClientTrust::Unsafe`]: any certificate, signatures still checked |
//! | `client_unsafe(chain)`        | [`ClientTrust::ChainNoName`]: verified against `chain`, name not checked |
//! | `server(key, cert)`           | [`server_config`]                                          |
//!
//! The default roots are the engine's (`CryptoMbedTLS::load_default_certificates`): the
//! project's `network/tls/certificate_bundle_override` when set, and then only it; else the OS
//! store (`OS.get_system_ca_certificates()`, handed over as PEM text by the embedder); else,
//! when that holds no usable certificate, the bundled Mozilla list (webpki-roots). They cost
//! hundreds of parsed certificates, so an embedder builds them once and shares them.

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

/// The crypto provider: `ring`, chosen explicitly (it builds with only a C compiler).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

static TLS12_ONLY: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn versions(tls13: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    if tls13 {
        rustls::ALL_VERSIONS
    } else {
        TLS12_ONLY
    }
}

/// A TLS setup error, in words for the game developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Strips what the engine's `X509Certificate.save_to_string()` appends (a NUL or U+FFFD).
pub fn clean_pem(pem: &str) -> &str {
    pem.trim_end_matches(['\0', '\u{FFFD}'])
}

/// Every certificate in a PEM text.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(clean_pem(pem).as_bytes()).collect();
    let certs = certs.map_err(|e| TlsError(format!("invalid certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError("no certificate found in the PEM text".into()));
    }
    Ok(certs)
}

/// Who the client trusts.
#[derive(Debug, Clone)]
pub enum ClientTrust {
    /// The default roots (see [`DefaultRoots`]); the host name is checked.
    Default(DefaultRoots),
    /// Only these roots; the host name is checked.
    Chain(Vec<CertificateDer<'static>>),
    /// Only these roots; the host name is not checked.
    ChainNoName(Vec<CertificateDer<'static>>),
    /// Any certificate (testing only).
    Unsafe,
}

/// Where the [`DefaultRoots`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootsOrigin {
    /// The OS certificate store, this many usable certificates of it.
    System(usize),
    /// The bundled Mozilla list (webpki-roots): the OS store was empty or unusable.
    Bundled,
    /// Only the certificates of a bundle the project chose (`certificate_bundle_override`), this many.
    Override(usize),
}

/// The roots of `TLSOptions.client()`: one verifier and its client configurations (with and
/// without TLS 1.3), built on first use and shared by every connection given a clone.
#[derive(Clone)]
pub struct DefaultRoots(Arc<RootsInner>);

struct RootsInner {
    verifier: Arc<ChainVerifier>,
    origin: RootsOrigin,
    /// Index 1: TLS 1.3 allowed; 0: TLS 1.2 only.
    configs: [OnceLock<Result<Arc<ClientConfig>, TlsError>>; 2],
}

impl fmt::Debug for DefaultRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DefaultRoots({:?})", self.0.origin)
    }
}

impl DefaultRoots {
    fn new(verifier: ChainVerifier, origin: RootsOrigin) -> Self {
        let configs = [OnceLock::new(), OnceLock::new()];
        DefaultRoots(Arc::new(RootsInner { verifier: Arc::new(verifier), origin, configs }))
    }

    /// The bundled Mozilla list (webpki-roots), built once per process.
    pub fn bundled() -> DefaultRoots {
        static BUNDLED: OnceLock<DefaultRoots> = OnceLock::new();
        BUNDLED
            .get_or_init(|| {
                let mut store = RootCertStore::empty();
                store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                let verifier = chain_verifier(store, Vec::new(), true).expect("webpki-roots make a verifier");
                DefaultRoots::new(verifier, RootsOrigin::Bundled)
            })
            .clone()
    }

    /// The OS store, given as the PEM text of `OS.get_system_ca_certificates()`; the bundled
    /// list when it holds no usable certificate. The second value, when there is one, tells the
    /// game developer which fallback was taken or what was skipped.
    pub fn from_system_pem(pem: &str) -> (DefaultRoots, Option<String>) {
        let (certs, unreadable) = read_pem_leniently(pem);
        let mut store = RootCertStore::empty();
        let (added, unusable) = store.add_parsable_certificates(certs.iter().cloned());
        let skipped = unreadable + unusable;
        if added == 0 {
            let why = if certs.is_empty() && unreadable == 0 {
                "the OS certificate store is empty".to_string()
            } else {
                format!("none of the {skipped} certificates of the OS certificate store could be used")
            };
            let warning = format!("{why}; trusting the bundled Mozilla roots (webpki-roots) instead");
            return (DefaultRoots::bundled(), Some(warning));
        }
        // Nothing pinned: the OS store's roots are trust anchors only, never server certificates
        // accepted as they are (webpki's end-entity checks apply; a CA:TRUE leaf is refused).
        match chain_verifier(store, Vec::new(), true) {
            Ok(verifier) => {
                let roots = DefaultRoots::new(verifier, RootsOrigin::System(added));
                let warning = (skipped > 0).then(|| {
                    format!("{skipped} certificates of the OS certificate store could not be used and are not trusted")
                });
                (roots, warning)
            }
            Err(e) => (
                DefaultRoots::bundled(),
                Some(format!("the OS certificate store could not be used ({e}); trusting the bundled Mozilla roots (webpki-roots) instead")),
            ),
        }
    }

    /// Exactly `certs` (the project's `certificate_bundle_override`), nothing else. A
    /// certificate that cannot be a trust anchor (Godot's self-signed ones) is still accepted
    /// when a server presents it as it is (pinned).
    pub fn only(certs: Vec<CertificateDer<'static>>) -> Result<DefaultRoots, TlsError> {
        if certs.is_empty() {
            return Err(TlsError("no certificate to trust".into()));
        }
        let origin = RootsOrigin::Override(certs.len());
        Ok(DefaultRoots::new(chain_verifier(store_of(&certs), certs, true)?, origin))
    }

    /// Where these roots come from.
    pub fn origin(&self) -> RootsOrigin {
        self.0.origin
    }

    /// The client configuration over these roots, built once for each `tls13`.
    pub fn config(&self, tls13: bool) -> Result<Arc<ClientConfig>, TlsError> {
        self.0.configs[usize::from(tls13)].get_or_init(|| config_with(self.0.verifier.clone(), tls13)).clone()
    }
}

/// The certificates of a PEM text that decode, and how many sections did not.
fn read_pem_leniently(pem: &str) -> (Vec<CertificateDer<'static>>, usize) {
    let mut certs = Vec::new();
    let mut bad = 0;
    for item in CertificateDer::pem_slice_iter(clean_pem(pem).as_bytes()) {
        match item {
            Ok(c) => certs.push(c),
            Err(_) => bad += 1,
        }
    }
    (certs, bad)
}

/// Client TLS: the rustls configuration and an optional name to verify instead of the host.
#[derive(Clone)]
pub struct ClientTls {
    pub config: Arc<ClientConfig>,
    pub name_override: Option<String>,
}

impl ClientTls {
    /// `TLSOptions.client()` without an embedder's roots: the bundled Mozilla list
    /// ([`DefaultRoots::bundled`]), the host name checked, TLS 1.3 allowed. Built once and
    /// shared by every connection that uses it. (The Godot binding passes the engine's
    /// default roots instead.)
    pub fn default_client() -> Result<ClientTls, TlsError> {
        Ok(ClientTls { config: DefaultRoots::bundled().config(true)?, name_override: None })
    }
}

/// A client configuration for `trust`; `tls13 == false` limits it to TLS 1.2.
pub fn client_config(trust: &ClientTrust, tls13: bool) -> Result<Arc<ClientConfig>, TlsError> {
    let verifier = match trust {
        ClientTrust::Default(roots) => return roots.config(tls13),
        // Certificates that cannot be trust anchors (Godot's self-signed ones are CA:TRUE with
        // only a CN) are still accepted when presented as they are: pinned.
        ClientTrust::Chain(chain) | ClientTrust::ChainNoName(chain) => {
            chain_verifier(store_of(chain), chain.clone(), matches!(trust, ClientTrust::Chain(_)))?
        }
        ClientTrust::Unsafe => {
            ChainVerifier { inner: None, pinned: Vec::new(), check_name: false, accept_any: true, provider: provider() }
        }
    };
    config_with(Arc::new(verifier), tls13)
}

/// A store of those of `certs` that can be trust anchors.
fn store_of(certs: &[CertificateDer<'static>]) -> RootCertStore {
    let mut store = RootCertStore::empty();
    store.add_parsable_certificates(certs.iter().cloned());
    store
}

/// A verifier over the anchors of `store` (webpki) that also accepts a server certificate that
/// is one of `pinned` as it is (only the certificates the developer named: a
/// `TLSOptions.client(chain)` or the bundle override); the name is checked when `check_name`.
fn chain_verifier(
    store: RootCertStore,
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
) -> Result<ChainVerifier, TlsError> {
    let provider = provider();
    let inner = match store.is_empty() {
        true => None,
        false => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| TlsError(e.to_string()))?,
        ),
    };
    Ok(ChainVerifier { inner, pinned, check_name, accept_any: false, provider })
}

/// The client configuration over `verifier`; `tls13 == false` limits it to TLS 1.2.
fn config_with(verifier: Arc<dyn ServerCertVerifier>, tls13: bool) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(tls13))
        .map_err(|e| TlsError(e.to_string()))?;
    Ok(Arc::new(builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth()))
}

/// A server configuration from a PEM key and a PEM certificate chain (leaf first).
pub fn server_config(key_pem: &str, chain_pem: &str, tls13: bool) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certs_from_pem(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(clean_pem(key_pem).as_bytes())
        .map_err(|e| TlsError(format!("invalid private key PEM: {e}")))?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(tls13))
        .map_err(|e| TlsError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError(format!("the key does not fit the certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// Trust in the certificates of a `TLSOptions.client(chain)`, as mbedTLS gives it: a server
/// certificate that is one of them is accepted as it is (pinned), checking only its validity
/// period and, unless `client_unsafe(chain)`, its name (subjectAltName, or the CN when it has
/// none); any other must chain up to them (webpki), the name checked the same way.
/// With `accept_any` (`client_unsafe()`), every certificate is accepted. Handshake signatures
/// are always verified.
#[derive(Debug)]
struct ChainVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    check_name: bool,
    accept_any: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.accept_any {
            return Ok(ServerCertVerified::assertion());
        }
        let name_ok = |der: &CertificateDer<'_>| !self.check_name || cert_matches_name(der, server_name);
        if self.pinned.iter().any(|p| p.as_ref() == end_entity.as_ref()) {
            check_validity(end_entity, now)?;
            return if name_ok(end_entity) {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
            };
        }
        let Some(inner) = &self.inner else {
            return Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if name_ok(end_entity) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.provider.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

fn check_validity(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    let now = now.as_secs() as i64;
    let v = cert.validity();
    if now < v.not_before.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::NotValidYet));
    }
    if now > v.not_after.timestamp() {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    Ok(())
}

/// RFC 6125: the subjectAltName DNS/IP entries when there are any, else the subject's CN.
fn cert_matches_name(der: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else { return false };
    let (host, ip) = match name {
        ServerName::DnsName(d) => (d.as_ref().to_ascii_lowercase(), None),
        ServerName::IpAddress(ip) => {
            let ip = std::net::IpAddr::from(*ip);
            (ip.to_string(), Some(ip))
        }
        _ => return false,
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        return san.value.general_names.iter().any(|g| match g {
            GeneralName::DNSName(d) => ip.is_none() && dns_matches(d, &host),
            GeneralName::IPAddress(bytes) => ip.is_some_and(|ip| match ip {
                std::net::IpAddr::V4(v4) => v4.octets()[..] == **bytes,
                std::net::IpAddr::V6(v6) => v6.octets()[..] == **bytes,
            }),
            _ => false,
        });
    }
    let matched = cert.subject().iter_common_name().filter_map(|cn| cn.as_str().ok()).any(|cn| dns_matches(cn, &host));
    matched
}

/// Case-insensitive match; a `*.` wildcard covers exactly one leftmost label.
fn dns_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    match pattern.strip_prefix("*.") {
        Some(rest) => host.split_once('.').is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => pattern == host,
    }
}

/// An I/O error in words for the game developer; for a rejected certificate, why it was
/// rejected and what to do about it.
pub fn explain_io(when: &str, e: &io::Error) -> String {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(cert)) => {
            format!("TLS error {when}: the server's certificate was rejected: {} ({cert})", certificate_advice(cert))
        }
        Some(tls) => format!("TLS error {when}: {tls}"),
        None => format!("I/O error {when}: {e}"),
    }
}

fn certificate_advice(cert: &CertificateError) -> &'static str {
    use CertificateError as C;
    match cert {
        C::NotValidForName | C::NotValidForNameContext { .. } => "it is not valid for this host name",
        C::Expired | C::ExpiredContext { .. } => "it has expired",
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet",
        C::UnknownIssuer => "it is not signed by a trusted authority (unknown issuer)",
        C::BadSignature => "its signature is invalid",
        C::Revoked => "it was revoked",
        // rustls passes webpki's finer reasons on as `Other`.
        C::Other(other) if matches!(other.0.downcast_ref(), Some(webpki::Error::CaUsedAsEndEntity)) => {
            "it is a CA (self-signed?) certificate; trust it explicitly with TLSOptions.client(certificate)"
        }
        _ => "it failed verification",
    }
}
