//! Derives seed inputs for the fuzz targets from capture files:
//!
//!     cargo run -p capture --example fuzz_seeds -- OUT_DIR CAPTURE...
//!
//! writes into `OUT_DIR/<target>/`: each capture as it is
//! (`capture_file`), its first frames with the byte that picks their link
//! type (`decode`), and the payloads of each TCP flow, client then server,
//! behind the control bytes of the `http`, `h2` (the preface left off:
//! the target puts it back) and `tls` targets (a ClientHello also as the
//! CRYPTO frame of the `quic` target), and a capture's DTLS datagrams
//! behind those of the `dtls` target. Captures with
//! HTTP tunnels or protocol upgrades are left out until the known stack
//! overflow on them is fixed (issue 11).

use capture::decode::{decode, LinkType};
use capture::file::FileSource;
use capture::internals::flow::FlowKey;
use capture::internals::{h2, http, tls};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Frames per capture kept as decode seeds.
const FRAMES: usize = 24;
/// Bytes per direction kept of a stream.
const STREAM: usize = 4096;
/// Control bytes the `dtls` target reads before its data.
const DTLS_CONTROL: usize = 24;
/// Captures larger than this are not seeds themselves.
const MAX_CAPTURE: u64 = 256 << 10;
/// The decode target's link-type byte.
fn link_byte(link: LinkType) -> Option<u8> {
    Some(match link {
        LinkType::Ethernet => 0,
        LinkType::Null => 1,
        LinkType::Loop => 2,
        LinkType::Raw => 3,
        LinkType::LinuxSll => 4,
        LinkType::LinuxSll2 => 5,
        LinkType::CiscoHdlc => 6,
        LinkType::Fddi => 7,
        LinkType::Ppp => 8,
        LinkType::Ieee80211 => 9,
        LinkType::Radiotap => 10,
        LinkType::Nflog => 11,
        LinkType::Unsupported(_) => return None,
    })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, captures)) = args.split_first() else {
        eprintln!("usage: fuzz_seeds OUT_DIR CAPTURE...");
        std::process::exit(2);
    };
    let out = PathBuf::from(out);
    let mut written = 0;
    for c in captures {
        match seeds(Path::new(c), &out) {
            Ok(n) => written += n,
            Err(e) => eprintln!("{c}: {e}"),
        }
    }
    eprintln!("{written} seeds from {} captures", captures.len());
}

fn write(out: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

/// Payloads of one TCP flow: client (first sender) then server.
#[derive(Default)]
struct Streams {
    client: Option<(capture::internals::flow::Addr, u16)>,
    bytes: [Vec<u8>; 2],
}

fn seeds(path: &Path, out: &Path) -> Result<usize, String> {
    let whole = std::fs::read(path).map_err(|e| e.to_string())?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().replace(['/', ' '], "_"))
        .unwrap_or_default();
    let mut n = 0;
    if whole.len() as u64 <= MAX_CAPTURE {
        write(out, "capture_file", &stem, &whole).map_err(|e| e.to_string())?;
        n += 1;
    }
    let mut src = FileSource::open(path).map_err(|e| e.to_string())?;
    let mut frames = 0;
    let mut flows: HashMap<FlowKey, Streams> = HashMap::new();
    let mut dtls = vec![0u8; DTLS_CONTROL];
    let mut failed = None;
    src.for_each(|link, _, frame, _| {
        if frames < FRAMES {
            if let Some(b) = link_byte(link) {
                let mut seed = vec![b];
                seed.extend_from_slice(frame);
                if let Err(e) = write(out, "decode", &format!("{stem}.{frames}"), &seed) {
                    failed = Some(e.to_string());
                }
                frames += 1;
            }
        }
        let Ok(p) = decode(link, frame) else { return };
        if p.tcp.is_none() {
            // DTLS datagrams (a record header of a DTLS version), one
            // after the other.
            if let [20..=63, 0xfe, ..] = p.payload {
                if dtls.len() + p.payload.len() <= DTLS_CONTROL + STREAM {
                    dtls.extend_from_slice(p.payload);
                }
            }
            return;
        }
        if p.payload.is_empty() {
            return;
        }
        let (key, _) = FlowKey::of(p.src, p.sport, p.dst, p.dport, p.transport);
        let s = flows.entry(key).or_default();
        let from = (p.src, p.sport);
        let dir = usize::from(*s.client.get_or_insert(from) != from);
        if let Some(buf) = s.bytes.get_mut(dir) {
            let room = STREAM.saturating_sub(buf.len());
            buf.extend_from_slice(
                p.payload
                    .get(..room.min(p.payload.len()))
                    .unwrap_or_default(),
            );
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    n += frames;
    if dtls.len() > DTLS_CONTROL {
        write(out, "dtls", &stem, &dtls).map_err(|e| e.to_string())?;
        n += 1;
    }
    for (i, s) in flows.values().enumerate() {
        let [c, sv] = &s.bytes;
        let (target, c, control) = if let Some(frames) = c.strip_prefix(h2::PREFACE) {
            ("h2", frames, 9)
        } else if http::starts_message(true, c) {
            ("http", c.as_slice(), 8)
        } else if tls::starts_record(c) {
            ("tls", c.as_slice(), 8)
        } else {
            continue;
        };
        // The targets split their data at len * byte / 256.
        let total = c.len() + sv.len();
        let split = (c.len() * 256).div_ceil(total.max(1)).min(255) as u8;
        let mut seed = vec![0; control];
        if let Some(first) = seed.first_mut() {
            *first = split;
        }
        seed.extend_from_slice(c);
        seed.extend_from_slice(sv);
        write(out, target, &format!("{stem}.{i}"), &seed).map_err(|e| e.to_string())?;
        n += 1;
        if let Some(q) = quic_seed(c) {
            write(out, "quic", &format!("{stem}.{i}"), &q).map_err(|e| e.to_string())?;
            n += 1;
        }
    }
    Ok(n)
}

/// A seed of the `quic` target from a TLS client stream: its first
/// handshake record's body (the ClientHello) as one CRYPTO frame, the
/// frames of one client Initial (control bytes: version 1, no cuts).
fn quic_seed(client: &[u8]) -> Option<Vec<u8>> {
    let [22, 3, _, hi, lo, rest @ ..] = client else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo]));
    let hello = rest.get(..len)?;
    let len = u16::try_from(hello.len()).ok().filter(|l| *l < 0x4000)?;
    let mut seed = vec![0u8; 12];
    seed.extend_from_slice(&[0x06, 0x00]);
    seed.extend_from_slice(&(0x4000 | len).to_be_bytes());
    seed.extend_from_slice(hello);
    Some(seed)
}
