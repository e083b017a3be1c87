use super::*;

const BIG: StreamLimits = StreamLimits {
    max_ooo_bytes: 1 << 20,
    max_ooo_segments: 1024,
};

fn budget() -> Budget {
    Budget {
        used: 0,
        max: 1 << 24,
    }
}

/// Collects what a stream hands out: the bytes, with gaps as `None` runs.
#[derive(Default)]
struct Out {
    bytes: Vec<u8>,
    gaps: Vec<u64>,
}

impl Out {
    fn sink(&mut self) -> impl FnMut(Chunk<'_>) + '_ {
        |c| match c {
            Chunk::Data(d) => self.bytes.extend_from_slice(d),
            Chunk::Gap(n) => {
                self.gaps.push(n);
                self.bytes.extend(std::iter::repeat_n(b'?', n as usize));
            }
        }
    }
}

#[test]
fn in_order_after_syn() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(1000);
    s.segment(1001, b"hello ", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(1007, b"world", 0, true, BIG, &mut b, &mut out.sink());
    s.finish(&mut b, &mut out.sink());
    assert_eq!(out.bytes, b"hello world");
    assert_eq!(s.counters().delivered, 11);
    assert_eq!(s.counters().missed, 0);
}

#[test]
fn retransmission_and_overlap_count_once() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"abcdef", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(1, b"abcdef", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(4, b"defghi", 0, false, BIG, &mut b, &mut out.sink());
    assert_eq!(out.bytes, b"abcdefghi");
    assert_eq!(s.counters().delivered, 9);
    assert_eq!(s.counters().retransmitted, 9);
}

#[test]
fn out_of_order_is_held_then_delivered() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"aa", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(5, b"cc", 0, false, BIG, &mut b, &mut out.sink());
    assert_eq!(b.used, 2);
    s.segment(3, b"bb", 0, false, BIG, &mut b, &mut out.sink());
    assert_eq!(out.bytes, b"aabbcc");
    assert_eq!(b.used, 0);
    assert_eq!(s.counters().out_of_order, 1);
}

#[test]
fn sequence_wrap_around() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(u32::MAX - 2); // data starts at MAX-1: two bytes before the wrap
    s.segment(u32::MAX - 1, b"xyz", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(1, b"12", 0, false, BIG, &mut b, &mut out.sink());
    assert_eq!(out.bytes, b"xyz12");
}

#[test]
fn acked_hole_becomes_gap_at_once() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"0123", 0, false, BIG, &mut b, &mut out.sink());
    s.segment(9, b"89", 0, false, BIG, &mut b, &mut out.sink());
    s.peer_ack(11, false, &mut b, &mut out.sink());
    assert_eq!(out.bytes, b"0123????89");
    assert_eq!(out.gaps, vec![4]);
    assert_eq!(s.counters().missed, 4);
    assert_eq!(b.used, 0);
}

#[test]
fn cap_forces_gap() {
    let tight = StreamLimits {
        max_ooo_bytes: 4,
        max_ooo_segments: 8,
    };
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"ab", 0, false, tight, &mut b, &mut out.sink());
    s.segment(5, b"ef", 0, false, tight, &mut b, &mut out.sink());
    s.segment(7, b"ghi", 0, false, tight, &mut b, &mut out.sink());
    assert_eq!(out.bytes, b"ab??efghi");
    assert_eq!(s.counters().overflows, 1);
    assert_eq!(b.used, 0);
}

#[test]
fn snaplen_cut_is_a_gap_and_fin_follows_it() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"abc", 7, false, BIG, &mut b, &mut out.sink());
    s.segment(11, b"xy", 0, true, BIG, &mut b, &mut out.sink());
    s.peer_ack(14, false, &mut b, &mut out.sink());
    s.finish(&mut b, &mut out.sink());
    assert_eq!(out.bytes, b"abc???????xy");
    assert_eq!(s.counters().missed, 7);
}

#[test]
fn acked_tail_never_seen_is_missed_at_finish() {
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    s.segment(1, b"abc", 0, false, BIG, &mut b, &mut out.sink());
    s.peer_ack(11, false, &mut b, &mut out.sink());
    s.finish(&mut b, &mut out.sink());
    assert_eq!(s.counters().missed, 7);
    // A FIN's sequence number is not a missed byte.
    let mut t = Stream::default();
    t.syn(0);
    t.segment(1, b"abc", 0, true, BIG, &mut b, &mut out.sink());
    t.peer_ack(5, false, &mut b, &mut out.sink());
    t.finish(&mut b, &mut out.sink());
    assert_eq!(t.counters().missed, 0);
    // A gap that runs up to the FIN: the bytes up to it are missed, the
    // FIN's own sequence number is not.
    let mut u = Stream::default();
    u.syn(0);
    u.segment(1, b"abc", 0, false, BIG, &mut b, &mut out.sink());
    u.segment(11, b"", 0, true, BIG, &mut b, &mut out.sink());
    u.peer_ack(12, false, &mut b, &mut out.sink());
    u.finish(&mut b, &mut out.sink());
    assert_eq!(u.counters().missed, 7);
}

/// Random segmentation, order and duplication of a known stream must give
/// the stream back exactly, compared byte for byte with the model (the
/// original bytes).
#[test]
fn shuffled_duplicated_segments_reassemble_exactly() {
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..200 {
        let len = 1 + (next() % 3000) as usize;
        let original: Vec<u8> = (0..len).map(|i| (i * 7 + round) as u8).collect();
        let isn = next() as u32;
        let mut segs = Vec::new();
        let mut at = 0;
        while at < len {
            let n = 1 + (next() % 200) as usize;
            let end = (at + n).min(len);
            segs.push((at, end));
            // Sometimes an overlapping retransmission.
            if next() % 4 == 0 {
                let back = (next() % 50) as usize;
                segs.push((at.saturating_sub(back), end));
            }
            at = end;
        }
        // Partial shuffle: swap neighbours now and then.
        for i in 1..segs.len() {
            if next() % 3 == 0 {
                segs.swap(i - 1, i);
            }
        }
        let mut s = Stream::default();
        let mut b = budget();
        let mut out = Out::default();
        s.syn(isn);
        for (a, e) in &segs {
            let seq = isn.wrapping_add(1).wrapping_add(*a as u32);
            s.segment(
                seq,
                &original[*a..*e],
                0,
                false,
                BIG,
                &mut b,
                &mut out.sink(),
            );
        }
        s.finish(&mut b, &mut out.sink());
        assert_eq!(out.bytes, original, "round {round}");
        assert_eq!(s.counters().delivered, len as u64);
        assert_eq!(s.counters().missed, 0);
        assert_eq!(b.used, 0);
    }
}

/// A segment over the cap that the held data before it already covers
/// is all seen again: counted as retransmitted, not dropped uncounted.
#[test]
fn segment_over_cap_inside_drained_data_is_counted() {
    let one = StreamLimits {
        max_ooo_bytes: 1 << 20,
        max_ooo_segments: 1,
    };
    let mut s = Stream::default();
    let mut b = budget();
    let mut out = Out::default();
    s.syn(0);
    // Held ahead of the hole 0..10.
    s.segment(11, &[b'a'; 20], 0, false, one, &mut b, &mut out.sink());
    // Over the cap: the hole is given up, the held 10..30 handed out,
    // and this segment (12..17) lies inside what was just delivered.
    s.segment(13, &[b'a'; 5], 0, false, one, &mut b, &mut out.sink());
    s.finish(&mut b, &mut out.sink());
    let c = s.counters();
    assert_eq!(out.gaps, [10]);
    assert_eq!((c.delivered, c.missed, c.retransmitted), (20, 10, 5));
    assert_eq!(c.overflows, 1);
}

/// A capture that kept a few segments of a multi-gigabyte transfer: the
/// peer's ACK jumps 1.9 GiB ahead, which is believed (the gap declared,
/// the data after it in order); the same jump in a reset's ACK field is
/// not.
#[test]
fn acknowledgements_gigabytes_ahead_are_gaps() {
    const JUMP: u32 = 1_900_000_000;
    for reset in [false, true] {
        let mut s = Stream::default();
        let mut b = budget();
        let (mut data, mut gaps) = (0u64, Vec::new());
        let mut sink = |c: Chunk<'_>| match c {
            Chunk::Data(d) => data += d.len() as u64,
            Chunk::Gap(n) => gaps.push(n),
        };
        s.syn(u32::MAX - 5);
        s.segment(u32::MAX - 4, b"head", 0, false, BIG, &mut b, &mut sink);
        let far = (u32::MAX - 4).wrapping_add(4).wrapping_add(JUMP);
        s.peer_ack(far, reset, &mut b, &mut sink);
        s.segment(far, b"tail", 0, false, BIG, &mut b, &mut sink);
        if reset {
            assert_eq!(s.counters().missed, 0);
            assert_eq!(data, 4, "the tail is held, not delivered");
        } else {
            assert_eq!(gaps, vec![u64::from(JUMP)]);
            assert_eq!(s.counters().missed, u64::from(JUMP));
            assert_eq!(data, 8);
            assert_eq!(s.counters().retransmitted, 0);
        }
    }
}
