//! The baseline loader on damaged files.
//!
//! Input byte 0 picks the mode. Even: the rest is the whole file (an
//! SQLite database or not). Odd: a valid baseline is made, then each line
//! of the rest becomes a row: its first byte picks the table, `|`
//! separates the values, a value that reads as an integer is stored as
//! one and anything else as text (SQLite keeps whatever it is given).
//! Oracles: an error is one line; a baseline that opens holds to its caps,
//! commits, and opens again within them.

use super::scratch;
use rules::baseline::Store;
use rules::config::BaselineConfig;
use rusqlite::types::Value;

const TABLES: [(&str, usize); 5] = [
    ("images", 7),
    ("image_hosts", 4),
    ("hosts", 6),
    ("volumes", 6),
    ("meta", 2),
];

fn caps() -> BaselineConfig {
    BaselineConfig {
        max_images: 4,
        max_hosts_per_image: 2,
        max_hosts: 3,
        ..BaselineConfig::default()
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        scratch::with_file("db", rest, check);
    } else {
        scratch::with_file("db", &[], |path| {
            let _ = std::fs::remove_file(path);
            if let Err(e) = Store::open(path, caps()) {
                panic!("a new baseline does not open: {e}");
            }
            fill(path, rest);
            check(path);
        });
    }
}

/// Adds a row per line of `rows`; a row SQLite refuses is left out.
fn fill(path: &std::path::Path, rows: &[u8]) {
    let conn = match rusqlite::Connection::open(path) {
        Ok(c) => c,
        Err(e) => panic!("cannot open the new baseline: {e}"),
    };
    for line in rows.split(|b| *b == b'\n') {
        let Some((pick, fields)) = line.split_first() else {
            continue;
        };
        let Some((table, n)) = TABLES.get(usize::from(*pick) % TABLES.len()) else {
            continue;
        };
        let mut values: Vec<Value> = fields
            .split(|b| *b == b'|')
            .map(|f| {
                let s = String::from_utf8_lossy(f).into_owned();
                s.parse::<i64>().map_or(Value::Text(s), Value::Integer)
            })
            .collect();
        values.resize(*n, Value::Null);
        let marks = vec!["?"; *n].join(", ");
        let sql = format!("INSERT OR REPLACE INTO {table} VALUES ({marks})");
        let _ = conn.execute(&sql, rusqlite::params_from_iter(values));
    }
}

/// Opens the baseline at `path`, checks it, commits it and opens it again.
fn check(path: &std::path::Path) {
    let caps = caps();
    let (mut store, mut b) = match Store::open(path, caps.clone()) {
        Ok(s) => s,
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "error of several lines: {shown}");
            return;
        }
    };
    within_caps(&b, &caps);
    if let Err(e) = store.commit(&mut b) {
        assert!(!e.to_string().contains('\n'), "error of several lines: {e}");
        return;
    }
    drop(store);
    match Store::open(path, caps.clone()) {
        Ok((_, again)) => within_caps(&again, &caps),
        Err(e) => panic!("a committed baseline does not open again: {e}"),
    }
}

fn within_caps(b: &rules::Baseline, caps: &BaselineConfig) {
    assert!(
        b.images.len() <= caps.max_images,
        "{} images",
        b.images.len()
    );
    assert!(b.hosts.len() <= caps.max_hosts, "{} hosts", b.hosts.len());
    for (k, img) in &b.images {
        assert!(
            img.hosts.len() <= caps.max_hosts_per_image,
            "{k}: {} hosts",
            img.hosts.len()
        );
    }
}
