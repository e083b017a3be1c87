//! Flow records, serialised as one JSON object per flow with nested
//! Elastic Common Schema names (see DESIGN.md, "Flow records").

use crate::json::JsonObject;
use crate::time::{Micros, Rfc3339};
use serde::{Serialize, Serializer};
use std::borrow::Cow;
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
    /// fin, rst, idle, end_of_input, evicted or reused.
    pub reason: &'static str,
}

/// Transport protocol of a flow or a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// ICMP (IP protocol 1). Its flows are keyed as Zeek and Community ID
    /// key them: the message type stands for the source port, and the
    /// counterpart type (echo request and reply...) or else the code for
    /// the destination port.
    Icmp,
    /// ICMPv6 (IP protocol 58), keyed as [`Transport::Icmp`].
    Icmpv6,
}

impl Transport {
    /// IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            Transport::Tcp => 6,
            Transport::Udp => 17,
            Transport::Icmp => 1,
            Transport::Icmpv6 => 58,
        }
    }

    /// Lower-case name, as records write it (IANA's keywords, as ECS's
    /// `network.transport` asks).
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Icmp => "icmp",
            Transport::Icmpv6 => "ipv6-icmp",
        }
    }

    /// ICMP or ICMPv6: no sockets, no ports, and no application layer.
    pub fn is_icmp(self) -> bool {
        matches!(self, Transport::Icmp | Transport::Icmpv6)
    }

    /// Parses "tcp"/"udp" (any case) or an IANA number ("6", "17"), as
    /// endpoint feeds write them (sockets are TCP or UDP: ICMP is not
    /// read from a feed).
    pub fn parse(s: &str) -> Option<Transport> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("tcp") || s == "6" {
            Some(Transport::Tcp)
        } else if s.eq_ignore_ascii_case("udp") || s == "17" {
            Some(Transport::Udp)
        } else {
            None
        }
    }
}

impl Serialize for Transport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The application protocol a stream parser recognised on a flow, by the
/// name the parser registered. The set is open: a parser added to the
/// registry brings its own (so this is not a closed enum); the built-in
/// ones have constants, and code compares against those.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AppProtocol(&'static str);

impl AppProtocol {
    /// HTTP/1.x.
    pub const HTTP: AppProtocol = AppProtocol("http");
    /// HTTP/2 in cleartext (h2c); over TLS it is TLS with ALPN `h2`.
    pub const HTTP2: AppProtocol = AppProtocol("http2");
    /// TLS.
    pub const TLS: AppProtocol = AppProtocol("tls");
    /// QUIC (TLS 1.3 inside; its facts are in the record's `tls`).
    pub const QUIC: AppProtocol = AppProtocol("quic");

    /// The protocol a parser registered as `name`.
    pub const fn named(name: &'static str) -> AppProtocol {
        AppProtocol(name)
    }

    /// HTTP in cleartext, of either version: what the detections count
    /// as HTTP connections with request and response bytes.
    pub fn is_http(self) -> bool {
        self == Self::HTTP || self == Self::HTTP2
    }

    /// Lower-case name, as records write it.
    pub fn name(self) -> &'static str {
        self.0
    }
}

impl Serialize for AppProtocol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// `network.*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkFields {
    /// TCP or UDP.
    pub transport: Transport,
    /// The application protocol, when a parser recognised one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<AppProtocol>,
    /// `network.vlan.id`: the outermost 802.1Q VLAN of the flow's first
    /// packet, when it was tagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
}

/// `network.vlan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Vlan {
    /// The VLAN id (1 to 4094).
    pub id: u16,
}

/// `tunnel.*`: the outermost tunnel the flow's first packet came out of
/// (VXLAN from a cloud mirror, ERSPAN from a remote SPAN session...). The
/// flow itself is keyed and counted by what was inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TunnelFields {
    /// `vxlan`, `geneve`, `gre`, `erspan`, `ipip`, `teredo` or `gtpu`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Its VNI, GRE key, GTP TEID or ERSPAN session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Outer source address of the flow's first packet.
    pub src_ip: IpAddr,
    /// Outer destination address of the flow's first packet.
    pub dest_ip: IpAddr,
    /// Tunnels nested, this one included.
    pub depth: u8,
}

/// `icmp.*`: the first message type and code each way of an ICMP flow,
/// as Suricata's flow events give them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpFields {
    /// Type of the client's first message.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Code of the client's first message.
    pub code: u8,
    /// Type of the server's first message, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<u8>,
    /// Code of the server's first message, when it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<u8>,
}

/// `icmp_errors`: the ICMP errors that quoted a TCP or UDP flow's packets
/// (a port unreachable answering a UDP query, a filtering router's
/// "administratively prohibited" to a SYN, a time exceeded on the way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IcmpErrorFields {
    /// Errors seen.
    pub count: u64,
    /// The first one's type.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The first one's code.
    pub code: u8,
    /// Who sent the first one: the server, or a router on the way.
    pub reporter: IpAddr,
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
    /// The tunnel the flow came in, if any (boxed: most flows have none,
    /// and records wait in bulk for attribution).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<Box<TunnelFields>>,
    /// The ICMP messages of an ICMP flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<IcmpFields>,
    /// The ICMP errors about a TCP or UDP flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_errors: Option<IcmpErrorFields>,
    /// HTTP transactions, in request order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http: Vec<HttpTransaction>,
    /// TLS facts (boxed: most records have none, and records queue in
    /// thousands between threads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Box<TlsInfo>>,
    /// What other registered parsers learnt, each under its own key (a
    /// parser added to the registry needs no new field here).
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<&'static str, serde_json::Value>,
}

impl FlowRecord {
    /// A flow between `source` (the client) and `destination` over
    /// `transport`, with the times and reason of `event`, and nothing else
    /// known: no Community ID, protocol or VLAN, zero reassembly figures,
    /// no tunnel, ICMP, HTTP, TLS or other parser's fields. What a test or
    /// a tool fills in the rest of with `..FlowRecord::new(...)`.
    pub fn new(
        event: EventFields,
        transport: Transport,
        source: EndpointFields,
        destination: EndpointFields,
    ) -> Self {
        FlowRecord {
            community_id: String::new(),
            event,
            network: NetworkFields {
                transport,
                protocol: None,
                vlan: None,
            },
            source,
            destination,
            flow: FlowFields::default(),
            tunnel: None,
            icmp: None,
            icmp_errors: None,
            http: Vec::new(),
            tls: None,
            extra: BTreeMap::new(),
        }
    }

    /// The record as one JSON line (no trailing newline): what its
    /// `Serialize` gives, written directly.
    pub fn to_json(&self) -> String {
        let mut out = Vec::with_capacity(768);
        self.write_json(&mut out);
        // Only whole `str`s and ASCII were written.
        String::from_utf8(out).unwrap_or_default()
    }

    /// Appends what [`FlowRecord::to_json`] gives to `out`, without a
    /// string of its own (the output path writes millions).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = JsonObject::begin(out);
        self.write_fields(&mut o);
        o.end();
    }

    /// Writes the record's members into an open object (a caller may add
    /// its own after them).
    pub fn write_fields(&self, o: &mut JsonObject<'_>) {
        o.str("community_id", &self.community_id);
        let mut ev = o.object("event");
        ev.time("start", Rfc3339::new(self.event.start));
        ev.time("end", Rfc3339::new(self.event.end));
        ev.plain("reason", self.event.reason);
        ev.end();
        let mut net = o.object("network");
        net.plain("transport", self.network.transport.name());
        if let Some(p) = self.network.protocol {
            net.plain("protocol", p.name());
        }
        if let Some(v) = self.network.vlan {
            let mut x = net.object("vlan");
            x.u64("id", u64::from(v.id));
            x.end();
        }
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
        if let Some(t) = &self.tunnel {
            let mut x = o.object("tunnel");
            x.str("type", t.kind);
            if let Some(id) = t.id {
                x.u64("id", u64::from(id));
            }
            x.ip("src_ip", t.src_ip);
            x.ip("dest_ip", t.dest_ip);
            x.u64("depth", u64::from(t.depth));
            x.end();
        }
        if let Some(m) = &self.icmp {
            let mut x = o.object("icmp");
            x.u64("type", u64::from(m.kind));
            x.u64("code", u64::from(m.code));
            if let Some(t) = m.response_type {
                x.u64("response_type", u64::from(t));
            }
            if let Some(c) = m.response_code {
                x.u64("response_code", u64::from(c));
            }
            x.end();
        }
        if let Some(e) = &self.icmp_errors {
            let mut x = o.object("icmp_errors");
            x.u64("count", e.count);
            x.u64("type", u64::from(e.kind));
            x.u64("code", u64::from(e.code));
            x.ip("reporter", e.reporter);
            x.end();
        }
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

/// One request and its response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HttpTransaction {
    /// Request method; absent when only the response was seen. The common
    /// methods are static (no allocation in a flow waiting for its
    /// response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Cow<'static, str>>,
    /// Host header of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Request target as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// User-Agent of the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Request protocol version, e.g. `HTTP/1.1` (static, as the method).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Cow<'static, str>>,
    /// The final response's protocol version (Zeek logs this one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_version: Option<Cow<'static, str>>,
    /// Final response status (1xx interim responses are counted, not kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Content-Type of the response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Request bytes: request line, headers and body as sent.
    pub request_bytes: u64,
    /// Response bytes: interim and final status lines, headers and body.
    pub response_bytes: u64,
    /// Request body bytes after de-chunking.
    pub request_body_bytes: u64,
    /// Response body bytes after de-chunking.
    pub response_body_bytes: u64,
    /// Request body bytes once its Content-Encoding (gzip, deflate) is
    /// undone, as Zeek counts a body; absent for a body not so encoded, or
    /// not decoded whole (cut by a gap, past the decoding caps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body_decoded_bytes: Option<u64>,
    /// Response body bytes once its Content-Encoding is undone (as the
    /// request's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body_decoded_bytes: Option<u64>,
}

impl HttpTransaction {
    /// Writes the transaction's members (as its `Serialize` does).
    pub fn write_fields(&self, o: &mut JsonObject<'_>) {
        o.opt_str("method", self.method.as_deref());
        o.opt_str("host", self.host.as_deref());
        o.opt_str("uri", self.uri.as_deref());
        o.opt_str("user_agent", self.user_agent.as_deref());
        o.opt_str("version", self.version.as_deref());
        o.opt_str("response_version", self.response_version.as_deref());
        if let Some(s) = self.status {
            o.u64("status", u64::from(s));
        }
        o.opt_str("content_type", self.content_type.as_deref());
        o.u64("request_bytes", self.request_bytes);
        o.u64("response_bytes", self.response_bytes);
        o.u64("request_body_bytes", self.request_body_bytes);
        o.u64("response_body_bytes", self.response_body_bytes);
        if let Some(n) = self.request_body_decoded_bytes {
            o.u64("request_body_decoded_bytes", n);
        }
        if let Some(n) = self.response_body_decoded_bytes {
            o.u64("response_body_decoded_bytes", n);
        }
    }
}

/// TLS facts of one connection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// ClientHello server name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols the client offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn: Vec<String>,
    /// Versions the client offered (supported_versions, else its hello
    /// version), GREASE values left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub client_versions: Vec<String>,
    /// Version the ServerHello chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// ALPN protocol the server chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn_chosen: Option<String>,
    /// Cipher suite the ServerHello chose (IANA name where known, else
    /// its hex code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher: Option<String>,
    /// JA4 fingerprint of the ClientHello (`t` over TCP, `q` over QUIC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    /// Application-data record payload bytes, client to server.
    pub app_bytes_out: u64,
    /// Application-data record payload bytes, server to client.
    pub app_bytes_in: u64,
    /// Of `app_bytes_out`, TLS 1.3's encrypted handshake: the client's
    /// first application-data record (its Finished). Not written: the
    /// rules take it out where only the exchange itself counts.
    #[serde(skip)]
    pub handshake_bytes_out: u64,
    /// Of `app_bytes_in`, TLS 1.3's encrypted handshake: the server's
    /// application-data records before the client's first one (its
    /// certificates, CertificateVerify, Finished).
    #[serde(skip)]
    pub handshake_bytes_in: u64,
}

impl TlsInfo {
    /// Writes the members (as its `Serialize` does).
    pub fn write_fields(&self, o: &mut JsonObject<'_>) {
        o.opt_str("sni", self.sni.as_deref());
        if !self.alpn.is_empty() {
            o.strs("alpn", &self.alpn);
        }
        if !self.client_versions.is_empty() {
            o.strs("client_versions", &self.client_versions);
        }
        o.opt_str("version", self.version.as_deref());
        o.opt_str("alpn_chosen", self.alpn_chosen.as_deref());
        o.opt_str("cipher", self.cipher.as_deref());
        o.opt_str("ja4", self.ja4.as_deref());
        o.u64("app_bytes_out", self.app_bytes_out);
        o.u64("app_bytes_in", self.app_bytes_in);
    }
}
