use super::*;
use crate::decode::{decode_ip, reassembled};
use crate::flow::key::Addr;

/// An IPv4 header of a UDP datagram 10.0.0.1 -> 10.0.0.2 (lengths are
/// rewritten on reassembly).
const V4_HEADER: [u8; 20] = [
    0x45, 0, 0, 0, 0x12, 0x34, 0x20, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
];

fn key(id: u32) -> FragKey {
    FragKey {
        src: Addr::V4([10, 0, 0, 1]),
        dst: Addr::V4([10, 0, 0, 2]),
        id,
        proto: 17,
        vlan: 0,
        tunnel: None,
    }
}

fn frag<'a>(id: u32, offset: u32, more: bool, data: &'a [u8]) -> Fragment<'a> {
    Fragment {
        key: key(id),
        offset,
        more,
        header: &V4_HEADER,
        data,
        cut: false,
        encap: Encap::default(),
    }
}

/// A UDP datagram 1000 -> 2000 with `n` payload bytes of 0xab.
fn udp(n: usize) -> Vec<u8> {
    let mut d = vec![0x03, 0xe8, 0x07, 0xd0];
    d.extend_from_slice(&((n + 8) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend(std::iter::repeat_n(0xab, n));
    d
}

fn cfg(max_bytes: usize, timeout: Micros) -> DefragConfig {
    DefragConfig { max_bytes, timeout }
}

#[test]
fn any_order_gives_the_datagram_back_whole() {
    let d = udp(40);
    for order in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
        let mut r = Defrag::new(DefragConfig::default());
        let pieces = [
            (0u32, true, &d[..16]),
            (16, true, &d[16..32]),
            (32, false, &d[32..]),
        ];
        let mut whole = None;
        for (n, &i) in order.iter().enumerate() {
            let (off, more, data) = pieces[i];
            let got = r
                .offer(&frag(7, off, more, data), 10, 100)
                .map(|w| (w.ip.to_vec(), w.frame_bytes));
            assert_eq!(got.is_some(), n == 2, "order {order:?}");
            whole = whole.or(got);
        }
        let (ip, frame_bytes) = whole.expect("whole");
        assert_eq!(frame_bytes, 300);
        let pkt = decode_ip(&ip).expect("decodes");
        assert_eq!((pkt.sport, pkt.dport, pkt.payload.len()), (1000, 2000, 40));
        assert_eq!(pkt.ip_len, 20 + 48);
        assert_eq!(r.held(), 0);
        assert_eq!(r.stats.reassembled, 1);
    }
}

#[test]
fn a_duplicate_is_dropped_an_overlap_drops_the_datagram() {
    let d = udp(40);
    let mut r = Defrag::new(DefragConfig::default());
    assert!(r.offer(&frag(1, 0, true, &d[..32]), 1, 10).is_none());
    // Wholly inside what was received: a duplicate, the datagram kept.
    assert!(r.offer(&frag(1, 8, true, &d[8..16]), 1, 10).is_none());
    assert!(r.offer(&frag(1, 32, false, &d[32..]), 1, 10).is_some());
    assert_eq!((r.stats.duplicates, r.stats.reassembled), (1, 1));

    // In part over what was received: the whole datagram goes.
    assert!(r.offer(&frag(2, 0, true, &d[..16]), 1, 10).is_none());
    assert!(r.offer(&frag(2, 8, true, &d[8..24]), 1, 10).is_none());
    assert!(r.offer(&frag(2, 24, false, &d[24..]), 1, 10).is_none());
    assert_eq!(r.stats.overlaps, 1);
    // The last fragment began a new datagram, still incomplete.
    r.finish();
    assert_eq!(r.stats.incomplete_at_end, 1);
    assert_eq!(r.held(), 0);
}

#[test]
fn disagreeing_ends_and_bad_lengths_are_invalid() {
    let d = udp(40);
    let mut r = Defrag::new(DefragConfig::default());
    // Not a multiple of 8 before the last fragment.
    assert!(r.offer(&frag(1, 0, true, &d[..12]), 1, 10).is_none());
    assert_eq!(r.stats.invalid, 1);
    // A last fragment, then bytes past its end.
    assert!(r.offer(&frag(2, 16, false, &d[16..24]), 1, 10).is_none());
    assert!(r.offer(&frag(2, 24, true, &d[24..32]), 1, 10).is_none());
    assert_eq!(r.stats.invalid, 2);
    // Past 64 KiB.
    assert!(r.offer(&frag(3, 65_528, false, &d[..16]), 1, 10).is_none());
    assert_eq!(r.stats.invalid, 3);
    // Cut by the capture.
    let mut cut = frag(4, 0, true, &d[..16]);
    cut.cut = true;
    assert!(r.offer(&cut, 1, 10).is_none());
    assert_eq!(r.stats.cut, 1);
    assert_eq!(r.table.len(), 0);
}

#[test]
fn old_datagrams_time_out_and_memory_evicts_the_oldest() {
    let d = udp(40);
    let mut r = Defrag::new(cfg(1 << 20, 30 * SECOND));
    assert!(r.offer(&frag(1, 0, true, &d[..16]), 0, 10).is_none());
    assert!(r
        .offer(&frag(2, 0, true, &d[..16]), 20 * SECOND, 10)
        .is_none());
    // At 31 s the first has waited too long; the second has not.
    assert!(r
        .offer(&frag(3, 0, true, &d[..16]), 31 * SECOND, 10)
        .is_none());
    assert_eq!(r.stats.timed_out, 1);
    assert!(r
        .offer(&frag(2, 16, false, &d[16..]), 31 * SECOND, 10)
        .is_some());

    // Room for about two datagrams: a third pushes out the oldest.
    let mut r = Defrag::new(cfg(2 * (DATAGRAM_OVERHEAD + 64), 30 * SECOND));
    for id in 1..=3 {
        assert!(r.offer(&frag(id, 0, true, &d[..16]), 0, 10).is_none());
    }
    assert_eq!(r.stats.evicted, 1);
    assert!(r.held() <= 2 * (DATAGRAM_OVERHEAD + 64));
    // The first is gone: its last fragment begins a datagram of its own.
    assert!(r.offer(&frag(1, 16, false, &d[16..]), 0, 10).is_none());
    assert!(r.offer(&frag(3, 16, false, &d[16..]), 0, 10).is_some());
}

#[test]
fn ranges_merge_and_are_bounded() {
    let mut have = Vec::new();
    assert!(insert(&mut have, 16, 24));
    assert!(insert(&mut have, 0, 8));
    assert!(insert(&mut have, 8, 16));
    assert_eq!(have, vec![(0, 24)]);
    assert!(insert(&mut have, 40, 48));
    assert_eq!(have, vec![(0, 24), (40, 48)]);
    let mut many = Vec::new();
    let ok = (0..=MAX_RANGES as u32).all(|i| insert(&mut many, i * 16, i * 16 + 8));
    assert!(!ok);
}

/// IPv6: the Fragment header is read and left out of the datagram, which
/// decodes as the upper protocol, through the decoder's own reading.
#[test]
fn ipv6_fragments_through_the_decoder() {
    let d = udp(40);
    let mut frames = Vec::new();
    for (off, more, data) in [(0u16, true, &d[..24]), (24, false, &d[24..])] {
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&((data.len() + 8) as u16).to_be_bytes());
        ip.extend_from_slice(&[44, 64]);
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb9].repeat(4));
        ip.extend_from_slice(&[17, 0]);
        ip.extend_from_slice(&(off | u16::from(more)).to_be_bytes());
        ip.extend_from_slice(&0xdead_beefu32.to_be_bytes());
        ip.extend_from_slice(data);
        frames.push(ip);
    }
    assert_eq!(decode_ip(&frames[0]), Err(DecodeError::IpFragment));
    let mut r = Defrag::new(DefragConfig::default());
    let tunnels = Tunnels::default();
    let first = r.offer_frame(LinkType::Raw, &frames[1], 0, 5, &tunnels);
    assert!(matches!(first, Ok(None)));
    let whole = r
        .offer_frame(LinkType::Raw, &frames[0], 0, 5, &tunnels)
        .expect("a fragment")
        .expect("complete");
    assert_eq!(
        whole.frame_bytes,
        (frames[0].len() + frames[1].len()) as u32
    );
    let ip = whole.ip.to_vec();
    assert_eq!(ip.len(), 40 + 48);
    let pkt = reassembled(&ip, Encap::default(), &tunnels).expect("decodes");
    assert_eq!((pkt.sport, pkt.dport, pkt.payload.len()), (1000, 2000, 40));
}

#[test]
fn off_means_every_fragment_is_an_error() {
    let mut r = Defrag::new(cfg(0, SECOND));
    let mut ip = V4_HEADER.to_vec();
    ip[2..4].copy_from_slice(&36u16.to_be_bytes());
    ip.extend_from_slice(&udp(8));
    let got = r.offer_frame(LinkType::Raw, &ip, 0, 0, &Tunnels::default());
    assert!(matches!(got, Err(DecodeError::IpFragment)));
}
