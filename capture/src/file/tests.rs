//! The reader against libpcap on every capture at hand, and on files made
//! here for what libpcap-written captures rarely hold.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use super::*;
use crate::source::OfflineSource;
use std::path::PathBuf;

type Pkt = (LinkType, Micros, Vec<u8>, u32);

fn ours(path: &Path) -> (Vec<Pkt>, ReadOutcome) {
    let mut src = FileSource::open(path).unwrap();
    let mut v = Vec::new();
    let out = src.for_each(|l, ts, f, w| v.push((l, ts, f.to_vec(), w)));
    (v, out)
}

fn libpcap(path: &Path) -> (Vec<Pkt>, ReadOutcome) {
    let mut src = OfflineSource::open(path).unwrap();
    let link = src.link;
    let mut v = Vec::new();
    let out = src.for_each(|ts, f, w| v.push((link, ts, f.to_vec(), w)));
    (v, out)
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("procflow-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn same_packets_as_libpcap_on_every_capture() {
    let files = crate::test_captures::every_capture("same_packets_as_libpcap_on_every_capture");
    let mut packets = 0usize;
    for f in &files {
        let (a, ao) = ours(f);
        let (b, bo) = libpcap(f);
        assert_eq!(a.len(), b.len(), "{}", f.display());
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                x == y,
                "{} packet {}: {:?} vs libpcap {:?}",
                f.display(),
                i + 1,
                (x.0, x.1, x.2.len(), x.3),
                (y.0, y.1, y.2.len(), y.3)
            );
        }
        assert_eq!(ao.packets, bo.packets, "{}", f.display());
        assert_eq!(
            ao.truncated.is_some(),
            bo.truncated.is_some(),
            "{}: {:?} / {:?}",
            f.display(),
            ao.truncated,
            bo.truncated
        );
        if FileSource::open(f).unwrap().format == FileFormat::Pcap {
            assert_eq!(ao.offset, bo.offset, "{}", f.display());
        }
        packets += a.len();
    }
    eprintln!(
        "{} captures, {packets} packets: the same as libpcap",
        files.len()
    );
    assert!(files.len() >= 20);
}

/// A classic pcap with `frames`, in either byte order and resolution.
fn classic(frames: &[(u64, Vec<u8>)], big: bool, nanos: bool) -> Vec<u8> {
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    let mut b = Vec::new();
    b.extend_from_slice(&w32(magic));
    b.extend_from_slice(&if big { [0, 2, 0, 4] } else { [2, 0, 4, 0] });
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&w32(262_144));
    b.extend_from_slice(&w32(1));
    for (ts, f) in frames {
        b.extend_from_slice(&w32((ts / 1_000_000) as u32));
        let frac = ts % 1_000_000;
        b.extend_from_slice(&w32(if nanos { frac * 1000 } else { frac } as u32));
        b.extend_from_slice(&w32(f.len() as u32));
        b.extend_from_slice(&w32(f.len() as u32 + 4));
        b.extend_from_slice(f);
    }
    b
}

fn frame(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

#[test]
fn classic_byte_orders_resolutions_and_chunk_boundaries() {
    // Sizes that put records across the 512 KiB chunk boundaries, and a
    // frame longer than a quarter of a chunk.
    let frames: Vec<(u64, Vec<u8>)> = (0..2600u64)
        .map(|i| {
            let n = if i == 1000 {
                200_000
            } else {
                60 + (i as usize * 37) % 1400
            };
            (1_700_000_000_000_000 + i * 1234, frame(n, i as u8))
        })
        .collect();
    for (big, nanos) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = tmp(
            &format!("c-{big}-{nanos}.pcap"),
            &classic(&frames, big, nanos),
        );
        let (got, out) = ours(&p);
        assert_eq!(got.len(), frames.len());
        assert_eq!(out.truncated, None);
        for (g, (ts, f)) in got.iter().zip(&frames) {
            assert_eq!((g.1, &g.2, g.3), (*ts, f, f.len() as u32 + 4));
        }
        let (lib, _) = libpcap(&p);
        assert_eq!(got.len(), lib.len());
        for (i, (a, b)) in got.iter().zip(&lib).enumerate() {
            assert!(a == b, "{big} {nanos}: packet {i} differs from libpcap's");
        }
    }
}

#[test]
fn cuts_and_damage_are_reported_where_they_are() {
    let frames: Vec<(u64, Vec<u8>)> = (0..10u64).map(|i| (i * 1000, frame(100, 1))).collect();
    let whole = classic(&frames, false, false);
    // Cut 10 bytes into the data of the 8th record.
    let at = 24 + 7 * 116;
    let (got, out) = ours(&tmp("cut.pcap", &whole[..at + 16 + 10]));
    assert_eq!(got.len(), 7);
    assert_eq!(out.packets, 7);
    assert_eq!(out.offset, at as u64);
    assert!(out.truncated.unwrap().starts_with("truncated dump file"));
    // Cut inside a record header.
    let (got, out) = ours(&tmp("cut-head.pcap", &whole[..at + 5]));
    assert_eq!(got.len(), 7);
    assert!(out.truncated.is_some());
    // A garbage captured length stops the read with the reason.
    let mut bad = whole.clone();
    bad[at + 8..at + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let (got, out) = ours(&tmp("bad-len.pcap", &bad));
    assert_eq!(got.len(), 7);
    assert!(out
        .truncated
        .unwrap()
        .contains("larger than the snapshot length"));
    // Only the file header: no packets, no error.
    let (got, out) = ours(&tmp("header.pcap", &whole[..24]));
    assert!(got.is_empty());
    assert_eq!(out.truncated, None);
    // Not a capture, too short, empty.
    for (name, bytes) in [
        ("text.pcap", &b"hello, not a capture"[..]),
        ("short.pcap", &b"\xd4\xc3"[..]),
    ] {
        assert!(FileSource::open(&tmp(name, bytes)).is_err(), "{name}");
    }
    let e = FileSource::open(&tmp("empty.pcap", b"")).err().unwrap();
    assert!(e.to_string().ends_with("empty file, not a capture"));
}

/// pcapng blocks.
struct Ng {
    big: bool,
    b: Vec<u8>,
}

impl Ng {
    fn w32(&self, v: u32) -> [u8; 4] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn w16(&self, v: u16) -> [u8; 2] {
        if self.big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, kind: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let total = body.len() as u32 + 12;
        let (k, t) = (self.w32(kind), self.w32(total));
        self.b.extend_from_slice(&k);
        self.b.extend_from_slice(&t);
        self.b.extend_from_slice(&body);
        self.b.extend_from_slice(&t);
    }
    fn shb(&mut self) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.w32(0x1a2b_3c4d));
        body.extend_from_slice(&self.w16(1));
        body.extend_from_slice(&self.w16(0));
        body.extend_from_slice(&[0xff; 8]);
        self.block(0x0a0d_0d0a, &body);
    }
    fn idb(&mut self, link: u16, tsresol: Option<u8>, offset: Option<i64>) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.w16(link));
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&self.w32(262_144));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.w16(9));
            body.extend_from_slice(&self.w16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = offset {
            body.extend_from_slice(&self.w16(14));
            body.extend_from_slice(&self.w16(8));
            body.extend_from_slice(&if self.big {
                o.to_be_bytes()
            } else {
                o.to_le_bytes()
            });
        }
        body.extend_from_slice(&[0; 4]);
        self.block(1, &body);
    }
    fn epb(&mut self, iface: u32, ts: u64, data: &[u8], wire: u32) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.w32(iface));
        body.extend_from_slice(&self.w32((ts >> 32) as u32));
        body.extend_from_slice(&self.w32(ts as u32));
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(&self.w32(wire));
        body.extend_from_slice(data);
        self.block(6, &body);
    }
    fn spb(&mut self, data: &[u8]) {
        let mut body = Vec::new();
        body.extend_from_slice(&self.w32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(3, &body);
    }
}

#[test]
fn pcapng_sections_interfaces_and_resolutions() {
    for big in [false, true] {
        let mut ng = Ng { big, b: Vec::new() };
        ng.shb();
        ng.idb(1, None, None); // Ethernet, µs
        ng.idb(101, Some(9), None); // raw IP, ns
        ng.idb(113, Some(0x80 | 20), Some(-10)); // SLL, 2^-20 s, 10 s earlier
        ng.block(4, &[0; 8]); // a name resolution block: skipped
        ng.epb(0, 1_700_000_000_123_456, &frame(70, 1), 70);
        ng.epb(1, 1_700_000_000_123_456_789, &frame(90, 2), 1500);
        ng.epb(2, (1_700_000_000u64 << 20) + (1 << 19), &frame(50, 3), 50);
        ng.spb(&frame(33, 4));
        // A second section in the other byte order resets the interfaces.
        let mut second = Ng {
            big: !big,
            b: Vec::new(),
        };
        second.shb();
        second.idb(0, None, None); // NULL link
        second.epb(0, 1_700_000_001_000_000, &frame(44, 5), 44);
        ng.b.extend_from_slice(&second.b);
        let p = tmp(&format!("multi-{big}.pcapng"), &ng.b);
        let mut src = FileSource::open(&p).unwrap();
        assert_eq!((src.format, src.dlt), (FileFormat::Pcapng, 1));
        let mut got = Vec::new();
        let out = src.for_each(|l, ts, f, w| got.push((l, ts, f.len(), w)));
        assert_eq!(out.truncated, None);
        assert_eq!(
            got,
            [
                (LinkType::Ethernet, 1_700_000_000_123_456, 70, 70),
                (LinkType::Raw, 1_700_000_000_123_456, 90, 1500),
                (LinkType::LinuxSll, 1_699_999_990_500_000, 50, 50),
                (LinkType::Ethernet, 1_699_999_990_500_000, 33, 33),
                (LinkType::Null, 1_700_000_001_000_000, 44, 44),
            ]
        );
    }
    // A packet naming an interface never described, and a block whose
    // length is not a multiple of 4: reported, packets before kept.
    let mut ng = Ng {
        big: false,
        b: Vec::new(),
    };
    ng.shb();
    ng.idb(1, None, None);
    ng.epb(0, 5, &frame(60, 1), 60);
    let good = ng.b.clone();
    ng.epb(3, 6, &frame(60, 1), 60);
    let (got, out) = ours(&tmp("bad-iface.pcapng", &ng.b));
    assert_eq!(got.len(), 1);
    assert!(out.truncated.unwrap().contains("interface 3"));
    let mut odd = good.clone();
    odd.extend_from_slice(&6u32.to_le_bytes());
    odd.extend_from_slice(&13u32.to_le_bytes());
    odd.extend_from_slice(&[0; 5]);
    let (got, out) = ours(&tmp("odd.pcapng", &odd));
    assert_eq!(got.len(), 1);
    assert!(out.truncated.unwrap().contains("bad block"));
    let (got, out) = ours(&tmp("cut.pcapng", &good[..good.len() - 7]));
    assert!(got.is_empty());
    assert!(out.truncated.unwrap().starts_with("truncated dump file"));
}

#[test]
fn the_shard_hint_agrees_with_the_full_decode() {
    let files = crate::test_captures::every_capture("the_shard_hint_agrees_with_the_full_decode");
    let (mut hinted, mut fallback) = (0u64, 0u64);
    for f in &files {
        let mut src = FileSource::open(f).unwrap();
        src.for_each(|link, _, frame, _| {
            let hint = crate::decode::shard_hint(link, frame, &crate::decode::Tunnels::default());
            match (hint, crate::decode::decode(link, frame)) {
                (Some(h), Ok(p)) => {
                    let (key, _) =
                        crate::flow::FlowKey::of(p.src, p.sport, p.dst, p.dport, p.transport);
                    assert_eq!(h, key.shard_hash(), "{}", f.display());
                    hinted += 1;
                }
                (None, _) => fallback += 1,
                // A hinted frame the decoder refuses is counted by the
                // worker that gets it: fine, as long as it is counted once.
                (Some(_), Err(_)) => fallback += 1,
            }
        });
    }
    eprintln!("shard hint: {hinted} frames hinted, {fallback} decoded in full or refused");
    assert!(hinted > 10 * fallback);
}

#[test]
fn a_fifo_reads_as_the_file_does() {
    let frames: Vec<(u64, Vec<u8>)> = (0..3000u64)
        .map(|i| {
            (
                1_700_000_000_000_000 + i,
                frame(60 + (i as usize % 1400), i as u8),
            )
        })
        .collect();
    let bytes = classic(&frames, false, false);
    let file = tmp("fifo-src.pcap", &bytes);
    let fifo = file.with_file_name("capture.fifo");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: mkfifo not available");
        return;
    }
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(&fifo, &bytes).unwrap())
    };
    let (from_fifo, out) = ours(&fifo);
    writer.join().unwrap();
    let (from_file, _) = ours(&file);
    assert_eq!(out.truncated, None);
    assert_eq!(from_fifo.len(), 3000);
    assert!(from_fifo == from_file);
    // An empty regular file is still refused before reading.
    let empty = tmp("empty.pcap", &[]);
    let err = FileSource::open(&empty).err().unwrap();
    assert_eq!(err.reason, "empty file, not a capture");
}

#[test]
fn a_section_header_of_impossible_length_is_an_error() {
    for len in [0u32, 0xffff_ffff, 13] {
        let mut b = vec![0x0a, 0x0d, 0x0d, 0x0a];
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        b.extend_from_slice(&[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        b.extend_from_slice(&[0u8; 64]);
        let p = tmp(&format!("shb-{len}.pcapng"), &b);
        let err = FileSource::open(&p).err().expect("refused");
        assert!(
            err.reason.starts_with("not a usable pcapng capture"),
            "{len}: {}",
            err.reason
        );
    }
}

#[test]
fn zeros_after_the_records_stop_the_reading() {
    let frames: Vec<(u64, Vec<u8>)> = (0..2u64)
        .map(|i| (1_700_000_000_000_000 + i, frame(100, i as u8)))
        .collect();
    let mut bytes = classic(&frames, false, false);
    bytes.extend(std::iter::repeat_n(0u8, 4 << 20));
    let p = tmp("zeros.pcap", &bytes);
    let (pkts, out) = ours(&p);
    assert_eq!(pkts.len(), 2);
    assert_eq!(
        out.truncated.as_deref(),
        Some("bad record: zero length (what follows is not packet records)")
    );
    assert_eq!(out.offset, 24 + 2 * (16 + 100));
}
