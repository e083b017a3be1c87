//! The fleet's shared baseline on PostgreSQL (`--baseline
//! postgres://user@host:port/db`): every sensor folds its windows into one
//! database and reads back every other sensor's, so "uncommon" and
//! "previously unseen" are judged over the whole fleet's hosts.
//!
//! Each batch is one transaction of merges ([`merge`]); after it the
//! sensor reads back what changed since its last read ([`read`]). When the
//! server does not answer, the sensor goes on judging on the copy it last
//! read, queues its batches ([`queue`]) and tries again every
//! `retry_secs`; a batch is folded once however often it is sent. The
//! schema is that of the SQLite file plus the fleet's bookkeeping,
//! versioned and migrated ([`schema`]).

mod cache;
mod merge;
mod queue;
mod read;
mod schema;
mod tls;

use super::backend::{Backend, BackendSpec, Found, Opened};
use super::{Baseline, Observation, StoreError, SyncStats};
use crate::config::BaselineConfig;
use merge::Folded;
use postgres::error::SqlState;
use postgres::{Client, NoTls};
use queue::Queue;
use std::path::Path;
use std::time::{Duration, Instant};

pub use schema::SCHEMA_VERSION;

/// `postgres://...`.
pub const POSTGRES: BackendSpec = BackendSpec {
    scheme: "postgres",
    open: open_postgres,
};

/// `postgresql://...`, the other spelling libpq accepts.
pub const POSTGRESQL: BackendSpec = BackendSpec {
    scheme: "postgresql",
    open: open_postgresql,
};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries of a fold that the server aborted for a conflict (deadlock,
/// serialisation) before it counts as failed.
const CONFLICT_TRIES: u32 = 5;

/// Where the baseline is, for connecting and for messages.
pub struct Location {
    config: postgres::Config,
    /// TLS, when the location asks for it.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// The location as messages show it: no password.
    pub shown: String,
}

fn open_postgres(rest: &Path, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    open(&format!("postgres:{}", rest.display()), caps, write)
}

fn open_postgresql(rest: &Path, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    open(&format!("postgresql:{}", rest.display()), caps, write)
}

/// `url` without its password (in the authority, or a `password=`
/// parameter).
fn redact(url: &str) -> String {
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

fn open(url: &str, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    let shown = redact(url);
    let (url, ask) = tls::split(url);
    let tls = ask
        .required
        .then(|| tls::connector(&ask, &shown))
        .transpose()?;
    let mut config: postgres::Config = url.parse().map_err(|e| StoreError::Format {
        path: shown.clone(),
        why: format!("not a PostgreSQL location: {e}"),
    })?;
    config
        .connect_timeout(CONNECT_TIMEOUT)
        .application_name("procflow")
        // A server gone silent in the middle of a fold is noticed within
        // about half a minute, not at the kernel's default two hours.
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(20));
    if tls.is_some() {
        config.ssl_mode(postgres::config::SslMode::Require);
    }
    let at = Location { config, tls, shown };
    let start = match connect(&at) {
        Ok(client) => from_server(client, &at, &caps, write)?,
        Err(e) => from_cache(e, &at, &caps)?,
    };
    let Start {
        client,
        mut baseline,
        found,
        damaged_rows,
        watermark,
    } = start;
    baseline.sync = Some(SyncStats::default());
    let offline = client.is_none();
    let writer = write.then(|| {
        Box::new(Shared {
            migrated: !offline,
            connecting: None,
            client,
            queue: Queue::new(caps.queue_max_windows),
            writer: writer_name(),
            watermark,
            down_since: offline.then(Instant::now),
            retry_at: None,
            retry: Duration::from_secs(caps.retry_secs.max(1)),
            final_wait: Duration::from_secs(caps.final_wait_secs),
            failpoint: failpoint(),
            stats: SyncStats {
                outages: u64::from(offline),
                ..SyncStats::default()
            },
            cache: caps.cache.clone(),
            caps,
            at,
        }) as Box<dyn Backend>
    });
    Ok(Opened {
        writer,
        baseline,
        found,
        damaged_rows,
    })
}

/// How a run starts: on the server's baseline, or on the cached copy.
struct Start {
    client: Option<Client>,
    baseline: Baseline,
    found: Found,
    damaged_rows: u64,
    watermark: String,
}

/// The baseline as the server holds it (the schema migrated first when
/// the run learns).
fn from_server(
    mut client: Client,
    at: &Location,
    caps: &BaselineConfig,
    write: bool,
) -> Result<Start, StoreError> {
    let held = if write {
        schema::migrate(&mut client, at)?
    } else {
        schema::check(&mut client, at)?
    };
    let mut baseline = Baseline::new(caps.clone());
    let mut watermark = read::FROM_THE_START.to_string();
    let mut damaged_rows = 0;
    if held == schema::Held::Baseline {
        let (got, next) = read::changed_since(&mut client, at, &watermark, &mut baseline)?;
        damaged_rows = got.damaged;
        watermark = next;
    }
    let found = match (held, write) {
        (schema::Held::Baseline, _) => Found::Existing,
        (schema::Held::Nothing, true) => Found::New,
        (schema::Held::Nothing, false) => Found::Missing,
    };
    Ok(Start {
        client: Some(client),
        baseline,
        found,
        damaged_rows,
        watermark,
    })
}

/// The server does not answer: the cached copy, when there is one (said,
/// with its age); else the server's error.
fn from_cache(e: StoreError, at: &Location, caps: &BaselineConfig) -> Result<Start, StoreError> {
    let Some(path) = caps.cache.as_deref().filter(|p| p.exists()) else {
        return Err(e);
    };
    let (baseline, age) = cache::read(path, caps)?;
    eprintln!(
        "procflow: warning: {e}; judging on the cached copy {} (written {} min ago), windows queued until {} answers",
        path.display(),
        age / 60,
        at.shown
    );
    Ok(Start {
        client: None,
        baseline,
        found: Found::Existing,
        damaged_rows: 0,
        // Everything is read back once the server answers.
        watermark: read::FROM_THE_START.to_string(),
    })
}

/// A connection being made on a thread of its own: a server that takes
/// the TCP connection and then says nothing must not hold up the caller.
type Connecting = std::sync::mpsc::Receiver<Result<Client, StoreError>>;

fn start_connect(at: &Location) -> Connecting {
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
fn connect(at: &Location) -> Result<Client, StoreError> {
    let wait = CONNECT_TIMEOUT + Duration::from_secs(1);
    start_connect(at)
        .recv_timeout(wait)
        .unwrap_or_else(|_| Err(no_answer(at, wait)))
}

fn no_answer(at: &Location, wait: Duration) -> StoreError {
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
fn transient(e: &postgres::Error) -> bool {
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

fn conflict(e: &postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    })
}

/// This run's name in `folds`: the host, the process and the start time,
/// unique across the fleet and across restarts.
fn writer_name() -> String {
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
enum Failpoint {
    /// `baseline-commit:N`: fold N stops with its rows written and not
    /// committed until the server goes away (a server killed mid-fold).
    Commit(u64),
    /// `baseline-answer-lost:N`: fold N commits, and its answer is taken
    /// for lost (a connection that broke during COMMIT).
    AnswerLost(u64),
}

fn failpoint() -> Option<Failpoint> {
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
struct Shared {
    at: Location,
    client: Option<Client>,
    /// The schema was checked and migrated on this server (not yet when
    /// the run started on the cached copy).
    migrated: bool,
    /// Where the local copy is written at the end of the run.
    cache: Option<std::path::PathBuf>,
    /// A connection being made, while the server was away.
    connecting: Option<Connecting>,
    queue: Queue,
    writer: String,
    /// Where the next read-back starts.
    watermark: String,
    down_since: Option<Instant>,
    retry_at: Option<Instant>,
    retry: Duration,
    final_wait: Duration,
    caps: BaselineConfig,
    failpoint: Option<Failpoint>,
    stats: SyncStats,
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
