//! Reading the shared baseline into memory: all of it when a run starts,
//! then, after each fold, only the rows changed since the last read.
//!
//! Each read runs in one REPEATABLE READ transaction and keeps its
//! snapshot's `xmin`: every transaction older than that had ended when the
//! snapshot was taken, so its rows were read. The next read asks for rows
//! whose `xid` is at least that `xmin`; a slower sensor's fold that
//! commits after a read is therefore never missed. Rows read twice are
//! the same rows again: reading back is idempotent.

use super::{server_error, Location};
use crate::baseline::{Baseline, Histogram, HostRecord, ImageRecord, Volume};
use crate::baseline::{Meta, StoreError};
use postgres::{Client, IsolationLevel, Row};

/// Where the next read starts (an `xid8`, as text).
pub const FROM_THE_START: &str = "0";

/// What one read brought in.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadBack {
    /// Rows read.
    pub rows: u64,
    /// Rows whose values do not read back, skipped.
    pub damaged: u64,
}

/// Reads every row changed since `since` into `b`; returns what was read
/// and where the next read starts.
pub fn changed_since(
    client: &mut Client,
    at: &Location,
    since: &str,
    b: &mut Baseline,
) -> Result<(ReadBack, String), StoreError> {
    let err = |what: &'static str| move |e| server_error(at, what, e);
    let mut tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(err("cannot start reading"))?;
    let next: String = tx
        .query_one("SELECT pg_snapshot_xmin(pg_current_snapshot())::text", &[])
        .and_then(|r| r.try_get(0))
        .map_err(err("cannot take a snapshot"))?;
    let mut got = ReadBack::default();
    let q = |tx: &mut postgres::Transaction<'_>, sql: &str| {
        tx.query(sql, &[&since]).map_err(err("cannot read"))
    };
    let images = q(&mut tx, "SELECT image, executable, os, first_seen, last_seen, windows, hosts_overflow FROM images WHERE xid >= $1::text::xid8")?;
    for r in &images {
        take(&mut got, image(r), |(k, rec)| b.put_image(k, rec));
    }
    // The most recent sightings first, so that an image's host cap keeps
    // those.
    let sightings = q(&mut tx, "SELECT image, host, first_seen, last_seen FROM image_hosts WHERE xid >= $1::text::xid8 ORDER BY image, last_seen DESC, host")?;
    for r in &sightings {
        take(&mut got, image_host(r), |(img, host, seen)| {
            b.put_sighting(&img, host, seen)
        });
    }
    let hosts = q(
        &mut tx,
        "SELECT host, name, os, role, first_seen, last_seen FROM hosts WHERE xid >= $1::text::xid8",
    )?;
    for r in &hosts {
        take(&mut got, host(r), |(k, rec)| {
            b.hosts.insert(k, rec);
            true
        });
    }
    let volumes = q(&mut tx, "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes WHERE xid >= $1::text::xid8")?;
    for r in &volumes {
        match volume(r) {
            Some((key, v)) => {
                got.rows += 1;
                b.volumes.insert(key, v);
            }
            None => got.damaged += 1,
        }
    }
    b.meta = meta(&mut tx, at, b.meta.window_secs)?;
    tx.commit().map_err(err("cannot end reading"))?;
    b.enforce_caps();
    b.dirty = Default::default();
    Ok((got, next))
}

/// Counts a row and hands it on, or counts it damaged.
fn take<T>(got: &mut ReadBack, row: Option<T>, put: impl FnOnce(T) -> bool) {
    match row.map(put) {
        Some(true) => got.rows += 1,
        Some(false) | None => got.damaged += 1,
    }
}

fn meta(
    tx: &mut postgres::Transaction<'_>,
    at: &Location,
    window_secs: u64,
) -> Result<Meta, StoreError> {
    let rows = tx
        .query("SELECT key, value FROM meta", &[])
        .map_err(|e| server_error(at, "cannot read", e))?;
    let mut m = Meta {
        window_secs,
        ..Meta::default()
    };
    for r in &rows {
        let (Ok(k), Ok(v)) = (r.try_get::<_, String>(0), r.try_get::<_, String>(1)) else {
            continue;
        };
        m.set(&k, &v);
    }
    Ok(m)
}

fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn image(r: &Row) -> Option<(String, ImageRecord)> {
    Some((
        r.try_get(0).ok()?,
        ImageRecord {
            executable: r.try_get(1).ok()?,
            os: r.try_get(2).ok()?,
            first_seen: u(r.try_get(3).ok()?),
            last_seen: u(r.try_get(4).ok()?),
            windows: u(r.try_get(5).ok()?),
            hosts: Default::default(),
            hosts_overflow: r.try_get(6).ok()?,
        },
    ))
}

fn image_host(r: &Row) -> Option<(String, String, (u64, u64))> {
    Some((
        r.try_get(0).ok()?,
        r.try_get(1).ok()?,
        (u(r.try_get(2).ok()?), u(r.try_get(3).ok()?)),
    ))
}

fn host(r: &Row) -> Option<(String, HostRecord)> {
    Some((
        r.try_get(0).ok()?,
        HostRecord {
            name: r.try_get(1).ok()?,
            os: r.try_get(2).ok()?,
            role: r.try_get(3).ok()?,
            first_seen: u(r.try_get(4).ok()?),
            last_seen: u(r.try_get(5).ok()?),
        },
    ))
}

fn volume(r: &Row) -> Option<((String, String), Volume)> {
    let h = |i: usize| Histogram::from_json(&r.try_get::<_, String>(i).ok()?);
    Some((
        (r.try_get(0).ok()?, r.try_get(1).ok()?),
        Volume {
            dest_bytes_out: h(2)?,
            window_bytes_out: h(3)?,
            http_connections: h(4)?,
            response_ratio_milli: h(5)?,
        },
    ))
}
