//! Alerts: one JSON object a line, with the stable keys of DESIGN.md in
//! Elastic Common Schema style.

use serde::Serialize;
use std::net::IpAddr;

/// `host.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertHost {
    /// Host name as the feed reported it.
    pub name: String,
    /// The host's address in the flows behind the alert.
    pub ip: Option<IpAddr>,
    /// Every address it used in the window.
    pub ips: Vec<IpAddr>,
    /// `host.os.family`.
    pub os: AlertOs,
    /// The role whose thresholds applied.
    pub role: String,
}

/// `host.os`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertOs {
    /// "windows", "linux", "macos", "other".
    pub family: &'static str,
}

/// `process.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertProcess {
    /// Executable as reported.
    pub executable: String,
    /// File name.
    pub name: String,
    /// Pids of the window.
    pub pid: Vec<u32>,
    /// A command line, when reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    /// `process.hash.sha256`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<AlertHash>,
    /// `process.code_signature.subject_name`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_signature: Option<AlertSigner>,
}

/// `process.hash`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertHash {
    /// SHA-256.
    pub sha256: String,
}

/// `process.code_signature`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSigner {
    /// Signer.
    pub subject_name: String,
}

/// `user.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertUser {
    /// The first user of the window's processes.
    pub name: Option<String>,
}

/// `destination.*`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertDestination {
    /// Address.
    pub ip: Option<IpAddr>,
    /// TLS server name or HTTP Host.
    pub domain: Option<String>,
    /// Port.
    pub port: Option<u16>,
}

/// `window.*`, RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertWindow {
    /// Start.
    pub start: String,
    /// End (exclusive).
    pub end: String,
}

/// `metrics.*`: the figures the rule judged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertMetrics {
    /// Request volume (HTTP messages, TLS application data) sent.
    pub bytes_out: u64,
    /// Response volume received.
    pub bytes_in: u64,
    /// Connections.
    pub connections: u64,
    /// HTTP connections.
    pub http_connections: u64,
    /// TLS connections.
    pub tls_connections: u64,
    /// HTTP requests.
    pub http_requests: u64,
    /// bytes_in / bytes_out.
    pub response_ratio: f64,
    /// bytes_in per connection.
    pub mean_response_bytes: u64,
}

/// `baseline.*`: what the baseline said of the image.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertBaseline {
    /// Hosts that ran the image within the horizon.
    pub hosts_seen: u64,
    /// Hosts in the baseline within the horizon.
    pub hosts_total: u64,
    /// When the image was first seen anywhere (RFC 3339), `null`: never.
    pub first_seen: Option<String>,
    /// "never", "recent" or "known".
    pub novelty: &'static str,
    /// The image counts as uncommon.
    pub uncommon: bool,
    /// Windows of volume history for this image and role.
    pub history_windows: u64,
    /// p99 of the image's per-remote-host request volume, with history.
    pub p99_bytes_out: Option<u64>,
}

/// A top destination of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertPeer {
    /// Address.
    pub ip: Option<IpAddr>,
    /// Port.
    pub port: Option<u16>,
    /// Domain.
    pub domain: Option<String>,
    /// Connections.
    pub connections: u64,
    /// Request volume.
    pub bytes_out: u64,
    /// Response volume.
    pub bytes_in: u64,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// "AN0144" or "AN0145".
    pub rule: &'static str,
    /// What the rule finds, in a few words.
    pub title: &'static str,
    /// "low", "medium", "high" or "critical".
    pub severity: &'static str,
    /// 0-100, from how far past each threshold and how rare the image is.
    pub risk_score: u8,
    /// When the window ended (RFC 3339, packet time).
    pub timestamp: String,
    /// The host.
    pub host: AlertHost,
    /// The process.
    pub process: AlertProcess,
    /// Its user.
    pub user: AlertUser,
    /// The remote host.
    pub destination: AlertDestination,
    /// The window.
    pub window: AlertWindow,
    /// The figures.
    pub metrics: AlertMetrics,
    /// What the baseline knew.
    pub baseline: AlertBaseline,
    /// Plain sentences for the analyst.
    pub reasons: Vec<String>,
    /// The process's top outbound destinations in the window.
    pub destinations: Vec<AlertPeer>,
    /// Community IDs of the flows behind the alert (those of `flows`).
    pub community_ids: Vec<String>,
    /// The flows behind the alert, earliest first, at most `[alerts]
    /// max_flows`.
    pub flows: Vec<AlertFlow>,
    /// Flows behind the alert not listed (the cap, or the window table's
    /// budget of flow references).
    pub flows_omitted: u64,
    /// How regular the connections to the destination were (four listed
    /// connections or more).
    pub beaconing: Option<model::beacon::Beaconing>,
}

/// One flow behind an alert: enough to find it in a capture.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertFlow {
    /// Its Community ID.
    pub community_id: String,
    /// Its start (RFC 3339).
    pub start: String,
    /// `tcp` or `udp`.
    pub transport: &'static str,
    /// The client.
    pub source: AlertEndpoint,
    /// The server.
    pub destination: AlertEndpoint,
}

/// An address and port.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertEndpoint {
    /// Address.
    pub ip: std::net::IpAddr,
    /// Port.
    pub port: u16,
}

impl AlertFlow {
    /// The listed form of a flow reference.
    pub fn of(f: &model::window::FlowRef) -> Self {
        AlertFlow {
            community_id: f.community_id.clone(),
            start: model::time::rfc3339(f.start),
            transport: f.transport.name(),
            source: AlertEndpoint {
                ip: f.client.0,
                port: f.client.1,
            },
            destination: AlertEndpoint {
                ip: f.server.0,
                port: f.server.1,
            },
        }
    }
}

impl Alert {
    /// The alert as one JSON line.
    pub fn to_json(&self) -> String {
        // Plain strings and numbers (ratios are finite): cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
