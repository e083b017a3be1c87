//! Writing what changed since the last batch, as one transaction.

use super::super::Baseline;
use super::to_i64;
use rusqlite::{params, Transaction};

/// Deletes the rows of forgotten images and hosts.
pub fn removed(tx: &Transaction<'_>, b: &Baseline) -> rusqlite::Result<()> {
    let d = &b.dirty;
    for img in &d.removed_images {
        for sql in [
            "DELETE FROM images WHERE image = ?1",
            "DELETE FROM image_hosts WHERE image = ?1",
            "DELETE FROM volumes WHERE image = ?1",
        ] {
            tx.prepare_cached(sql)?.execute(params![img])?;
        }
    }
    for host in &d.removed_hosts {
        tx.prepare_cached("DELETE FROM hosts WHERE host = ?1")?
            .execute(params![host])?;
    }
    Ok(())
}

/// Writes the changed images and their host sightings.
pub fn images(tx: &Transaction<'_>, b: &Baseline) -> rusqlite::Result<()> {
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO images VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    for k in &b.dirty.images {
        if let Some(r) = b.images.get(k) {
            put.execute(params![
                k,
                r.executable,
                r.os,
                to_i64(r.first_seen),
                to_i64(r.last_seen),
                to_i64(r.windows),
                i64::from(r.hosts_overflow)
            ])?;
        }
    }
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO image_hosts VALUES (?1, ?2, ?3, ?4)")?;
    for (img, host) in &b.dirty.image_hosts {
        if let Some(&(first, last)) = b.images.get(img).and_then(|r| r.hosts.get(host)) {
            put.execute(params![img, host, to_i64(first), to_i64(last)])?;
        }
    }
    Ok(())
}

/// Writes the changed hosts.
pub fn hosts(tx: &Transaction<'_>, b: &Baseline) -> rusqlite::Result<()> {
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO hosts VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for k in &b.dirty.hosts {
        if let Some(h) = b.hosts.get(k) {
            put.execute(params![
                k,
                h.name,
                h.os,
                h.role,
                to_i64(h.first_seen),
                to_i64(h.last_seen)
            ])?;
        }
    }
    Ok(())
}

/// Writes the changed volume histories and the run-level facts.
pub fn volumes_and_meta(tx: &Transaction<'_>, b: &Baseline) -> rusqlite::Result<()> {
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO volumes VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?;
    for key in &b.dirty.volumes {
        if let Some(v) = b.volumes.get(key) {
            put.execute(params![
                key.0,
                key.1,
                v.dest_bytes_out.to_json(),
                v.window_bytes_out.to_json(),
                v.http_connections.to_json(),
                v.response_ratio_milli.to_json()
            ])?;
        }
    }
    let m = &b.meta;
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO meta VALUES (?1, ?2)")?;
    for (k, v) in m.entries() {
        put.execute(params![k, v.to_string()])?;
    }
    Ok(())
}
