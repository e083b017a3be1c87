//! The parsers that took a flow, in the order they did: one pointer in the
//! flow's state. Nearly every flow has at most one, held in place; a
//! stream that changes protocol (a CONNECT tunnel's HTTP, then the TLS
//! inside) gets a boxed list behind the same pointer. A list of its own
//! cost every parsed flow a 48-byte block (`cargo test --release -p
//! capture --test flow_memory -- --nocapture`).

use super::parser::{StreamParser, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;
use std::any::Any;

/// The parsers of one flow.
#[derive(Debug, Default)]
pub struct Parsers(Option<Box<dyn StreamParser>>);

/// Two or more parsers behind the flow's one pointer. It is never fed:
/// [`Parsers`] hands out the parsers inside.
#[derive(Debug)]
struct Stack(Vec<Box<dyn StreamParser>>);

impl StreamParser for Stack {
    fn name(&self) -> &'static str {
        self.0.first().map_or("", |p| p.name())
    }

    fn data(&mut self, _to_server: bool, _chunk: &[u8]) -> Verdict {
        Verdict::Continue
    }

    fn gap(&mut self, _to_server: bool, _len: u64) {}

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        for p in self.0 {
            p.record(rec, stats);
        }
    }
}

fn is_stack(p: &dyn StreamParser) -> bool {
    (p as &dyn Any).is::<Stack>()
}

impl Parsers {
    /// Whether no parser took the flow.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// In the order they took the flow.
    pub fn as_slice(&self) -> &[Box<dyn StreamParser>] {
        match &self.0 {
            None => &[],
            Some(p) => match (&**p as &dyn Any).downcast_ref::<Stack>() {
                Some(stack) => &stack.0,
                None => std::slice::from_ref(p),
            },
        }
    }

    /// In the order they took the flow.
    pub fn as_mut_slice(&mut self) -> &mut [Box<dyn StreamParser>] {
        let stacked = self.0.as_deref().is_some_and(is_stack);
        match (&mut self.0, stacked) {
            (None, _) => &mut [],
            (Some(p), true) => match (&mut **p as &mut dyn Any).downcast_mut::<Stack>() {
                Some(stack) => &mut stack.0,
                None => &mut [],
            },
            (Some(p), false) => std::slice::from_mut(p),
        }
    }

    /// Adds a parser after the others.
    pub fn push(&mut self, p: Box<dyn StreamParser>) {
        match self.0.take() {
            None => self.0 = Some(p),
            Some(mut first) => {
                if let Some(stack) = (&mut *first as &mut dyn Any).downcast_mut::<Stack>() {
                    stack.0.push(p);
                    self.0 = Some(first);
                } else {
                    self.0 = Some(Box::new(Stack(vec![first, p])));
                }
            }
        }
    }

    /// Moves what each parser learnt into the record, in order.
    pub fn record(self, rec: &mut FlowRecord, stats: &mut Stats) {
        if let Some(p) = self.0 {
            p.record(rec, stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{dns, http, tls, AppLimits};

    fn limits() -> AppLimits {
        AppLimits {
            http: http::HttpLimits {
                max_transactions: 4,
                max_header_bytes: 4096,
                max_field_len: 256,
            },
            max_tls_hello: 4096,
            parsers: crate::app::registry::BUILTIN,
            compact: false,
        }
    }

    #[test]
    fn one_parser_in_place_then_a_stack_in_order() {
        let l = limits();
        let mut list = Parsers::default();
        assert!(list.is_empty() && list.as_mut_slice().is_empty());
        list.push((http::SPEC.new)(&l));
        assert!(
            !is_stack(&**list.0.as_ref().unwrap()),
            "one is held in place"
        );
        assert_eq!(list.as_slice().len(), 1);
        list.push((tls::SPEC.new)(&l));
        list.push((dns::SPEC.new)(&l));
        let names: Vec<_> = list.as_mut_slice().iter().map(|p| p.name()).collect();
        assert_eq!(names, ["http", "tls", "dns"]);
        let first = list.as_mut_slice().first_mut().unwrap();
        first.data(true, b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        let mut stats = Stats::default();
        let mut rec = crate::app::tunnel_tests::empty_record();
        list.record(&mut rec, &mut stats);
        assert_eq!(rec.http.len(), 1, "the stack records what its parsers hold");
        assert_eq!(rec.http[0].uri.as_deref(), Some("/a"));
        assert_eq!(stats.http_transactions, 1);
    }
}
