//! The feed listener: endpoint agents stream socket events over TCP, one
//! event per line, in any line-based format the feed readers know
//! (detected per connection from its first lines, or forced).
//!
//! ```no_run
//! # fn main() -> Result<(), correlate::listen::ListenError> {
//! use correlate::listen::{FeedListener, ListenConfig};
//! let (tx, rx) = crossbeam_channel::bounded(10_000);
//! let listener = FeedListener::start(ListenConfig::new("127.0.0.1:7514".parse().unwrap()), tx)?;
//! for ev in rx.iter().take(1) {
//!     println!("{}", ev.to_native_json());
//! }
//! let stats = listener.shutdown();
//! eprintln!("{} events from {} connections", stats.totals.events, stats.accepted);
//! # Ok(()) }
//! ```
//!
//! - **Authentication.** Beyond loopback the listener refuses to start
//!   unless peers authenticate: TLS with client certificates (a client
//!   without a certificate from the configured CAs fails the handshake),
//!   or a shared token (the first line must be `token <TOKEN>`, compared
//!   in constant time), or both. A peer that fails is closed, nothing it
//!   sent is used, and it is counted, and logged once per address.
//! - **Limits.** At most `max_connections` at once. Connections not yet
//!   authenticated have small caps of their own, in all and per address;
//!   past them the oldest pending connection makes room for the newcomer
//!   (so that a flood of strangers never
//!   keeps out an agent that authenticates promptly), and authenticated peers are never
//!   displaced: when they fill `max_connections` a newcomer is refused.
//!   An authentication deadline, enforced by the acceptor whatever the
//!   peer sends. Per connection a line cap (a longer line is a bad line
//!   and reading goes on), a line rate (past it the connection is read
//!   more slowly: backpressure on that peer only, the time counted) and an
//!   idle timeout. Every refusal and closing is counted in [`ListenStats`].
//! - **The sink** is the pipeline's bounded channel. When it is full a
//!   connection waits up to `send_timeout` for room (holding back only its
//!   own reading), then drops the event and counts it against its peer: a
//!   stalled pipeline loses counted events instead of piling them up.
//! - Each connection has its own thread, so a dead or slow peer delays
//!   no other.

mod accept;
mod admit;
mod config;
mod conn;
mod stats;
mod subject;
mod throttle;
mod tls;
mod token;

pub use config::{
    ListenConfig, ListenError, TlsConfig, DEFAULT_AUTH_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_LINE, DEFAULT_MAX_LINES_PER_SEC, DEFAULT_MAX_PER_ADDRESS,
    DEFAULT_MAX_UNAUTHENTICATED, DEFAULT_SEND_TIMEOUT,
};
pub use stats::{ListenStats, PeerState, PeerStats, Totals, RECENT_PEERS};

use crate::event::SocketEvent;
use crate::live::EventSink;
use crossbeam_channel::Sender;
use rustls::ServerConfig;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What the acceptor and the connection threads share.
pub(crate) struct Shared {
    pub(crate) cfg: ListenConfig,
    pub(crate) tls: Option<Arc<ServerConfig>>,
    pub(crate) table: stats::SharedTable,
    pub(crate) stop: AtomicBool,
    pub(crate) sink: EventSink,
}

/// Reads a listener's counters from any thread.
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
}

impl StatsHandle {
    /// What has been counted so far.
    pub fn stats(&self) -> ListenStats {
        self.shared.table.lock().stats(self.local_addr)
    }
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StatsHandle({})", self.local_addr)
    }
}

/// A running feed listener. Dropping it shuts it down.
pub struct FeedListener {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl FeedListener {
    /// Checks the configuration, loads the TLS files, binds, and starts
    /// accepting; every event read goes to `sink`.
    pub fn start(cfg: ListenConfig, sink: Sender<SocketEvent>) -> Result<Self, ListenError> {
        cfg.validate()?;
        let tls = cfg.tls.as_ref().map(tls::server_config).transpose()?;
        let addr = cfg.addr;
        let bind = |e: std::io::Error| ListenError::Bind {
            addr,
            reason: e.to_string(),
        };
        let listener = TcpListener::bind(addr).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let local_addr = listener.local_addr().map_err(bind)?;
        let shared = Arc::new(Shared {
            sink: EventSink::new(sink, Some(cfg.send_timeout)),
            table: stats::SharedTable::new(cfg.limits(), cfg.auth_timeout),
            cfg,
            tls,
            stop: AtomicBool::new(false),
        });
        let acceptor_shared = Arc::clone(&shared);
        let acceptor = std::thread::Builder::new()
            .name("feed-listener".into())
            .spawn(move || accept::run(listener, acceptor_shared))
            .map_err(|e| ListenError::Bind {
                addr,
                reason: format!("cannot start the acceptor thread: {e}"),
            })?;
        Ok(Self {
            shared,
            local_addr,
            acceptor: Some(acceptor),
        })
    }

    /// The address listened on (with the port chosen when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What has been counted so far.
    pub fn stats(&self) -> ListenStats {
        self.shared.table.lock().stats(self.local_addr)
    }

    /// A handle that reads the counters from another thread (a metrics
    /// server) for as long as it lives, even after the listener stopped.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle {
            shared: Arc::clone(&self.shared),
            local_addr: self.local_addr,
        }
    }

    /// Stops accepting, closes every connection (an unfinished last line
    /// is read as its last), joins the threads, and gives the final counts.
    pub fn shutdown(mut self) -> ListenStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

impl Drop for FeedListener {
    fn drop(&mut self) {
        self.stop();
    }
}
