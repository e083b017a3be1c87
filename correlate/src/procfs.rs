//! The local host's sockets from Linux /proc: /proc/net/{tcp,tcp6,udp,udp6}
//! for the socket table, /proc/PID/fd for which process holds each socket
//! inode, /proc/PID/{exe,cmdline,status} for the process.
//!
//! Works for the processes in the reader's network namespace (the socket
//! tables are per namespace) and, for the fd walk, those it may inspect
//! (root, or the same user).

use crate::event::{EventKind, Os, Process, SocketEvent, Transport};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

/// One row of a /proc/net socket table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSocket {
    /// tcp or udp.
    pub proto: Transport,
    /// Local address and port.
    pub local: (IpAddr, u16),
    /// Remote address and port (unspecified and 0 for a listener).
    pub remote: (IpAddr, u16),
    /// Kernel state (TCP: 1 established, 10 listen, ...).
    pub state: u8,
    /// Owner uid.
    pub uid: u32,
    /// Socket inode, as in /proc/PID/fd links `socket:[N]`.
    pub inode: u64,
}

/// Parses `0100007F:1F90` (IPv4) or the 32-hex-digit IPv6 form: the
/// address is written as 32-bit words in the host's byte order, the port
/// as a big-endian hex number.
fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let hex = addr.get(i * 8..i * 8 + 8)?;
        Some(u32::from_str_radix(hex, 16).ok()?.to_ne_bytes())
    };
    let ip = match addr.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(0)?)),
        32 => {
            let mut b = [0u8; 16];
            for (i, chunk) in b.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(i)?);
            }
            IpAddr::V6(Ipv6Addr::from(b))
        }
        _ => return None,
    };
    Some((ip, port))
}

/// Parses one data line of /proc/net/{tcp,udp}[6]; `None` for the header
/// or anything malformed.
pub fn parse_net_line(line: &str, proto: Transport) -> Option<ProcSocket> {
    let mut f = line.split_whitespace();
    let _slot = f.next()?.strip_suffix(':')?;
    let local = parse_endpoint(f.next()?)?;
    let remote = parse_endpoint(f.next()?)?;
    let state = u8::from_str_radix(f.next()?, 16).ok()?;
    let _queues = f.next()?;
    let _timer = f.next()?;
    let _retransmits = f.next()?;
    let uid = f.next()?.parse().ok()?;
    let _timeout = f.next()?;
    let inode = f.next()?.parse().ok()?;
    Some(ProcSocket {
        proto,
        local: (local.0.to_canonical(), local.1),
        remote: (remote.0.to_canonical(), remote.1),
        state,
        uid,
        inode,
    })
}

/// Every socket in the four tables under `root` (normally `/proc`) that has
/// a peer (listeners and unconnected UDP sockets are left out).
pub fn connected_sockets(root: &Path) -> Vec<ProcSocket> {
    let mut out = Vec::new();
    for (file, proto) in [
        ("tcp", Transport::Tcp),
        ("tcp6", Transport::Tcp),
        ("udp", Transport::Udp),
        ("udp6", Transport::Udp),
    ] {
        let Ok(text) = std::fs::read_to_string(root.join("net").join(file)) else {
            continue;
        };
        out.extend(
            text.lines()
                .filter_map(|l| parse_net_line(l, proto))
                .filter(|s| s.remote.1 != 0 && s.inode != 0),
        );
    }
    out
}

/// Socket inode → pid, from the `socket:[N]` links in /proc/PID/fd.
pub fn inode_owners(root: &Path) -> HashMap<u64, u32> {
    let mut owners = HashMap::new();
    let Ok(dir) = std::fs::read_dir(root) else {
        return owners;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let inode = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok());
            if let Some(inode) = inode {
                owners.entry(inode).or_insert(pid);
            }
        }
    }
    owners
}

/// User names by uid, from an /etc/passwd-format file.
pub fn user_names(passwd: &Path) -> HashMap<u32, String> {
    std::fs::read_to_string(passwd)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let _pw = f.next()?;
            let uid = f.next()?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// What /proc says of a process: executable (with ` (deleted)` when the
/// file is gone), command line, parent.
pub fn process(root: &Path, pid: u32) -> Process {
    let dir = root.join(pid.to_string());
    let executable = std::fs::read_link(dir.join("exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let cmdline = std::fs::read(dir.join("cmdline")).ok().and_then(|b| {
        let parts: Vec<String> = b
            .split(|&c| c == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    let ppid = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|v| v.trim().parse().ok())
        });
    Process {
        pid: Some(pid),
        ppid,
        executable,
        cmdline,
        ..Process::default()
    }
}

/// The host name the kernel behind `root` (a proc file system) reports,
/// or `localhost`.
pub fn host_name(root: &Path) -> String {
    std::fs::read_to_string(root.join("sys/kernel/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// Polls /proc and reports each socket once when it appears (`open`) and
/// once when it is gone (`close`), so a short poll interval gives each
/// socket's lifetime without repeating it.
pub struct Poller {
    root: std::path::PathBuf,
    host: String,
    users: HashMap<u32, String>,
    live: HashMap<u64, SocketEvent>,
    max: usize,
    /// Sockets not tracked because `max` were live.
    pub dropped: u64,
}

impl Poller {
    /// A poller of `root` (normally `/proc`) naming events after `host`,
    /// tracking at most `max` live sockets.
    pub fn new(root: &Path, host: &str, users: HashMap<u32, String>, max: usize) -> Self {
        Self {
            root: root.to_path_buf(),
            host: host.to_string(),
            users,
            live: HashMap::new(),
            max,
            dropped: 0,
        }
    }

    /// One poll at time `now` (µs since the epoch).
    pub fn poll(&mut self, now: u64, out: &mut dyn FnMut(&SocketEvent)) {
        let sockets = connected_sockets(&self.root);
        let mut seen: HashMap<u64, ()> = HashMap::with_capacity(sockets.len());
        let fresh: Vec<&ProcSocket> = sockets
            .iter()
            .filter(|s| !self.live.contains_key(&s.inode))
            .collect();
        let owners = if fresh.is_empty() {
            HashMap::new()
        } else {
            inode_owners(&self.root)
        };
        let mut procs: HashMap<u32, Arc<Process>> = HashMap::new();
        for s in &sockets {
            seen.insert(s.inode, ());
            if self.live.contains_key(&s.inode) {
                continue;
            }
            // A socket no process holds any more (TIME_WAIT) tells nothing.
            let Some(&pid) = owners.get(&s.inode) else {
                continue;
            };
            if self.live.len() >= self.max {
                self.dropped += 1;
                continue;
            }
            let root = self.root.clone();
            let users = &self.users;
            let p = procs
                .entry(pid)
                .or_insert_with(|| {
                    let mut p = process(&root, pid);
                    p.user = Some(
                        users
                            .get(&s.uid)
                            .cloned()
                            .unwrap_or_else(|| s.uid.to_string()),
                    );
                    Arc::new(p)
                })
                .clone();
            let ev = SocketEvent {
                ts: now,
                host: self.host.clone(),
                host_ip: None,
                os: Some(Os::Linux),
                kind: EventKind::Open,
                proto: Some(s.proto),
                local_ip: Some(s.local.0),
                local_port: Some(s.local.1),
                remote_ip: s.remote.0,
                remote_port: s.remote.1,
                process: p,
            };
            out(&ev);
            self.live.insert(s.inode, ev);
        }
        let gone: Vec<u64> = self
            .live
            .keys()
            .filter(|k| !seen.contains_key(k))
            .copied()
            .collect();
        for inode in gone {
            if let Some(mut ev) = self.live.remove(&inode) {
                ev.kind = EventKind::Close;
                ev.ts = now;
                out(&ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_net_rows() {
        let v4 = "   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 20 4 30 10 -1";
        let s = parse_net_line(v4, Transport::Tcp).expect("row");
        // Words are in host order: this test documents a little-endian host.
        if cfg!(target_endian = "little") {
            assert_eq!(s.local, ("127.0.0.1".parse().expect("ip"), 50000));
            assert_eq!(s.remote, ("127.0.0.1".parse().expect("ip"), 8080));
        }
        assert_eq!((s.state, s.uid, s.inode), (1, 1000, 424242));
        let v6 = "   0: 00000000000000000000000001000000:A0F0 0000000000000000FFFF00000100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 777 1";
        let s = parse_net_line(v6, Transport::Tcp).expect("row");
        if cfg!(target_endian = "little") {
            assert_eq!(s.local, ("::1".parse().expect("ip"), 41200));
            // IPv4-mapped addresses come out as plain IPv4.
            assert_eq!(s.remote, ("127.0.0.1".parse().expect("ip"), 80));
        }
        for bad in [
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
            "   1: 0100007F:C350",
            "   1: 0100007Z:C350 0100007F:1F90 01 0:0 0:0 0 0 0 1",
            "",
        ] {
            assert_eq!(parse_net_line(bad, Transport::Tcp), None, "{bad}");
        }
    }

    #[test]
    fn sees_its_own_connection() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        let root = Path::new("/proc");
        if !root.join("net/tcp").exists() {
            eprintln!("sees_its_own_connection: skipped: no /proc/net/tcp");
            return;
        }
        let mut poller = Poller::new(root, "me", HashMap::new(), 1 << 16);
        let mut events = Vec::new();
        poller.poll(1, &mut |e| events.push(e.clone()));
        let local = client.local_addr().expect("local");
        let mine = events
            .iter()
            .find(|e| e.local_port == Some(local.port()) && e.remote_port == addr.port())
            .expect("client socket reported");
        assert_eq!(mine.kind, EventKind::Open);
        assert_eq!(mine.process.pid, Some(std::process::id()));
        let exe = std::env::current_exe().expect("exe");
        assert_eq!(mine.process.executable.as_deref(), exe.to_str());
        drop(client);
        let mut buf = [0u8; 1];
        let _ = server.read(&mut buf);
        drop(server);
        let mut later = Vec::new();
        poller.poll(2, &mut |e| later.push(e.clone()));
        assert!(
            later
                .iter()
                .any(|e| e.kind == EventKind::Close && e.local_port == Some(local.port())),
            "close reported once the socket is gone"
        );
    }
}
