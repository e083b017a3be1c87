//! Flow records, serialised as one JSON object per flow with nested
//! Elastic Common Schema names (see DESIGN.md, "Flow records").

use crate::app::http::HttpTransaction;
use crate::app::tls::TlsInfo;
use crate::json::JsonObject;
use crate::time::{Micros, Rfc3339};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::net::IpAddr;

fn ser_ts<S: Serializer>(ts: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(Rfc3339::new(*ts).as_str())
}

/// `event.*`: when the flow was seen and why it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventFields {
    /// First packet time.
    #[serde(serialize_with = "ser_ts")]
    pub start: Micros,
    /// Last packet time.
    #[serde(serialize_with = "ser_ts")]
    pub end: Micros,
    /// fin, rst, idle, end_of_input or evicted.
    pub reason: &'static str,
}

/// `network.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkFields {
    /// "tcp" or "udp".
    pub transport: &'static str,
    /// "http" or "tls" when recognised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
}

/// `source.*` (the client) or `destination.*` (the server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointFields {
    /// Address.
    pub ip: IpAddr,
    /// Port.
    pub port: u16,
    /// Packets this side sent.
    pub packets: u64,
    /// Captured frame bytes this side sent, link header included.
    pub bytes: u64,
}

/// `flow.*`: what reassembly saw.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowFields {
    /// Payload bytes client to server, each byte once.
    pub payload_out: u64,
    /// Payload bytes server to client, each byte once.
    pub payload_in: u64,
    /// Payload bytes missing from the capture, both ways.
    pub missed_bytes: u64,
    /// Payload bytes seen more than once (retransmissions), both ways.
    pub retransmitted_bytes: u64,
    /// IP bytes client to server (from IP headers: the wire, not the capture).
    pub ip_bytes_out: u64,
    /// IP bytes server to client.
    pub ip_bytes_in: u64,
    /// TCP flags seen, Zeek style (upper case client, lower case server).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub history: String,
    /// TCP picked up without its SYN.
    pub midstream: bool,
}

/// One flow, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// Community ID v1 of the flow.
    pub community_id: String,
    /// Times and close reason.
    pub event: EventFields,
    /// Transport and application protocol.
    pub network: NetworkFields,
    /// The client.
    pub source: EndpointFields,
    /// The server.
    pub destination: EndpointFields,
    /// Reassembly figures.
    pub flow: FlowFields,
    /// HTTP transactions, in request order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpTransaction>,
    /// TLS facts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    /// What other registered parsers learnt, each under its own key (a
    /// parser added to the registry needs no new field here).
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<&'static str, serde_json::Value>,
}

impl FlowRecord {
    /// The record as one JSON line (no trailing newline): what its
    /// `Serialize` gives, written directly.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(768);
        let mut o = JsonObject::begin(&mut out);
        self.write_fields(&mut o);
        o.end();
        // Only whole `str`s and ASCII were written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Writes the record's members into an open object (a caller may add
    /// its own after them).
    pub fn write_fields(&self, o: &mut JsonObject<'_>) {
        o.str("community_id", &self.community_id);
        let mut ev = o.object("event");
        ev.str("start", Rfc3339::new(self.event.start).as_str());
        ev.str("end", Rfc3339::new(self.event.end).as_str());
        ev.str("reason", self.event.reason);
        ev.end();
        let mut net = o.object("network");
        net.str("transport", self.network.transport);
        net.opt_str("protocol", self.network.protocol);
        net.end();
        for (key, e) in [("source", &self.source), ("destination", &self.destination)] {
            let mut x = o.object(key);
            x.ip("ip", e.ip);
            x.u64("port", u64::from(e.port));
            x.u64("packets", e.packets);
            x.u64("bytes", e.bytes);
            x.end();
        }
        let f = &self.flow;
        let mut x = o.object("flow");
        x.u64("payload_out", f.payload_out);
        x.u64("payload_in", f.payload_in);
        x.u64("missed_bytes", f.missed_bytes);
        x.u64("retransmitted_bytes", f.retransmitted_bytes);
        x.u64("ip_bytes_out", f.ip_bytes_out);
        x.u64("ip_bytes_in", f.ip_bytes_in);
        if !f.history.is_empty() {
            x.str("history", &f.history);
        }
        x.bool("midstream", f.midstream);
        x.end();
        if !self.http.is_empty() {
            o.objects("http", &self.http, HttpTransaction::write_fields);
        }
        if let Some(t) = &self.tls {
            let mut x = o.object("tls");
            t.write_fields(&mut x);
            x.end();
        }
        for (key, value) in &self.extra {
            o.value(key, value);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::file::FileSource;
    use crate::{Engine, FlowConfig};

    /// Records are written by hand for speed; their `Serialize` is the
    /// reference. On every record of every capture at hand the two must
    /// give the same bytes.
    #[test]
    fn written_records_equal_their_serialization() {
        let files =
            crate::test_captures::every_capture("written_records_equal_their_serialization");
        let (mut records, mut http, mut tls, mut v6) = (0, 0, 0, 0);
        for f in &files {
            let Ok(mut src) = FileSource::open(f) else {
                continue;
            };
            let mut engine = Engine::new(FlowConfig::default(), 1);
            let mut all: Vec<FlowRecord> = Vec::new();
            src.for_each(|link, ts, frame, wire| {
                engine.process_frame(link, ts, frame, wire, &mut |r| all.push(r));
            });
            engine.finish(&mut |r| all.push(r));
            for r in &all {
                assert_eq!(
                    r.to_json(),
                    serde_json::to_string(r).unwrap(),
                    "{}",
                    f.display()
                );
                http += r.http.len();
                tls += usize::from(r.tls.is_some());
                v6 += usize::from(r.source.ip.is_ipv6());
            }
            records += all.len();
        }
        println!(
            "{} captures, {records} records ({http} HTTP transactions, {tls} TLS, {v6} IPv6) written alike",
            files.len()
        );
        // What pcaps/ alone holds, at least.
        assert!(
            records >= 54 && http >= 51 && tls >= 5 && v6 >= 1,
            "{records} {http} {tls} {v6}"
        );
    }
}
