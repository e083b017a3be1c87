//! Per-process windows: what each (host, process image) opened, sent and
//! received in each window of packet time.

use crate::attribute::image_key;
use crate::attributed::AttributedFlow;
use foldhash::quality::RandomState;
use model::time::Watermark;
pub use model::window::{keep_earliest, Destination, FlowRef, Kept, ProcessFacts, ProcessWindow};
use model::Traffic;
use serde::Serialize;
use std::collections::HashMap;

/// Most destinations tracked per window; more are counted, not kept.
const MAX_DESTINATIONS: usize = 256;
/// Flows listed per destination (an alert lists its flows from these).
pub const MAX_FLOWS_PER_DESTINATION: usize = 4096;
/// DNS answers remembered (client, address -> name).
const MAX_NAMES: usize = 200_000;
/// Flow references the whole window table holds by default.
pub const DEFAULT_MAX_FLOW_REFS: usize = 500_000;
/// Pids and users kept per window.
const MAX_PIDS: usize = 32;

/// The flow references every open window holds, against the table's cap.
#[derive(Debug, Clone, Copy)]
struct FlowBudget {
    held: usize,
    cap: usize,
}

/// Counts one flow into a destination.
fn add_to_destination(
    d: &mut Destination,
    f: &AttributedFlow,
    t: &Traffic,
    budget: &mut FlowBudget,
) {
    let r = &f.record;
    // Flows come in any order (threads): facts that one flow gives are
    // taken from the earliest flow that gives them.
    if let Some(domain) = flow_domain(r) {
        d.offer_domain(domain, r.event.start, &r.community_id);
    }
    if d.traffic.connections == 0 || r.event.start < d.first_start {
        d.first_start = r.event.start;
    }
    d.traffic.add(t);
    let flow = FlowRef {
        start: r.event.start,
        community_id: r.community_id.clone(),
        transport: r.network.transport,
        client: (r.source.ip, r.source.port),
        server: (r.destination.ip, r.destination.port),
        request_bytes: t.request_bytes,
    };
    // A full budget lists no more flows; a full destination keeps its
    // earliest ones. Either way what is not listed is counted.
    let cap = if budget.held < budget.cap {
        MAX_FLOWS_PER_DESTINATION
    } else {
        d.flows.len()
    };
    match keep_earliest(&mut d.flows, flow, cap) {
        Kept::Added => budget.held += 1,
        Kept::Replaced | Kept::No => d.flows_unlisted += 1,
    }
}

/// TLS server name, else the first HTTP Host, without a port (an HTTP
/// Host may carry one: `workstation6:5985`).
fn flow_domain(r: &capture::FlowRecord) -> Option<String> {
    r.tls
        .as_ref()
        .and_then(|t| t.sni.as_deref())
        .or_else(|| r.http.iter().find_map(|h| h.host.as_deref()))
        .map(|d| model::window::host_part(d).to_string())
        .filter(|d| !d.is_empty())
}

/// Counts one flow into its process window.
fn add_to_window(w: &mut ProcessWindow, f: &AttributedFlow, budget: &mut FlowBudget) {
    let r = &f.record;
    w.host_ips.insert(r.source.ip);
    if let Some(c) = &f.attribution.client {
        let p = &c.process;
        if let Some(pid) = p.pid {
            if w.pids.len() < MAX_PIDS {
                w.pids.insert(pid);
            }
        }
        if let Some(u) = &p.user {
            if w.users.len() < MAX_PIDS && !w.users.contains(u) {
                w.users.insert(u.clone());
            }
        }
        let facts = ProcessFacts {
            executable: p.executable.as_deref(),
            name: p.name(),
            sha256: p.sha256.as_deref(),
            signer: p.signer.as_deref(),
            command_line: p.cmdline.as_deref(),
        };
        w.offer_facts(&facts, r.event.start, &r.community_id);
    }
    if w.traffic.connections == 0 || r.event.start < w.first_start {
        w.first_start = r.event.start;
    }
    if let Some(j) = r.tls.as_ref().and_then(|t| t.ja4.as_deref()) {
        w.add_ja4(j);
    }
    let t = Traffic::of_flow(r);
    w.traffic.add(&t);
    w.frame_bytes_out += r.source.bytes;
    w.frame_bytes_in += r.destination.bytes;
    let key = (r.destination.ip, r.destination.port);
    if !w.destinations.contains_key(&key) && w.destinations.len() >= MAX_DESTINATIONS {
        w.destinations_dropped += 1;
        add_to_destination(&mut w.other, f, &t, budget);
        return;
    }
    let d = w.destinations.entry(key).or_default();
    d.ip = Some(r.destination.ip);
    d.port = r.destination.port;
    add_to_destination(d, f, &t, budget);
}

/// Counters of the window table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WindowStats {
    /// Windows written.
    pub emitted: u64,
    /// Windows written early because the table was full (every window of
    /// the oldest start at once).
    pub evicted: u64,
    /// Flows counted in a window but not listed in it: the table's budget
    /// of flow references was spent, or a destination's list was full.
    pub flows_unlisted: u64,
    /// Destinations named from their client's DNS answers.
    pub named_by_dns: u64,
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
    /// The end of the latest window written: no window before it opens
    /// again.
    latest_closed: Watermark,
    /// Packet time the windows were told of.
    reached: Watermark,
    budget: FlowBudget,
    /// What each client resolved, to name destinations with no name of
    /// their own.
    pub names: crate::names::Names,
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
            latest_closed: Watermark::default(),
            reached: Watermark::default(),
            budget: FlowBudget {
                held: 0,
                cap: DEFAULT_MAX_FLOW_REFS,
            },
            names: crate::names::Names::new(MAX_NAMES),
            stats: WindowStats::default(),
        }
    }

    /// At most `cap` flow references (what alerts list) held by the open
    /// windows together.
    pub fn with_max_flow_refs(mut self, cap: usize) -> Self {
        self.budget.cap = cap;
        self
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
        let w = self.open.entry(key).or_insert_with(|| {
            let end = start.saturating_add(length);
            let mut w = ProcessWindow::new(c.host_name.to_string(), image, start, end);
            w.os = c.os.map(|o| o.name());
            w.name = c.process.name().unwrap_or(&exe).to_string();
            w.executable.clone_from(&exe);
            w
        });
        add_to_window(w, f, &mut self.budget);
    }

    /// The start of the window a flow counts in: the one it started in,
    /// unless that one is written already. Then the one it ended in, which
    /// is still open (a flow is written within the wait after its end), or
    /// the first window not written, whatever the record says.
    fn start_of(&self, f: &AttributedFlow) -> u64 {
        let start = f.record.event.start / self.length * self.length;
        if start >= self.latest_closed.at() {
            return start;
        }
        self.latest_closed
            .clamp(f.record.event.end / self.length * self.length)
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
                self.latest_closed.advance(w.end);
                self.emit(w, out);
            }
        }
    }

    /// Writes the windows that packet time `now` has left behind.
    pub fn advance(&mut self, now: u64, out: &mut dyn FnMut(ProcessWindow)) {
        self.reached.advance(now);
        let (lag, reached) = (self.close_lag, self.reached);
        let mut due: Vec<(String, String, u64)> = self
            .open
            .iter()
            .filter(|(_, w)| reached.passed(w.end, lag))
            .map(|(k, _)| k.clone())
            .collect();
        due.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
        for k in due {
            if let Some(w) = self.open.remove(&k) {
                self.latest_closed.advance(w.end);
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

    /// Takes what any flow says that windows use besides their own flows:
    /// the answers of DNS flows.
    pub fn observe(&mut self, r: &capture::FlowRecord) {
        self.names.learn(r);
    }

    fn emit(&mut self, mut w: ProcessWindow, out: &mut dyn FnMut(ProcessWindow)) {
        self.stats.emitted += 1;
        // A destination with no name of its own: the one its client
        // resolved (the flows are written, so their DNS answers are in).
        // The client is the first listed flow's, else (nothing listed:
        // the budget was spent) the window's host address.
        let host = w.host_ips.iter().next().copied();
        for d in w.destinations.values_mut().filter(|d| d.domain.is_none()) {
            let client = d.flows.first().map(|f| f.client.0).or(host);
            let (Some(ip), Some(client)) = (d.ip, client) else {
                continue;
            };
            if let Some(name) = self.names.name(client, ip, d.first_start) {
                d.domain = Some(name.to_string());
                self.stats.named_by_dns += 1;
            }
        }
        let dests = w.destinations.values().chain(std::iter::once(&w.other));
        for d in dests {
            self.budget.held = self.budget.held.saturating_sub(d.flows.len());
            self.stats.flows_unlisted += d.flows_unlisted;
        }
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
    use std::net::IpAddr;
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
                    transport: crate::Transport::Tcp,
                    protocol: None,
                    vlan: None,
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
                tunnel: None,
                icmp: None,
                icmp_errors: None,
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
        assert_eq!((out[0].start, out[0].traffic.connections), (T, 1));
        // Started in the window written above, ended 2,000 s in.
        w.add(&flow(T + 20 * S, T + 2000 * S, 5000), &mut |x| out.push(x));
        w.finish(&mut |x| out.push(x));
        assert_eq!(out.len(), 2, "no second record of the first window");
        assert_eq!(out[1].start, T + 1800 * S);
        assert_eq!(
            (out[1].traffic.connections, out[1].traffic.bytes_out),
            (1, 5000)
        );
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
            .map(|x| (x.executable.as_str(), x.start, x.traffic.bytes_out))
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
