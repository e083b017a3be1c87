//! What each client resolved: the addresses DNS answers gave it, by name,
//! so that a destination with neither TLS server name nor HTTP Host is
//! named as its client knew it. A CDN that hands out another address each
//! time is then one destination, not many.

use capture::FlowRecord;
use foldhash::quality::RandomState;
use lru::LruCache;
use std::net::IpAddr;

/// How long an answer names its address, at most (µs): the answer's TTL,
/// within a minute and an hour.
const MIN_AGE: u64 = 60_000_000;
const MAX_AGE: u64 = 3_600_000_000;
/// A flow may start this much before the answer is stamped (µs): the
/// answer is timed at its DNS flow's start, the connection soon after.
const EARLY: u64 = 1_000_000;

/// One answer: the name, when it was given, and for how long.
#[derive(Debug, Clone)]
struct Answer {
    name: String,
    at: u64,
    ttl: u64,
}

/// Answers by (client, address), at most a configured number (least
/// recently used go).
pub struct Names {
    map: LruCache<(IpAddr, IpAddr), Answer, RandomState>,
    cap: usize,
    /// Answers taken in.
    pub learnt: u64,
    /// Answers forgotten to stay under the cap.
    pub evicted: u64,
}

impl Names {
    /// An empty table of at most `cap` answers.
    pub fn new(cap: usize) -> Self {
        Names {
            map: LruCache::unbounded_with_hasher(RandomState::default()),
            cap: cap.max(1),
            learnt: 0,
            evicted: 0,
        }
    }

    /// Takes the answers of a DNS flow (its record's `dns` part).
    pub fn learn(&mut self, r: &FlowRecord) {
        let Some(dns) = r.extra.get("dns") else {
            return;
        };
        let (Some(name), Some(answers)) = (
            dns.get("query").and_then(|q| q.as_str()),
            dns.get("answers").and_then(|a| a.as_array()),
        ) else {
            return;
        };
        let ttl = dns.get("ttl").and_then(|t| t.as_u64()).unwrap_or(0);
        let ttl = ttl.saturating_mul(1_000_000).clamp(MIN_AGE, MAX_AGE);
        for ip in answers
            .iter()
            .filter_map(|a| a.as_str()?.parse::<IpAddr>().ok())
        {
            let answer = Answer {
                name: name.to_string(),
                at: r.event.start,
                ttl,
            };
            self.learnt += 1;
            self.map.put((r.source.ip, ip), answer);
            if self.map.len() > self.cap {
                self.map.pop_lru();
                self.evicted += 1;
            }
        }
    }

    /// The name `client` had resolved `server` to, shortly before `start`.
    pub fn name(&self, client: IpAddr, server: IpAddr, start: u64) -> Option<&str> {
        let a = self.map.peek(&(client, server))?;
        let fresh = a.at <= start.saturating_add(EARLY) && start.saturating_sub(a.at) <= a.ttl;
        fresh.then_some(a.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capture::record::{EndpointFields, EventFields};

    const S: u64 = 1_000_000;

    fn dns_flow(client: &str, start: u64, name: &str, ips: &[&str], ttl: u64) -> FlowRecord {
        let ep = |ip: &str, port| EndpointFields {
            ip: ip.parse().unwrap(),
            port,
            packets: 1,
            bytes: 80,
        };
        let event = EventFields {
            start,
            end: start,
            reason: "idle",
        };
        let udp = model::flow::Transport::Udp;
        let mut r = FlowRecord {
            community_id: "1:x".into(),
            ..FlowRecord::new(event, udp, ep(client, 40_000), ep("10.0.0.53", 53))
        };
        r.network.protocol = Some(model::flow::AppProtocol::named("dns"));
        r.extra.insert(
            "dns",
            serde_json::json!({"query": name, "answers": ips, "ttl": ttl}),
        );
        r
    }

    #[test]
    fn a_client_names_what_it_resolved_while_the_answer_holds() {
        let mut n = Names::new(2);
        let t = 1_700_000_000 * S;
        n.learn(&dns_flow(
            "10.0.0.5",
            t,
            "cdn.example.net",
            &["198.51.100.7", "198.51.100.8"],
            300,
        ));
        let at = |s: &str, start| n.name("10.0.0.5".parse().unwrap(), s.parse().unwrap(), start);
        assert_eq!(at("198.51.100.8", t + 10 * S), Some("cdn.example.net"));
        assert_eq!(at("198.51.100.8", t + 301 * S), None, "past the TTL");
        assert_eq!(at("198.51.100.8", t - 5 * S), None, "before it was asked");
        assert_eq!(
            n.name(
                "10.0.0.6".parse().unwrap(),
                "198.51.100.7".parse().unwrap(),
                t
            ),
            None,
            "another client"
        );
        // The cap: the third answer pushes the oldest out.
        n.learn(&dns_flow(
            "10.0.0.5",
            t,
            "other.example",
            &["203.0.113.1"],
            30,
        ));
        assert_eq!(n.evicted, 1);
        assert_eq!(n.learnt, 3);
    }
}
