//! `--publish nats://...`: every line the run writes (flow records,
//! process windows, alerts, in the output profile) also goes to NATS
//! JetStream through the disk spool of the `transport` crate, at least
//! once, named by the sensor.

use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use transport::{Kind, PublishConfig, PublishEnd, Publisher, Server};

/// The flags of publishing.
#[derive(Args, Debug, Clone)]
pub struct PublishOpts {
    /// Publish flow records, process windows and alerts to this NATS
    /// server's JetStream (nats://[user:password@]host:port, tls://...),
    /// stream PROCFLOW, subjects procflow.{flows,windows,alerts}.SENSOR.
    #[arg(long, value_name = "URL")]
    pub publish: Option<String>,
    /// The spool: every message is kept here until the server has it
    /// (what a run leaves is sent by the next run with the same spool).
    #[arg(long, default_value = "procflow-spool", value_name = "DIR")]
    pub publish_spool: PathBuf,
    /// Bytes the spool may hold not yet acknowledged (MiB); past it new
    /// messages are dropped and counted.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub publish_spool_max: u64,
    /// Seconds the end of a run waits for the spool to drain.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub publish_final_wait: u64,
    /// NATS credentials file (user JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificates (PEM) the NATS server's certificate must chain to
    /// (TLS is then required).
    #[arg(long, value_name = "PEM")]
    pub nats_tls_ca: Option<PathBuf>,
}

impl PublishOpts {
    /// Starts publishing when asked.
    pub fn start(&self, sensor: &str) -> Result<Option<Publisher>> {
        let Some(url) = &self.publish else {
            return Ok(None);
        };
        let mut server = Server::parse(url).map_err(|e| anyhow::anyhow!("--publish {e}"))?;
        server.creds.clone_from(&self.nats_creds);
        server.tls_ca.clone_from(&self.nats_tls_ca);
        let p = Publisher::start(PublishConfig {
            server,
            sensor: sensor.to_string(),
            spool: self.publish_spool.clone(),
            spool_max_bytes: self.publish_spool_max.saturating_mul(1 << 20),
            final_wait: Duration::from_secs(self.publish_final_wait),
        })
        .with_context(|| format!("--publish-spool {}", self.publish_spool.display()))?;
        Ok(Some(p))
    }
}

/// A feed location that names a NATS server.
pub fn is_nats(location: &str) -> bool {
    location.starts_with("nats://") || location.starts_with("tls://")
}

/// Every socket event relays published to the server at `url` (native
/// feed lines, one per message, oldest first), and the server's name
/// without a password.
pub fn fetch_events(url: &str, opts: &PublishOpts) -> Result<(String, Vec<u8>)> {
    let mut server = Server::parse(url).map_err(|e| anyhow::anyhow!("--feed {e}"))?;
    server.creds.clone_from(&opts.nats_creds);
    server.tls_ca.clone_from(&opts.nats_tls_ca);
    let shown = server.shown();
    let filter = format!("{}.events.>", transport::publish::PREFIX);
    let msgs = transport::consume::all(&server, transport::publish::STREAM, Some(&filter))
        .map_err(|e| anyhow::anyhow!("--feed {shown}: {e}"))?;
    let mut lines = Vec::with_capacity(msgs.iter().map(|m| m.payload.len() + 1).sum());
    for m in &msgs {
        lines.extend_from_slice(&m.payload);
        lines.push(b'\n');
    }
    eprintln!("procflow: feed {shown}: {} relayed events", msgs.len());
    Ok((shown, lines))
}

/// `w`, and the publisher's `kind` writer beside it.
pub fn tee(
    w: Option<Box<dyn Write + Send>>,
    p: Option<&Publisher>,
    kind: Kind,
) -> Option<Box<dyn Write + Send>> {
    match (w, p) {
        (w, None) => w,
        (None, Some(p)) => Some(Box::new(p.writer(kind))),
        (Some(w), Some(p)) => Some(Box::new(Tee(w, p.writer(kind)))),
    }
}

/// Each line to both.
struct Tee(Box<dyn Write + Send>, transport::publish::KindWriter);

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// Ends publishing and says how it went.
pub fn finish(p: Publisher) -> PublishEnd {
    let (shown, spool) = (p.shown.clone(), p.spool.clone());
    let end = p.finish();
    eprintln!(
        "procflow: published to NATS {shown}: {} messages acknowledged ({} already stored), {} outages; {} appended to the spool this run, {} dropped at its cap",
        end.published, end.duplicates, end.outages, end.appended, end.dropped
    );
    if end.left_bytes > 0 {
        eprintln!(
            "procflow: warning: {} bytes of messages left in the spool {}: the next run with --publish-spool {} sends them",
            end.left_bytes,
            spool.display(),
            spool.display()
        );
    }
    if end.damaged > 0 {
        eprintln!(
            "procflow: warning: {} spool records did not read back (a torn end), skipped",
            end.damaged
        );
    }
    end
}
