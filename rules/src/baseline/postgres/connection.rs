//! Reaching the server: the location (its password kept out of every
//! message, TLS as it asks), connections made on a thread of their own,
//! and the server's errors as one line, sorted into those another try may
//! cure and those it will not.

use crate::baseline::StoreError;
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use std::time::Duration;

/// How long a connection attempt may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Where the baseline is, for connecting and for messages.
pub struct Location {
    pub(super) config: postgres::Config,
    /// TLS, when the location asks for it.
    pub(super) tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The location as messages show it: no password.
    pub shown: String,
}

/// `url` without its password (in the authority, or a `password=`
/// parameter).
pub(super) fn redact(url: &str) -> String {
    let url = match url.split_once('?') {
        Some((base, query)) => {
            let kept: Vec<&str> = query
                .split('&')
                .filter(|p| !p.starts_with("password="))
                .collect();
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        None => url.to_string(),
    };
    let url = url.as_str();
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (auth, host),
        None => return url.to_string(),
    };
    let user = auth.split_once(':').map_or(auth, |(u, _)| u);
    format!("{scheme}://{user}@{host}")
}

/// A connection being made on a thread of its own: a server that takes
/// the TCP connection and then says nothing must not hold up the caller.
pub(super) type Connecting = std::sync::mpsc::Receiver<Result<Client, StoreError>>;

pub(super) fn start_connect(at: &Location) -> Connecting {
    let (tx, rx) = std::sync::mpsc::channel();
    let (config, tls, shown) = (at.config.clone(), at.tls.clone(), at.shown.clone());
    let spawned = std::thread::Builder::new()
        .name("baseline-connect".into())
        .spawn(move || {
            let connected = match tls {
                Some(tls) => config.connect(tls),
                None => config.connect(NoTls),
            };
            let at = Location {
                config,
                tls: None,
                shown,
            };
            let _ = tx.send(connected.map_err(|e| server_error(&at, "cannot connect", e)));
        });
    if let Err(e) = spawned {
        let (tx, rx2) = std::sync::mpsc::channel();
        let _ = tx.send(Err(StoreError::Server {
            location: at.shown.clone(),
            what: "cannot connect".into(),
            why: format!("cannot start a thread: {e}"),
        }));
        return rx2;
    }
    rx
}

/// Connects, waiting at most a little longer than the connect timeout.
pub(super) fn connect(at: &Location) -> Result<Client, StoreError> {
    let wait = CONNECT_TIMEOUT + Duration::from_secs(1);
    start_connect(at)
        .recv_timeout(wait)
        .unwrap_or_else(|_| Err(no_answer(at, wait)))
}

pub(super) fn no_answer(at: &Location, wait: Duration) -> StoreError {
    StoreError::Server {
        location: at.shown.clone(),
        what: "cannot connect".into(),
        why: format!("no answer within {} s", wait.as_secs()),
    }
}

/// The server's error as one line: its message and SQLSTATE when it
/// answered, else why it could not be reached.
pub fn server_error(at: &Location, what: &str, e: postgres::Error) -> StoreError {
    let why = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(inner) = src {
                s = format!("{s}: {inner}");
                src = inner.source();
            }
            s
        }
    };
    StoreError::Server {
        location: at.shown.clone(),
        what: what.to_string(),
        why,
    }
}

/// A failure that another try may cure: the server gone, restarting or
/// refusing connections for now, or a conflict between concurrent folds.
pub(super) fn transient(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => {
            c.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                ]
                .contains(c)
        }
    }
}

pub(super) fn conflict(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(
            redact("postgres://sensor:s3cret@db.example:5432/base"),
            "postgres://sensor@db.example:5432/base"
        );
        assert_eq!(
            redact("postgres://db.example/base"),
            "postgres://db.example/base"
        );
        assert_eq!(redact("postgresql://u@h/d"), "postgresql://u@h/d");
        assert_eq!(
            redact("postgres://u@h/d?password=pw&sslmode=require"),
            "postgres://u@h/d?sslmode=require"
        );
    }
}
