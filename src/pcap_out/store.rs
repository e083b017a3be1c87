//! The frames kept for `--pcap-out`, and the pcap written per alert.

use super::FrameCopy;
use capture::decode::{decode, LinkType};
use rules::alert::AlertFlow;
use rules::Alert;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// A flow's two ends and transport, the same whichever way a frame went.
type Key = (bool, (IpAddr, u16), (IpAddr, u16));

fn key(udp: bool, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    if a <= b {
        (udp, a, b)
    } else {
        (udp, b, a)
    }
}

/// A stored frame.
struct Stored {
    key: Option<Key>,
    /// A TCP SYN without ACK: a new connection on its 5-tuple begins.
    opens: bool,
    frame: FrameCopy,
}

/// Where a listed flow's frames are, read in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Only its opening SYNs so far.
    Opening,
    /// Past them.
    Going,
    /// A new connection on the same 5-tuple began.
    Ended,
}

/// Frames of the recent past, oldest first, within a byte budget.
pub struct FrameStore {
    dir: PathBuf,
    frames: VecDeque<Stored>,
    bytes: usize,
    cap: usize,
    /// Frames dropped for room, oldest first.
    pub evicted: u64,
    /// Pcaps written.
    pub written: u64,
    /// Frames written into them.
    pub frames_written: u64,
    /// Listed flows of an alert none of whose frames was still held.
    pub flows_missing: u64,
    /// Pcaps that could not be written.
    pub failed: u64,
}

/// The DLT a link type is written with.
fn dlt(link: LinkType) -> u32 {
    match link {
        LinkType::Ethernet => 1,
        LinkType::Null => 0,
        LinkType::Loop => 108,
        LinkType::Raw => 101,
        LinkType::LinuxSll => 113,
        LinkType::LinuxSll2 => 276,
        LinkType::CiscoHdlc => 104,
        LinkType::Fddi => 10,
        // DLT_PPP takes frames with and without the HDLC bytes.
        LinkType::Ppp => 9,
        LinkType::Ieee80211 => 105,
        LinkType::Radiotap => 127,
        LinkType::Nflog => 239,
        LinkType::Unsupported(d) => u32::try_from(d).unwrap_or(0),
    }
}

impl FrameStore {
    /// A store of at most `cap` bytes writing into `dir` (created now).
    pub fn new(dir: &Path, cap: usize) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("--pcap-out {}: {e}", dir.display()))?;
        Ok(FrameStore {
            dir: dir.to_path_buf(),
            frames: VecDeque::new(),
            bytes: 0,
            cap,
            evicted: 0,
            written: 0,
            frames_written: 0,
            flows_missing: 0,
            failed: 0,
        })
    }

    /// One line on stderr: what was written and what could not be.
    pub fn print_summary(&self) {
        eprintln!(
            "procflow: pcap-out {}: {} pcaps, {} frames; {} frames dropped for room (--pcap-out-memory), {} alert flows no longer held, {} pcaps not written",
            self.dir.display(),
            self.written,
            self.frames_written,
            self.evicted,
            self.flows_missing,
            self.failed
        );
    }

    /// Keeps a batch of frames, dropping the oldest for room.
    pub fn add(&mut self, batch: Vec<FrameCopy>) {
        for frame in batch {
            let (key, opens) = match decode(frame.link, &frame.data) {
                // Alerts list TCP and UDP flows only.
                Ok(p) if !p.transport.is_icmp() => {
                    let syn = p.tcp.is_some_and(|t| t.flags & 0x12 == 0x02);
                    let k = key(
                        p.transport == capture::record::Transport::Udp,
                        (p.src.ip(), p.sport),
                        (p.dst.ip(), p.dport),
                    );
                    (Some(k), syn)
                }
                _ => (None, false),
            };
            self.bytes += frame.data.len() + 64;
            self.frames.push_back(Stored { key, opens, frame });
        }
        while self.bytes > self.cap {
            let Some(old) = self.frames.pop_front() else {
                break;
            };
            self.bytes = self.bytes.saturating_sub(old.frame.data.len() + 64);
            self.evicted += 1;
        }
    }

    /// Writes the stored frames of `a`'s listed flows as one pcap, named
    /// after the alert (rule, host, window start, remote host). A flow's
    /// frames are those of its 5-tuple from its start on, up to a new
    /// connection on the same 5-tuple (a client port come round).
    pub fn write(&mut self, a: &Alert) {
        let (frames, missing) = select(&self.frames, &a.flows);
        self.flows_missing += missing;
        let path = self.dir.join(file_name(a));
        match write_pcap(&path, &frames) {
            Ok(n) => {
                self.written += 1;
                self.frames_written += n;
            }
            Err(e) => {
                self.failed += 1;
                eprintln!("procflow: warning: {}: {e}", path.display());
            }
        }
    }
}

/// The stored frames of `flows`, in order, and how many of the flows
/// have none left. One pair of ports may carry several of the flows (a
/// client port that came round again): a frame belongs to the last of
/// them started by its time, and within a flow a SYN after the
/// connection went on starts another connection, not the flow's.
fn select<'a>(stored: &'a VecDeque<Stored>, flows: &[AlertFlow]) -> (Vec<&'a FrameCopy>, u64) {
    let mut starts: HashMap<Key, Vec<u64>> = HashMap::new();
    for f in flows {
        let k = key(
            f.transport == "udp",
            (f.source.ip, f.source.port),
            (f.destination.ip, f.destination.port),
        );
        let start = correlate::timestamp::parse(&f.start).unwrap_or(0);
        starts.entry(k).or_default().push(start);
    }
    for s in starts.values_mut() {
        s.sort_unstable();
    }
    let mut state: HashMap<(Key, usize), Progress> = HashMap::new();
    let mut frames: Vec<&FrameCopy> = Vec::new();
    for s in stored {
        let Some(k) = s.key else { continue };
        let Some(nth) = starts
            .get(&k)
            .and_then(|t| t.iter().rposition(|start| *start <= s.frame.ts))
        else {
            continue;
        };
        let p = state.entry((k, nth)).or_insert(Progress::Opening);
        match (*p, s.opens) {
            (Progress::Ended, _) => continue,
            // A SYN after the connection went on: the next one.
            (Progress::Going, true) => {
                *p = Progress::Ended;
                continue;
            }
            (_, false) => *p = Progress::Going,
            // The opening SYN, or its retransmission.
            (Progress::Opening, true) => {}
        }
        frames.push(&s.frame);
    }
    let listed: usize = starts.values().map(Vec::len).sum();
    (frames, listed.saturating_sub(state.len()) as u64)
}

/// `RULE-HOST-WINDOWSTART-REMOTE.pcap`, with anything but letters,
/// digits, dots and dashes made a dash.
pub fn file_name(a: &Alert) -> String {
    let remote = a
        .destination
        .domain
        .clone()
        .or_else(|| a.destination.ip.map(|i| i.to_string()))
        .unwrap_or_default();
    let raw = format!("{}-{}-{}-{}", a.rule, a.host.name, a.window.start, remote);
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{clean}.pcap")
}

/// A classic pcap of `frames` (the first frame's link type; frames of
/// another are left out). The frames written.
fn write_pcap(path: &Path, frames: &[&FrameCopy]) -> std::io::Result<u64> {
    let link = frames.first().map_or(LinkType::Ethernet, |f| f.link);
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut head = Vec::with_capacity(24);
    head.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    head.extend_from_slice(&2u16.to_le_bytes());
    head.extend_from_slice(&4u16.to_le_bytes());
    head.extend_from_slice(&[0; 8]);
    head.extend_from_slice(&262_144u32.to_le_bytes());
    head.extend_from_slice(&dlt(link).to_le_bytes());
    out.write_all(&head)?;
    let mut n = 0;
    for f in frames.iter().filter(|f| f.link == link) {
        let secs = u32::try_from(f.ts / 1_000_000).unwrap_or(u32::MAX);
        let micros = (f.ts % 1_000_000) as u32;
        out.write_all(&secs.to_le_bytes())?;
        out.write_all(&micros.to_le_bytes())?;
        out.write_all(&(f.data.len() as u32).to_le_bytes())?;
        out.write_all(&f.wire_len.to_le_bytes())?;
        out.write_all(&f.data)?;
        n += 1;
    }
    out.flush()?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rules::alert::AlertEndpoint;

    const CLIENT: [u8; 4] = [10, 0, 0, 5];
    const SERVER: [u8; 4] = [203, 0, 113, 9];
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;

    /// An Ethernet IPv4 TCP frame of no payload between the two ends'
    /// port 40000 and 80, at `ts`.
    fn frame(ts: u64, from_client: bool, flags: u8) -> FrameCopy {
        let mut f = vec![0u8; 54];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[16..18].copy_from_slice(&40u16.to_be_bytes());
        f[22] = 64;
        f[23] = 6;
        let (src, dst, sp, dp) = if from_client {
            (CLIENT, SERVER, 40000u16, 80u16)
        } else {
            (SERVER, CLIENT, 80, 40000)
        };
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f[46] = 0x50;
        f[47] = flags;
        FrameCopy {
            ts,
            link: LinkType::Ethernet,
            wire_len: 54,
            data: f.into_boxed_slice(),
        }
    }

    fn flow(start: u64) -> AlertFlow {
        AlertFlow {
            community_id: String::new(),
            start: capture::time::rfc3339(start),
            transport: "tcp",
            source: AlertEndpoint {
                ip: IpAddr::from(CLIENT),
                port: 40000,
            },
            destination: AlertEndpoint {
                ip: IpAddr::from(SERVER),
                port: 80,
            },
        }
    }

    /// One client port used by three connections, the first and the last
    /// in the alert: each listed one's frames are kept, the middle one's
    /// not, and a flow whose frames are gone is counted.
    #[test]
    fn connections_on_one_pair_of_ports_are_told_apart() {
        let dir = std::env::temp_dir().join(format!("procflow-store-{}", std::process::id()));
        let mut store = FrameStore::new(&dir, 1 << 20).expect("store");
        let conn = |t: u64| {
            vec![
                frame(t, true, SYN),
                frame(t + 1, false, SYN | ACK),
                frame(t + 2, true, ACK),
            ]
        };
        store.add(
            [conn(1_000), conn(5_000), conn(9_000)]
                .into_iter()
                .flatten()
                .collect(),
        );
        let ts = |frames: &[&FrameCopy]| frames.iter().map(|f| f.ts).collect::<Vec<_>>();
        let (frames, missing) = select(&store.frames, &[flow(9_000), flow(1_000)]);
        assert_eq!(ts(&frames), [1_000, 1_001, 1_002, 9_000, 9_001, 9_002]);
        assert_eq!(missing, 0);
        // A listed flow started after every frame held: none of its own
        // (the connection at 9,000 is not the one from 5,000 either).
        let (frames, missing) = select(&store.frames, &[flow(5_000), flow(20_000)]);
        assert_eq!(ts(&frames), [5_000, 5_001, 5_002]);
        assert_eq!(missing, 1);
        let (frames, missing) = select(&store.frames, &[flow(5_000)]);
        assert_eq!(ts(&frames), [5_000, 5_001, 5_002]);
        assert_eq!(missing, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
