//! QUIC (RFC 9000, versions 1 and 2 and the late drafts): the Initial
//! packets decrypted to read the TLS hellos they carry, and every datagram
//! counted as the flow's HTTPS volume.
//!
//! Initial packets are protected with keys anyone can derive from the
//! client's first Destination Connection ID (RFC 9001 5.2, RFC 9369 3.3):
//! header protection is removed, the payload opened with AES-128-GCM, and
//! the CRYPTO frames put back in order until each side's hello is whole
//! (a ClientHello often spans two packets, its frames shuffled). The hello
//! is then read as on TCP (server name, ALPN, versions, JA4 with `q`).
//!
//! Volume: every datagram's bytes count as application bytes of the TLS
//! facts, as TLS records do on TCP; those of long-header packets other
//! than 0-RTT (Initial, Handshake, Retry, Version Negotiation) are the
//! handshake part, which rules leave out of the exchange itself.

use super::hello;
use super::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use super::tls::TlsCounters;
use crate::record::FlowRecord;
use crate::stats::Stats;
use model::flow::TlsInfo;
use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

/// The parser's registration.
pub const SPEC: ParserSpec = ParserSpec {
    name: "quic",
    transports: Transports::Udp,
    probe,
    late_probe: None,
    new: |limits| Box::new(Quic::new(limits.max_tls_hello)),
};

/// Initial packets opened per flow at most (each side's hello takes one to
/// three; the rest of a flow's Initials are only counted).
const MAX_OPENED: u8 = 12;
/// Separate pieces a CRYPTO stream may be in before it is given up.
const MAX_PIECES: usize = 16;
/// Longest connection ID (RFC 9000 17.2).
const MAX_CID: usize = 20;

/// The QUIC versions read, with what their Initial protection differs by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// Version 1 (RFC 9000) and drafts 33 and 34.
    V1,
    /// Version 2 (RFC 9369).
    V2,
    /// Drafts 29 to 32.
    Draft29,
}

impl Version {
    fn of(v: u32) -> Option<(Version, u32)> {
        let known = match v {
            0x0000_0001 | 0xff00_0021 | 0xff00_0022 => Version::V1,
            0x6b33_43cf => Version::V2,
            0xff00_001d..=0xff00_0020 => Version::Draft29,
            _ => return None,
        };
        Some((known, v))
    }

    fn salt(self) -> &'static [u8] {
        match self {
            Version::V1 => &[
                0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8,
                0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
            ],
            Version::V2 => &[
                0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26,
                0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
            ],
            Version::Draft29 => &[
                0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61,
                0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99,
            ],
        }
    }

    /// Labels of the packet key, IV and header-protection key.
    fn labels(self) -> [&'static [u8]; 3] {
        match self {
            Version::V2 => [b"quicv2 key", b"quicv2 iv", b"quicv2 hp"],
            _ => [b"quic key", b"quic iv", b"quic hp"],
        }
    }

    /// The long-header packet type of each kind (version 2 moved them).
    fn kind(self, bits: u8) -> Kind {
        let bits = if self == Version::V2 {
            (bits + 3) % 4
        } else {
            bits
        };
        match bits {
            0 => Kind::Initial,
            1 => Kind::ZeroRtt,
            2 => Kind::Handshake,
            _ => Kind::Retry,
        }
    }

    /// Printed name: "1", "2", or the draft's number.
    fn name(v: u32) -> String {
        match v {
            1 => "1".into(),
            0x6b33_43cf => "2".into(),
            0xff00_0000..=0xff00_00ff => format!("draft-{}", v & 0xff),
            _ => format!("0x{v:08x}"),
        }
    }
}

/// Long-header packet kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    ZeroRtt,
    Handshake,
    Retry,
}

/// A long header's first byte (form and fixed bits) and a version read:
/// the start of a client's or server's first datagram.
fn probe(_to_server: bool, first: &[u8]) -> Probe {
    match first {
        [b, v0, v1, v2, v3, ..] if b & 0xc0 == 0xc0 => {
            let v = u32::from_be_bytes([*v0, *v1, *v2, *v3]);
            match Version::of(v) {
                Some((known, _)) if known.kind((b >> 4) & 3) == Kind::Initial => Probe::Yes,
                _ => Probe::No,
            }
        }
        _ => Probe::No,
    }
}

/// Keys of one direction's Initial packets.
struct DirectionKeys {
    packet: LessSafeKey,
    iv: [u8; 12],
    header: hp::HeaderProtectionKey,
}

impl std::fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectionKeys")
    }
}

/// `len` as ring's HKDF output length.
struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label of TLS 1.3 with an empty context (RFC 8446 7.1).
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let len = (out.len() as u16).to_be_bytes();
    let label_len = [(6 + label.len()) as u8];
    let info: [&[u8]; 5] = [&len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len())).ok()?.fill(out).ok()
}

impl DirectionKeys {
    fn derive(version: Version, initial: &hkdf::Prk, side: &[u8]) -> Option<DirectionKeys> {
        let mut secret = [0u8; 32];
        expand_label(initial, side, &mut secret)?;
        let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, &secret);
        let [key_label, iv_label, hp_label] = version.labels();
        let (mut key, mut iv, mut hpk) = ([0u8; 16], [0u8; 12], [0u8; 16]);
        expand_label(&prk, key_label, &mut key)?;
        expand_label(&prk, iv_label, &mut iv)?;
        expand_label(&prk, hp_label, &mut hpk)?;
        Some(DirectionKeys {
            packet: LessSafeKey::new(UnboundKey::new(&aead::AES_128_GCM, &key).ok()?),
            iv,
            header: hp::HeaderProtectionKey::new(&hp::AES_128, &hpk).ok()?,
        })
    }
}

/// Both directions' Initial keys, for one client Destination Connection ID.
#[derive(Debug)]
struct InitialKeys {
    dcid: ([u8; MAX_CID], u8),
    dirs: [DirectionKeys; 2],
}

impl InitialKeys {
    fn derive(version: Version, dcid: &[u8]) -> Option<InitialKeys> {
        let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, version.salt()).extract(dcid);
        let client = DirectionKeys::derive(version, &initial, b"client in")?;
        let server = DirectionKeys::derive(version, &initial, b"server in")?;
        let mut id = [0u8; MAX_CID];
        id.get_mut(..dcid.len())?.copy_from_slice(dcid);
        Some(InitialKeys {
            dcid: (id, dcid.len() as u8),
            dirs: [client, server],
        })
    }

    fn is_for(&self, dcid: &[u8]) -> bool {
        self.dcid.0.get(..usize::from(self.dcid.1)) == Some(dcid)
    }
}

/// One direction's CRYPTO stream, put back in order up to the end of its
/// first handshake message.
#[derive(Debug, Default)]
struct Crypto {
    buf: Vec<u8>,
    /// Filled ranges, sorted and apart.
    pieces: Vec<(usize, usize)>,
    /// The first message was read, or given up on.
    done: bool,
}

impl Crypto {
    /// Takes the frame's bytes at `offset`; the whole first message once
    /// it is there. `Err` when the stream is given up (too long, too
    /// scattered).
    fn take(&mut self, offset: usize, data: &[u8], cap: usize) -> Result<Option<Vec<u8>>, ()> {
        let end = offset.checked_add(data.len()).ok_or(())?;
        if end > cap {
            return Err(());
        }
        if self.buf.len() < end {
            self.buf.resize(end, 0);
        }
        self.buf
            .get_mut(offset..end)
            .ok_or(())?
            .copy_from_slice(data);
        self.fill(offset, end)?;
        let filled = match self.pieces.first() {
            Some(&(0, e)) => e,
            _ => return Ok(None),
        };
        let have = self.buf.get(..filled).unwrap_or_default();
        match hello::message_len(have) {
            Some(need) if need <= filled => {
                self.buf.truncate(need);
                self.pieces.clear();
                Ok(Some(std::mem::take(&mut self.buf)))
            }
            Some(need) if need > cap => Err(()),
            _ => Ok(None),
        }
    }

    /// Marks `start..end` filled, merging with the pieces it touches.
    fn fill(&mut self, start: usize, end: usize) -> Result<(), ()> {
        let (mut s, mut e) = (start, end);
        self.pieces.retain(|&(a, b)| {
            let apart = b < s || a > e;
            if !apart {
                s = s.min(a);
                e = e.max(b);
            }
            apart
        });
        let at = self.pieces.partition_point(|&(a, _)| a < s);
        self.pieces.insert(at, (s, e));
        if self.pieces.len() > MAX_PIECES {
            return Err(());
        }
        Ok(())
    }
}

/// QUIC state of one flow.
#[derive(Debug, Default)]
pub struct Quic {
    info: TlsInfo,
    counters: TlsCounters,
    /// The version of the first long header (raw).
    version: Option<u32>,
    keys: Option<Box<InitialKeys>>,
    crypto: [Crypto; 2],
    /// Largest packet number opened in the Initial space, per direction.
    largest: [Option<u64>; 2],
    opened: u8,
    initials: u64,
    undecrypted: u64,
    /// Decrypted payload and its unprotected header, reused.
    scratch: (Vec<u8>, Vec<u8>),
    max_hello: usize,
}

impl Quic {
    /// A parser keeping at most `max_hello` bytes of a hello.
    pub fn new(max_hello: usize) -> Self {
        Quic {
            max_hello,
            ..Quic::default()
        }
    }

    /// What was learnt so far.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// One datagram of one direction: counted, and its Initial packets
    /// read while a hello is missing.
    pub fn datagram(&mut self, to_server: bool, mut d: &[u8]) {
        let total = d.len() as u64;
        let mut handshake = 0u64;
        // Coalesced packets: long headers first, each with its length; a
        // short-header packet runs to the end of the datagram.
        while let Some(&first) = d.first() {
            if first & 0x80 == 0 {
                break;
            }
            let Some(p) = LongHeader::parse(d) else {
                handshake += d.len() as u64;
                self.counters.parse_errors += 1;
                break;
            };
            let (packet, rest) = d.split_at(p.end.min(d.len()));
            if p.kind != Some(Kind::ZeroRtt) {
                handshake += packet.len() as u64;
            }
            self.version.get_or_insert(p.version);
            if p.kind == Some(Kind::Initial) {
                self.initial(to_server, packet, &p);
            }
            d = rest;
        }
        let (app, hs) = if to_server {
            (
                &mut self.info.app_bytes_out,
                &mut self.info.handshake_bytes_out,
            )
        } else {
            (
                &mut self.info.app_bytes_in,
                &mut self.info.handshake_bytes_in,
            )
        };
        *app += total;
        *hs += handshake;
    }

    /// An Initial packet: opened while its side's hello is missing.
    fn initial(&mut self, to_server: bool, packet: &[u8], h: &LongHeader<'_>) {
        self.initials += 1;
        let idx = usize::from(!to_server);
        if self.crypto.iter().all(|c| c.done) || self.opened >= MAX_OPENED {
            return;
        }
        let Some((version, _)) = Version::of(h.version) else {
            return;
        };
        // The client's Destination Connection ID keys both directions; a
        // new one (after a Retry) keys what follows.
        if to_server && !self.keys.as_ref().is_some_and(|k| k.is_for(h.dcid)) {
            self.keys = InitialKeys::derive(version, h.dcid).map(Box::new);
        }
        if self.crypto.get(idx).is_none_or(|c| c.done) {
            return;
        }
        let Some(keys) = self.keys.as_ref().and_then(|k| k.dirs.get(idx)) else {
            return;
        };
        self.opened += 1;
        let largest = self.largest.get(idx).copied().flatten();
        let Some(pn) = open(keys, packet, h.pn_offset, largest, &mut self.scratch) else {
            self.undecrypted += 1;
            return;
        };
        if let Some(l) = self.largest.get_mut(idx) {
            *l = Some(l.map_or(pn, |v| v.max(pn)));
        }
        let scratch = std::mem::take(&mut self.scratch);
        self.frames(idx, &scratch.0);
        self.scratch = scratch;
    }

    /// The frames of an opened Initial payload: CRYPTO data gathered, the
    /// frames an Initial may hold skipped, anything else ends the packet.
    fn frames(&mut self, idx: usize, mut p: &[u8]) {
        while let Some(&t) = p.first() {
            let r = match t {
                0x00 | 0x01 => p.get(1..),
                0x02 | 0x03 => skip_ack(p.get(1..).unwrap_or_default(), t == 0x03),
                0x06 => self.crypto_frame(idx, p.get(1..).unwrap_or_default()),
                0x1c | 0x1d => skip_close(p.get(1..).unwrap_or_default(), t == 0x1c),
                _ => None,
            };
            let Some(rest) = r else {
                self.counters.parse_errors += 1;
                return;
            };
            p = rest;
        }
    }

    fn crypto_frame<'a>(&mut self, idx: usize, p: &'a [u8]) -> Option<&'a [u8]> {
        let (offset, p) = varint(p)?;
        let (len, p) = varint(p)?;
        let len = usize::try_from(len).ok()?;
        let data = p.get(..len)?;
        let rest = p.get(len..)?;
        let c = self.crypto.get_mut(idx)?;
        if c.done {
            return Some(rest);
        }
        match c.take(usize::try_from(offset).ok()?, data, self.max_hello) {
            Ok(Some(msg)) => {
                c.done = true;
                hello::read(
                    &mut self.info,
                    &mut self.counters,
                    &msg,
                    super::ja4::Carrier::Quic,
                );
            }
            Ok(None) => {}
            Err(()) => {
                *c = Crypto {
                    done: true,
                    ..Crypto::default()
                };
                self.counters.parse_errors += 1;
            }
        }
        Some(rest)
    }
}

/// The fields of a long header that say where the packet ends and where
/// its packet number starts.
struct LongHeader<'a> {
    version: u32,
    /// `None` for Version Negotiation.
    kind: Option<Kind>,
    dcid: &'a [u8],
    /// Offset of the packet number (Initial, 0-RTT, Handshake).
    pn_offset: usize,
    /// Offset just past the packet.
    end: usize,
}

impl<'a> LongHeader<'a> {
    fn parse(d: &'a [u8]) -> Option<LongHeader<'a>> {
        let (&first, rest) = d.split_first()?;
        let version = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        let (&dcid_len, rest) = rest.get(4..)?.split_first()?;
        let dcid = rest.get(..usize::from(dcid_len))?;
        let (&scid_len, rest) = rest.get(usize::from(dcid_len)..)?.split_first()?;
        let mut rest = rest.get(usize::from(scid_len)..)?;
        let whole = |kind| LongHeader {
            version,
            kind,
            dcid,
            pn_offset: d.len(),
            end: d.len(),
        };
        if version == 0 {
            return Some(whole(None));
        }
        // An unknown version's packets cannot be told apart: the rest of
        // the datagram is one.
        let Some((known, _)) = Version::of(version) else {
            return Some(whole(None));
        };
        let kind = known.kind((first >> 4) & 3);
        if kind == Kind::Retry {
            return Some(whole(Some(kind)));
        }
        if kind == Kind::Initial {
            let (token_len, r) = varint(rest)?;
            rest = r.get(usize::try_from(token_len).ok()?..)?;
        }
        let (length, r) = varint(rest)?;
        let pn_offset = d.len() - r.len();
        let end = pn_offset.checked_add(usize::try_from(length).ok()?)?;
        (end <= d.len()).then_some(LongHeader {
            version,
            kind: Some(kind),
            dcid,
            pn_offset,
            end,
        })
    }
}

/// Removes header protection and opens the packet's payload into the
/// first buffer (the header goes to the second); the full packet number.
fn open(
    keys: &DirectionKeys,
    packet: &[u8],
    pn_offset: usize,
    largest: Option<u64>,
    (out, header): &mut (Vec<u8>, Vec<u8>),
) -> Option<u64> {
    let sample = packet.get(pn_offset + 4..pn_offset + 20)?;
    let mask = keys.header.new_mask(sample).ok()?;
    let [m0, pn_mask @ ..] = mask;
    let first = packet.first()? ^ (m0 & 0x0f);
    let pn_len = usize::from(first & 0x03) + 1;
    let header_len = pn_offset + pn_len;
    header.clear();
    header.extend_from_slice(packet.get(..header_len)?);
    let h = header.as_mut_slice();
    *h.first_mut()? = first;
    let mut truncated = 0u64;
    for (b, m) in h.get_mut(pn_offset..)?.iter_mut().zip(pn_mask) {
        *b ^= m;
        truncated = truncated << 8 | u64::from(*b);
    }
    let pn = packet_number(largest, truncated, pn_len * 8);
    let mut nonce = keys.iv;
    for (n, p) in nonce.iter_mut().skip(4).zip(pn.to_be_bytes()) {
        *n ^= p;
    }
    out.clear();
    out.extend_from_slice(packet.get(header_len..)?);
    let plain = keys
        .packet
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&*h),
            out.as_mut_slice(),
        )
        .ok()?
        .len();
    out.truncate(plain);
    Some(pn)
}

/// The full packet number nearest the one expected after `largest`
/// (RFC 9000 A.3).
fn packet_number(largest: Option<u64>, truncated: u64, bits: usize) -> u64 {
    let expected = largest.map_or(0, |l| l + 1);
    let win = 1u64 << bits;
    let half = win / 2;
    let candidate = (expected & !(win - 1)) | truncated;
    if candidate.saturating_add(half) <= expected && candidate < (1u64 << 62) - win {
        candidate + win
    } else if candidate > expected.saturating_add(half) && candidate >= win {
        candidate - win
    } else {
        candidate
    }
}

/// A variable-length integer (RFC 9000 16) and the bytes after it.
fn varint(p: &[u8]) -> Option<(u64, &[u8])> {
    let first = *p.first()?;
    let len = 1usize << (first >> 6);
    let bytes = p.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for b in bytes.iter().skip(1) {
        v = v << 8 | u64::from(*b);
    }
    Some((v, p.get(len..)?))
}

/// Skips an ACK frame's fields (its ranges bounded by the bytes there).
fn skip_ack(p: &[u8], ecn: bool) -> Option<&[u8]> {
    let (_, p) = varint(p)?;
    let (_, p) = varint(p)?;
    let (ranges, p) = varint(p)?;
    let (_, mut p) = varint(p)?;
    for _ in 0..ranges {
        let (_, r) = varint(p)?;
        let (_, r) = varint(r)?;
        p = r;
    }
    if ecn {
        for _ in 0..3 {
            p = varint(p)?.1;
        }
    }
    Some(p)
}

/// Skips a CONNECTION_CLOSE frame.
fn skip_close(p: &[u8], transport: bool) -> Option<&[u8]> {
    let (_, mut p) = varint(p)?;
    if transport {
        p = varint(p)?.1;
    }
    let (len, p) = varint(p)?;
    p.get(usize::try_from(len).ok()?..)
}

impl StreamParser for Quic {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        self.datagram(to_server, chunk);
        Verdict::Continue
    }

    fn gap(&mut self, _to_server: bool, _len: u64) {}

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        self.counters.add_to(stats);
        stats.quic_initials += self.initials;
        stats.quic_undecrypted += self.undecrypted;
        if let Some(v) = self.version {
            rec.extra
                .insert("quic", serde_json::json!({ "version": Version::name(v) }));
        }
        rec.tls = Some(Box::new(self.info));
    }
}

#[cfg(test)]
mod tests;
