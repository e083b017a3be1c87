//! One process window as the rules see it: its platform, role, rarity, and
//! its outbound traffic grouped by remote host.

use crate::baseline::{Baseline, Observation, Prevalence};
use crate::policy::allowlist::host_part;
use crate::policy::{Platform, Policy, Role};
use model::window::FlowRef;
use model::{ProcessWindow, Traffic};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// An image first seen this close to the baseline's own start (µs) has
/// been there as long as the baseline has watched: a young baseline does
/// not make it new.
const SINCE_THE_START: u64 = 3_600_000_000;

/// Outbound traffic of the process to one remote host: one domain (TLS
/// server name or HTTP Host) when known, else one address.
#[derive(Debug, Clone, Default)]
pub struct RemoteHost<'a> {
    /// The domain, when one was seen.
    pub domain: Option<String>,
    /// The address that carried the most request volume.
    pub ip: Option<IpAddr>,
    /// Its port.
    pub port: Option<u16>,
    /// Request volume of the top address (to pick it).
    top_volume: u64,
    /// What the flows to it carried.
    pub traffic: Traffic,
    /// The flows behind it, as the window lists them (borrowed: most
    /// windows raise nothing, and their flows need no copy).
    pub flows: Vec<&'a FlowRef>,
    /// Flows behind it that the window did not list.
    pub flows_unlisted: u64,
}

impl RemoteHost<'_> {
    /// The domain, else the address, as text.
    pub fn label(&self) -> String {
        match (&self.domain, self.ip) {
            (Some(d), Some(ip)) => format!("{ip} ({d})"),
            (Some(d), None) => d.clone(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => "other destinations".to_string(),
        }
    }
}

/// Whether the baseline knew the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Novelty {
    /// No record at all.
    Never,
    /// First seen this long ago (µs), within the "unseen" span.
    Recent(u64),
    /// Known for longer.
    Known(u64),
}

impl Novelty {
    /// Counts as "previously unseen".
    pub fn unseen(self) -> bool {
        !matches!(self, Novelty::Known(_))
    }
}

/// A window with everything the rules ask of it.
pub struct Subject<'a> {
    /// The window.
    pub w: &'a ProcessWindow,
    /// Platform.
    pub platform: Platform,
    /// Host role.
    pub role: &'a Role,
    /// Prevalence as of the window's start.
    pub prevalence: Prevalence,
    /// Hosts in the baseline within the horizon.
    pub hosts_total: u64,
    /// Novelty of the image.
    pub novelty: Novelty,
    /// How long the baseline had been watching at the window's start (µs;
    /// `None`: it is empty).
    pub baseline_age: Option<u64>,
    /// Uncommon by the prevalence settings.
    pub uncommon: bool,
    /// The allowlist entry that exempts the process.
    pub allowlisted: Option<String>,
    /// Outbound traffic by remote host, allowlisted destinations left out,
    /// in a fixed order (label).
    pub remote: Vec<RemoteHost<'a>>,
    /// What went to destinations the window could not keep apart.
    pub other: RemoteHost<'a>,
}

impl<'a> Subject<'a> {
    /// Looks the window up in the baseline.
    pub fn new(
        w: &'a ProcessWindow,
        policy: &'a Policy,
        baseline: &Baseline,
        hosts_total: u64,
    ) -> Self {
        let platform = Platform::of(w.os, &w.executable);
        let role = policy.roles.of(&w.host_name, w.host_ips.iter());
        let now = w.start;
        let prevalence = baseline.prevalence(&w.image, now, policy.horizon);
        let began = baseline.began();
        let novelty = match prevalence.first_seen {
            None => Novelty::Never,
            // Seen since the baseline began, and the baseline has watched
            // it since: as old as the baseline.
            Some(t)
                if began.is_some_and(|b| {
                    let start_ends = b.saturating_add(SINCE_THE_START);
                    t <= start_ends && now >= start_ends
                }) =>
            {
                Novelty::Known(now.saturating_sub(t))
            }
            Some(t) if now.saturating_sub(t) < policy.unseen_within => {
                Novelty::Recent(now.saturating_sub(t))
            }
            Some(t) => Novelty::Known(now.saturating_sub(t)),
        };
        let p = &policy.prevalence;
        let uncommon = !prevalence.overflow
            && (prevalence.hosts <= p.uncommon_max_hosts
                || (prevalence.hosts as f64) * 100.0
                    <= p.uncommon_max_percent.0 * hosts_total as f64);
        let allowlisted = policy
            .allowlist
            .process(&w.executable, w.sha256.as_deref(), w.signer.as_deref())
            .or_else(|| {
                policy.allowlist.clients(
                    &w.ja4,
                    !w.ja4_overflow,
                    w.ja4_connections,
                    w.traffic.connections,
                )
            });
        let mut by_host: BTreeMap<String, RemoteHost<'a>> = BTreeMap::new();
        let mut dests: Vec<_> = w.destinations.values().collect();
        // HashMap order differs between runs; the grouping must not.
        dests.sort_by(|a, b| a.ip.cmp(&b.ip).then(a.port.cmp(&b.port)));
        for d in dests {
            let Some(ip) = d.ip else { continue };
            if !policy.is_outside(ip) {
                continue;
            }
            let domain = d
                .domain
                .as_deref()
                .map(|s| host_part(s).to_ascii_lowercase());
            if policy.allowlist.destination(Some(ip), domain.as_deref()) {
                continue;
            }
            let key = domain.clone().unwrap_or_else(|| ip.to_string());
            let r = by_host.entry(key).or_default();
            r.domain.clone_from(&domain);
            if r.ip.is_none() || d.traffic.request_bytes > r.top_volume {
                r.ip = Some(ip);
                r.port = Some(d.port);
                r.top_volume = d.traffic.request_bytes;
            }
            add(r, d);
        }
        let mut other = RemoteHost::default();
        add(&mut other, &w.other);
        Subject {
            w,
            platform,
            role,
            prevalence,
            hosts_total,
            novelty,
            baseline_age: began.map(|b| now.saturating_sub(b)),
            uncommon,
            allowlisted,
            remote: by_host.into_values().collect(),
            other,
        }
    }

    /// What this window adds to the baseline.
    pub fn observation(&self) -> Observation {
        let out: Vec<u64> = self
            .remote
            .iter()
            .map(|r| r.traffic.request_bytes)
            .filter(|&b| b > 0)
            .collect();
        let all = self.remote.iter().chain(std::iter::once(&self.other));
        let (mut bytes_out, mut bytes_in, mut http) = (0u64, 0u64, 0u64);
        for r in all {
            bytes_out += r.traffic.request_bytes;
            bytes_in += r.traffic.response_bytes;
            http += r.traffic.http_connections + r.traffic.https_connections;
        }
        Observation {
            host: self.w.host_name.to_lowercase(),
            host_name: self.w.host_name.clone(),
            image: self.w.image.clone(),
            executable: self.w.executable.clone(),
            os: Some(self.platform.name().to_string()),
            role: self.role.name.clone(),
            start: self.w.start,
            end: self.w.end,
            first_flow: self.w.first_start,
            dest_bytes_out: out,
            bytes_out,
            bytes_in,
            http_connections: http,
        }
    }
}

fn add<'a>(r: &mut RemoteHost<'a>, d: &'a model::Destination) {
    r.traffic.add(&d.traffic);
    r.flows.extend(&d.flows);
    r.flows_unlisted += d.flows_unlisted;
}

/// The flows behind `parts`, earliest first, at most `cap`; and how many
/// are left out (not listed by the window, or past the cap).
pub fn flows_of<'a: 'b, 'b>(
    parts: impl IntoIterator<Item = &'b RemoteHost<'a>>,
    cap: usize,
) -> (Vec<crate::alert::AlertFlow>, u64) {
    let mut all: Vec<&FlowRef> = Vec::new();
    let mut unlisted = 0;
    for p in parts {
        all.extend(p.flows.iter().copied());
        unlisted += p.flows_unlisted;
    }
    all.sort();
    let omitted = unlisted + all.len().saturating_sub(cap) as u64;
    let listed = all
        .into_iter()
        .take(cap)
        .map(crate::alert::AlertFlow::of)
        .collect();
    (listed, omitted)
}
