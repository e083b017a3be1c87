//! The HTTP/1.x parser as a flow holds it: whole while a message is being
//! read, packed between messages once the flow's shard tracks many flows.

use super::parked::Parked;
use super::{starts_message, Http, HttpCounters, HttpLimits, HttpTransaction, SPEC};
use crate::app::parser::{StreamParser, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;

/// The parser as a flow holds it: whole while a message is being read,
/// packed between messages ([`parked`]) while its shard tracks many flows
/// ([`StreamParser::compact`]). A connection waiting for its response
/// then holds some 60 bytes instead of 200 and a block per transaction
/// (`cargo test --release -p capture --test flow_memory -- --nocapture`);
/// packing and unpacking cost some 3,000 instructions a message, which a
/// link with few connections open at once does not pay.
#[derive(Debug)]
pub enum HttpFlow {
    /// Inside a message, or in a state only the whole parser holds.
    Reading(Box<Http>),
    /// Between messages.
    Parked(Parked),
}

impl HttpFlow {
    /// A parser for a new connection.
    pub fn new(limits: HttpLimits) -> Self {
        HttpFlow::Reading(Box::new(Http::new(limits)))
    }

    /// The whole parser, unpacked if it was packed (always `Some`).
    fn reading(&mut self) -> Option<&mut Http> {
        if let HttpFlow::Parked(p) = self {
            // Only what `Parked::pack` wrote is read back; were it damaged,
            // the connection would go on with a parser that records nothing.
            let h = p.unpack().unwrap_or_else(|| {
                Http::new(HttpLimits {
                    max_transactions: 0,
                    max_header_bytes: 0,
                    max_field_len: 0,
                })
            });
            *self = HttpFlow::Reading(Box::new(h));
        }
        match self {
            HttpFlow::Reading(h) => Some(h),
            HttpFlow::Parked(_) => None,
        }
    }

    /// The transactions so far, as records carry them.
    pub fn transactions(&self) -> Vec<HttpTransaction> {
        match self {
            HttpFlow::Reading(h) => h.transactions(),
            HttpFlow::Parked(p) => p.transactions(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> HttpCounters {
        match self {
            HttpFlow::Reading(h) => h.counters,
            HttpFlow::Parked(p) => p.counts().0,
        }
    }

    /// Packs the parser if it is between messages.
    fn settle(&mut self) {
        if let HttpFlow::Reading(h) = self {
            if let Some(p) = Parked::pack(h) {
                *self = HttpFlow::Parked(p);
            }
        }
    }
}

impl StreamParser for HttpFlow {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        self.reading()
            .map_or(Verdict::Continue, |h| h.data(to_server, chunk))
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        if let Some(h) = self.reading() {
            h.gap(to_server, len);
        }
    }

    fn compact(&mut self) {
        self.settle();
    }

    fn finish(&mut self) {
        // A packed parser holds no cut request line.
        if let HttpFlow::Reading(h) = self {
            h.finish();
        }
    }

    fn reclaim(&mut self, to_server: bool, first: &[u8]) -> bool {
        // A tunnel is never packed.
        let HttpFlow::Reading(h) = self else {
            return false;
        };
        let again = h.in_connect_tunnel() && starts_message(to_server, first);
        if again {
            h.reopen();
        }
        again
    }

    fn names_flow(&self, active: bool) -> bool {
        active
            || match self {
                HttpFlow::Reading(h) => !h.txs.is_empty(),
                HttpFlow::Parked(p) => p.counts().1 > 0,
            }
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        let (counters, txs) = match *self {
            HttpFlow::Reading(h) => (h.counters, h.txs.to_transactions()),
            HttpFlow::Parked(p) => (p.counts().0, p.transactions()),
        };
        stats.http_transactions += u64::from(counters.transactions);
        stats.http_parse_errors += u64::from(counters.parse_errors);
        stats.http_transactions_dropped += u64::from(counters.dropped);
        // After any transactions of a parser before this one.
        if rec.http.is_empty() {
            rec.http = txs;
        } else {
            rec.http.extend(txs);
        }
    }
}
