//! Throwaway certificates for the TLS tests: a root CA, an intermediate CA and a server
//! certificate for `localhost` signed by the intermediate; and a second such set under `other/`
//! with its own root (the trust tests need a CA that is not trusted). Made fresh for every run.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

use crate::Result;

fn ca_params(name: &str) -> Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    Ok(p)
}

/// Writes `ca.crt` (the root to trust), `chain.crt` (server certificate then intermediate) and
/// `server.key` into `dir`, and another such set, with another root, into `dir/other`.
pub fn write(dir: &Path) -> Result<()> {
    write_set(dir, "godot-rust-websocket test root CA")?;
    write_set(&dir.join("other"), "godot-rust-websocket other test root CA")
}

fn write_set(dir: &Path, root_name: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let e = |e: rcgen::Error| e.to_string();
    let root_key = KeyPair::generate().map_err(e)?;
    let root_params = ca_params(root_name)?;
    let root = root_params.self_signed(&root_key).map_err(e)?;
    let root_issuer = Issuer::new(root_params, root_key);
    let mid_key = KeyPair::generate().map_err(e)?;
    let mid_params = ca_params(&root_name.replace("root CA", "intermediate CA"))?;
    let mid = mid_params.signed_by(&mid_key, &root_issuer).map_err(e)?;
    let mid_issuer = Issuer::new(mid_params, mid_key);
    let key = KeyPair::generate().map_err(e)?;
    let leaf =
        CertificateParams::new(vec!["localhost".to_string()]).map_err(e)?.signed_by(&key, &mid_issuer).map_err(e)?;
    let write = |name: &str, text: String| std::fs::write(dir.join(name), text).map_err(|e| e.to_string());
    write("ca.crt", root.pem())?;
    write("chain.crt", format!("{}{}", leaf.pem(), mid.pem()))?;
    write("server.key", key.serialize_pem())?;
    Ok(())
}
