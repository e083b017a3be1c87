use super::*;
use etherparse::PacketBuilder;

fn eth_tcp_v4(payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [203, 0, 113, 5], 64)
        .tcp(40000, 80, 1000, 65535)
        .ack(77);
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("build");
    v
}

#[test]
fn ethernet_ipv4_tcp() {
    let frame = eth_tcp_v4(b"GET / HTTP/1.1\r\n\r\n");
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert_eq!(p.src, Addr::V4([10, 0, 0, 1]));
    assert_eq!(p.dport, 80);
    assert_eq!(p.payload, b"GET / HTTP/1.1\r\n\r\n");
    let tcp = p.tcp.expect("tcp");
    assert_eq!(
        (tcp.seq, tcp.ack, tcp.flags & tcp_flags::ACK),
        (1000, 77, tcp_flags::ACK)
    );
    assert_eq!(p.ip_len, 20 + 20 + 18);
    assert!(!p.truncated());
}

/// A segment captured before the NIC split it (TCP segmentation offload)
/// has an IPv4 total length of 0: the packet is what the frame holds.
#[test]
fn a_zero_ip_length_is_the_frame_length() {
    let mut frame = eth_tcp_v4(&[b'x'; 3000]);
    // Total length (bytes 2-3 of the IP header) zeroed; the checksum is
    // not checked.
    frame[14 + 2] = 0;
    frame[14 + 3] = 0;
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert_eq!(p.payload.len(), 3000);
    assert_eq!(p.ip_len, 20 + 20 + 3000);
    assert!(!p.truncated());
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut frame = eth_tcp_v4(b"");
    frame.extend_from_slice(&[0u8; 6]); // minimum frame size padding
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert!(p.payload.is_empty());
}

#[test]
fn qinq_vlan_ipv6_udp() {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .double_vlan(10.try_into().expect("id"), 20.try_into().expect("id"))
        .ipv6([0xfd; 16], [0x20; 16], 64)
        .udp(5353, 53);
    let mut frame = Vec::new();
    b.write(&mut frame, b"abcd").expect("build");
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert_eq!(p.transport, Transport::Udp);
    assert_eq!(p.payload, b"abcd");
    assert_eq!(p.dst, Addr::V6([0x20; 16]));
}

#[test]
fn snaplen_cut_is_flagged() {
    let frame = eth_tcp_v4(&[b'x'; 200]);
    let p = decode(LinkType::Ethernet, frame.get(..96).expect("len")).expect("decodes");
    assert_eq!(p.payload.len(), 96 - 54);
    assert_eq!(p.payload_cut, 200 - 42);
}

/// A cut datagram: the payload the snap length cut is what its UDP length
/// says was sent past what was kept, within what its IP length says.
#[test]
fn a_cut_datagram_says_what_was_cut() {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [198, 51, 100, 53], 64)
        .udp(53000, 53);
    let mut frame = Vec::new();
    b.write(&mut frame, &[b'q'; 200]).expect("build");
    let p = decode(LinkType::Ethernet, frame.get(..64).expect("len")).expect("decodes");
    assert_eq!((p.payload.len(), p.payload_cut), (22, 178));
    // A UDP length short of the IP length (the rest is padding): only the
    // datagram's own bytes were cut.
    let mut short = frame.clone();
    short[14 + 20 + 5] = 8 + 100;
    let p = decode(LinkType::Ethernet, short.get(..64).expect("len")).expect("decodes");
    assert_eq!((p.payload.len(), p.payload_cut), (22, 78));
    // A UDP length past the IP length: the IP length bounds it.
    let mut long = frame.clone();
    long[14 + 20 + 4] = 0x10;
    let p = decode(LinkType::Ethernet, long.get(..64).expect("len")).expect("decodes");
    assert_eq!((p.payload.len(), p.payload_cut), (22, 178));
    // Whole: nothing cut.
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert_eq!((p.payload.len(), p.payload_cut), (200, 0));
}

/// A snap length that keeps the fixed TCP header but not all of its
/// options (`tcpdump -s 60` against timestamps): the segment is read from
/// its fixed header, its payload all cut. Without the fixed header, or
/// when the IP length itself ends inside the header, it is truncated.
#[test]
fn a_tcp_header_cut_inside_its_options_is_read() {
    let b = PacketBuilder::ethernet2([1; 6], [2; 6])
        .ipv4([10, 0, 0, 1], [203, 0, 113, 5], 64)
        .tcp(40000, 80, 1000, 65535)
        .options(&[etherparse::TcpOptionElement::Timestamp(1, 2)])
        .expect("options")
        .ack(77)
        .psh();
    let mut frame = Vec::new();
    b.write(&mut frame, &[b'x'; 100]).expect("build");
    // 14 + 20 + 32 bytes of headers: cut 6 bytes before the options end.
    let cut = frame.get(..60).expect("len");
    let p = decode(LinkType::Ethernet, cut).expect("read from the fixed header");
    let tcp = p.tcp.expect("tcp");
    assert_eq!(
        (p.sport, p.dport, tcp.seq, tcp.ack, tcp.flags),
        (40000, 80, 1000, 77, tcp_flags::ACK | tcp_flags::PSH)
    );
    assert!(p.payload.is_empty());
    assert_eq!((p.payload_cut, p.ip_len), (100, 20 + 32 + 100));
    // The fixed header cut: truncated.
    assert_eq!(
        decode(LinkType::Ethernet, frame.get(..14 + 20 + 19).expect("len")).err(),
        Some(DecodeError::TcpTruncated)
    );
    // Not cut by the capture but by its own IP length (24 bytes of TCP):
    // a malformed segment, truncated.
    let mut short = frame.get(..14 + 20 + 24).expect("len").to_vec();
    short[14 + 2..14 + 4].copy_from_slice(&44u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Ethernet, &short).err(),
        Some(DecodeError::TcpTruncated)
    );
    // A data offset under 5 words is no header.
    let mut bad = cut.to_vec();
    bad[14 + 20 + 12] = 0x40;
    assert_eq!(
        decode(LinkType::Ethernet, &bad).err(),
        Some(DecodeError::TcpBadOffset)
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    assert_eq!(
        decode(LinkType::Ethernet, &[0u8; 10]),
        Err(DecodeError::LinkTruncated)
    );
    let mut arp = eth_tcp_v4(b"");
    arp[12] = 0x08;
    arp[13] = 0x06;
    // ARP is no error, only no flow.
    assert_eq!(
        decode(LinkType::Ethernet, &arp).err(),
        Some(DecodeError::Arp)
    );
    assert!(!DecodeError::Arp.is_error());
    let mut lldp = eth_tcp_v4(b"");
    lldp[12] = 0x88;
    lldp[13] = 0xcc;
    // LLDP is link control: no error either.
    assert_eq!(
        decode(LinkType::Ethernet, &lldp).err(),
        Some(DecodeError::LinkControl)
    );
    assert!(!DecodeError::LinkControl.is_error());
    let mut unknown = lldp.clone();
    unknown[12] = 0x78;
    unknown[13] = 0x78;
    assert_eq!(
        decode(LinkType::Ethernet, &unknown).err(),
        Some(DecodeError::NotIp)
    );
    let mut icmp = eth_tcp_v4(b"");
    icmp[14 + 9] = 1; // IPv4 protocol: ICMP
    icmp[14 + 20] = 3; // destination unreachable
    icmp[14 + 21] = 1; // host unreachable
    let p = decode(LinkType::Ethernet, &icmp).expect("ICMP is a flow packet");
    assert_eq!(
        (p.transport, p.sport, p.dport, p.tcp),
        (Transport::Icmp, 3, 1, None)
    );
    icmp[14 + 20] = 8; // echo request: keyed with its reply's type
    let p = decode(LinkType::Ethernet, &icmp).expect("ICMP is a flow packet");
    assert_eq!((p.sport, p.dport), (8, 0));
    let short = icmp.get(..14 + 20 + 7).expect("frame");
    let mut short = short.to_vec();
    short[14 + 3] = 27; // IP total length: 7 bytes of ICMP
    assert_eq!(
        decode(LinkType::Ethernet, &short).err(),
        Some(DecodeError::IcmpTruncated)
    );
    let mut bad_ihl = eth_tcp_v4(b"");
    bad_ihl[14] = 0x44; // IHL 4 words
    assert_eq!(
        decode(LinkType::Ethernet, &bad_ihl).err(),
        Some(DecodeError::IpMalformed)
    );
    let mut bad_off = eth_tcp_v4(b"");
    bad_off[14 + 20 + 12] = 0x20; // data offset 2 words
    assert_eq!(
        decode(LinkType::Ethernet, &bad_off).err(),
        Some(DecodeError::TcpBadOffset)
    );
    let frame = eth_tcp_v4(b"");
    assert_eq!(
        decode(LinkType::Ethernet, &frame[..20]).err(),
        Some(DecodeError::IpTruncated)
    );
    assert_eq!(
        decode(LinkType::Unsupported(147), &frame).err(),
        Some(DecodeError::UnsupportedLink)
    );
    // Every prefix of a valid frame decodes or fails cleanly.
    for n in 0..frame.len() {
        let _ = decode(LinkType::Ethernet, &frame[..n]);
    }
}

#[test]
fn null_and_sll_links() {
    let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).tcp(1, 2, 3, 4);
    let mut ip = Vec::new();
    b.write(&mut ip, b"z").expect("build");
    let mut null = vec![2, 0, 0, 0];
    null.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::Null, &null).expect("null").payload, b"z");
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    sll.extend_from_slice(&ip);
    assert_eq!(decode(LinkType::LinuxSll, &sll).expect("sll").payload, b"z");
    let mut sll2 = vec![0x08, 0x00];
    sll2.extend_from_slice(&[0u8; 18]);
    sll2.extend_from_slice(&ip);
    assert_eq!(
        decode(LinkType::LinuxSll2, &sll2).expect("sll2").payload,
        b"z"
    );
    assert_eq!(decode(LinkType::Raw, &ip).expect("raw").payload, b"z");
}

/// `inner` (an Ethernet frame) in VXLAN with VNI 42 over UDP to `port`.
fn vxlan_frame(port: u16, inner: &[u8]) -> Vec<u8> {
    let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    vx.extend_from_slice(inner);
    let b = PacketBuilder::ethernet2([3; 6], [4; 6])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(50000, port);
    let mut v = Vec::new();
    b.write(&mut v, &vx).expect("build");
    v
}

#[test]
fn vxlan_is_read_on_its_port_and_on_configured_ones() {
    let inner = eth_tcp_v4(b"hello");
    let on_4789 = vxlan_frame(4789, &inner);
    let p = decode(LinkType::Ethernet, &on_4789).expect("decodes");
    assert_eq!(
        (p.src, p.dport, p.payload),
        (Addr::V4([10, 0, 0, 1]), 80, &b"hello"[..])
    );
    let t = p.encap.tunnel.expect("tunnel");
    assert_eq!((t.kind, t.id(), t.depth), (TunnelKind::Vxlan, Some(42), 1));
    assert_eq!(t.src, Addr::V4([192, 0, 2, 1]));
    // The inner frame starts after 14 + 20 + 8 + 8 bytes of encapsulation.
    assert_eq!(p.encap.inner_at, 50);
    assert_eq!(on_4789.len() - 50, inner.len());
    // Small enough to be moved without a call to memcpy.
    assert!(std::mem::size_of::<Packet<'_>>() <= 128);

    // Linux's own VXLAN port is read only once configured.
    let on_8472 = vxlan_frame(8472, &inner);
    let plain = decode(LinkType::Ethernet, &on_8472).expect("decodes");
    assert_eq!((plain.dport, plain.encap.tunnel), (8472, None));
    let linux = Tunnels {
        vxlan_ports: [4789, 8472, 0, 0],
        ..Tunnels::default()
    };
    assert_eq!(shard_hint(LinkType::Ethernet, &on_8472, &linux), None);
    let p = decode_with(LinkType::Ethernet, &on_8472, &linux).expect("decodes");
    assert_eq!((p.dport, p.payload), (80, &b"hello"[..]));

    // Depth 0 reads no tunnel: the datagram is a UDP flow of its own.
    let off = Tunnels {
        max_depth: 0,
        ..Tunnels::default()
    };
    let p = decode_with(LinkType::Ethernet, &on_4789, &off).expect("decodes");
    assert_eq!((p.dport, p.encap.tunnel), (4789, None));
}

#[test]
fn a_datagram_on_a_tunnel_port_that_is_no_tunnel_stays_udp() {
    // No I flag: not VXLAN.
    let b = PacketBuilder::ethernet2([3; 6], [4; 6])
        .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
        .udp(50000, 4789);
    let mut v = Vec::new();
    b.write(&mut v, &[0u8; 30]).expect("build");
    let p = decode(LinkType::Ethernet, &v).expect("decodes");
    assert_eq!((p.dport, p.payload.len(), p.encap.tunnel), (4789, 30, None));
}

/// Teredo off its port is taken from the datagram alone, only when the
/// IPv6 packet inside fills it and one end is a Teredo address; and the
/// shard hint defers to the full decode exactly then.
#[test]
fn teredo_on_any_port_needs_a_teredo_address() {
    let datagram = |src: [u8; 16]| {
        let inner = PacketBuilder::ipv6(
            src,
            [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9],
            64,
        )
        .tcp(41000, 80, 1, 1000);
        let mut ip6 = Vec::new();
        inner.write(&mut ip6, b"GET").expect("build");
        let b = PacketBuilder::ethernet2([3; 6], [4; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(50004, 33000);
        let mut v = Vec::new();
        b.write(&mut v, &ip6).expect("build");
        v
    };
    let mut teredo_client = [0u8; 16];
    teredo_client[..4].copy_from_slice(&[0x20, 0x01, 0x00, 0x00]);
    teredo_client[15] = 7;
    let v = datagram(teredo_client);
    let p = decode(LinkType::Ethernet, &v).expect("decodes");
    assert_eq!((p.dport, p.payload), (80, &b"GET"[..]));
    assert_eq!(p.encap.tunnel.map(|t| t.kind), Some(TunnelKind::Teredo));
    assert_eq!(
        shard_hint(LinkType::Ethernet, &v, &Tunnels::default()),
        None
    );
    // The same datagram between two other IPv6 addresses is UDP.
    let mut other = [0u8; 16];
    other[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    let v = datagram(other);
    let p = decode(LinkType::Ethernet, &v).expect("decodes");
    assert_eq!((p.dport, p.encap.tunnel), (33000, None));
    assert!(shard_hint(LinkType::Ethernet, &v, &Tunnels::default()).is_some());
}

/// AYIYA forwards (operation 1) are read; its other operations stay the
/// tunnel's own UDP.
#[test]
fn ayiya_forwards_are_read() {
    let inner = PacketBuilder::ipv6(
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        64,
    )
    .tcp(41000, 80, 1, 1000);
    let mut ip6 = Vec::new();
    inner.write(&mut ip6, b"hi").expect("build");
    let frame = |op: u8| {
        let mut h = vec![0x41, 0x52, 0x20 | op, 41, 0, 0, 0, 1];
        h.extend_from_slice(&[0xa5; 16 + 20]);
        h.extend_from_slice(&ip6);
        let b = PacketBuilder::ethernet2([3; 6], [4; 6])
            .ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .udp(50001, 5072);
        let mut v = Vec::new();
        b.write(&mut v, &h).expect("build");
        v
    };
    let forward = frame(1);
    let p = decode(LinkType::Ethernet, &forward).expect("decodes");
    assert_eq!((p.dport, p.payload), (80, &b"hi"[..]));
    assert_eq!(p.encap.tunnel.map(|t| t.kind), Some(TunnelKind::Ayiya));
    let echo = frame(2);
    let p = decode(LinkType::Ethernet, &echo).expect("decodes");
    assert_eq!((p.dport, p.encap.tunnel), (5072, None));
}

#[test]
fn cut_tunnel_headers_are_errors_not_panics() {
    let inner = eth_tcp_v4(b"hello");
    let frame = vxlan_frame(4789, &inner);
    for n in 0..frame.len() {
        let _ = decode(LinkType::Ethernet, frame.get(..n).expect("len"));
    }
    // GRE with a key and nothing after it.
    let b = PacketBuilder::ethernet2([3; 6], [4; 6]).ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64);
    let mut v = Vec::new();
    let b = b.write(
        &mut v,
        etherparse::ip_number::GRE,
        &[0x20, 0x00, 0x08, 0x00, 0, 0],
    );
    b.expect("build");
    assert_eq!(
        decode(LinkType::Ethernet, &v).err(),
        Some(DecodeError::TunnelMalformed)
    );
}

/// FDDI (link type 10): 13 bytes of frame control and addresses, then
/// LLC/SNAP carrying the EtherType; other LLC payloads are no IP.
#[test]
fn fddi_frames_through_llc_snap() {
    let eth = eth_tcp_v4(b"hi");
    let mut frame = vec![0x50];
    frame.extend_from_slice(&[1; 12]);
    frame.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0]);
    frame.extend_from_slice(&eth[12..]);
    assert_eq!(LinkType::from_dlt(10), LinkType::Fddi);
    let p = decode(LinkType::Fddi, &frame).expect("decodes");
    assert_eq!((p.dport, p.payload), (80, &b"hi"[..]));
    let mut stp = frame.clone();
    stp[13..16].copy_from_slice(&[0x42, 0x42, 0x03]);
    assert_eq!(decode(LinkType::Fddi, &stp), Err(DecodeError::LinkControl));
    let mut netbios = frame.clone();
    netbios[13..16].copy_from_slice(&[0xf0, 0xf0, 0x03]);
    assert_eq!(decode(LinkType::Fddi, &netbios), Err(DecodeError::NotIp));
    assert_eq!(
        decode(LinkType::Fddi, &frame[..14]),
        Err(DecodeError::LinkTruncated)
    );
}

/// A Network Service Header (RFC 8300) before the IP packet is read past;
/// cut anywhere, or of another version or too short, it is an error.
#[test]
fn nsh_is_read_past_and_cut_ones_are_errors() {
    let plain = eth_tcp_v4(b"GET / HTTP/1.1\r\n\r\n");
    let mut frame = plain[..12].to_vec();
    frame.extend_from_slice(&[0x89, 0x4f]);
    // Version 0, 6 words, MD type 1, next protocol IPv4; path 42/255.
    frame.extend_from_slice(&[0x0f, 0xc6, 0x01, 0x01, 0x00, 0x00, 0x2a, 0xff]);
    frame.extend_from_slice(&[0; 16]);
    frame.extend_from_slice(&plain[14..]);
    let p = decode(LinkType::Ethernet, &frame).expect("decodes");
    assert_eq!((p.sport, p.dport), (40000, 80));
    assert_eq!(p.payload, b"GET / HTTP/1.1\r\n\r\n");
    for cut in 14..14 + 24 + 20 {
        assert!(decode(LinkType::Ethernet, &frame[..cut]).is_err(), "{cut}");
    }
    let mut v1 = frame.clone();
    v1[14] |= 0x40; // version 1
    assert_eq!(
        decode(LinkType::Ethernet, &v1).err(),
        Some(DecodeError::NotIp)
    );
    let mut short = frame.clone();
    short[15] = 0xc1; // 1 word: shorter than its own headers
    assert_eq!(
        decode(LinkType::Ethernet, &short).err(),
        Some(DecodeError::NotIp)
    );
}

/// PPP (link types 9 and 50, and inside PPPoE and GRE): with or without
/// the address and control bytes, the protocol number in two bytes or
/// compressed to one; control protocols are link control, not errors.
#[test]
fn ppp_frames_in_every_header_form() {
    let eth = eth_tcp_v4(b"hi");
    let ip = &eth[14..];
    assert_eq!(LinkType::from_dlt(9), LinkType::Ppp);
    assert_eq!(LinkType::from_dlt(50), LinkType::Ppp);
    for head in [
        &[0xff, 0x03, 0x00, 0x21][..],
        &[0x00, 0x21],
        &[0xff, 0x03, 0x21],
        &[0x21],
    ] {
        let frame = [head, ip].concat();
        let p = decode(LinkType::Ppp, &frame).expect("decodes");
        assert_eq!((p.dport, p.payload), (80, &b"hi"[..]), "{head:02x?}");
    }
    let lcp = [0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04];
    assert_eq!(decode(LinkType::Ppp, &lcp), Err(DecodeError::LinkControl));
    let ipx = [0x00, 0x2b, 0x00];
    assert_eq!(decode(LinkType::Ppp, &ipx), Err(DecodeError::NotIp));
    assert_eq!(
        decode(LinkType::Ppp, &[0xff, 0x03]),
        Err(DecodeError::LinkTruncated)
    );
    assert_eq!(
        decode(LinkType::Ppp, &[0x00]),
        Err(DecodeError::LinkTruncated)
    );
}

/// The hand-read IPv4 header gives what etherparse's lax reading gives,
/// for every header it takes: headers built around the edges it checks
/// (version, header length, stated length against the captured bytes,
/// fragment bits, the Authentication Header), each also cut at every
/// length.
#[test]
fn plain_ipv4_reads_as_etherparse_does() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let header = (
        prop_oneof![Just(4u8), 0u8..16],
        0u8..16,
        prop_oneof![0u16..80, any::<u16>()],
        prop_oneof![Just(0u16), Just(0x4000), any::<u16>()],
        prop_oneof![Just(6u8), Just(17), Just(AUTH_HEADER), any::<u8>()],
        proptest::collection::vec(any::<u8>(), 0..80),
        any::<u8>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 20_000,
        ..Config::default()
    });
    let taken = std::cell::Cell::new(0u32);
    runner
        .run(&header, |(version, ihl, total, frag, proto, rest, tos)| {
            let mut ip = vec![(version << 4) | ihl, tos];
            ip.extend_from_slice(&total.to_be_bytes());
            ip.extend_from_slice(&[0x12, 0x34]);
            ip.extend_from_slice(&frag.to_be_bytes());
            ip.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 192, 0, 2, 7]);
            ip.extend_from_slice(&rest);
            for cut in 0..=ip.len() {
                let ip = &ip[..cut];
                if let Some(fast) = plain_ipv4(ip) {
                    taken.set(taken.get() + 1);
                    prop_assert_eq!(Ok(fast), lax_ip_layer(ip));
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(taken.get() > 10_000, "{} headers taken", taken.get());
}
