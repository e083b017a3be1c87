//! The socket index: every socket an endpoint reported, as a time interval,
//! keyed by its 5-tuple, or by its remote endpoint when the feed does not
//! log the local port.

use crate::config::AttributionConfig;
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use crate::hosts::{ClockId, HostId, Hosts};
use capture::prescan::FlowList;
use foldhash::quality::RandomState;
use lru::LruCache;
use std::collections::HashSet;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;

/// One socket, on the endpoint's clock.
#[derive(Debug, Clone)]
pub struct Socket {
    /// First time the socket was seen (µs, endpoint clock).
    pub first: u64,
    /// Last time it was seen, or when it was closed.
    pub last: u64,
    /// `first` is the socket's creation (connect/accept), not a sighting.
    pub starts: bool,
    /// A close event was seen.
    pub closed: bool,
    /// Event kind that created the record.
    pub kind: EventKind,
    /// Endpoint host.
    pub host: HostId,
    /// Clock of the feed that reported it.
    pub clock: ClockId,
    /// Local address, when logged.
    pub local_ip: Option<IpAddr>,
    /// Transport, when logged.
    pub proto: Option<Transport>,
    /// The process.
    pub process: Arc<Process>,
}

/// Full 5-tuple from the endpoint's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactKey {
    /// Transport.
    pub proto: Transport,
    /// Local address and port.
    pub local: (IpAddr, u16),
    /// Remote address and port.
    pub remote: (IpAddr, u16),
}

/// Counters of the index.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct IndexStats {
    /// Events taken into the index.
    pub events: u64,
    /// Sockets created.
    pub sockets: u64,
    /// Events merged into an existing socket (duplicates, sightings, closes).
    pub merged: u64,
    /// Sockets evicted to stay under the cap.
    pub evicted: u64,
    /// Events refused because the host table was full.
    pub refused_hosts: u64,
    /// Processes shared between sockets (interned).
    pub processes: u64,
    /// Events whose process had a pid but no executable (a Sysmon
    /// `<unknown process>`): named at attribution from another event of
    /// the same host and pid when there is one, else left unknown.
    pub unknown_images: u64,
    /// Events left out because their socket could name no flow of the
    /// capture (with [`SocketIndex::only_for`]: feeds larger than the
    /// index, read after listing the capture's flows).
    pub not_in_capture: u64,
}

/// Sockets grouped under a key, oldest first, with a shared budget.
struct Buckets<K: Hash + Eq> {
    map: LruCache<K, Vec<Socket>, RandomState>,
    total: usize,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new() -> Self {
        Self {
            map: LruCache::unbounded_with_hasher(RandomState::default()),
            total: 0,
        }
    }

    /// Drops least recently used keys until at most `cap` sockets remain.
    fn shrink(&mut self, cap: usize, evicted: &mut u64) {
        while self.total > cap {
            match self.map.pop_lru() {
                Some((_, v)) => {
                    self.total -= v.len();
                    *evicted += v.len() as u64;
                }
                None => break,
            }
        }
    }
}

/// The socket index. See the crate docs for the matching rules.
pub struct SocketIndex {
    exact: Buckets<ExactKey>,
    remote: Buckets<(IpAddr, u16)>,
    /// Hosts and their clocks.
    pub hosts: Hosts,
    processes: HashSet<Arc<Process>, RandomState>,
    /// The executable other events named for a host's process: by the
    /// agent's process id (`guid`) where it gives one, else by pid.
    images: LruCache<(HostId, ProcessKey), String, RandomState>,
    cfg: AttributionConfig,
    /// The capture's flows, when only sockets that could name one of
    /// them are kept.
    only: Option<Arc<FlowList>>,
    /// Counters.
    pub stats: IndexStats,
}

impl SocketIndex {
    /// An empty index.
    pub fn new(cfg: AttributionConfig) -> Self {
        Self {
            exact: Buckets::new(),
            remote: Buckets::new(),
            hosts: Hosts::new(cfg.max_hosts),
            processes: HashSet::default(),
            images: LruCache::unbounded_with_hasher(RandomState::default()),
            cfg,
            only: None,
            stats: IndexStats::default(),
        }
    }

    /// An index that keeps only the sockets that could name one of the
    /// flows `list` holds: exactly its 5-tuple, or, for a feed without
    /// local ports, one of its ends. An event left out makes no host
    /// known; the executable it names for a host already known is still
    /// learnt (it names that process's other sockets).
    pub fn only_for(mut self, list: Arc<FlowList>) -> Self {
        self.only = Some(list);
        self
    }

    /// The settings.
    pub fn config(&self) -> &AttributionConfig {
        &self.cfg
    }

    /// Takes one event from feed number `feed`.
    pub fn insert(&mut self, ev: SocketEvent, feed: u16) {
        self.stats.events += 1;
        let local_ip = ev.local_ip.filter(|ip| !ip.is_unspecified());
        let remote = (ev.remote_ip, ev.remote_port);
        let local_port = ev.local_port.filter(|&p| p != 0);
        if let Some(list) = &self.only {
            let named = match (ev.proto, local_ip, local_port) {
                (Some(proto), Some(ip), Some(port)) => list.has_flow(proto, (ip, port), remote),
                _ => list.has_endpoint(ev.proto, remote),
            };
            if !named {
                // Left out, and its host with it; what it says of a known
                // host's process still names that process's other sockets.
                self.stats.not_in_capture += 1;
                if let Some(host) = self.hosts.id(&ev.host) {
                    self.note_image(host, &ev.process);
                }
                return;
            }
        }
        let os = ev.os.or_else(|| guess_os(&ev.process));
        let Some((host, clock)) = self.hosts.intern(&ev.host, os, feed) else {
            self.stats.refused_hosts += 1;
            return;
        };
        if let Some(ip) = local_ip.or(ev.host_ip) {
            self.hosts.add_ip(host, ip);
        }
        self.note_image(host, &ev.process);
        let process = self.intern(ev.process);
        let sock = Socket {
            first: ev.ts,
            last: ev.ts,
            starts: ev.kind.marks_start(),
            closed: ev.kind == EventKind::Close,
            kind: ev.kind,
            host,
            clock,
            local_ip,
            proto: ev.proto,
            process,
        };
        let tol = self.cfg.time_tolerance;
        match (ev.proto, local_ip, local_port) {
            (Some(proto), Some(ip), Some(port)) => {
                let key = ExactKey {
                    proto,
                    local: (ip, port),
                    remote,
                };
                // Most keys hold one socket: room for one, not the four a first push
                // would reserve.
                let list = self
                    .exact
                    .map
                    .get_or_insert_mut(key, || Vec::with_capacity(1));
                if merge(list, &sock, tol) {
                    self.stats.merged += 1;
                } else {
                    insert_sorted(list, sock);
                    self.exact.total += 1;
                    self.stats.sockets += 1;
                    self.exact
                        .shrink(self.cfg.max_sockets, &mut self.stats.evicted);
                }
            }
            _ => {
                let list = self
                    .remote
                    .map
                    .get_or_insert_mut(remote, || Vec::with_capacity(1));
                if merge(list, &sock, tol) {
                    self.stats.merged += 1;
                } else {
                    insert_sorted(list, sock);
                    self.remote.total += 1;
                    self.stats.sockets += 1;
                    if list.len() > self.cfg.max_sockets_per_remote {
                        list.remove(0);
                        self.remote.total -= 1;
                        self.stats.evicted += 1;
                    }
                    let cap = self.cfg.max_sockets.saturating_sub(self.exact.total);
                    self.remote.shrink(cap, &mut self.stats.evicted);
                }
            }
        }
    }

    /// Sockets whose local side is `local` and remote side `remote`.
    pub fn exact(
        &self,
        proto: Transport,
        local: (IpAddr, u16),
        remote: (IpAddr, u16),
    ) -> &[Socket] {
        let key = ExactKey {
            proto,
            local,
            remote,
        };
        self.exact.map.peek(&key).map_or(&[], Vec::as_slice)
    }

    /// Sockets without a local port whose remote side is `remote`.
    pub fn by_remote(&self, remote: (IpAddr, u16)) -> &[Socket] {
        self.remote.map.peek(&remote).map_or(&[], Vec::as_slice)
    }

    /// Whether any socket held could be matched to a flow between these
    /// two ends, in either role: the only sockets attribution draws from.
    pub fn has_candidates(&self, proto: Transport, a: (IpAddr, u16), b: (IpAddr, u16)) -> bool {
        !(self.exact(proto, a, b).is_empty()
            && self.exact(proto, b, a).is_empty()
            && self.by_remote(a).is_empty()
            && self.by_remote(b).is_empty())
    }

    /// Sockets held now.
    pub fn len(&self) -> usize {
        self.exact.total + self.remote.total
    }

    /// True when no socket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers which executable a host's process runs, or counts an
    /// event that does not say.
    fn note_image(&mut self, host: HostId, p: &Process) {
        let keys = ProcessKey::of(p);
        if keys.is_empty() {
            return;
        }
        let Some(exe) = &p.executable else {
            self.stats.unknown_images += 1;
            return;
        };
        for k in keys {
            if self.images.peek(&(host, k.clone())) != Some(exe) {
                self.images.put((host, k), exe.clone());
                if self.images.len() > self.cfg.max_sockets.max(1) {
                    self.images.pop_lru();
                }
            }
        }
    }

    /// `p`, with the executable another event of `host` named for the
    /// same process (its guid first, else its pid) when it has none of its
    /// own.
    pub fn resolve(&self, host: HostId, p: &Arc<Process>) -> Arc<Process> {
        if p.executable.is_some() {
            return p.clone();
        }
        let found = ProcessKey::of(p)
            .into_iter()
            .find_map(|k| self.images.peek(&(host, k)));
        match found {
            Some(exe) => Arc::new(Process {
                executable: Some(exe.clone()),
                ..(**p).clone()
            }),
            None => p.clone(),
        }
    }

    fn intern(&mut self, p: Arc<Process>) -> Arc<Process> {
        if let Some(have) = self.processes.get(&p) {
            return have.clone();
        }
        // The interner only saves memory: when full, start again rather
        // than grow without bound.
        if self.processes.len() >= self.cfg.max_sockets.max(1024) {
            self.processes.clear();
        }
        self.processes.insert(p.clone());
        self.stats.processes = self.processes.len() as u64;
        p
    }
}

/// How another event names the same process.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ProcessKey {
    Guid(String),
    Pid(u32),
}

impl ProcessKey {
    /// The keys of `p`, surest first: its guid, then its pid.
    fn of(p: &Process) -> Vec<ProcessKey> {
        let guid = p.guid.clone().map(ProcessKey::Guid);
        guid.into_iter().chain(p.pid.map(ProcessKey::Pid)).collect()
    }
}

/// Folds `sock` into a socket of `list` it describes again: a close or a
/// later sighting of the same process's socket, or the same connect logged
/// twice. Returns false when it is a new socket.
fn merge(list: &mut [Socket], sock: &Socket, tol: u64) -> bool {
    for s in list.iter_mut().rev() {
        if s.host != sock.host || s.process.pid != sock.process.pid || s.closed {
            continue;
        }
        let same = match sock.kind {
            EventKind::Close | EventKind::Open => sock.first + tol >= s.first,
            EventKind::Connect | EventKind::Accept => {
                s.kind == sock.kind && s.clock == sock.clock && s.first.abs_diff(sock.first) <= tol
            }
        };
        if same {
            s.last = s.last.max(sock.last);
            s.closed |= sock.closed;
            return true;
        }
    }
    false
}

fn insert_sorted(list: &mut Vec<Socket>, sock: Socket) {
    let at = list.partition_point(|s| s.first <= sock.first);
    list.insert(at, sock);
}

/// Platform from the shape of the executable path, when the feed says none.
pub fn guess_os(p: &Process) -> Option<Os> {
    let exe = p.executable.as_deref()?;
    let b = exe.as_bytes();
    if exe.contains('\\') || (b.len() > 2 && b.get(1) == Some(&b':')) {
        Some(Os::Windows)
    } else if exe.starts_with('/') {
        Some(Os::Linux)
    } else {
        None
    }
}
