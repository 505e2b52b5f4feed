//! TLS for the web page: a certificate chain and its private key, PEM files named by
//! `web.tls_cert_file` and `web.tls_key_file`, read once at start. With TLS the session cookie
//! is marked Secure.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The acceptor for `cert_file` (the server's certificate first, then its chain) and
/// `key_file`, or why not, naming the file.
pub fn tls_acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, String> {
    let certificates = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|error| format!("web.tls_cert_file {}: {error}", cert_file.display()))?;
    if certificates.is_empty() {
        return Err(format!(
            "web.tls_cert_file {}: no certificate in it",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|error| format!("web.tls_key_file {}: {error}", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS: {error}"))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| {
            format!(
                "web.tls_key_file {}: does not fit the certificate: {error}",
                key_file.display()
            )
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
