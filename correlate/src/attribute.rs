//! Matching a flow to the sockets on either end of it.

use crate::event::{Os, Process, Transport};
use crate::hosts::{ClockId, HostId};
use crate::index::{Socket, SocketIndex};
use capture::FlowRecord;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// How much farther (beyond four times the best's distance) another
/// process's socket must be for the nearest to win without a conflict.
const CLEARLY_NEARER: u64 = 100_000;

/// How a flow was tied to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    /// Full 5-tuple, event time within the tolerance of the flow.
    Exact,
    /// Host and remote endpoint, event time nearest the flow's start: the
    /// feed had no local port.
    RemoteOnly,
    /// Full 5-tuple, but the event time is outside the tolerance and within
    /// the late-event window.
    TimeWindow,
    /// No socket names the flow, or several disagree.
    None,
}

impl Quality {
    /// The name written in records.
    pub fn name(self) -> &'static str {
        match self {
            Quality::Exact => "exact",
            Quality::RemoteOnly => "remote_only",
            Quality::TimeWindow => "time_window",
            Quality::None => "none",
        }
    }
}

/// The process on one end of a flow.
#[derive(Debug, Clone)]
pub struct Side {
    /// Host id in the index's host table.
    pub host: HostId,
    /// Host name.
    pub host_name: Arc<str>,
    /// Operating system, when known.
    pub os: Option<Os>,
    /// The process.
    pub process: Arc<Process>,
    /// How the match was made.
    pub quality: Quality,
}

/// What a flow was matched to.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    /// The process that opened the flow (the client's).
    pub client: Option<Side>,
    /// The process that accepted it (the server's).
    pub server: Option<Side>,
    /// Sockets named the client side but disagreed.
    pub client_conflict: bool,
    /// Sockets named the server side but disagreed.
    pub server_conflict: bool,
}

/// The flow facts matching needs.
#[derive(Debug, Clone, Copy)]
pub struct FlowKeyTime {
    /// Transport.
    pub proto: Transport,
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// First packet (µs, sensor time).
    pub start: u64,
    /// Last packet.
    pub end: u64,
    /// The SYN was not seen: the socket may be older than the flow.
    pub midstream: bool,
}

impl FlowKeyTime {
    /// The facts of a flow record.
    pub fn of(r: &FlowRecord) -> Self {
        Self {
            proto: r.network.transport,
            client: (r.source.ip, r.source.port),
            server: (r.destination.ip, r.destination.port),
            start: r.event.start,
            end: r.event.end,
            midstream: r.flow.midstream,
        }
    }
}

/// A way to fit a flow to a socket given the socket's (first, last) times
/// on the sensor's clock: the quality and the distance in time.
type FitFn<'a> = fn(&SocketIndex, &FlowKeyTime, &'a Socket, (i64, i64)) -> Option<(Quality, u64)>;

/// A socket that fits, with how well.
struct Candidate<'a> {
    sock: &'a Socket,
    quality: Quality,
    /// It fits without the clock offset estimate: the stronger evidence
    /// when another socket fits only with it.
    raw: bool,
    /// Distance in time from the flow (µs), to rank candidates.
    distance: u64,
}

impl SocketIndex {
    /// Offset samples from a flow: where exactly one socket of a host's feed
    /// clock, opened by connect or accept, names the flow's 5-tuple, the
    /// difference between the flow's start and that event estimates the
    /// clock's offset. Call for every flow as soon as it is known, before
    /// [`SocketIndex::attribute`].
    pub fn observe(&mut self, f: &FlowKeyTime) {
        if f.midstream {
            return;
        }
        let mut samples: Vec<(ClockId, i64)> = Vec::with_capacity(2);
        for (local, remote) in [(f.client, f.server), (f.server, f.client)] {
            let socks = self.exact(f.proto, local, remote);
            for s in socks.iter().filter(|s| s.starts) {
                let alone = socks
                    .iter()
                    .filter(|o| o.starts && o.clock == s.clock)
                    .count()
                    == 1;
                if alone {
                    samples.push((s.clock, f.start as i64 - s.first as i64));
                }
            }
        }
        // When some feed names the flow at its own time, a far-off match in
        // another feed is a reused 5-tuple, not evidence of a wrong clock.
        let tol = self.config().time_tolerance as i64;
        if samples.iter().any(|&(_, d)| d.abs() <= tol) {
            samples.retain(|&(_, d)| d.abs() <= tol);
        }
        for (clock, sample) in samples {
            self.hosts.add_sample(clock, sample);
        }
    }

    /// Matches a flow to the processes on both its ends.
    pub fn attribute(&self, f: &FlowKeyTime) -> Attribution {
        let (client, client_conflict) = self.side(f, f.client, f.server);
        let (server, server_conflict) = self.side(f, f.server, f.client);
        Attribution {
            client,
            server,
            client_conflict,
            server_conflict,
        }
    }

    /// The process whose local side is `local`.
    fn side(
        &self,
        f: &FlowKeyTime,
        local: (IpAddr, u16),
        remote: (IpAddr, u16),
    ) -> (Option<Side>, bool) {
        let cands: Vec<Candidate> = self
            .exact(f.proto, local, remote)
            .iter()
            .filter_map(|s| self.fit_exact(f, s))
            .collect();
        if !cands.is_empty() {
            return self.decide(cands, None);
        }
        let cands: Vec<Candidate> = self
            .by_remote(remote)
            .iter()
            .filter(|s| s.proto.is_none_or(|p| p == f.proto))
            .filter(|s| match s.local_ip {
                Some(ip) => ip == local.0,
                None => self.hosts.may_own(s.host, local.0),
            })
            .filter_map(|s| self.fit_remote(f, s))
            .collect();
        if !cands.is_empty() {
            return self.decide(cands, Some(self.config().remote_only_margin));
        }
        (None, false)
    }

    /// The socket's times on the sensor's clock: with the clock's offset
    /// estimate, or as the feed wrote them.
    fn times(&self, s: &Socket, raw: bool) -> (i64, i64) {
        let off = if raw { 0 } else { self.hosts.offset(s.clock) };
        (s.first as i64 + off, s.last as i64 + off)
    }

    /// The better of the fits with and without the offset estimate.
    fn fit<'a>(&self, f: &FlowKeyTime, s: &'a Socket, how: FitFn<'a>) -> Option<Candidate<'a>> {
        let adjusted = how(self, f, s, self.times(s, false));
        let raw = if self.hosts.offset(s.clock) == 0 {
            adjusted
        } else {
            how(self, f, s, self.times(s, true))
        };
        let pick = match (adjusted, raw) {
            (Some(a), Some(r)) if a.0 < r.0 => Some((a, false)),
            (_, Some(r)) => Some((r, true)),
            (Some(a), None) => Some((a, false)),
            (None, None) => None,
        };
        pick.map(|((quality, distance), raw)| Candidate {
            sock: s,
            quality,
            raw,
            distance,
        })
    }

    fn fit_exact<'a>(&self, f: &FlowKeyTime, s: &'a Socket) -> Option<Candidate<'a>> {
        self.fit(f, s, Self::exact_fit)
    }

    fn fit_remote<'a>(&self, f: &FlowKeyTime, s: &'a Socket) -> Option<Candidate<'a>> {
        self.fit(f, s, Self::remote_fit)
    }

    fn exact_fit(
        &self,
        f: &FlowKeyTime,
        s: &Socket,
        (first, last): (i64, i64),
    ) -> Option<(Quality, u64)> {
        let tol = self.config().time_tolerance as i64;
        let late = self.config().late_window as i64;
        let (start, end) = (f.start as i64, f.end as i64);
        let (quality, distance) = if s.starts {
            let d = first - start;
            // A socket opened before a flow picked up mid-stream may be
            // any age, as long as it was not closed before the flow.
            let older_open = f.midstream && d < 0 && (!s.closed || last >= start - tol);
            let late_event = d > tol && first <= end + late;
            let early_event = d < -tol && d >= -late;
            if d.abs() <= tol || older_open {
                (Quality::Exact, d.unsigned_abs())
            } else if late_event || early_event {
                (Quality::TimeWindow, d.unsigned_abs())
            } else {
                return None;
            }
        } else {
            // A sighting or a close: the socket lived over [first, last].
            let gap = if last < start {
                start - last
            } else if first > end {
                first - end
            } else {
                0
            };
            if gap <= tol {
                (Quality::Exact, gap.unsigned_abs())
            } else if gap <= late {
                (Quality::TimeWindow, gap.unsigned_abs())
            } else {
                return None;
            }
        };
        Some((quality, distance))
    }

    fn remote_fit(
        &self,
        f: &FlowKeyTime,
        s: &Socket,
        (first, last): (i64, i64),
    ) -> Option<(Quality, u64)> {
        let tol = self.config().time_tolerance as i64;
        let start = f.start as i64;
        let distance = if s.starts {
            (first - start).unsigned_abs()
        } else if first - tol <= f.end as i64 && last + tol >= start {
            0
        } else {
            return None;
        };
        (distance <= tol.unsigned_abs()).then_some((Quality::RemoteOnly, distance))
    }

    /// Keeps the best-quality candidates; they must all be the same process
    /// (or, with a `margin` (remote-only matches), every other process must
    /// be more than `margin` farther in time than the nearest candidate).
    fn decide(&self, mut cands: Vec<Candidate>, margin: Option<u64>) -> (Option<Side>, bool) {
        let Some(best_q) = cands.iter().map(|c| c.quality).min() else {
            return (None, false);
        };
        cands.retain(|c| c.quality == best_q);
        // A fit at the feed's own time outranks one that needs the offset.
        if cands.iter().any(|c| c.raw) && cands.iter().any(|c| !c.raw) {
            cands.retain(|c| c.raw);
        }
        cands.sort_by_key(|c| (c.distance, std::cmp::Reverse(richness(&c.sock.process))));
        let Some(best) = cands.first() else {
            return (None, false);
        };
        // Another process conflicts unless the best is clearly nearer in
        // time: a 5-tuple used again within the tolerance by another
        // process (a client port come round) is told apart by which
        // connect the flow's start is next to.
        let clear = margin.unwrap_or(best.distance.saturating_mul(4) + CLEARLY_NEARER);
        let conflict = cands.iter().skip(1).any(|c| {
            !self.same_process(best.sock, c.sock, margin.is_some())
                && c.distance <= best.distance.saturating_add(clear)
        });
        if conflict {
            return (None, true);
        }
        let host = self.hosts.get(best.sock.host);
        let side = Side {
            host: best.sock.host,
            host_name: host.map_or_else(|| Arc::from(""), |h| h.name.clone()),
            os: host.and_then(|h| h.os),
            process: self.resolve(best.sock.host, &best.sock.process),
            quality: best_q,
        };
        (Some(side), false)
    }

    /// Two sockets name the same process: same host, and the same pid where
    /// both have one (else the same image). With `by_image`, the same image
    /// is enough (one program run many times: the unit rules count).
    fn same_process(&self, a: &Socket, b: &Socket, by_image: bool) -> bool {
        if a.host != b.host {
            return false;
        }
        let same_image = match (&a.process.executable, &b.process.executable) {
            (Some(x), Some(y)) => image_key(x) == image_key(y),
            _ => false,
        };
        match (a.process.pid, b.process.pid) {
            (Some(x), Some(y)) if x == y => true,
            (Some(_), Some(_)) => by_image && same_image,
            _ => same_image,
        }
    }
}

/// How much a process record says, to prefer the fuller of two that agree.
fn richness(p: &Process) -> u8 {
    u8::from(p.executable.is_some())
        + u8::from(p.user.is_some())
        + u8::from(p.pid.is_some())
        + u8::from(p.cmdline.is_some())
        + u8::from(p.sha256.is_some())
        + u8::from(
            p.executable
                .as_deref()
                .is_some_and(|e| !e.starts_with("\\device\\")),
        )
}

pub use model::image::image_key;

#[cfg(test)]
#[path = "attribute_tests.rs"]
mod tests;
