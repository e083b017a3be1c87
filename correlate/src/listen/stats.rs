//! What the listener counts: per peer (live ones, and the last closed
//! ones), and in all. Connection threads publish into one table once per
//! read, never per line.

use super::admit::{Decision, Displaced, Gate, Limits};
use crate::feed::FeedReport;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Closed peers kept in the table, newest last.
pub const RECENT_PEERS: usize = 64;
/// Peer addresses remembered for logging once per address.
const LOGGED_ADDRESSES: usize = 1024;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerState {
    /// TLS handshake or token line still to come.
    Authenticating,
    /// Its lines are read.
    Open,
    /// Closed; the reason is in [`PeerStats::closed`].
    Closed,
}

/// One connection.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerStats {
    /// Connection number, from 1, in order of acceptance.
    pub id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Who it is: its certificate subject, or `"token"` when a token and
    /// no certificate authenticated it; `None` when it did not (loopback
    /// without authentication, or not yet, or failed).
    pub identity: Option<String>,
    /// When it connected, microseconds since the epoch.
    pub connected_at: u64,
    /// Where it is.
    pub state: PeerState,
    /// Why it was closed: `"closed by peer"`, `"idle timeout"`,
    /// `"authentication failed: ..."`, `"displaced before authenticating:
    /// ..."`, `"not a feed: ..."`, `"read error: ..."`, `"listener shut
    /// down"`, `"sink closed"`.
    pub closed: Option<String>,
    /// It failed to authenticate: nothing it sent was used.
    pub auth_failed: bool,
    /// Its lines as read: format, lines, events, bad lines (with line
    /// numbers of the connection, the token line being line 1), skipped.
    pub report: FeedReport,
    /// Events read but dropped because the sink stayed full.
    pub dropped: u64,
    /// Time its reading was held back by the line-rate limit, ms.
    pub throttled_ms: u64,
}

/// Counts over all peers, closed ones included.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Lines read.
    pub lines: u64,
    /// Events read.
    pub events: u64,
    /// Bad lines.
    pub bad_lines: u64,
    /// Records skipped (valid, no socket event).
    pub skipped: u64,
    /// Events dropped because the sink stayed full.
    pub dropped: u64,
    /// Time connections were held back by the line-rate limit, ms.
    pub throttled_ms: u64,
}

impl Totals {
    fn add(&mut self, p: &PeerStats) {
        self.lines += p.report.lines;
        self.events += p.report.events;
        self.bad_lines += p.report.bad_lines;
        self.skipped += p.report.skipped.values().sum::<u64>();
        self.dropped += p.dropped;
        self.throttled_ms += p.throttled_ms;
    }
}

/// A snapshot of the listener.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ListenStats {
    /// The address listened on.
    pub local_addr: SocketAddr,
    /// Connections accepted (under the caps).
    pub accepted: u64,
    /// Connections refused because `max_connections` authenticated peers
    /// (or peers of a listener without authentication) were served.
    pub refused: u64,
    /// Unauthenticated connections closed to make room for a newer one
    /// when `max_unauthenticated` (or `max_connections`) was reached.
    pub displaced: u64,
    /// Unauthenticated connections closed to make room for a newer one
    /// from the same address when it had `max_per_address`.
    pub displaced_per_address: u64,
    /// Connections that failed to authenticate (deadline included).
    pub auth_failed: u64,
    /// Of those, connections that did not authenticate in time.
    pub auth_timeouts: u64,
    /// Connections closed after `idle_timeout` without data.
    pub idle_timeouts: u64,
    /// Connections that could not be accepted (out of descriptors, ...).
    pub accept_errors: u64,
    /// Connections served now.
    pub active: usize,
    /// Of those, connections not yet authenticated.
    pub unauthenticated: usize,
    /// Counts over all connections so far.
    pub totals: Totals,
    /// Live connections, then the last [`RECENT_PEERS`] closed ones.
    pub peers: Vec<PeerStats>,
    /// Closed connections no longer in `peers`.
    pub peers_forgotten: u64,
}

/// Addresses already logged about, bounded.
#[derive(Debug, Default)]
struct LogOnce {
    seen: HashSet<IpAddr>,
    full: bool,
}

impl LogOnce {
    /// Whether to log about `ip`, and whether to say this is the last time
    /// anything new is logged.
    fn first(&mut self, ip: IpAddr) -> Option<bool> {
        if self.seen.contains(&ip) || self.full {
            return None;
        }
        if self.seen.len() >= LOGGED_ADDRESSES {
            self.full = true;
            return Some(true);
        }
        self.seen.insert(ip);
        Some(false)
    }
}

impl ListenStats {
    /// One line for a run's summary: connections and every refusal and
    /// drop, then the lines read.
    pub fn summary(&self) -> String {
        let t = &self.totals;
        format!(
            "{} connections ({} refused at the cap, {} unauthenticated displaced by newer ones, \
             {} of them for the per-address cap, {} failed authentication, {} of them timed out, \
             {} idle closed), {} lines, {} socket events, {} bad lines, {} dropped",
            self.accepted,
            self.refused,
            self.displaced + self.displaced_per_address,
            self.displaced_per_address,
            self.auth_failed,
            self.auth_timeouts,
            self.idle_timeouts,
            t.lines,
            t.events,
            t.bad_lines,
            t.dropped
        )
    }
}

/// How a connection ended, for the counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseKind {
    /// Closed by the peer, at shutdown, on an error.
    Normal,
    /// It failed to authenticate.
    AuthFailed,
    /// It did not authenticate in time.
    AuthTimeout,
    /// It sent nothing for the idle timeout.
    Idle,
    /// Closed before authenticating to make room (counted when decided).
    Displaced,
}

/// What became of a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// Served as `id`, once the `victim` connection, if any, is closed.
    Admitted { id: u64, victim: Option<u64> },
    /// Not served.
    Refused,
}

/// The table behind [`ListenStats`].
#[derive(Debug)]
pub(crate) struct Table {
    gate: Gate,
    /// The authentication deadline, named in reasons.
    auth_timeout: Duration,
    /// Connections being closed by the listener, and why (their threads
    /// close them in the table soon after).
    doomed: HashMap<u64, (String, CloseKind)>,
    live: BTreeMap<u64, PeerStats>,
    recent: VecDeque<PeerStats>,
    forgotten: u64,
    closed: Totals,
    next_id: u64,
    accepted: u64,
    refused: u64,
    displaced: u64,
    displaced_per_address: u64,
    auth_failed: u64,
    auth_timeouts: u64,
    idle_timeouts: u64,
    accept_errors: u64,
    logged_auth: LogOnce,
    logged_refused: LogOnce,
    logged_displaced: LogOnce,
    logged_errors: bool,
}

/// The table, shared by the acceptor and the connections.
#[derive(Debug)]
pub(crate) struct SharedTable(Mutex<Table>);

impl SharedTable {
    /// An empty table admitting under `limits`.
    pub(crate) fn new(limits: Limits, auth_timeout: Duration) -> Self {
        Self(Mutex::new(Table {
            gate: Gate::new(limits),
            auth_timeout,
            doomed: HashMap::new(),
            live: BTreeMap::new(),
            recent: VecDeque::new(),
            forgotten: 0,
            closed: Totals::default(),
            next_id: 0,
            accepted: 0,
            refused: 0,
            displaced: 0,
            displaced_per_address: 0,
            auth_failed: 0,
            auth_timeouts: 0,
            idle_timeouts: 0,
            accept_errors: 0,
            logged_auth: LogOnce::default(),
            logged_refused: LogOnce::default(),
            logged_displaced: LogOnce::default(),
            logged_errors: false,
        }))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // A thread that panicked holding it left counts, not broken state.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// A new connection (`pending` when it must authenticate): admitted
    /// under the caps or refused, and the notice to log, if any.
    pub(crate) fn arrive(
        &mut self,
        mut peer: PeerStats,
        pending: bool,
        limits: Limits,
        now: Instant,
    ) -> (Arrival, Option<String>) {
        let addr = peer.addr;
        let id = self.next_id + 1;
        let victim = match self.gate.arrive(id, addr.ip(), pending, now) {
            Decision::Refuse => {
                self.refused += 1;
                let notice = self.logged_refused.first(addr.ip()).map(|last| {
                    format!(
                        "feed listener: refusing {addr}: {} connections already served{}",
                        limits.max_connections,
                        last_note(last)
                    )
                });
                return (Arrival::Refused, notice);
            }
            Decision::Admit(victim) => victim,
        };
        self.next_id = id;
        self.accepted += 1;
        peer.id = id;
        self.live.insert(id, peer);
        let notice = victim.and_then(|(v, why)| self.displace(v, why, limits));
        (
            Arrival::Admitted {
                id,
                victim: victim.map(|(v, _)| v),
            },
            notice,
        )
    }

    /// Marks pending connection `id` to be closed for a newer one.
    fn displace(&mut self, id: u64, why: Displaced, limits: Limits) -> Option<String> {
        let ip = self.live.get(&id)?.addr.ip().to_canonical();
        let reason = match why {
            Displaced::PerAddress => {
                self.displaced_per_address += 1;
                format!(
                    "displaced before authenticating: {} unauthenticated connections from {ip} at once",
                    limits.max_per_address
                )
            }
            Displaced::Full => {
                self.displaced += 1;
                format!(
                    "displaced before authenticating: {} unauthenticated connections at once",
                    limits.max_unauthenticated.min(limits.max_connections)
                )
            }
        };
        let notice = self.logged_displaced.first(ip).map(|last| {
            format!(
                "feed listener: {ip}: {reason} (further ones from {ip} are counted, not logged){}",
                last_note(last)
            )
        });
        self.doomed.insert(id, (reason, CloseKind::Displaced));
        notice
    }

    /// Marks every connection past the authentication deadline to be
    /// closed; their ids.
    pub(crate) fn overdue(&mut self, now: Instant) -> Vec<u64> {
        let late = self.gate.overdue(now, self.auth_timeout);
        let reason = format!(
            "authentication failed: not authenticated within {}",
            super::conn::human(self.auth_timeout)
        );
        for id in &late {
            self.doomed
                .insert(*id, (reason.clone(), CloseKind::AuthTimeout));
        }
        late
    }

    /// Connection `id` has authenticated: from now on it is never
    /// displaced. False when the listener is already closing it (displaced
    /// or out of time): nothing it sent may be used.
    pub(crate) fn authenticated(&mut self, id: u64) -> bool {
        if !self.gate.authenticated(id) {
            return false;
        }
        if let Some(p) = self.live.get_mut(&id) {
            p.state = PeerState::Open;
        }
        true
    }

    /// An accept that failed; the notice to log the first time.
    pub(crate) fn accept_error(&mut self, e: &std::io::Error) -> Option<String> {
        self.accept_errors += 1;
        (!std::mem::replace(&mut self.logged_errors, true)).then(|| {
            format!("feed listener: cannot accept a connection: {e} (further errors are counted)")
        })
    }

    /// Updates a live connection.
    pub(crate) fn update(&mut self, id: u64, f: impl FnOnce(&mut PeerStats)) {
        if let Some(p) = self.live.get_mut(&id) {
            f(p);
        }
    }

    /// Closes a live connection for `reason` (or for the listener's own
    /// reason, when it closed the connection); the notice to log when it
    /// failed to authenticate and its address has not had one.
    pub(crate) fn close(&mut self, id: u64, reason: String, kind: CloseKind) -> Option<String> {
        let mut p = self.live.remove(&id)?;
        self.gate.closed(id);
        let (reason, kind) = self.doomed.remove(&id).unwrap_or((reason, kind));
        let auth_failed = matches!(kind, CloseKind::AuthFailed | CloseKind::AuthTimeout);
        match kind {
            CloseKind::AuthTimeout => self.auth_timeouts += 1,
            CloseKind::Idle => self.idle_timeouts += 1,
            _ => {}
        }
        let notice = if auth_failed {
            self.auth_failed += 1;
            self.logged_auth.first(p.addr.ip()).map(|last| {
                format!(
                    "feed listener: {}: {reason}: connection refused (further failures from {} are counted, not logged){}",
                    p.addr,
                    p.addr.ip(),
                    last_note(last)
                )
            })
        } else {
            None
        };
        p.state = PeerState::Closed;
        p.auth_failed = auth_failed;
        p.closed = Some(reason);
        self.closed.add(&p);
        if self.recent.len() >= RECENT_PEERS {
            self.recent.pop_front();
            self.forgotten += 1;
        }
        self.recent.push_back(p);
        notice
    }

    /// A snapshot.
    pub(crate) fn stats(&self, local_addr: SocketAddr) -> ListenStats {
        let mut totals = self.closed.clone();
        for p in self.live.values() {
            totals.add(p);
        }
        ListenStats {
            local_addr,
            accepted: self.accepted,
            refused: self.refused,
            displaced: self.displaced,
            displaced_per_address: self.displaced_per_address,
            auth_failed: self.auth_failed,
            auth_timeouts: self.auth_timeouts,
            idle_timeouts: self.idle_timeouts,
            accept_errors: self.accept_errors,
            active: self.live.len(),
            unauthenticated: self.gate.pending(),
            totals,
            peers: self.live.values().chain(&self.recent).cloned().collect(),
            peers_forgotten: self.forgotten,
        }
    }
}

fn last_note(last: bool) -> &'static str {
    if last {
        "; too many addresses: no more notices of this kind"
    } else {
        ""
    }
}

/// Copies what a connection's parser has read into its stats, cloning the
/// examples and skip counts only when they changed.
pub(crate) fn publish(p: &mut PeerStats, r: &FeedReport) {
    p.report.format = r.format;
    p.report.lines = r.lines;
    p.report.events = r.events;
    p.report.bad_lines = r.bad_lines;
    p.report.evicted = r.evicted;
    if p.report.bad_examples.len() != r.bad_examples.len() {
        p.report.bad_examples.clone_from(&r.bad_examples);
    }
    if p.report.skipped != r.skipped {
        p.report.skipped.clone_from(&r.skipped);
    }
}
