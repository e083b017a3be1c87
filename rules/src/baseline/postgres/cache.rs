//! The sensor's local copy of a shared baseline (`[baseline] cache`): an
//! SQLite baseline file written at the end of each run, so that a sensor
//! that starts while the server does not answer has a copy to judge on.
//! Written whole to a new file that then takes the old one's place, so a
//! sensor killed while writing leaves the previous copy.

use crate::baseline::store::{lock, Store};
use crate::baseline::{Baseline, StoreError};
use crate::config::BaselineConfig;
use std::path::{Path, PathBuf};

/// The copy at `path`, and how old it is (seconds).
pub fn read(path: &Path, caps: &BaselineConfig) -> Result<(Baseline, u64), StoreError> {
    let (_, b) = Store::read(path, caps.clone())?;
    let age = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .map_or(0, |d| d.as_secs());
    Ok((b, age))
}

fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Writes `b` whole as the copy at `path`.
pub fn write(path: &Path, b: &Baseline) -> Result<(), StoreError> {
    let new = beside(path, ".new");
    for leftover in [new.clone(), beside(&new, "-wal"), beside(&new, "-shm")] {
        let _ = std::fs::remove_file(leftover);
    }
    {
        let (mut store, _) = Store::open(&new, b.caps().clone())?;
        let mut copy = b.clone();
        copy.mark_all_dirty();
        store.commit(&mut copy)?;
    }
    let _ = std::fs::remove_file(lock::lock_path(&new));
    std::fs::rename(&new, path).map_err(|e| StoreError::NotWritable {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}
