//! The IP fragments scenario: exchanges whose larger packets crossed a
//! link with a small MTU, cut into IPv4 or IPv6 fragments, delivered in
//! order, in reverse or shuffled, with a duplicate fragment, an
//! overlapping datagram and a datagram that never completes beside them.
//!
//! A reassembled datagram is one packet of its flow, and its bytes are the
//! frames of all its fragments (a duplicate fragment, dropped, counts
//! nothing).

use crate::conn::{TcpConn, UdpFlow};
use crate::expected::{ExpectedFlow, ExpectedTunnel, Scenario};
use crate::http::{transaction, HttpRequest, HttpResponse};
use crate::pcap::{records, Capture};
use crate::wire::{push_ipv4_header, Link, CLIENT_MAC, GATEWAY_MAC, LINKTYPE_ETHERNET};
use std::net::{Ipv4Addr, SocketAddr};

/// Data bytes in each fragment but the last (a multiple of 8).
const PIECE: usize = 512;

/// The order a datagram's fragments are sent in.
#[derive(Clone, Copy)]
enum Order {
    Ascending,
    Reverse,
    /// The second fragment first, then the others in order.
    SecondFirst,
    /// In order, the first fragment sent twice.
    FirstTwice,
}

/// The fragments of an Ethernet frame holding an IPv4 or IPv6 packet (no
/// IPv4 options or IPv6 extension headers) whose data exceeds [`PIECE`];
/// `None` for a frame that fits.
fn fragments(frame: &[u8], id: u32) -> Option<Vec<Vec<u8>>> {
    let v6 = frame[14] >> 4 == 6;
    let hlen = if v6 { 40 } else { 20 };
    let (eth, header, data) = (&frame[..14], &frame[14..14 + hlen], &frame[14 + hlen..]);
    if data.len() <= PIECE {
        return None;
    }
    let mut out = Vec::new();
    for (i, piece) in data.chunks(PIECE).enumerate() {
        let offset = i * PIECE;
        let more = offset + piece.len() < data.len();
        let mut f = eth.to_vec();
        if v6 {
            let mut h = header.to_vec();
            h[4..6].copy_from_slice(&((piece.len() + 8) as u16).to_be_bytes());
            h[6] = 44;
            f.extend_from_slice(&h);
            f.extend_from_slice(&[header[6], 0]);
            f.extend_from_slice(&((offset as u16) | u16::from(more)).to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
        } else {
            let src = Ipv4Addr::new(header[12], header[13], header[14], header[15]);
            let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
            let frag = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
            push_ipv4_header(
                &mut f,
                src,
                dst,
                header[9],
                piece.len(),
                64,
                id as u16,
                frag,
            );
        }
        f.extend_from_slice(piece);
        out.push(f);
    }
    Some(out)
}

/// Emits the frames of `plain` into `cap`, each too large for a piece cut
/// into fragments sent in `order`; the flow's frame bytes follow what was
/// sent, and `first_id` numbers the datagrams.
fn emit_fragmented(
    cap: &mut Capture,
    plain: Capture,
    order: Order,
    first_id: u32,
    want: &mut ExpectedFlow,
) {
    let (mut out_bytes, mut in_bytes) = (0u64, 0u64);
    for (n, r) in records(&plain.into_bytes()).enumerate() {
        let from_client = r.data[6..12] == CLIENT_MAC;
        let mut frames = match fragments(r.data, first_id + n as u32) {
            None => vec![r.data.to_vec()],
            Some(mut f) => {
                match order {
                    Order::Ascending | Order::FirstTwice => {}
                    Order::Reverse => f.reverse(),
                    Order::SecondFirst => f.swap(0, 1),
                }
                f
            }
        };
        let counted: usize = frames.iter().map(Vec::len).sum();
        if matches!(order, Order::FirstTwice) && frames.len() > 1 {
            frames.insert(1, frames[0].clone());
        }
        if from_client {
            out_bytes += counted as u64;
        } else {
            in_bytes += counted as u64;
        }
        for f in &frames {
            cap.emit(f);
        }
    }
    want.client_bytes = out_bytes;
    want.server_bytes = in_bytes;
}

/// An Ethernet header from the client to the gateway, for IPv4.
fn client_ethernet() -> Vec<u8> {
    [&GATEWAY_MAC[..], &CLIENT_MAC[..], &[0x08, 0x00][..]].concat()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

/// An HTTP POST of 1,500 body bytes answered with 2,000, fragmented.
fn http(cap: &mut Capture, client: &str, server: &str, order: Order, id: u32) -> ExpectedFlow {
    let mut plain = Capture::new(LINKTYPE_ETHERNET);
    let mut conn = TcpConn::new(Link::Ethernet, sa(client), sa(server));
    conn.handshake(&mut plain);
    let req = HttpRequest::new(
        "POST",
        "/upload",
        "HTTP/1.1",
        &[
            ("Host", "frag.example.com"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "1500"),
        ],
        vec![0x42; 1500],
    );
    let resp = HttpResponse::ok("application/octet-stream", 2000, 2000);
    conn.client_send(&mut plain, &req.bytes());
    conn.server_send(&mut plain, &resp.bytes());
    conn.close(&mut plain);
    let mut want = conn.expected(vec![transaction(&req, &resp)], None);
    emit_fragmented(cap, plain, order, id, &mut want);
    want
}

/// A 3,000-byte UDP datagram and a 40-byte answer.
fn udp(cap: &mut Capture) -> ExpectedFlow {
    let mut plain = Capture::new(LINKTYPE_ETHERNET);
    let mut flow = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.7.4:40004"),
        sa("203.0.113.74:9999"),
    );
    flow.client_send(&mut plain, &[0x5a; 3000]);
    flow.server_send(&mut plain, &[0xa5; 40]);
    let mut want = flow.expected();
    emit_fragmented(cap, plain, Order::Reverse, 4000, &mut want);
    want
}

/// A 1,200-byte UDP datagram cut into fragments inside an IPv4-in-IPv4
/// tunnel whose own packets were cut too where they exceed a piece (the
/// overlay's MTU and the underlay's), and its 40-byte answer whole in the
/// tunnel. The flow counts the IP packets the tunnel carried.
fn nested(cap: &mut Capture) -> ExpectedFlow {
    let (near, far) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let mut plain = Capture::new(LINKTYPE_ETHERNET);
    let mut flow = UdpFlow::new(
        Link::Ethernet,
        sa("10.0.7.6:40006"),
        sa("203.0.113.76:9999"),
    );
    flow.client_send(&mut plain, &[0x6b; 1200]);
    flow.server_send(&mut plain, &[0xb6; 40]);
    let mut want = flow.expected();
    let (mut out_bytes, mut in_bytes) = (0u64, 0u64);
    let mut id = 6000;
    for r in records(&plain.into_bytes()) {
        let from_client = r.data[6..12] == CLIENT_MAC;
        id += 1;
        for inner in fragments(r.data, id).unwrap_or_else(|| vec![r.data.to_vec()]) {
            let ip = &inner[14..];
            if from_client {
                out_bytes += ip.len() as u64;
            } else {
                in_bytes += ip.len() as u64;
            }
            let (src, dst) = if from_client {
                (near, far)
            } else {
                (far, near)
            };
            let mut outer = inner[..14].to_vec();
            push_ipv4_header(&mut outer, src, dst, 4, ip.len(), 64, 0, 0);
            outer.extend_from_slice(ip);
            id += 1;
            for f in fragments(&outer, id).unwrap_or_else(|| vec![outer.clone()]) {
                cap.emit(&f);
            }
        }
    }
    want.client_bytes = out_bytes;
    want.server_bytes = in_bytes;
    want.tunnel = Some(ExpectedTunnel {
        kind: "ipip",
        id: None,
        src_ip: near.into(),
        dest_ip: far.into(),
        depth: 1,
    });
    want
}

/// A datagram whose second fragment overlaps its first in part: dropped
/// whole, as Linux drops it.
fn overlapping(cap: &mut Capture) {
    let (src, dst) = (Ipv4Addr::new(10, 0, 7, 1), Ipv4Addr::new(203, 0, 113, 71));
    for (frag, len) in [(0x2000u16, 24usize), (0x0002, 24)] {
        let mut f = client_ethernet();
        push_ipv4_header(&mut f, src, dst, 6, len, 64, 9000, frag);
        f.extend_from_slice(&vec![0x11; len]);
        cap.emit(&f);
    }
}

/// A first fragment whose rest never comes.
fn incomplete(cap: &mut Capture) {
    let mut f = client_ethernet();
    let (src, dst) = (Ipv4Addr::new(10, 0, 7, 2), Ipv4Addr::new(203, 0, 113, 72));
    push_ipv4_header(&mut f, src, dst, 6, 64, 64, 9001, 0x2000);
    f.extend_from_slice(&[0x22; 64]);
    cap.emit(&f);
}

/// Every way fragments arrive.
pub fn ip_fragments() -> Scenario {
    let mut cap = Capture::new(LINKTYPE_ETHERNET);
    let mut flows = vec![
        http(
            &mut cap,
            "10.0.7.1:40001",
            "203.0.113.71:80",
            Order::Ascending,
            100,
        ),
        http(
            &mut cap,
            "10.0.7.2:40002",
            "203.0.113.72:80",
            Order::Reverse,
            200,
        ),
        http(
            &mut cap,
            "[2001:db8:7::3]:40003",
            "[2001:db8:71::3]:80",
            Order::SecondFirst,
            300,
        ),
        http(
            &mut cap,
            "10.0.7.5:40005",
            "203.0.113.75:80",
            Order::FirstTwice,
            500,
        ),
    ];
    flows.push(udp(&mut cap));
    flows.push(nested(&mut cap));
    overlapping(&mut cap);
    incomplete(&mut cap);
    Scenario {
        name: "ip-fragments",
        linktype: LINKTYPE_ETHERNET,
        description: "Packets cut into fragments of 512 data bytes (the last shorter): an HTTP POST (1,500 body \
                      bytes, answered with 2,000) over IPv4 with fragments in order, one in reverse order, one over \
                      IPv6 (Fragment header) with the second fragment of each datagram first, one over IPv4 with \
                      each datagram's first fragment sent twice (a duplicate, dropped and counted); a UDP datagram \
                      of 3,000 bytes in reverse order and its 40-byte answer; a UDP datagram of 1,200 bytes \
                      10.0.7.6:40006 -> 203.0.113.76:9999 cut into fragments inside an IPv4-in-IPv4 tunnel \
                      (192.0.2.1 and 192.0.2.2) whose packets were cut in turn where over 512 data bytes (nested \
                      fragments), and its 40-byte answer whole in the tunnel (the flow counts the IP packets the \
                      tunnel carried). Then a datagram whose second fragment \
                      overlaps its first in part (dropped whole: overlaps 1) and a lone first fragment \
                      (incomplete at the end). A reassembled datagram is one packet of its flow; its bytes are \
                      the frames of its fragments.",
        pcap: cap.into_bytes(),
        flows,
    }
}
