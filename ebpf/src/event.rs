//! The records the kernel programs write to the ring buffer, read field by
//! field from little-endian bytes (the layouts of `struct sock_event` and
//! `struct exec_event` in bpf/sockets.bpf.c).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// What a socket record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketKind {
    /// The process connected (TCP, or a connected UDP socket).
    Connect,
    /// The process accepted the connection.
    Accept,
    /// The first datagram a UDP socket sent.
    Datagram,
    /// A reported TCP socket closed.
    Close,
}

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A socket opening or closing, as the kernel saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRecord {
    /// What happened.
    pub kind: SocketKind,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// This host's end.
    pub local: SocketAddr,
    /// The peer.
    pub remote: SocketAddr,
    /// Process (thread-group) id; 0 for a close, which may run in any
    /// context.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Inode of the process's network namespace.
    pub netns: u32,
    /// Id of the process's cgroup (v2).
    pub cgroup: u64,
    /// Kernel time (CLOCK_MONOTONIC), nanoseconds.
    pub ts: u64,
    /// The thread's name.
    pub comm: String,
    /// The process's executable file was deleted (no link left) when the
    /// kernel reported it.
    pub exe_deleted: bool,
}

/// A process that started a program (`execve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRecord {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Kernel time, nanoseconds.
    pub ts: u64,
    /// Its name after exec.
    pub comm: String,
    /// The path given to exec (may be relative).
    pub path: String,
    /// The first bytes of its arguments, NUL-separated.
    pub args: Vec<u8>,
}

/// One record from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A socket opened or closed.
    Socket(SocketRecord),
    /// A program started.
    Exec(ExecRecord),
    /// A process or thread `child` was made by process `parent`.
    Fork {
        /// The new task's id.
        child: u32,
        /// The parent's process id.
        parent: u32,
    },
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than its kind's layout.
    #[error("record of kind {kind} cut at {len} bytes")]
    Short {
        /// The kind byte.
        kind: u8,
        /// Its length.
        len: usize,
    },
    /// A kind this reader does not know.
    #[error("unknown record kind {0}")]
    Kind(u8),
    /// An address family other than IPv4 and IPv6.
    #[error("unknown address family {0}")]
    Family(u8),
}

/// Bytes of a socket record.
pub const SOCKET_LEN: usize = 96;
/// Bytes of an exec record.
pub const EXEC_LEN: usize = 560;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// Little-endian reads at fixed offsets of a record known to be long
/// enough.
struct Fields<'a>(&'a [u8]);

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.0.get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }
    fn u8(&self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.bytes(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
    /// A NUL-terminated string of at most `len` bytes.
    fn text(&self, at: usize, len: usize) -> String {
        let raw = self.0.get(at..at + len).unwrap_or_default();
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned()
    }
}

/// Reads one ring-buffer record.
pub fn parse(b: &[u8]) -> Result<Record, RecordError> {
    let kind = b.first().copied().unwrap_or(0);
    let need = if kind == 5 { EXEC_LEN } else { SOCKET_LEN };
    if b.len() < need {
        return Err(RecordError::Short { kind, len: b.len() });
    }
    let f = Fields(b);
    let socket = |kind| socket(&f, kind);
    match kind {
        1 => socket(SocketKind::Connect),
        2 => socket(SocketKind::Accept),
        3 => socket(SocketKind::Datagram),
        4 => socket(SocketKind::Close),
        5 => Ok(Record::Exec(ExecRecord {
            pid: f.u32(4),
            ppid: f.u32(8),
            uid: f.u32(12),
            ts: f.u64(16),
            comm: f.text(32, 16),
            path: f.text(48, usize::from(f.u16(24)).min(256)),
            args: b
                .get(304..304 + usize::from(f.u16(26)).min(256))
                .unwrap_or_default()
                .to_vec(),
        })),
        6 => Ok(Record::Fork {
            child: f.u32(4),
            parent: f.u32(12),
        }),
        k => Err(RecordError::Kind(k)),
    }
}

fn socket(f: &Fields, kind: SocketKind) -> Result<Record, RecordError> {
    let family = f.u8(1);
    let ip = |at: usize| -> Result<IpAddr, RecordError> {
        match family {
            AF_INET => Ok(IpAddr::V4(Ipv4Addr::from(f.bytes::<4>(at)))),
            AF_INET6 => Ok(IpAddr::V6(Ipv6Addr::from(f.bytes::<16>(at)))),
            other => Err(RecordError::Family(other)),
        }
    };
    Ok(Record::Socket(SocketRecord {
        kind,
        protocol: if f.u8(2) == 17 {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        pid: f.u32(4),
        tid: f.u32(8),
        ppid: f.u32(12),
        uid: f.u32(16),
        netns: f.u32(20),
        ts: f.u64(24),
        cgroup: f.u64(32),
        local: SocketAddr::new(ip(48)?, f.u16(40)),
        remote: SocketAddr::new(ip(64)?, f.u16(42)),
        comm: f.text(80, 16),
        exe_deleted: f.u8(3) & 1 != 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket_bytes(kind: u8, family: u8) -> Vec<u8> {
        let mut b = vec![0u8; SOCKET_LEN];
        b[0] = kind;
        b[1] = family;
        b[2] = 6;
        b[4..8].copy_from_slice(&4242u32.to_le_bytes());
        b[12..16].copy_from_slice(&1u32.to_le_bytes());
        b[20..24].copy_from_slice(&4026531840u32.to_le_bytes());
        b[24..32].copy_from_slice(&123_456_789u64.to_le_bytes());
        b[40..42].copy_from_slice(&51000u16.to_le_bytes());
        b[42..44].copy_from_slice(&80u16.to_le_bytes());
        b[48..52].copy_from_slice(&[10, 0, 0, 1]);
        b[64..68].copy_from_slice(&[93, 184, 216, 34]);
        b[80..84].copy_from_slice(b"curl");
        b
    }

    #[test]
    fn a_connect_record() {
        let Ok(Record::Socket(s)) = parse(&socket_bytes(1, AF_INET)) else {
            panic!("socket record");
        };
        assert_eq!(s.kind, SocketKind::Connect);
        assert_eq!(s.protocol, Protocol::Tcp);
        assert_eq!(s.local, "10.0.0.1:51000".parse().unwrap());
        assert_eq!(s.remote, "93.184.216.34:80".parse().unwrap());
        assert_eq!(
            (s.pid, s.ppid, s.netns, s.ts),
            (4242, 1, 4026531840, 123_456_789)
        );
        assert_eq!(s.comm, "curl");
    }

    #[test]
    fn bad_records_are_errors() {
        assert_eq!(
            parse(&[1, 2, 6]),
            Err(RecordError::Short { kind: 1, len: 3 })
        );
        assert_eq!(parse(&[]), Err(RecordError::Short { kind: 0, len: 0 }));
        assert_eq!(parse(&socket_bytes(9, AF_INET)), Err(RecordError::Kind(9)));
        assert_eq!(parse(&socket_bytes(1, 1)), Err(RecordError::Family(1)));
        let mut exec = vec![0u8; EXEC_LEN];
        exec[0] = 5;
        exec[24..26].copy_from_slice(&900u16.to_le_bytes());
        exec[48..52].copy_from_slice(b"/bin");
        let Ok(Record::Exec(e)) = parse(&exec) else {
            panic!("exec record");
        };
        assert_eq!(e.path, "/bin");
        assert!(e.args.is_empty());
    }
}
