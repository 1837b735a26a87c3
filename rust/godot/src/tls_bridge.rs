//! Godot's `TLSOptions` / `X509Certificate` / `CryptoKey` to rustls, working around the
//! engine's `save_to_string()` defects (a trailing NUL or U+FFFD; chains saved as N copies of
//! the first certificate), and the engine's default roots read once per process.

use std::sync::{Arc, OnceLock};

use godot::classes::{CryptoKey, FileAccess, Os, ProjectSettings, TlsOptions, X509Certificate};
use godot::prelude::*;
use rust_websocket_core::connection::ClientTls;
use rust_websocket_core::rustls;
use rust_websocket_core::tls::{self, ClientTrust, DefaultRoots};

fn setting(name: &str) -> Option<Variant> {
    let ps = ProjectSettings::singleton();
    ps.has_setting(name).then(|| ps.get_setting(name))
}

/// `network/tls/enable_tls_v1.3`, true unless set to false.
pub fn tls13_enabled() -> bool {
    setting("network/tls/enable_tls_v1.3").and_then(|v| v.try_to::<bool>().ok()).unwrap_or(true)
}

/// The PEM text of a certificate (chain). When the resource was loaded from a file, the file is
/// read directly, because `save_to_string()` writes the first certificate once per chain entry.
fn cert_pem(cert: &mut Gd<X509Certificate>) -> String {
    let path = cert.get_path().to_string();
    if !path.is_empty() && !path.contains("::") {
        let text = FileAccess::get_file_as_string(&path).to_string();
        if text.contains("-----BEGIN CERTIFICATE-----") {
            return text;
        }
    }
    let text = cert.save_to_string().to_string();
    let count = text.matches("-----BEGIN CERTIFICATE-----").count();
    if count > 1 {
        godot_warn!(
            "RustWebSocket: this X509Certificate holds a chain of {count} certificates, but Godot can only export the \
             first one (save_to_string defect); load the chain from a .crt file to use all of it"
        );
        let end = "-----END CERTIFICATE-----";
        return text.split_inclusive(end).next().unwrap_or("").to_string();
    }
    text
}

fn certs(cert: &mut Gd<X509Certificate>) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    tls::certs_from_pem(&cert_pem(cert)).map_err(|e| e.0)
}

/// The roots of `TLSOptions.client()`, chosen as the engine chooses them at start-up
/// (`CryptoMbedTLS::load_default_certificates`): only the certificates of
/// `network/tls/certificate_bundle_override` when it is set; else the OS store as
/// `OS.get_system_ca_certificates()` gives it; else, when that holds no usable certificate, the
/// bundled Mozilla list (with a warning). Read on first use and kept for the process, as the
/// engine keeps its own (a later change of the setting applies to neither).
fn default_roots() -> Result<DefaultRoots, String> {
    static ROOTS: OnceLock<Result<DefaultRoots, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let path = setting("network/tls/certificate_bundle_override").map(|v| v.to_string()).unwrap_or_default();
            if !path.is_empty() {
                let text = FileAccess::get_file_as_string(&path).to_string();
                return tls::certs_from_pem(&text)
                    .and_then(DefaultRoots::only)
                    .map_err(|e| format!("network/tls/certificate_bundle_override '{path}': {e}"));
            }
            let pem = Os::singleton().get_system_ca_certificates().to_string();
            let (roots, warning) = DefaultRoots::from_system_pem(&pem);
            if let Some(w) = warning {
                godot_warn!("RustWebSocket: {w}");
            }
            Ok(roots)
        })
        .clone()
}

/// Client TLS for `connect_to_url`; `None` options mean `TLSOptions.client()`.
pub fn client_tls(options: Option<Gd<TlsOptions>>) -> Result<ClientTls, String> {
    let (trust, name_override) = match options {
        None => (ClientTrust::Default(default_roots()?), None),
        Some(o) => {
            if o.is_server() {
                return Err("server TLSOptions were given to a client; use TLSOptions.client()".into());
            }
            let chain = match o.get_trusted_ca_chain() {
                Some(mut c) => Some(certs(&mut c)?),
                None => None,
            };
            let cn = o.get_common_name_override().to_string();
            let trust = match (o.is_unsafe_client(), chain) {
                (true, None) => ClientTrust::Unsafe,
                (true, Some(chain)) => ClientTrust::ChainNoName(chain),
                (false, Some(chain)) => ClientTrust::Chain(chain),
                (false, None) => ClientTrust::Default(default_roots()?),
            };
            (trust, (!cn.is_empty()).then_some(cn))
        }
    };
    let config = tls::client_config(&trust, tls13_enabled()).map_err(|e| e.0)?;
    Ok(ClientTls { config, name_override })
}

/// Server TLS from `TLSOptions.server(key, certificate)`.
pub fn server_tls(options: &Gd<TlsOptions>) -> Result<Arc<rustls::ServerConfig>, String> {
    if !options.is_server() {
        return Err("client TLSOptions were given to a server; use TLSOptions.server(key, certificate)".into());
    }
    let mut key: Gd<CryptoKey> = options.get_private_key().ok_or("TLSOptions.server() has no private key")?;
    let mut cert = options.get_own_certificate().ok_or("TLSOptions.server() has no certificate")?;
    let key_pem = key.save_to_string().to_string();
    tls::server_config(&key_pem, &cert_pem(&mut cert), tls13_enabled()).map_err(|e| e.0)
}
