//! Which side of a UDP flow is its client, when the first datagram
//! captured may be an answer.
//!
//! A capture that starts mid-exchange, or a one-way mirror, often holds a
//! DNS, DHCP or NTP answer before (or without) its question. Naming that
//! answer's sender the client would attribute a resolver's traffic to the
//! DNS server's side. Zeek flips a new UDP connection when its source port
//! is a likely server port and its destination port is not (and its NTP
//! analyser flips on the mode); Suricata reverses a UDP flow whose first
//! datagram its protocol detection reads as going to the client.
//!
//! procflow reads the first datagram where the protocol says which way it
//! goes (the DNS QR bit, DHCP's op, DHCPv6's message type, NTP's mode),
//! and follows the port rule for the other services. A multicast or broadcast address
//! is never made the client: a group does not ask.

use super::key::Addr;

/// UDP ports that services listen on: DNS (53), DHCP (67) and DHCPv6
/// (547), TFTP (69), Kerberos (88), NTP (123), NetBIOS (137, 138), SNMP
/// and its traps (161, 162), CLDAP (389), QUIC (443), IKE (500, 4500),
/// syslog (514), RIP (520), OpenVPN (1194), RADIUS (1812, 1813), SSDP
/// (1900), GTP (2123, 2152), STUN (3478), Teredo (3544), GRE in UDP
/// (4754), VXLAN (4789), SIP (5060), AYIYA (5072), mDNS (5353), LLMNR
/// (5355), GENEVE (6081), memcached (11211), WireGuard (51820). Sorted, for
/// the binary search.
const UDP_SERVER_PORTS: [u16; 33] = [
    53, 67, 69, 88, 123, 137, 138, 161, 162, 389, 443, 500, 514, 520, 547, 1194, 1812, 1813, 1900,
    2123, 2152, 3478, 3544, 4500, 4754, 4789, 5060, 5072, 5353, 5355, 6081, 11211, 51820,
];

/// Whether a service usually listens on UDP port `port`.
pub fn is_udp_server_port(port: u16) -> bool {
    UDP_SERVER_PORTS.binary_search(&port).is_ok()
}

/// What a protocol's first datagram says of its direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// A question: its sender is the client.
    Question,
    /// An answer: its receiver is the client.
    Answer,
    /// A protocol read here, in a message that does not say (too short,
    /// or a mode that is neither): no evidence to turn the flow on.
    Silent,
    /// Not a protocol read here: the ports decide.
    Unread,
}

/// Reads the direction from the payload of the protocols whose messages
/// say it, picked by either port.
fn read_direction(sport: u16, dport: u16, payload: &[u8]) -> Reads {
    let either = |p: u16| sport == p || dport == p;
    let pick = |answer: bool| {
        if answer {
            Reads::Answer
        } else {
            Reads::Question
        }
    };
    if [53, 137, 5353, 5355].into_iter().any(either) {
        // DNS and its kin: the QR bit, the top of the third byte.
        return payload
            .get(2)
            .map_or(Reads::Silent, |b| pick(b & 0x80 != 0));
    }
    if either(67) || either(68) {
        // BOOTP op: 1 request, 2 reply.
        return match payload.first() {
            Some(1) => Reads::Question,
            Some(2) => Reads::Answer,
            _ => Reads::Silent,
        };
    }
    if either(546) || either(547) {
        // DHCPv6: advertise, reply and reconfigure come from the server.
        return match payload.first() {
            Some(2 | 7 | 10) => Reads::Answer,
            Some(1 | 3..=6 | 8 | 9 | 11) => Reads::Question,
            _ => Reads::Silent,
        };
    }
    if either(123) {
        // NTP mode: 3 client, 4 server; the others do not say.
        return match payload.first().map(|b| b & 7) {
            Some(3) => Reads::Question,
            Some(4) => Reads::Answer,
            _ => Reads::Silent,
        };
    }
    Reads::Unread
}

/// Whether an address is a group's (IPv4 multicast or limited broadcast,
/// IPv6 multicast).
fn is_group(a: Addr) -> bool {
    match a {
        Addr::V4(b) => (224..=239).contains(&b[0]) || b == [255; 4],
        Addr::V6(b) => b[0] == 0xff,
    }
}

/// Whether the first datagram of a new UDP flow, from `src:sport` to
/// `dst:dport`, comes from its server: the protocol says it is an answer,
/// or, for a protocol not read here, its source port is a service's and
/// its destination port is not. A read protocol's message that does not
/// say (an empty datagram from port 53), and a flow between two or no
/// services' ports, keep the first sender as the client.
pub fn udp_answer_first(src: Addr, sport: u16, dst: Addr, dport: u16, payload: &[u8]) -> bool {
    if is_group(dst) {
        return false;
    }
    match read_direction(sport, dport, payload) {
        Reads::Answer => !is_group(src),
        Reads::Question | Reads::Silent => false,
        Reads::Unread => is_udp_server_port(sport) && !is_udp_server_port(dport),
    }
}

/// For a TCP connection seen without its SYN: whether the first segment's
/// payload says which side sent it, as a protocol's opening does. `Some(true)`:
/// its sender is the client (a whole HTTP request line, a TLS
/// ClientHello); `Some(false)`: the server (a whole HTTP status line, a
/// TLS ServerHello); `None`: the payload does not say (then the ports
/// decide).
pub fn tcp_opening_says(payload: &[u8]) -> Option<bool> {
    if let Some(client) = crate::app::http::start_line_side(payload) {
        return Some(client);
    }
    // A TLS handshake record (22, version 3.x) whose first message is a
    // ClientHello (1) or a ServerHello (2).
    match payload {
        [22, 3, _, _, _, 1, ..] => Some(true),
        [22, 3, _, _, _, 2, ..] => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openings_say_their_side() {
        assert_eq!(
            tcp_opening_says(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"),
            Some(true)
        );
        assert_eq!(tcp_opening_says(b"HTTP/1.0 200 OK\r\n\r\n"), Some(false));
        assert_eq!(tcp_opening_says(&[22, 3, 1, 0, 200, 1, 0]), Some(true));
        assert_eq!(tcp_opening_says(&[22, 3, 3, 0, 90, 2, 0]), Some(false));
        // A body's middle, a half line, another protocol: nothing said.
        assert_eq!(tcp_opening_says(b"<html><body>"), None);
        assert_eq!(tcp_opening_says(b"GET /x HTT"), None);
        assert_eq!(tcp_opening_says(b"USER anonymous\r\n"), None);
    }

    const A: Addr = Addr::V4([10, 0, 0, 1]);
    const B: Addr = Addr::V4([10, 0, 0, 2]);

    fn first(sport: u16, dport: u16, payload: &[u8]) -> bool {
        udp_answer_first(A, sport, B, dport, payload)
    }

    #[test]
    fn the_list_is_sorted() {
        assert!(UDP_SERVER_PORTS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn protocols_that_say_their_direction_are_read() {
        // DNS: an answer (QR set) from 53, a question from 53 (as a
        // client bound to port 53 sends), a question to 53.
        assert!(first(53, 51_000, &[0x12, 0x34, 0x81, 0x80]));
        assert!(!first(53, 12_345, &[0x12, 0x34, 0x01, 0x00]));
        assert!(!first(51_000, 53, &[0x12, 0x34, 0x01, 0x00]));
        // DHCP: an offer (op 2) from 67 to 68; a discover from 68.
        assert!(first(67, 68, &[2, 1, 6, 0]));
        assert!(!first(68, 67, &[1, 1, 6, 0]));
        // DHCPv6: a reply (7) from 547; a solicit (1) from 546.
        assert!(first(547, 546, &[7, 0, 0, 1]));
        assert!(!first(546, 547, &[1, 0, 0, 1]));
        // NTP between servers' ports: the mode decides.
        assert!(first(123, 123, &[0x24]));
        assert!(!first(123, 123, &[0x23]));
        assert!(!first(123, 123, &[0x26]), "control mode does not say");
        // Too short to say: no evidence, the first sender stays the
        // client (Suricata keeps an empty datagram from 53 as sent).
        assert!(!first(53, 51_000, &[0x12]));
        assert!(!first(53, 12_345, b""));
    }

    #[test]
    fn elsewhere_the_port_rule() {
        assert!(first(443, 60_000, b"\xc0"));
        assert!(first(161, 40_000, b"0"));
        assert!(!first(40_000, 443, b"\xc0"));
        assert!(!first(4789, 4789, b""));
        assert!(!first(40_000, 50_000, b""));
    }

    #[test]
    fn a_group_is_never_the_client() {
        let mdns = Addr::V4([224, 0, 0, 251]);
        let bcast = Addr::V4([255; 4]);
        let all_nodes = Addr::V6([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let answer = [0, 0, 0x84, 0];
        assert!(!udp_answer_first(A, 5353, mdns, 5353, &answer));
        assert!(!udp_answer_first(A, 67, bcast, 68, &[2]));
        assert!(!udp_answer_first(A, 547, all_nodes, 546, &[7]));
        // Nor is a group's datagram taken for an answer to it.
        assert!(!udp_answer_first(mdns, 53, A, 40_000, &answer));
    }
}
