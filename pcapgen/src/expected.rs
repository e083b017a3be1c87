//! Expected results, known by construction of each scenario.

use serde::Serialize;
use std::net::{IpAddr, SocketAddr};

/// What a correct reader must report for one flow of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedFlow {
    /// `"tcp"`, `"udp"`, `"icmp"` or `"ipv6-icmp"`.
    pub transport: &'static str,
    /// The SYN sender (UDP: the first sender); for a connection captured
    /// midstream, the side that opened it (the one sending the request).
    pub client: SocketAddr,
    /// The other side.
    pub server: SocketAddr,
    /// Frames client → server.
    pub client_packets: u64,
    /// Captured frame bytes client → server, link header included.
    pub client_bytes: u64,
    /// Frames server → client.
    pub server_packets: u64,
    /// Captured frame bytes server → client, link header included.
    pub server_bytes: u64,
    /// Unique TCP/UDP payload bytes client → server (retransmitted bytes
    /// counted once, dropped segments excluded).
    pub payload_out: u64,
    /// Unique TCP/UDP payload bytes server → client.
    pub payload_in: u64,
    /// Payload bytes of segments that were never put in the capture (both
    /// directions).
    pub missed_bytes: u64,
    /// HTTP/1.x transactions in order.
    pub http: Vec<ExpectedHttp>,
    /// TLS facts, for TLS connections.
    pub tls: Option<ExpectedTls>,
    /// Outermost VLAN id of the flow's frames, when tagged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// The tunnel the flow's frames came in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tunnel: Option<ExpectedTunnel>,
    /// The first ICMP message each way, for ICMP flows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<ExpectedIcmp>,
    /// The ICMP errors that quoted a TCP or UDP flow's packets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp_errors: Option<ExpectedIcmpErrors>,
}

/// The ICMP errors about a flow: how many, and the first one's type,
/// code and sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExpectedIcmpErrors {
    /// Errors quoting the flow's packets.
    pub count: u64,
    /// The first one's type.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Its code.
    pub code: u8,
    /// Its sender.
    pub reporter: IpAddr,
}

/// The first ICMP message each way of an ICMP flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ExpectedIcmp {
    /// Type of the client's first message.
    #[serde(rename = "type")]
    pub kind: u8,
    /// Its code.
    pub code: u8,
    /// Type of the server's first message, if it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<u8>,
    /// Its code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<u8>,
}

/// The outermost tunnel a flow came in, as its record gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpectedTunnel {
    /// `vxlan`, `geneve`, `gre`, `erspan`, `ipip`, `teredo` or `gtpu`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// VNI, GRE key, TEID or ERSPAN session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    /// Outer source address of the flow's first frame.
    pub src_ip: std::net::IpAddr,
    /// Outer destination address of the flow's first frame.
    pub dest_ip: std::net::IpAddr,
    /// Tunnels nested.
    pub depth: u8,
}

/// One HTTP/1.x request/response exchange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ExpectedHttp {
    /// Request method.
    pub method: Option<String>,
    /// Host header.
    pub host: Option<String>,
    /// Request target as sent.
    pub uri: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Final status code (interim 1xx responses are not the status).
    pub status: Option<u16>,
    /// Content-Type of the final response.
    pub content_type: Option<String>,
    /// Whole request: start line + headers + body as sent (chunk framing
    /// included).
    pub request_bytes: u64,
    /// Whole response exchange: interim 1xx responses + start line +
    /// headers + body as sent (chunk framing included).
    pub response_bytes: u64,
    /// Request body after de-chunking.
    pub request_body_bytes: u64,
    /// Response body after de-chunking (0 for HEAD, 204, 304).
    pub response_body_bytes: u64,
    /// Request body once its Content-Encoding is undone, for an encoded
    /// body decoded whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body_decoded_bytes: Option<u64>,
    /// Response body once its Content-Encoding is undone (as above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body_decoded_bytes: Option<u64>,
}

/// TLS facts of one connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ExpectedTls {
    /// server_name from the ClientHello.
    pub sni: Option<String>,
    /// ALPN protocols offered by the client, in order.
    pub alpn: Vec<String>,
    /// Versions offered by the client: the supported_versions extension
    /// without GREASE values, or, without that extension, the ClientHello
    /// legacy version alone. E.g. `["TLS 1.3", "TLS 1.2"]`.
    pub client_versions: Vec<String>,
    /// Version chosen by the ServerHello (`"TLS 1.2"` / `"TLS 1.3"`).
    pub version: Option<String>,
    /// Sum of application_data (content type 23) record payload lengths,
    /// client → server, record headers excluded.
    pub app_bytes_out: u64,
    /// Same, server → client.
    pub app_bytes_in: u64,
}

/// One generated capture with its expected flows.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    /// Short name, also the file name stem.
    pub name: &'static str,
    /// pcap link type of the capture.
    pub linktype: u32,
    /// What is inside, including anything not covered by `flows`.
    pub description: &'static str,
    /// The pcap file (not serialized).
    #[serde(skip)]
    pub pcap: Vec<u8>,
    /// Every flow a reader can know for sure; for most scenarios that is
    /// every packet of the capture (see `description` for exceptions).
    pub flows: Vec<ExpectedFlow>,
}
