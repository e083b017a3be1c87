//! The captures tests run over: every one in `pcaps/`, and every one of
//! the shared corpus (`PROCFLOW_CORPUS`, default `../shared/corpus`) when
//! it is there.

use std::path::{Path, PathBuf};

fn captures_in(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            captures_in(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "pcap" || x == "pcapng" || x == "cap")
        {
            out.push(p);
        }
    }
}

/// Every capture at hand, sorted; says so when the corpus is missing, in
/// the name of `test`.
pub(crate) fn every_capture(test: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    captures_in(&root.join("pcaps"), &mut files);
    let corpus = std::env::var_os("PROCFLOW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/corpus"));
    let ours = files.len();
    captures_in(&corpus, &mut files);
    if files.len() == ours {
        eprintln!(
            "{test}: corpus not found at {}: only pcaps/ used",
            corpus.display()
        );
    }
    files.sort();
    files
}
