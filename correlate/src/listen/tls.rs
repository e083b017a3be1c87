//! The listener's rustls server configuration, from PEM files: the
//! server's chain and key, and the CAs that client certificates must chain
//! to (verified by webpki; a client without a valid one fails the
//! handshake).

use super::config::{ListenError, TlsConfig};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use std::path::Path;
use std::sync::Arc;

fn err(path: &Path, reason: impl std::fmt::Display) -> ListenError {
    ListenError::Tls {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Every certificate in a PEM file (at least one).
fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ListenError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, e))?;
    if certs.is_empty() {
        return Err(err(path, "no certificate in the file"));
    }
    Ok(certs)
}

/// The server configuration for `tls`.
pub(crate) fn server_config(tls: &TlsConfig) -> Result<Arc<ServerConfig>, ListenError> {
    let provider: Arc<CryptoProvider> = Arc::new(ring::default_provider());
    let chain = certs(&tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| err(&tls.key, e))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&tls.cert, e))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| err(ca, format!("not a usable CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| err(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| err(&tls.key, format!("does not go with the certificate: {e}")))?;
    Ok(Arc::new(config))
}
