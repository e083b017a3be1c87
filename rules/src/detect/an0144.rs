//! AN0144: excessive outbound HTTP(S) to one remote host from an uncommon
//! or previously unseen process (Windows hosts).
//!
//! Per (host, image, remote host) and window: the request volume (HTTP
//! request messages, TLS application data sent: HTTPS is measured without
//! decryption) is over the role's `min_bytes_out`, or over
//! `history_multiplier` times the image's own p99 for that figure on hosts
//! of the role (once it has `min_history_windows` of history, and never
//! under `history_floor_bytes`); and the image is uncommon or unseen.

use super::build::{beacon_reason, rarity_sentence, ratio, skeleton};
use super::rule::{Context, Rule};
use super::severity::grade;
use super::subject::{RemoteHost, Subject};
use crate::alert::Alert;
use crate::baseline::Volume;
use crate::config::NonNegative;
use crate::format;
use crate::policy::{Platform, Policy};
use serde::{Deserialize, Serialize};

/// Rule id.
pub const RULE: &str = "AN0144";

/// The rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct An0144;

/// AN0144 thresholds (per process, remote host and window):
/// `[thresholds.an0144]`, and `[roles.an0144]` per host role.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct An0144Thresholds {
    /// Outbound request volume above which the rule fires.
    pub min_bytes_out: u64,
    /// Or this many times the image's own p99,
    pub history_multiplier: NonNegative,
    /// but never below this volume.
    pub history_floor_bytes: u64,
}

impl Default for An0144Thresholds {
    fn default() -> Self {
        An0144Thresholds {
            min_bytes_out: 10_000_000,
            history_multiplier: NonNegative(10.0),
            history_floor_bytes: 1_000_000,
        }
    }
}

impl Rule for An0144 {
    type Thresholds = An0144Thresholds;

    fn id(&self) -> &'static str {
        RULE
    }

    /// Windows hosts, or every host with `[rules] all_platforms`.
    fn applies(&self, s: &Subject, policy: &Policy) -> bool {
        s.platform == Platform::Windows || policy.rules.all_platforms
    }

    fn judge(&self, s: &Subject, t: &An0144Thresholds, cx: &Context, out: &mut Vec<Alert>) {
        judge(s, t, cx, out);
    }
}

/// How far one remote host's request volume is over the thresholds.
struct Excess {
    over_role: bool,
    over_history: bool,
    role: f64,
    history: f64,
}

/// The alerts this window raises: one per remote host over a threshold.
fn judge(s: &Subject, t: &An0144Thresholds, cx: &Context, out: &mut Vec<Alert>) {
    if !(s.uncommon || s.novelty.unseen()) {
        return;
    }
    let policy = cx.policy;
    let volume = cx.baseline.volume(&s.w.image, &s.role.name);
    let p99 = volume
        .filter(|v| v.window_bytes_out.count() >= policy.config.baseline.min_history_windows)
        .and_then(|v| v.dest_bytes_out.quantile(0.99));
    let history_limit =
        p99.map(|p| (t.history_multiplier.0 * p as f64).max(t.history_floor_bytes as f64));
    for r in &s.remote {
        let sent = r.traffic.request_bytes;
        if sent == 0 {
            continue;
        }
        let over_role = sent > t.min_bytes_out;
        let over_history = history_limit.is_some_and(|l| sent as f64 > l);
        if !over_role && !over_history {
            continue;
        }
        let excess = Excess {
            over_role,
            over_history,
            role: sent as f64 / t.min_bytes_out.max(1) as f64,
            history: history_limit.map_or(0.0, |l| sent as f64 / l.max(1.0)),
        };
        out.push(alert(s, t, cx, r, volume, p99, &excess));
    }
}

/// The alert for remote host `r`.
fn alert(
    s: &Subject,
    t: &An0144Thresholds,
    cx: &Context,
    r: &RemoteHost,
    volume: Option<&Volume>,
    p99: Option<u64>,
    excess: &Excess,
) -> Alert {
    let out = r.traffic.request_bytes;
    let mut a = skeleton(
        s,
        RULE,
        "Excessive outbound HTTP(S) from an uncommon process",
        r,
        volume,
        p99,
    );
    let (beaconing, beacon_why) = beacon_reason(r);
    let (sev, risk) = grade(
        s,
        excess.role.max(excess.history),
        false,
        beacon_why.is_some(),
    );
    a.beaconing = beaconing;
    a.severity = sev;
    a.risk_score = risk;
    a.metrics.bytes_out = out;
    a.metrics.bytes_in = r.traffic.response_bytes;
    a.metrics.connections = r.traffic.connections;
    a.metrics.http_connections = r.traffic.http_connections;
    a.metrics.tls_connections = r.traffic.tls_connections;
    a.metrics.http_requests = r.traffic.http_requests;
    a.metrics.response_ratio = ratio(r.traffic.response_bytes, out);
    a.metrics.mean_response_bytes = r.traffic.response_bytes / r.traffic.connections.max(1);
    let (flows, omitted) = super::subject::flows_of([r], cx.policy.config.alerts.max_flows);
    a.community_ids = flows.iter().map(|f| f.community_id.clone()).collect();
    a.flows = flows;
    a.flows_omitted = omitted;
    a.reasons.push(rarity_sentence(s, cx.policy.horizon));
    a.reasons
        .push(volume_reason(t, r, p99, excess, cx.window_secs));
    a.reasons
        .push(connections_reason(r, a.metrics.response_ratio));
    a.reasons.extend(beacon_why);
    a
}

/// What it sent, and which thresholds that is over.
fn volume_reason(
    t: &An0144Thresholds,
    r: &RemoteHost,
    p99: Option<u64>,
    excess: &Excess,
    window_secs: u64,
) -> String {
    let out = r.traffic.request_bytes;
    let mut why = Vec::new();
    if excess.over_role {
        why.push(format!(
            "{} its role's threshold of {}",
            format::times(excess.role),
            format::bytes(t.min_bytes_out)
        ));
    }
    if let (true, Some(p)) = (excess.over_history, p99) {
        why.push(format!(
            "{} its own p99 of {} per window",
            format::times(out as f64 / p.max(1) as f64),
            format::bytes(p)
        ));
    }
    format!(
        "it sent {} to {} in {}, {}",
        format::bytes(out),
        r.label(),
        format::span(window_secs.saturating_mul(1_000_000)),
        why.join(" and ")
    )
}

/// Over which connections, and what came back.
fn connections_reason(r: &RemoteHost, response_ratio: f64) -> String {
    let how = match (r.traffic.tls_connections, r.traffic.http_connections) {
        (0, _) => format!(
            "over {}",
            format::count(r.traffic.http_connections, "HTTP connection")
        ),
        (tls, 0) if r.traffic.quic_connections == tls => format!(
            "over {}, counted from its datagrams",
            format::count(tls, "QUIC connection")
        ),
        (_, 0) => format!(
            "over {}, counted from TLS application data",
            format::count(r.traffic.tls_connections, "TLS connection")
        ),
        (tls, http) => format!(
            "over {} and {}",
            format::count(tls, "TLS connection"),
            format::count(http, "HTTP connection")
        ),
    };
    format!(
        "{how}; {} came back (response ratio {})",
        format::bytes(r.traffic.response_bytes),
        format::ratio(response_ratio)
    )
}
