//! AN0145: a custom or previously unseen userland process opening many
//! HTTP connections with little coming back (Linux hosts).
//!
//! Per (host, image) and window, over outbound HTTP (and TLS when the role
//! says `include_tls`): connections at least `min_http_connections`, or
//! requests at least `min_http_requests`; response ratio at most
//! `max_response_ratio`; mean response bytes per connection at most
//! `max_mean_response_bytes`; and the image is custom or unseen.

use super::build::{rarity_sentence, ratio, skeleton};
use super::severity::grade;
use super::subject::{RemoteHost, Subject};
use crate::alert::Alert;
use crate::format;
use crate::policy::{Platform, Policy};

/// Rule id.
pub const RULE: &str = "AN0145";

/// Whether the rule looks at this window at all.
pub fn applies(s: &Subject, policy: &Policy) -> bool {
    policy.rules.an0145 && (s.platform == Platform::Linux || policy.rules.all_platforms)
}

/// The alert this window raises, if any.
pub fn judge(s: &Subject, policy: &Policy, window_secs: u64) -> Option<Alert> {
    let custom = policy.custom.why(&s.w.executable);
    if custom.is_none() && !s.novelty.unseen() {
        return None;
    }
    let t = &s.role.an0145;
    // The HTTP (and, if asked, TLS) part of each remote host.
    let part = |r: &RemoteHost| -> RemoteHost {
        let mut p = r.clone();
        if t.include_tls {
            p.http_connections += r.tls_connections;
        } else {
            p.request_bytes = r.http_request_bytes();
            p.response_bytes = r.http_response_bytes();
            p.tls_connections = 0;
        }
        p
    };
    let parts: Vec<RemoteHost> = s
        .remote
        .iter()
        .chain(std::iter::once(&s.other))
        .map(part)
        .filter(|p| p.http_connections > 0)
        .collect();
    let conns: u64 = parts.iter().map(|p| p.http_connections).sum();
    let reqs: u64 = parts.iter().map(|p| p.http_requests).sum();
    let out: u64 = parts.iter().map(|p| p.request_bytes).sum();
    let back: u64 = parts.iter().map(|p| p.response_bytes).sum();
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
            a.http_connections
                .cmp(&b.http_connections)
                .then(a.request_bytes.cmp(&b.request_bytes))
                .then(b.label().cmp(&a.label()))
        })
        .or_else(|| parts.first())?;
    let excess = (conns as f64 / t.min_http_connections.max(1) as f64)
        .max(reqs as f64 / t.min_http_requests.max(1) as f64);
    let mut a = skeleton(
        s,
        RULE,
        "Custom or unseen process making many HTTP connections with little response",
        top,
        None,
        None,
    );
    let (sev, risk) = grade(s, excess, custom.is_some());
    a.severity = sev;
    a.risk_score = risk;
    a.metrics.bytes_out = out;
    a.metrics.bytes_in = back;
    a.metrics.connections = conns;
    a.metrics.http_connections = conns;
    a.metrics.tls_connections = parts.iter().map(|p| p.tls_connections).sum();
    a.metrics.http_requests = reqs;
    a.metrics.response_ratio = r;
    a.metrics.mean_response_bytes = mean;
    let mut ids = Vec::new();
    for p in &parts {
        for c in &p.community_ids {
            correlate::window::keep_earliest(&mut ids, c.clone(), 64);
        }
    }
    a.community_ids = ids.into_iter().map(|(_, id)| id).collect();
    let exe = &s.w.executable;
    if let Some(why) = &custom {
        a.reasons.push(format!("{exe} is a custom binary: {why}"));
    }
    a.reasons.push(rarity_sentence(s, policy.horizon));
    let dests = parts.len() as u64;
    a.reasons.push(format!(
        "it opened {} ({}) to {} in {}, {} its role's threshold of {} connections or {} requests",
        format::count(conns, "HTTP connection"),
        format::count(reqs, "request"),
        format::count(dests, "remote host"),
        format::span(window_secs.saturating_mul(1_000_000)),
        format::times(excess),
        t.min_http_connections,
        t.min_http_requests
    ));
    a.reasons.push(format!(
        "it got {} back for {} sent: response ratio {} (at most {}) and {} per connection (at most {})",
        format::bytes(back),
        format::bytes(out),
        format::ratio(r),
        t.max_response_ratio.0,
        format::bytes(mean),
        format::bytes(t.max_mean_response_bytes)
    ));
    Some(a)
}
