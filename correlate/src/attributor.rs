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

/// Most unattributed client addresses tracked for the blind-spot list:
/// 7/8 of 65,536, so that the table stays at 65,536 buckets of 48 bytes
/// (3 MiB; one more would double it).
const MAX_TALKERS: usize = 57_344;

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
}

/// What the blind-spot table keeps of one address (the address is its
/// key): 24 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    bytes: u64,
    /// Payload bytes of the largest flow, whose port is `top_port`.
    top_bytes: u64,
    flows: u32,
    top_port: u16,
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
    /// Flows that skipped the wait: the feeds were complete and no socket
    /// in them could match (see [`Attributor::with_complete_index`]).
    pub released_unmatched: u64,
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
    /// No event will come after those in the index (a file's feeds, read
    /// whole before the capture).
    complete: bool,
    watermark: Watermark,
    /// Coverage so far.
    pub coverage: Coverage,
    talkers: HashMap<IpAddr, Tally, RandomState>,
}

impl Attributor {
    /// A stage over `index`.
    pub fn new(index: SocketIndex) -> Self {
        Self {
            index,
            pending: VecDeque::new(),
            complete: false,
            watermark: Watermark::default(),
            coverage: Coverage::default(),
            talkers: HashMap::default(),
        }
    }

    /// A stage whose index holds every event there will be: a flow that
    /// no socket in it could match is attributed (to nobody) at once,
    /// since neither late events nor clock estimates can change that.
    /// Records of such flows then go out ahead of those still waiting.
    pub fn with_complete_index(mut self) -> Self {
        self.complete = true;
        self
    }

    /// Takes a flow as the engine emits it.
    pub fn push(&mut self, rec: FlowRecord, out: &mut dyn FnMut(AttributedFlow)) {
        self.watermark.advance(rec.event.end);
        let icmp = rec.network.transport.is_icmp();
        let key = FlowKeyTime::of(&rec);
        if !icmp {
            self.index.observe(&key);
        }
        if self.complete && (icmp || !self.index.has_candidates(key.proto, key.client, key.server))
        {
            self.coverage.released_unmatched += 1;
            self.release(rec, out);
            return self.drain_due(out);
        }
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
        let mut v: Vec<Talker> = self
            .talkers
            .iter()
            .map(|(ip, t)| Talker {
                ip: Some(*ip),
                flows: u64::from(t.flows),
                bytes: t.bytes,
                top_port: t.top_port,
            })
            .collect();
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
        // One search for a client already tracked (the most: the table
        // misses cache on a busy link's many clients), a second only to add.
        let full = self.talkers.len() >= MAX_TALKERS;
        let t = match self.talkers.get_mut(&ip) {
            Some(t) => t,
            None if full => {
                c.talkers_dropped += 1;
                return;
            }
            None => self.talkers.entry(ip).or_default(),
        };
        t.flows = t.flows.saturating_add(1);
        t.bytes += bytes;
        if bytes >= t.top_bytes {
            t.top_bytes = bytes;
            t.top_port = r.destination.port;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AttributionConfig;
    use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
    use capture::record::{EndpointFields, EventFields};
    use std::sync::Arc;

    const T: u64 = 1_700_000_000_000_000;
    const S: u64 = 1_000_000;

    fn end(ip: &str, port: u16) -> EndpointFields {
        EndpointFields {
            ip: ip.parse().expect("ip"),
            port,
            packets: 3,
            bytes: 200,
        }
    }

    fn flow(client: &str, start: u64) -> FlowRecord {
        let event = EventFields {
            start,
            end: start + S,
            reason: "fin",
        };
        FlowRecord::new(
            event,
            Transport::Tcp,
            end(client, 40000),
            end("192.0.2.1", 80),
        )
    }

    /// An index with curl's connect from 10.0.0.5:40000 to 192.0.2.1:80.
    fn index() -> SocketIndex {
        let mut ix = SocketIndex::new(AttributionConfig::default());
        ix.insert(
            SocketEvent {
                ts: T,
                host: "h".into(),
                host_ip: None,
                os: Some(Os::Linux),
                kind: EventKind::Connect,
                proto: Some(Transport::Tcp),
                local_ip: Some("10.0.0.5".parse().expect("ip")),
                local_port: Some(40000),
                remote_ip: "192.0.2.1".parse().expect("ip"),
                remote_port: 80,
                process: Arc::new(Process {
                    pid: Some(7),
                    executable: Some("/usr/bin/curl".into()),
                    ..Process::default()
                }),
            },
            0,
        );
        ix
    }

    fn run(a: &mut Attributor, flows: Vec<FlowRecord>) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        for f in flows {
            a.push(f, &mut |o| {
                out.push((
                    o.record.source.ip.to_string(),
                    o.attribution.client.is_some(),
                ))
            });
        }
        a.finish(&mut |o| {
            out.push((
                o.record.source.ip.to_string(),
                o.attribution.client.is_some(),
            ))
        });
        out
    }

    #[test]
    fn with_every_event_in_only_flows_a_socket_could_match_wait() {
        let flows = || {
            vec![
                flow("10.0.0.5", T),
                flow("10.0.0.9", T),
                flow("10.0.0.8", T),
            ]
        };
        let mut complete = Attributor::new(index()).with_complete_index();
        let got = run(&mut complete, flows());
        // The two no socket names go out at once, ahead of the one that
        // waits for late events; each is attributed as it would be anyway.
        let want = [("10.0.0.9", false), ("10.0.0.8", false), ("10.0.0.5", true)];
        assert_eq!(got, want.map(|(ip, a)| (ip.to_string(), a)));
        assert_eq!(complete.coverage.released_unmatched, 2);
        assert_eq!(
            (complete.coverage.flows, complete.coverage.unattributed),
            (3, 2)
        );

        let mut live = Attributor::new(index());
        let got = run(&mut live, flows());
        let want = [("10.0.0.5", true), ("10.0.0.9", false), ("10.0.0.8", false)];
        assert_eq!(got, want.map(|(ip, a)| (ip.to_string(), a)));
        assert_eq!(live.coverage.released_unmatched, 0);
    }

    #[test]
    fn the_blind_spot_list_keeps_its_cap_and_its_heaviest() {
        let mut a = Attributor::new(index()).with_complete_index();
        let extra = 10;
        let mut flows = Vec::new();
        for i in 0..MAX_TALKERS + extra {
            let ip = std::net::Ipv4Addr::from(0x0a10_0000 + i as u32).to_string();
            let mut f = flow(&ip, T);
            f.flow.payload_out = 100;
            flows.push(f);
        }
        // Two more flows of the first address: the heaviest, and to 443.
        for (bytes, port) in [(5_000, 443), (300, 8080)] {
            let mut f = flow("10.16.0.0", T);
            f.flow.payload_out = bytes;
            f.destination.port = port;
            flows.push(f);
        }
        run(&mut a, flows);
        assert_eq!(a.talkers.len(), MAX_TALKERS);
        // Full, the table never doubled past its 65,536 buckets.
        assert!(a.talkers.capacity() < 65_536, "{}", a.talkers.capacity());
        assert_eq!(a.coverage.talkers_dropped, extra as u64);
        let top = a.top_unattributed(2);
        assert_eq!(top[0].ip, Some("10.16.0.0".parse().expect("ip")));
        assert_eq!(
            (top[0].flows, top[0].bytes, top[0].top_port),
            (3, 5_400, 443)
        );
        assert_eq!((top[1].flows, top[1].bytes), (1, 100));
    }
}
