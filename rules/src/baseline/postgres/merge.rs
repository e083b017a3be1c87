//! Folding one batch into the shared baseline, as one transaction.
//!
//! Many sensors fold at once, so no sensor writes its copy of a row: each
//! sends what its batch adds, and the server merges. Images, sightings
//! and hosts are upserts whose merge commutes (earliest first sighting,
//! latest last sighting, window counts added), so concurrent sensors need
//! no lock beyond the row the upsert takes, and none can undo another's
//! update. A volume history is a histogram in one column: its row is
//! locked (`SELECT ... FOR UPDATE`), merged here and written back, so a
//! concurrent fold waits for it rather than overwriting it. Rows are
//! taken in key order, the same in every sensor, so two folds never
//! deadlock. The batch's name (`folds`) is written first: a batch whose
//! commit answer was lost and that is sent again is found there and not
//! folded twice.

use crate::baseline::{Baseline, Histogram, Volume};
use postgres::Transaction;

/// How a fold ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folded {
    /// The batch is in.
    Now,
    /// The batch was already in (sent before, its answer lost).
    Before,
}

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Writes `delta` (one batch's windows folded into an empty baseline)
/// under the name (`writer`, `batch`). The caller commits.
pub fn fold(
    tx: &mut Transaction<'_>,
    writer: &str,
    batch: u64,
    delta: &Baseline,
) -> Result<Folded, postgres::Error> {
    let fresh = tx.execute(
        "INSERT INTO folds (writer, batch, windows) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&writer, &i(batch), &i(delta.meta.windows_folded)],
    )?;
    if fresh == 0 {
        return Ok(Folded::Before);
    }
    images(tx, delta)?;
    hosts(tx, delta)?;
    volumes(tx, delta)?;
    meta(tx, delta)?;
    Ok(Folded::Now)
}

fn sorted<K: Ord, V>(m: &std::collections::HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<(&K, &V)> = m.iter().collect();
    v.sort_unstable_by(|a, b| a.0.cmp(b.0));
    v
}

fn images(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let put = tx.prepare(
        "INSERT INTO images AS i (image, executable, os, first_seen, last_seen, windows, hosts_overflow)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (image) DO UPDATE SET
           executable = CASE WHEN EXCLUDED.first_seen < i.first_seen
                             THEN EXCLUDED.executable ELSE i.executable END,
           os = COALESCE(i.os, EXCLUDED.os),
           first_seen = LEAST(i.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(i.last_seen, EXCLUDED.last_seen),
           windows = i.windows + EXCLUDED.windows,
           hosts_overflow = i.hosts_overflow OR EXCLUDED.hosts_overflow,
           xid = pg_current_xact_id()",
    )?;
    let seen = tx.prepare(
        "INSERT INTO image_hosts AS s (image, host, first_seen, last_seen) VALUES ($1, $2, $3, $4)
         ON CONFLICT (image, host) DO UPDATE SET
           first_seen = LEAST(s.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
           xid = pg_current_xact_id()",
    )?;
    let all = sorted(&delta.images);
    for (k, r) in &all {
        tx.execute(
            &put,
            &[
                k,
                &r.executable,
                &r.os,
                &i(r.first_seen),
                &i(r.last_seen),
                &i(r.windows),
                &r.hosts_overflow,
            ],
        )?;
    }
    for (k, r) in &all {
        for (host, &(first, last)) in &r.hosts {
            tx.execute(&seen, &[k, host, &i(first), &i(last)])?;
        }
    }
    Ok(())
}

fn hosts(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let put = tx.prepare(
        "INSERT INTO hosts AS h (host, name, os, role, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (host) DO UPDATE SET
           name = CASE WHEN EXCLUDED.first_seen < h.first_seen THEN EXCLUDED.name ELSE h.name END,
           os = CASE WHEN EXCLUDED.last_seen >= h.last_seen THEN COALESCE(EXCLUDED.os, h.os)
                     ELSE COALESCE(h.os, EXCLUDED.os) END,
           role = CASE WHEN EXCLUDED.last_seen >= h.last_seen THEN EXCLUDED.role ELSE h.role END,
           first_seen = LEAST(h.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(h.last_seen, EXCLUDED.last_seen),
           xid = pg_current_xact_id()",
    )?;
    for (k, h) in sorted(&delta.hosts) {
        tx.execute(
            &put,
            &[
                k,
                &h.name,
                &h.os,
                &h.role,
                &i(h.first_seen),
                &i(h.last_seen),
            ],
        )?;
    }
    Ok(())
}

fn volumes(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let lock = tx.prepare(
        "SELECT dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli
         FROM volumes WHERE image = $1 AND role = $2 FOR UPDATE",
    )?;
    let update = tx.prepare(
        "UPDATE volumes SET dest_bytes_out = $3, window_bytes_out = $4, http_connections = $5,
           response_ratio_milli = $6, xid = pg_current_xact_id() WHERE image = $1 AND role = $2",
    )?;
    let insert = tx.prepare(
        "INSERT INTO volumes (image, role, dest_bytes_out, window_bytes_out, http_connections,
           response_ratio_milli) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )?;
    for ((image, role), add) in sorted(&delta.volumes) {
        // Twice at most: a row another sensor inserted between the lock
        // and the insert is there to lock the second time.
        for _ in 0..2 {
            let held = tx.query_opt(&lock, &[image, role])?;
            let (stmt, v) = match held {
                Some(row) => (&update, merged(&row, add)),
                None => (&insert, add.clone()),
            };
            let n = tx.execute(
                stmt,
                &[
                    image,
                    role,
                    &v.dest_bytes_out.to_json(),
                    &v.window_bytes_out.to_json(),
                    &v.http_connections.to_json(),
                    &v.response_ratio_milli.to_json(),
                ],
            )?;
            if n == 1 {
                break;
            }
        }
    }
    Ok(())
}

/// The locked row's histograms with `add`'s merged in; a column that does
/// not read back is replaced by what is added.
fn merged(row: &postgres::Row, add: &Volume) -> Volume {
    let merge = |i: usize, add: &Histogram| {
        let mut h = row
            .try_get::<_, String>(i)
            .ok()
            .and_then(|s| Histogram::from_json(&s))
            .unwrap_or_default();
        h.merge(add);
        h
    };
    Volume {
        dest_bytes_out: merge(0, &add.dest_bytes_out),
        window_bytes_out: merge(1, &add.window_bytes_out),
        http_connections: merge(2, &add.http_connections),
        response_ratio_milli: merge(3, &add.response_ratio_milli),
    }
}

fn meta(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let m = &delta.meta;
    // The run-level counters are a sum over sensors, the latest window a
    // maximum; the window length is the one the fleet learns with.
    let sql =
        "INSERT INTO meta AS m (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value =
         CASE $3 WHEN 'sum' THEN (m.value::numeric + EXCLUDED.value::numeric)::text
                 WHEN 'max' THEN GREATEST(m.value::numeric, EXCLUDED.value::numeric)::text
                 ELSE EXCLUDED.value END";
    for (key, value, how) in [
        ("last_window_end", m.last_window_end, "max"),
        ("window_secs", m.window_secs, "set"),
        ("windows_folded", m.windows_folded, "sum"),
        ("batches", m.batches, "sum"),
    ] {
        tx.execute(sql, &[&key, &value.to_string(), &how])?;
    }
    Ok(())
}
