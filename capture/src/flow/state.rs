//! The state of one tracked flow.

use super::history::History;
use super::key::{Addr, FlowKey, Transport};
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
    /// Ended, still open, by a new connection on the same ports (a SYN
    /// with another initial sequence number).
    Reused,
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
            CloseReason::Reused => "reused",
        }
    }
}

/// Client to server is index 0, server to client index 1, in every pair.
pub const TO_SERVER: usize = 0;
/// See [`TO_SERVER`].
pub const TO_CLIENT: usize = 1;

/// One flow being tracked: 224 bytes for a TCP flow with its reassembly
/// and parser-detection state inline; parsers, held segments and rare
/// counters are boxed once they are needed.
#[derive(Debug)]
pub struct Flow {
    /// Canonical key.
    pub key: FlowKey,
    /// Bits of [`CLIENT_IS_LO`], [`MIDSTREAM`], [`FIN_TO_SERVER`],
    /// [`FIN_TO_CLIENT`], [`SYN_SEEN`], [`TUNNELLED`] and [`CARRIER`].
    flags: u8,
    /// Outermost VLAN id of its first packet (0: untagged); in bytes the
    /// layout left as padding.
    pub vlan: u16,
    /// Set once FIN both ways or RST: the flow ends when it goes quiet.
    /// Only the table sets it, as it moves the flow to its closing list.
    closing: Option<CloseReason>,
    /// TCP flags seen.
    pub history: History,
    /// Sequence number of the client's SYN, with [`SYN_SEEN`].
    syn_seq: u32,
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
    /// What the transport keeps.
    pub proto: TransportState,
}

const CLIENT_IS_LO: u8 = 1;
const MIDSTREAM: u8 = 2;
const FIN_TO_SERVER: u8 = 4;
const FIN_TO_CLIENT: u8 = 8;
const SYN_SEEN: u8 = 16;
const TUNNELLED: u8 = 32;
const CARRIER: u8 = 64;
const QUOTED: u8 = 128;

/// Transport state of a flow.
#[derive(Debug)]
pub enum TransportState {
    /// UDP: payload bytes each way and the application layer.
    Udp(UdpState),
    /// TCP: both streams and the application layer.
    Tcp(TcpState),
    /// ICMP and ICMPv6: payload bytes and the first message each way.
    Icmp(IcmpState),
}

/// What an ICMP flow keeps beyond the counters.
#[derive(Debug, Default)]
pub struct IcmpState {
    /// Payload bytes each way (after each message's 8-byte header).
    pub payload: [u64; 2],
    /// Payload bytes sent but cut by the snap length, both ways.
    pub missed: u64,
    /// Type and code of the first message each way.
    pub first: [Option<(u8, u8)>; 2],
}

impl IcmpState {
    /// Counts one message (header included) sent in direction `dir`, of
    /// which the capture cut `cut` bytes.
    pub fn message(&mut self, dir: usize, message: &[u8], cut: u32) {
        let header = crate::decode::icmp::HEADER as u64;
        let seen = (message.len() as u64).saturating_sub(header);
        let sent = (message.len() as u64 + u64::from(cut)).saturating_sub(header);
        if let Some(v) = self.payload.get_mut(dir) {
            *v += seen;
        }
        self.missed += sent - seen;
        if let (Some(slot @ None), [kind, code, ..]) = (self.first.get_mut(dir), message) {
            *slot = Some((*kind, *code));
        }
    }
}

/// What a UDP flow keeps beyond the counters.
#[derive(Debug)]
pub struct UdpState {
    /// Payload bytes each way.
    pub payload: [u64; 2],
    /// Payload bytes sent but cut by the snap length, both ways.
    pub missed: u64,
    /// Datagram parser state.
    pub app: App,
}

/// What a TCP flow keeps beyond the counters.
#[derive(Debug, Default)]
pub struct TcpState {
    /// Streams, client to server then server to client.
    pub streams: [Stream; 2],
    /// HTTP / TLS state.
    pub app: App,
}

impl Flow {
    /// A flow of `key` with no packet counted yet. `client_is_lo` says
    /// which endpoint is the client; `midstream` that TCP was picked up
    /// without a SYN.
    pub fn new(key: FlowKey, ts: Micros, client_is_lo: bool, midstream: bool) -> Flow {
        let mut flags = 0;
        if client_is_lo {
            flags |= CLIENT_IS_LO;
        }
        if midstream {
            flags |= MIDSTREAM;
        }
        Flow {
            key,
            flags,
            vlan: 0,
            closing: None,
            history: History::default(),
            syn_seq: 0,
            start: ts,
            last: ts,
            packets: [0; 2],
            bytes: [0; 2],
            ip_bytes: [0; 2],
            proto: match key.transport {
                Transport::Tcp => TransportState::Tcp(TcpState::default()),
                Transport::Udp => TransportState::Udp(UdpState {
                    payload: [0; 2],
                    missed: 0,
                    app: App::datagrams(),
                }),
                Transport::Icmp | Transport::Icmpv6 => TransportState::Icmp(IcmpState::default()),
            },
        }
    }

    /// Why the flow is closing (FIN both ways or RST), once it is.
    pub fn closing(&self) -> Option<CloseReason> {
        self.closing
    }

    /// Marks the flow closing; the table does, as it moves the flow to its
    /// closing list (a flow's list follows from this field).
    pub(super) fn set_closing(&mut self, reason: CloseReason) {
        self.closing = Some(reason);
    }

    /// True when the key's `lo` endpoint is the client.
    pub fn client_is_lo(&self) -> bool {
        self.flags & CLIENT_IS_LO != 0
    }

    /// Whether its first packet came out of a tunnel (the shard keeps
    /// which, apart, so that other flows pay nothing for it).
    pub fn tunnelled(&self) -> bool {
        self.flags & TUNNELLED != 0
    }

    /// Marks the flow as carried by a tunnel.
    pub fn set_tunnelled(&mut self) {
        self.flags |= TUNNELLED;
    }

    /// Whether it is a UDP tunnel's own flow (its datagrams carry other
    /// flows' packets: they are counted, not parsed).
    pub fn carrier(&self) -> bool {
        self.flags & CARRIER != 0
    }

    /// Marks the flow as a UDP tunnel's own.
    pub fn set_carrier(&mut self) {
        self.flags |= CARRIER;
    }

    /// Whether an ICMP error quoted one of its packets (the shard keeps
    /// the errors apart, as the tunnels).
    pub fn quoted(&self) -> bool {
        self.flags & QUOTED != 0
    }

    /// Marks the flow as quoted by an ICMP error.
    pub fn set_quoted(&mut self) {
        self.flags |= QUOTED;
    }

    /// TCP picked up without a SYN.
    pub fn midstream(&self) -> bool {
        self.flags & MIDSTREAM != 0
    }

    /// Sequence number of the client's SYN, when seen.
    pub fn syn_seq(&self) -> Option<u32> {
        (self.flags & SYN_SEEN != 0).then_some(self.syn_seq)
    }

    /// Keeps the client's SYN sequence number unless one is known.
    pub fn note_syn(&mut self, seq: u32) {
        if self.flags & SYN_SEEN == 0 {
            self.syn_seq = seq;
            self.flags |= SYN_SEEN;
        }
    }

    /// Notes a FIN from direction `dir`; true once both sides sent one.
    pub fn note_fin(&mut self, dir: usize) -> bool {
        self.flags |= if dir == TO_SERVER {
            FIN_TO_SERVER
        } else {
            FIN_TO_CLIENT
        };
        self.flags & (FIN_TO_SERVER | FIN_TO_CLIENT) == FIN_TO_SERVER | FIN_TO_CLIENT
    }

    /// Address and port of the client.
    pub fn client(&self) -> (Addr, u16) {
        if self.client_is_lo() {
            (self.key.lo, self.key.lo_port)
        } else {
            (self.key.hi, self.key.hi_port)
        }
    }

    /// Address and port of the server.
    pub fn server(&self) -> (Addr, u16) {
        if self.client_is_lo() {
            (self.key.hi, self.key.hi_port)
        } else {
            (self.key.lo, self.key.lo_port)
        }
    }

    /// Direction index of a packet travelling lo -> hi (`forward`) or back.
    pub fn dir(&self, forward: bool) -> usize {
        if forward == self.client_is_lo() {
            TO_SERVER
        } else {
            TO_CLIENT
        }
    }
}
