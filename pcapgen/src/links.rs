//! Link types whose frames are written by rewriting Ethernet ones: IEEE
//! 802.11 as a monitor-mode capture holds it (link type 105, and behind a
//! radiotap header, 127), and Linux NFLOG (239), what `tcpdump -i nflog:N`
//! writes on a gateway logging its traffic through netfilter.
//!
//! Each is one HTTP GET 10.0.0.30:50100 -> 203.0.113.100:80 (200
//! text/html, Content-Length 1200), as the other `link-*` scenarios;
//! every frame counts whole, link header included.

use crate::expected::Scenario;
use crate::pcap::Capture;
use crate::scenarios::rewritten_http;
use crate::wire::{CLIENT_MAC, GATEWAY_MAC};

/// The access point's address (BSSID).
const BSSID: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0xa9];
/// pcap link types.
const LINKTYPE_IEEE802_11: u32 = 105;
const LINKTYPE_RADIOTAP: u32 = 127;
const LINKTYPE_NFLOG: u32 = 239;
/// Frames of the 802.11 captures that are link control (a beacon and a
/// null data frame).
pub const WLAN_LINK_CONTROL: u64 = 2;

/// The HTTP exchange, rewritten frame by frame by `wrap` (given the
/// Ethernet frame and whether it goes to the server), then `extra`.
fn rewritten(
    name: &'static str,
    linktype: u32,
    description: &'static str,
    wrap: fn(&[u8], bool) -> Vec<u8>,
    extra: &[Vec<u8>],
) -> Scenario {
    let mut cap = Capture::new(linktype);
    let uri = format!("/{}", &name[5..]);
    let get = (
        "10.0.0.30:50100",
        "203.0.113.100:80",
        "link.example.com",
        uri.as_str(),
        1200,
    );
    let want = rewritten_http(&mut cap, get, |eth, to_server, _| {
        let frame = wrap(eth, to_server);
        let len = frame.len();
        (frame, len)
    });
    for frame in extra {
        cap.emit(frame);
    }
    Scenario {
        name,
        linktype,
        description,
        pcap: cap.into_bytes(),
        flows: vec![want],
    }
}

/// An 802.11 data frame for an Ethernet one: to the access point (to DS)
/// from the client as QoS data, from it (from DS) as plain data; LLC/SNAP
/// and the EtherType before the IP packet.
fn wlan(eth: &[u8], to_server: bool) -> Vec<u8> {
    let mut f = if to_server {
        let mut f = vec![0x88, 0x01, 0x2c, 0x00];
        f.extend_from_slice(&BSSID);
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&GATEWAY_MAC);
        f.extend_from_slice(&[0x10, 0x00, 0x00, 0x00]); // sequence, QoS control
        f
    } else {
        let mut f = vec![0x08, 0x02, 0x2c, 0x00];
        f.extend_from_slice(&CLIENT_MAC);
        f.extend_from_slice(&BSSID);
        f.extend_from_slice(&GATEWAY_MAC);
        f.extend_from_slice(&[0x20, 0x00]);
        f
    };
    f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00]);
    f.extend_from_slice(&eth[12..]);
    f
}

/// A radiotap header (version 0, 8 bytes, no fields) before the 802.11 frame.
fn radiotap(eth: &[u8], to_server: bool) -> Vec<u8> {
    let mut f = vec![0, 0, 8, 0, 0, 0, 0, 0];
    f.extend_from_slice(&wlan(eth, to_server));
    f
}

/// A type-length-value attribute of NFLOG, little-endian, padded to 4.
fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut v = ((4 + value.len()) as u16).to_le_bytes().to_vec();
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(value);
    while !v.len().is_multiple_of(4) {
        v.push(0);
    }
    v
}

/// An NFLOG frame: IPv4, group 5; the packet header (hardware protocol
/// 0x0800, hook 3: output), the rule's prefix, then the payload.
fn nflog(eth: &[u8], _to_server: bool) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 5];
    f.extend(attribute(1, &[0x08, 0x00, 3, 0]));
    f.extend(attribute(10, b"egress\0"));
    // The last attribute unpadded, as the kernel ends a message.
    f.extend_from_slice(&((4 + eth.len() - 14) as u16).to_le_bytes());
    f.extend_from_slice(&9u16.to_le_bytes());
    f.extend_from_slice(&eth[14..]);
    f
}

/// A beacon and a null data frame: link control, no flow.
fn wlan_control(radiotap: bool) -> Vec<Vec<u8>> {
    let mut beacon = vec![0x80, 0x00, 0x00, 0x00];
    beacon.extend_from_slice(&[0xff; 6]);
    beacon.extend_from_slice(&BSSID);
    beacon.extend_from_slice(&BSSID);
    beacon.extend_from_slice(&[0x30, 0x00]);
    // Timestamp, interval (100 TU), capabilities (ESS), the SSID element.
    beacon.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x64, 0x00, 0x01, 0x00]);
    beacon.extend_from_slice(&[0x00, 0x04, b'l', b'a', b'b', b'1']);
    let mut null = vec![0x48, 0x01, 0x2c, 0x00];
    null.extend_from_slice(&BSSID);
    null.extend_from_slice(&CLIENT_MAC);
    null.extend_from_slice(&BSSID);
    null.extend_from_slice(&[0x40, 0x00]);
    [beacon, null]
        .into_iter()
        .map(|f| {
            if radiotap {
                [&[0, 0, 8, 0, 0, 0, 0, 0][..], &f].concat()
            } else {
                f
            }
        })
        .collect()
}

/// The 802.11, radiotap and NFLOG scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        rewritten(
            "link-80211",
            LINKTYPE_IEEE802_11,
            "IEEE 802.11 (linktype 105): one HTTP GET 10.0.0.30:50100 -> 203.0.113.100:80 (handshake, GET \
             /80211, 200 text/html Content-Length 1200, close) through access point 02:00:00:00:00:a9: \
             the client's frames QoS data to the distribution system, the server's plain data from it, \
             LLC/SNAP before the IP packet. Then a beacon and a null data frame (link control, no flow).",
            wlan,
            &wlan_control(false),
        ),
        rewritten(
            "link-radiotap",
            LINKTYPE_RADIOTAP,
            "Radiotap (linktype 127, an 8-byte header without fields) before the frames of link-80211: \
             one HTTP GET 10.0.0.30:50100 -> 203.0.113.100:80 (GET /radiotap), then a beacon and a null \
             data frame.",
            radiotap,
            &wlan_control(true),
        ),
        rewritten(
            "link-nflog",
            LINKTYPE_NFLOG,
            "Linux NFLOG (linktype 239, little-endian attributes): one HTTP GET 10.0.0.30:50100 -> \
             203.0.113.100:80 (GET /nflog) logged by a rule of group 5 with prefix \"egress\": each frame \
             the NFLOG header, the packet header and prefix attributes, then the payload attribute holding \
             the IP packet.",
            nflog,
            &[],
        ),
    ]
}
