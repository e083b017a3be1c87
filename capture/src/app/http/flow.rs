//! The HTTP/1.x parser as a flow holds it: whole ([`Http`]) while a
//! message is being read; between messages, once the flow's shard tracks
//! many flows, packed into one block ([`super::parked`]) that gives the
//! whole parser back on the next bytes.

use super::parked;
use super::{starts_message, Http, SPEC};
use crate::app::parser::{StreamParser, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;

/// The whole parser. Between messages it offers a packed form of itself
/// ([`StreamParser::compact`]): a connection waiting for its response
/// then holds one block of some 60 bytes instead of 200 and a block per
/// transaction (`cargo test --release -p capture --test flow_memory --
/// --nocapture`). Packing and unpacking cost some 3,000 instructions a
/// message, which a link with few connections open at once does not pay.
impl StreamParser for Http {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        Http::data(self, to_server, chunk)
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        Http::gap(self, to_server, len);
    }

    fn compact(&mut self) -> Option<Box<dyn StreamParser>> {
        parked::pack(self)
    }

    fn finish(&mut self) {
        Http::finish(self);
    }

    fn reclaim(&mut self, to_server: bool, first: &[u8]) -> bool {
        let again = self.in_connect_tunnel() && starts_message(to_server, first);
        if again {
            self.reopen();
        }
        again
    }

    fn names_flow(&self, active: bool) -> bool {
        active || !self.txs.is_empty()
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        let txs = self.txs.to_transactions();
        parked::record(self.counters, txs, rec, stats);
    }
}
