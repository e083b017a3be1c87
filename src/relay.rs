//! `procflow relay`: endpoint socket feeds (any format procflow reads)
//! published to NATS JetStream as native feed lines, subjects
//! `procflow.events.RELAY`, through the same disk spool as the sensors'
//! records; every sensor of a fleet then reads them all (`--feed
//! nats://...`).

use crate::cli::RelayArgs;
use anyhow::{Context, Result};
use correlate::feed::{self, FeedFormat};
use std::io::Write;
use std::time::Duration;
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
    if a.follow {
        let followed = follow(a, format, &mut out);
        let end = crate::publish::finish(publisher);
        followed?;
        if end.left_bytes > 0 {
            anyhow::bail!(
                "not every event was acknowledged within --publish-final-wait (kept in the spool)"
            );
        }
        return Ok(());
    }
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

/// `--follow`: every file followed on a thread of its own (from its
/// start, through rotations), each event published as it comes, until
/// SIGINT or SIGTERM.
fn follow(a: &RelayArgs, format: FeedFormat, out: &mut impl Write) -> Result<()> {
    use correlate::follow::{FileFollower, FollowConfig, StartAt};
    let stop = crate::live::shutdown::Shutdown::on_signals().context("cannot watch signals")?;
    let (tx, rx) = crossbeam_channel::bounded(16_384);
    let mut followers = Vec::with_capacity(a.feeds.len());
    for path in &a.feeds {
        let mut cfg = FollowConfig::new(path);
        cfg.format = format;
        cfg.default_host = a
            .feed_host
            .clone()
            .unwrap_or_else(|| crate::read::default_host(path));
        cfg.start = StartAt::Beginning;
        let f = FileFollower::start(cfg, tx.clone())
            .with_context(|| format!("--feed {}", path.display()))?;
        followers.push(f);
    }
    drop(tx);
    eprintln!(
        "procflow: relay: following {} feeds; SIGINT or SIGTERM ends",
        followers.len()
    );
    let mut line = Vec::with_capacity(512);
    let mut result = Ok(());
    while !stop.requested() {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => {
                line.clear();
                line.extend_from_slice(ev.to_native_json().as_bytes());
                if let Err(e) = out.write_all(&line) {
                    result = Err(anyhow::Error::new(e).context("writing the spool"));
                    break;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if let Err(e) = out.flush() {
                    result = Err(anyhow::Error::new(e).context("writing the spool"));
                    break;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
    }
    for f in followers {
        let s = f.shutdown();
        eprintln!(
            "procflow: relay: {} followed: {} lines, {} socket events, {} bad lines, {} rotations",
            s.path, s.lines, s.events, s.bad_lines, s.rotations
        );
    }
    // What the followers sent before they stopped.
    for ev in rx.try_iter() {
        out.write_all(ev.to_native_json().as_bytes())
            .context("writing the spool")?;
    }
    out.flush().context("writing the spool")?;
    result
}
