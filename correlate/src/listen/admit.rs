//! Who gets a place: the admission policy of the listener, kept apart from
//! the sockets so that it can be tested on its own.
//!
//! Connections that have not authenticated yet ("pending") live under two
//! small caps of their own: one over all of them, one per source address.
//! When either is reached, a newcomer is not refused: the oldest pending
//! connection (of its own address for the address cap, else of the address
//! holding the most pending places) is closed to make room.
//!
//! Why displace rather than refuse: refusing newcomers lets a few hundred
//! idle strangers hold every place for the whole authentication deadline,
//! and a good agent is locked out for as long as the flood lasts. With
//! displacement a pending connection is only closed after newer ones took
//! its place, so an agent that authenticates promptly always gets in:
//!
//! - a flood from the agent's own address closes the agent's connection
//!   only after `max_per_address` newer ones from that address;
//! - a flood from other addresses never touches it unless the agent's
//!   address holds as many pending places as the greediest one; strangers
//!   spread over many addresses, one place each, close it only after
//!   `max_unauthenticated` newer arrivals. Before authentication nothing
//!   tells a stranger from an agent, so no policy can do better than that.
//!
//! Authenticated connections are never displaced: they count against
//! `max_connections` with the pending ones, and when that cap is full and
//! no pending connection is left to close, a newcomer is refused.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The caps admission works under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Connections at once, authenticated or not.
    pub(crate) max_connections: usize,
    /// Connections not yet authenticated, at once.
    pub(crate) max_unauthenticated: usize,
    /// Connections not yet authenticated from one address, at once.
    pub(crate) max_per_address: usize,
}

/// Why a pending connection was closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Displaced {
    /// Its address had `max_per_address` pending connections.
    PerAddress,
    /// All places for pending connections (or all places) were taken.
    Full,
}

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Take it in, after closing this pending connection, if any.
    Admit(Option<(u64, Displaced)>),
    /// Every place is held by an authenticated connection.
    Refuse,
}

/// Connections by state, for admission.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Limits,
    /// Pending connections by id (ids grow with arrival: oldest first).
    pending: BTreeMap<u64, (IpAddr, Instant)>,
    /// Pending connections per address.
    per_address: HashMap<IpAddr, usize>,
    /// Authenticated connections (or all, when nobody authenticates).
    open: usize,
    /// Ids of the authenticated ones, to forget them when they close.
    open_ids: std::collections::BTreeSet<u64>,
}

impl Gate {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            pending: BTreeMap::new(),
            per_address: HashMap::new(),
            open: 0,
            open_ids: Default::default(),
        }
    }

    /// Connections not yet authenticated (displaced ones excluded).
    pub(crate) fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Decides on a connection from `ip`; when it is admitted as `id`, it
    /// is recorded (pending when peers must authenticate), and the
    /// displaced connection, if any, is forgotten.
    pub(crate) fn arrive(&mut self, id: u64, ip: IpAddr, pending: bool, now: Instant) -> Decision {
        let ip = ip.to_canonical();
        let mut victim = None;
        if pending {
            let from_ip = self.per_address.get(&ip).copied().unwrap_or(0);
            if from_ip >= self.limits.max_per_address {
                victim = self.oldest_of(ip).map(|v| (v, Displaced::PerAddress));
            } else if self.pending.len() >= self.limits.max_unauthenticated {
                victim = self.oldest_of_greediest().map(|v| (v, Displaced::Full));
            }
        }
        // A displaced connection already made room under every cap.
        if victim.is_none() && self.open + self.pending.len() >= self.limits.max_connections {
            victim = match self.oldest_of_greediest() {
                Some(v) => Some((v, Displaced::Full)),
                None => return Decision::Refuse,
            };
        }
        if let Some((v, _)) = victim {
            self.forget_pending(v);
        }
        if pending {
            self.pending.insert(id, (ip, now));
            *self.per_address.entry(ip).or_insert(0) += 1;
        } else {
            self.open += 1;
            self.open_ids.insert(id);
        }
        Decision::Admit(victim)
    }

    /// `id` authenticated: it can no longer be displaced. False when it had
    /// already been displaced (or timed out): it must not be used.
    pub(crate) fn authenticated(&mut self, id: u64) -> bool {
        if !self.forget_pending(id) {
            return false;
        }
        self.open += 1;
        self.open_ids.insert(id);
        true
    }

    /// Pending connections admitted `limit` or more before `now`, forgotten
    /// here: the caller closes them.
    pub(crate) fn overdue(&mut self, now: Instant, limit: Duration) -> Vec<u64> {
        let late: Vec<u64> = self
            .pending
            .iter()
            .take_while(|(_, (_, at))| now.saturating_duration_since(*at) >= limit)
            .map(|(id, _)| *id)
            .collect();
        for id in &late {
            self.forget_pending(*id);
        }
        late
    }

    /// `id` has closed.
    pub(crate) fn closed(&mut self, id: u64) {
        if self.open_ids.remove(&id) {
            self.open = self.open.saturating_sub(1);
        } else {
            self.forget_pending(id);
        }
    }

    fn forget_pending(&mut self, id: u64) -> bool {
        let Some((ip, _)) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(n) = self.per_address.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_address.remove(&ip);
            }
        }
        true
    }

    fn oldest_of(&self, ip: IpAddr) -> Option<u64> {
        self.pending
            .iter()
            .find(|(_, (a, _))| *a == ip)
            .map(|(id, _)| *id)
    }

    /// The oldest pending connection of the address with the most of them.
    fn oldest_of_greediest(&self) -> Option<u64> {
        let most = self.per_address.values().copied().max()?;
        self.pending
            .iter()
            .find(|(_, (a, _))| self.per_address.get(a) == Some(&most))
            .map(|(id, _)| *id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    fn gate(total: usize, unauth: usize, per: usize) -> Gate {
        Gate::new(Limits {
            max_connections: total,
            max_unauthenticated: unauth,
            max_per_address: per,
        })
    }

    #[test]
    fn one_address_only_displaces_its_own_oldest() {
        let t = Instant::now();
        let mut g = gate(100, 4, 2);
        assert_eq!(g.arrive(1, ip("192.0.2.1"), true, t), Decision::Admit(None));
        assert_eq!(g.arrive(2, ip("192.0.2.1"), true, t), Decision::Admit(None));
        assert_eq!(g.arrive(3, ip("192.0.2.9"), true, t), Decision::Admit(None));
        // The third from .1 takes the place of .1's oldest, not of .9's.
        assert_eq!(
            g.arrive(4, ip("192.0.2.1"), true, t),
            Decision::Admit(Some((1, Displaced::PerAddress)))
        );
        assert_eq!(
            g.arrive(5, ip("::ffff:192.0.2.1"), true, t),
            Decision::Admit(Some((2, Displaced::PerAddress)))
        );
        assert_eq!(g.pending(), 3);
        // The displaced can no longer authenticate; the others can.
        assert!(!g.authenticated(1));
        assert!(g.authenticated(3));
        assert_eq!(g.pending(), 2);
    }

    #[test]
    fn a_full_pool_displaces_the_greediest_address_and_never_the_authenticated() {
        let t = Instant::now();
        let mut g = gate(100, 3, 3);
        for id in 1..=2 {
            assert_eq!(
                g.arrive(id, ip("198.51.100.7"), true, t),
                Decision::Admit(None)
            );
        }
        assert_eq!(
            g.arrive(3, ip("203.0.113.5"), true, t),
            Decision::Admit(None)
        );
        // Full: .7 holds the most, its oldest goes, though 3 is older than 2.
        assert_eq!(
            g.arrive(4, ip("203.0.113.6"), true, t),
            Decision::Admit(Some((1, Displaced::Full)))
        );
        // Each address now holds one: the oldest of all goes.
        assert_eq!(
            g.arrive(5, ip("203.0.113.8"), true, t),
            Decision::Admit(Some((2, Displaced::Full)))
        );
        assert!(g.authenticated(3));
        assert!(g.authenticated(4));
        assert!(g.authenticated(5));
        assert_eq!(g.pending(), 0);
        // Three authenticated under a cap of 3: a stranger is refused,
        // nobody displaced.
        let mut g2 = gate(3, 3, 3);
        for id in 1..=3 {
            assert_eq!(
                g2.arrive(id, ip("192.0.2.1"), true, t),
                Decision::Admit(None)
            );
            assert!(g2.authenticated(id));
        }
        assert_eq!(g2.arrive(4, ip("192.0.2.2"), true, t), Decision::Refuse);
        g2.closed(2);
        assert_eq!(
            g2.arrive(5, ip("192.0.2.2"), true, t),
            Decision::Admit(None)
        );
        // The total cap full with one pending: the newcomer displaces it.
        assert_eq!(
            g2.arrive(6, ip("192.0.2.3"), true, t),
            Decision::Admit(Some((5, Displaced::Full)))
        );
    }

    #[test]
    fn without_authentication_only_the_total_cap_applies() {
        let t = Instant::now();
        let mut g = gate(2, 1, 1);
        assert_eq!(
            g.arrive(1, ip("127.0.0.1"), false, t),
            Decision::Admit(None)
        );
        assert_eq!(
            g.arrive(2, ip("127.0.0.1"), false, t),
            Decision::Admit(None)
        );
        assert_eq!(g.arrive(3, ip("127.0.0.1"), false, t), Decision::Refuse);
        g.closed(1);
        assert_eq!(
            g.arrive(4, ip("127.0.0.1"), false, t),
            Decision::Admit(None)
        );
        assert_eq!(g.pending(), 0);
    }

    #[test]
    fn overdue_connections_are_the_oldest_past_the_deadline() {
        let t = Instant::now();
        let mut g = gate(10, 10, 10);
        g.arrive(1, ip("192.0.2.1"), true, t);
        g.arrive(2, ip("192.0.2.1"), true, t + Duration::from_secs(1));
        g.arrive(3, ip("192.0.2.1"), true, t + Duration::from_secs(2));
        assert!(g.authenticated(2));
        let late = g.overdue(t + Duration::from_secs(5), Duration::from_secs(3));
        assert_eq!(late, vec![1, 3]);
        assert_eq!(g.pending(), 0);
        assert!(!g.authenticated(3));
        assert!(g
            .overdue(t + Duration::from_secs(60), Duration::from_secs(3))
            .is_empty());
    }
}
