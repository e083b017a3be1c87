//! The encapsulations scenario: one HTTP exchange in each tunnel and link
//! shim a TAP port, a cloud mirror or a remote SPAN session delivers.
//!
//! Each exchange is first written as plain Ethernet frames, then every
//! frame is wrapped. Tunnel ends are 192.0.2.1 (the client's side) and
//! 192.0.2.2 (the server's side); a frame from the client leaves from
//! 192.0.2.1. A tunnelled flow counts the frame its tunnel carried (the
//! inner Ethernet frame, or the inner IP packet); a link shim (MPLS, PPPoE,
//! LLC/SNAP) is part of the frame and counts with it.

use crate::conn::TcpConn;
use crate::expected::{ExpectedFlow, ExpectedTunnel, Scenario};
use crate::pcap::{records, Capture};
use crate::scenarios::rewritten_http;
use crate::wire::{push_ipv4_header, Link, CLIENT_MAC, GATEWAY_MAC, LINKTYPE_ETHERNET};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const NEAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// The VXLAN ends inside the GRE tunnel (hypervisors whose uplink an
/// ERSPAN-style session mirrors).
const VTEP_NEAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 21);
const VTEP_FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 22);
/// The tenant overlay's VXLAN ends inside the provider's VXLAN.
const OVERLAY_NEAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 31);
const OVERLAY_FAR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 32);

/// How a frame is carried.
#[derive(Debug, Clone, Copy)]
enum Wrap {
    Vxlan(u32),
    Geneve(u32),
    GreIp(u32),
    ErspanII(u16),
    ErspanIII(u16),
    IpInIp,
    Teredo,
    /// Teredo between a qualified client and a relay, on neither's 3544.
    TeredoRelay,
    /// AYIYA (UDP 5072): IPv6 behind a 16-byte identity and a 20-byte
    /// signature.
    Ayiya,
    /// GRE in UDP (4754), with a key, IPv4 inside.
    GreInUdp(u32),
    GtpU(u32),
    Mpls,
    Pppoe,
    LlcSnap,
    /// A Network Service Header (MD type 1) before the IP packet.
    Nsh,
    /// VXLAN inside GRE (key): two tunnels.
    VxlanInGre(u32, u32),
    /// VXLAN inside VXLAN (outer VNI, inner VNI): a tenant overlay on a
    /// provider's, both UDP tunnels with datagrams of their own.
    VxlanInVxlan(u32, u32),
}

impl Wrap {
    /// The record's `tunnel` for a flow whose first frame came from the
    /// client.
    fn tunnel(self) -> Option<ExpectedTunnel> {
        let t = |kind, id, depth| {
            Some(ExpectedTunnel {
                kind,
                id,
                src_ip: IpAddr::V4(NEAR),
                dest_ip: IpAddr::V4(FAR),
                depth,
            })
        };
        match self {
            Wrap::Vxlan(v) => t("vxlan", Some(v), 1),
            Wrap::Geneve(v) => t("geneve", Some(v), 1),
            Wrap::GreIp(k) => t("gre", Some(k), 1),
            Wrap::ErspanII(s) | Wrap::ErspanIII(s) => t("erspan", Some(u32::from(s)), 1),
            Wrap::IpInIp => t("ipip", None, 1),
            Wrap::Teredo | Wrap::TeredoRelay => t("teredo", None, 1),
            Wrap::Ayiya => t("ayiya", None, 1),
            Wrap::GreInUdp(k) => t("gre", Some(k), 1),
            Wrap::GtpU(teid) => t("gtpu", Some(teid), 1),
            Wrap::VxlanInGre(k, _) => t("gre", Some(k), 2),
            Wrap::VxlanInVxlan(v, _) => t("vxlan", Some(v), 2),
            Wrap::Mpls | Wrap::Pppoe | Wrap::LlcSnap | Wrap::Nsh => None,
        }
    }

    /// Whether the tunnel carries the IP packet, not the Ethernet frame.
    fn carries_ip(self) -> bool {
        matches!(
            self,
            Wrap::GreIp(_)
                | Wrap::IpInIp
                | Wrap::Teredo
                | Wrap::TeredoRelay
                | Wrap::Ayiya
                | Wrap::GreInUdp(_)
                | Wrap::GtpU(_)
        )
    }
}

/// Outer Ethernet + IPv4 around `inner`, with protocol `proto`.
fn outer_ip(to_server: bool, proto: u8, inner: &[u8]) -> Vec<u8> {
    let (src, dst) = if to_server { (NEAR, FAR) } else { (FAR, NEAR) };
    let mut f = Vec::with_capacity(inner.len() + 34);
    f.extend_from_slice(&GATEWAY_MAC);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    push_ipv4_header(&mut f, src, dst, proto, inner.len(), 64, 7, 0x4000);
    f.extend_from_slice(inner);
    f
}

/// A UDP header (checksum 0, allowed over IPv4) and `payload`.
fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(payload.len() + 8);
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((payload.len() + 8) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn vxlan(vni: u32, eth: &[u8]) -> Vec<u8> {
    let mut h = vec![0x08, 0, 0, 0];
    h.extend_from_slice(&vni.to_be_bytes()[1..]);
    h.push(0);
    h.extend_from_slice(eth);
    udp(49_152, 4789, &h)
}

fn gre(flags: u16, proto: u16, extra: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut g = Vec::with_capacity(payload.len() + 16);
    g.extend_from_slice(&flags.to_be_bytes());
    g.extend_from_slice(&proto.to_be_bytes());
    g.extend_from_slice(extra);
    g.extend_from_slice(payload);
    g
}

/// `eth` with its EtherType replaced by a shim and what follows it.
fn shimmed(eth: &[u8], ethertype_or_len: u16, shim: &[u8]) -> Vec<u8> {
    let mut f = eth[..12].to_vec();
    f.extend_from_slice(&ethertype_or_len.to_be_bytes());
    f.extend_from_slice(shim);
    f.extend_from_slice(&eth[14..]);
    f
}

/// One frame, wrapped.
fn wrap(w: Wrap, eth: &[u8], seq: u32) -> Vec<u8> {
    let to_server = eth[6..12] == CLIENT_MAC;
    let ip = &eth[14..];
    match w {
        Wrap::Vxlan(vni) => outer_ip(to_server, 17, &vxlan(vni, eth)),
        Wrap::Geneve(vni) => {
            // Version 0, one 8-byte option (2 words), Ethernet inside.
            let mut h = vec![0x02, 0x00, 0x65, 0x58];
            h.extend_from_slice(&vni.to_be_bytes()[1..]);
            h.push(0);
            h.extend_from_slice(&[0x01, 0x02, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef]);
            h.extend_from_slice(eth);
            outer_ip(to_server, 17, &udp(49_153, 6081, &h))
        }
        Wrap::GreIp(key) => outer_ip(to_server, 47, &gre(0x2000, 0x0800, &key.to_be_bytes(), ip)),
        Wrap::ErspanII(session) => {
            let mut x = seq.to_be_bytes().to_vec();
            x.extend_from_slice(&[0x10, 0x00]);
            x.extend_from_slice(&(session & 0x03ff).to_be_bytes());
            x.extend_from_slice(&[0, 0, 0, 0]);
            outer_ip(to_server, 47, &gre(0x1000, 0x88be, &x, eth))
        }
        Wrap::ErspanIII(session) => {
            let mut x = seq.to_be_bytes().to_vec();
            x.extend_from_slice(&[0x20, 0x00]);
            x.extend_from_slice(&(session & 0x03ff).to_be_bytes());
            x.extend_from_slice(&seq.wrapping_mul(1000).to_be_bytes()); // timestamp
                                                                        // SGT, then P/FT/hardware id, then D/Gra/O: a platform
                                                                        // subheader (8 bytes) follows.
            x.extend_from_slice(&[0, 0, 0, 0x01]);
            x.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 0, 0]);
            outer_ip(to_server, 47, &gre(0x1000, 0x22eb, &x, eth))
        }
        Wrap::IpInIp => outer_ip(to_server, 4, ip),
        Wrap::Teredo => {
            // IPv6 inside; the client's side is the Teredo client.
            let (sport, dport) = if to_server {
                (50_000, 3544)
            } else {
                (3544, 50_000)
            };
            outer_ip(to_server, 17, &udp(sport, dport, ip))
        }
        Wrap::TeredoRelay => {
            let (sport, dport) = if to_server {
                (50_004, 33_000)
            } else {
                (33_000, 50_004)
            };
            outer_ip(to_server, 17, &udp(sport, dport, ip))
        }
        Wrap::Ayiya => {
            // Identity 2^4 bytes (type 1), signature 5 words (SHA-1, method
            // 2), authentication 2 and operation 1 (forward), next header
            // 41 (IPv6), an epoch.
            let mut h = vec![0x41, 0x52, 0x21, 41];
            h.extend_from_slice(&seq.to_be_bytes());
            h.extend_from_slice(&[0xa5; 16]);
            h.extend_from_slice(&[0x5a; 20]);
            h.extend_from_slice(ip);
            let (sport, dport) = if to_server {
                (50_001, 5072)
            } else {
                (5072, 50_001)
            };
            outer_ip(to_server, 17, &udp(sport, dport, &h))
        }
        Wrap::GreInUdp(key) => {
            // Each way from a port of its own to 4754 (RFC 8086).
            let sport = if to_server { 50_002 } else { 50_003 };
            let g = gre(0x2000, 0x0800, &key.to_be_bytes(), ip);
            outer_ip(to_server, 17, &udp(sport, 4754, &g))
        }
        Wrap::GtpU(teid) => {
            // Version 1, GTP, with a sequence number and one extension
            // header (PDU session container, 4 bytes).
            let ext = [0x01, 0x00, 0x09, 0x00];
            let len = (4 + ext.len() + ip.len()) as u16;
            let mut h = vec![0x34, 0xff];
            h.extend_from_slice(&len.to_be_bytes());
            h.extend_from_slice(&teid.to_be_bytes());
            h.extend_from_slice(&(seq as u16).to_be_bytes());
            h.extend_from_slice(&[0x00, 0x85]);
            h.extend_from_slice(&ext);
            h.extend_from_slice(ip);
            outer_ip(to_server, 17, &udp(2152, 2152, &h))
        }
        // Two labels, the second at the bottom of the stack.
        Wrap::Mpls => shimmed(
            eth,
            0x8847,
            &[0x00, 0x01, 0x40, 0x40, 0x00, 0x02, 0x01, 0x40],
        ),
        Wrap::Pppoe => {
            let mut s = vec![0x11, 0x00, 0x00, 0x2a];
            s.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
            s.extend_from_slice(&0x0021u16.to_be_bytes());
            shimmed(eth, 0x8864, &s)
        }
        Wrap::LlcSnap => shimmed(
            eth,
            (ip.len() + 8) as u16,
            &[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00],
        ),
        Wrap::Nsh => {
            // Version 0, TTL 63, 6 words, MD type 1, next protocol IPv4;
            // service path 42 at index 255; 16 bytes of fixed context.
            let mut s = vec![0x0f, 0xc6, 0x01, 0x01, 0x00, 0x00, 0x2a, 0xff];
            s.extend_from_slice(&[0; 16]);
            shimmed(eth, 0x894f, &s)
        }
        Wrap::VxlanInGre(key, vni) => {
            let (src, dst) = if to_server {
                (VTEP_NEAR, VTEP_FAR)
            } else {
                (VTEP_FAR, VTEP_NEAR)
            };
            let mut inner = Vec::new();
            push_ipv4_header(&mut inner, src, dst, 17, eth.len() + 16, 64, 8, 0x4000);
            inner.extend_from_slice(&vxlan(vni, eth));
            outer_ip(
                to_server,
                47,
                &gre(0x2000, 0x0800, &key.to_be_bytes(), &inner),
            )
        }
        Wrap::VxlanInVxlan(outer_vni, inner_vni) => {
            let (src, dst) = if to_server {
                (OVERLAY_NEAR, OVERLAY_FAR)
            } else {
                (OVERLAY_FAR, OVERLAY_NEAR)
            };
            // The inner VTEPs' own Ethernet frame: the inner frame's MACs.
            let mut inner = eth[..12].to_vec();
            inner.extend_from_slice(&0x0800u16.to_be_bytes());
            push_ipv4_header(&mut inner, src, dst, 17, eth.len() + 16, 64, 8, 0x4000);
            inner.extend_from_slice(&vxlan(inner_vni, eth));
            outer_ip(to_server, 17, &vxlan(outer_vni, &inner))
        }
    }
}

/// The IPv4 address at byte `at` of a frame this module wrote.
fn ipv4_at(frame: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        frame[at],
        frame[at + 1],
        frame[at + 2],
        frame[at + 3],
    ))
}

/// The UDP flows a tunnel's own datagrams make, as a reader counts them:
/// each frame whole, its UDP payload (the tunnel header and what it
/// carried) as payload. A flow's client is its first sender.
#[derive(Default)]
struct OuterFlows(Vec<ExpectedFlow>);

impl OuterFlows {
    /// Counts the datagrams of each UDP tunnel of a frame wrapped by `w`:
    /// in plain IPv4, inside GRE with a key, and inside a first VXLAN.
    fn add(&mut self, frame: &[u8], w: Wrap) {
        // The tunnel as the flow's first frame came in it.
        let outer = |t: ExpectedTunnel| ExpectedTunnel {
            depth: 1,
            src_ip: ipv4_at(frame, 26),
            dest_ip: ipv4_at(frame, 30),
            ..t
        };
        match (w, w.tunnel()) {
            // The outer IPv4 header (20 bytes), GRE with a key (8).
            (Wrap::VxlanInGre(..), Some(t)) => self.add_at(frame, 28, Some(outer(t))),
            // The outer IPv4 (20), UDP (8), VXLAN (8) and Ethernet (14).
            (Wrap::VxlanInVxlan(..), Some(t)) => {
                self.add_at(frame, 0, None);
                self.add_at(frame, 50, Some(outer(t)));
            }
            _ => self.add_at(frame, 0, None),
        }
    }

    /// Counts the UDP datagram in `frame` whose IPv4 header is `at` bytes
    /// past the outer one's place.
    fn add_at(&mut self, whole: &[u8], at: usize, tunnel: Option<ExpectedTunnel>) {
        // Read as if the inner header sat where a plain frame's does.
        let frame = &whole[at..];
        if frame.get(23) != Some(&17) {
            return;
        }
        let ip = |at: usize| ipv4_at(frame, at);
        let port = |at: usize| u16::from_be_bytes([frame[at], frame[at + 1]]);
        let (src, dst) = (
            SocketAddr::new(ip(26), port(34)),
            SocketAddr::new(ip(30), port(36)),
        );
        let payload = (frame.len() - 42) as u64;
        let frame = whole;
        if let Some(f) = self
            .0
            .iter_mut()
            .find(|f| f.client == dst && f.server == src)
        {
            f.server_packets += 1;
            f.server_bytes += frame.len() as u64;
            f.payload_in += payload;
            return;
        }
        if let Some(f) = self
            .0
            .iter_mut()
            .find(|f| f.client == src && f.server == dst)
        {
            f.client_packets += 1;
            f.client_bytes += frame.len() as u64;
            f.payload_out += payload;
            return;
        }
        self.0.push(ExpectedFlow {
            transport: "udp",
            client: src,
            server: dst,
            client_packets: 1,
            client_bytes: frame.len() as u64,
            server_packets: 0,
            server_bytes: 0,
            payload_out: payload,
            payload_in: 0,
            missed_bytes: 0,
            http: Vec::new(),
            tls: None,
            vlan: None,
            tunnel,
            icmp: None,
            icmp_errors: None,
        });
    }
}

/// One HTTP GET from `client`, every frame wrapped by `w`, into `cap`;
/// the UDP flows of the tunnel's own datagrams go to `outer`.
fn exchange(
    cap: &mut Capture,
    w: Wrap,
    (client, server, name): (&str, &str, &str),
    outer: &mut OuterFlows,
) -> ExpectedFlow {
    let uri = format!("/{name}");
    let get = (client, server, "tunnel.example.com", uri.as_str(), 700);
    let mut want = rewritten_http(cap, get, |eth, _, seq| {
        let frame = wrap(w, eth, seq);
        let counted = match w {
            Wrap::Mpls | Wrap::Pppoe | Wrap::LlcSnap | Wrap::Nsh => frame.len(),
            _ if w.carries_ip() => eth.len() - 14,
            _ => eth.len(),
        };
        outer.add(&frame, w);
        (frame, counted)
    });
    want.tunnel = w.tunnel();
    want
}

/// A handshake inside four IP-in-IP tunnels: deeper than the default depth of
/// three, so counted (`tunnel_too_deep`), not read.
fn too_deep(cap: &mut Capture) {
    let mut plain = Capture::new(LINKTYPE_ETHERNET);
    let sa = |s: &str| -> SocketAddr { s.parse().expect("socket address literal") };
    let mut conn = TcpConn::new(Link::Ethernet, sa("10.0.9.99:40999"), sa("203.0.113.99:80"));
    conn.handshake(&mut plain);
    for r in records(&plain.into_bytes()) {
        let mut ip = r.data[14..].to_vec();
        for _ in 0..3 {
            let mut outer = Vec::new();
            push_ipv4_header(&mut outer, NEAR, FAR, 4, ip.len(), 64, 9, 0x4000);
            outer.extend_from_slice(&ip);
            ip = outer;
        }
        cap.emit(&outer_ip(true, 4, &ip));
    }
}

/// Every encapsulation, one HTTP exchange each.
pub fn encapsulations() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let cases: [(Wrap, &str, &str, &str); 17] = [
        (
            Wrap::Vxlan(5001),
            "10.0.9.1:41001",
            "203.0.113.91:80",
            "vxlan",
        ),
        (
            Wrap::Geneve(7002),
            "10.0.9.2:41002",
            "203.0.113.92:80",
            "geneve",
        ),
        (
            Wrap::GreIp(0x0a0b_0c0d),
            "10.0.9.3:41003",
            "203.0.113.93:80",
            "gre",
        ),
        (
            Wrap::ErspanII(101),
            "10.0.9.4:41004",
            "203.0.113.94:80",
            "erspan2",
        ),
        (
            Wrap::ErspanIII(202),
            "10.0.9.5:41005",
            "203.0.113.95:80",
            "erspan3",
        ),
        (Wrap::IpInIp, "10.0.9.6:41006", "203.0.113.96:80", "ipip"),
        (
            Wrap::Teredo,
            "[2001:0:4136:e378::9]:41007",
            "[2001:db8::97]:80",
            "teredo",
        ),
        (
            Wrap::TeredoRelay,
            "[2001:0:4136:e378::15]:41015",
            "[2001:db8::a5]:80",
            "teredo-relay",
        ),
        (
            Wrap::Ayiya,
            "[2001:db8:5072::16]:41016",
            "[2001:db8::a6]:80",
            "ayiya",
        ),
        (
            Wrap::GreInUdp(0x4754),
            "10.0.9.17:41017",
            "203.0.113.107:80",
            "gre-in-udp",
        ),
        (
            Wrap::GtpU(0x1234_5678),
            "10.0.9.8:41008",
            "203.0.113.98:80",
            "gtpu",
        ),
        (Wrap::Mpls, "10.0.9.9:41009", "203.0.113.99:80", "mpls"),
        (Wrap::Pppoe, "10.0.9.10:41010", "203.0.113.100:80", "pppoe"),
        (
            Wrap::LlcSnap,
            "10.0.9.11:41011",
            "203.0.113.101:80",
            "llc-snap",
        ),
        (Wrap::Nsh, "10.0.9.13:41013", "203.0.113.103:80", "nsh"),
        (
            Wrap::VxlanInGre(77, 5012),
            "10.0.9.12:41012",
            "203.0.113.102:80",
            "vxlan-in-gre",
        ),
        (
            Wrap::VxlanInVxlan(6001, 6014),
            "10.0.9.14:41014",
            "203.0.113.104:80",
            "vxlan-in-vxlan",
        ),
    ];
    let mut outer = OuterFlows::default();
    let mut flows: Vec<ExpectedFlow> = cases
        .iter()
        .map(|&(w, client, server, name)| exchange(&mut cap, w, (client, server, name), &mut outer))
        .collect();
    flows.extend(outer.0);
    too_deep(&mut cap);
    Scenario {
        name: "encapsulations",
        linktype: LINKTYPE_ETHERNET,
        description: "One HTTP GET (200 text/html, Content-Length 700) in each encapsulation, one after another: \
                      VXLAN (UDP 4789, VNI 5001), GENEVE (UDP 6081, VNI 7002, one 8-byte option, Ethernet inside), \
                      GRE with key 0x0a0b0c0d carrying IPv4, ERSPAN type II (session 101) and type III (session 202, \
                      with the 8-byte platform subheader) over GRE with sequence numbers, IPv4 in IPv4, Teredo (IPv6 \
                      in UDP 3544; and between a qualified client and a relay, on ports 50004 and 33000, read \
                      from the datagram alone), AYIYA (IPv6 in UDP 5072, a 16-byte identity and a 20-byte \
                      signature), GRE with key 0x4754 in UDP 4754 (RFC 8086, each way from a port of its own), GTP-U (TEID 0x12345678, a sequence number and one PDU session container \
                      extension), an MPLS stack of two labels, a PPPoE session (id 42), 802.3 LLC/SNAP, a Network Service \
                      Header (MD type 1, service path 42), VXLAN \
                      (VNI 5012) inside GRE (key 77), and VXLAN (VNI 6014) inside VXLAN (VNI 6001). Tunnel ends \
                      192.0.2.1 (client side) and 192.0.2.2. A tunnelled flow counts the frame its tunnel \
                      carried. The datagrams of every UDP tunnel (VXLAN, GENEVE and GRE in UDP one way each \
                      direction, Teredo, AYIYA, GTP-U; the VXLAN inside GRE, between 198.51.100.21 and 198.51.100.22, and the one \
                      inside VXLAN, between 198.51.100.31 and 198.51.100.32, whose records name the tunnel \
                      outside them, and that outer VXLAN's own) are \
                      also UDP flows of their own, their frames counted whole. Last, a handshake 10.0.9.99:40999 -> \
                      203.0.113.99:80 inside four IPv4-in-IPv4 tunnels: deeper than three, counted \
                      (tunnel_too_deep), no flow.",
        pcap: cap.into_bytes(),
        flows,
    }
}
