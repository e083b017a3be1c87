//! The socket-event model every feed format is read into.

use std::net::IpAddr;
use std::sync::Arc;

pub use model::flow::Transport;

/// What the endpoint saw happen to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The local process opened the connection (connect()).
    Connect,
    /// The local process accepted it (accept()).
    Accept,
    /// A poller saw the socket open at `ts` (osquery snapshot, /proc).
    Open,
    /// The socket was closed at `ts`.
    Close,
}

impl EventKind {
    /// Parses the native feed's `event` value.
    pub fn parse(s: &str) -> Option<EventKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "connect" => Some(EventKind::Connect),
            "accept" => Some(EventKind::Accept),
            "open" => Some(EventKind::Open),
            "close" => Some(EventKind::Close),
            _ => None,
        }
    }

    /// True when `ts` is the moment the socket was created (the flow's start).
    pub fn marks_start(self) -> bool {
        matches!(self, EventKind::Connect | EventKind::Accept)
    }
}

/// Operating system family of the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// Windows.
    Windows,
    /// Linux.
    Linux,
    /// macOS.
    Macos,
    /// Anything else the feed named.
    Other,
}

impl Os {
    /// Parses a feed's `os` value ("windows", "Linux", "darwin", ...).
    pub fn parse(s: &str) -> Os {
        let s = s.trim().to_ascii_lowercase();
        if s.starts_with("win") {
            Os::Windows
        } else if s.starts_with("linux") {
            Os::Linux
        } else if s.starts_with("mac") || s.starts_with("darwin") || s == "osx" {
            Os::Macos
        } else {
            Os::Other
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Os::Windows => "windows",
            Os::Linux => "linux",
            Os::Macos => "macos",
            Os::Other => "other",
        }
    }
}

/// The process behind a socket, as the endpoint reported it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Process {
    /// Process id.
    pub pid: Option<u32>,
    /// Parent process id.
    pub ppid: Option<u32>,
    /// Executable path as reported (Windows path, Linux path, `System`, ...).
    pub executable: Option<String>,
    /// User name (`DOMAIN\name`, `root`, or a numeric uid as text).
    pub user: Option<String>,
    /// Command line.
    pub cmdline: Option<String>,
    /// SHA-256 of the executable, lower-case hex.
    pub sha256: Option<String>,
    /// Code signer.
    pub signer: Option<String>,
    /// The executable was deleted or replaced after the process started.
    pub exe_deleted: bool,
    /// Inode of the network namespace it ran in (kernel source).
    pub netns: Option<u32>,
    /// Id of its cgroup (v2; kernel source).
    pub cgroup_id: Option<u64>,
    /// The endpoint agent's own id of the process (Sysmon `ProcessGuid`),
    /// which pids that are reused do not confuse.
    pub guid: Option<String>,
}

impl Process {
    /// The file name of the executable: the part after the last `/` or `\`.
    pub fn name(&self) -> Option<&str> {
        let exe = self.executable.as_deref()?;
        let base = exe.rsplit(['/', '\\']).next().unwrap_or(exe);
        (!base.is_empty()).then_some(base)
    }
}

/// One socket event from an endpoint feed. `local` is the endpoint's own
/// side, `remote` its peer, whatever the direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEvent {
    /// Event time by the endpoint's clock, microseconds since the epoch.
    pub ts: u64,
    /// Host name of the endpoint.
    pub host: String,
    /// An address of the endpoint, when the feed names it apart from `local_ip`.
    pub host_ip: Option<IpAddr>,
    /// Operating system, when the format tells it.
    pub os: Option<Os>,
    /// What happened.
    pub kind: EventKind,
    /// Transport; `None` when the format does not log it (auditd).
    pub proto: Option<Transport>,
    /// Local address; `None` when not logged.
    pub local_ip: Option<IpAddr>,
    /// Local port; `None` when not logged (auditd connect, some osquery rows).
    pub local_port: Option<u16>,
    /// Remote address.
    pub remote_ip: IpAddr,
    /// Remote port.
    pub remote_port: u16,
    /// The process.
    pub process: Arc<Process>,
}

impl SocketEvent {
    /// The event as one line of the native feed (DESIGN.md), which every
    /// reader of the feed takes back unchanged.
    pub fn to_native_json(&self) -> String {
        let p = &self.process;
        let mut v = serde_json::json!({
            "ts": capture::time::rfc3339(self.ts),
            "host": self.host,
            "event": match self.kind {
                EventKind::Connect => "connect",
                EventKind::Accept => "accept",
                EventKind::Open => "open",
                EventKind::Close => "close",
            },
            "dst_ip": self.remote_ip.to_string(),
            "dst_port": self.remote_port,
        });
        let mut put = |k: &str, val: Option<serde_json::Value>| {
            if let (Some(val), Some(obj)) = (val, v.as_object_mut()) {
                obj.insert(k.to_string(), val);
            }
        };
        put("proto", self.proto.map(|x| x.name().into()));
        put("os", self.os.map(|x| x.name().into()));
        put("src_ip", self.local_ip.map(|x| x.to_string().into()));
        put("src_port", self.local_port.map(Into::into));
        put("host_ip", self.host_ip.map(|x| x.to_string().into()));
        put("pid", p.pid.map(Into::into));
        put("ppid", p.ppid.map(Into::into));
        put("process", p.executable.clone().map(Into::into));
        put("user", p.user.clone().map(Into::into));
        put("cmdline", p.cmdline.clone().map(Into::into));
        put("sha256", p.sha256.clone().map(Into::into));
        put("signer", p.signer.clone().map(Into::into));
        put("exe_deleted", p.exe_deleted.then_some(true.into()));
        put("netns", p.netns.map(Into::into));
        put("cgroup_id", p.cgroup_id.map(Into::into));
        v.to_string()
    }
}
