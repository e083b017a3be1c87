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

/// Every socket event relays published to the server at `url`, as native
/// feed lines, oldest first, read while the caller reads them (a bounded
/// queue between a consuming thread and the reader: a feed of millions
/// of events is never held whole); and the server's name without a
/// password.
pub fn relayed_events(url: &str, opts: &PublishOpts) -> Result<(String, RelayedLines)> {
    let mut server = Server::parse(url).map_err(|e| anyhow::anyhow!("--feed {e}"))?;
    server.creds.clone_from(&opts.nats_creds);
    server.tls_ca.clone_from(&opts.nats_tls_ca);
    let shown = server.shown();
    let (tx, rx) = crossbeam_channel::bounded::<std::result::Result<Vec<u8>, String>>(64);
    let name = shown.clone();
    std::thread::Builder::new()
        .name("procflow-relayed".into())
        .spawn(move || {
            let filter = format!("{}.events.>", transport::publish::PREFIX);
            let mut chunk = Vec::with_capacity(1 << 16);
            let sent =
                transport::consume::each(&server, transport::publish::STREAM, Some(&filter), |m| {
                    chunk.extend_from_slice(&m.payload);
                    chunk.push(b'\n');
                    if chunk.len() < 1 << 16 {
                        return true;
                    }
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(1 << 16));
                    tx.send(Ok(full)).is_ok()
                });
            let last = match sent {
                Ok(n) => {
                    eprintln!("procflow: feed {name}: {n} relayed events");
                    Ok(chunk)
                }
                Err(e) => Err(e),
            };
            let _ = tx.send(last);
        })
        .context("cannot start a thread")?;
    Ok((
        shown,
        RelayedLines {
            rx,
            buf: Vec::new(),
            at: 0,
        },
    ))
}

/// The lines a consuming thread hands over, as a reader.
pub struct RelayedLines {
    rx: crossbeam_channel::Receiver<std::result::Result<Vec<u8>, String>>,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for RelayedLines {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), have.get(..n)) {
                dst.copy_from_slice(src);
            }
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl std::io::BufRead for RelayedLines {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    self.buf = next;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(std::io::Error::other(e)),
                // The consuming thread ended after its last chunk.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(self.buf.get(self.at..).unwrap_or_default())
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.buf.len());
    }
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
