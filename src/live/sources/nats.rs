//! Socket events from the fleet's bus: every event relays published to
//! NATS JetStream (`procflow relay`), followed as they come. The stream
//! keeps what is not read yet, so a full queue waits rather than drops.

use super::{MetricsRenderer, Source, SourceEnd, SourceSpec, Start};
use crate::cli::LiveArgs;
use anyhow::Result;
use clap::Args;
use correlate::feed::{FeedFormat, LineParser};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use transport::consume::FollowEnd;

/// The flags of the bus source.
#[derive(Args, Debug)]
pub struct NatsFeedArgs {
    /// Follow the socket events relays publish to this NATS server
    /// (nats://HOST:PORT, tls://...; --nats-creds and --nats-tls-ca
    /// apply); with --feed-from-start, every event the stream holds.
    #[arg(long, value_name = "URL")]
    pub feed_nats: Option<String>,
}

/// The bus source.
pub struct Nats;

/// Its registration.
pub const NATS: Nats = Nats;

impl SourceSpec for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn start(&self, args: &LiveArgs, start: &mut Start) -> Result<Option<Box<dyn Source>>> {
        let Some(url) = &args.nats.feed_nats else {
            return Ok(None);
        };
        let mut server =
            transport::Server::parse(url).map_err(|e| anyhow::anyhow!("--feed-nats {e}"))?;
        server.creds.clone_from(&args.publish.nats_creds);
        server.tls_ca.clone_from(&args.publish.nats_tls_ca);
        let shown = server.shown();
        let (_, tx) = start.queue();
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let mut parser = LineParser::new(&shown, FeedFormat::Jsonl, "unknown");
        let on = move |line: &[u8]| {
            let mut sink = |ev| {
                c.events.fetch_add(1, Relaxed);
                if tx.send_timeout(ev, Duration::from_secs(1)).is_err() {
                    c.dropped.fetch_add(1, Relaxed);
                }
            };
            // A line that is not a socket event is counted by the parser
            // (a native feed never stops being one).
            let _ = parser.line(line, &mut sink);
            c.bad.store(parser.report().bad_lines, Relaxed);
        };
        let filter = format!("{}.events.>", transport::publish::PREFIX);
        let stream = transport::publish::STREAM.to_string();
        let thread = transport::consume::follow(
            server,
            stream,
            filter,
            args.follow.feed_from_start,
            stop.clone(),
            on,
        )?;
        Ok(Some(Box::new(Following {
            shown,
            stop,
            counts,
            thread,
        })))
    }
}

#[derive(Default)]
struct Counts {
    events: AtomicU64,
    bad: AtomicU64,
    dropped: AtomicU64,
}

/// The running follower.
struct Following {
    shown: String,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
    thread: std::thread::JoinHandle<FollowEnd>,
}

impl Source for Following {
    fn banner(&self) -> Option<String> {
        Some(format!("socket events from NATS {}", self.shown))
    }

    fn metrics(&self) -> Option<MetricsRenderer> {
        let c = self.counts.clone();
        Some(Box::new(move |s| {
            for (name, help, v) in [
                ("events", "Socket events taken from NATS.", &c.events),
                (
                    "bad_lines",
                    "Messages from NATS that were not socket events.",
                    &c.bad,
                ),
                (
                    "dropped",
                    "Socket events from NATS dropped at the full queue.",
                    &c.dropped,
                ),
            ] {
                s.push_str(&format!(
                    "# HELP procflow_nats_feed_{name}_total {help}\n# TYPE procflow_nats_feed_{name}_total counter\nprocflow_nats_feed_{name}_total {}\n",
                    v.load(Relaxed)
                ));
            }
        }))
    }

    fn stop(self: Box<Self>) -> SourceEnd {
        self.stop.store(true, Relaxed);
        let end = self.thread.join().unwrap_or_default();
        let (events, bad, dropped) = (
            self.counts.events.load(Relaxed),
            self.counts.bad.load(Relaxed),
            self.counts.dropped.load(Relaxed),
        );
        SourceEnd {
            lines: vec![format!(
                "NATS {}: {} messages, {} socket events, {} bad lines, {} dropped at the full queue, {} outages",
                self.shown, end.received, events, bad, dropped, end.outages
            )],
            stats: Some((
                "nats",
                serde_json::json!({
                    "server": self.shown, "messages": end.received, "events": events,
                    "bad_lines": bad, "dropped": dropped, "outages": end.outages,
                }),
            )),
        }
    }
}
