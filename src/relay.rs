//! `procflow relay`: endpoint socket feeds (any format procflow reads)
//! published to NATS JetStream as native feed lines, subjects
//! `procflow.events.RELAY`, through the same disk spool as the sensors'
//! records; every sensor of a fleet then reads them all (`--feed
//! nats://...`).

use crate::cli::RelayArgs;
use anyhow::{Context, Result};
use correlate::feed::{self, FeedFormat};
use std::io::Write;
use transport::Kind;

/// Runs the relay.
pub fn run(a: &RelayArgs) -> Result<()> {
    let format: FeedFormat = a
        .feed_format
        .parse()
        .map_err(|e| anyhow::anyhow!("--feed-format: {e}"))?;
    if a.feeds.is_empty() {
        anyhow::bail!("procflow relay: name at least one --feed FILE");
    }
    let name = crate::sink::identity::sensor().name.clone();
    let publisher = a
        .publish
        .start(&name)?
        .context("procflow relay: say where to with --publish nats://HOST:PORT")?;
    let mut out = publisher.writer(Kind::Event);
    let mut failed = None;
    for path in &a.feeds {
        let host = a
            .feed_host
            .clone()
            .unwrap_or_else(|| crate::read::default_host(path));
        let mut line = Vec::with_capacity(512);
        let report = feed::read_file(path, format, &host, &mut |ev| {
            line.clear();
            line.extend_from_slice(ev.to_native_json().as_bytes());
            if let Err(e) = out.write_all(&line) {
                failed.get_or_insert(e);
            }
        })?;
        crate::read::print_feed(&report);
    }
    if let Some(e) = failed {
        return Err(anyhow::Error::new(e).context("writing the spool"));
    }
    out.flush().context("writing the spool")?;
    let end = crate::publish::finish(publisher);
    if end.left_bytes > 0 {
        anyhow::bail!(
            "not every event was acknowledged within --publish-final-wait (kept in the spool)"
        );
    }
    Ok(())
}
