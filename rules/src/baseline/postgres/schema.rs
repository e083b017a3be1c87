//! The shared baseline's tables: those of the SQLite file (the same names,
//! columns and meaning), plus what a fleet needs — the transaction that
//! last changed each row (`xid`, so a sensor reads back only what changed
//! since it last looked) and the batches already folded in (`folds`, so a
//! batch sent twice is folded once). Versioned: `schema_migrations` lists
//! the migrations applied, and every sensor applies the missing ones under
//! one advisory lock when it starts.

use super::{server_error, Location};
use crate::baseline::StoreError;
use postgres::Client;

/// The schema this build reads and writes.
pub const SCHEMA_VERSION: i32 = 1;
const SCHEMA_NAME: &str = "procflow-baseline";
/// The advisory lock the migrations are applied under ("proc" in ASCII).
const MIGRATION_LOCK: i64 = 0x7072_6f63;

/// Migration `n` is at index `n - 1`; applied in order, each in the
/// transaction that records it.
const MIGRATIONS: &[&str] = &["
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (
  image TEXT PRIMARY KEY, executable TEXT NOT NULL, os TEXT,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  windows BIGINT NOT NULL, hosts_overflow BOOLEAN NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE TABLE image_hosts (
  image TEXT NOT NULL, host TEXT NOT NULL,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (image, host));
CREATE TABLE hosts (
  host TEXT PRIMARY KEY, name TEXT NOT NULL, os TEXT, role TEXT NOT NULL,
  first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id());
CREATE TABLE volumes (
  image TEXT NOT NULL, role TEXT NOT NULL,
  dest_bytes_out TEXT NOT NULL, window_bytes_out TEXT NOT NULL,
  http_connections TEXT NOT NULL, response_ratio_milli TEXT NOT NULL,
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (image, role));
CREATE TABLE folds (
  writer TEXT NOT NULL, batch BIGINT NOT NULL, windows BIGINT NOT NULL,
  folded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (writer, batch));
CREATE INDEX images_xid ON images (xid);
CREATE INDEX image_hosts_xid ON image_hosts (xid);
CREATE INDEX hosts_xid ON hosts (xid);
CREATE INDEX volumes_xid ON volumes (xid);
CREATE VIEW image_prevalence AS
  SELECT i.image, i.executable, i.os,
         to_timestamp(i.first_seen / 1000000.0) AS first_seen_utc,
         to_timestamp(i.last_seen / 1000000.0) AS last_seen_utc,
         i.windows,
         (SELECT count(*) FROM image_hosts h WHERE h.image = i.image) AS hosts
  FROM images i;
INSERT INTO meta VALUES ('schema', 'procflow-baseline');
"];

/// What the database held before this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    /// A baseline.
    Baseline,
    /// No baseline tables yet.
    Nothing,
}

/// Brings the schema up to [`SCHEMA_VERSION`], under an advisory lock so
/// that sensors starting together apply each migration once. Refuses a
/// database that holds something else, or a newer schema.
pub fn migrate(client: &mut Client, at: &Location) -> Result<Held, StoreError> {
    let err = |what: &'static str| move |e| server_error(at, what, e);
    let mut tx = client
        .transaction()
        .map_err(err("cannot start a transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(err("cannot lock the schema"))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
           version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .map_err(err("cannot create the schema"))?;
    let applied = applied_version(&mut tx, at)?;
    let held = if applied == 0 {
        refuse_foreign(&mut tx, at)?;
        Held::Nothing
    } else {
        Held::Baseline
    };
    refuse_newer(applied, at)?;
    for (n, sql) in (1..).zip(MIGRATIONS.iter()).skip(applied as usize) {
        tx.batch_execute(sql)
            .map_err(err("cannot apply a schema migration"))?;
        tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[&n])
            .map_err(err("cannot record a schema migration"))?;
    }
    tx.execute(
        "INSERT INTO meta VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&SCHEMA_VERSION.to_string()],
    )
    .map_err(err("cannot record the schema version"))?;
    tx.commit().map_err(err("cannot commit the schema"))?;
    Ok(held)
}

/// Checks, without writing, that the database holds a baseline this build
/// reads (or nothing yet).
pub fn check(client: &mut Client, at: &Location) -> Result<Held, StoreError> {
    let err = |e| server_error(at, "cannot read the schema", e);
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .map_err(err)?;
    let mut tx = client.transaction().map_err(err)?;
    if !exists {
        refuse_foreign(&mut tx, at)?;
        return Ok(Held::Nothing);
    }
    let applied = applied_version(&mut tx, at)?;
    refuse_newer(applied, at)?;
    if applied < SCHEMA_VERSION {
        return Err(StoreError::Format {
            path: at.shown.clone(),
            why: format!(
                "schema version {applied}, this procflow reads version {SCHEMA_VERSION}: a run that learns migrates it"
            ),
        });
    }
    Ok(Held::Baseline)
}

fn applied_version(tx: &mut postgres::Transaction<'_>, at: &Location) -> Result<i32, StoreError> {
    tx.query_one(
        "SELECT COALESCE(max(version), 0) FROM schema_migrations",
        &[],
    )
    .and_then(|r| r.try_get(0))
    .map_err(|e| server_error(at, "cannot read the schema version", e))
}

fn refuse_newer(applied: i32, at: &Location) -> Result<(), StoreError> {
    if applied > SCHEMA_VERSION {
        return Err(StoreError::Format {
            path: at.shown.clone(),
            why: format!(
                "schema version {applied}, this procflow reads version {SCHEMA_VERSION} (a newer procflow migrated it)"
            ),
        });
    }
    Ok(())
}

/// A database whose `meta` table is not a baseline's is somebody else's.
fn refuse_foreign(tx: &mut postgres::Transaction<'_>, at: &Location) -> Result<(), StoreError> {
    let meta: bool = tx
        .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
        .and_then(|r| r.try_get(0))
        .map_err(|e| server_error(at, "cannot read the schema", e))?;
    if !meta {
        return Ok(());
    }
    let schema: Option<String> = tx
        .query_opt("SELECT value FROM meta WHERE key = 'schema'", &[])
        .ok()
        .flatten()
        .and_then(|r| r.try_get(0).ok());
    if schema.as_deref() == Some(SCHEMA_NAME) {
        return Ok(());
    }
    Err(StoreError::Format {
        path: at.shown.clone(),
        why: "the database has a meta table that is not a procflow baseline's".into(),
    })
}
