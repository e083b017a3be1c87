//! The tables, their creation, and the checks a file passes before it is
//! used: a procflow baseline of this schema version, whole (`PRAGMA
//! quick_check`), and, for a writer, writable.

use super::StoreError;
use rusqlite::{Connection, ErrorCode, OptionalExtension};

/// The schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;
const SCHEMA_NAME: &str = "procflow-baseline";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE images (
  image TEXT PRIMARY KEY, executable TEXT NOT NULL, os TEXT,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  windows INTEGER NOT NULL, hosts_overflow INTEGER NOT NULL);
CREATE TABLE image_hosts (
  image TEXT NOT NULL, host TEXT NOT NULL,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  PRIMARY KEY (image, host)) WITHOUT ROWID;
CREATE TABLE hosts (
  host TEXT PRIMARY KEY, name TEXT NOT NULL, os TEXT, role TEXT NOT NULL,
  first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE volumes (
  image TEXT NOT NULL, role TEXT NOT NULL,
  dest_bytes_out TEXT NOT NULL, window_bytes_out TEXT NOT NULL,
  http_connections TEXT NOT NULL, response_ratio_milli TEXT NOT NULL,
  PRIMARY KEY (image, role)) WITHOUT ROWID;
CREATE VIEW image_prevalence AS
  SELECT i.image, i.executable, i.os,
         datetime(i.first_seen / 1000000, 'unixepoch') AS first_seen_utc,
         datetime(i.last_seen / 1000000, 'unixepoch') AS last_seen_utc,
         i.windows,
         (SELECT count(*) FROM image_hosts h WHERE h.image = i.image) AS hosts
  FROM images i;
";

/// Turns SQLite's refusal into what it means for the user: a file that is
/// not a database, a damaged one, one that cannot be written, or another
/// failure while doing `what`.
pub fn classify(path: &str, what: &'static str, e: rusqlite::Error) -> StoreError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    };
    match code {
        Some(ErrorCode::NotADatabase) => StoreError::Format {
            path: path.into(),
            why: "not a baseline (not an SQLite database)".into(),
        },
        Some(ErrorCode::DatabaseCorrupt) => StoreError::Damaged {
            path: path.into(),
            why: e.to_string(),
        },
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            StoreError::NotWritable {
                path: path.into(),
                why: e.to_string(),
            }
        }
        _ => StoreError::Sql {
            path: path.into(),
            what,
            source: e,
        },
    }
}

/// Whether the file holds no table yet (new, or created and killed before
/// its schema was committed).
pub fn is_empty(conn: &Connection, path: &str) -> Result<bool, StoreError> {
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| classify(path, "cannot read", e))?;
    Ok(tables == 0)
}

/// Creates the tables in one transaction.
pub fn create(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let v = format!(
        "BEGIN; {SCHEMA} INSERT INTO meta VALUES ('schema', '{SCHEMA_NAME}'); \
         INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); \
         PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
    );
    conn.execute_batch(&v)
        .map_err(|e| classify(path, "cannot create the schema", e))
}

/// Refuses a database that is not a baseline of this schema version.
pub fn check_version(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let meta = |key: &str| {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
            r.get::<_, String>(0)
        })
        .optional()
    };
    // No meta table, or no schema row: some other database.
    let schema = meta("schema").unwrap_or(None);
    if schema.as_deref() != Some(SCHEMA_NAME) {
        return Err(StoreError::Format {
            path: path.into(),
            why: "is an SQLite database but not a procflow baseline".into(),
        });
    }
    let version: i64 = meta("schema_version")
        .map_err(|e| classify(path, "cannot read the schema version", e))?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if version != SCHEMA_VERSION {
        return Err(StoreError::Format {
            path: path.into(),
            why: format!("schema version {version}, this procflow reads version {SCHEMA_VERSION}"),
        });
    }
    Ok(())
}

/// `PRAGMA quick_check`: every page of every table and index is well
/// formed. A damaged file is refused at once, before a run produces
/// anything, rather than failing at its first or last write.
pub fn quick_check(conn: &Connection, path: &str) -> Result<(), StoreError> {
    let problems: Vec<String> = conn
        .prepare("PRAGMA quick_check(10)")
        .and_then(|mut q| {
            q.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()
        })
        .map_err(|e| match classify(path, "cannot check", e) {
            StoreError::Damaged { path, why } => StoreError::Damaged {
                path,
                why: format!("{why} (PRAGMA quick_check)"),
            },
            other => other,
        })?;
    if problems.first().map(String::as_str) == Some("ok") {
        return Ok(());
    }
    // One line for the user: SQLite heads a report with the database's
    // name and puts several problems in one row.
    let lines: Vec<&str> = problems
        .iter()
        .flat_map(|p| p.lines())
        .filter(|l| !l.trim().is_empty() && !l.starts_with("*** in database"))
        .collect();
    let count = match lines.len() {
        n if problems.len() >= 10 => format!("{n} or more problems"),
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    Err(StoreError::Damaged {
        path: path.into(),
        why: format!(
            "{} (PRAGMA quick_check found {count})",
            lines.first().copied().unwrap_or("no answer")
        ),
    })
}

/// Writes one row back unchanged and commits: the file, its directory and
/// the disk under them take a write now, not at the end of the run.
pub fn probe_write(conn: &Connection, path: &str) -> Result<(), StoreError> {
    conn.execute_batch(
        "BEGIN IMMEDIATE; UPDATE meta SET value = value WHERE key = 'schema'; COMMIT;",
    )
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        classify(path, "cannot write", e)
    })
}
