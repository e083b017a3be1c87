//! What a set of flows carried: the one set of counters a destination, a
//! process window and a rule's remote host each sum, and the one
//! definition of a flow's request and response volume.

use crate::flow::{AppProtocol, FlowRecord};
use serde::Serialize;

/// Connections, requests and bytes of some flows, summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Traffic {
    /// Connections.
    pub connections: u64,
    /// HTTP requests.
    pub http_requests: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Connections that carried HTTP.
    pub http_connections: u64,
    /// Connections that carried TLS (over TCP, or inside QUIC).
    pub tls_connections: u64,
    /// Of those, QUIC connections (HTTP/3 and others).
    pub quic_connections: u64,
    /// TLS application-data bytes sent (HTTPS volume without decryption).
    pub tls_app_bytes_out: u64,
    /// TLS application-data bytes received.
    pub tls_app_bytes_in: u64,
    /// Request volume: HTTP request messages (headers + body) and TLS
    /// application data sent, for the flows that carried either.
    pub request_bytes: u64,
    /// Response volume: HTTP response messages and TLS application data
    /// received.
    pub response_bytes: u64,
    /// TLS connections that carry HTTP (HTTPS): ALPN names HTTP, or none
    /// is named and the server's port is a web port.
    pub https_connections: u64,
    /// TLS application data sent on those, TLS 1.3's encrypted handshake
    /// left out.
    pub https_bytes_out: u64,
    /// TLS application data received on those, the handshake left out.
    pub https_bytes_in: u64,
    /// HTTP response body bytes (cleartext HTTP).
    pub response_body_bytes: u64,
}

impl Traffic {
    /// What one flow carried.
    pub fn of_flow(r: &FlowRecord) -> Traffic {
        let (request_bytes, response_bytes) = request_response(r);
        let tls = |f: fn(&crate::flow::TlsInfo) -> u64| r.tls.as_deref().map_or(0, f);
        let https = is_https(r);
        Traffic {
            connections: 1,
            http_requests: r.http.len() as u64,
            bytes_out: r.flow.payload_out,
            bytes_in: r.flow.payload_in,
            http_connections: u64::from(r.network.protocol.is_some_and(AppProtocol::is_http)),
            tls_connections: u64::from(carries_tls(r)),
            quic_connections: u64::from(r.network.protocol == Some(AppProtocol::QUIC)),
            tls_app_bytes_out: tls(|t| t.app_bytes_out),
            tls_app_bytes_in: tls(|t| t.app_bytes_in),
            request_bytes,
            response_bytes,
            https_connections: u64::from(https),
            // The exchange itself: TLS 1.3's encrypted handshake left out.
            https_bytes_out: if https {
                tls(|t| t.app_bytes_out.saturating_sub(t.handshake_bytes_out))
            } else {
                0
            },
            https_bytes_in: if https {
                tls(|t| t.app_bytes_in.saturating_sub(t.handshake_bytes_in))
            } else {
                0
            },
            response_body_bytes: r.http.iter().map(|h| h.response_body_bytes).sum(),
        }
    }

    /// Adds `o` in.
    pub fn add(&mut self, o: &Traffic) {
        self.connections += o.connections;
        self.http_requests += o.http_requests;
        self.bytes_out += o.bytes_out;
        self.bytes_in += o.bytes_in;
        self.http_connections += o.http_connections;
        self.tls_connections += o.tls_connections;
        self.quic_connections += o.quic_connections;
        self.tls_app_bytes_out += o.tls_app_bytes_out;
        self.tls_app_bytes_in += o.tls_app_bytes_in;
        self.request_bytes += o.request_bytes;
        self.response_bytes += o.response_bytes;
        self.https_connections += o.https_connections;
        self.https_bytes_out += o.https_bytes_out;
        self.https_bytes_in += o.https_bytes_in;
        self.response_body_bytes += o.response_body_bytes;
    }

    /// HTTP request volume alone: the request volume with the TLS
    /// application data taken out.
    pub fn http_request_bytes(&self) -> u64 {
        self.request_bytes.saturating_sub(self.tls_app_bytes_out)
    }

    /// HTTP response volume alone.
    pub fn http_response_bytes(&self) -> u64 {
        self.response_bytes.saturating_sub(self.tls_app_bytes_in)
    }
}

/// Server ports that speak HTTPS when a client names no ALPN protocol.
pub const HTTPS_PORTS: [u16; 2] = [443, 8443];

/// True when the flow's bytes are TLS: TLS over TCP, or QUIC (whose
/// datagrams count as its TLS application bytes).
pub fn carries_tls(r: &FlowRecord) -> bool {
    matches!(
        r.network.protocol,
        Some(AppProtocol::TLS | AppProtocol::QUIC)
    )
}

/// True when a TLS or QUIC flow carries HTTP: the protocol the server
/// chose (or, without an answer, the ones the client offered) is HTTP
/// (`http/1.1`, `h2`, `http/1.0`, `h3` and its drafts), or no ALPN is
/// named and the server's port is one of [`HTTPS_PORTS`].
pub fn is_https(r: &FlowRecord) -> bool {
    if !carries_tls(r) {
        return false;
    }
    let Some(t) = r.tls.as_ref() else {
        return false;
    };
    let http = |p: &str| {
        matches!(p, "http/1.1" | "h2" | "http/1.0" | "h2c" | "h3") || p.starts_with("h3-")
    };
    match (&t.alpn_chosen, t.alpn.is_empty()) {
        (Some(chosen), _) => http(chosen),
        (None, false) => t.alpn.iter().any(|p| http(p)),
        (None, true) => HTTPS_PORTS.contains(&r.destination.port),
    }
}

/// Request and response volume of one flow (DESIGN.md): HTTP message bytes
/// each way, or TLS application-data bytes (QUIC: datagram bytes); 0 for
/// other flows. For HTTP the
/// payload is the floor, since transactions past the per-flow cap are not
/// recorded one by one.
pub fn request_response(r: &FlowRecord) -> (u64, u64) {
    match r.network.protocol {
        Some(p) if p.is_http() => {
            let req: u64 = r.http.iter().map(|h| h.request_bytes).sum();
            let resp: u64 = r.http.iter().map(|h| h.response_bytes).sum();
            (req.max(r.flow.payload_out), resp.max(r.flow.payload_in))
        }
        Some(AppProtocol::TLS | AppProtocol::QUIC) => r
            .tls
            .as_ref()
            .map_or((0, 0), |t| (t.app_bytes_out, t.app_bytes_in)),
        _ => (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{EndpointFields, EventFields, FlowFields, HttpTransaction, Transport};

    fn flow(protocol: AppProtocol, txs: &[(u64, u64)]) -> FlowRecord {
        let end = |ip: [u8; 4], port| EndpointFields {
            ip: ip.into(),
            port,
            packets: 4,
            bytes: 900,
        };
        let event = EventFields {
            start: 1,
            end: 2,
            reason: "fin",
        };
        let (client, server) = (end([10, 0, 0, 1], 40000), end([192, 0, 2, 1], 80));
        let mut r = FlowRecord {
            flow: FlowFields {
                payload_out: 150,
                payload_in: 90,
                ..FlowFields::default()
            },
            http: txs
                .iter()
                .map(|&(request_bytes, response_bytes)| HttpTransaction {
                    request_bytes,
                    response_bytes,
                    ..HttpTransaction::default()
                })
                .collect(),
            ..FlowRecord::new(event, Transport::Tcp, client, server)
        };
        r.network.protocol = Some(protocol);
        r
    }

    #[test]
    fn cleartext_http2_counts_as_http_with_its_streams_volume() {
        // Two streams, their frames 70 + 40 out and 30 + 40 in; the
        // connection's own frames make the payload larger.
        for p in [AppProtocol::HTTP, AppProtocol::HTTP2] {
            let t = Traffic::of_flow(&flow(p, &[(70, 30), (40, 40)]));
            assert_eq!((t.http_connections, t.http_requests), (1, 2), "{p:?}");
            assert_eq!((t.request_bytes, t.response_bytes), (150, 90), "{p:?}");
        }
        let t = Traffic::of_flow(&flow(AppProtocol::named("smtp"), &[]));
        assert_eq!((t.http_connections, t.request_bytes), (0, 0));
    }
}
