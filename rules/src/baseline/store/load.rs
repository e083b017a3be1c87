//! Reading a baseline file into memory. Rows whose values cannot be read
//! back are skipped and counted.

use super::super::{Baseline, Histogram, HostRecord, ImageRecord, Meta, Volume};
use super::schema::classify;
use super::{to_u64, StoreError};
use crate::config::BaselineConfig;
use rusqlite::{Connection, Row};

/// Every row of `conn`, within `caps`; the number of damaged rows skipped.
pub fn load(
    conn: &Connection,
    path: &str,
    caps: BaselineConfig,
) -> Result<(Baseline, u64), StoreError> {
    let mut b = Baseline::new(caps);
    let mut damaged = 0u64;
    b.meta = meta(conn, path)?;
    each(
        conn,
        path,
        "SELECT image, executable, os, first_seen, last_seen, windows, hosts_overflow FROM images",
        image,
        |(k, rec)| {
            b.images.insert(k, rec);
        },
    )?;
    each(
        conn,
        path,
        "SELECT image, host, first_seen, last_seen FROM image_hosts",
        image_host,
        |(img, host, seen)| match b.images.get_mut(&img) {
            Some(rec) => {
                rec.hosts.insert(host, seen);
            }
            None => damaged += 1,
        },
    )?;
    each(
        conn,
        path,
        "SELECT host, name, os, role, first_seen, last_seen FROM hosts",
        host,
        |(k, rec)| {
            b.hosts.insert(k, rec);
        },
    )?;
    each(conn, path, "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes", volume, |(key, v)| {
        match v {
            Some(v) => {
                b.volumes.insert(key, v);
            }
            None => damaged += 1,
        }
    })?;
    // A file larger than this run's caps is cut down at once, so memory
    // stays within them; the next commit writes the cut.
    b.enforce_caps();
    Ok((b, damaged))
}

/// Runs `sql` and hands every row, read by `read`, to `take`.
fn each<T>(
    conn: &Connection,
    path: &str,
    sql: &str,
    read: fn(&Row<'_>) -> rusqlite::Result<T>,
    mut take: impl FnMut(T),
) -> Result<(), StoreError> {
    let err = |e| classify(path, "cannot read", e);
    let mut q = conn.prepare(sql).map_err(err)?;
    for row in q.query_map([], read).map_err(err)? {
        take(row.map_err(err)?);
    }
    Ok(())
}

fn meta(conn: &Connection, path: &str) -> Result<Meta, StoreError> {
    let mut m = Meta::default();
    each(
        conn,
        path,
        "SELECT key, value FROM meta",
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        |(k, v)| m.set(&k, &v),
    )?;
    Ok(m)
}

fn image(r: &Row<'_>) -> rusqlite::Result<(String, ImageRecord)> {
    Ok((
        r.get(0)?,
        ImageRecord {
            executable: r.get(1)?,
            os: r.get(2)?,
            first_seen: to_u64(r.get(3)?),
            last_seen: to_u64(r.get(4)?),
            windows: to_u64(r.get(5)?),
            hosts: Default::default(),
            hosts_overflow: r.get::<_, i64>(6)? != 0,
        },
    ))
}

fn image_host(r: &Row<'_>) -> rusqlite::Result<(String, String, (u64, u64))> {
    Ok((r.get(0)?, r.get(1)?, (to_u64(r.get(2)?), to_u64(r.get(3)?))))
}

fn host(r: &Row<'_>) -> rusqlite::Result<(String, HostRecord)> {
    Ok((
        r.get(0)?,
        HostRecord {
            name: r.get(1)?,
            os: r.get(2)?,
            role: r.get(3)?,
            first_seen: to_u64(r.get(4)?),
            last_seen: to_u64(r.get(5)?),
        },
    ))
}

/// A volume row; `None` when a histogram does not read back.
fn volume(r: &Row<'_>) -> rusqlite::Result<((String, String), Option<Volume>)> {
    let h = |i: usize| -> rusqlite::Result<Option<Histogram>> {
        Ok(Histogram::from_json(&r.get::<_, String>(i)?))
    };
    let v = match (h(2)?, h(3)?, h(4)?, h(5)?) {
        (Some(a), Some(w), Some(c), Some(ratio)) => Some(Volume {
            dest_bytes_out: a,
            window_bytes_out: w,
            http_connections: c,
            response_ratio_milli: ratio,
        }),
        _ => None,
    };
    Ok(((r.get(0)?, r.get(1)?), v))
}
