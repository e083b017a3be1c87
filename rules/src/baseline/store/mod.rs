//! The baseline file: one SQLite database (open it with the sqlite3 shell;
//! the `image_prevalence` view reads best), schema versioned, written one
//! transaction per batch of windows so that a killed process leaves the
//! last committed state. Times are microseconds of packet time.
//!
//! A run that learns opens it with [`Store::open`]: one writer at a time
//! ([`lock`]), and the file checked whole and writable before anything
//! else happens. A run that only judges reads it with [`Store::read`],
//! read-only, beside a writer if there is one.

mod load;
pub mod lock;
mod schema;
#[cfg(test)]
mod tests;
mod write;

use super::Baseline;
use crate::config::BaselineConfig;
use lock::WriterLock;
use rusqlite::{Connection, OpenFlags};
use schema::classify;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use schema::SCHEMA_VERSION;

/// How long SQLite waits for another connection (the sqlite3 shell) that
/// holds a write lock for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Another process is writing the baseline.
    #[error("baseline {path}: {}", busy(*.holder, *.waited))]
    Busy {
        /// The file.
        path: String,
        /// The writer's pid, when known.
        holder: Option<u32>,
        /// Seconds waited for it.
        waited: u64,
    },
    /// The file, its directory or its lock file cannot be written.
    #[error("baseline {path}: cannot be written: {why} (read --no-learn only reads it)")]
    NotWritable {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// A database server refused, or could not be reached.
    #[error("baseline {location}: {what}: {why}")]
    Server {
        /// The server's location (without a password).
        location: String,
        /// What was being done.
        what: String,
        /// The server's reason.
        why: String,
    },
    /// The file is damaged.
    #[error("baseline {path}: damaged: {why}")]
    Damaged {
        /// The file.
        path: String,
        /// What SQLite found.
        why: String,
    },
}

fn busy(holder: Option<u32>, waited: u64) -> String {
    let who = holder.map_or(String::new(), |p| format!(" (pid {p})"));
    let when = match waited {
        0 => String::new(),
        s => format!(", still after {s} s"),
    };
    format!(
        "another procflow is writing it{who}{when}: one writer at a time \
         (read without --learn reads it meanwhile; [baseline] lock_wait_secs waits for the writer)"
    )
}

/// The SQLite backend: a baseline file (`sqlite:PATH`, or a plain path).
pub const SQLITE: super::backend::BackendSpec = super::backend::BackendSpec {
    scheme: "sqlite",
    open: open_backend,
};

fn open_backend(
    path: &Path,
    caps: BaselineConfig,
    write: bool,
) -> Result<super::backend::Opened, StoreError> {
    use super::backend::{Found, Opened};
    if write {
        let (store, baseline) = Store::open(path, caps)?;
        Ok(Opened {
            found: if store.created {
                Found::New
            } else {
                Found::Existing
            },
            damaged_rows: store.damaged_rows,
            writer: Some(Box::new(store)),
            baseline,
        })
    } else {
        let (info, baseline) = Store::read(path, caps)?;
        Ok(Opened {
            writer: None,
            baseline,
            found: if info.missing {
                Found::Missing
            } else {
                Found::Existing
            },
            damaged_rows: info.damaged_rows,
        })
    }
}

impl super::backend::Backend for Store {
    fn commit(
        &mut self,
        b: &mut Baseline,
        _folded: &[super::Observation],
    ) -> Result<(), StoreError> {
        Store::commit(self, b)
    }
}

/// An open baseline file, held for writing.
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
    _lock: WriterLock,
}

/// What reading a baseline without writing it found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadInfo {
    /// There is no file (none is created).
    pub missing: bool,
    /// Rows that could not be read back (damaged values), skipped.
    pub damaged_rows: u64,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn not_a_directory(path: &Path) -> Result<(), StoreError> {
    if path.is_dir() {
        return Err(StoreError::Format {
            path: path.display().to_string(),
            why: "is a directory".into(),
        });
    }
    Ok(())
}

impl Store {
    /// Opens `path` for writing, creating the file and its schema when it
    /// does not exist, and reads the baseline it holds. Refuses, before
    /// anything is written, a file that another process is writing
    /// (after `caps.lock_wait_secs`), that cannot be written, or that is
    /// damaged.
    pub fn open(path: &Path, caps: BaselineConfig) -> Result<(Store, Baseline), StoreError> {
        let name = path.display().to_string();
        not_a_directory(path)?;
        // Taken before the file is read, so a writer that waited loads
        // what the previous one committed.
        let lock = WriterLock::acquire(path, Duration::from_secs(caps.lock_wait_secs))?;
        let conn = Connection::open(literal(path).as_ref())
            .map_err(|e| classify(&name, "cannot open", e))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
            return Err(StoreError::NotWritable {
                path: name,
                why: "the file is read-only".into(),
            });
        }
        let name = name.as_str();
        let sql = |what| move |e| classify(name, what, e);
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(sql("cannot set a busy timeout"))?;
        let created = schema::is_empty(&conn, name)?;
        if !created {
            schema::quick_check(&conn, name)?;
            schema::check_version(&conn, name)?;
        }
        // WAL: a reader (the sqlite3 shell, read --no-learn) never blocks
        // the sensor, and a killed writer leaves the last committed state.
        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
            .map_err(sql("cannot set the journal mode"))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = OFF;")
            .map_err(sql("cannot configure"))?;
        if created {
            schema::create(&conn, name)?;
        } else {
            schema::probe_write(&conn, name)?;
        }
        let (baseline, damaged_rows) = load::load(&conn, name, caps)?;
        let failpoint = std::env::var("PROCFLOW_FAILPOINT")
            .ok()
            .and_then(|v| v.strip_prefix("baseline-commit:")?.parse().ok());
        let store = Store {
            conn,
            path: path.to_path_buf(),
            commits: 0,
            failpoint,
            damaged_rows,
            created,
            _lock: lock,
        };
        Ok((store, baseline))
    }

    /// Reads the baseline at `path` without writing anything: no lock, no
    /// file created when there is none, read-only when the file or its
    /// directory is. A writer may be at work beside it: the last batch it
    /// committed is what is read.
    pub fn read(path: &Path, caps: BaselineConfig) -> Result<(ReadInfo, Baseline), StoreError> {
        let name = path.display().to_string();
        not_a_directory(path)?;
        if !path.exists() {
            let info = ReadInfo {
                missing: true,
                damaged_rows: 0,
            };
            return Ok((info, Baseline::new(caps)));
        }
        let conn = open_read_only(path)?;
        if schema::is_empty(&conn, &name)? {
            return Ok((ReadInfo::default(), Baseline::new(caps)));
        }
        schema::quick_check(&conn, &name)?;
        schema::check_version(&conn, &name)?;
        let (baseline, damaged_rows) = load::load(&conn, &name, caps)?;
        let info = ReadInfo {
            missing: false,
            damaged_rows,
        };
        Ok((info, baseline))
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
        write::removed(&tx, b)
            .and_then(|()| write::images(&tx, b))
            .and_then(|()| write::hosts(&tx, b))
            .and_then(|()| write::volumes_and_meta(&tx, b))
            .map_err(e("cannot write"))?;
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

/// Opens the file read-only. A WAL file needs its `-shm` index, which
/// SQLite cannot make in a read-only directory; when no `-wal` file holds
/// frames not yet in the database, the file alone is the whole baseline
/// and is opened as immutable instead.
/// `path` as SQLite must be given it to open the file of that name: this
/// SQLite reads a name that begins `file:` as a URI, so such a relative
/// name is given as `./file:...`, the name the lock and every check use.
fn literal(path: &Path) -> std::borrow::Cow<'_, Path> {
    if path.as_os_str().as_encoded_bytes().starts_with(b"file:") {
        std::borrow::Cow::Owned(Path::new(".").join(path))
    } else {
        std::borrow::Cow::Borrowed(path)
    }
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let name = path.display().to_string();
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(literal(path).as_ref(), flags)
        .map_err(|e| classify(&name, "cannot open", e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| classify(&name, "cannot set a busy timeout", e))?;
    let first = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    });
    let e = match first {
        Ok(_) => return Ok(conn),
        Err(e) => e,
    };
    match classify(&name, "cannot read", e) {
        StoreError::NotWritable { why, .. } if !wal_is_empty(path) => Err(StoreError::Format {
            path: name,
            why: format!(
                "cannot be read without writing beside it ({why}): its -wal file holds committed batches"
            ),
        }),
        StoreError::NotWritable { .. } => {
            drop(conn);
            Connection::open_with_flags(immutable_uri(path), flags | OpenFlags::SQLITE_OPEN_URI)
                .map_err(|e| classify(&name, "cannot open", e))
        }
        other => Err(other),
    }
}

/// No `-wal` file, or one without frames.
fn wal_is_empty(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map_or(true, |m| m.len() == 0)
}

/// `file:PATH?immutable=1`, the path's bytes percent-encoded where a URI
/// needs it.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}
