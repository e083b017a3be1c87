//! ICMP and ICMPv6 messages as flow packets, keyed as Zeek and Community
//! ID v1 key them: the type stands for the source port; the destination
//! port is the counterpart type for a request or reply (so an echo and its
//! reply are one flow), else the code (a one-way message).

use super::{ip_layer, Addr, DecodeError, Encap, IpLayer, Packet};
use crate::flow::key::Transport;
use etherparse::ip_number;

/// Bytes of the header every ICMP message starts with (type, code,
/// checksum, and four bytes the type defines).
pub const HEADER: usize = 8;

/// The counterpart of an ICMP request or reply type.
fn counterpart_v4(kind: u8) -> Option<u8> {
    Some(match kind {
        8 => 0,   // echo request -> echo reply
        0 => 8,   //
        13 => 14, // timestamp
        14 => 13,
        15 => 16, // information
        16 => 15,
        10 => 9, // router solicitation -> advertisement
        9 => 10,
        17 => 18, // address mask
        18 => 17,
        _ => return None,
    })
}

/// The counterpart of an ICMPv6 request or reply type.
fn counterpart_v6(kind: u8) -> Option<u8> {
    Some(match kind {
        128 => 129, // echo
        129 => 128,
        133 => 134, // router solicitation -> advertisement
        134 => 133,
        135 => 136, // neighbour solicitation -> advertisement
        136 => 135,
        130 => 131, // multicast listener query -> report
        131 => 130,
        139 => 140, // node information query -> reply
        140 => 139,
        144 => 145, // home agent address discovery
        145 => 144,
        _ => return None,
    })
}

/// The counterpart of `kind`, for requests and replies of `transport`.
pub fn counterpart(transport: Transport, kind: u8) -> Option<u8> {
    match transport {
        Transport::Icmp => counterpart_v4(kind),
        Transport::Icmpv6 => counterpart_v6(kind),
        _ => None,
    }
}

/// The flow packet of an ICMP message. Its payload is the whole message
/// (header included: the flow reads type and code from it); its payload
/// bytes, as Zeek counts them, are those after [`HEADER`].
#[inline(never)]
pub(super) fn packet<'a>(
    l: &IpLayer<'a>,
    encap: Encap,
    transport: Transport,
) -> Result<Packet<'a>, DecodeError> {
    let (Some(&kind), Some(&code)) = (l.payload.first(), l.payload.get(1)) else {
        return Err(DecodeError::IcmpTruncated);
    };
    if l.payload.len() < HEADER {
        return Err(DecodeError::IcmpTruncated);
    }
    Ok(Packet {
        src: l.src,
        dst: l.dst,
        sport: u16::from(kind),
        dport: u16::from(counterpart(transport, kind).unwrap_or(code)),
        transport,
        tcp: None,
        payload: l.payload,
        payload_cut: l.cut,
        ip_len: l.ip_len,
        encap,
    })
}

/// The packet an ICMP error message quotes, as it went: the 5-tuple of
/// the flow the error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted {
    /// The quoted packet's source.
    pub src: Addr,
    /// Its source port.
    pub sport: u16,
    /// Its destination.
    pub dst: Addr,
    /// Its destination port.
    pub dport: u16,
    /// TCP or UDP.
    pub transport: Transport,
}

/// The TCP or UDP packet an ICMP error quotes (destination unreachable,
/// source quench, redirect, time exceeded, parameter problem; ICMPv6's
/// unreachable, packet too big, time exceeded, parameter problem): its
/// IP header and at least its ports, after the message's header. `None`
/// for any other message, or a quote too short or of another transport.
pub fn quoted(transport: Transport, message: &[u8]) -> Option<Quoted> {
    let kind = *message.first()?;
    let error = match transport {
        Transport::Icmp => matches!(kind, 3 | 4 | 5 | 11 | 12),
        Transport::Icmpv6 => matches!(kind, 1..=4),
        Transport::Tcp | Transport::Udp => false,
    };
    if !error {
        return None;
    }
    // A quote is cut short by design: the lax reader takes what is there.
    let layer = ip_layer(message.get(HEADER..)?).ok()?;
    let transport = match layer.proto {
        ip_number::TCP => Transport::Tcp,
        ip_number::UDP => Transport::Udp,
        _ => return None,
    };
    let port = |at: usize| {
        Some(u16::from_be_bytes([
            *layer.payload.get(at)?,
            *layer.payload.get(at + 1)?,
        ]))
    };
    Some(Quoted {
        src: layer.src,
        sport: port(0)?,
        dst: layer.dst,
        dport: port(2)?,
        transport,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_pair_both_ways() {
        for t in [Transport::Icmp, Transport::Icmpv6] {
            for kind in 0..=255u8 {
                if let Some(c) = counterpart(t, kind) {
                    assert_eq!(counterpart(t, c), Some(kind), "{t:?} {kind}");
                    assert_ne!(c, kind);
                }
            }
        }
        assert_eq!(counterpart(Transport::Icmp, 3), None);
        assert_eq!(counterpart(Transport::Icmpv6, 1), None);
    }
}
