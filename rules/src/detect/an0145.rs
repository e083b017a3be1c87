//! AN0145: a custom or previously unseen userland process opening many
//! HTTP connections with little coming back (Linux hosts).
//!
//! Per (host, image) and window, over outbound HTTP and HTTPS (TLS whose
//! ALPN names HTTP, or to a web port; every TLS connection when the role
//! says `include_tls`): connections at least `min_http_connections`, or
//! requests at least `min_http_requests`; and little coming back: a
//! response ratio at most `max_response_ratio`, *or* at most
//! `max_mean_response_bytes` per request, *or* (cleartext) at most
//! `max_mean_response_body_bytes` of body per request; and the image is
//! custom or unseen. A custom image the baseline has seen keeps quiet while
//! its connections stay within `history_multiplier` times its own p99 on
//! hosts of the role.

use super::build::{beacon_reason, rarity_sentence, ratio, skeleton};
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
    /// Little back: response volume / request volume at most this,
    pub max_response_ratio: NonNegative,
    /// or response bytes per request at most this (HTTPS: per
    /// connection),
    pub max_mean_response_bytes: u64,
    /// or, over cleartext HTTP, response body bytes per request at most
    /// this.
    pub max_mean_response_body_bytes: u64,
    /// Count HTTPS (TLS carrying HTTP) as HTTP.
    pub include_https: bool,
    /// Count every TLS connection as HTTP.
    pub include_tls: bool,
    /// A custom image with history keeps quiet while its HTTP connections
    /// per window stay within this many times its own p99.
    pub history_multiplier: NonNegative,
}

impl Default for An0145Thresholds {
    fn default() -> Self {
        An0145Thresholds {
            min_http_connections: 50,
            min_http_requests: 200,
            max_response_ratio: NonNegative(0.5),
            max_mean_response_bytes: 1000,
            max_mean_response_body_bytes: 256,
            include_https: true,
            include_tls: false,
            history_multiplier: NonNegative(2.0),
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

/// The HTTP part of the traffic to each remote host that has some: cleartext
/// HTTP, HTTPS when the thresholds say (its request and response volume
/// are TLS application data, one request counted per connection), and
/// every TLS connection with `include_tls`.
fn http_parts<'a>(s: &Subject<'a>, t: &An0145Thresholds) -> Vec<RemoteHost<'a>> {
    let part = |r: &RemoteHost<'a>| -> RemoteHost<'a> {
        let x = &r.traffic;
        let (conns, out, back) = if t.include_tls {
            (x.tls_connections, x.tls_app_bytes_out, x.tls_app_bytes_in)
        } else if t.include_https {
            (x.https_connections, x.https_bytes_out, x.https_bytes_in)
        } else {
            (0, 0, 0)
        };
        let mut p = r.clone();
        p.traffic.http_connections = x.http_connections + conns;
        p.traffic.http_requests = x.http_requests + conns;
        p.traffic.request_bytes = x.http_request_bytes() + out;
        p.traffic.response_bytes = x.http_response_bytes() + back;
        p.traffic.tls_connections = conns;
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
    /// Response bytes per request.
    mean: u64,
    /// Cleartext response body bytes per cleartext request, if any.
    mean_body: Option<u64>,
    /// Which "little back" tests held.
    low: Vec<&'static str>,
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
    let mean = back / reqs.max(conns).max(1);
    let clear_reqs: u64 = parts
        .iter()
        .map(|p| {
            p.traffic
                .http_requests
                .saturating_sub(p.traffic.tls_connections)
        })
        .sum();
    let body: u64 = parts.iter().map(|p| p.traffic.response_body_bytes).sum();
    let mean_body = (clear_reqs > 0).then(|| body / clear_reqs);
    let mut low = Vec::new();
    if r <= t.max_response_ratio.0 {
        low.push("ratio");
    }
    if mean <= t.max_mean_response_bytes {
        low.push("per request");
    }
    if mean_body.is_some_and(|b| b <= t.max_mean_response_body_bytes) {
        low.push("body");
    }
    if !many || low.is_empty() || within_history(s, t, cx, conns, custom.is_some()) {
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
        mean_body,
        low,
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
    let (beaconing, beacon_why) = beacon_reason(top);
    let (sev, risk) = grade(s, n.excess, custom.is_some(), beacon_why.is_some());
    a.beaconing = beaconing;
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
    let (flows, omitted) = super::subject::flows_of(parts, cx.policy.config.alerts.max_flows);
    a.community_ids = flows.iter().map(|f| f.community_id.clone()).collect();
    a.flows = flows;
    a.flows_omitted = omitted;
    let exe = &s.w.executable;
    if let Some(why) = &custom {
        a.reasons.push(format!("{exe} is a custom binary: {why}"));
    }
    a.reasons.push(rarity_sentence(s, cx.policy.horizon));
    a.reasons
        .push(count_reason(t, n, parts.len() as u64, cx.window_secs));
    a.reasons.push(little_back_reason(t, n));
    a.reasons.extend(beacon_why);
    a
}

/// A custom image the baseline knows on hosts of this role, whose
/// connections stay within `history_multiplier` times its own p99: it
/// behaves as it always has (an in-house agent, a poller).
fn within_history(
    s: &Subject,
    t: &An0145Thresholds,
    cx: &Context,
    conns: u64,
    custom: bool,
) -> bool {
    if !custom || s.novelty.unseen() {
        return false;
    }
    let min = cx.policy.config.baseline.min_history_windows;
    cx.baseline
        .volume(&s.w.image, &s.role.name)
        .filter(|v| v.http_connections.count() >= min)
        .and_then(|v| v.http_connections.quantile(0.99))
        .is_some_and(|p99| conns as f64 <= t.history_multiplier.0 * p99.max(1) as f64)
}

/// What came back, against each "little back" test, naming those that held.
fn little_back_reason(t: &An0145Thresholds, n: &Totals) -> String {
    let mark = |what: &str| if n.low.contains(&what) { " (low)" } else { "" };
    let body = match n.mean_body {
        Some(b) => format!(
            ", {} of body per cleartext request (at most {}){}",
            format::bytes(b),
            format::bytes(t.max_mean_response_body_bytes),
            mark("body")
        ),
        None => String::new(),
    };
    format!(
        "it got {} back for {} sent: response ratio {} (at most {}){}, {} per request (at most {}){}{body}",
        format::bytes(n.back),
        format::bytes(n.out),
        format::ratio(n.ratio),
        t.max_response_ratio.0,
        mark("ratio"),
        format::bytes(n.mean),
        format::bytes(t.max_mean_response_bytes),
        mark("per request"),
    )
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
