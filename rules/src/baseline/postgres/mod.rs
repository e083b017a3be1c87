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
mod connection;
mod merge;
mod queue;
mod read;
mod schema;
mod tls;
mod writer;

use super::backend::{Backend, BackendSpec, Found, Opened};
use super::{Baseline, StoreError, SyncStats};
use crate::config::BaselineConfig;
use connection::{connect, redact, CONNECT_TIMEOUT};
use postgres::Client;
use queue::Queue;
use std::path::Path;
use std::time::{Duration, Instant};
use writer::{failpoint, writer_name, Shared};

pub use connection::{server_error, Location};
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

fn open_postgres(rest: &Path, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    open(&format!("postgres:{}", rest.display()), caps, write)
}

fn open_postgresql(rest: &Path, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    open(&format!("postgresql:{}", rest.display()), caps, write)
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
