//! The parts of an alert both rules fill the same way.

use super::subject::{Novelty, RemoteHost, Subject};
use crate::alert::*;
use crate::baseline::Volume;
use crate::format;
use model::time::rfc3339;

/// Remote hosts listed in an alert.
const TOP_PEERS: usize = 5;

/// Ratio rounded to six decimals (0 when nothing was sent).
pub fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        (num as f64 / den as f64 * 1e6).round() / 1e6
    }
}

/// The alert with every field but the rule's own: metrics, reasons,
/// severity and the flows are the caller's.
pub fn skeleton(
    s: &Subject,
    rule: &'static str,
    title: &'static str,
    dest: &RemoteHost,
    volume: Option<&Volume>,
    p99: Option<u64>,
) -> Alert {
    let w = s.w;
    let mut peers: Vec<&RemoteHost> = s.remote.iter().collect();
    peers.sort_by(|a, b| {
        b.traffic
            .request_bytes
            .cmp(&a.traffic.request_bytes)
            .then(b.traffic.connections.cmp(&a.traffic.connections))
            .then(a.label().cmp(&b.label()))
    });
    Alert {
        rule,
        title,
        severity: "low",
        risk_score: 0,
        timestamp: rfc3339(w.end),
        host: AlertHost {
            name: w.host_name.clone(),
            ip: w.host_ips.iter().next().copied(),
            ips: w.host_ips.iter().copied().collect(),
            os: AlertOs {
                family: s.platform.name(),
            },
            role: s.role.name.clone(),
        },
        process: AlertProcess {
            executable: w.executable.clone(),
            name: w.name.clone(),
            pid: w.pids.iter().copied().collect(),
            command_line: w.command_line.clone(),
            hash: w.sha256.clone().map(|sha256| AlertHash { sha256 }),
            code_signature: w
                .signer
                .clone()
                .map(|subject_name| AlertSigner { subject_name }),
        },
        user: AlertUser {
            name: w.users.iter().next().cloned(),
        },
        destination: AlertDestination {
            ip: dest.ip,
            domain: dest.domain.clone(),
            port: dest.port,
        },
        window: AlertWindow {
            start: rfc3339(w.start),
            end: rfc3339(w.end),
        },
        metrics: AlertMetrics {
            bytes_out: 0,
            bytes_in: 0,
            connections: 0,
            http_connections: 0,
            tls_connections: 0,
            http_requests: 0,
            response_ratio: 0.0,
            mean_response_bytes: 0,
        },
        baseline: AlertBaseline {
            hosts_seen: s.prevalence.hosts,
            hosts_total: s.hosts_total,
            first_seen: s.prevalence.first_seen.map(rfc3339),
            novelty: match s.novelty {
                Novelty::Never => "never",
                Novelty::Recent(_) => "recent",
                Novelty::Known(_) => "known",
            },
            uncommon: s.uncommon,
            history_windows: volume.map_or(0, |v| v.window_bytes_out.count()),
            p99_bytes_out: p99,
        },
        reasons: Vec::new(),
        destinations: peers
            .into_iter()
            .take(TOP_PEERS)
            .map(|r| AlertPeer {
                ip: r.ip,
                port: r.port,
                domain: r.domain.clone(),
                connections: r.traffic.connections,
                bytes_out: r.traffic.request_bytes,
                bytes_in: r.traffic.response_bytes,
            })
            .collect(),
        community_ids: Vec::new(),
        flows: Vec::new(),
        flows_omitted: 0,
        beaconing: None,
    }
}

/// The first reason: how rare the image is.
pub fn rarity_sentence(s: &Subject, horizon_us: u64) -> String {
    let exe = &s.w.executable;
    let watching = match s.baseline_age {
        Some(age) => format!("; the baseline has watched for {}", format::span(age)),
        None => String::new(),
    };
    let of_total = if s.hosts_total == 0 {
        "the baseline holds no host yet".to_string()
    } else {
        format!(
            "of the {} in the baseline",
            format::count(s.hosts_total, "host")
        )
    };
    let on = |n: u64| {
        if s.prevalence.overflow {
            format!("on more than {}", format::count(n, "host"))
        } else {
            format!("on {} of {}", n, format::count(s.hosts_total, "host"))
        }
    };
    match s.novelty {
        Novelty::Never => {
            format!("{exe} had never been seen before on any host ({of_total}{watching})")
        }
        Novelty::Recent(age) => format!(
            "{exe} was first seen {} ago, {} so far{watching}",
            format::span(age),
            on(s.prevalence.hosts)
        ),
        Novelty::Known(age) => format!(
            "{exe} has run {} in the last {} (first seen {} ago{watching})",
            on(s.prevalence.hosts),
            format::span(horizon_us),
            format::span(age)
        ),
    }
}

/// The regularity of `r`'s connections, and the sentence that says it
/// reads as a beacon (when it does).
pub fn beacon_reason(r: &RemoteHost) -> (Option<model::beacon::Beaconing>, Option<String>) {
    let b = model::window::beaconing(r.flows.iter().copied());
    let why = b.filter(|b| b.regular()).map(|b| {
        format!(
            "its {} to {} came every {} (median; spread {:.0} %) with requests of {} (spread {:.0} %): as regular as a beacon (score {:.2})",
            format::count(b.connections, "listed connection"),
            r.label(),
            every(b.interval_us),
            b.interval_spread * 100.0,
            format::bytes(b.request_bytes),
            b.size_spread * 100.0,
            b.score
        )
    });
    (b, why)
}

/// An interval in words, to the millisecond below a second.
fn every(us: u64) -> String {
    if us < 1_000_000 {
        format!("{} ms", (us + 500) / 1000)
    } else {
        format::span(us)
    }
}
