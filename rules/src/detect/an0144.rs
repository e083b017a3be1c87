//! AN0144: excessive outbound HTTP(S) to one remote host from an uncommon
//! or previously unseen process (Windows hosts).
//!
//! Per (host, image, remote host) and window: the request volume (HTTP
//! request messages, TLS application data sent: HTTPS is measured without
//! decryption) is over the role's `min_bytes_out`, or over
//! `history_multiplier` times the image's own p99 for that figure on hosts
//! of the role (once it has `min_history_windows` of history, and never
//! under `history_floor_bytes`); and the image is uncommon or unseen.

use super::build::{rarity_sentence, ratio, skeleton};
use super::severity::grade;
use super::subject::Subject;
use crate::alert::Alert;
use crate::baseline::Baseline;
use crate::format;
use crate::policy::{Platform, Policy};

/// Rule id.
pub const RULE: &str = "AN0144";

/// Whether the rule looks at this window at all.
pub fn applies(s: &Subject, policy: &Policy) -> bool {
    policy.rules.an0144 && (s.platform == Platform::Windows || policy.rules.all_platforms)
}

/// The alerts this window raises.
pub fn judge(s: &Subject, policy: &Policy, baseline: &Baseline, window_secs: u64) -> Vec<Alert> {
    if !(s.uncommon || s.novelty.unseen()) {
        return Vec::new();
    }
    let t = &s.role.an0144;
    let volume = baseline.volume(&s.w.image, &s.role.name);
    let p99 = volume
        .filter(|v| v.window_bytes_out.count() >= policy.config.baseline.min_history_windows)
        .and_then(|v| v.dest_bytes_out.quantile(0.99));
    let mut alerts = Vec::new();
    for r in &s.remote {
        let out = r.request_bytes;
        if out == 0 {
            continue;
        }
        let over_role = out > t.min_bytes_out;
        let history_limit =
            p99.map(|p| (t.history_multiplier.0 * p as f64).max(t.history_floor_bytes as f64));
        let over_history = history_limit.is_some_and(|l| out as f64 > l);
        if !over_role && !over_history {
            continue;
        }
        let role_excess = out as f64 / t.min_bytes_out.max(1) as f64;
        let hist_excess = history_limit.map_or(0.0, |l| out as f64 / l.max(1.0));
        let excess = role_excess.max(hist_excess);
        let mut a = skeleton(
            s,
            RULE,
            "Excessive outbound HTTP(S) from an uncommon process",
            r,
            volume,
            p99,
        );
        let (sev, risk) = grade(s, excess, false);
        a.severity = sev;
        a.risk_score = risk;
        a.metrics.bytes_out = out;
        a.metrics.bytes_in = r.response_bytes;
        a.metrics.connections = r.connections;
        a.metrics.http_connections = r.http_connections;
        a.metrics.tls_connections = r.tls_connections;
        a.metrics.http_requests = r.http_requests;
        a.metrics.response_ratio = ratio(r.response_bytes, out);
        a.metrics.mean_response_bytes = r.response_bytes / r.connections.max(1);
        a.community_ids = r.community_ids.iter().map(|(_, id)| id.clone()).collect();

        a.reasons.push(rarity_sentence(s, policy.horizon));
        let mut why = Vec::new();
        if over_role {
            why.push(format!(
                "{} its role's threshold of {}",
                format::times(role_excess),
                format::bytes(t.min_bytes_out)
            ));
        }
        if let (true, Some(p)) = (over_history, p99) {
            why.push(format!(
                "{} its own p99 of {} per window",
                format::times(out as f64 / p.max(1) as f64),
                format::bytes(p)
            ));
        }
        a.reasons.push(format!(
            "it sent {} to {} in {}, {}",
            format::bytes(out),
            r.label(),
            format::span(window_secs.saturating_mul(1_000_000)),
            why.join(" and ")
        ));
        let how = match (r.tls_connections, r.http_connections) {
            (0, _) => format!(
                "over {}",
                format::count(r.http_connections, "HTTP connection")
            ),
            (_, 0) => format!(
                "over {}, counted from TLS application data",
                format::count(r.tls_connections, "TLS connection")
            ),
            (tls, http) => format!(
                "over {} and {}",
                format::count(tls, "TLS connection"),
                format::count(http, "HTTP connection")
            ),
        };
        a.reasons.push(format!(
            "{how}; {} came back (response ratio {})",
            format::bytes(r.response_bytes),
            format::ratio(a.metrics.response_ratio)
        ));
        alerts.push(a);
    }
    alerts
}
