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
/// Community IDs kept per destination.
const MAX_COMMUNITY_IDS: usize = 16;
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
    /// TLS application-data bytes sent (HTTPS volume without decryption).
    pub tls_app_bytes_out: u64,
    /// Community IDs of the flows (at most 16).
    pub community_ids: Vec<String>,
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
    /// Executable as first reported.
    pub executable: String,
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
    /// Per destination (ip, port).
    pub destinations: HashMap<(IpAddr, u16), Destination, RandomState>,
    /// Destinations not kept because the window was full.
    pub destinations_dropped: u64,
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
            if let Some(pid) = c.process.pid {
                if self.pids.len() < MAX_PIDS {
                    self.pids.insert(pid);
                }
            }
            if let Some(u) = &c.process.user {
                if self.users.len() < MAX_PIDS && !self.users.contains(u) {
                    self.users.insert(u.clone());
                }
            }
        }
        let requests = r.http.len() as u64;
        self.connections += 1;
        self.http_requests += requests;
        self.http_connections += u64::from(r.network.protocol == Some("http"));
        self.tls_connections += u64::from(r.network.protocol == Some("tls"));
        self.bytes_out += r.flow.payload_out;
        self.bytes_in += r.flow.payload_in;
        self.frame_bytes_out += r.source.bytes;
        self.frame_bytes_in += r.destination.bytes;
        let key = (r.destination.ip, r.destination.port);
        if !self.destinations.contains_key(&key) && self.destinations.len() >= MAX_DESTINATIONS {
            self.destinations_dropped += 1;
            return;
        }
        let d = self.destinations.entry(key).or_default();
        d.ip = Some(r.destination.ip);
        d.port = r.destination.port;
        if d.domain.is_none() {
            d.domain = r
                .tls
                .as_ref()
                .and_then(|t| t.sni.clone())
                .or_else(|| r.http.iter().find_map(|h| h.host.clone()));
        }
        d.connections += 1;
        d.http_requests += requests;
        d.bytes_out += r.flow.payload_out;
        d.bytes_in += r.flow.payload_in;
        d.tls_app_bytes_out += r.tls.as_ref().map_or(0, |t| t.app_bytes_out);
        if d.community_ids.len() < MAX_COMMUNITY_IDS {
            d.community_ids.push(r.community_id.clone());
        }
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
                })
            })
            .collect();
        let doc = serde_json::json!({
            "window": { "start": rfc3339(self.start), "end": rfc3339(self.end) },
            "host": { "name": self.host_name, "ip": self.host_ips, "os": self.os.map(|f| serde_json::json!({"family": f})) },
            "process": { "executable": self.executable, "name": self.name, "pid": self.pids },
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
    /// Windows written early because the table was full.
    pub evicted: u64,
    /// Flows that arrived for a window already written (a second record
    /// for that window follows).
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
        let start = f.record.event.start / self.length * self.length;
        if start < self.latest_closed {
            self.stats.late_flows += 1;
        }
        let key = (c.host_name.to_string(), image_key(&exe), start);
        if !self.open.contains_key(&key) && self.open.len() >= self.cap {
            if let Some(oldest) = self.open.keys().min_by_key(|k| k.2).cloned() {
                if let Some(w) = self.open.remove(&oldest) {
                    self.stats.evicted += 1;
                    self.emit(w, out);
                }
            }
        }
        let length = self.length;
        let w = self.open.entry(key).or_insert_with(|| ProcessWindow {
            host_name: c.host_name.to_string(),
            os: c.os.map(|o| o.name()),
            name: c.process.name().unwrap_or(&exe).to_string(),
            executable: exe.clone(),
            start,
            end: start + length,
            ..ProcessWindow::default()
        });
        w.add(f);
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
