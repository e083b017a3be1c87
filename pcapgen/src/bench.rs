//! Streaming benchmark traffic: a large capture of mixed, interleaved
//! traffic written in constant memory.
//!
//! Model: 200 internal hosts (10.1.0.10–10.1.0.209 and fd00:1::a–fd00:1::d9,
//! every tenth host behind an 802.1Q tag) talk to 2,000 servers
//! (198.18.0.1–198.18.7.208 from the benchmarking range, and
//! 2001:db8:1::1–2001:db8:1::7d0) and two DNS resolvers. 96 sessions are
//! open at any time; each step picks one at random and lets it emit a short
//! burst of packets, so connections interleave. A finished session is
//! replaced by a new one:
//!
//! * 40 % HTTP/1.1 keep-alive: 1–6 GETs, responses 1 KiB–2 MiB (sizes
//!   skewed towards the small end);
//! * 5 % HTTP POST uploads of 64 KiB–4 MiB, answered 201;
//! * 35 % TLS: ClientHello with SNI/ALPN, ServerHello, CCS, encrypted
//!   handshake records, then 1–4 request/response exchanges of
//!   application_data records (responses 1 KiB–1 MiB);
//! * 20 % DNS over UDP (5 % of the queries unanswered).
//!
//! About 10 % of the sessions use IPv6. Segments are MSS-sized (1460 IPv4,
//! 1440 IPv6), about 1 % of data segments are retransmitted once; the
//! receiver ACKs every second segment. Sizes are picked with integer
//! arithmetic only, so the output is identical on every machine.

use crate::conn::Dir;
use crate::dns;
use crate::http::USER_AGENT;
use crate::pcap::{PcapWriter, START_TIME_US};
use crate::rng::SplitMix64;
use crate::tls::{self, ClientHelloSpec, GREASE, TLS12, TLS13};
use crate::wire::{
    syn_options, tcp_frame, udp_frame, IpOpts, Link, LinkCtx, TcpSeg, GATEWAY_MAC,
    LINKTYPE_ETHERNET, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN,
};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What [`write_bench`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BenchSummary {
    /// Packets written.
    pub packets: u64,
    /// Captured frame bytes written (record headers and the file header
    /// excluded).
    pub bytes: u64,
    /// TCP connections started.
    pub tcp_flows: u64,
    /// UDP (DNS) flows started.
    pub udp_flows: u64,
}

const HOSTS: usize = 200;
const SERVERS: usize = 2000;
const CONCURRENT: usize = 96;
const PATTERN_LEN: usize = 1 << 16;
const TLS_RECORD: u64 = 16384;

struct Host {
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    l2: LinkCtx,
    next_port: u16,
}

struct Server {
    v4: Ipv4Addr,
    v6: Ipv6Addr,
    name: String,
    tls: bool,
}

/// Bytes of one message of a session, produced on demand.
enum Source {
    /// Small literal bytes (headers of TLS handshakes and the like).
    Bytes(Vec<u8>),
    /// An HTTP head followed by `body` pattern bytes.
    Http { head: Vec<u8>, body: u64 },
    /// `payload` bytes of application_data records of at most
    /// [`TLS_RECORD`] bytes each.
    Tls { payload: u64 },
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::Http { head, body } => head.len() as u64 + body,
            Source::Tls { payload } => payload + 5 * payload.div_ceil(TLS_RECORD),
        }
    }

    /// Appends `n` bytes starting at stream offset `off`.
    fn fill(&self, pattern: &[u8], off: u64, n: usize, out: &mut Vec<u8>) {
        match self {
            Source::Bytes(b) => out.extend_from_slice(&b[off as usize..off as usize + n]),
            Source::Http { head, .. } => {
                let mut off = off as usize;
                let mut need = n;
                if off < head.len() {
                    let take = need.min(head.len() - off);
                    out.extend_from_slice(&head[off..off + take]);
                    off += take;
                    need -= take;
                }
                if need > 0 {
                    let p = (off - head.len()) % PATTERN_LEN;
                    out.extend_from_slice(&pattern[p..p + need]);
                }
            }
            Source::Tls { payload } => {
                let mut off = off;
                let mut need = n as u64;
                while need > 0 {
                    let idx = off / (TLS_RECORD + 5);
                    let within = off % (TLS_RECORD + 5);
                    let this = TLS_RECORD.min(payload - idx * TLS_RECORD);
                    let take = if within < 5 {
                        let hdr = [23, 3, 3, (this >> 8) as u8, this as u8];
                        let take = need.min(5 - within);
                        out.extend_from_slice(&hdr[within as usize..(within + take) as usize]);
                        take
                    } else {
                        let take = need.min(this + 5 - within);
                        let p = (off as usize) % PATTERN_LEN;
                        out.extend_from_slice(&pattern[p..p + take as usize]);
                        take
                    };
                    off += take;
                    need -= take;
                }
            }
        }
    }
}

struct Msg {
    dir: Dir,
    src: Source,
    len: u64,
    off: u64,
}

impl Msg {
    fn new(dir: Dir, src: Source) -> Self {
        let len = src.len();
        Self {
            dir,
            src,
            len,
            off: 0,
        }
    }
}

#[derive(PartialEq, Eq)]
enum Phase {
    Handshake,
    Data,
    Close,
    Done,
}

struct TcpSession {
    l2: LinkCtx,
    addr: [SocketAddr; 2],
    next: [u32; 2],
    ident: [u16; 2],
    mss: usize,
    phase: Phase,
    msgs: VecDeque<Msg>,
    /// The process that opens the connection, for the feed: host index,
    /// executable, pid.
    owner: (usize, &'static str, u32),
}

struct DnsSession {
    l2: LinkCtx,
    client: SocketAddr,
    server: SocketAddr,
    query: Vec<u8>,
    response: Option<Vec<u8>>,
    sent: bool,
}

enum Session {
    Tcp(TcpSession),
    Dns(DnsSession),
}

impl Session {
    fn done(&self) -> bool {
        match self {
            Session::Tcp(t) => t.phase == Phase::Done,
            Session::Dns(d) => d.sent && d.response.is_none(),
        }
    }
}

fn side(dir: Dir) -> usize {
    match dir {
        Dir::ToServer => 0,
        Dir::ToClient => 1,
    }
}

struct Out<W: Write> {
    w: PcapWriter<BufWriter<W>>,
    /// The endpoint feed: one connect event per TCP connection.
    feed: Option<BufWriter<Box<dyn Write>>>,
    rng: SplitMix64,
    clock: u64,
    frame: Vec<u8>,
    payload: Vec<u8>,
    pattern: Vec<u8>,
    file_bytes: u64,
    summary: BenchSummary,
}

impl<W: Write> Out<W> {
    fn write_frame(&mut self) -> io::Result<()> {
        self.w.write_packet(self.clock, &self.frame)?;
        self.clock += self.rng.range(5, 120);
        self.summary.packets += 1;
        self.summary.bytes += self.frame.len() as u64;
        self.file_bytes += 16 + self.frame.len() as u64;
        Ok(())
    }

    /// Emits a TCP segment of session `t` in direction `dir` at `seq` with
    /// the first `plen` bytes of `self.payload`.
    fn tcp(
        &mut self,
        t: &mut TcpSession,
        dir: Dir,
        seq: u32,
        flags: u8,
        opts: &[u8],
        plen: usize,
    ) -> io::Result<()> {
        let i = side(dir);
        let ip = IpOpts {
            ttl: if i == 0 { 64 } else { 57 },
            ident: t.ident[i],
            dont_fragment: true,
            ipv6_ext_headers: false,
        };
        t.ident[i] = t.ident[i].wrapping_add(1);
        let seg = TcpSeg {
            src: t.addr[i],
            dst: t.addr[1 - i],
            seq,
            ack: if flags & TCP_ACK != 0 {
                t.next[1 - i]
            } else {
                0
            },
            flags,
            window: if i == 0 { 64240 } else { 65160 },
            options: opts,
            payload: &self.payload[..plen],
        };
        tcp_frame(&mut self.frame, &t.l2, i == 0, &ip, &seg);
        self.write_frame()
    }

    fn udp(
        &mut self,
        l2: &LinkCtx,
        to_server: bool,
        src: SocketAddr,
        dst: SocketAddr,
        data: &[u8],
    ) -> io::Result<()> {
        let ip = IpOpts {
            dont_fragment: false,
            ident: self.rng.next_u64() as u16,
            ..IpOpts::default()
        };
        udp_frame(&mut self.frame, l2, to_server, &ip, src, dst, data);
        self.write_frame()
    }

    fn step(&mut self, s: &mut Session) -> io::Result<()> {
        match s {
            Session::Dns(d) => {
                if !d.sent {
                    d.sent = true;
                    self.udp(&d.l2, true, d.client, d.server, &d.query)
                } else if let Some(r) = d.response.take() {
                    self.udp(&d.l2, false, d.server, d.client, &r)
                } else {
                    Ok(())
                }
            }
            Session::Tcp(t) => self.step_tcp(t),
        }
    }

    fn step_tcp(&mut self, t: &mut TcpSession) -> io::Result<()> {
        match t.phase {
            Phase::Handshake => {
                if let Some(feed) = self.feed.as_mut() {
                    let (h, exe, pid) = t.owner;
                    let [c, s] = t.addr;
                    let line = serde_json::json!({
                        "ts": crate::attribution::rfc3339((self.clock + 150) as i64),
                        "host": format!("host{h:03}"),
                        "os": if h % 2 == 0 { "windows" } else { "linux" },
                        "event": "connect", "proto": "tcp",
                        "src_ip": c.ip().to_string(), "src_port": c.port(),
                        "dst_ip": s.ip().to_string(), "dst_port": s.port(),
                        "pid": pid, "process": exe,
                    });
                    writeln!(feed, "{line}")?;
                }
                let opts = syn_options(t.mss as u16);
                let isn_c = t.next[0];
                self.tcp(t, Dir::ToServer, isn_c, TCP_SYN, &opts, 0)?;
                t.next[0] = isn_c.wrapping_add(1);
                let isn_s = t.next[1];
                self.tcp(t, Dir::ToClient, isn_s, TCP_SYN | TCP_ACK, &opts, 0)?;
                t.next[1] = isn_s.wrapping_add(1);
                self.tcp(t, Dir::ToServer, t.next[0], TCP_ACK, &[], 0)?;
                t.phase = Phase::Data;
            }
            Phase::Data => {
                let Some(mut msg) = t.msgs.pop_front() else {
                    t.phase = Phase::Close;
                    return Ok(());
                };
                let burst = self.rng.range(1, 8);
                let i = side(msg.dir);
                for n in 1..=burst {
                    let plen = (t.mss as u64).min(msg.len - msg.off) as usize;
                    if plen == 0 {
                        break;
                    }
                    self.payload.clear();
                    msg.src
                        .fill(&self.pattern, msg.off, plen, &mut self.payload);
                    msg.off += plen as u64;
                    let last = msg.off == msg.len;
                    let flags = if last { TCP_ACK | TCP_PSH } else { TCP_ACK };
                    let seq = t.next[i];
                    t.next[i] = seq.wrapping_add(plen as u32);
                    self.tcp(t, msg.dir, seq, flags, &[], plen)?;
                    if self.rng.chance(10) {
                        self.tcp(t, msg.dir, seq, flags, &[], plen)?;
                    }
                    if n % 2 == 0 || last || n == burst {
                        self.tcp(t, msg.dir.reverse(), t.next[1 - i], TCP_ACK, &[], 0)?;
                    }
                    if last {
                        break;
                    }
                }
                if msg.off < msg.len {
                    t.msgs.push_front(msg);
                }
            }
            Phase::Close => {
                for dir in [Dir::ToServer, Dir::ToClient] {
                    let i = side(dir);
                    let seq = t.next[i];
                    self.tcp(t, dir, seq, TCP_FIN | TCP_ACK, &[], 0)?;
                    t.next[i] = seq.wrapping_add(1);
                }
                self.tcp(t, Dir::ToServer, t.next[0], TCP_ACK, &[], 0)?;
                t.phase = Phase::Done;
            }
            Phase::Done => {}
        }
        Ok(())
    }
}

/// A size in `min..=max`, skewed towards small sizes: the number of
/// doublings above `min` is the smaller of two uniform draws (integer
/// arithmetic only, so identical on every machine).
fn log_size(rng: &mut SplitMix64, min: u64, max: u64) -> u64 {
    let mut k = 0;
    while (min << (k + 1)) <= max {
        k += 1;
    }
    let doublings = rng.below(k + 1).min(rng.below(k + 1));
    let base = min << doublings;
    (base + rng.below(base)).min(max)
}

struct World {
    hosts: Vec<Host>,
    servers: Vec<Server>,
    resolvers: [(Ipv4Addr, Ipv6Addr); 2],
}

impl World {
    fn new() -> Self {
        let domains = [
            "example.com",
            "example.net",
            "example.org",
            "cdn.example.com",
            "api.example.net",
        ];
        let hosts = (0..HOSTS)
            .map(|h| {
                let link = if h % 10 == 7 {
                    Link::Vlan(100 + (h % 3) as u16)
                } else {
                    Link::Ethernet
                };
                Host {
                    v4: Ipv4Addr::new(10, 1, 0, 10 + h as u8),
                    v6: Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 10 + h as u16),
                    l2: LinkCtx {
                        link,
                        client_mac: [0x02, 0x00, 0x0a, 0x01, 0x00, h as u8],
                        gateway_mac: GATEWAY_MAC,
                    },
                    next_port: 32768 + (h as u16) * 97,
                }
            })
            .collect();
        let servers = (0..SERVERS)
            .map(|i| Server {
                v4: Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + 1 + i as u32),
                v6: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1 + i as u16),
                name: format!("s{i}.{}", domains[i % domains.len()]),
                tls: i % 5 < 2,
            })
            .collect();
        Self {
            hosts,
            servers,
            resolvers: [
                (
                    Ipv4Addr::new(198, 51, 100, 53),
                    Ipv6Addr::new(0x2001, 0xdb8, 53, 0, 0, 0, 0, 1),
                ),
                (
                    Ipv4Addr::new(203, 0, 113, 53),
                    Ipv6Addr::new(0x2001, 0xdb8, 53, 0, 0, 0, 0, 2),
                ),
            ],
        }
    }

    fn new_session(&mut self, rng: &mut SplitMix64, summary: &mut BenchSummary) -> Session {
        let h = rng.below(HOSTS as u64) as usize;
        let v6 = rng.chance(100);
        let host = &mut self.hosts[h];
        let port = host.next_port;
        host.next_port = if port >= 60999 { 32768 } else { port + 1 };
        let client = if v6 {
            SocketAddr::new(IpAddr::V6(host.v6), port)
        } else {
            SocketAddr::new(IpAddr::V4(host.v4), port)
        };
        let l2 = host.l2;
        let kind = rng.below(100);
        if kind < 20 {
            summary.udp_flows += 1;
            let (r4, r6) = self.resolvers[rng.below(2) as usize];
            let server = if v6 {
                SocketAddr::new(IpAddr::V6(r6), 53)
            } else {
                SocketAddr::new(IpAddr::V4(r4), 53)
            };
            let name = &self.servers[rng.below(SERVERS as u64) as usize].name;
            let id = rng.next_u64() as u16;
            let qtype = if v6 { dns::QTYPE_AAAA } else { dns::QTYPE_A };
            let answer = if v6 {
                IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    1,
                    0,
                    0,
                    0,
                    0,
                    rng.below(SERVERS as u64) as u16 + 1,
                ))
            } else {
                IpAddr::V4(Ipv4Addr::from(
                    0xc612_0001 + rng.below(SERVERS as u64) as u32,
                ))
            };
            let response = (!rng.chance(50)).then(|| dns::response(id, name, qtype, &[answer]));
            return Session::Dns(DnsSession {
                l2,
                client,
                server,
                query: dns::query(id, name, qtype),
                response,
                sent: false,
            });
        }
        summary.tcp_flows += 1;
        // Pick a server of the right kind.
        let want_tls = (20..55).contains(&kind);
        let mut si = rng.below(SERVERS as u64) as usize;
        while self.servers[si].tls != want_tls {
            si = (si + 1) % SERVERS;
        }
        let srv = &self.servers[si];
        let port = if srv.tls { 443 } else { 80 };
        let server = if v6 {
            SocketAddr::new(IpAddr::V6(srv.v6), port)
        } else {
            SocketAddr::new(IpAddr::V4(srv.v4), port)
        };
        let mut msgs = VecDeque::new();
        if want_tls {
            tls_session(rng, &srv.name, &mut msgs);
        } else if kind < 95 {
            http_gets(rng, &srv.name, &mut msgs);
        } else {
            http_post(rng, &srv.name, &mut msgs);
        }
        let exe = match (h.is_multiple_of(2), want_tls, kind) {
            (true, true, _) => r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            (true, false, k) if k >= 95 => r"C:\Program Files\Contoso Backup\cbagent.exe",
            (true, false, _) => r"C:\Windows\System32\svchost.exe",
            (false, true, _) => "/usr/bin/firefox",
            (false, false, k) if k >= 95 => "/usr/bin/rsync",
            (false, false, _) => "/usr/bin/curl",
        };
        let pid = 1000 + (h as u32) * 7 + (kind as u32 % 5);
        Session::Tcp(TcpSession {
            owner: (h, exe, pid),
            l2,
            addr: [client, server],
            next: [rng.next_u32(), rng.next_u32()],
            ident: [rng.next_u64() as u16, rng.next_u64() as u16],
            mss: if v6 { 1440 } else { 1460 },
            phase: Phase::Handshake,
            msgs,
        })
    }
}

const CONTENT_TYPES: [&str; 5] = [
    "text/html; charset=utf-8",
    "application/json",
    "image/jpeg",
    "application/javascript",
    "application/octet-stream",
];

fn http_gets(rng: &mut SplitMix64, host: &str, msgs: &mut VecDeque<Msg>) {
    for _ in 0..rng.range(1, 6) {
        let uri = format!("/assets/{:08x}/item{}.bin", rng.next_u32(), rng.below(1000));
        let req = format!("GET {uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n\r\n");
        msgs.push_back(Msg::new(Dir::ToServer, Source::Bytes(req.into_bytes())));
        let body = log_size(rng, 1024, 2 << 20);
        let ctype = CONTENT_TYPES[rng.below(CONTENT_TYPES.len() as u64) as usize];
        let head = format!("HTTP/1.1 200 OK\r\nServer: pcapgen-httpd\r\nContent-Type: {ctype}\r\nContent-Length: {body}\r\nCache-Control: max-age=3600\r\n\r\n");
        msgs.push_back(Msg::new(
            Dir::ToClient,
            Source::Http {
                head: head.into_bytes(),
                body,
            },
        ));
    }
}

fn http_post(rng: &mut SplitMix64, host: &str, msgs: &mut VecDeque<Msg>) {
    let body = log_size(rng, 64 << 10, 4 << 20);
    let head = format!("POST /upload/{:08x} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\n\r\n", rng.next_u32());
    msgs.push_back(Msg::new(
        Dir::ToServer,
        Source::Http {
            head: head.into_bytes(),
            body,
        },
    ));
    let resp = "HTTP/1.1 201 Created\r\nServer: pcapgen-httpd\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"status\":\"ok\"}\n";
    msgs.push_back(Msg::new(
        Dir::ToClient,
        Source::Bytes(resp.as_bytes().to_vec()),
    ));
}

fn tls_session(rng: &mut SplitMix64, host: &str, msgs: &mut VecDeque<Msg>) {
    let seed = rng.next_u64();
    let ch = tls::client_hello(&ClientHelloSpec {
        legacy_version: TLS12,
        sni: Some(host.to_string()),
        alpn: vec!["h2".to_string(), "http/1.1".to_string()],
        supported_versions: vec![GREASE, TLS13, TLS12],
        seed,
    });
    let sid = ch[44..76].to_vec();
    msgs.push_back(Msg::new(Dir::ToServer, Source::Bytes(ch)));
    let sh = tls::record(
        tls::CT_HANDSHAKE,
        TLS12,
        &tls::server_hello(0x1301, Some(TLS13), &sid, seed ^ 1),
    );
    msgs.push_back(Msg::new(
        Dir::ToClient,
        Source::Bytes([sh, tls::change_cipher_spec()].concat()),
    ));
    msgs.push_back(Msg::new(
        Dir::ToClient,
        Source::Tls {
            payload: rng.range(2500, 4500),
        },
    ));
    msgs.push_back(Msg::new(
        Dir::ToServer,
        Source::Bytes(tls::change_cipher_spec()),
    ));
    msgs.push_back(Msg::new(Dir::ToServer, Source::Tls { payload: 53 }));
    for _ in 0..rng.range(1, 4) {
        msgs.push_back(Msg::new(
            Dir::ToServer,
            Source::Tls {
                payload: rng.range(100, 2000),
            },
        ));
        msgs.push_back(Msg::new(
            Dir::ToClient,
            Source::Tls {
                payload: log_size(rng, 1024, 1 << 20),
            },
        ));
    }
}

/// Writes about `target_bytes` of benchmark traffic (see the module docs)
/// as an Ethernet pcap to `w`, deterministically for a given `seed`. The
/// capture stops after the burst of packets that brings the file to
/// `target_bytes` or more (it overshoots by less than 64 KiB); connections
/// still open then stay unfinished.
pub fn try_write_bench<W: Write>(w: W, target_bytes: u64, seed: u64) -> io::Result<BenchSummary> {
    try_write_bench_with_feed(w, None, target_bytes, seed)
}

/// [`try_write_bench`], also writing to `feed` the native endpoint feed of
/// the traffic: one `connect` event per TCP connection, 150 µs after its
/// SYN, from `host000`..`host199` (even ones Windows, odd ones Linux) with
/// a browser, an agent or a command-line tool as the process.
pub fn try_write_bench_with_feed<W: Write>(
    w: W,
    feed: Option<Box<dyn Write>>,
    target_bytes: u64,
    seed: u64,
) -> io::Result<BenchSummary> {
    let mut rng = SplitMix64::new(seed ^ 0x7063_6170_6765_6e00);
    let mut pattern = vec![0u8; PATTERN_LEN + 2048];
    rng.fill(&mut pattern);
    let mut out = Out {
        w: PcapWriter::new(
            BufWriter::with_capacity(1 << 20, w),
            LINKTYPE_ETHERNET,
            65535,
        )?,
        feed: feed.map(|f| BufWriter::with_capacity(1 << 16, f)),
        rng: SplitMix64::new(rng.next_u64()),
        clock: START_TIME_US,
        frame: Vec::with_capacity(2048),
        payload: Vec::with_capacity(2048),
        pattern,
        file_bytes: 24,
        summary: BenchSummary::default(),
    };
    let mut world = World::new();
    let mut active: Vec<Session> = (0..CONCURRENT)
        .map(|_| world.new_session(&mut rng, &mut out.summary))
        .collect();
    while out.file_bytes < target_bytes {
        let i = rng.below(active.len() as u64) as usize;
        out.step(&mut active[i])?;
        if active[i].done() {
            active[i] = world.new_session(&mut rng, &mut out.summary);
        }
    }
    out.w
        .into_inner()?
        .into_inner()
        .map_err(|e| e.into_error())?;
    if let Some(mut f) = out.feed.take() {
        f.flush()?;
    }
    Ok(out.summary)
}

/// [`try_write_bench`], panicking on an I/O error.
///
/// # Panics
/// When writing to `w` fails.
pub fn write_bench<W: Write>(w: W, target_bytes: u64, seed: u64) -> BenchSummary {
    try_write_bench(w, target_bytes, seed).expect("writing the benchmark capture failed")
}
