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
    /// Connections that carried TLS.
    pub tls_connections: u64,
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
}

impl Traffic {
    /// What one flow carried.
    pub fn of_flow(r: &FlowRecord) -> Traffic {
        let (request_bytes, response_bytes) = request_response(r);
        let tls = |f: fn(&crate::flow::TlsInfo) -> u64| r.tls.as_ref().map_or(0, f);
        Traffic {
            connections: 1,
            http_requests: r.http.len() as u64,
            bytes_out: r.flow.payload_out,
            bytes_in: r.flow.payload_in,
            http_connections: u64::from(r.network.protocol == Some(AppProtocol::HTTP)),
            tls_connections: u64::from(r.network.protocol == Some(AppProtocol::TLS)),
            tls_app_bytes_out: tls(|t| t.app_bytes_out),
            tls_app_bytes_in: tls(|t| t.app_bytes_in),
            request_bytes,
            response_bytes,
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
        self.tls_app_bytes_out += o.tls_app_bytes_out;
        self.tls_app_bytes_in += o.tls_app_bytes_in;
        self.request_bytes += o.request_bytes;
        self.response_bytes += o.response_bytes;
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

/// Request and response volume of one flow (DESIGN.md): HTTP message bytes
/// each way, or TLS application-data bytes; 0 for other flows. For HTTP the
/// payload is the floor, since transactions past the per-flow cap are not
/// recorded one by one.
pub fn request_response(r: &FlowRecord) -> (u64, u64) {
    match r.network.protocol {
        Some(AppProtocol::HTTP) => {
            let req: u64 = r.http.iter().map(|h| h.request_bytes).sum();
            let resp: u64 = r.http.iter().map(|h| h.response_bytes).sum();
            (req.max(r.flow.payload_out), resp.max(r.flow.payload_in))
        }
        Some(AppProtocol::TLS) => r
            .tls
            .as_ref()
            .map_or((0, 0), |t| (t.app_bytes_out, t.app_bytes_in)),
        _ => (0, 0),
    }
}
