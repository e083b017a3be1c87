//! The writer of a shared baseline: batches queued, sent one transaction
//! each (tried again on a conflict, recognised when sent twice), what
//! changed read back after them, and a server that does not answer waited
//! for while the run goes on.

use super::connection::{
    conflict, no_answer, server_error, start_connect, transient, Connecting, Location,
};
use super::merge::{self, Folded};
use super::queue::Queue;
use super::{cache, read, schema};
use crate::baseline::backend::Backend;
use crate::baseline::{Baseline, Observation, StoreError, SyncStats};
use crate::config::BaselineConfig;
use postgres::Client;
use std::time::{Duration, Instant};

/// Tries of a fold that the server aborted for a conflict (deadlock,
/// serialisation) before it counts as failed.
const CONFLICT_TRIES: u32 = 5;

/// This run's name in `folds`: the host, the process and the start time,
/// unique across the fleet and across restarts.
pub(super) fn writer_name() -> String {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    format!("{host}/{}/{started}", std::process::id())
}

/// Faults a test asks for with `PROCFLOW_FAILPOINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failpoint {
    /// `baseline-commit:N`: fold N stops with its rows written and not
    /// committed until the server goes away (a server killed mid-fold).
    Commit(u64),
    /// `baseline-answer-lost:N`: fold N commits, and its answer is taken
    /// for lost (a connection that broke during COMMIT).
    AnswerLost(u64),
}

pub(super) fn failpoint() -> Option<Failpoint> {
    let v = std::env::var("PROCFLOW_FAILPOINT").ok()?;
    if let Some(n) = v.strip_prefix("baseline-commit:") {
        return n.parse().ok().map(Failpoint::Commit);
    }
    v.strip_prefix("baseline-answer-lost:")?
        .parse()
        .ok()
        .map(Failpoint::AnswerLost)
}

/// The writer of a shared baseline.
pub(super) struct Shared {
    pub(super) at: Location,
    pub(super) client: Option<Client>,
    /// The schema was checked and migrated on this server (not yet when
    /// the run started on the cached copy).
    pub(super) migrated: bool,
    /// Where the local copy is written at the end of the run.
    pub(super) cache: Option<std::path::PathBuf>,
    /// A connection being made, while the server was away.
    pub(super) connecting: Option<Connecting>,
    pub(super) queue: Queue,
    pub(super) writer: String,
    /// Where the next read-back starts.
    pub(super) watermark: String,
    pub(super) down_since: Option<Instant>,
    pub(super) retry_at: Option<Instant>,
    pub(super) retry: Duration,
    pub(super) final_wait: Duration,
    pub(super) caps: BaselineConfig,
    pub(super) failpoint: Option<Failpoint>,
    pub(super) stats: SyncStats,
}

/// Why a round of sending stopped.
enum Stop {
    /// The server is not answering; try later.
    Down(StoreError),
    /// The server refused for good.
    Refused(StoreError),
}

impl Shared {
    /// Sends every queued batch, then reads back what changed. A server
    /// that does not answer leaves the queue for the next try.
    fn send(&mut self, b: &mut Baseline) -> Result<(), StoreError> {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return Ok(());
        }
        match self.send_all(b) {
            Ok(()) => {
                if let Some(since) = self.down_since.take() {
                    eprintln!(
                        "procflow: baseline {}: answering again after {} s; the queued windows are folded in",
                        self.at.shown,
                        since.elapsed().as_secs()
                    );
                }
                self.retry_at = None;
                Ok(())
            }
            Err(Stop::Down(e)) => {
                self.client = None;
                self.retry_at = Some(Instant::now() + self.retry);
                if self.down_since.is_none() {
                    self.down_since = Some(Instant::now());
                    self.stats.outages += 1;
                    eprintln!(
                        "procflow: warning: {e}; judging on the copy last read, windows queued until it answers (tried every {} s)",
                        self.retry.as_secs()
                    );
                }
                Ok(())
            }
            Err(Stop::Refused(e)) => Err(e),
        }
    }

    fn send_all(&mut self, b: &mut Baseline) -> Result<(), Stop> {
        let client = match self.client.as_mut() {
            Some(c) => c,
            None => {
                // While running, a connection is made in the background
                // and picked up at a later try: the sensor never waits on
                // a server that does not answer.
                let at = &self.at;
                let pending = self.connecting.get_or_insert_with(|| start_connect(at));
                let made = match pending.try_recv() {
                    Ok(made) => made,
                    Err(std::sync::mpsc::TryRecvError::Empty) => {
                        return Err(Stop::Down(StoreError::Server {
                            location: at.shown.clone(),
                            what: "cannot connect".into(),
                            why: "no answer yet".into(),
                        }))
                    }
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        Err(no_answer(at, Duration::ZERO))
                    }
                };
                self.connecting = None;
                let mut c = made.map_err(Stop::Down)?;
                if !self.migrated {
                    schema::migrate(&mut c, &self.at).map_err(Stop::Down)?;
                    self.migrated = true;
                }
                self.client.insert(c)
            }
        };
        while let Some(batch) = self.queue.front_mut() {
            batch.sent = true;
            let delta = batch.delta(&self.caps, b.meta.window_secs);
            let folded = fold_one(
                client,
                &self.at,
                &self.writer,
                batch.number,
                &delta,
                &mut self.failpoint,
            )?;
            match folded {
                Folded::Now => {
                    self.stats.folds += 1;
                    self.stats.windows_sent += delta.meta.windows_folded;
                }
                Folded::Before => self.stats.already_folded += 1,
            }
            self.queue.pop();
        }
        let (got, next) =
            read::changed_since(client, &self.at, &self.watermark, b).map_err(Stop::Down)?;
        self.stats.rows_read_back += got.rows;
        self.watermark = next;
        Ok(())
    }

    fn publish(&mut self, b: &mut Baseline) {
        self.stats.windows_queued = self.queue.windows();
        self.stats.windows_dropped = self.queue.dropped();
        b.sync = Some(self.stats.clone());
    }
}

/// One batch as one transaction, tried again on a conflict with another
/// sensor's fold.
fn fold_one(
    client: &mut Client,
    at: &Location,
    writer: &str,
    number: u64,
    delta: &Baseline,
    failpoint: &mut Option<Failpoint>,
) -> Result<Folded, Stop> {
    let mut tries = 0;
    loop {
        tries += 1;
        let result = client.transaction().and_then(|mut tx| {
            let folded = merge::fold(&mut tx, writer, number, delta)?;
            if *failpoint == Some(Failpoint::Commit(number)) {
                *failpoint = None;
                pause_until_gone(&mut tx);
            }
            tx.commit().map(|()| folded)
        });
        match result {
            Ok(_) if *failpoint == Some(Failpoint::AnswerLost(number)) => {
                *failpoint = None;
                return Err(Stop::Down(StoreError::Server {
                    location: at.shown.clone(),
                    what: "cannot fold a batch in".into(),
                    why: "failpoint: the answer to COMMIT was lost".into(),
                }));
            }
            Ok(f) => return Ok(f),
            Err(e) if conflict(&e) && tries < CONFLICT_TRIES => continue,
            Err(e) if transient(&e) => {
                return Err(Stop::Down(server_error(at, "cannot fold a batch in", e)))
            }
            Err(e) => return Err(Stop::Refused(server_error(at, "refused a batch", e))),
        }
    }
}

/// The failpoint: waits, with the batch written and not committed, until
/// the server is gone (at most a minute).
fn pause_until_gone(tx: &mut postgres::Transaction<'_>) {
    eprintln!("procflow: failpoint baseline-commit reached");
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until && tx.execute("SELECT 1", &[]).is_ok() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Backend for Shared {
    fn commit(&mut self, b: &mut Baseline, folded: &[Observation]) -> Result<(), StoreError> {
        self.queue.push(folded);
        b.dirty = Default::default();
        let sent = self.send(b);
        self.publish(b);
        sent
    }

    fn close(&mut self, b: &mut Baseline) -> Result<(), StoreError> {
        let until = Instant::now() + self.final_wait;
        loop {
            self.retry_at = None;
            self.send(b)?;
            if self.queue.is_empty() || Instant::now() >= until {
                break;
            }
            std::thread::sleep(
                self.retry
                    .min(until.saturating_duration_since(Instant::now())),
            );
        }
        self.publish(b);
        if let Some(path) = &self.cache {
            if let Err(e) = cache::write(path, b) {
                eprintln!("procflow: warning: the baseline's cached copy was not written: {e}");
            }
        }
        if self.queue.is_empty() {
            return Ok(());
        }
        Err(StoreError::Server {
            location: self.at.shown.clone(),
            what: format!(
                "{} windows not folded in ({} dropped before)",
                self.queue.windows(),
                self.queue.dropped()
            ),
            why: format!(
                "no answer for {} s, the last {} s at the end of the run",
                self.down_since.map_or(0, |s| s.elapsed().as_secs()),
                self.final_wait.as_secs()
            ),
        })
    }
}
