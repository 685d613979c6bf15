//! HTTPS: a rustls acceptor from PEM files (certificate chain and private key).

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// Why TLS could not be set up.
#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// An acceptor serving `cert` (PEM chain) with `key` (PEM private key), HTTP/1.1 only.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let mut config = wharf_proto::tls::server_config(cert, key).map_err(TlsError)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
