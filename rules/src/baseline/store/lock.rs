//! One writer at a time. A writer loads the whole baseline when it starts
//! and writes its rows back from memory, so two writers at once would each
//! overwrite the other's work. The lock is `flock` on a file beside the
//! database (`DB-lock`), held for the writer's whole run: the kernel drops
//! it when the process ends, however it ends, so a killed writer never
//! leaves a stale lock. The holder writes its pid into the file so that a
//! refused writer can say who holds it.

use super::StoreError;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a waiting writer tries the lock again.
const RETRY: Duration = Duration::from_millis(50);

/// The writer's lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _file: Flock<File>,
}

/// The lock file of the baseline at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-lock");
    PathBuf::from(name)
}

impl WriterLock {
    /// Takes the lock of the baseline at `db`, waiting at most `wait` for
    /// another writer to finish.
    pub fn acquire(db: &Path, wait: Duration) -> Result<WriterLock, StoreError> {
        let path = lock_path(db);
        let not_writable = |e: std::io::Error| StoreError::NotWritable {
            path: db.display().to_string(),
            why: format!("cannot open its lock file {}: {e}", path.display()),
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(not_writable)?;
        let start = Instant::now();
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(mut held) => {
                    // The pid is for the message of a refused writer only;
                    // failing to write it costs nothing else.
                    let _ = held
                        .set_len(0)
                        .and_then(|()| writeln!(held, "{}", std::process::id()));
                    return Ok(WriterLock { _file: held });
                }
                Err((back, Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                    file = back;
                    std::thread::sleep(RETRY.min(wait.saturating_sub(start.elapsed())));
                }
                Err((_, Errno::EWOULDBLOCK)) => {
                    return Err(StoreError::Busy {
                        path: db.display().to_string(),
                        holder: holder(&path),
                        waited: wait.as_secs(),
                    })
                }
                Err((_, e)) => {
                    return Err(not_writable(std::io::Error::from_raw_os_error(e as i32)))
                }
            }
        }
    }
}

/// The pid the holder wrote, when it can be read.
fn holder(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
