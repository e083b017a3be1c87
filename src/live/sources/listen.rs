//! Agents streaming socket events over TCP (TLS with client certificates,
//! or a shared token, beyond loopback). The listener drops what does not
//! fit its queue (an agent's stream cannot wait) and counts it.

use super::{secs, MetricsRenderer, Source, SourceEnd, SourceSpec, Start};
use crate::cli::LiveArgs;
use anyhow::{Context, Result};
use clap::Args;
use correlate::listen::{FeedListener, ListenConfig, ListenStats, TlsConfig};
use std::path::PathBuf;

/// The flags of the agent listener.
#[derive(Args, Debug)]
pub struct ListenArgs {
    /// Listen for endpoint agents streaming socket events (ADDR:PORT). A
    /// non-loopback address needs --tls-cert/--tls-key/--tls-client-ca or
    /// --feed-token-file.
    #[arg(long, value_name = "ADDR")]
    pub feed_listen: Option<String>,
    /// Shared token agents send on their first line (`token TOKEN`), read
    /// from this file.
    #[arg(long, value_name = "FILE")]
    pub feed_token_file: Option<PathBuf>,
    /// Server certificate (PEM) for the feed listener.
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// Server private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) agents' client certificates must chain to.
    #[arg(long, value_name = "PEM")]
    pub tls_client_ca: Option<PathBuf>,
    /// Feed listener: connections at once, authenticated or not (when
    /// authenticated peers hold them all, a newcomer is refused); default
    /// `[listener] max_connections` (256).
    #[arg(long, value_name = "N")]
    pub feed_max_connections: Option<usize>,
    /// Feed listener: connections not yet authenticated at once; past it
    /// the oldest makes room for the newcomer (authenticated peers never
    /// do); default `[listener] max_unauthenticated` (32).
    #[arg(long, value_name = "N")]
    pub feed_max_unauthenticated: Option<usize>,
    /// Feed listener: connections not yet authenticated from one address at
    /// once; past it that address's oldest makes room; default
    /// `[listener] max_per_address` (8).
    #[arg(long, value_name = "N")]
    pub feed_max_per_address: Option<usize>,
    /// Feed listener: longest line (bytes) an agent may send; a longer one
    /// is a bad line; default `[listener] max_line` (65536).
    #[arg(long, value_name = "BYTES")]
    pub feed_max_line: Option<usize>,
    /// Feed listener: lines per second one connection may send; past it
    /// the connection is read more slowly (0: no limit); default
    /// `[listener] max_lines_per_sec` (20000).
    #[arg(long, value_name = "N")]
    pub feed_max_lines_per_sec: Option<u32>,
    /// Feed listener: seconds a connection has to finish its TLS handshake
    /// and token line; default `[listener] auth_timeout_secs` (5).
    #[arg(long, value_name = "SECS")]
    pub feed_auth_timeout: Option<f64>,
    /// Feed listener: seconds without data after which a connection is
    /// closed (an agent keeps its place with an empty line now and then);
    /// default `[listener] idle_timeout_secs` (60).
    #[arg(long, value_name = "SECS")]
    pub feed_idle_timeout: Option<f64>,
}

/// The agent-listener source.
pub struct Listen;

/// Its registration.
pub const LISTEN: Listen = Listen;

impl SourceSpec for Listen {
    fn name(&self) -> &'static str {
        "listen"
    }

    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>> {
        let a = &args.listen;
        let Some(addr) = &a.feed_listen else {
            return Ok(None);
        };
        let addr = addr
            .parse()
            .with_context(|| format!("--feed-listen {addr}: not an address:port"))?;
        let mut cfg = ListenConfig::new(addr);
        cfg.format = args.feed_format()?;
        cfg.token = match &a.feed_token_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("--feed-token-file {}", p.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        cfg.tls = match (&a.tls_cert, &a.tls_key) {
            (Some(cert), Some(key)) => Some(TlsConfig {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: a.tls_client_ca.clone(),
            }),
            (None, None) if a.tls_client_ca.is_none() => None,
            _ => anyhow::bail!("--tls-cert and --tls-key go together (with --tls-client-ca for client certificates)"),
        };
        // Each flag wins over the configuration's [listener].
        let c = start.listener();
        cfg.max_connections = a.feed_max_connections.unwrap_or(c.max_connections);
        cfg.max_unauthenticated = a.feed_max_unauthenticated.unwrap_or(c.max_unauthenticated);
        cfg.max_per_address = a.feed_max_per_address.unwrap_or(c.max_per_address);
        cfg.max_line = a.feed_max_line.unwrap_or(c.max_line);
        if cfg.max_line < 256 {
            anyhow::bail!("--feed-max-line ([listener] max_line) must be at least 256 bytes");
        }
        cfg.max_lines_per_sec = a.feed_max_lines_per_sec.unwrap_or(c.max_lines_per_sec);
        let auth = a.feed_auth_timeout.unwrap_or(c.auth_timeout_secs.0);
        let idle = a.feed_idle_timeout.unwrap_or(c.idle_timeout_secs.0);
        cfg.auth_timeout = secs("--feed-auth-timeout", auth)?;
        cfg.idle_timeout = secs("--feed-idle-timeout", idle)?;
        let (_, tx) = start.queue();
        let l = FeedListener::start(cfg, tx)?;
        eprintln!("procflow: feed listener on {}", l.local_addr());
        Ok(Some(Box::new(Listener(l))))
    }
}

/// The running listener.
struct Listener(FeedListener);

impl Source for Listener {
    fn metrics(&self) -> Option<MetricsRenderer> {
        let handle = self.0.stats_handle();
        Some(Box::new(move |s| render(&handle.stats(), s)))
    }

    fn stop(self: Box<Self>) -> SourceEnd {
        let end = self.0.shutdown();
        SourceEnd {
            lines: vec![format!("feed listener: {}", end.summary())],
            stats: serde_json::to_value(&end).ok().map(|v| ("listener", v)),
        }
    }
}
/// The feed listener's connections and what they carried.
fn render(l: &ListenStats, s: &mut String) {
    s.push_str("# HELP procflow_feed_listener_connections Feed listener connections open now, by state.\n# TYPE procflow_feed_listener_connections gauge\n");
    let authenticated = l.active.saturating_sub(l.unauthenticated);
    for (state, v) in [
        ("authenticated", authenticated),
        ("unauthenticated", l.unauthenticated),
    ] {
        s.push_str(&format!(
            "procflow_feed_listener_connections{{state=\"{state}\"}} {v}\n"
        ));
    }
    s.push_str("# HELP procflow_feed_listener_closed_total Feed listener connections refused or closed by the listener, by reason.\n# TYPE procflow_feed_listener_closed_total counter\n");
    for (reason, v) in [
        ("refused_full", l.refused),
        ("displaced_unauthenticated_cap", l.displaced),
        ("displaced_per_address_cap", l.displaced_per_address),
        ("auth_failed", l.auth_failed.saturating_sub(l.auth_timeouts)),
        ("auth_timeout", l.auth_timeouts),
        ("idle_timeout", l.idle_timeouts),
        ("accept_error", l.accept_errors),
    ] {
        s.push_str(&format!(
            "procflow_feed_listener_closed_total{{reason=\"{reason}\"}} {v}\n"
        ));
    }
    let t = &l.totals;
    for (name, help, v) in [
        (
            "accepted",
            "Feed listener connections accepted.",
            l.accepted,
        ),
        ("lines", "Lines read from feed agents.", t.lines),
        ("events", "Socket events read from feed agents.", t.events),
        (
            "bad_lines",
            "Feed agent lines that could not be read.",
            t.bad_lines,
        ),
        (
            "events_dropped",
            "Feed agent events dropped at a full queue.",
            t.dropped,
        ),
    ] {
        s.push_str(&format!(
            "# HELP procflow_feed_listener_{name}_total {help}\n# TYPE procflow_feed_listener_{name}_total counter\nprocflow_feed_listener_{name}_total {v}\n"
        ));
    }
}
