//! The baseline file: one SQLite database (open it with the sqlite3 shell;
//! the `image_prevalence` view reads best), schema versioned, written one
//! transaction per batch of windows so that a killed process leaves the
//! last committed state. Times are microseconds of packet time.

use super::{Baseline, Histogram, HostRecord, ImageRecord, Meta, Volume};
use crate::config::BaselineConfig;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};

/// The schema this build writes.
pub const SCHEMA_VERSION: i64 = 1;
const SCHEMA_NAME: &str = "procflow-baseline";

/// A baseline file that cannot be used or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("baseline {path}: {what}: {source}")]
    Sql {
        /// The file.
        path: String,
        /// What was being done.
        what: &'static str,
        /// SQLite's reason.
        source: rusqlite::Error,
    },
    /// The file is a database, but not a baseline this build can read.
    #[error("baseline {path}: {why}")]
    Format {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
}

/// An open baseline file.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    commits: u64,
    /// Commit number at which to stop inside the transaction (tests of
    /// crash safety: `PROCFLOW_FAILPOINT=baseline-commit:N`).
    failpoint: Option<u64>,
    /// Rows that could not be read back (damaged values), skipped.
    pub damaged_rows: u64,
    /// The file did not exist, or held no baseline yet.
    pub created: bool,
}

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

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// Opens `path`, creating the file and its schema when it does not
    /// exist, and reads the baseline it holds.
    pub fn open(path: &Path, caps: BaselineConfig) -> Result<(Store, Baseline), StoreError> {
        let name = path.display().to_string();
        let sql = |what: &'static str| {
            let name = name.clone();
            move |source| StoreError::Sql {
                path: name,
                what,
                source,
            }
        };
        if path.is_dir() {
            return Err(StoreError::Format {
                path: name,
                why: "is a directory".into(),
            });
        }
        let conn = Connection::open(path).map_err(sql("cannot open"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql("cannot set a busy timeout"))?;
        // WAL: a reader (the sqlite3 shell) never blocks the sensor, and a
        // killed writer leaves the last committed state.
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::NotADatabase =>
                {
                    StoreError::Format {
                        path: name.clone(),
                        why: "not a baseline (not an SQLite database)".into(),
                    }
                }
                other => sql("cannot read")(other),
            })?;
        let _ = mode;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(sql("cannot configure"))?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(sql("cannot read"))?;
        let mut created = false;
        if tables == 0 {
            let v = format!(
                "BEGIN; {SCHEMA} INSERT INTO meta VALUES ('schema', '{SCHEMA_NAME}'); \
                 INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); \
                 PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            );
            conn.execute_batch(&v)
                .map_err(sql("cannot create the schema"))?;
            created = true;
        }
        let schema: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get(0)
            })
            .optional()
            .unwrap_or(None);
        if schema.as_deref() != Some(SCHEMA_NAME) {
            return Err(StoreError::Format {
                path: name,
                why: "is an SQLite database but not a procflow baseline".into(),
            });
        }
        let version: i64 = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get::<_, String>(0),
            )
            .map_err(sql("cannot read the schema version"))?
            .parse()
            .unwrap_or(0);
        if version != SCHEMA_VERSION {
            return Err(StoreError::Format {
                path: name,
                why: format!(
                    "schema version {version}, this procflow reads version {SCHEMA_VERSION}"
                ),
            });
        }
        let failpoint = std::env::var("PROCFLOW_FAILPOINT")
            .ok()
            .and_then(|v| v.strip_prefix("baseline-commit:")?.parse().ok());
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            commits: 0,
            failpoint,
            damaged_rows: 0,
            created,
        };
        let baseline = store.load(caps)?;
        Ok((store, baseline))
    }

    fn err(&self, what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sql {
            path: self.path.display().to_string(),
            what,
            source,
        }
    }

    fn load(&mut self, caps: BaselineConfig) -> Result<Baseline, StoreError> {
        let mut b = Baseline::new(caps);
        let mut damaged = 0u64;
        {
            let read = self.err("cannot read");
            let mut meta = self
                .conn
                .prepare("SELECT key, value FROM meta")
                .map_err(&read)?;
            let rows = meta
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(&read)?;
            let mut m = Meta::default();
            for row in rows {
                let (k, v) = row.map_err(&read)?;
                let n = v.parse::<u64>().unwrap_or(0);
                match k.as_str() {
                    "windows_folded" => m.windows_folded = n,
                    "batches" => m.batches = n,
                    "last_window_end" => m.last_window_end = n,
                    "window_secs" => m.window_secs = n,
                    _ => {}
                }
            }
            b.meta = m;

            let mut q = self
                .conn
                .prepare("SELECT image, executable, os, first_seen, last_seen, windows, hosts_overflow FROM images")
                .map_err(&read)?;
            let rows = q
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        ImageRecord {
                            executable: r.get(1)?,
                            os: r.get(2)?,
                            first_seen: to_u64(r.get(3)?),
                            last_seen: to_u64(r.get(4)?),
                            windows: to_u64(r.get(5)?),
                            hosts: Default::default(),
                            hosts_overflow: r.get::<_, i64>(6)? != 0,
                        },
                    ))
                })
                .map_err(&read)?;
            for row in rows {
                let (k, rec) = row.map_err(&read)?;
                b.images.insert(k, rec);
            }

            let mut q = self
                .conn
                .prepare("SELECT image, host, first_seen, last_seen FROM image_hosts")
                .map_err(&read)?;
            let rows = q
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        to_u64(r.get(2)?),
                        to_u64(r.get(3)?),
                    ))
                })
                .map_err(&read)?;
            for row in rows {
                let (img, host, first, last) = row.map_err(&read)?;
                match b.images.get_mut(&img) {
                    Some(rec) => {
                        rec.hosts.insert(host, (first, last));
                    }
                    None => damaged += 1,
                }
            }

            let mut q = self
                .conn
                .prepare("SELECT host, name, os, role, first_seen, last_seen FROM hosts")
                .map_err(&read)?;
            let rows = q
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        HostRecord {
                            name: r.get(1)?,
                            os: r.get(2)?,
                            role: r.get(3)?,
                            first_seen: to_u64(r.get(4)?),
                            last_seen: to_u64(r.get(5)?),
                        },
                    ))
                })
                .map_err(&read)?;
            for row in rows {
                let (k, rec) = row.map_err(&read)?;
                b.hosts.insert(k, rec);
            }

            let mut q = self
                .conn
                .prepare("SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes")
                .map_err(&read)?;
            let rows = q
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        [
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                        ],
                    ))
                })
                .map_err(&read)?;
            for row in rows {
                let (img, role, [a, w, c, r]) = row.map_err(&read)?;
                let parsed = (
                    Histogram::from_json(&a),
                    Histogram::from_json(&w),
                    Histogram::from_json(&c),
                    Histogram::from_json(&r),
                );
                match parsed {
                    (Some(a), Some(w), Some(c), Some(r)) => {
                        b.volumes.insert(
                            (img, role),
                            Volume {
                                dest_bytes_out: a,
                                window_bytes_out: w,
                                http_connections: c,
                                response_ratio_milli: r,
                            },
                        );
                    }
                    _ => damaged += 1,
                }
            }
        }
        self.damaged_rows = damaged;
        // A file larger than this run's caps is cut down at once, so memory
        // stays within them; the next commit writes the cut.
        b.enforce_caps();
        Ok(b)
    }

    /// Writes what changed in `b` as one transaction, then marks it clean.
    pub fn commit(&mut self, b: &mut Baseline) -> Result<(), StoreError> {
        self.commits += 1;
        let path = self.path.display().to_string();
        let e = |what: &'static str| {
            let path = path.clone();
            move |source| StoreError::Sql {
                path: path.clone(),
                what,
                source,
            }
        };
        let tx = self
            .conn
            .transaction()
            .map_err(e("cannot start a transaction"))?;
        {
            let w = e("cannot write");
            let d = &b.dirty;
            for img in &d.removed_images {
                for sql in [
                    "DELETE FROM images WHERE image = ?1",
                    "DELETE FROM image_hosts WHERE image = ?1",
                    "DELETE FROM volumes WHERE image = ?1",
                ] {
                    tx.prepare_cached(sql)
                        .and_then(|mut s| s.execute(params![img]))
                        .map_err(&w)?;
                }
            }
            for host in &d.removed_hosts {
                tx.prepare_cached("DELETE FROM hosts WHERE host = ?1")
                    .and_then(|mut s| s.execute(params![host]))
                    .map_err(&w)?;
            }
            let mut put_image = tx
                .prepare_cached("INSERT OR REPLACE INTO images VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(&w)?;
            for k in &d.images {
                if let Some(r) = b.images.get(k) {
                    put_image
                        .execute(params![
                            k,
                            r.executable,
                            r.os,
                            to_i64(r.first_seen),
                            to_i64(r.last_seen),
                            to_i64(r.windows),
                            i64::from(r.hosts_overflow)
                        ])
                        .map_err(&w)?;
                }
            }
            let mut put_ih = tx
                .prepare_cached("INSERT OR REPLACE INTO image_hosts VALUES (?1, ?2, ?3, ?4)")
                .map_err(&w)?;
            for (img, host) in &d.image_hosts {
                if let Some(&(first, last)) = b.images.get(img).and_then(|r| r.hosts.get(host)) {
                    put_ih
                        .execute(params![img, host, to_i64(first), to_i64(last)])
                        .map_err(&w)?;
                }
            }
            let mut put_host = tx
                .prepare_cached("INSERT OR REPLACE INTO hosts VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(&w)?;
            for k in &d.hosts {
                if let Some(h) = b.hosts.get(k) {
                    put_host
                        .execute(params![
                            k,
                            h.name,
                            h.os,
                            h.role,
                            to_i64(h.first_seen),
                            to_i64(h.last_seen)
                        ])
                        .map_err(&w)?;
                }
            }
            let mut put_vol = tx
                .prepare_cached("INSERT OR REPLACE INTO volumes VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(&w)?;
            for key in &d.volumes {
                if let Some(v) = b.volumes.get(key) {
                    put_vol
                        .execute(params![
                            key.0,
                            key.1,
                            v.dest_bytes_out.to_json(),
                            v.window_bytes_out.to_json(),
                            v.http_connections.to_json(),
                            v.response_ratio_milli.to_json()
                        ])
                        .map_err(&w)?;
                }
            }
            let m = &b.meta;
            let mut put_meta = tx
                .prepare_cached("INSERT OR REPLACE INTO meta VALUES (?1, ?2)")
                .map_err(&w)?;
            for (k, v) in [
                ("windows_folded", m.windows_folded),
                ("batches", m.batches),
                ("last_window_end", m.last_window_end),
                ("window_secs", m.window_secs),
            ] {
                put_meta.execute(params![k, v.to_string()]).map_err(&w)?;
            }
        }
        if self.failpoint == Some(self.commits) {
            // Every row of this batch is written, none committed: the
            // crash-safety test kills the process here.
            eprintln!(
                "procflow: failpoint baseline-commit:{} reached",
                self.commits
            );
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        tx.commit().map_err(e("cannot commit"))?;
        b.dirty = Default::default();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::Observation;

    fn tmp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("procflow-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("baseline.db")
    }

    #[test]
    fn round_trip() {
        let path = tmp("rt");
        let (mut s, mut b) = Store::open(&path, BaselineConfig::default()).unwrap();
        assert!(s.created);
        for (i, host) in ["a", "b", "c"].iter().enumerate() {
            b.fold(&Observation {
                host: host.to_string(),
                host_name: host.to_uppercase(),
                image: "\\users\\x\\upd.exe".into(),
                executable: "C:\\Users\\x\\upd.exe".into(),
                os: Some("windows".into()),
                role: "default".into(),
                start: 600_000_000 * i as u64,
                end: 600_000_000 * (i as u64 + 1),
                first_flow: 600_000_000 * i as u64 + 7,
                dest_bytes_out: vec![1000 * (i as u64 + 1)],
                bytes_out: 1000,
                bytes_in: 20,
                http_connections: 4,
            });
        }
        b.meta.batches = 1;
        b.meta.window_secs = 600;
        s.commit(&mut b).unwrap();
        assert!(b.dirty.images.is_empty());
        drop(s);
        let (s2, b2) = Store::open(&path, BaselineConfig::default()).unwrap();
        assert!(!s2.created);
        assert_eq!(s2.damaged_rows, 0);
        assert_eq!(b2.images, b.images);
        assert_eq!(b2.hosts, b.hosts);
        assert_eq!(b2.volumes, b.volumes);
        assert_eq!(b2.meta, b.meta);
    }

    #[test]
    fn refuses_what_is_not_a_baseline() {
        let path = tmp("bad");
        std::fs::write(&path, b"this is not a database at all, just some text....").unwrap();
        let e = Store::open(&path, BaselineConfig::default()).err().unwrap();
        assert!(
            e.to_string()
                .ends_with("not a baseline (not an SQLite database)"),
            "{e}"
        );
        let other = tmp("other");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let e = Store::open(&other, BaselineConfig::default())
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .ends_with("is an SQLite database but not a procflow baseline"),
            "{e}"
        );
        let dir = tmp("dir");
        let e = Store::open(dir.parent().unwrap(), BaselineConfig::default())
            .err()
            .unwrap();
        assert!(e.to_string().ends_with("is a directory"), "{e}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let path = tmp("newer");
        drop(Store::open(&path, BaselineConfig::default()).unwrap());
        Connection::open(&path)
            .unwrap()
            .execute_batch("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
            .unwrap();
        let e = Store::open(&path, BaselineConfig::default()).err().unwrap();
        assert!(
            e.to_string()
                .contains("schema version 9, this procflow reads version 1"),
            "{e}"
        );
    }
}
