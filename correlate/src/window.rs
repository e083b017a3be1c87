//! Per-process windows: what each (host, process image) opened, sent and
//! received in each window of packet time.

use crate::attribute::image_key;
use crate::output::AttributedFlow;
use capture::time::rfc3339;
use foldhash::quality::RandomState;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// Most destinations tracked per window; more are counted, not kept.
const MAX_DESTINATIONS: usize = 256;
/// Destinations listed in a written window.
const TOP_DESTINATIONS: usize = 5;
/// Community IDs kept per destination (the alert lists these).
const MAX_COMMUNITY_IDS: usize = 64;
/// Pids and users kept per window.
const MAX_PIDS: usize = 32;

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
    /// Connections.
    pub connections: u64,
    /// HTTP requests.
    pub http_requests: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Connections that carried HTTP.
    pub http_connections: u64,
    /// Connections that carried TLS.
    pub tls_connections: u64,
    /// TLS application-data bytes sent (HTTPS volume without decryption).
    pub tls_app_bytes_out: u64,
    /// TLS application-data bytes received.
    pub tls_app_bytes_in: u64,
    /// Request volume: HTTP request messages (headers + body) and TLS
    /// application data sent, for the flows that carried either.
    pub request_bytes: u64,
    /// Response volume: HTTP response messages and TLS application data
    /// received.
    pub response_bytes: u64,
    /// Earliest flow start (µs).
    pub first_start: u64,
    /// Community IDs of the earliest flows (at most 64), with their start,
    /// in (start, id) order: the same whatever order the flows came in.
    pub community_ids: Vec<(u64, String)>,
    /// (start, community ID) of the flow the domain was taken from.
    domain_from: Option<(u64, String)>,
}

/// Keeps `(start, id)` in `list` if it is among the `cap` earliest.
pub fn keep_earliest(list: &mut Vec<(u64, String)>, item: (u64, String), cap: usize) {
    let at = list.partition_point(|x| *x < item);
    if at < cap && list.get(at) != Some(&item) {
        list.insert(at, item);
        list.truncate(cap);
    }
}

/// Takes `value` into `slot` when the flow giving it is the earliest so far.
fn offer(
    slot: &mut Option<String>,
    from: &mut Option<(u64, String)>,
    value: Option<&String>,
    start: u64,
    id: &str,
) {
    if let Some(v) = value {
        if earlier(start, id, from) {
            *slot = Some(v.clone());
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
    fn add(&mut self, f: &AttributedFlow) {
        let r = &f.record;
        // Flows come in any order (threads): facts that one flow gives are
        // taken from the earliest flow that gives them.
        if let Some(d) = flow_domain(r) {
            if earlier(r.event.start, &r.community_id, &self.domain_from) {
                self.domain = Some(d);
                self.domain_from = Some((r.event.start, r.community_id.clone()));
            }
        }
        if self.connections == 0 || r.event.start < self.first_start {
            self.first_start = r.event.start;
        }
        let (req, resp) = request_response(r);
        self.connections += 1;
        self.http_requests += r.http.len() as u64;
        self.http_connections += u64::from(r.network.protocol == Some("http"));
        self.tls_connections += u64::from(r.network.protocol == Some("tls"));
        self.bytes_out += r.flow.payload_out;
        self.bytes_in += r.flow.payload_in;
        self.tls_app_bytes_out += r.tls.as_ref().map_or(0, |t| t.app_bytes_out);
        self.tls_app_bytes_in += r.tls.as_ref().map_or(0, |t| t.app_bytes_in);
        self.request_bytes += req;
        self.response_bytes += resp;
        keep_earliest(
            &mut self.community_ids,
            (r.event.start, r.community_id.clone()),
            MAX_COMMUNITY_IDS,
        );
    }
}

/// TLS server name, else the first HTTP Host.
fn flow_domain(r: &capture::FlowRecord) -> Option<String> {
    r.tls
        .as_ref()
        .and_then(|t| t.sni.clone())
        .or_else(|| r.http.iter().find_map(|h| h.host.clone()))
}

/// Request and response volume of one flow (DESIGN.md): HTTP message bytes
/// each way, or TLS application-data bytes; 0 for other flows. For HTTP the
/// payload is the floor, since transactions past the per-flow cap are not
/// recorded one by one.
fn request_response(r: &capture::FlowRecord) -> (u64, u64) {
    match r.network.protocol {
        Some("http") => {
            let req: u64 = r.http.iter().map(|h| h.request_bytes).sum();
            let resp: u64 = r.http.iter().map(|h| h.response_bytes).sum();
            (req.max(r.flow.payload_out), resp.max(r.flow.payload_in))
        }
        Some("tls") => r
            .tls
            .as_ref()
            .map_or((0, 0), |t| (t.app_bytes_out, t.app_bytes_in)),
        _ => (0, 0),
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
    /// Connections opened.
    pub connections: u64,
    /// HTTP requests.
    pub http_requests: u64,
    /// Connections that carried HTTP.
    pub http_connections: u64,
    /// Connections that carried TLS.
    pub tls_connections: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
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
    /// bytes_in / bytes_out (0 when nothing was sent).
    pub fn response_ratio(&self) -> f64 {
        if self.bytes_out == 0 {
            0.0
        } else {
            self.bytes_in as f64 / self.bytes_out as f64
        }
    }

    /// Request volume over every destination (HTTP messages, TLS
    /// application data).
    pub fn request_bytes(&self) -> u64 {
        self.destinations
            .values()
            .map(|d| d.request_bytes)
            .sum::<u64>()
            + self.other.request_bytes
    }

    /// Response volume over every destination.
    pub fn response_bytes(&self) -> u64 {
        self.destinations
            .values()
            .map(|d| d.response_bytes)
            .sum::<u64>()
            + self.other.response_bytes
    }

    /// Destinations by bytes sent, largest first.
    pub fn top_destinations(&self, n: usize) -> Vec<&Destination> {
        let mut v: Vec<&Destination> = self.destinations.values().collect();
        v.sort_by(|a, b| {
            b.bytes_out
                .cmp(&a.bytes_out)
                .then(b.connections.cmp(&a.connections))
                .then(a.ip.cmp(&b.ip))
                .then(a.port.cmp(&b.port))
        });
        v.truncate(n);
        v
    }

    fn add(&mut self, f: &AttributedFlow) {
        let r = &f.record;
        self.host_ips.insert(r.source.ip);
        if let Some(c) = &f.attribution.client {
            let p = &c.process;
            if let Some(pid) = p.pid {
                if self.pids.len() < MAX_PIDS {
                    self.pids.insert(pid);
                }
            }
            if let Some(u) = &p.user {
                if self.users.len() < MAX_PIDS && !self.users.contains(u) {
                    self.users.insert(u.clone());
                }
            }
            let (start, id) = (r.event.start, r.community_id.as_str());
            let [exe_from, sha_from, signer_from, cmd_from] = &mut self.facts_from;
            if let Some(exe) = &p.executable {
                if earlier(start, id, exe_from) {
                    *exe_from = Some((start, id.to_string()));
                    self.executable.clone_from(exe);
                    self.name = p.name().unwrap_or(exe).to_string();
                }
            }
            offer(&mut self.sha256, sha_from, p.sha256.as_ref(), start, id);
            offer(&mut self.signer, signer_from, p.signer.as_ref(), start, id);
            offer(
                &mut self.command_line,
                cmd_from,
                p.cmdline.as_ref(),
                start,
                id,
            );
        }
        if self.connections == 0 || r.event.start < self.first_start {
            self.first_start = r.event.start;
        }
        self.connections += 1;
        self.http_requests += r.http.len() as u64;
        self.http_connections += u64::from(r.network.protocol == Some("http"));
        self.tls_connections += u64::from(r.network.protocol == Some("tls"));
        self.bytes_out += r.flow.payload_out;
        self.bytes_in += r.flow.payload_in;
        self.frame_bytes_out += r.source.bytes;
        self.frame_bytes_in += r.destination.bytes;
        let key = (r.destination.ip, r.destination.port);
        if !self.destinations.contains_key(&key) && self.destinations.len() >= MAX_DESTINATIONS {
            self.destinations_dropped += 1;
            self.other.add(f);
            return;
        }
        let d = self.destinations.entry(key).or_default();
        d.ip = Some(r.destination.ip);
        d.port = r.destination.port;
        d.add(f);
    }

    /// The window as one NDJSON line with ECS-style names.
    pub fn to_json(&self) -> String {
        let top: Vec<serde_json::Value> = self
            .top_destinations(TOP_DESTINATIONS)
            .into_iter()
            .map(|d| {
                serde_json::json!({
                    "ip": d.ip, "port": d.port, "domain": d.domain,
                    "connections": d.connections, "http_requests": d.http_requests,
                    "bytes_out": d.bytes_out, "bytes_in": d.bytes_in,
                    "request_bytes": d.request_bytes, "response_bytes": d.response_bytes,
                })
            })
            .collect();
        let doc = serde_json::json!({
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
                "connections": self.connections,
                "http_requests": self.http_requests,
                "http_connections": self.http_connections,
                "tls_connections": self.tls_connections,
                "bytes_out": self.bytes_out,
                "bytes_in": self.bytes_in,
                "frame_bytes_out": self.frame_bytes_out,
                "frame_bytes_in": self.frame_bytes_in,
                "request_bytes": self.request_bytes(),
                "response_bytes": self.response_bytes(),
                "response_ratio": (self.response_ratio() * 1e6).round() / 1e6,
                "destinations": self.destinations.len() as u64 + self.destinations_dropped,
            },
            "destinations": top,
        });
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

/// Counters of the window table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WindowStats {
    /// Windows written.
    pub emitted: u64,
    /// Windows written early because the table was full (every window of
    /// the oldest start at once).
    pub evicted: u64,
    /// Flows whose window was written already (they outlived its wait, or
    /// a full table wrote it early): each counts in the window it ended in,
    /// or the first still open, so no window is written, judged or learnt
    /// from twice.
    pub late_flows: u64,
}

/// Open windows, keyed by (host, image key, window start).
pub struct ProcessWindows {
    length: u64,
    close_lag: u64,
    cap: usize,
    open: HashMap<(String, String, u64), ProcessWindow, RandomState>,
    latest_closed: u64,
    /// Counters.
    pub stats: WindowStats,
}

impl ProcessWindows {
    /// Windows of `length` µs; a window is written once packet time is
    /// `close_lag` µs past its end (flows are reported after they end), or
    /// when more than `cap` are open (oldest first).
    pub fn new(length: u64, close_lag: u64, cap: usize) -> Self {
        Self {
            length: length.max(1),
            close_lag,
            cap: cap.max(1),
            open: HashMap::default(),
            latest_closed: 0,
            stats: WindowStats::default(),
        }
    }

    /// Adds a flow whose client side is attributed; others are ignored.
    pub fn add(&mut self, f: &AttributedFlow, out: &mut dyn FnMut(ProcessWindow)) {
        let Some(c) = &f.attribution.client else {
            return;
        };
        let exe = c
            .process
            .executable
            .clone()
            .unwrap_or_else(|| format!("pid:{}", c.process.pid.unwrap_or(0)));
        let image = image_key(&exe);
        let mut start = self.start_of(f);
        if !self
            .open
            .contains_key(&(c.host_name.to_string(), image.clone(), start))
            && self.open.len() >= self.cap
        {
            self.evict_oldest(out);
            start = self.start_of(f);
        }
        if start != f.record.event.start / self.length * self.length {
            self.stats.late_flows += 1;
        }
        let key = (c.host_name.to_string(), image, start);
        let length = self.length;
        let image = key.1.clone();
        let w = self.open.entry(key).or_insert_with(|| ProcessWindow {
            host_name: c.host_name.to_string(),
            os: c.os.map(|o| o.name()),
            name: c.process.name().unwrap_or(&exe).to_string(),
            image,
            executable: exe.clone(),
            start,
            end: start.saturating_add(length),
            ..ProcessWindow::default()
        });
        w.add(f);
    }

    /// The start of the window a flow counts in: the one it started in,
    /// unless that one is written already. Then the one it ended in, which
    /// is still open (a flow is written within the wait after its end), or
    /// the first window not written, whatever the record says.
    fn start_of(&self, f: &AttributedFlow) -> u64 {
        let start = f.record.event.start / self.length * self.length;
        if start >= self.latest_closed {
            return start;
        }
        (f.record.event.end / self.length * self.length).max(self.latest_closed)
    }

    /// The table is full: writes every window of the oldest start, so that
    /// no window before the new bound is ever opened again.
    fn evict_oldest(&mut self, out: &mut dyn FnMut(ProcessWindow)) {
        let Some(oldest) = self.open.keys().map(|k| k.2).min() else {
            return;
        };
        let mut due: Vec<(String, String, u64)> = self
            .open
            .keys()
            .filter(|k| k.2 == oldest)
            .cloned()
            .collect();
        due.sort();
        for k in due {
            if let Some(w) = self.open.remove(&k) {
                self.stats.evicted += 1;
                self.latest_closed = self.latest_closed.max(w.end);
                self.emit(w, out);
            }
        }
    }

    /// Writes the windows that packet time `now` has left behind.
    pub fn advance(&mut self, now: u64, out: &mut dyn FnMut(ProcessWindow)) {
        let lag = self.close_lag;
        let mut due: Vec<(String, String, u64)> = self
            .open
            .iter()
            .filter(|(_, w)| w.end.saturating_add(lag) <= now)
            .map(|(k, _)| k.clone())
            .collect();
        due.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        for k in due {
            if let Some(w) = self.open.remove(&k) {
                self.latest_closed = self.latest_closed.max(w.end);
                self.emit(w, out);
            }
        }
    }

    /// Writes every open window, oldest first.
    pub fn finish(&mut self, out: &mut dyn FnMut(ProcessWindow)) {
        let mut all: Vec<ProcessWindow> = self.open.drain().map(|(_, w)| w).collect();
        all.sort_by(|a, b| {
            a.start
                .cmp(&b.start)
                .then(a.host_name.cmp(&b.host_name))
                .then(a.executable.cmp(&b.executable))
        });
        for w in all {
            self.emit(w, out);
        }
    }

    fn emit(&mut self, w: ProcessWindow, out: &mut dyn FnMut(ProcessWindow)) {
        self.stats.emitted += 1;
        out(w);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::attribute::{Attribution, Quality, Side};
    use crate::event::Process;
    use capture::record::{EndpointFields, EventFields, FlowFields, FlowRecord, NetworkFields};
    use std::sync::Arc;

    const S: u64 = 1_000_000;
    const T: u64 = 1_700_000_400 * S; // a window boundary for 600 s windows

    fn flow(start: u64, end: u64, bytes_out: u64) -> AttributedFlow {
        flow_of("/usr/bin/up", start, end, bytes_out)
    }

    fn flow_of(exe: &str, start: u64, end: u64, bytes_out: u64) -> AttributedFlow {
        let ep = |ip: [u8; 4], port, bytes| EndpointFields {
            ip: IpAddr::from(ip),
            port,
            packets: 1,
            bytes,
        };
        AttributedFlow {
            record: FlowRecord {
                community_id: "1:x".into(),
                event: EventFields {
                    start,
                    end,
                    reason: "fin",
                },
                network: NetworkFields {
                    transport: "tcp",
                    protocol: None,
                },
                source: ep([10, 0, 0, 1], 40000, bytes_out),
                destination: ep([192, 0, 2, 1], 443, 100),
                flow: FlowFields {
                    payload_out: bytes_out,
                    payload_in: 0,
                    missed_bytes: 0,
                    retransmitted_bytes: 0,
                    ip_bytes_out: bytes_out,
                    ip_bytes_in: 100,
                    history: String::new(),
                    midstream: false,
                },
                http: Vec::new(),
                tls: None,
                extra: Default::default(),
            },
            attribution: Attribution {
                client: Some(Side {
                    host: 0,
                    host_name: Arc::from("h1"),
                    os: None,
                    process: Arc::new(Process {
                        pid: Some(7),
                        executable: Some(exe.into()),
                        ..Process::default()
                    }),
                    quality: Quality::Exact,
                }),
                ..Attribution::default()
            },
        }
    }

    #[test]
    fn a_flow_outliving_its_window_counts_where_it_ended() {
        let mut w = ProcessWindows::new(600 * S, 360 * S, 100);
        let mut out = Vec::new();
        w.add(&flow(T + 5 * S, T + 10 * S, 1000), &mut |x| out.push(x));
        w.advance(T + 960 * S, &mut |x| out.push(x));
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].start, out[0].connections), (T, 1));
        // Started in the window written above, ended 2,000 s in.
        w.add(&flow(T + 20 * S, T + 2000 * S, 5000), &mut |x| out.push(x));
        w.finish(&mut |x| out.push(x));
        assert_eq!(out.len(), 2, "no second record of the first window");
        assert_eq!(out[1].start, T + 1800 * S);
        assert_eq!((out[1].connections, out[1].bytes_out), (1, 5000));
        assert_eq!(w.stats.late_flows, 1);
        // A record claiming to end before the written windows still lands
        // in the first window not written.
        w.add(&flow(T + 30 * S, T + 40 * S, 1), &mut |x| out.push(x));
        w.finish(&mut |x| out.push(x));
        assert_eq!(out[2].start, T + 600 * S);
    }

    #[test]
    fn a_window_pushed_out_of_a_full_table_is_not_opened_again() {
        let mut w = ProcessWindows::new(600 * S, 360 * S, 1);
        let mut out = Vec::new();
        w.add(&flow_of("/bin/a", T + S, T + 2 * S, 1), &mut |x| {
            out.push(x)
        });
        // The table holds one window: W0 is written for every process to
        // make room, so b's flow counts in the next window.
        w.add(&flow_of("/bin/b", T + S, T + 2 * S, 2), &mut |x| {
            out.push(x)
        });
        assert_eq!(out.len(), 1);
        // Another flow of a in W0 finds W0 written and W1 full: W1 goes
        // out in turn, and the flow counts in W2. No window twice.
        w.add(&flow_of("/bin/a", T + 3 * S, T + 4 * S, 3), &mut |x| {
            out.push(x)
        });
        w.finish(&mut |x| out.push(x));
        let seen: Vec<(&str, u64, u64)> = out
            .iter()
            .map(|x| (x.executable.as_str(), x.start, x.bytes_out))
            .collect();
        assert_eq!(
            seen,
            [
                ("/bin/a", T, 1),
                ("/bin/b", T + 600 * S, 2),
                ("/bin/a", T + 1200 * S, 3)
            ]
        );
        assert_eq!((w.stats.evicted, w.stats.late_flows), (2, 2));
    }
}
