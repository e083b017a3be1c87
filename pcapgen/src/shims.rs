//! The link-shims scenario: the PPP and tag framings the encapsulations
//! scenario leaves out, and the frames a SPAN port carries that are no
//! flow at all.
//!
//! One HTTP exchange in each of: a PPPoE session whose PPP protocol number
//! is compressed to one byte, Cisco's VN-Tag, IEEE 802.1BR's E-Tag, Cisco
//! FabricPath, GRE carrying PPP, PPTP's enhanced GRE, 802.1ah provider
//! backbone bridging, Aruba's GRE carrying 802.11, Cisco MetaData, and
//! GRE carrying Cisco MetaData. Then
//! frames of link-layer control (spanning tree, IS-IS, CDP, LLDP, LACP,
//! PPPoE discovery, PPP's LCP, a PPTP acknowledgement, a GRE keepalive,
//! NHRP) and IP packets of protocols without
//! flows (IGMP, OSPF, ESP), which a reader counts as what they are.

use crate::expected::{ExpectedFlow, ExpectedTunnel, Scenario};
use crate::pcap::Capture;
use crate::scenarios::rewritten_http;
use crate::wire::{push_ipv4_header, CLIENT_MAC, GATEWAY_MAC, LINKTYPE_ETHERNET};
use std::net::{IpAddr, Ipv4Addr};

const NEAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FAR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// PPTP's call id of the enhanced GRE exchange.
const PPTP_CALL: u16 = 0x4d2;
/// Frames of link-layer control the scenario writes.
pub const LINK_CONTROL_FRAMES: u64 = 10;
/// IP packets of protocols without flows the scenario writes.
pub const OTHER_IP_PACKETS: u64 = 3;

/// How a plain Ethernet frame is rewritten.
#[derive(Debug, Clone, Copy)]
enum Shim {
    /// PPPoE session 7, the PPP protocol number in one byte (0x21).
    PppoeCompressed,
    /// VN-Tag (0x8926) and its 4 bytes before the EtherType.
    VnTag,
    /// E-Tag (0x893f) and its 6 bytes before the EtherType.
    ETag,
    /// FabricPath: outer addresses, 0x8903 and a 2-byte tag, then the frame.
    FabricPath,
    /// GRE version 0 carrying PPP (0x880b): FF 03, protocol 0x0021.
    GrePpp,
    /// PPTP's enhanced GRE (version 1, call id, sequence and
    /// acknowledgement numbers), PPP with compressed address, control and
    /// protocol fields (the protocol alone, 0x21).
    Pptp,
    /// 802.1ah provider backbone bridging: 0x88e7, a 4-byte I-TAG, then
    /// the customer frame.
    Pbb,
    /// Aruba's GRE (protocol 0x8200) carrying an access point's 802.11
    /// data frame.
    ArubaGre,
    /// Cisco MetaData (0x8909): a TrustSec security group tag before the
    /// EtherType.
    CiscoMetadata,
    /// GRE whose protocol is Cisco MetaData (0x8909): the tag, then the
    /// carried packet's EtherType (IPv4).
    GreMetadata,
}

impl Shim {
    fn tunnel(self) -> Option<ExpectedTunnel> {
        let gre = |id| ExpectedTunnel {
            kind: "gre",
            id,
            src_ip: IpAddr::V4(NEAR),
            dest_ip: IpAddr::V4(FAR),
            depth: 1,
        };
        match self {
            Shim::GrePpp | Shim::ArubaGre | Shim::GreMetadata => Some(gre(None)),
            Shim::Pptp => Some(gre(Some(u32::from(PPTP_CALL)))),
            _ => None,
        }
    }
}

/// Outer Ethernet and IPv4 (protocol `proto`) around `inner`.
fn outer_ip(to_server: bool, proto: u8, inner: &[u8]) -> Vec<u8> {
    let (src, dst) = if to_server { (NEAR, FAR) } else { (FAR, NEAR) };
    let mut f = GATEWAY_MAC.to_vec();
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    push_ipv4_header(&mut f, src, dst, proto, inner.len(), 64, 11, 0x4000);
    f.extend_from_slice(inner);
    f
}

/// `eth` with `tag` inserted before its EtherType.
fn tagged(eth: &[u8], tag: &[u8]) -> Vec<u8> {
    let mut f = eth[..12].to_vec();
    f.extend_from_slice(tag);
    f.extend_from_slice(&eth[12..]);
    f
}

/// The frame on the wire, and the bytes of it its flow counts (the whole
/// frame for a link shim; for a tunnel, the PPP frame it carried).
fn wrap(shim: Shim, eth: &[u8], to_server: bool, seq: u32) -> (Vec<u8>, usize) {
    let ip = &eth[14..];
    let frame = match shim {
        Shim::PppoeCompressed => {
            let mut f = eth[..12].to_vec();
            f.extend_from_slice(&0x8864u16.to_be_bytes());
            f.extend_from_slice(&[0x11, 0x00, 0x00, 0x07]);
            f.extend_from_slice(&((ip.len() + 1) as u16).to_be_bytes());
            f.push(0x21);
            f.extend_from_slice(ip);
            f
        }
        Shim::VnTag => tagged(eth, &[0x89, 0x26, 0x80, 0x05, 0x00, 0x00]),
        Shim::ETag => tagged(eth, &[0x89, 0x3f, 0x10, 0x00, 0x00, 0xd3, 0x00, 0x00]),
        Shim::FabricPath => {
            let mut f = vec![0x02, 0x00, 0x00, 0x00, 0x01, 0x71];
            f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0x04, 0x0e]);
            f.extend_from_slice(&[0x89, 0x03, 0x00, 0x20]);
            f.extend_from_slice(eth);
            f
        }
        Shim::GrePpp => {
            let mut g = vec![0x00, 0x00, 0x88, 0x0b, 0xff, 0x03, 0x00, 0x21];
            g.extend_from_slice(ip);
            let f = outer_ip(to_server, 47, &g);
            return (f, ip.len() + 4);
        }
        Shim::Pptp => {
            // K, S and A set, version 1.
            let mut g = vec![0x30, 0x81, 0x88, 0x0b];
            g.extend_from_slice(&((ip.len() + 1) as u16).to_be_bytes());
            g.extend_from_slice(&PPTP_CALL.to_be_bytes());
            g.extend_from_slice(&seq.to_be_bytes());
            g.extend_from_slice(&seq.saturating_sub(1).to_be_bytes());
            g.push(0x21);
            g.extend_from_slice(ip);
            let f = outer_ip(to_server, 47, &g);
            return (f, ip.len() + 1);
        }
        // Version 1, length 1 word, option 0x0001 (the tag), tag 0x0064.
        Shim::CiscoMetadata => tagged(eth, &[0x89, 0x09, 0x01, 0x01, 0x00, 0x01, 0x00, 0x64]),
        Shim::GreMetadata => {
            let mut g = vec![0x00, 0x00, 0x89, 0x09, 0x01, 0x01, 0x00, 0x01, 0x00, 0x64];
            g.extend_from_slice(&0x0800u16.to_be_bytes());
            g.extend_from_slice(ip);
            let f = outer_ip(to_server, 47, &g);
            return (f, ip.len());
        }
        Shim::Pbb => {
            let mut f = vec![0x02, 0x00, 0x00, 0x00, 0xbb, 0x01];
            f.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, 0xbb, 0x02]);
            f.extend_from_slice(&[0x88, 0xe7, 0x00, 0x01, 0xe2, 0x40]);
            f.extend_from_slice(eth);
            f
        }
        Shim::ArubaGre => {
            // Data to or from the distribution system, three addresses,
            // LLC/SNAP.
            let flags = if to_server { 0x01 } else { 0x02 };
            let mut w = vec![0x08, flags, 0x2c, 0x00];
            w.extend_from_slice(&[0x02, 0, 0, 0, 0, 0xa9]);
            w.extend_from_slice(&eth[6..12]);
            w.extend_from_slice(&eth[..6]);
            w.extend_from_slice(&[0x10, 0x00, 0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00]);
            w.extend_from_slice(&eth[12..]);
            let counted = w.len();
            let mut g = vec![0x00, 0x00, 0x82, 0x00];
            g.extend_from_slice(&w);
            return (outer_ip(to_server, 47, &g), counted);
        }
    };
    let len = frame.len();
    (frame, len)
}

/// One HTTP GET from `client`, every frame rewritten by `shim`.
fn exchange(cap: &mut Capture, shim: Shim, client: &str, server: &str, name: &str) -> ExpectedFlow {
    let uri = format!("/{name}");
    let get = (client, server, "shim.example.com", uri.as_str(), 600);
    let mut want = rewritten_http(cap, get, |eth, to_server, seq| {
        wrap(shim, eth, to_server, seq + 1)
    });
    want.tunnel = shim.tunnel();
    want
}

/// An 802.3 frame: addresses, the length of `llc_and_data`, then it.
fn ieee8023(dst: [u8; 6], llc_and_data: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&(llc_and_data.len() as u16).to_be_bytes());
    f.extend_from_slice(llc_and_data);
    f
}

/// An Ethernet II frame of `ethertype` from the client's MAC.
fn ethernet(dst: [u8; 6], ethertype: u16, data: &[u8]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// The frames that carry no flow: link control, then IP protocols
/// without flows.
fn no_flows(cap: &mut Capture) {
    let stp_group = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x00];
    let slow_group = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x02];
    let lldp_group = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e];
    let cdp_group = [0x01, 0x00, 0x0c, 0xcc, 0xcc, 0xcc];
    let broadcast = [0xff; 6];
    // A configuration BPDU: LLC 42 42 03, then 35 bytes.
    let mut bpdu = vec![0x42, 0x42, 0x03];
    bpdu.extend_from_slice(&[0; 35]);
    // CDP: SNAP with Cisco's OUI and protocol 0x2000, version 2, TTL 180.
    let cdp = [
        0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00, 0x02, 0xb4, 0x00, 0x00,
    ];
    // LLDP: chassis id, port id and TTL TLVs, then the end.
    let lldp = [
        0x02, 0x07, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x07, 0x31, 0x06, 0x02,
        0x00, 0x78, 0x00, 0x00,
    ];
    // LACP: slow protocols subtype 1, version 1, then zeros.
    let mut lacp = vec![0x01, 0x01];
    lacp.extend_from_slice(&[0; 108]);
    // PPPoE discovery: a PADI with an empty service name tag.
    let padi = [0x11, 0x09, 0x00, 0x00, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00];
    // A PPPoE session's LCP configure-request (protocol 0xc021).
    let lcp = [
        0x11, 0x00, 0x00, 0x07, 0x00, 0x0a, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x08, 0x01, 0x04, 0x05,
        0xd4,
    ];
    // An IS-IS hello: LLC FE FE 03, then the PDU's first bytes.
    let isis = [
        0xfe, 0xfe, 0x03, 0x83, 0x1b, 0x01, 0x00, 0x0f, 0x01, 0x00, 0x00,
    ];
    let isis_group = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x14];
    for frame in [
        ieee8023(stp_group, &bpdu),
        ieee8023(isis_group, &isis),
        ieee8023(cdp_group, &cdp),
        ethernet(lldp_group, 0x88cc, &lldp),
        ethernet(slow_group, 0x8809, &lacp),
        ethernet(broadcast, 0x8863, &padi),
        ethernet(GATEWAY_MAC, 0x8864, &lcp),
    ] {
        cap.emit(&frame);
    }
    // A PPTP acknowledgement: enhanced GRE with A set and no payload.
    let mut ack = vec![0x20, 0x81, 0x88, 0x0b, 0x00, 0x00];
    ack.extend_from_slice(&PPTP_CALL.to_be_bytes());
    ack.extend_from_slice(&9u32.to_be_bytes());
    cap.emit(&outer_ip(false, 47, &ack));
    // A GRE keepalive (IPv4 inside whose GRE has protocol 0), and NHRP
    // over GRE (protocol 0x2001), a DMVPN spoke's registration.
    let mut keepalive = vec![0x00, 0x00, 0x08, 0x00];
    let mut inner = Vec::new();
    push_ipv4_header(&mut inner, FAR, NEAR, 47, 4, 255, 0, 0);
    inner.extend_from_slice(&[0x00, 0x00, 0x00, 0x00]);
    keepalive.extend_from_slice(&inner);
    cap.emit(&outer_ip(true, 47, &keepalive));
    let mut nhrp = vec![0x00, 0x00, 0x20, 0x01];
    nhrp.extend_from_slice(&[
        0x00, 0x01, 0x08, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x14, 0x01, 0x03,
    ]);
    nhrp.extend_from_slice(&[0; 6]);
    cap.emit(&outer_ip(true, 47, &nhrp));
    // IGMPv2 membership report, an OSPF hello's header, an ESP packet.
    let igmp = [0x16, 0x00, 0xfa, 0x04, 0xef, 0x01, 0x02, 0x03];
    let mut ospf = vec![0x02, 0x01, 0x00, 0x2c, 0xc0, 0x00, 0x02, 0x01];
    ospf.extend_from_slice(&[0; 36]);
    let mut esp = 0x1000_0001u32.to_be_bytes().to_vec();
    esp.extend_from_slice(&[0, 0, 0, 1]);
    esp.extend_from_slice(&[0x5a; 48]);
    for (proto, data) in [(2u8, &igmp[..]), (89, &ospf), (50, &esp)] {
        cap.emit(&outer_ip(true, proto, data));
    }
}

/// The scenario.
pub fn link_shims() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let cases = [
        (
            Shim::PppoeCompressed,
            "10.0.10.1:42001",
            "203.0.113.111:80",
            "pppoe-pfc",
        ),
        (Shim::VnTag, "10.0.10.2:42002", "203.0.113.112:80", "vntag"),
        (Shim::ETag, "10.0.10.3:42003", "203.0.113.113:80", "etag"),
        (
            Shim::FabricPath,
            "10.0.10.4:42004",
            "203.0.113.114:80",
            "fabricpath",
        ),
        (
            Shim::GrePpp,
            "10.0.10.5:42005",
            "203.0.113.115:80",
            "gre-ppp",
        ),
        (Shim::Pptp, "10.0.10.6:42006", "203.0.113.116:80", "pptp"),
        (Shim::Pbb, "10.0.10.7:42007", "203.0.113.117:80", "pbb"),
        (
            Shim::ArubaGre,
            "10.0.10.8:42008",
            "203.0.113.118:80",
            "aruba",
        ),
        (
            Shim::CiscoMetadata,
            "10.0.10.9:42009",
            "203.0.113.119:80",
            "cmd",
        ),
        (
            Shim::GreMetadata,
            "10.0.10.10:42010",
            "203.0.113.120:80",
            "gre-cmd",
        ),
    ];
    let flows = cases
        .iter()
        .map(|&(shim, client, server, name)| exchange(&mut cap, shim, client, server, name))
        .collect();
    no_flows(&mut cap);
    Scenario {
        name: "link-shims",
        linktype: LINKTYPE_ETHERNET,
        description: "One HTTP GET (200 text/html, Content-Length 600) in each framing: a PPPoE session (id 7) \
                      whose PPP protocol number is compressed to one byte, Cisco VN-Tag, IEEE 802.1BR E-Tag, \
                      Cisco FabricPath, GRE carrying PPP (0x880b), PPTP's enhanced GRE (call id 1234, \
                      sequence and acknowledgement numbers, PPP protocol compressed), 802.1ah provider backbone \
                      bridging (I-SID 123456), Aruba's GRE (0x8200) carrying 802.11 data frames, Cisco \
                      MetaData (a TrustSec tag, 0x8909) on Ethernet, and GRE carrying Cisco MetaData. GRE \
                      ends 192.0.2.1 (client side) and 192.0.2.2; a GRE flow counts the PPP or 802.11 frame \
                      or IP packet its tunnel carried. Then 10 frames of \
                      link control (a spanning-tree BPDU, an IS-IS hello, CDP, LLDP, LACP, a PPPoE PADI, a PPPoE \
                      session's LCP configure-request, a PPTP acknowledgement without payload, a GRE keepalive, \
                      NHRP over GRE) and 3 IP packets of protocols \
                      without flows (IGMP, OSPF, ESP): counted as what they are, no decode error.",
        pcap: cap.into_bytes(),
        flows,
    }
}
