//! AN0145: a custom or previously unseen userland process opening many
//! HTTP connections with little coming back (Linux hosts).
//!
//! Per (host, image) and window, over outbound HTTP (and TLS when the role
//! says `include_tls`): connections at least `min_http_connections`, or
//! requests at least `min_http_requests`; response ratio at most
//! `max_response_ratio`; mean response bytes per connection at most
//! `max_mean_response_bytes`; and the image is custom or unseen.

use super::build::{rarity_sentence, ratio, skeleton};
use super::rule::{Context, Rule};
use super::severity::grade;
use super::subject::{RemoteHost, Subject};
use crate::alert::Alert;
use crate::config::NonNegative;
use crate::format;
use crate::policy::{Platform, Policy};
use serde::{Deserialize, Serialize};

/// Rule id.
pub const RULE: &str = "AN0145";

/// The rule.
#[derive(Debug, Clone, Copy, Default)]
pub struct An0145;

/// AN0145 thresholds (per process and window): `[thresholds.an0145]`, and
/// `[roles.an0145]` per host role.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct An0145Thresholds {
    /// HTTP connections to outside hosts,
    pub min_http_connections: u64,
    /// or HTTP requests.
    pub min_http_requests: u64,
    /// Response volume / request volume at most this,
    pub max_response_ratio: NonNegative,
    /// and mean response bytes per connection at most this.
    pub max_mean_response_bytes: u64,
    /// Count TLS connections as HTTP.
    pub include_tls: bool,
}

impl Default for An0145Thresholds {
    fn default() -> Self {
        An0145Thresholds {
            min_http_connections: 50,
            min_http_requests: 200,
            max_response_ratio: NonNegative(0.5),
            max_mean_response_bytes: 2000,
            include_tls: false,
        }
    }
}

impl Rule for An0145 {
    type Thresholds = An0145Thresholds;

    fn id(&self) -> &'static str {
        RULE
    }

    /// Linux hosts, or every host with `[rules] all_platforms`.
    fn applies(&self, s: &Subject, policy: &Policy) -> bool {
        s.platform == Platform::Linux || policy.rules.all_platforms
    }

    fn judge(&self, s: &Subject, t: &An0145Thresholds, cx: &Context, out: &mut Vec<Alert>) {
        let custom = cx.policy.custom.why(&s.w.executable);
        if custom.is_none() && !s.novelty.unseen() {
            return;
        }
        let parts = http_parts(s, t);
        if let Some(a) = judge(s, t, cx, &parts, custom) {
            out.push(a);
        }
    }
}

/// The HTTP (and, if the thresholds say, TLS) part of the traffic to each
/// remote host that has some.
fn http_parts(s: &Subject, t: &An0145Thresholds) -> Vec<RemoteHost> {
    let part = |r: &RemoteHost| -> RemoteHost {
        let mut p = r.clone();
        if t.include_tls {
            p.traffic.http_connections += r.traffic.tls_connections;
        } else {
            p.traffic.request_bytes = r.traffic.http_request_bytes();
            p.traffic.response_bytes = r.traffic.http_response_bytes();
            p.traffic.tls_connections = 0;
        }
        p
    };
    s.remote
        .iter()
        .chain(std::iter::once(&s.other))
        .map(part)
        .filter(|p| p.traffic.http_connections > 0)
        .collect()
}

/// The window's HTTP figures over its parts.
struct Totals {
    conns: u64,
    reqs: u64,
    out: u64,
    back: u64,
    ratio: f64,
    mean: u64,
    /// How far over the connection or request threshold.
    excess: f64,
}

/// The alert the window raises over `parts`, if any; `custom`: why the
/// executable is a custom binary, when it is one.
fn judge(
    s: &Subject,
    t: &An0145Thresholds,
    cx: &Context,
    parts: &[RemoteHost],
    custom: Option<String>,
) -> Option<Alert> {
    let conns: u64 = parts.iter().map(|p| p.traffic.http_connections).sum();
    let reqs: u64 = parts.iter().map(|p| p.traffic.http_requests).sum();
    let out: u64 = parts.iter().map(|p| p.traffic.request_bytes).sum();
    let back: u64 = parts.iter().map(|p| p.traffic.response_bytes).sum();
    if conns == 0 {
        return None;
    }
    let many = conns >= t.min_http_connections || reqs >= t.min_http_requests;
    let r = ratio(back, out);
    let mean = back / conns;
    if !many || r > t.max_response_ratio.0 || mean > t.max_mean_response_bytes {
        return None;
    }
    // The remote host it talked to most is the alert's destination.
    let top = parts
        .iter()
        .filter(|p| p.ip.is_some() || p.domain.is_some())
        .max_by(|a, b| {
            a.traffic
                .http_connections
                .cmp(&b.traffic.http_connections)
                .then(a.traffic.request_bytes.cmp(&b.traffic.request_bytes))
                .then(b.label().cmp(&a.label()))
        })
        .or_else(|| parts.first())?;
    let totals = Totals {
        conns,
        reqs,
        out,
        back,
        ratio: r,
        mean,
        excess: (conns as f64 / t.min_http_connections.max(1) as f64)
            .max(reqs as f64 / t.min_http_requests.max(1) as f64),
    };
    Some(alert(s, t, cx, parts, top, &totals, custom))
}

/// The alert, to `top` as its destination.
fn alert(
    s: &Subject,
    t: &An0145Thresholds,
    cx: &Context,
    parts: &[RemoteHost],
    top: &RemoteHost,
    n: &Totals,
    custom: Option<String>,
) -> Alert {
    let mut a = skeleton(
        s,
        RULE,
        "Custom or unseen process making many HTTP connections with little response",
        top,
        None,
        None,
    );
    let (sev, risk) = grade(s, n.excess, custom.is_some());
    a.severity = sev;
    a.risk_score = risk;
    a.metrics.bytes_out = n.out;
    a.metrics.bytes_in = n.back;
    a.metrics.connections = n.conns;
    a.metrics.http_connections = n.conns;
    a.metrics.tls_connections = parts.iter().map(|p| p.traffic.tls_connections).sum();
    a.metrics.http_requests = n.reqs;
    a.metrics.response_ratio = n.ratio;
    a.metrics.mean_response_bytes = n.mean;
    a.community_ids = community_ids(parts);
    let exe = &s.w.executable;
    if let Some(why) = &custom {
        a.reasons.push(format!("{exe} is a custom binary: {why}"));
    }
    a.reasons.push(rarity_sentence(s, cx.policy.horizon));
    a.reasons
        .push(count_reason(t, n, parts.len() as u64, cx.window_secs));
    a.reasons.push(format!(
        "it got {} back for {} sent: response ratio {} (at most {}) and {} per connection (at most {})",
        format::bytes(n.back),
        format::bytes(n.out),
        format::ratio(n.ratio),
        t.max_response_ratio.0,
        format::bytes(n.mean),
        format::bytes(t.max_mean_response_bytes)
    ));
    a
}

/// The earliest flows behind the parts.
fn community_ids(parts: &[RemoteHost]) -> Vec<String> {
    let mut ids = Vec::new();
    for p in parts {
        for c in &p.community_ids {
            model::window::keep_earliest(&mut ids, c.clone(), 64);
        }
    }
    ids.into_iter().map(|(_, id)| id).collect()
}

/// How many connections and requests, against the thresholds.
fn count_reason(t: &An0145Thresholds, n: &Totals, dests: u64, window_secs: u64) -> String {
    format!(
        "it opened {} ({}) to {} in {}, {} its role's threshold of {} connections or {} requests",
        format::count(n.conns, "HTTP connection"),
        format::count(n.reqs, "request"),
        format::count(dests, "remote host"),
        format::span(window_secs.saturating_mul(1_000_000)),
        format::times(n.excess),
        t.min_http_connections,
        t.min_http_requests
    )
}
