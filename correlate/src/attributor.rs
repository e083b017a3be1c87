//! The attribution stage: flows in, as the capture engine emits them;
//! attributed flows out, once late events have had their chance; coverage
//! counted on the way.

use crate::attribute::{Attribution, FlowKeyTime, Quality};
use crate::attributed::AttributedFlow;
use crate::index::SocketIndex;
use capture::FlowRecord;
use foldhash::quality::RandomState;
use model::time::Watermark;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

/// Most unattributed client addresses tracked for the blind-spot list.
const MAX_TALKERS: usize = 65_536;

/// Traffic from one client address that no feed explained.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Talker {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Flows.
    pub flows: u64,
    /// Payload bytes, both ways.
    pub bytes: u64,
    /// Server port of the largest flow.
    pub top_port: u16,
    #[serde(skip)]
    top_bytes: u64,
}

/// Coverage counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Coverage {
    /// Flows attributed (client side or server side or both).
    pub flows: u64,
    /// Flows whose client process is known, by quality.
    pub client_exact: u64,
    /// See `client_exact`.
    pub client_remote_only: u64,
    /// See `client_exact`.
    pub client_time_window: u64,
    /// Flows whose server process is known.
    pub server_attributed: u64,
    /// Flows with no process on either end.
    pub unattributed: u64,
    /// Flows left unattributed on a side because sockets disagreed.
    pub conflicts: u64,
    /// Payload bytes of all flows.
    pub bytes: u64,
    /// Payload bytes of flows with a process on either end.
    pub bytes_attributed: u64,
    /// Flows attributed before their late-event wait was over because too
    /// many were waiting.
    pub released_early: u64,
    /// Unattributed client addresses not tracked (table full).
    pub talkers_dropped: u64,
    /// ICMP flows: no socket ever owns them, so they are in none of the
    /// figures above.
    pub icmp: u64,
}

impl Coverage {
    /// Flows with a process on either end.
    pub fn attributed(&self) -> u64 {
        self.flows - self.unattributed
    }
}

/// Holds flows until late events could have arrived, then attributes them.
pub struct Attributor {
    /// The socket index (feed events go in here).
    pub index: SocketIndex,
    pending: VecDeque<FlowRecord>,
    watermark: Watermark,
    /// Coverage so far.
    pub coverage: Coverage,
    talkers: HashMap<IpAddr, Talker, RandomState>,
}

impl Attributor {
    /// A stage over `index`.
    pub fn new(index: SocketIndex) -> Self {
        Self {
            index,
            pending: VecDeque::new(),
            watermark: Watermark::default(),
            coverage: Coverage::default(),
            talkers: HashMap::default(),
        }
    }

    /// Takes a flow as the engine emits it.
    pub fn push(&mut self, rec: FlowRecord, out: &mut dyn FnMut(AttributedFlow)) {
        if !rec.network.transport.is_icmp() {
            self.index.observe(&FlowKeyTime::of(&rec));
        }
        self.watermark.advance(rec.event.end);
        self.pending.push_back(rec);
        if self.pending.len() > self.index.config().max_pending_flows {
            if let Some(r) = self.pending.pop_front() {
                self.coverage.released_early += 1;
                self.release(r, out);
            }
        }
        self.drain_due(out);
    }

    /// Packet time has reached `now`: flows whose wait is over go out.
    pub fn advance(&mut self, now: u64, out: &mut dyn FnMut(AttributedFlow)) {
        self.watermark.advance(now);
        self.drain_due(out);
    }

    /// Latest packet time seen.
    pub fn watermark(&self) -> u64 {
        self.watermark.at()
    }

    /// Attributes every waiting flow.
    pub fn finish(&mut self, out: &mut dyn FnMut(AttributedFlow)) {
        while let Some(r) = self.pending.pop_front() {
            self.release(r, out);
        }
    }

    /// Unattributed client addresses by payload bytes, largest first.
    pub fn top_unattributed(&self, n: usize) -> Vec<Talker> {
        let mut v: Vec<Talker> = self.talkers.values().cloned().collect();
        v.sort_by(|a, b| {
            b.bytes
                .cmp(&a.bytes)
                .then(b.flows.cmp(&a.flows))
                .then(a.ip.cmp(&b.ip))
        });
        v.truncate(n);
        v
    }

    fn drain_due(&mut self, out: &mut dyn FnMut(AttributedFlow)) {
        let late = self.index.config().late_window;
        while self
            .pending
            .front()
            .is_some_and(|r| self.watermark.passed(r.event.end, late))
        {
            if let Some(r) = self.pending.pop_front() {
                self.release(r, out);
            }
        }
    }

    fn release(&mut self, record: FlowRecord, out: &mut dyn FnMut(AttributedFlow)) {
        if record.network.transport.is_icmp() {
            self.coverage.icmp += 1;
            return out(AttributedFlow {
                record,
                attribution: Attribution::default(),
            });
        }
        let attribution = self.index.attribute(&FlowKeyTime::of(&record));
        self.count(&record, &attribution);
        out(AttributedFlow {
            record,
            attribution,
        });
    }

    fn count(&mut self, r: &FlowRecord, a: &Attribution) {
        let c = &mut self.coverage;
        let bytes = r.flow.payload_out + r.flow.payload_in;
        c.flows += 1;
        c.bytes += bytes;
        c.conflicts += u64::from(a.client_conflict) + u64::from(a.server_conflict);
        match a.client.as_ref().map(|s| s.quality) {
            Some(Quality::Exact) => c.client_exact += 1,
            Some(Quality::RemoteOnly) => c.client_remote_only += 1,
            Some(Quality::TimeWindow) => c.client_time_window += 1,
            Some(Quality::None) | None => {}
        }
        c.server_attributed += u64::from(a.server.is_some());
        if a.client.is_some() || a.server.is_some() {
            c.bytes_attributed += bytes;
            return;
        }
        c.unattributed += 1;
        let ip = r.source.ip;
        if !self.talkers.contains_key(&ip) && self.talkers.len() >= MAX_TALKERS {
            c.talkers_dropped += 1;
            return;
        }
        let t = self.talkers.entry(ip).or_default();
        t.ip = Some(ip);
        t.flows += 1;
        t.bytes += bytes;
        if bytes >= t.top_bytes {
            t.top_bytes = bytes;
            t.top_port = r.destination.port;
        }
    }
}
