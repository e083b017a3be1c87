//! Reaching a NATS server: the location (`nats://[user:password@]host:port`,
//! `tls://` for TLS), credentials and TLS settings, and the JetStream
//! stream the messages go to.

use async_nats::jetstream::{self, stream};
use std::path::PathBuf;
use std::time::Duration;

/// How long a connection attempt, or an acknowledgement, may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The window in which the server drops a message sent again under the
/// same id.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// Where the server is and how to prove who we are.
#[derive(Debug, Clone, Default)]
pub struct Server {
    /// `nats://host:port` or `tls://host:port`, with any user and
    /// password removed (see [`Server::parse`]).
    pub url: String,
    /// User and password from the location.
    pub user: Option<(String, String)>,
    /// A NATS credentials file (user JWT and NKey seed).
    pub creds: Option<PathBuf>,
    /// CA certificates (PEM) the server's certificate must chain to.
    pub tls_ca: Option<PathBuf>,
}

impl Server {
    /// Reads a location; the password is kept apart so that no message
    /// shows it.
    pub fn parse(location: &str) -> Result<Server, String> {
        let Some((scheme, rest)) = location.split_once("://") else {
            return Err(format!(
                "{location}: not a NATS location (nats://host:port)"
            ));
        };
        if !matches!(scheme, "nats" | "tls") {
            return Err(format!(
                "{scheme}://: not a NATS location (nats:// or tls://)"
            ));
        }
        let (user, host) = match rest.rsplit_once('@') {
            Some((auth, host)) => {
                let (u, p) = auth.split_once(':').unwrap_or((auth, ""));
                (Some((u.to_string(), p.to_string())), host)
            }
            None => (None, rest),
        };
        if host.is_empty() {
            return Err(format!("{scheme}://: no host"));
        }
        Ok(Server {
            url: format!("{scheme}://{host}"),
            user,
            creds: None,
            tls_ca: None,
        })
    }

    /// The location as messages show it.
    pub fn shown(&self) -> String {
        match &self.user {
            Some((u, _)) => self.url.replacen("://", &format!("://{u}@"), 1),
            None => self.url.clone(),
        }
    }

    /// Connects (once: no retry here) and returns a JetStream context.
    pub async fn connect(&self) -> Result<jetstream::Context, String> {
        let mut o = async_nats::ConnectOptions::new()
            .name("procflow")
            .connection_timeout(TIMEOUT)
            .request_timeout(Some(TIMEOUT));
        if let Some((u, p)) = &self.user {
            o = o.user_and_password(u.clone(), p.clone());
        }
        if let Some(c) = &self.creds {
            o = o
                .credentials_file(c)
                .await
                .map_err(|e| format!("credentials {}: {e}", c.display()))?;
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone()).require_tls(true);
        }
        if self.url.starts_with("tls://") {
            o = o.require_tls(true);
        }
        let client = o
            .connect(self.url.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let mut js = jetstream::new(client);
        js.set_timeout(TIMEOUT);
        Ok(js)
    }
}

/// The async runtime a caller's thread drives the client on (one
/// thread: the rest of procflow stays synchronous).
pub(crate) fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Makes the stream `name` for `subjects` when it is not there.
pub async fn ensure_stream(
    js: &jetstream::Context,
    name: &str,
    subjects: Vec<String>,
) -> Result<stream::Stream, String> {
    js.get_or_create_stream(stream::Config {
        name: name.to_string(),
        subjects,
        duplicate_window: DUPLICATE_WINDOW,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(|e| format!("stream {name}: {e}"))
}

/// A name as one subject token (no dots, spaces or wildcards).
pub fn token(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_location_keeps_its_password_apart() {
        let s = Server::parse("nats://sensor:s3cret@bus.example:4222").unwrap();
        assert_eq!(s.url, "nats://bus.example:4222");
        assert_eq!(s.user, Some(("sensor".into(), "s3cret".into())));
        assert_eq!(s.shown(), "nats://sensor@bus.example:4222");
        assert!(Server::parse("http://x").is_err());
        assert!(Server::parse("nats://").is_err());
        assert_eq!(token("tap 3.dc-1*"), "tap_3_dc-1_");
    }
}
