//! Where a baseline is kept between runs: backends behind one interface,
//! picked by the location's scheme (`sqlite:PATH`, or a plain path for the
//! default, SQLite; `postgres://...` for a fleet's shared baseline). A
//! backend is a file of its own with a [`BackendSpec`], listed in
//! [`BACKENDS`].

use super::{postgres, store, Baseline, Observation, StoreError};
use crate::config::BaselineConfig;
use std::path::Path;

/// An open baseline, held for writing.
pub trait Backend: Send {
    /// Writes one batch, all or nothing, then marks `b` clean. `b` has
    /// the batch folded in already (what changed is in `b.dirty`);
    /// `folded` is the batch itself, for a backend that merges what many
    /// writers send rather than storing one writer's copy. A shared
    /// backend also brings into `b` what other writers committed.
    fn commit(&mut self, b: &mut Baseline, folded: &[Observation]) -> Result<(), StoreError>;

    /// Ends the run: whatever is still queued is written, or the error
    /// says how much was not.
    fn close(&mut self, _b: &mut Baseline) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What the location held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// A baseline (perhaps empty).
    Existing,
    /// Nothing: a new one was made to write into.
    New,
    /// Nothing, and nothing was made (read only).
    Missing,
}

/// An opened baseline: what it holds, and its writer when the run learns.
pub struct Opened {
    /// The writer, when opened for writing.
    pub writer: Option<Box<dyn Backend>>,
    /// The baseline as last committed.
    pub baseline: Baseline,
    /// What the location held.
    pub found: Found,
    /// Rows that could not be read back (damaged values), skipped.
    pub damaged_rows: u64,
}

/// A kind of backend.
pub struct BackendSpec {
    /// The scheme a location names it by (`sqlite` in `sqlite:PATH`).
    pub scheme: &'static str,
    /// Opens the location (the part after `scheme:`), for writing (one
    /// writer at a time, checked whole and writable) or only to read it
    /// (nothing created, nothing locked).
    pub open: fn(&Path, BaselineConfig, bool) -> Result<Opened, StoreError>,
}

/// Every backend; the first is the default for a plain path.
pub const BACKENDS: &[BackendSpec] = &[store::SQLITE, postgres::POSTGRES, postgres::POSTGRESQL];

/// Opens the baseline at `location`, for writing when `write`.
pub fn open(location: &Path, caps: BaselineConfig, write: bool) -> Result<Opened, StoreError> {
    let text = location.to_str().unwrap_or_default();
    for spec in BACKENDS {
        if let Some(rest) = text
            .strip_prefix(spec.scheme)
            .and_then(|r| r.strip_prefix(':'))
        {
            return (spec.open)(Path::new(rest), caps, write);
        }
    }
    if let Some((scheme, _)) = text.split_once("://") {
        if !scheme.is_empty() && scheme.bytes().all(|b| b.is_ascii_alphanumeric()) {
            let known: Vec<&str> = BACKENDS.iter().map(|s| s.scheme).collect();
            return Err(StoreError::Format {
                path: text.to_string(),
                why: format!(
                    "unknown baseline backend {scheme:?} (known: {}; a plain path is SQLite)",
                    known.join(", ")
                ),
            });
        }
    }
    match BACKENDS.first() {
        Some(default) => (default.open)(location, caps, write),
        None => Err(StoreError::Format {
            path: text.to_string(),
            why: "no baseline backend".into(),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("procflow-backend-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(name);
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn a_plain_path_and_a_sqlite_location_open_the_same_file() {
        let p = temp("a.db");
        let caps = BaselineConfig::default();
        let missing = open(&p, caps.clone(), false).unwrap();
        assert_eq!(missing.found, Found::Missing);
        assert!(missing.writer.is_none());
        assert!(!p.exists(), "reading creates nothing");
        let made = open(&p, caps.clone(), true).unwrap();
        assert_eq!(made.found, Found::New);
        assert!(made.writer.is_some());
        drop(made);
        let named = format!("sqlite:{}", p.display());
        let again = open(Path::new(&named), caps, false).unwrap();
        assert_eq!(again.found, Found::Existing);
    }

    #[test]
    fn an_unknown_scheme_is_refused_by_name() {
        let err = open(
            Path::new("mongodb://db.example/base"),
            BaselineConfig::default(),
            false,
        )
        .err()
        .unwrap()
        .to_string();
        assert_eq!(
            err,
            "baseline mongodb://db.example/base: unknown baseline backend \"mongodb\" (known: sqlite, postgres, postgresql; a plain path is SQLite)"
        );
    }
}
