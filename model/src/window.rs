//! A process's traffic in one window of packet time: what the rules judge
//! and what `--processes` writes. Filled by the correlate crate, flow by
//! flow; read by the rules.

use crate::time::rfc3339;
use crate::traffic::Traffic;
use foldhash::quality::RandomState;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Destinations listed in a written window.
const TOP_DESTINATIONS: usize = 5;

/// The name in an HTTP Host or TLS server name: port, brackets and the
/// trailing dot removed.
pub fn host_part(domain: &str) -> &str {
    let d = domain.trim();
    let d = if let Some(rest) = d.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else if d.matches(':').count() == 1 {
        d.split(':').next().unwrap_or(d)
    } else {
        d
    };
    d.trim_end_matches('.')
}

/// JA4 fingerprints kept per window; a window with more lists none as
/// complete.
pub const MAX_JA4: usize = 8;

/// Traffic of one process image to one destination in a window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Destination {
    /// Server address.
    pub ip: Option<IpAddr>,
    /// Server port.
    pub port: u16,
    /// TLS server name or HTTP Host, when seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// What the flows to it carried.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// Earliest flow start (µs).
    pub first_start: u64,
    /// The flows behind it, earliest first by (start, Community ID): the
    /// same whatever order the flows came in. At most a per-destination
    /// cap, within the window table's budget of flow references.
    #[serde(skip)]
    pub flows: Vec<FlowRef>,
    /// Flows counted in `traffic` but not listed in `flows` (a cap).
    pub flows_unlisted: u64,
    /// (start, community ID) of the flow the domain was taken from.
    domain_from: Option<(u64, String)>,
}

/// One flow, as an alert lists it: enough to find it again in a capture
/// (`procflow flows --community-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRef {
    /// Its start (µs).
    pub start: u64,
    /// Its Community ID.
    pub community_id: String,
    /// TCP or UDP.
    pub transport: crate::flow::Transport,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// Its request volume (HTTP request messages, TLS application data
    /// sent).
    pub request_bytes: u64,
}

/// The regularity of a list of flows (start times and request sizes).
pub fn beaconing<'a>(
    flows: impl IntoIterator<Item = &'a FlowRef>,
) -> Option<crate::beacon::Beaconing> {
    let (starts, sizes): (Vec<u64>, Vec<u64>) = flows
        .into_iter()
        .map(|f| (f.start, f.request_bytes))
        .unzip();
    crate::beacon::Beaconing::of(&starts, &sizes)
}

impl PartialOrd for FlowRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for FlowRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.start, &self.community_id).cmp(&(other.start, &other.community_id))
    }
}

/// What [`keep_earliest`] did with an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// Listed; the list grew.
    Added,
    /// Listed, and the latest item fell off the full list.
    Replaced,
    /// Not listed: the list is full of earlier ones (or holds it already).
    No,
}

/// What a flow's client process says of itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessFacts<'a> {
    /// Executable path.
    pub executable: Option<&'a str>,
    /// File name of the executable, when the feed names it apart.
    pub name: Option<&'a str>,
    /// SHA-256 of the executable.
    pub sha256: Option<&'a str>,
    /// Code signer.
    pub signer: Option<&'a str>,
    /// Command line.
    pub command_line: Option<&'a str>,
}

// Flows come in any order (threads): a fact that several flows give is
// taken from the earliest flow by (start, community ID), so a window is
// the same whatever the order.

/// Takes `value` into `slot` when the flow giving it is the earliest so far.
fn offer(
    slot: &mut Option<String>,
    from: &mut Option<(u64, String)>,
    value: Option<&str>,
    start: u64,
    id: &str,
) {
    if let Some(v) = value {
        if earlier(start, id, from) {
            *slot = Some(v.to_string());
            *from = Some((start, id.to_string()));
        }
    }
}

/// True when the flow `(start, id)` comes before `than` (or `than` is none).
fn earlier(start: u64, id: &str, than: &Option<(u64, String)>) -> bool {
    than.as_ref()
        .is_none_or(|(s, i)| (start, id) < (*s, i.as_str()))
}

impl Destination {
    /// Takes `domain` from the flow `(start, id)` if it is the earliest
    /// flow to give one.
    pub fn offer_domain(&mut self, domain: String, start: u64, id: &str) {
        if earlier(start, id, &self.domain_from) {
            self.domain = Some(domain);
            self.domain_from = Some((start, id.to_string()));
        }
    }
}

/// Keeps `item` in the sorted `list` if it is among the `cap` earliest.
pub fn keep_earliest<T: Ord>(list: &mut Vec<T>, item: T, cap: usize) -> Kept {
    let at = list.partition_point(|x| *x < item);
    if at >= cap || list.get(at) == Some(&item) {
        return Kept::No;
    }
    list.insert(at, item);
    if list.len() > cap {
        list.truncate(cap);
        Kept::Replaced
    } else {
        Kept::Added
    }
}

/// One (host, image) in one window.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessWindow {
    /// Host name.
    pub host_name: String,
    /// Client addresses the process used.
    pub host_ips: BTreeSet<IpAddr>,
    /// Operating system, when known.
    pub os: Option<&'static str>,
    /// Executable, as the earliest flow's process reported it.
    pub executable: String,
    /// The image key: the executable normalised (case-folded, drive or
    /// volume prefix removed on Windows), the unit of prevalence.
    pub image: String,
    /// SHA-256 of the executable, when a feed reported it.
    pub sha256: Option<String>,
    /// Code signer, when a feed reported it.
    pub signer: Option<String>,
    /// A command line of the process, when reported.
    pub command_line: Option<String>,
    /// (start, community ID) of the flow each of executable, sha256,
    /// signer and command line was taken from.
    facts_from: [Option<(u64, String)>; 4],
    /// File name of the executable.
    pub name: String,
    /// Pids seen (at most 32).
    pub pids: BTreeSet<u32>,
    /// Users seen (at most 32).
    pub users: BTreeSet<String>,
    /// Window start (µs).
    pub start: u64,
    /// Window end (µs, exclusive).
    pub end: u64,
    /// What the process's flows carried.
    #[serde(flatten)]
    pub traffic: Traffic,
    /// JA4 fingerprints of its TLS and QUIC clients (at most [`MAX_JA4`]).
    pub ja4: BTreeSet<String>,
    /// Connections whose ClientHello gave a JA4 (listed or not).
    pub ja4_connections: u64,
    /// A JA4 was not listed: more than [`MAX_JA4`] were seen.
    pub ja4_overflow: bool,
    /// Captured frame bytes sent.
    pub frame_bytes_out: u64,
    /// Captured frame bytes received.
    pub frame_bytes_in: u64,
    /// Earliest flow start (µs).
    pub first_start: u64,
    /// Per destination (ip, port).
    pub destinations: HashMap<(IpAddr, u16), Destination, RandomState>,
    /// Destinations not kept apart because the window was full.
    pub destinations_dropped: u64,
    /// What went to the destinations not kept apart, summed (no address).
    pub other: Destination,
}

impl ProcessWindow {
    /// An empty window of `host_name`'s `image` over `[start, end)`.
    pub fn new(host_name: String, image: String, start: u64, end: u64) -> Self {
        ProcessWindow {
            host_name,
            image,
            start,
            end,
            ..ProcessWindow::default()
        }
    }

    /// Takes the process facts of the flow `(start, id)`, each where it is
    /// the earliest flow to give it.
    pub fn offer_facts(&mut self, facts: &ProcessFacts<'_>, start: u64, id: &str) {
        let [exe_from, sha_from, signer_from, cmd_from] = &mut self.facts_from;
        if let Some(exe) = facts.executable {
            if earlier(start, id, exe_from) {
                *exe_from = Some((start, id.to_string()));
                exe.clone_into(&mut self.executable);
                self.name = facts.name.unwrap_or(exe).to_string();
            }
        }
        offer(&mut self.sha256, sha_from, facts.sha256, start, id);
        offer(&mut self.signer, signer_from, facts.signer, start, id);
        offer(
            &mut self.command_line,
            cmd_from,
            facts.command_line,
            start,
            id,
        );
    }

    /// Notes the JA4 of one of the window's connections.
    pub fn add_ja4(&mut self, ja4: &str) {
        self.ja4_connections += 1;
        if !self.ja4.contains(ja4) {
            if self.ja4.len() < MAX_JA4 {
                self.ja4.insert(ja4.to_string());
            } else {
                self.ja4_overflow = true;
            }
        }
    }

    /// bytes_in / bytes_out (0 when nothing was sent).
    pub fn response_ratio(&self) -> f64 {
        if self.traffic.bytes_out == 0 {
            0.0
        } else {
            self.traffic.bytes_in as f64 / self.traffic.bytes_out as f64
        }
    }

    /// Request volume over every destination (HTTP messages, TLS
    /// application data).
    pub fn request_bytes(&self) -> u64 {
        self.traffic.request_bytes
    }

    /// Response volume over every destination.
    pub fn response_bytes(&self) -> u64 {
        self.traffic.response_bytes
    }

    /// Destinations by bytes sent, largest first.
    pub fn top_destinations(&self, n: usize) -> Vec<&Destination> {
        let mut v: Vec<&Destination> = self.destinations.values().collect();
        v.sort_by(|a, b| {
            b.traffic
                .bytes_out
                .cmp(&a.traffic.bytes_out)
                .then(b.traffic.connections.cmp(&a.traffic.connections))
                .then(a.ip.cmp(&b.ip))
                .then(a.port.cmp(&b.port))
        });
        v.truncate(n);
        v
    }

    /// The window as one NDJSON line with ECS-style names.
    pub fn to_json(&self) -> String {
        let top: Vec<serde_json::Value> = self
            .top_destinations(TOP_DESTINATIONS)
            .into_iter()
            .map(|d| {
                let t = &d.traffic;
                serde_json::json!({
                    "ip": d.ip, "port": d.port, "domain": d.domain,
                    "connections": t.connections, "http_requests": t.http_requests,
                    "bytes_out": t.bytes_out, "bytes_in": t.bytes_in,
                    "request_bytes": t.request_bytes, "response_bytes": t.response_bytes,
                    "beaconing": beaconing(&d.flows),
                })
            })
            .collect();
        let mut doc = serde_json::json!({
            "window": { "start": rfc3339(self.start), "end": rfc3339(self.end) },
            "host": { "name": self.host_name, "ip": self.host_ips, "os": self.os.map(|f| serde_json::json!({"family": f})) },
            "process": {
                "executable": self.executable, "name": self.name, "pid": self.pids,
                "command_line": self.command_line,
                "hash": self.sha256.as_ref().map(|h| serde_json::json!({"sha256": h})),
                "code_signature": self.signer.as_ref().map(|s| serde_json::json!({"subject_name": s})),
            },
            "user": { "name": self.users },
            "metrics": {
                "connections": self.traffic.connections,
                "http_requests": self.traffic.http_requests,
                "http_connections": self.traffic.http_connections,
                "tls_connections": self.traffic.tls_connections,
                "bytes_out": self.traffic.bytes_out,
                "bytes_in": self.traffic.bytes_in,
                "frame_bytes_out": self.frame_bytes_out,
                "frame_bytes_in": self.frame_bytes_in,
                "request_bytes": self.request_bytes(),
                "response_bytes": self.response_bytes(),
                "response_ratio": (self.response_ratio() * 1e6).round() / 1e6,
                "destinations": self.destinations.len() as u64 + self.destinations_dropped,
            },
            "destinations": top,
        });
        // Only windows with a TLS client say so (the line is as before
        // for the others).
        if !self.ja4.is_empty() {
            if let Some(o) = doc.as_object_mut() {
                o.insert(
                    "tls".into(),
                    serde_json::json!({"client": {"ja4": self.ja4}}),
                );
            }
        }
        serde_json::to_string(&doc).unwrap_or_default()
    }
}
