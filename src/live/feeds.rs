//! The live feeds besides /proc: files agents append to, followed like
//! `tail -F`, and agents streaming socket events over TCP (TLS with client
//! certificates, or a shared token, beyond loopback). Each source sends to
//! a bounded channel of its own, which the main thread drains.

use crate::cli::LiveArgs;
use crate::read::default_host;
use anyhow::{Context, Result};
use correlate::feed::FeedFormat;
use correlate::follow::{FileFollower, FollowConfig, FollowStats, StartAt};
use correlate::listen::{FeedListener, ListenConfig, ListenStats, TlsConfig};
use correlate::SocketEvent;
use crossbeam_channel::{bounded, Receiver};

/// Events buffered per source before it waits (files) or drops (agents).
const PER_SOURCE: usize = 16_384;

/// A number of seconds given on the command line.
fn secs(flag: &str, v: f64) -> Result<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(v)
        .map_err(|_| anyhow::anyhow!("{flag} {v}: not a number of seconds"))
}

/// The running feed sources.
pub struct Feeds {
    /// (feed id, receiver) per source.
    pub sources: Vec<(u16, Receiver<SocketEvent>)>,
    followers: Vec<FileFollower>,
    listener: Option<FeedListener>,
}

/// What the sources did, at the end.
pub struct FeedsEnd {
    /// Per followed file.
    pub followed: Vec<FollowStats>,
    /// The listener's, if one ran.
    pub listener: Option<ListenStats>,
}

impl Feeds {
    /// Starts a follower per `--feed` file and the `--feed-listen`
    /// listener; feed ids start at `first_id`.
    pub fn start(args: &LiveArgs, first_id: u16) -> Result<Feeds> {
        let format: FeedFormat = args
            .feed_format
            .parse()
            .map_err(|e| anyhow::anyhow!("--feed-format: {e}"))?;
        let mut sources = Vec::new();
        let mut followers = Vec::new();
        let mut id = first_id;
        for path in &args.feeds {
            let (tx, rx) = bounded(PER_SOURCE);
            let mut cfg = FollowConfig::new(path);
            cfg.format = format;
            cfg.default_host = default_host(path);
            cfg.start = if args.feed_from_start {
                StartAt::Beginning
            } else {
                StartAt::End
            };
            let f = FileFollower::start(cfg, tx)
                .with_context(|| format!("--feed {}", path.display()))?;
            followers.push(f);
            sources.push((id, rx));
            id = id.saturating_add(1);
        }
        let listener = match &args.feed_listen {
            None => None,
            Some(addr) => {
                let addr = addr
                    .parse()
                    .with_context(|| format!("--feed-listen {addr}: not an address:port"))?;
                let mut cfg = ListenConfig::new(addr);
                cfg.format = format;
                cfg.token = match &args.feed_token_file {
                    Some(p) => Some(
                        std::fs::read_to_string(p)
                            .with_context(|| format!("--feed-token-file {}", p.display()))?
                            .trim()
                            .to_string(),
                    ),
                    None => None,
                };
                cfg.tls = match (&args.tls_cert, &args.tls_key) {
                    (Some(cert), Some(key)) => Some(TlsConfig {
                        cert: cert.clone(),
                        key: key.clone(),
                        client_ca: args.tls_client_ca.clone(),
                    }),
                    (None, None) if args.tls_client_ca.is_none() => None,
                    _ => anyhow::bail!("--tls-cert and --tls-key go together (with --tls-client-ca for client certificates)"),
                };
                cfg.max_connections = args.feed_max_connections;
                cfg.max_unauthenticated = args.feed_max_unauthenticated;
                cfg.max_per_address = args.feed_max_per_address;
                cfg.auth_timeout = secs("--feed-auth-timeout", args.feed_auth_timeout)?;
                cfg.idle_timeout = secs("--feed-idle-timeout", args.feed_idle_timeout)?;
                let (tx, rx) = bounded(PER_SOURCE);
                let l = FeedListener::start(cfg, tx)?;
                eprintln!("procflow: feed listener on {}", l.local_addr());
                sources.push((id, rx));
                Some(l)
            }
        };
        Ok(Feeds {
            sources,
            followers,
            listener,
        })
    }

    /// A reader of the listener's counters, when one runs.
    pub fn listener_stats(&self) -> Option<correlate::listen::StatsHandle> {
        self.listener.as_ref().map(FeedListener::stats_handle)
    }

    /// Stops every source and says what each did.
    pub fn shutdown(self) -> FeedsEnd {
        FeedsEnd {
            followed: self
                .followers
                .into_iter()
                .map(FileFollower::shutdown)
                .collect(),
            listener: self.listener.map(FeedListener::shutdown),
        }
    }
}
