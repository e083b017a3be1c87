//! Endpoint hosts: names, addresses, and each feed clock's offset from the
//! sensor's packet time.

use crate::event::Os;
use foldhash::quality::RandomState;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// Index of a host in [`Hosts`].
pub type HostId = u32;

/// Index of a clock: one per (host, feed file), since two exports of the
/// same host can carry different clocks (Sysmon `UtcTime` vs event-log
/// `TimeCreated`, days apart in real data).
pub type ClockId = u32;

/// Most addresses remembered per host.
const MAX_IPS: usize = 16;
/// Offset samples kept per clock; the estimate is their median. Few
/// enough that the estimate follows a clock that drifts: the event-log
/// time of Windows Security 5156 records (`TimeCreated`) wanders by about
/// a minute over five minutes of the lsass corpus capture, which a median
/// of 64 samples trailed by more than the late-event window.
const MAX_SAMPLES: usize = 16;

/// What is known of one endpoint host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Host name as the feed gave it.
    pub name: Arc<str>,
    /// Operating system, when a feed told it.
    pub os: Option<Os>,
    /// Local addresses its events used (at most 16).
    pub ips: Vec<IpAddr>,
}

/// One feed clock's offset estimate.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Host the clock belongs to.
    pub host: HostId,
    /// Feed the clock's events came from.
    pub feed: u16,
    samples: VecDeque<i64>,
    estimate: Option<i64>,
    /// Samples taken in all.
    pub sample_count: u64,
}

impl Clock {
    /// Sensor time minus endpoint time, in microseconds, when estimated.
    pub fn offset(&self) -> Option<i64> {
        self.estimate
    }

    fn add(&mut self, sample: i64) {
        if self.samples.len() == MAX_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
        self.sample_count += 1;
        let mut v: Vec<i64> = self.samples.iter().copied().collect();
        v.sort_unstable();
        self.estimate = v.get(v.len() / 2).copied();
    }
}

/// The host and clock tables.
#[derive(Debug, Default)]
pub struct Hosts {
    hosts: Vec<Host>,
    by_name: HashMap<String, HostId, RandomState>,
    clocks: Vec<Clock>,
    clock_ids: HashMap<(HostId, u16), ClockId, RandomState>,
    cap: usize,
    /// Events dropped because the host table was full.
    pub refused: u64,
}

impl Hosts {
    /// An empty table holding at most `cap` hosts.
    pub fn new(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// The host named `name`, if an event made it known.
    pub fn id(&self, name: &str) -> Option<HostId> {
        self.by_name.get(name).copied()
    }

    /// The host and clock for an event of `name` from feed `feed`; `None`
    /// when the table is full.
    pub fn intern(&mut self, name: &str, os: Option<Os>, feed: u16) -> Option<(HostId, ClockId)> {
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => {
                if self.hosts.len() >= self.cap {
                    self.refused += 1;
                    return None;
                }
                let id = HostId::try_from(self.hosts.len()).ok()?;
                self.hosts.push(Host {
                    name: Arc::from(name),
                    os: None,
                    ips: Vec::new(),
                });
                self.by_name.insert(name.to_string(), id);
                id
            }
        };
        if let (Some(os), Some(h)) = (os, self.hosts.get_mut(id as usize)) {
            h.os.get_or_insert(os);
        }
        let clock = match self.clock_ids.get(&(id, feed)) {
            Some(&c) => c,
            None => {
                let c = ClockId::try_from(self.clocks.len()).ok()?;
                self.clocks.push(Clock {
                    host: id,
                    feed,
                    ..Clock::default()
                });
                self.clock_ids.insert((id, feed), c);
                c
            }
        };
        Some((id, clock))
    }

    /// Remembers that `host` used address `ip`.
    pub fn add_ip(&mut self, host: HostId, ip: IpAddr) {
        if ip.is_unspecified() {
            return;
        }
        if let Some(h) = self.hosts.get_mut(host as usize) {
            if !h.ips.contains(&ip) && h.ips.len() < MAX_IPS {
                h.ips.push(ip);
            }
        }
    }

    /// The host with this id.
    pub fn get(&self, id: HostId) -> Option<&Host> {
        self.hosts.get(id as usize)
    }

    /// All hosts.
    pub fn iter(&self) -> impl Iterator<Item = &Host> {
        self.hosts.iter()
    }

    /// The clock with this id.
    pub fn clock(&self, id: ClockId) -> Option<&Clock> {
        self.clocks.get(id as usize)
    }

    /// All clocks.
    pub fn clocks(&self) -> impl Iterator<Item = &Clock> {
        self.clocks.iter()
    }

    /// Offset to add to an endpoint time on this clock to get sensor time.
    pub fn offset(&self, id: ClockId) -> i64 {
        self.clocks
            .get(id as usize)
            .and_then(Clock::offset)
            .unwrap_or(0)
    }

    /// Records one offset sample (sensor time minus endpoint time).
    pub fn add_sample(&mut self, id: ClockId, sample: i64) {
        if let Some(c) = self.clocks.get_mut(id as usize) {
            c.add(sample);
        }
    }

    /// True when `ip` is a known address of `host`, or nothing is known of
    /// its addresses.
    pub fn may_own(&self, host: HostId, ip: IpAddr) -> bool {
        self.get(host)
            .is_none_or(|h| h.ips.is_empty() || h.ips.contains(&ip))
    }
}
