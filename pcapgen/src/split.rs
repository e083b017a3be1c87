//! Splitting a capture the way a packet broker spreads a link over
//! several sensors: by a symmetric hash of the two IP addresses, so both
//! directions of every conversation between two hosts reach the same
//! sensor. Frames without an IP header go to the first part.

use crate::pcap::records;
use crate::rng::mix64;

/// Ethernet frames (with up to two VLAN tags) of a classic pcap stream as
/// [`crate::pcap::PcapWriter`] writes it, split into `parts` streams.
pub fn by_host_pair(pcap: &[u8], parts: usize) -> Vec<Vec<u8>> {
    let parts = parts.max(1);
    let header = pcap.get(..24).unwrap_or_default();
    let mut out: Vec<Vec<u8>> = (0..parts).map(|_| header.to_vec()).collect();
    for r in records(pcap) {
        let part = host_pair(r.data).map_or(0, |h| (h % parts as u64) as usize);
        let Some(o) = out.get_mut(part) else { continue };
        let secs = (r.ts_us / 1_000_000) as u32;
        let micros = (r.ts_us % 1_000_000) as u32;
        for word in [secs, micros, r.data.len() as u32, r.orig_len] {
            o.extend_from_slice(&word.to_le_bytes());
        }
        o.extend_from_slice(r.data);
    }
    out
}

/// The same value for (a, b) and (b, a).
fn host_pair(frame: &[u8]) -> Option<u64> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
    while ethertype == 0x8100 || ethertype == 0x88a8 {
        at += 4;
        ethertype = u16::from_be_bytes(frame.get(at..at + 2)?.try_into().ok()?);
    }
    let ip = frame.get(at + 2..)?;
    let (a, b) = match ethertype {
        0x0800 => (ip.get(12..16)?, ip.get(16..20)?),
        0x86dd => (ip.get(8..24)?, ip.get(24..40)?),
        _ => return None,
    };
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    Some(
        lo.iter()
            .chain(hi)
            .fold(0u64, |h, &x| mix64(h ^ u64::from(x))),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::conn::TcpConn;
    use crate::pcap::Capture;
    use crate::wire::{Link, LINKTYPE_ETHERNET};
    use std::collections::HashMap;

    #[test]
    fn both_directions_of_a_conversation_land_together_and_nothing_is_lost() {
        let mut cap = Capture::new(LINKTYPE_ETHERNET);
        for i in 0..40u8 {
            let mut c = TcpConn::new(
                Link::Ethernet,
                format!("10.0.0.{i}:4000").parse().unwrap(),
                format!("192.0.2.{}:80", i % 7).parse().unwrap(),
            );
            c.handshake(&mut cap);
            c.client_send(&mut cap, b"GET / HTTP/1.1\r\n\r\n");
            c.server_send(&mut cap, b"HTTP/1.1 204 No Content\r\n\r\n");
            c.close(&mut cap);
        }
        let whole = cap.into_bytes();
        let parts = by_host_pair(&whole, 3);
        let count = |p: &[u8]| records(p).count();
        assert_eq!(parts.iter().map(|p| count(p)).sum::<usize>(), count(&whole));
        let mut owner: HashMap<u64, usize> = HashMap::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(count(p) > 0, "40 pairs over 3 parts: part {i} empty");
            for r in records(p) {
                let pair = host_pair(r.data).unwrap();
                assert_eq!(*owner.entry(pair).or_insert(i), i, "a pair in two parts");
            }
        }
        assert_eq!(owner.len(), 40);
    }
}
