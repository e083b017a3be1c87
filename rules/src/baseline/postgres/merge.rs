//! Folding one batch into the shared baseline, as one transaction.
//!
//! Many sensors fold at once, so no sensor writes its copy of a row: each
//! sends what its batch adds, and the server merges. Images, sightings
//! and hosts are upserts whose merge commutes (earliest first sighting,
//! latest last sighting, window counts added), so concurrent sensors need
//! no lock beyond the row the upsert takes, and none can undo another's
//! update. A volume history is a histogram in one column: its rows are
//! locked (`SELECT ... FOR UPDATE`), merged here and written back, so a
//! concurrent fold waits for them rather than overwriting them. Each
//! table takes one statement, its rows as arrays (`UNNEST`). Rows are
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
    // One statement per table, the rows as arrays (UNNEST), in key order.
    let all = sorted(&delta.images);
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let exes: Vec<&str> = all.iter().map(|(_, r)| r.executable.as_str()).collect();
    let oses: Vec<Option<&str>> = all.iter().map(|(_, r)| r.os.as_deref()).collect();
    let firsts: Vec<i64> = all.iter().map(|(_, r)| i(r.first_seen)).collect();
    let lasts: Vec<i64> = all.iter().map(|(_, r)| i(r.last_seen)).collect();
    let windows: Vec<i64> = all.iter().map(|(_, r)| i(r.windows)).collect();
    let overflow: Vec<bool> = all.iter().map(|(_, r)| r.hosts_overflow).collect();
    tx.execute(
        "INSERT INTO images AS i (image, executable, os, first_seen, last_seen, windows, hosts_overflow)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bool[])
         ON CONFLICT (image) DO UPDATE SET
           executable = CASE WHEN EXCLUDED.first_seen < i.first_seen
                             THEN EXCLUDED.executable ELSE i.executable END,
           os = COALESCE(i.os, EXCLUDED.os),
           first_seen = LEAST(i.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(i.last_seen, EXCLUDED.last_seen),
           windows = i.windows + EXCLUDED.windows,
           hosts_overflow = i.hosts_overflow OR EXCLUDED.hosts_overflow,
           xid = pg_current_xact_id()",
        &[&keys, &exes, &oses, &firsts, &lasts, &windows, &overflow],
    )?;
    let mut sightings: Vec<(&str, &str, i64, i64)> = all
        .iter()
        .flat_map(|(k, r)| {
            r.hosts
                .iter()
                .map(move |(h, &(f, l))| (k.as_str(), h.as_str(), i(f), i(l)))
        })
        .collect();
    sightings.sort_unstable();
    let imgs: Vec<&str> = sightings.iter().map(|s| s.0).collect();
    let hosts: Vec<&str> = sightings.iter().map(|s| s.1).collect();
    let firsts: Vec<i64> = sightings.iter().map(|s| s.2).collect();
    let lasts: Vec<i64> = sightings.iter().map(|s| s.3).collect();
    tx.execute(
        "INSERT INTO image_hosts AS s (image, host, first_seen, last_seen)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[])
         ON CONFLICT (image, host) DO UPDATE SET
           first_seen = LEAST(s.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(s.last_seen, EXCLUDED.last_seen),
           xid = pg_current_xact_id()",
        &[&imgs, &hosts, &firsts, &lasts],
    )?;
    Ok(())
}

fn hosts(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let all = sorted(&delta.hosts);
    let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
    let names: Vec<&str> = all.iter().map(|(_, h)| h.name.as_str()).collect();
    let oses: Vec<Option<&str>> = all.iter().map(|(_, h)| h.os.as_deref()).collect();
    let roles: Vec<&str> = all.iter().map(|(_, h)| h.role.as_str()).collect();
    let firsts: Vec<i64> = all.iter().map(|(_, h)| i(h.first_seen)).collect();
    let lasts: Vec<i64> = all.iter().map(|(_, h)| i(h.last_seen)).collect();
    tx.execute(
        "INSERT INTO hosts AS h (host, name, os, role, first_seen, last_seen)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
         ON CONFLICT (host) DO UPDATE SET
           name = CASE WHEN EXCLUDED.first_seen < h.first_seen THEN EXCLUDED.name ELSE h.name END,
           os = CASE WHEN EXCLUDED.last_seen >= h.last_seen THEN COALESCE(EXCLUDED.os, h.os)
                     ELSE COALESCE(h.os, EXCLUDED.os) END,
           role = CASE WHEN EXCLUDED.last_seen >= h.last_seen THEN EXCLUDED.role ELSE h.role END,
           first_seen = LEAST(h.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(h.last_seen, EXCLUDED.last_seen),
           xid = pg_current_xact_id()",
        &[&keys, &names, &oses, &roles, &firsts, &lasts],
    )?;
    Ok(())
}

fn volumes(tx: &mut Transaction<'_>, delta: &Baseline) -> Result<(), postgres::Error> {
    let all = sorted(&delta.volumes);
    let images: Vec<&str> = all.iter().map(|((img, _), _)| img.as_str()).collect();
    let roles: Vec<&str> = all.iter().map(|((_, role), _)| role.as_str()).collect();
    // Every row there (empty where new), then all locked at once in key
    // order, merged here, and written back in one statement.
    let empty = Histogram::default().to_json();
    tx.execute(
        "INSERT INTO volumes (image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli)
         SELECT u.image, u.role, $3, $3, $3, $3 FROM UNNEST($1::text[], $2::text[]) AS u(image, role)
         ON CONFLICT DO NOTHING",
        &[&images, &roles, &empty],
    )?;
    let held = tx.query(
        "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli
         FROM volumes WHERE (image, role) IN (SELECT * FROM UNNEST($1::text[], $2::text[]))
         ORDER BY image, role FOR UPDATE",
        &[&images, &roles],
    )?;
    let mut cols: [Vec<String>; 4] = Default::default();
    let (mut keys_i, mut keys_r) = (
        Vec::with_capacity(held.len()),
        Vec::with_capacity(held.len()),
    );
    for row in &held {
        let (img, role): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let Some(add) = delta.volumes.get(&(img.clone(), role.clone())) else {
            continue;
        };
        let v = merged(row, add);
        for (col, h) in cols.iter_mut().zip([
            &v.dest_bytes_out,
            &v.window_bytes_out,
            &v.http_connections,
            &v.response_ratio_milli,
        ]) {
            col.push(h.to_json());
        }
        keys_i.push(img);
        keys_r.push(role);
    }
    let [d, w, c, r] = &cols;
    tx.execute(
        "UPDATE volumes v SET dest_bytes_out = u.d, window_bytes_out = u.w, http_connections = u.c,
           response_ratio_milli = u.r, xid = pg_current_xact_id()
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
           AS u(image, role, d, w, c, r)
         WHERE v.image = u.image AND v.role = u.role",
        &[&keys_i, &keys_r, d, w, c, r],
    )?;
    Ok(())
}

/// The locked row's histograms (columns 2 to 5) with `add`'s merged in; a
/// column that does not read back is replaced by what is added.
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
        dest_bytes_out: merge(2, &add.dest_bytes_out),
        window_bytes_out: merge(3, &add.window_bytes_out),
        http_connections: merge(4, &add.http_connections),
        response_ratio_milli: merge(5, &add.response_ratio_milli),
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
    for (key, value) in m.entries() {
        let how = match key {
            "last_window_end" => "max",
            "window_secs" => "set",
            _ => "sum",
        };
        tx.execute(sql, &[&key, &value.to_string(), &how])?;
    }
    Ok(())
}
