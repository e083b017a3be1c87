//! What the listener counts: per peer (live ones, and the last closed
//! ones), and in all. Connection threads publish into one table once per
//! read, never per line.

use crate::feed::FeedReport;
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard, PoisonError};

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
    /// `"authentication failed: ..."`, `"not a feed: ..."`, `"read error:
    /// ..."`, `"listener shut down"`, `"sink closed"`.
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
    /// Connections accepted (under the cap).
    pub accepted: u64,
    /// Connections refused because the cap was reached.
    pub refused: u64,
    /// Connections that failed to authenticate.
    pub auth_failed: u64,
    /// Connections that could not be accepted (out of descriptors, ...).
    pub accept_errors: u64,
    /// Connections served now.
    pub active: usize,
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

/// The table behind [`ListenStats`].
#[derive(Debug, Default)]
pub(crate) struct Table {
    live: BTreeMap<u64, PeerStats>,
    recent: VecDeque<PeerStats>,
    forgotten: u64,
    closed: Totals,
    next_id: u64,
    accepted: u64,
    refused: u64,
    auth_failed: u64,
    accept_errors: u64,
    logged_auth: LogOnce,
    logged_refused: LogOnce,
    logged_errors: bool,
}

/// The table, shared by the acceptor and the connections.
#[derive(Debug, Default)]
pub(crate) struct SharedTable(Mutex<Table>);

impl SharedTable {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Table> {
        // A thread that panicked holding it left counts, not broken state.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Table {
    /// Number of live connections.
    pub(crate) fn live(&self) -> usize {
        self.live.len()
    }

    /// Takes a new connection in; its id.
    pub(crate) fn admit(&mut self, mut peer: PeerStats) -> u64 {
        self.next_id += 1;
        self.accepted += 1;
        peer.id = self.next_id;
        self.live.insert(peer.id, peer);
        self.next_id
    }

    /// A connection over the cap; the notice to log, if this address has
    /// not had one.
    pub(crate) fn refuse(&mut self, addr: SocketAddr, cap: usize) -> Option<String> {
        self.refused += 1;
        self.logged_refused.first(addr.ip()).map(|last| {
            format!(
                "feed listener: refusing {addr}: {cap} connections already served{}",
                last_note(last)
            )
        })
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

    /// Closes a live connection for `reason`; the notice to log when it
    /// failed to authenticate and its address has not had one.
    pub(crate) fn close(&mut self, id: u64, reason: String, auth_failed: bool) -> Option<String> {
        let mut p = self.live.remove(&id)?;
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
            auth_failed: self.auth_failed,
            accept_errors: self.accept_errors,
            active: self.live.len(),
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
