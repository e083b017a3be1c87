//! Flow records are written by hand (`FlowRecord::to_json`) for speed;
//! their `Serialize` is the reference. On every record of every capture
//! in `pcaps/` and the corpus (`PROCFLOW_CORPUS`, default
//! `../shared/corpus`), the two must give the same bytes.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::file::FileSource;
use capture::{Engine, FlowConfig, FlowRecord};
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

#[test]
fn written_records_equal_their_serialization() {
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
            "written_records_equal_their_serialization: corpus not found at {}: only pcaps/ compared",
            corpus.display()
        );
    }
    let (mut records, mut http, mut tls, mut v6) = (0, 0, 0, 0);
    for f in &files {
        let Ok(mut src) = FileSource::open(f) else {
            continue;
        };
        let mut engine = Engine::new(FlowConfig::default(), 1);
        let mut all: Vec<FlowRecord> = Vec::new();
        src.for_each(|link, ts, frame, wire| {
            engine.process_frame(link, ts, frame, wire, &mut |r| all.push(r));
        });
        engine.finish(&mut |r| all.push(r));
        for r in &all {
            assert_eq!(
                r.to_json(),
                serde_json::to_string(r).unwrap(),
                "{}",
                f.display()
            );
            http += r.http.len();
            tls += usize::from(r.tls.is_some());
            v6 += usize::from(r.source.ip.is_ipv6());
        }
        records += all.len();
    }
    println!(
        "{} captures, {records} records ({http} HTTP transactions, {tls} TLS, {v6} IPv6) written alike",
        files.len()
    );
    // What pcaps/ alone holds, at least.
    assert!(
        records >= 54 && http >= 51 && tls >= 5 && v6 >= 1,
        "{records} {http} {tls} {v6}"
    );
}
