//! The ICMP scenario: echo exchanges over IPv4 and IPv6, one-way error
//! messages (port unreachable, time exceeded) quoting the packet that
//! caused them, and an IPv6 neighbour solicitation with its advertisement.
//!
//! A reader keys ICMP flows as Zeek and Community ID do: the message type
//! stands for the source port, and the counterpart type (a request's
//! reply) or else the code for the destination port.

use crate::conn::{TcpConn, UdpFlow};
use crate::expected::{ExpectedFlow, ExpectedIcmp, ExpectedIcmpErrors, Scenario};
use crate::pcap::Capture;
use crate::wire::{
    ethertype_of, internet_checksum, ipv4_fragment_frame, push_ip_header, transport_checksum,
    IpOpts, Link, LinkCtx, LINKTYPE_ETHERNET,
};
use std::net::{IpAddr, SocketAddr};

const IPPROTO_ICMP: u8 = 1;
const IPPROTO_ICMPV6: u8 = 58;

/// An ICMP message: its type, code, the four bytes after the checksum
/// (echo identifier and sequence, or unused) and its data.
struct Message<'a> {
    kind: u8,
    code: u8,
    rest: [u8; 4],
    data: &'a [u8],
}

/// One ICMP flow being written: the frames each way, counted as a reader
/// must count them.
struct IcmpFlow {
    l2: LinkCtx,
    client: IpAddr,
    server: IpAddr,
    frames: [(u64, u64); 2],
    payload: [u64; 2],
    first: [Option<(u8, u8)>; 2],
    buf: Vec<u8>,
}

impl IcmpFlow {
    fn new(client: &str, server: &str) -> Self {
        IcmpFlow {
            l2: LinkCtx::new(Link::Ethernet),
            client: client.parse().expect("literal"),
            server: server.parse().expect("literal"),
            frames: [(0, 0); 2],
            payload: [0; 2],
            first: [None; 2],
            buf: Vec::with_capacity(256),
        }
    }

    /// The message `m` from `src` to `dst`, its checksum set, and the IP
    /// protocol that carries it.
    fn message(src: IpAddr, dst: IpAddr, m: &Message<'_>) -> (Vec<u8>, u8) {
        let mut icmp = vec![m.kind, m.code, 0, 0];
        icmp.extend_from_slice(&m.rest);
        icmp.extend_from_slice(m.data);
        let sum = if src.is_ipv4() {
            internet_checksum(&icmp)
        } else {
            transport_checksum(src, dst, IPPROTO_ICMPV6, &icmp)
        };
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let proto = if src.is_ipv4() {
            IPPROTO_ICMP
        } else {
            IPPROTO_ICMPV6
        };
        (icmp, proto)
    }

    /// Sends `m`, from the client (`to_server`) or from the server.
    fn send(&mut self, cap: &mut Capture, to_server: bool, m: &Message<'_>) {
        let (src, dst, i) = if to_server {
            (self.client, self.server, 0)
        } else {
            (self.server, self.client, 1)
        };
        let (icmp, proto) = Self::message(src, dst, m);
        self.buf.clear();
        self.l2
            .push_header(&mut self.buf, to_server, ethertype_of(src));
        let ip = IpOpts {
            ttl: if to_server { 64 } else { 255 },
            ident: 0x4000 + self.frames[i].0 as u16,
            dont_fragment: false,
            ipv6_ext_headers: false,
        };
        push_ip_header(&mut self.buf, src, dst, proto, icmp.len(), &ip);
        self.buf.extend_from_slice(&icmp);
        cap.emit(&self.buf);
        self.frames[i].0 += 1;
        self.frames[i].1 += self.buf.len() as u64;
        self.payload[i] += m.data.len() as u64;
        self.first[i].get_or_insert((m.kind, m.code));
    }

    /// Sends `m` from the client (IPv4) in two fragments, the first
    /// carrying `first` bytes of the message (a multiple of 8): one
    /// datagram of the flow, its bytes the two frames'.
    fn send_fragmented(&mut self, cap: &mut Capture, m: &Message<'_>, first: usize) {
        let (IpAddr::V4(src), IpAddr::V4(dst)) = (self.client, self.server) else {
            panic!("IPv4 fragments from an IPv4 client");
        };
        let (icmp, proto) = Self::message(self.client, self.server, m);
        let (head, tail) = icmp.split_at(first);
        let ident = 0x4000 + self.frames[0].0 as u16;
        for (offset, more, part) in [(0, true, head), (first, false, tail)] {
            let buf = &mut self.buf;
            ipv4_fragment_frame(
                buf, &self.l2, true, src, dst, proto, ident, offset, more, part,
            );
            cap.emit(buf);
            self.frames[0].1 += buf.len() as u64;
        }
        self.frames[0].0 += 1;
        self.payload[0] += m.data.len() as u64;
        self.first[0].get_or_insert((m.kind, m.code));
    }

    /// The flow as a reader must report it: the client's first message
    /// type as its port, the counterpart type or the code as the server's.
    fn expected(&self, server_port: u8) -> ExpectedFlow {
        let (kind, code) = self.first[0].expect("the client sent a message");
        let (response_type, response_code) = self.first[1].unzip();
        ExpectedFlow {
            transport: if self.client.is_ipv4() {
                "icmp"
            } else {
                "ipv6-icmp"
            },
            client: SocketAddr::new(self.client, u16::from(kind)),
            server: SocketAddr::new(self.server, u16::from(server_port)),
            client_packets: self.frames[0].0,
            client_bytes: self.frames[0].1,
            server_packets: self.frames[1].0,
            server_bytes: self.frames[1].1,
            payload_out: self.payload[0],
            payload_in: self.payload[1],
            missed_bytes: 0,
            http: Vec::new(),
            tls: None,
            vlan: None,
            tunnel: None,
            icmp: Some(ExpectedIcmp {
                kind,
                code,
                response_type,
                response_code,
            }),
            icmp_errors: None,
        }
    }
}

/// Echo data as `ping` sends it: a pattern of `len` bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 256) as u8).collect()
}

/// The first 28 bytes of a TCP segment as an error message quotes it: its
/// IPv4 header (a 1,440-byte packet) and the first 8 bytes of its TCP
/// header (the ports and the sequence number).
fn quoted_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, seq: u32) -> Vec<u8> {
    let mut q = Vec::with_capacity(28);
    crate::wire::push_ipv4_header(&mut q, src.into(), dst.into(), 6, 1420, 64, 0x2222, 0x4000);
    q.extend_from_slice(&sport.to_be_bytes());
    q.extend_from_slice(&dport.to_be_bytes());
    q.extend_from_slice(&seq.to_be_bytes());
    q
}

/// Errors about flows the capture holds: a port unreachable answering a
/// UDP datagram, and a router's "fragmentation needed" (path MTU
/// discovery, next-hop MTU 1,400) about two segments of a TCP connection.
fn errors_about_flows(cap: &mut Capture, flows: &mut Vec<ExpectedFlow>) {
    let sa = |s: &str| -> SocketAddr { s.parse().expect("socket address literal") };
    let ip = |s: &str| -> IpAddr { s.parse().expect("address literal") };
    let mut syslog = UdpFlow::new(Link::Ethernet, sa("10.0.0.40:40514"), sa("10.0.0.53:514"));
    syslog.client_send(cap, &[b's'; 40]);
    let mut refused = IcmpFlow::new("10.0.0.53", "10.0.0.40");
    let quoted = quoted_udp([10, 0, 0, 40], [10, 0, 0, 53], 40514, 514);
    refused.send(
        cap,
        true,
        &Message {
            kind: 3,
            code: 3,
            rest: [0; 4],
            data: &quoted,
        },
    );
    let mut udp = syslog.expected();
    udp.icmp_errors = Some(ExpectedIcmpErrors {
        count: 1,
        kind: 3,
        code: 3,
        reporter: ip("10.0.0.53"),
    });
    flows.push(udp);
    flows.push(refused.expected(3));

    let mut upload = TcpConn::new(Link::Ethernet, sa("10.0.0.40:40080"), sa("203.0.113.80:80"))
        .with_isns(0x0100_0000, 0x0200_0000);
    upload.handshake(cap);
    let mut mtu = IcmpFlow::new("10.0.0.1", "10.0.0.40");
    for seq in [0x0100_0001u32, 0x0100_0001 + 1380] {
        upload.client_send(cap, &[b'u'; 1380]);
        let quoted = quoted_tcp([10, 0, 0, 40], [203, 0, 113, 80], 40080, 80, seq);
        mtu.send(
            cap,
            true,
            &Message {
                kind: 3,
                code: 4,
                rest: [0, 0, 0x05, 0x78],
                data: &quoted,
            },
        );
    }
    upload.close(cap);
    let mut tcp = upload.expected(Vec::new(), None);
    tcp.icmp_errors = Some(ExpectedIcmpErrors {
        count: 2,
        kind: 3,
        code: 4,
        reporter: ip("10.0.0.1"),
    });
    flows.push(tcp);
    flows.push(mtu.expected(4));

    // A time exceeded quoting a whole 1,400-byte datagram (a router that
    // quotes all it can), itself cut into two fragments on the way.
    let mut bulk = UdpFlow::new(Link::Ethernet, sa("10.0.0.40:40777"), sa("10.0.0.54:777"));
    bulk.client_send(cap, &[b'b'; 1400]);
    let mut quoted = Vec::with_capacity(1428);
    crate::wire::push_ipv4_header(
        &mut quoted,
        [10, 0, 0, 40].into(),
        [10, 0, 0, 54].into(),
        17,
        1408,
        1,
        0x2222,
        0,
    );
    quoted.extend_from_slice(&40777u16.to_be_bytes());
    quoted.extend_from_slice(&777u16.to_be_bytes());
    quoted.extend_from_slice(&1408u16.to_be_bytes());
    quoted.extend_from_slice(&[0, 0]);
    quoted.extend_from_slice(&[b'b'; 1400]);
    let mut router = IcmpFlow::new("10.0.0.2", "10.0.0.40");
    let m = Message {
        kind: 11,
        code: 0,
        rest: [0; 4],
        data: &quoted,
    };
    router.send_fragmented(cap, &m, 1000);
    let mut udp = bulk.expected();
    udp.icmp_errors = Some(ExpectedIcmpErrors {
        count: 1,
        kind: 11,
        code: 0,
        reporter: ip("10.0.0.2"),
    });
    flows.push(udp);
    flows.push(router.expected(0));
}

/// The first 28 bytes of a UDP datagram as an error message quotes it: its
/// IPv4 header and the first 8 bytes of what it carried.
fn quoted_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(28);
    crate::wire::push_ipv4_header(&mut q, src.into(), dst.into(), 17, 8 + 40, 1, 0x1111, 0);
    q.extend_from_slice(&sport.to_be_bytes());
    q.extend_from_slice(&dport.to_be_bytes());
    q.extend_from_slice(&48u16.to_be_bytes());
    q.extend_from_slice(&[0, 0]);
    q
}

/// The ICMP scenario (see the module's description).
pub fn icmp() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut flows = Vec::new();

    let mut ping = IcmpFlow::new("10.0.0.40", "198.51.100.7");
    let data = pattern(56);
    for seq in 1..=3u16 {
        let [s0, s1] = seq.to_be_bytes();
        let echo = |kind| Message {
            kind,
            code: 0,
            rest: [0x12, 0x34, s0, s1],
            data: &data,
        };
        ping.send(&mut cap, true, &echo(8));
        ping.send(&mut cap, false, &echo(0));
    }
    flows.push(ping.expected(0));

    let mut unreachable = IcmpFlow::new("10.0.0.1", "10.0.0.40");
    let quoted = quoted_udp([10, 0, 0, 40], [10, 0, 0, 1], 40000, 33434);
    unreachable.send(
        &mut cap,
        true,
        &Message {
            kind: 3,
            code: 3,
            rest: [0; 4],
            data: &quoted,
        },
    );
    flows.push(unreachable.expected(3));

    let mut exceeded = IcmpFlow::new("192.0.2.254", "10.0.0.40");
    let quoted = quoted_udp([10, 0, 0, 40], [203, 0, 113, 9], 40001, 33435);
    for _ in 0..2 {
        exceeded.send(
            &mut cap,
            true,
            &Message {
                kind: 11,
                code: 0,
                rest: [0; 4],
                data: &quoted,
            },
        );
    }
    flows.push(exceeded.expected(0));

    let mut ping6 = IcmpFlow::new("2001:db8::40", "2001:db8:1::7");
    let data = pattern(32);
    for (seq, answered) in [(1u16, true), (2, false)] {
        let [s0, s1] = seq.to_be_bytes();
        let echo = |kind| Message {
            kind,
            code: 0,
            rest: [0xab, 0xcd, s0, s1],
            data: &data,
        };
        ping6.send(&mut cap, true, &echo(128));
        if answered {
            ping6.send(&mut cap, false, &echo(129));
        }
    }
    flows.push(ping6.expected(129));

    // Neighbour discovery: the solicitation goes to the solicited-node
    // multicast address, the advertisement comes back unicast, so they are
    // two flows, each keyed with its counterpart type.
    let target: IpAddr = "fe80::7".parse().expect("literal");
    let IpAddr::V6(t6) = target else {
        unreachable!("a v6 literal")
    };
    let mut ns_data = t6.octets().to_vec();
    ns_data.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x40]); // source link-layer address
    let mut solicit = IcmpFlow::new("fe80::40", "ff02::1:ff00:7");
    solicit.send(
        &mut cap,
        true,
        &Message {
            kind: 135,
            code: 0,
            rest: [0; 4],
            data: &ns_data,
        },
    );
    flows.push(solicit.expected(136));
    let mut na_data = t6.octets().to_vec();
    na_data.extend_from_slice(&[2, 1, 0x02, 0, 0, 0, 0, 0x07]); // target link-layer address
    let mut advert = IcmpFlow::new("fe80::7", "fe80::40");
    advert.send(
        &mut cap,
        true,
        &Message {
            kind: 136,
            code: 0,
            rest: [0x60, 0, 0, 0], // solicited, override
            data: &na_data,
        },
    );
    flows.push(advert.expected(135));
    errors_about_flows(&mut cap, &mut flows);

    Scenario {
        name: "icmp",
        linktype: LINKTYPE_ETHERNET,
        description: "ICMP flows. 10.0.0.40 pings 198.51.100.7 three times (echo request type 8, id 0x1234, \
                      56 data bytes) and each is answered (type 0): one flow, keyed 8 -> 0. 10.0.0.1 sends \
                      10.0.0.40 a port unreachable (type 3 code 3) quoting a UDP datagram's 28 bytes, and \
                      192.0.2.254 sends it two time exceeded messages (type 11 code 0): one-way flows keyed \
                      type -> code. 2001:db8::40 pings 2001:db8:1::7 twice (type 128, 32 bytes), the first \
                      answered (129). fe80::40 solicits fe80::7 at ff02::1:ff00:7 (135) and fe80::7 \
                      advertises back (136): two flows, keyed 135 -> 136 and 136 -> 135. Then errors about flows \
                      the capture holds: 10.0.0.40:40514 sends 40 bytes to 10.0.0.53:514/udp, which answers a \
                      port unreachable quoting it; 10.0.0.40:40080 connects to 203.0.113.80:80 and sends two \
                      1,380-byte segments, each answered by 10.0.0.1 with a fragmentation needed (type 3 code 4, \
                      next-hop MTU 1,400) quoting it, and closes. The UDP and TCP flows' records count the errors \
                      about them (icmp_errors: count, the first one's type, code and sender); the errors are \
                      one-way ICMP flows too. Last, 10.0.0.40:40777 sends 1,400 bytes to 10.0.0.54:777/udp and \
                      10.0.0.2 answers a time exceeded quoting all of it, in two IPv4 fragments (1,000 bytes of \
                      the message, then 436): reassembled, it counts in the UDP flow's record as the others do. The quoted traceroute probes above were never captured: those \
                      errors are counted as about flows not tracked.",
        pcap: cap.into_bytes(),
        flows,
    }
}
