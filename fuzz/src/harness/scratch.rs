//! Scratch files for targets whose input goes through a path (capture
//! files, configuration, baselines): one private directory per process,
//! one file name per use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh path in this process's scratch directory, ending in `ext`.
/// The directory is under the system's temporary directory.
pub fn path(ext: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-fuzz-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("scratch directory {}: {e}", dir.display());
    }
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{n}.{ext}"))
}

/// Writes `bytes` to a fresh scratch file, gives `f` its path, then
/// removes the file (and the files SQLite puts beside it).
pub fn with_file<T>(ext: &str, bytes: &[u8], f: impl FnOnce(&std::path::Path) -> T) -> T {
    let p = path(ext);
    if let Err(e) = std::fs::write(&p, bytes) {
        panic!("scratch file {}: {e}", p.display());
    }
    let out = f(&p);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut s = p.clone().into_os_string();
        s.push(suffix);
        let _ = std::fs::remove_file(s);
    }
    out
}
