//! What the environment normally looks like: which hosts ran each process
//! image and since when, how many hosts there are, and the volume history
//! of each image per host role. Held in memory within configured caps,
//! keyed on packet time, and written to the baseline file ([`store`]) one
//! transaction per batch of windows.

pub mod backend;
pub mod histogram;
pub mod postgres;
pub mod store;

pub use backend::{Backend, Found, Opened};
pub use histogram::Histogram;
pub use store::{Store, StoreError};

use crate::config::BaselineConfig;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One process image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRecord {
    /// The executable as first reported.
    pub executable: String,
    /// OS family, when known.
    pub os: Option<String>,
    /// Earliest flow seen from it (µs, packet time).
    pub first_seen: u64,
    /// End of the latest window it was in.
    pub last_seen: u64,
    /// Windows folded in.
    pub windows: u64,
    /// Host key -> (first seen, last seen).
    pub hosts: BTreeMap<String, (u64, u64)>,
    /// More hosts ran it than the per-image cap keeps.
    pub hosts_overflow: bool,
}

/// One host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// Host name as reported.
    pub name: String,
    /// OS family, when known.
    pub os: Option<String>,
    /// Role it had when last seen.
    pub role: String,
    /// First window start.
    pub first_seen: u64,
    /// Latest window end.
    pub last_seen: u64,
}

/// Volume history of one image on hosts of one role: one sample per window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Volume {
    /// Outbound request volume to one remote host (the AN0144 figure).
    pub dest_bytes_out: Histogram,
    /// Outbound request volume over all remote hosts.
    pub window_bytes_out: Histogram,
    /// Outbound HTTP connections.
    pub http_connections: Histogram,
    /// Response ratio, in thousandths.
    pub response_ratio_milli: Histogram,
}

/// What one window contributes; built by the detector from a process
/// window so the baseline needs no knowledge of flows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Host key (lower-case name).
    pub host: String,
    /// Host name as reported.
    pub host_name: String,
    /// Image key.
    pub image: String,
    /// Executable as reported.
    pub executable: String,
    /// OS family.
    pub os: Option<String>,
    /// Host role.
    pub role: String,
    /// Window start and end (µs).
    pub start: u64,
    /// Window end.
    pub end: u64,
    /// Earliest flow in the window.
    pub first_flow: u64,
    /// Outbound request volume per remote host.
    pub dest_bytes_out: Vec<u64>,
    /// Outbound request volume in all.
    pub bytes_out: u64,
    /// Outbound response volume in all.
    pub bytes_in: u64,
    /// Outbound HTTP connections.
    pub http_connections: u64,
}

/// Run-level facts kept with the baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Meta {
    /// Windows folded in since the baseline was made.
    pub windows_folded: u64,
    /// Batches (transactions) folded in.
    pub batches: u64,
    /// End of the latest window folded in (µs).
    pub last_window_end: u64,
    /// Window length the baseline was learned with (seconds; 0 unknown).
    pub window_secs: u64,
}

impl Meta {
    /// The facts as the `meta` table keeps them (key, value), in one
    /// fixed order for every backend.
    pub fn entries(&self) -> [(&'static str, u64); 4] {
        [
            ("windows_folded", self.windows_folded),
            ("batches", self.batches),
            ("last_window_end", self.last_window_end),
            ("window_secs", self.window_secs),
        ]
    }

    /// Takes one row of the `meta` table; other keys (the schema's) and
    /// values that are not numbers leave the facts as they are.
    pub fn set(&mut self, key: &str, value: &str) {
        let Ok(n) = value.parse::<u64>() else { return };
        match key {
            "windows_folded" => self.windows_folded = n,
            "batches" => self.batches = n,
            "last_window_end" => self.last_window_end = n,
            "window_secs" => self.window_secs = n,
            _ => {}
        }
    }
}

/// What the caps cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BaselineStats {
    /// Images forgotten because `max_images` was reached.
    pub images_evicted: u64,
    /// Hosts forgotten because `max_hosts` was reached.
    pub hosts_evicted: u64,
    /// Host sightings not kept because an image's host set was full.
    pub image_hosts_dropped: u64,
}

/// How a shared baseline (PostgreSQL) kept up: what this run sent, what
/// waits, and what it read back of every sensor's work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncStats {
    /// Batches folded in (one transaction each).
    pub folds: u64,
    /// Windows folded in.
    pub windows_sent: u64,
    /// Windows waiting for the server now.
    pub windows_queued: u64,
    /// Windows dropped because the queue was full.
    pub windows_dropped: u64,
    /// Times the server stopped answering.
    pub outages: u64,
    /// Batches found already folded in when sent again (the answer to a
    /// commit was lost): not folded twice.
    pub already_folded: u64,
    /// Rows read back after folds (every sensor's changes).
    pub rows_read_back: u64,
}

/// Keys changed since the last write.
#[derive(Debug, Clone, Default)]
pub struct Dirty {
    /// Images whose row changed.
    pub images: BTreeSet<String>,
    /// (image, host) pairs that changed.
    pub image_hosts: BTreeSet<(String, String)>,
    /// Hosts that changed.
    pub hosts: BTreeSet<String>,
    /// (image, role) volumes that changed.
    pub volumes: BTreeSet<(String, String)>,
    /// Images forgotten (with their hosts and volumes).
    pub removed_images: BTreeSet<String>,
    /// Hosts forgotten.
    pub removed_hosts: BTreeSet<String>,
}

/// The baseline in memory.
#[derive(Debug, Clone)]
pub struct Baseline {
    /// Image key -> record.
    pub images: HashMap<String, ImageRecord>,
    /// Host key -> record.
    pub hosts: HashMap<String, HostRecord>,
    /// (image key, role) -> volume history.
    pub volumes: HashMap<(String, String), Volume>,
    /// Run-level facts.
    pub meta: Meta,
    /// Cap counters.
    pub stats: BaselineStats,
    caps: BaselineConfig,
    /// What changed since the last write.
    pub dirty: Dirty,
    /// How a shared baseline kept up; `None` for a file.
    pub sync: Option<SyncStats>,
}

/// How widely an image has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prevalence {
    /// Hosts that ran it within the horizon (a floor when `overflow`).
    pub hosts: u64,
    /// More hosts than the per-image cap keeps.
    pub overflow: bool,
    /// First seen anywhere (µs); `None`: never.
    pub first_seen: Option<u64>,
}

impl Baseline {
    /// An empty baseline with these caps.
    pub fn new(caps: BaselineConfig) -> Self {
        Baseline {
            images: HashMap::new(),
            hosts: HashMap::new(),
            volumes: HashMap::new(),
            meta: Meta::default(),
            stats: BaselineStats::default(),
            caps,
            dirty: Dirty::default(),
            sync: None,
        }
    }

    /// Replaces the caps (a configuration may change between runs); the
    /// next fold applies them.
    pub fn set_caps(&mut self, caps: BaselineConfig) {
        self.caps = caps;
    }

    /// Hosts seen within `horizon` µs before `now`.
    pub fn hosts_seen(&self, now: u64, horizon: u64) -> u64 {
        let since = now.saturating_sub(horizon);
        self.hosts.values().filter(|h| h.last_seen >= since).count() as u64
    }

    /// The prevalence of `image` as of `now`.
    pub fn prevalence(&self, image: &str, now: u64, horizon: u64) -> Prevalence {
        let since = now.saturating_sub(horizon);
        match self.images.get(image) {
            None => Prevalence {
                hosts: 0,
                overflow: false,
                first_seen: None,
            },
            Some(r) => Prevalence {
                hosts: r.hosts.values().filter(|&&(_, last)| last >= since).count() as u64,
                overflow: r.hosts_overflow,
                first_seen: Some(r.first_seen),
            },
        }
    }

    /// When the baseline began watching: the earliest first sighting of
    /// any image it holds (µs); `None` while it is empty.
    pub fn began(&self) -> Option<u64> {
        self.images.values().map(|r| r.first_seen).min()
    }

    /// The volume history of `image` on hosts of `role`.
    pub fn volume(&self, image: &str, role: &str) -> Option<&Volume> {
        self.volumes.get(&(image.to_string(), role.to_string()))
    }

    /// Folds one window in.
    pub fn fold(&mut self, o: &Observation) {
        self.meta.windows_folded += 1;
        self.meta.last_window_end = self.meta.last_window_end.max(o.end);

        let h = self
            .hosts
            .entry(o.host.clone())
            .or_insert_with(|| HostRecord {
                name: o.host_name.clone(),
                os: o.os.clone(),
                role: o.role.clone(),
                first_seen: o.start,
                last_seen: o.end,
            });
        h.first_seen = h.first_seen.min(o.start);
        h.last_seen = h.last_seen.max(o.end);
        h.role.clone_from(&o.role);
        if o.os.is_some() {
            h.os.clone_from(&o.os);
        }
        self.dirty.hosts.insert(o.host.clone());
        self.dirty.removed_hosts.remove(&o.host);

        let img = self
            .images
            .entry(o.image.clone())
            .or_insert_with(|| ImageRecord {
                executable: o.executable.clone(),
                os: o.os.clone(),
                first_seen: o.first_flow,
                last_seen: o.end,
                windows: 0,
                hosts: BTreeMap::new(),
                hosts_overflow: false,
            });
        img.first_seen = img.first_seen.min(o.first_flow);
        img.last_seen = img.last_seen.max(o.end);
        img.windows += 1;
        if img.os.is_none() {
            img.os.clone_from(&o.os);
        }
        let room = img.hosts.len() < self.caps.max_hosts_per_image;
        match img.hosts.get_mut(&o.host) {
            Some(seen) => {
                seen.0 = seen.0.min(o.first_flow);
                seen.1 = seen.1.max(o.end);
                self.dirty
                    .image_hosts
                    .insert((o.image.clone(), o.host.clone()));
            }
            None if room => {
                img.hosts.insert(o.host.clone(), (o.first_flow, o.end));
                self.dirty
                    .image_hosts
                    .insert((o.image.clone(), o.host.clone()));
            }
            None => {
                img.hosts_overflow = true;
                self.stats.image_hosts_dropped += 1;
            }
        }
        self.dirty.images.insert(o.image.clone());
        self.dirty.removed_images.remove(&o.image);

        let v = self
            .volumes
            .entry((o.image.clone(), o.role.clone()))
            .or_default();
        for &b in &o.dest_bytes_out {
            v.dest_bytes_out.add(b);
        }
        v.window_bytes_out.add(o.bytes_out);
        v.http_connections.add(o.http_connections);
        if o.bytes_out > 0 {
            let milli = (o.bytes_in as f64 * 1000.0 / o.bytes_out as f64).round();
            v.response_ratio_milli
                .add(milli.min(u64::MAX as f64) as u64);
        }
        self.dirty.volumes.insert((o.image.clone(), o.role.clone()));
    }

    /// Takes an image's row as a shared baseline holds it (its host
    /// sightings come separately, through [`Baseline::put_sighting`]).
    pub fn put_image(&mut self, key: String, rec: ImageRecord) -> bool {
        match self.images.get_mut(&key) {
            Some(mine) => {
                let overflow = mine.hosts_overflow || rec.hosts_overflow;
                let hosts = std::mem::take(&mut mine.hosts);
                *mine = ImageRecord {
                    hosts,
                    hosts_overflow: overflow,
                    ..rec
                };
            }
            None => {
                self.images.insert(key, rec);
            }
        }
        true
    }

    /// Takes one host sighting of an image as a shared baseline holds it,
    /// within the per-image cap (past it the image is marked as on more
    /// hosts than kept). A sighting of an image not held is left out.
    pub fn put_sighting(&mut self, image: &str, host: String, seen: (u64, u64)) -> bool {
        let Some(img) = self.images.get_mut(image) else {
            return true;
        };
        if img.hosts.len() < self.caps.max_hosts_per_image || img.hosts.contains_key(&host) {
            img.hosts.insert(host, seen);
        } else {
            img.hosts_overflow = true;
            self.stats.image_hosts_dropped += 1;
        }
        true
    }

    /// Marks every row changed, so that the next commit writes the whole
    /// baseline (a copy into a new file).
    pub fn mark_all_dirty(&mut self) {
        let d = &mut self.dirty;
        d.images = self.images.keys().cloned().collect();
        d.image_hosts = self
            .images
            .iter()
            .flat_map(|(img, r)| r.hosts.keys().map(move |h| (img.clone(), h.clone())))
            .collect();
        d.hosts = self.hosts.keys().cloned().collect();
        d.volumes = self.volumes.keys().cloned().collect();
    }

    /// The caps in force.
    pub fn caps(&self) -> &BaselineConfig {
        &self.caps
    }

    /// Forgets the least recently seen images and hosts past the caps, in
    /// a fixed order (oldest, then by key) so every run forgets the same.
    pub fn enforce_caps(&mut self) {
        if self.images.len() > self.caps.max_images {
            let excess = self.images.len() - self.caps.max_images;
            // Forget a little more than needed, so a full table does not
            // sort itself on every batch.
            let n = excess + self.caps.max_images / 100;
            let mut by_age: Vec<(u64, String)> = self
                .images
                .iter()
                .map(|(k, r)| (r.last_seen, k.clone()))
                .collect();
            by_age.sort_unstable();
            let gone: BTreeSet<String> = by_age.into_iter().take(n).map(|(_, k)| k).collect();
            for k in &gone {
                self.images.remove(k);
                self.dirty.images.remove(k);
            }
            self.volumes.retain(|(img, _), _| !gone.contains(img));
            self.dirty
                .image_hosts
                .retain(|(img, _)| !gone.contains(img));
            self.dirty.volumes.retain(|(img, _)| !gone.contains(img));
            self.stats.images_evicted += gone.len() as u64;
            self.dirty.removed_images.extend(gone);
        }
        if self.hosts.len() > self.caps.max_hosts {
            let excess = self.hosts.len() - self.caps.max_hosts;
            let n = excess + self.caps.max_hosts / 100;
            let mut by_age: Vec<(u64, String)> = self
                .hosts
                .iter()
                .map(|(k, r)| (r.last_seen, k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, k) in by_age.into_iter().take(n) {
                self.hosts.remove(&k);
                self.dirty.hosts.remove(&k);
                self.dirty.removed_hosts.insert(k);
                self.stats.hosts_evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(host: &str, image: &str, start: u64) -> Observation {
        Observation {
            host: host.to_string(),
            host_name: host.to_string(),
            image: image.to_string(),
            executable: image.to_string(),
            os: Some("linux".into()),
            role: "default".into(),
            start,
            end: start + 600,
            first_flow: start + 5,
            dest_bytes_out: vec![100, 200],
            bytes_out: 300,
            bytes_in: 150,
            http_connections: 3,
        }
    }

    #[test]
    fn prevalence_within_horizon() {
        let mut b = Baseline::new(BaselineConfig::default());
        b.fold(&obs("a", "/x", 1000));
        b.fold(&obs("b", "/x", 5000));
        b.fold(&obs("a", "/y", 5000));
        let p = b.prevalence("/x", 6000, 10_000);
        assert_eq!((p.hosts, p.first_seen), (2, Some(1005)));
        // Host a's sighting of /x ended at 1600: outside a 4,000 µs horizon.
        assert_eq!(b.prevalence("/x", 6000, 4000).hosts, 1);
        assert_eq!(b.prevalence("/z", 6000, 4000).first_seen, None);
        assert_eq!(b.hosts_seen(6000, 10_000), 2);
        let v = b.volume("/x", "default").unwrap();
        assert_eq!(v.dest_bytes_out.count(), 4);
        assert_eq!(v.response_ratio_milli.quantile(1.0), Some(500));
        assert_eq!(b.meta.windows_folded, 3);
        assert_eq!(b.meta.last_window_end, 5600);
    }

    #[test]
    fn caps_forget_the_oldest_and_count() {
        let mut b = Baseline::new(BaselineConfig {
            max_images: 2,
            max_hosts_per_image: 1,
            max_hosts: 2,
            ..BaselineConfig::default()
        });
        b.fold(&obs("a", "/old", 1));
        b.fold(&obs("b", "/mid", 50));
        b.fold(&obs("c", "/new", 100));
        b.fold(&obs("d", "/new", 100));
        b.enforce_caps();
        let mut left: Vec<&String> = b.images.keys().collect();
        left.sort();
        assert_eq!(left, ["/mid", "/new"]);
        assert!(b.dirty.removed_images.contains("/old"));
        assert_eq!(b.stats.images_evicted, 1);
        assert!(b.images["/new"].hosts_overflow);
        assert_eq!(b.stats.image_hosts_dropped, 1);
        assert_eq!(b.hosts.len(), 2);
        assert_eq!(b.stats.hosts_evicted, 2);
    }
}
