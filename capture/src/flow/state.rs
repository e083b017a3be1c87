//! The state of one tracked flow.

use super::history::History;
use super::key::{Addr, FlowKey};
use crate::app::App;
use crate::tcp::Stream;
use crate::time::Micros;

/// Why a flow record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// FIN seen both ways.
    Fin,
    /// RST seen.
    Rst,
    /// No packet within the idle timeout.
    Idle,
    /// The capture ended with the flow still open.
    EndOfInput,
    /// Pushed out of a full flow table.
    Evicted,
}

impl CloseReason {
    /// Name as written in `event.reason`.
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Fin => "fin",
            CloseReason::Rst => "rst",
            CloseReason::Idle => "idle",
            CloseReason::EndOfInput => "end_of_input",
            CloseReason::Evicted => "evicted",
        }
    }
}

/// Client to server is index 0, server to client index 1, in every pair.
pub const TO_SERVER: usize = 0;
/// See [`TO_SERVER`].
pub const TO_CLIENT: usize = 1;

/// One flow being tracked.
#[derive(Debug)]
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// True when the key's `lo` endpoint is the client.
    pub client_is_lo: bool,
    /// First packet time.
    pub start: Micros,
    /// Last packet time.
    pub last: Micros,
    /// Packets each way.
    pub packets: [u64; 2],
    /// Captured frame bytes each way (link header included).
    pub bytes: [u64; 2],
    /// IP bytes each way, from the IP headers (what was on the wire).
    pub ip_bytes: [u64; 2],
    /// UDP payload bytes each way (TCP counts in its streams).
    pub udp_payload: [u64; 2],
    /// TCP flags seen.
    pub history: History,
    /// TCP picked up without a SYN.
    pub midstream: bool,
    /// Sequence number of the client's SYN, when seen.
    pub syn_seq: Option<u32>,
    /// FIN seen from each side.
    pub fin: [bool; 2],
    /// Set once FIN both ways or RST: the flow ends when it goes quiet.
    pub closing: Option<CloseReason>,
    /// TCP streams, client to server then server to client.
    pub streams: Option<Box<[Stream; 2]>>,
    /// HTTP / TLS state (TCP only).
    pub app: Option<Box<App>>,
}

impl Flow {
    /// Address and port of the client.
    pub fn client(&self) -> (Addr, u16) {
        if self.client_is_lo {
            (self.key.lo, self.key.lo_port)
        } else {
            (self.key.hi, self.key.hi_port)
        }
    }

    /// Address and port of the server.
    pub fn server(&self) -> (Addr, u16) {
        if self.client_is_lo {
            (self.key.hi, self.key.hi_port)
        } else {
            (self.key.lo, self.key.lo_port)
        }
    }

    /// Direction index of a packet travelling lo -> hi (`forward`) or back.
    pub fn dir(&self, forward: bool) -> usize {
        if forward == self.client_is_lo {
            TO_SERVER
        } else {
            TO_CLIENT
        }
    }
}
