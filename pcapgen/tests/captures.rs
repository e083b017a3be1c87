//! Checks of the generated captures with independent parsers (etherparse
//! for IP/TCP/UDP and checksums, tls-parser for the hellos).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use etherparse::{LaxNetSlice, LaxSlicedPacket, NetSlice, SlicedPacket, TransportSlice};
use pcapgen::{scenarios, write_bench, ExpectedFlow, Scenario};
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

struct Record<'a> {
    caplen: usize,
    orig: usize,
    data: &'a [u8],
}

/// Walks a pcap file: checks the global header and every record header;
/// returns (linktype, snaplen, records).
fn walk(pcap: &[u8]) -> (u32, u32, Vec<Record<'_>>) {
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert!(pcap.len() >= 24, "no global header");
    assert_eq!(u32_at(pcap, 0), 0xa1b2_c3d4, "magic");
    assert_eq!(&pcap[4..8], &[2, 0, 4, 0], "version 2.4");
    let snaplen = u32_at(pcap, 16);
    let linktype = u32_at(pcap, 20);
    let mut off = 24;
    let mut last_ts = 0u64;
    let mut recs = Vec::new();
    while off < pcap.len() {
        assert!(off + 16 <= pcap.len(), "truncated record header at {off}");
        let ts = u64::from(u32_at(pcap, off)) * 1_000_000 + u64::from(u32_at(pcap, off + 4));
        assert!(u32_at(pcap, off + 4) < 1_000_000);
        assert!(ts >= last_ts, "timestamps go back");
        last_ts = ts;
        let caplen = u32_at(pcap, off + 8) as usize;
        let orig = u32_at(pcap, off + 12) as usize;
        assert!(caplen <= orig && caplen <= snaplen as usize);
        assert!(off + 16 + caplen <= pcap.len(), "truncated record data");
        recs.push(Record {
            caplen,
            orig,
            data: &pcap[off + 16..off + 16 + caplen],
        });
        off += 16 + caplen;
    }
    (linktype, snaplen, recs)
}

/// The IP packet of a frame, by hand (independent of the generator).
fn ip_of(linktype: u32, f: &[u8]) -> Option<&[u8]> {
    let be16 = |o: usize| f.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let is_ip = |et: u16| et == 0x0800 || et == 0x86dd;
    match linktype {
        1 => {
            let mut et = be16(12)?;
            let mut off = 14;
            while et == 0x8100 || et == 0x88a8 {
                et = be16(off + 2)?;
                off += 4;
            }
            is_ip(et).then(|| &f[off..])
        }
        113 => is_ip(be16(14)?).then(|| &f[16..]),
        276 => is_ip(be16(0)?).then(|| &f[20..]),
        101 => Some(f),
        0 => {
            let fam = u32::from_le_bytes(f.get(0..4)?.try_into().unwrap());
            (fam == 2 || fam == 30).then(|| &f[4..])
        }
        // PPP with its address and control bytes, then a 2-byte protocol.
        9 => (f.get(..2)? == [0xff, 0x03] && matches!(be16(2)?, 0x0021 | 0x0057)).then(|| &f[4..]),
        other => panic!("unexpected linktype {other}"),
    }
}

struct Pkt<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    tcp: Option<(u32, bool)>, // seq, syn
    payload: &'a [u8],
}

fn parse_lax(ip: &[u8]) -> Option<Pkt<'_>> {
    let p = LaxSlicedPacket::from_ip(ip).ok()?;
    let (s, d, carried) = match p.net? {
        LaxNetSlice::Ipv4(v) => (
            v.header().source_addr().into(),
            v.header().destination_addr().into(),
            v.payload().clone(),
        ),
        LaxNetSlice::Ipv6(v) => (
            v.header().source_addr().into(),
            v.header().destination_addr().into(),
            v.payload().clone(),
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    let (s, d): (IpAddr, IpAddr) = (s, d);
    match p.transport {
        Some(TransportSlice::Tcp(t)) => Some(Pkt {
            src: SocketAddr::new(s, t.source_port()),
            dst: SocketAddr::new(d, t.destination_port()),
            tcp: Some((t.sequence_number(), t.syn())),
            payload: t.payload(),
        }),
        Some(TransportSlice::Udp(u)) => Some(Pkt {
            src: SocketAddr::new(s, u.source_port()),
            dst: SocketAddr::new(d, u.destination_port()),
            tcp: None,
            payload: u.payload(),
        }),
        // A TCP header the snap length cut inside its options: its fixed
        // 20 bytes, and no payload.
        None if carried.ip_number == etherparse::IpNumber::TCP => {
            let h = carried.payload.get(..20)?;
            let be16 = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
            Some(Pkt {
                src: SocketAddr::new(s, be16(0)),
                dst: SocketAddr::new(d, be16(2)),
                tcp: Some((
                    u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                    h[13] & 0x02 != 0,
                )),
                payload: &[],
            })
        }
        _ => None,
    }
}

/// Verifies IPv4 header and TCP/UDP checksums of a whole IP packet; returns
/// false when etherparse's strict parser rejects the packet.
fn checksums_ok(ip: &[u8]) -> bool {
    let Ok(p) = SlicedPacket::from_ip(ip) else {
        return false;
    };
    let (src, dst): (IpAddr, IpAddr) = match &p.net {
        Some(NetSlice::Ipv4(v)) => {
            let h = v.header();
            assert_eq!(
                h.to_header().calc_header_checksum(),
                h.header_checksum(),
                "IPv4 header checksum"
            );
            (h.source_addr().into(), h.destination_addr().into())
        }
        Some(NetSlice::Ipv6(v)) => (
            v.header().source_addr().into(),
            v.header().destination_addr().into(),
        ),
        _ => return false,
    };
    match (&p.transport, src, dst) {
        (Some(TransportSlice::Tcp(t)), IpAddr::V4(s), IpAddr::V4(d)) => {
            assert_eq!(
                t.calc_checksum_ipv4(s.octets(), d.octets()).unwrap(),
                t.checksum(),
                "TCP/IPv4 checksum"
            );
        }
        (Some(TransportSlice::Tcp(t)), IpAddr::V6(s), IpAddr::V6(d)) => {
            assert_eq!(
                t.calc_checksum_ipv6(s.octets(), d.octets()).unwrap(),
                t.checksum(),
                "TCP/IPv6 checksum"
            );
        }
        (Some(TransportSlice::Udp(u)), IpAddr::V4(s), IpAddr::V4(d)) => {
            let c = u
                .to_header()
                .calc_checksum_ipv4_raw(s.octets(), d.octets(), u.payload())
                .unwrap();
            assert_eq!(c, u.checksum(), "UDP/IPv4 checksum");
        }
        (Some(TransportSlice::Udp(u)), IpAddr::V6(s), IpAddr::V6(d)) => {
            let c = u
                .to_header()
                .calc_checksum_ipv6_raw(s.octets(), d.octets(), u.payload())
                .unwrap();
            assert_eq!(c, u.checksum(), "UDP/IPv6 checksum");
        }
        _ => return false,
    }
    true
}

/// A byte stream rebuilt from TCP segments by sequence number.
#[derive(Default)]
struct Stream {
    base: Option<u32>,
    bytes: BTreeMap<u64, u8>,
}

impl Stream {
    fn add(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        let data_seq = seq.wrapping_add(u32::from(syn));
        let base = *self.base.get_or_insert(data_seq);
        let off = u64::from(data_seq.wrapping_sub(base));
        for (i, b) in payload.iter().enumerate() {
            let prev = self.bytes.insert(off + i as u64, *b);
            assert!(
                prev.is_none() || prev == Some(*b),
                "retransmission with different bytes"
            );
        }
    }

    fn contiguous(&self) -> Vec<u8> {
        self.bytes
            .iter()
            .enumerate()
            .take_while(|(i, (&k, _))| k == *i as u64)
            .map(|(_, (_, &b))| b)
            .collect()
    }
}

#[derive(Default)]
struct Seen {
    client_packets: u64,
    client_bytes: u64,
    server_packets: u64,
    server_bytes: u64,
    udp_out: u64,
    udp_in: u64,
    /// Each datagram's payload, with its direction (client to server).
    datagrams: Vec<(bool, Vec<u8>)>,
    out: Stream,
    inn: Stream,
}

/// Scenarios whose frames this file's plain decoder cannot open (tunnels
/// and shims, fragments to reassemble): they are read, and the records
/// checked field by field
/// against the same expectations, by the sensor's scenario test
/// (`tests/scenarios.rs`).
fn plain(s: &Scenario) -> bool {
    !matches!(
        s.name,
        "encapsulations"
            | "link-shims"
            | "link-80211"
            | "link-radiotap"
            | "link-nflog"
            | "ip-fragments"
            | "icmp"
    )
}

/// Attributes every packet of a scenario to its expected flows; returns
/// the per-flow observations and the number of packets of no flow.
fn observe(s: &Scenario) -> (Vec<Seen>, u64) {
    let (linktype, _, recs) = walk(&s.pcap);
    assert_eq!(linktype, s.linktype, "{}: linktype", s.name);
    let mut seen: Vec<Seen> = s.flows.iter().map(|_| Seen::default()).collect();
    let mut extra = 0;
    for r in &recs {
        let Some(ip) = ip_of(linktype, r.data) else {
            extra += 1;
            continue;
        };
        let Some(p) = parse_lax(ip) else {
            extra += 1;
            continue;
        };
        let hit = s.flows.iter().enumerate().find_map(|(i, f)| {
            if p.src == f.client && p.dst == f.server {
                Some((i, true))
            } else if p.src == f.server && p.dst == f.client {
                Some((i, false))
            } else {
                None
            }
        });
        let Some((i, out)) = hit else {
            extra += 1;
            continue;
        };
        let o = &mut seen[i];
        // The tunnels' own datagrams are sent without a UDP checksum
        // (allowed over IPv4), which the strict parser rejects.
        if r.caplen == r.orig && plain(s) {
            assert!(
                checksums_ok(ip),
                "{}: flow packet rejected by etherparse",
                s.name
            );
        }
        match (out, p.tcp) {
            (true, Some((seq, syn))) => o.out.add(seq, syn, p.payload),
            (false, Some((seq, syn))) => o.inn.add(seq, syn, p.payload),
            (true, None) => o.udp_out += p.payload.len() as u64,
            (false, None) => o.udp_in += p.payload.len() as u64,
        }
        if p.tcp.is_none() {
            o.datagrams.push((out, p.payload.to_vec()));
        }
        if out {
            o.client_packets += 1;
            o.client_bytes += r.orig as u64;
        } else {
            o.server_packets += 1;
            o.server_bytes += r.orig as u64;
        }
    }
    (seen, extra)
}

/// Packets of each scenario that belong to no expected flow.
fn extra_packets(name: &str) -> u64 {
    match name {
        "bad-ip" => 9,
        "ipv4-fragments" => 5,
        _ => 0,
    }
}

#[test]
fn scenarios_are_deterministic() {
    let a = scenarios();
    let b = scenarios();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name);
        assert!(x.pcap == y.pcap, "{} differs between runs", x.name);
        assert_eq!(x.flows, y.flows);
    }
}

#[test]
fn scenario_names_are_unique_and_complete() {
    let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
    for want in [
        "http-keepalive",
        "http-pipelined",
        "http-chunked",
        "http-special",
        "tcp-retransmit",
        "tcp-out-of-order",
        "tcp-gap",
        "tls-split",
        "ipv6-vlan",
        "link-sll",
        "link-sll2",
        "link-raw",
        "link-null",
        "udp-dns",
        "ipv4-fragments",
        "midstream",
        "snaplen",
        "bad-ip",
    ] {
        assert_eq!(names.iter().filter(|n| **n == want).count(), 1, "{want}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
}

#[test]
fn packet_and_byte_counts_match_the_files() {
    for s in scenarios().into_iter().filter(plain) {
        let (_, _, recs) = walk(&s.pcap);
        let expected_packets: u64 = s
            .flows
            .iter()
            .map(|f| f.client_packets + f.server_packets)
            .sum();
        assert_eq!(
            recs.len() as u64,
            expected_packets + extra_packets(s.name),
            "{}: packets in file",
            s.name
        );
        let (seen, extra) = observe(&s);
        assert_eq!(
            extra,
            extra_packets(s.name),
            "{}: packets of no flow",
            s.name
        );
        for (f, o) in s.flows.iter().zip(&seen) {
            let ctx = format!("{} {} -> {}", s.name, f.client, f.server);
            assert_eq!(o.client_packets, f.client_packets, "{ctx}: client packets");
            assert_eq!(o.client_bytes, f.client_bytes, "{ctx}: client bytes");
            assert_eq!(o.server_packets, f.server_packets, "{ctx}: server packets");
            assert_eq!(o.server_bytes, f.server_bytes, "{ctx}: server bytes");
            if f.transport == "udp" {
                assert_eq!(
                    (o.udp_out, o.udp_in),
                    (f.payload_out, f.payload_in),
                    "{ctx}: payload"
                );
            } else {
                let out = o.out.bytes.len() as u64;
                let inn = o.inn.bytes.len() as u64;
                assert_eq!(
                    (out, inn),
                    (f.payload_out, f.payload_in),
                    "{ctx}: unique payload"
                );
            }
        }
    }
}

#[test]
fn http_expectations_match_the_streams() {
    // Messages that break the grammar (HTTP/0.9, bytes a reader skips)
    // are checked field by field against the sensor's records instead.
    let lenient = |s: &Scenario| !matches!(s.name, "http-malformed" | "http-lenient");
    for s in scenarios().into_iter().filter(plain).filter(lenient) {
        let (seen, _) = observe(&s);
        for (f, o) in s.flows.iter().zip(&seen) {
            // A response read without its request (http-bad-request): the
            // client's bytes are no transaction, so the sums below do not
            // hold; its figures are checked against the record instead.
            if f.http.is_empty() || f.http.iter().any(|h| h.method.is_none()) {
                continue;
            }
            let ctx = format!("{} {} -> {}", s.name, f.client, f.server);
            let req_total: u64 = f.http.iter().map(|h| h.request_bytes).sum();
            let resp_total: u64 = f.http.iter().map(|h| h.response_bytes).sum();
            // After a 101 the stream is another protocol: HTTP accounts for
            // a strict prefix of each direction, the rest is payload only.
            let switched = f.http.last().and_then(|h| h.status) == Some(101);
            if switched {
                assert!(
                    req_total < f.payload_out && resp_total < f.payload_in,
                    "{ctx}"
                );
            } else {
                assert_eq!(
                    f.payload_out + f.payload_in + f.missed_bytes,
                    req_total + resp_total,
                    "{ctx}"
                );
            }
            let out = o.out.contiguous();
            let inn = o.inn.contiguous();
            let (mut qo, mut ro) = (0usize, 0usize);
            for h in &f.http {
                let start = format!(
                    "{} {} HTTP/1.",
                    h.method.as_ref().unwrap(),
                    h.uri.as_ref().unwrap()
                );
                assert!(
                    out[qo..].starts_with(start.as_bytes()),
                    "{ctx}: request at {qo}"
                );
                qo += h.request_bytes as usize;
                if ro < inn.len() {
                    assert!(inn[ro..].starts_with(b"HTTP/1."), "{ctx}: response at {ro}");
                }
                ro += h.response_bytes as usize;
                assert!(
                    h.response_body_bytes <= h.response_bytes
                        && h.request_body_bytes <= h.request_bytes
                );
            }
            if switched {
                continue;
            }
            assert_eq!(qo, out.len(), "{ctx}: request bytes");
            if f.missed_bytes == 0 {
                assert_eq!(ro, inn.len(), "{ctx}: response bytes");
            }
        }
    }
}

/// Sums application_data payloads of the records in a stream that starts
/// at a record boundary; returns (sum, first record).
fn walk_records(stream: &[u8]) -> (u64, Option<&[u8]>) {
    let mut off = 0;
    let mut sum = 0;
    let mut first = None;
    while off + 5 <= stream.len() {
        let len = u16::from_be_bytes([stream[off + 3], stream[off + 4]]) as usize;
        assert!(
            matches!(stream[off], 20..=23),
            "bad record type {}",
            stream[off]
        );
        if stream[off] == 23 {
            sum += len as u64;
        }
        first.get_or_insert(&stream[off..off + 5 + len]);
        off += 5 + len;
    }
    assert_eq!(off, stream.len(), "stream ends inside a record");
    (sum, first)
}

/// Application-data bytes each way in DTLS datagrams: bodies of records
/// of type 23 (13-byte headers), and of RFC 9147's unified-header records
/// (a length when bit 0x04 is set, else to the datagram's end). Other
/// datagrams (STUN, SRTP) hold none.
fn dtls_app_bytes(datagrams: &[(bool, Vec<u8>)]) -> (u64, u64) {
    let mut sums = (0, 0);
    for (out, d) in datagrams {
        let mut off = 0;
        let mut app = 0;
        while off < d.len() && (20..=63).contains(&d[0]) {
            let first = d[off];
            let (body, next) = if first >= 0x20 {
                let at = off + 1 + if first & 0x08 != 0 { 2 } else { 1 };
                if first & 0x04 != 0 {
                    let len = u16::from_be_bytes([d[at], d[at + 1]]) as usize;
                    (len, at + 2 + len)
                } else {
                    (d.len() - at, d.len())
                }
            } else {
                let len = u16::from_be_bytes([d[off + 11], d[off + 12]]) as usize;
                (if first == 23 { len } else { 0 }, off + 13 + len)
            };
            app += body as u64;
            off = next;
        }
        if *out {
            sums.0 += app;
        } else {
            sums.1 += app;
        }
    }
    sums
}

fn tls_version_name(v: u16) -> String {
    if v >> 8 == 0x7f {
        return format!("TLS 1.3 draft {}", v & 0xff);
    }
    format!("TLS 1.{}", v - 0x0301)
}

#[test]
fn tls_expectations_match_the_streams() {
    use tls_parser::{
        parse_tls_client_hello_extensions, parse_tls_plaintext, parse_tls_server_hello_extensions,
        TlsExtension, TlsMessage, TlsMessageHandshake,
    };
    let mut checked = 0;
    for s in scenarios().into_iter().filter(plain) {
        let (seen, _) = observe(&s);
        for (f, o) in s.flows.iter().zip(&seen) {
            let Some(t) = &f.tls else { continue };
            if f.transport == "udp" && s.name == "dtls" {
                assert_eq!(
                    dtls_app_bytes(&o.datagrams),
                    (t.app_bytes_out, t.app_bytes_in)
                );
                continue;
            }
            if f.transport == "udp" {
                // QUIC: every datagram's bytes are application bytes.
                assert_eq!(
                    (t.app_bytes_out, t.app_bytes_in),
                    (f.payload_out, f.payload_in),
                    "{}",
                    s.name
                );
                continue;
            }
            let out = o.out.contiguous();
            let inn = o.inn.contiguous();
            let (app_out, first_out) = walk_records(&out);
            let (app_in, first_in) = walk_records(&inn);
            assert_eq!(
                (app_out, app_in),
                (t.app_bytes_out, t.app_bytes_in),
                "{}",
                s.name
            );
            if t.sni.is_none() {
                continue;
            }
            let (_, rec) = parse_tls_plaintext(first_out.unwrap()).unwrap();
            let TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)) = &rec.msg[0] else {
                panic!("no ClientHello")
            };
            let (_, exts) = parse_tls_client_hello_extensions(ch.ext.unwrap()).unwrap();
            let mut versions = Vec::new();
            for e in &exts {
                match e {
                    TlsExtension::SNI(v) => {
                        assert_eq!(std::str::from_utf8(v[0].1).ok(), t.sni.as_deref());
                    }
                    TlsExtension::ALPN(v) => {
                        let got: Vec<String> = v
                            .iter()
                            .map(|p| String::from_utf8(p.to_vec()).unwrap())
                            .collect();
                        assert_eq!(got, t.alpn);
                    }
                    TlsExtension::SupportedVersions(v) => {
                        versions = v
                            .iter()
                            .map(|x| x.0)
                            .filter(|x| x & 0x0f0f != 0x0a0a)
                            .map(tls_version_name)
                            .collect();
                    }
                    _ => {}
                }
            }
            if versions.is_empty() {
                versions.push(tls_version_name(ch.version.0));
            }
            assert_eq!(versions, t.client_versions);

            let hello = first_in.unwrap();
            if hello[9] == 0x7f {
                // A draft's ServerHello (the parser reads draft 18's
                // only): the version in the hello, as the record says.
                let draft = u16::from_be_bytes([hello[9], hello[10]]);
                assert_eq!((hello[5], hello.len()), (2, 5 + 4 + 2 + 32 + 2 + 2 + 40));
                assert_eq!(Some(tls_version_name(draft)), t.version);
                checked += 1;
                continue;
            }
            let (_, rec) = parse_tls_plaintext(hello).unwrap();
            let TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)) = &rec.msg[0] else {
                panic!("no ServerHello")
            };
            let mut version = tls_version_name(sh.version.0);
            let (_, exts) = parse_tls_server_hello_extensions(sh.ext.unwrap()).unwrap();
            for e in &exts {
                if let TlsExtension::SupportedVersions(v) = e {
                    version = tls_version_name(v[0].0);
                }
            }
            assert_eq!(Some(version), t.version);
            checked += 1;
        }
    }
    assert_eq!(checked, 5);
}

#[test]
fn fragments_and_snaplen_are_as_described() {
    let all = scenarios();
    let frag = all.iter().find(|s| s.name == "ipv4-fragments").unwrap();
    let (_, _, recs) = walk(&frag.pcap);
    let sizes: Vec<usize> = recs[..5].iter().map(|r| r.orig - 14 - 20).collect();
    assert_eq!(sizes, vec![1480, 1480, 40, 600, 620]);

    let snap = all.iter().find(|s| s.name == "snaplen").unwrap();
    let (_, snaplen, recs) = walk(&snap.pcap);
    assert_eq!(snaplen, 96);
    assert!(recs.iter().all(|r| r.caplen <= 96));
    assert!(recs.iter().any(|r| r.orig > 96 && r.caplen == 96));
}

#[test]
fn expected_flows_serialize() {
    for s in scenarios() {
        let json = serde_json::to_string_pretty(&s.flows).unwrap();
        assert!(json.contains("\"transport\""), "{}", s.name);
        let _ = serde_json::to_string(&s).unwrap();
    }
}

fn packets_of(e: &ExpectedFlow) -> u64 {
    e.client_packets + e.server_packets
}

#[test]
fn every_flow_has_packets() {
    for s in scenarios() {
        assert!(!s.flows.is_empty(), "{}", s.name);
        for f in &s.flows {
            assert!(packets_of(f) > 0, "{}", s.name);
        }
    }
}

#[test]
fn bench_is_deterministic_valid_and_mixed() {
    let mut a = Vec::new();
    let sa = write_bench(&mut a, 3 << 20, 42);
    let mut b = Vec::new();
    let sb = write_bench(&mut b, 3 << 20, 42);
    assert_eq!(sa, sb);
    assert!(a == b, "bench output differs between runs");
    assert!(a.len() as u64 >= 3 << 20 && (a.len() as u64) < (3 << 20) + (64 << 10));
    let (linktype, _, recs) = walk(&a);
    assert_eq!(linktype, 1);
    assert_eq!(recs.len() as u64, sa.packets);
    assert_eq!(recs.iter().map(|r| r.caplen as u64).sum::<u64>(), sa.bytes);
    let (mut v6, mut vlan, mut udp) = (0, 0, 0);
    let mut flows = std::collections::BTreeSet::new();
    for r in &recs {
        let ip = ip_of(1, r.data).expect("IP frame");
        assert!(checksums_ok(ip), "bench packet rejected by etherparse");
        if ip[0] >> 4 == 6 {
            v6 += 1;
        }
        if r.data[12..14] == [0x81, 0x00] {
            vlan += 1;
        }
        let p = parse_lax(ip).unwrap();
        if p.tcp.is_none() {
            udp += 1;
        }
        flows.insert((p.src.min(p.dst), p.src.max(p.dst)));
    }
    let n = recs.len();
    assert!(v6 * 100 > n && v6 * 100 < n * 30, "IPv6 share {v6}/{n}");
    assert!(
        vlan * 100 > n && vlan * 100 < n * 30,
        "VLAN share {vlan}/{n}"
    );
    assert!(udp > 0);
    assert!(flows.len() > 96, "only {} flows", flows.len());
    // A different seed gives different traffic.
    let mut c = Vec::new();
    write_bench(&mut c, 1 << 20, 43);
    assert!(c[..1 << 20] != a[..1 << 20]);
}
