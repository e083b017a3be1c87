//! TLS to the shared baseline's server. The location says so as libpq's
//! do: `sslmode=require`, `verify-ca` or `verify-full` with
//! `sslrootcert=PEM`, the CA the server's certificate must chain to.
//! procflow always verifies the server (its name or address, and its
//! chain): `require` without a CA is refused rather than left unchecked.

use crate::baseline::StoreError;
use std::path::PathBuf;
use std::sync::Arc;

/// What the location asks of TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsAsk {
    /// TLS is required.
    pub required: bool,
    /// The CA file.
    pub root: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of `url` (the client library
/// knows neither `verify-*` nor `sslrootcert`); what is left, and what
/// they asked.
pub fn split(url: &str) -> (String, TlsAsk) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), TlsAsk::default());
    };
    let mut ask = TlsAsk::default();
    let mut kept = Vec::new();
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("sslmode", m)) => ask.required = !matches!(m, "disable" | "allow" | "prefer"),
            Some(("sslrootcert", p)) => ask.root = Some(PathBuf::from(p)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, ask)
}

/// The connector for `ask`, or why it cannot be made.
pub fn connector(
    ask: &TlsAsk,
    shown: &str,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let refuse = |why: String| StoreError::Format {
        path: shown.to_string(),
        why,
    };
    let Some(root) = &ask.root else {
        return Err(refuse(
            "sslmode asks for TLS: give the server's CA as sslrootcert=PEM (procflow verifies the server)".into(),
        ));
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(root)
        .map_err(|e| refuse(format!("sslrootcert {}: {e}", root.display())))?;
    for c in certs {
        let c = c.map_err(|e| refuse(format!("sslrootcert {}: {e}", root.display())))?;
        roots
            .add(c)
            .map_err(|e| refuse(format!("sslrootcert {}: {e}", root.display())))?;
    }
    if roots.is_empty() {
        return Err(refuse(format!(
            "sslrootcert {}: no certificate",
            root.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| refuse(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tls_settings_leave_the_location() {
        let (rest, ask) = split(
            "postgres://u@db/base?sslmode=verify-full&sslrootcert=/etc/ca.pem&application_name=x",
        );
        assert_eq!(rest, "postgres://u@db/base?application_name=x");
        assert!(ask.required);
        assert_eq!(ask.root, Some(PathBuf::from("/etc/ca.pem")));
        let (rest, ask) = split("postgres://u@db/base?sslmode=disable");
        assert_eq!(
            (rest.as_str(), ask.required),
            ("postgres://u@db/base", false)
        );
        assert_eq!(split("postgres://db/b").1, TlsAsk::default());
    }
}
