//! What the feed listener is told: where to listen, how peers
//! authenticate, and the limits each connection lives under.

use crate::feed::FeedFormat;
use crate::live::{stderr_logger, Logger};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// TLS for the listener (rustls, ring provider).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server's certificate chain, PEM, leaf first.
    pub cert: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// PEM bundle of the CAs whose client certificates are accepted. With
    /// it, a client without a valid certificate is refused at the
    /// handshake. Without it TLS only hides the stream, and a token is
    /// needed to listen on anything but loopback.
    pub client_ca: Option<PathBuf>,
}

/// The feed listener's configuration. [`ListenConfig::new`] gives the
/// defaults.
#[derive(Clone)]
pub struct ListenConfig {
    /// Address and port to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Format of every connection's lines; [`FeedFormat::Auto`] detects it
    /// per connection from its first lines.
    pub format: FeedFormat,
    /// Host name for formats that carry none (auditd); `None`: the peer's
    /// address.
    pub default_host: Option<String>,
    /// TLS; `None`: plain TCP.
    pub tls: Option<TlsConfig>,
    /// Shared token: the first line of every connection must be
    /// `token <TOKEN>`, else it is closed and nothing it sent is used.
    pub token: Option<String>,
    /// Connections served at once, authenticated or not. When they are
    /// all authenticated a newcomer is refused (and counted); otherwise the
    /// oldest unauthenticated one makes room.
    pub max_connections: usize,
    /// Connections not yet authenticated, at once (when peers
    /// authenticate). Past it the oldest pending connection of the address
    /// holding the most is closed to make room (and counted), so a flood
    /// of strangers never keeps an agent out; authenticated peers are
    /// never displaced.
    pub max_unauthenticated: usize,
    /// Connections not yet authenticated from one address, at once; past
    /// it the oldest of that address is closed to make room (and counted).
    pub max_per_address: usize,
    /// Longest line, in bytes; a longer one is a bad line.
    pub max_line: usize,
    /// Lines a connection may send per second (0: no limit); past it the
    /// connection is read more slowly.
    pub max_lines_per_sec: u32,
    /// A connection that sends nothing for this long is closed (an agent
    /// with nothing to say keeps its place by sending an empty line).
    pub idle_timeout: Duration,
    /// A connection must finish its TLS handshake and send its token line
    /// within this time, else it is closed (and counted).
    pub auth_timeout: Duration,
    /// How long a full sink is waited for before an event is dropped (and
    /// counted against its peer). Waiting holds back only that peer's
    /// reading; `Duration::ZERO` never waits.
    pub send_timeout: Duration,
    /// Where the few notices go (authentication failures, refusals), each
    /// once per peer address.
    pub log: Logger,
}

/// Default cap on connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Default cap on connections not yet authenticated.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 32;
/// Default cap on connections not yet authenticated from one address.
pub const DEFAULT_MAX_PER_ADDRESS: usize = 8;
/// Default longest line: 64 KiB.
pub const DEFAULT_MAX_LINE: usize = 64 << 10;
/// Default line rate per connection.
pub const DEFAULT_MAX_LINES_PER_SEC: u32 = 20_000;
/// Default idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time to authenticate: a TLS handshake and one line take a few
/// round trips.
pub const DEFAULT_AUTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Default wait for a full sink.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(2);

impl ListenConfig {
    /// Plain TCP on `addr`, format detected per connection, default limits,
    /// notices to standard error.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            format: FeedFormat::Auto,
            default_host: None,
            tls: None,
            token: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
            max_per_address: DEFAULT_MAX_PER_ADDRESS,
            max_line: DEFAULT_MAX_LINE,
            max_lines_per_sec: DEFAULT_MAX_LINES_PER_SEC,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            auth_timeout: DEFAULT_AUTH_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            log: stderr_logger(),
        }
    }

    /// Peers must prove who they are: with a client CA, or a token.
    pub fn authenticates(&self) -> bool {
        self.token.is_some() || self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }

    /// The admission caps.
    pub(crate) fn limits(&self) -> super::admit::Limits {
        super::admit::Limits {
            max_connections: self.max_connections,
            max_unauthenticated: self.max_unauthenticated,
            max_per_address: self.max_per_address,
        }
    }

    /// Checks what can be checked before binding.
    pub(crate) fn validate(&self) -> Result<(), ListenError> {
        let config = |reason: String| {
            Err(ListenError::Config {
                addr: self.addr,
                reason,
            })
        };
        if let Some(t) = &self.token {
            if t.is_empty() || t.bytes().any(|b| !b.is_ascii_graphic()) {
                return config("the token must be printable ASCII without spaces".into());
            }
        }
        if self.max_connections == 0 {
            return config("the connection cap must be at least 1".into());
        }
        if self.max_unauthenticated == 0 || self.max_per_address == 0 {
            return config("the caps on unauthenticated connections must be at least 1".into());
        }
        if self.auth_timeout.is_zero() || self.idle_timeout.is_zero() {
            return config("the authentication and idle timeouts must be more than 0".into());
        }
        if self.max_line == 0 {
            return config("the line cap must be at least 1 byte".into());
        }
        if !self.addr.ip().to_canonical().is_loopback() && !self.authenticates() {
            return Err(ListenError::Unauthenticated { addr: self.addr });
        }
        Ok(())
    }
}

impl std::fmt::Debug for ListenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself.
        f.debug_struct("ListenConfig")
            .field("addr", &self.addr)
            .field("format", &self.format)
            .field("default_host", &self.default_host)
            .field("tls", &self.tls)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("max_connections", &self.max_connections)
            .field("max_unauthenticated", &self.max_unauthenticated)
            .field("max_per_address", &self.max_per_address)
            .field("max_line", &self.max_line)
            .field("max_lines_per_sec", &self.max_lines_per_sec)
            .field("idle_timeout", &self.idle_timeout)
            .field("auth_timeout", &self.auth_timeout)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// Why the listener cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A non-loopback address without a way to authenticate peers.
    #[error(
        "feed listener {addr}: refusing to listen beyond loopback without authentication: \
         configure TLS with a client CA bundle, or a token"
    )]
    Unauthenticated {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// A setting that cannot work.
    #[error("feed listener {addr}: {reason}")]
    Config {
        /// The address asked for.
        addr: SocketAddr,
        /// What is wrong.
        reason: String,
    },
    /// A certificate, key or CA file that cannot be used.
    #[error("feed listener TLS: {path}: {reason}")]
    Tls {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The address cannot be listened on.
    #[error("feed listener {addr}: cannot listen: {reason}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_loopback_may_go_without_authentication() {
        let mut c = ListenConfig::new("127.0.0.1:0".parse().unwrap());
        assert!(c.validate().is_ok());
        c.addr = "[::1]:0".parse().unwrap();
        assert!(c.validate().is_ok());
        c.addr = "[::ffff:127.0.0.1]:0".parse().unwrap();
        assert!(c.validate().is_ok());
        for a in ["0.0.0.0:9000", "[::]:9000", "192.0.2.1:9000"] {
            c.addr = a.parse().unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains("without authentication"), "{e}");
        }
        // TLS without a client CA authenticates nobody.
        c.tls = Some(TlsConfig {
            cert: "c.pem".into(),
            key: "k.pem".into(),
            client_ca: None,
        });
        assert!(c.validate().is_err());
        c.token = Some("s3cret".into());
        assert!(c.validate().is_ok());
        c.token = None;
        if let Some(t) = c.tls.as_mut() {
            t.client_ca = Some("ca.pem".into());
        }
        assert!(c.validate().is_ok());
    }

    #[test]
    fn tokens_must_fit_on_the_token_line_and_never_show() {
        let mut c = ListenConfig::new("127.0.0.1:0".parse().unwrap());
        for bad in ["", "two words", "tab\there"] {
            c.token = Some(bad.into());
            assert!(c.validate().unwrap_err().to_string().contains("token"));
        }
        c.token = Some("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
