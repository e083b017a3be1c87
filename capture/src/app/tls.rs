//! TLS on reassembled streams, recognised by its record header: the hello
//! fields (SNI, ALPN, offered and chosen versions) and application-data
//! bytes each way, without decryption.
//!
//! Records are followed by their 5-byte headers; only handshake bytes are
//! copied, only until each side's hello is parsed, and never beyond a cap.

use super::hello;
use super::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use crate::record::FlowRecord;
use crate::stats::Stats;
pub use model::flow::TlsInfo;

const CONTENT_HANDSHAKE: u8 = 22;
const CONTENT_APPLICATION_DATA: u8 = 23;
/// Largest record a peer may send (2^14 plus expansion, RFC 8446 5.2).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// Counters for statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsCounters {
    /// ClientHellos parsed.
    pub client_hellos: u64,
    /// Records or hellos that did not parse.
    pub parse_errors: u64,
}

impl TlsCounters {
    /// Adds these to the run's statistics (TLS, QUIC and DTLS alike).
    pub fn add_to(&self, stats: &mut Stats) {
        stats.tls_client_hellos += self.client_hellos;
        stats.tls_parse_errors += self.parse_errors;
    }
}

#[derive(Debug, Default)]
struct Direction {
    header: [u8; 5],
    header_len: u8,
    /// Body bytes left in the current record.
    left: usize,
    content: u8,
    records: u64,
    /// Application-data records started.
    app_records: u64,
    /// The current application-data record is TLS 1.3's encrypted
    /// handshake.
    handshake: bool,
    /// Handshake bytes kept until this side's hello is parsed.
    hello: Vec<u8>,
    hello_done: bool,
    lost: bool,
}

/// TLS state of one connection.
#[derive(Debug, Default)]
pub struct Tls {
    /// What was learnt so far.
    pub info: TlsInfo,
    /// Counters.
    pub counters: TlsCounters,
    dirs: [Direction; 2],
    max_hello: usize,
}

/// True when `data` starts with a TLS record header (or an SSLv2
/// ClientHello); shorter input counts when it could be the start of one.
pub fn starts_record(data: &[u8]) -> bool {
    match data {
        [] => false,
        [t] => (20..=23).contains(t),
        [t, 3, ..] if (20..=23).contains(t) => data.get(2).is_none_or(|minor| *minor <= 4),
        // SSLv2 ClientHello: 2-byte length with the top bit set, type 1.
        [h, _, 1, 0 | 3, ..] if h & 0x80 != 0 => true,
        _ => false,
    }
}

/// Names a TLS protocol version as logs usually do.
pub fn version_name(v: u16) -> String {
    match v {
        0x0002 => "SSL 2.0".into(),
        0x0300 => "SSL 3.0".into(),
        0x0301 => "TLS 1.0".into(),
        0x0302 => "TLS 1.1".into(),
        0x0303 => "TLS 1.2".into(),
        0x0304 => "TLS 1.3".into(),
        0x7f00..=0x7fff => format!("TLS 1.3 draft {}", v & 0xff),
        0xfeff => "DTLS 1.0".into(),
        0xfefd => "DTLS 1.2".into(),
        0xfefc => "DTLS 1.3".into(),
        _ => format!("0x{v:04x}"),
    }
}

impl Tls {
    /// A parser keeping at most `max_hello` bytes of a hello.
    pub fn new(max_hello: usize) -> Self {
        Tls {
            max_hello,
            ..Tls::default()
        }
    }

    /// Feeds contiguous bytes of one direction.
    pub fn data(&mut self, to_server: bool, mut chunk: &[u8]) {
        let idx = usize::from(!to_server);
        while !chunk.is_empty() {
            let Some(d) = self.dirs.get_mut(idx) else {
                return;
            };
            if d.lost {
                return;
            }
            if d.left == 0 {
                // Gather the 5-byte header.
                let want = 5 - usize::from(d.header_len);
                let take = want.min(chunk.len());
                let (head, rest) = chunk.split_at(take);
                if let Some(dst) = d
                    .header
                    .get_mut(usize::from(d.header_len)..usize::from(d.header_len) + take)
                {
                    dst.copy_from_slice(head);
                }
                d.header_len += take as u8;
                chunk = rest;
                if d.header_len < 5 {
                    return;
                }
                d.header_len = 0;
                self.start_record(idx, to_server);
                continue;
            }
            let take = d.left.min(chunk.len());
            let (body, rest) = chunk.split_at(take);
            d.left -= take;
            chunk = rest;
            if d.content == CONTENT_APPLICATION_DATA {
                self.count_app(to_server, take);
                continue;
            }
            if d.content == CONTENT_HANDSHAKE && !d.hello_done {
                if d.hello.len() + body.len() > self.max_hello {
                    d.hello_done = true;
                    d.hello = Vec::new();
                    self.counters.parse_errors += 1;
                } else {
                    d.hello.extend_from_slice(body);
                    self.try_hello(idx);
                }
            }
        }
    }

    fn start_record(&mut self, idx: usize, to_server: bool) {
        let Some(d) = self.dirs.get_mut(idx) else {
            return;
        };
        let [t, major, minor, hi, lo] = d.header;
        let first = d.records == 0;
        d.records += 1;
        if first && t & 0x80 != 0 && minor == 1 {
            // SSLv2-framed ClientHello: [0x80 | len_hi, len_lo, type 1,
            // version (2 bytes)], the rest of the hello follows.
            let len = usize::from(t & 0x7f) << 8 | usize::from(major);
            d.left = len.saturating_sub(3);
            d.content = 0;
            d.hello_done = true;
            if to_server {
                let version = u16::from_be_bytes([hi, lo]);
                self.info.client_versions = vec![version_name(version)];
                self.counters.client_hellos += 1;
            }
            return;
        }
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if !(20..=24).contains(&t) || major != 3 || minor > 4 || len > MAX_RECORD {
            d.lost = true;
            self.counters.parse_errors += 1;
            return;
        }
        d.content = t;
        d.left = len;
        if t == CONTENT_APPLICATION_DATA {
            self.mark_handshake(idx);
        }
    }

    /// In TLS 1.3 the handshake after the ServerHello travels in
    /// application-data records: the server's until the client sends its
    /// first, and the client's first (its Finished).
    fn mark_handshake(&mut self, idx: usize) {
        let tls13 = self
            .info
            .version
            .as_deref()
            .is_some_and(|v| v.starts_with("TLS 1.3"));
        let client_records = self.dirs.first().map_or(0, |c| c.app_records);
        let Some(d) = self.dirs.get_mut(idx) else {
            return;
        };
        d.handshake = tls13 && client_records == 0;
        d.app_records += 1;
    }

    /// Application-data bytes of one direction, counted as they arrive
    /// (never the record's declared length: a record cut by the end of the
    /// capture counts what was sent of it).
    fn count_app(&mut self, to_server: bool, n: usize) {
        let idx = usize::from(!to_server);
        let handshake = self.dirs.get(idx).is_some_and(|d| d.handshake);
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
        *app += n as u64;
        if handshake {
            *hs += n as u64;
        }
    }

    /// Parses the first handshake message once all of it is buffered.
    fn try_hello(&mut self, idx: usize) {
        let Some(d) = self.dirs.get_mut(idx) else {
            return;
        };
        let Some(need) = hello::message_len(&d.hello) else {
            return;
        };
        if d.hello.len() < need {
            return;
        }
        let msg = std::mem::take(&mut d.hello);
        d.hello_done = true;
        hello::read(
            &mut self.info,
            &mut self.counters,
            msg.get(..need).unwrap_or(&[]),
            super::ja4::Carrier::Tcp,
        );
    }

    /// `len` bytes of one direction are missing: record framing is lost.
    pub fn gap(&mut self, to_server: bool, len: u64) {
        let idx = usize::from(!to_server);
        if let Some(d) = self.dirs.get_mut(idx) {
            if (len as usize) < d.left && d.content != CONTENT_HANDSHAKE {
                d.left -= len as usize;
                // Sent inside the record, only not captured (as HTTP bodies
                // count gaps); the flow's missed bytes say so.
                if d.content == CONTENT_APPLICATION_DATA {
                    self.count_app(to_server, len as usize);
                }
            } else {
                d.lost = true;
            }
        }
    }
}

/// TLS as a registered parser: from a stream's first bytes, or later
/// inside a stream no parser took (a STARTTLS upgrade).
pub const SPEC: ParserSpec = ParserSpec {
    name: "tls",
    transports: Transports::Tcp,
    probe,
    late_probe: Some(late_probe),
    new: |limits| Box::new(Tls::new(limits.max_tls_hello)),
};

/// A record header settles it from its first 3 bytes.
fn probe(_to_server: bool, first: &[u8]) -> Probe {
    if !starts_record(first) {
        Probe::No
    } else if first.len() >= 3 {
        Probe::Yes
    } else {
        Probe::NeedMore
    }
}

/// A handshake record starting a chunk of an unrecognised stream.
fn late_probe(_to_server: bool, chunk: &[u8]) -> bool {
    chunk.len() >= 3 && starts_record(chunk) && chunk.first() == Some(&CONTENT_HANDSHAKE)
}

impl StreamParser for Tls {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn data(&mut self, to_server: bool, chunk: &[u8]) -> Verdict {
        Tls::data(self, to_server, chunk);
        Verdict::Continue
    }

    fn gap(&mut self, to_server: bool, len: u64) {
        Tls::gap(self, to_server, len);
    }

    fn record(self: Box<Self>, rec: &mut FlowRecord, stats: &mut Stats) {
        self.counters.add_to(stats);
        rec.tls = Some(Box::new(self.info));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_start_probe() {
        assert!(starts_record(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(starts_record(&[0x17, 0x03, 0x03]));
        assert!(starts_record(&[0x16]));
        assert!(!starts_record(b"GET / HTTP/1.1"));
        assert!(!starts_record(&[0x16, 0x03, 0x09]));
        assert!(starts_record(&[0x80, 0x2e, 0x01, 0x03, 0x01]));
    }

    #[test]
    fn grease_and_names() {
        use super::super::ja4::is_grease;
        assert!(is_grease(0x0a0a));
        assert!(is_grease(0xfafa));
        assert!(!is_grease(0x0304));
        assert_eq!(version_name(0x0303), "TLS 1.2");
        assert_eq!(version_name(0x0301), "TLS 1.0");
    }

    /// A drafts' ServerHello record: `version` in the hello, a random,
    /// then `rest` (cipher suite and extensions).
    fn draft_hello(version: [u8; 2], record_version: u8, rest: &[u8]) -> Tls {
        let mut body = version.to_vec();
        body.extend_from_slice(&[7u8; 32]);
        body.extend_from_slice(rest);
        let mut hs = vec![0x02, 0, 0, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 0x03, record_version, 0, hs.len() as u8];
        rec.extend_from_slice(&hs);
        let mut t = Tls::new(1 << 16);
        t.data(false, &rec);
        t
    }

    #[test]
    fn a_draft_server_hello_names_its_version() {
        // Draft 18: version 0x7f12 in the hello, then random, cipher suite
        // and extensions (none).
        let t = draft_hello([0x7f, 0x12], 0x03, &[0x13, 0x01, 0x00, 0x00]);
        assert_eq!(t.info.version.as_deref(), Some("TLS 1.3 draft 18"));
    }

    /// Drafts 19 to 21, and the early ones (0x0304 in the hello), have
    /// draft 18's hello: each is named, its cipher suite read, and no parse
    /// error counted.
    #[test]
    fn every_draft_server_hello_names_its_version() {
        for (hello, name) in [
            ([0x7f, 0x0e], "TLS 1.3 draft 14"),
            ([0x7f, 0x13], "TLS 1.3 draft 19"),
            ([0x7f, 0x15], "TLS 1.3 draft 21"),
            ([0x03, 0x04], "TLS 1.3"),
        ] {
            // TLS_AES_128_GCM_SHA256, then one empty extension (type 0x000a).
            let rest = [0x13, 0x01, 0x00, 0x04, 0x00, 0x0a, 0x00, 0x00];
            let t = draft_hello(hello, 0x01, &rest);
            assert_eq!(t.info.version.as_deref(), Some(name));
            assert_eq!(t.info.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
            assert_eq!(t.counters.parse_errors, 0, "{name}");
        }
    }

    #[test]
    fn tls13_encrypted_handshake_is_told_apart() {
        let app = |n: usize| {
            let mut r = vec![0x17, 0x03, 0x03];
            r.extend_from_slice(&(n as u16).to_be_bytes());
            r.extend(std::iter::repeat_n(0u8, n));
            r
        };
        let mut t = Tls::new(1 << 16);
        // After a ServerHello choosing TLS 1.3: the server's encrypted
        // flight, the client's Finished, then the exchange each way.
        t.info.version = Some("TLS 1.3".into());
        t.data(false, &[app(2000), app(800)].concat());
        t.data(true, &app(53));
        t.data(true, &app(300));
        t.data(false, &app(200));
        assert_eq!((t.info.app_bytes_out, t.info.app_bytes_in), (353, 3000));
        assert_eq!(
            (t.info.handshake_bytes_out, t.info.handshake_bytes_in),
            (53, 2800)
        );
        // TLS 1.2: the handshake is not in application-data records.
        let mut t = Tls::new(1 << 16);
        t.info.version = Some("TLS 1.2".into());
        t.data(false, &app(200));
        t.data(true, &app(300));
        assert_eq!(
            (t.info.handshake_bytes_out, t.info.handshake_bytes_in),
            (0, 0)
        );
    }

    #[test]
    fn application_data_counted_across_splits() {
        let mut t = Tls::new(1 << 16);
        let rec = [0x17, 0x03, 0x03, 0x00, 0x04, 1, 2, 3, 4];
        let two: Vec<u8> = rec.iter().chain(rec.iter()).copied().collect();
        for piece in two.chunks(3) {
            t.data(true, piece);
        }
        assert_eq!(t.info.app_bytes_out, 8);
        t.data(false, &rec);
        assert_eq!(t.info.app_bytes_in, 4);
        assert_eq!(t.counters.parse_errors, 0);
    }

    #[test]
    fn record_cut_by_the_capture_counts_what_was_seen() {
        let mut t = Tls::new(1 << 16);
        // A record declaring 18,432 bytes of which 67 were captured.
        let mut rec = vec![0x17, 0x03, 0x03, 0x48, 0x00];
        rec.extend(std::iter::repeat_n(7u8, 67));
        t.data(true, &rec);
        assert_eq!(t.info.app_bytes_out, 67);
        // A gap inside the record counts as sent, then the rest arrives.
        t.gap(true, 100);
        t.data(true, &[1u8; 33]);
        assert_eq!(t.info.app_bytes_out, 200);
    }
}
