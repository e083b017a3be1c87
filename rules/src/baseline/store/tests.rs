//! The baseline file: round trip, refusals, one writer at a time.

use super::*;
use crate::baseline::{Meta, Observation};
use rusqlite::Connection;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-store-{}-{name}", std::process::id()));
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

fn waiting(secs: u64) -> BaselineConfig {
    BaselineConfig {
        lock_wait_secs: secs,
        ..BaselineConfig::default()
    }
}

#[test]
fn a_second_writer_is_refused_with_the_holders_pid() {
    let path = tmp("busy");
    let first = Store::open(&path, BaselineConfig::default()).unwrap();
    let e = Store::open(&path, BaselineConfig::default()).err().unwrap();
    assert_eq!(
        e.to_string(),
        format!(
            "baseline {}: another procflow is writing it (pid {}): one writer at a time \
             (read without --learn reads it meanwhile; [baseline] lock_wait_secs waits for the writer)",
            path.display(),
            std::process::id()
        )
    );
    assert_eq!(
        std::fs::read_to_string(lock::lock_path(&path)).unwrap(),
        format!("{}\n", std::process::id())
    );
    // A reader needs no lock and sees what the writer committed.
    let (info, b) = Store::read(&path, BaselineConfig::default()).unwrap();
    assert_eq!(info, ReadInfo::default());
    assert_eq!(b.meta, Meta::default());
    drop(first);
    // Released with the store: the next writer gets it.
    drop(Store::open(&path, BaselineConfig::default()).unwrap());
}

#[test]
fn a_waiting_writer_loads_what_the_first_committed() {
    let path = tmp("wait");
    let (mut s, mut b) = Store::open(&path, BaselineConfig::default()).unwrap();
    let started = std::time::Instant::now();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        b.meta.batches = 7;
        s.commit(&mut b).unwrap();
    });
    let (_s2, b2) = Store::open(&path, waiting(10)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(b2.meta.batches, 7);
    writer.join().unwrap();
}

#[test]
fn the_wait_is_bounded() {
    let path = tmp("bounded");
    let _first = Store::open(&path, BaselineConfig::default()).unwrap();
    let started = std::time::Instant::now();
    let e = Store::open(&path, waiting(1)).err().unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        e.to_string().contains(&format!(
            "writing it (pid {}), still after 1 s: one writer",
            std::process::id()
        )),
        "{e}"
    );
}

#[test]
fn reading_creates_nothing() {
    let path = tmp("missing");
    let (info, b) = Store::read(&path, BaselineConfig::default()).unwrap();
    assert!(info.missing);
    assert!(b.images.is_empty());
    assert!(!path.exists());
    assert!(!lock::lock_path(&path).exists());
}

/// Overwrites the header of the index page nearest the middle of the file
/// (an index: reading the tables alone would never notice): its page type
/// stays, its cell count and content offset become nonsense.
pub fn damage_a_middle_page(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let pages = bytes.len() / size;
    let middle = (1..pages)
        .filter(|&p| [2u8, 10].contains(&bytes[p * size]))
        .min_by_key(|&p| p.abs_diff(pages / 2))
        .expect("an index page");
    for b in &mut bytes[middle * size + 3..middle * size + 7] {
        *b = 0xff;
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_page_is_found_at_open() {
    let path = tmp("damaged");
    let (mut s, mut b) = Store::open(&path, BaselineConfig::default()).unwrap();
    for i in 0..200u64 {
        b.fold(&Observation {
            host: format!("h{i}"),
            host_name: format!("H{i}"),
            image: format!("/opt/tool{i}"),
            executable: format!("/opt/tool{i}"),
            os: Some("linux".into()),
            role: "default".into(),
            start: 0,
            end: 600,
            first_flow: 1,
            dest_bytes_out: vec![i],
            bytes_out: i,
            bytes_in: 1,
            http_connections: 1,
        });
    }
    s.commit(&mut b).unwrap();
    drop(s);
    // The last connection's close moved every frame into the file.
    assert!(wal_is_empty(&path));
    damage_a_middle_page(&path);
    let want = format!("baseline {}: damaged: ", path.display());
    let e = Store::open(&path, BaselineConfig::default()).err().unwrap();
    assert!(e.to_string().starts_with(&want), "{e}");
    assert!(e.to_string().contains("(PRAGMA quick_check"), "{e}");
    let e = Store::read(&path, BaselineConfig::default()).err().unwrap();
    assert!(e.to_string().starts_with(&want), "{e}");
}

#[test]
fn immutable_uri_escapes_what_a_uri_needs() {
    assert_eq!(
        immutable_uri(Path::new("/a b/x?y#z%.db")),
        "file:/a%20b/x%3Fy%23z%25.db?immutable=1"
    );
}
