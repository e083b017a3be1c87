//! Flow records, serialised as one JSON object per flow with nested
//! Elastic Common Schema names (see DESIGN.md, "Flow records").

use crate::app::http::HttpTransaction;
use crate::app::tls::TlsInfo;
use crate::time::{Micros, Rfc3339};
use serde::{Serialize, Serializer};
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
}

impl FlowRecord {
    /// The record as one JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}
