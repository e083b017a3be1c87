//! What program each process runs, kept past its end: filled from exec
//! and fork records as they come, seeded from /proc at start, so a
//! connection from a process that lived a millisecond still has its
//! executable, command line and parent.

use crate::event::ExecRecord;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What is known of one process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    /// Absolute path of the executable, when known.
    pub executable: Option<String>,
    /// The executable was deleted (or replaced) after the process started.
    pub deleted: bool,
    /// Command line: arguments joined by spaces (the first bytes only).
    pub cmdline: Option<String>,
    /// Parent process id.
    pub ppid: Option<u32>,
    /// Its name (comm).
    pub comm: String,
}

/// Counters of the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Processes seeded from /proc at start.
    pub seeded: u64,
    /// exec records taken.
    pub execs: u64,
    /// Lookups that found the process only in /proc (its exec was not
    /// seen).
    pub from_proc: u64,
    /// Lookups that found nothing: the process was gone and unseen.
    pub unknown: u64,
    /// Entries pushed out to stay under the cap.
    pub evicted: u64,
}

/// Processes by id, at most a configured number (least recently used go).
pub struct Processes {
    root: PathBuf,
    table: LruCache<u32, Arc<ProcessInfo>>,
    /// New tasks' parents, taken up only when a task is looked up: a fork
    /// record does not say whether it made a process or a thread, and
    /// threads must not push processes out of the table.
    parents: LruCache<u32, u32>,
    /// What the table did.
    pub stats: TableStats,
}

impl Processes {
    /// An empty table of at most `cap` processes, reading `root` (/proc).
    pub fn new(root: &Path, cap: usize) -> Self {
        Processes {
            root: root.to_path_buf(),
            table: LruCache::new(NonZeroUsize::new(cap.max(1)).unwrap_or(NonZeroUsize::MIN)),
            parents: LruCache::new(NonZeroUsize::new(cap.max(1)).unwrap_or(NonZeroUsize::MIN)),
            stats: TableStats::default(),
        }
    }

    /// Reads every process /proc lists now.
    pub fn seed(&mut self) {
        let Ok(dir) = std::fs::read_dir(&self.root) else {
            return;
        };
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(info) = self.read_proc(pid, None) {
                self.put(pid, info);
                self.stats.seeded += 1;
            }
        }
    }

    /// A program started: what /proc says of it now (it may already be
    /// gone), else the path exec was given, made absolute against the
    /// process's working directory where that can be read.
    pub fn exec(&mut self, e: &ExecRecord) {
        self.stats.execs += 1;
        let cmdline = join_args(&e.args);
        let info = match self.read_proc(e.pid, Some(e.ppid)) {
            Some(mut info) => {
                info.cmdline = info.cmdline.or_else(|| cmdline.clone());
                info
            }
            None => ProcessInfo {
                executable: Some(self.absolute(e.pid, &e.path)),
                deleted: false,
                cmdline,
                ppid: Some(e.ppid),
                comm: e.comm.clone(),
            },
        };
        self.put(e.pid, info);
    }

    /// A new task of `parent`: it runs the parent's program until it
    /// execs.
    pub fn fork(&mut self, child: u32, parent: u32) {
        self.parents.put(child, parent);
    }

    /// What is known of `pid`: the table, else /proc (a process started
    /// before the programs were attached, or whose exec record was lost).
    pub fn get(&mut self, pid: u32) -> Option<Arc<ProcessInfo>> {
        // Whether the program was deleted since is the kernel's to say, in
        // each socket record: no look at /proc here.
        if let Some(p) = self.table.get(&pid) {
            return Some(p.clone());
        }
        // A child that has not exec'd runs its parent's program.
        let parent = self.parents.peek(&pid).copied();
        if let Some(p) = parent.and_then(|pp| self.table.get(&pp).cloned()) {
            let info = ProcessInfo {
                ppid: parent,
                ..(*p).clone()
            };
            return Some(self.put(pid, info));
        }
        match self.read_proc(pid, None) {
            Some(info) => {
                self.stats.from_proc += 1;
                Some(self.put(pid, info))
            }
            None => {
                self.stats.unknown += 1;
                None
            }
        }
    }

    fn put(&mut self, pid: u32, info: ProcessInfo) -> Arc<ProcessInfo> {
        let info = Arc::new(info);
        if let Some((old, _)) = self.table.push(pid, info.clone()) {
            if old != pid {
                self.stats.evicted += 1;
            }
        }
        info
    }

    /// /proc/PID's executable, command line and parent, if it still runs.
    fn read_proc(&self, pid: u32, ppid: Option<u32>) -> Option<ProcessInfo> {
        let dir = self.root.join(pid.to_string());
        let exe = std::fs::read_link(dir.join("exe")).ok()?;
        let exe = exe.to_string_lossy();
        let (executable, deleted) = match exe.strip_suffix(" (deleted)") {
            Some(path) => (path.to_string(), true),
            None => (exe.into_owned(), false),
        };
        let cmdline = std::fs::read(dir.join("cmdline"))
            .ok()
            .and_then(|b| join_args(&b));
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        Some(ProcessInfo {
            executable: Some(executable),
            deleted,
            cmdline,
            ppid: ppid.or_else(|| field("PPid:").and_then(|v| v.parse().ok())),
            comm: field("Name:").unwrap_or_default(),
        })
    }

    /// `path` made absolute against `pid`'s working directory, when it is
    /// relative and that directory can be read.
    fn absolute(&self, pid: u32, path: &str) -> String {
        if path.starts_with('/') {
            return path.to_string();
        }
        match std::fs::read_link(self.root.join(pid.to_string()).join("cwd")) {
            Ok(cwd) => clean(&cwd.join(path)),
            Err(_) => path.to_string(),
        }
    }
}

/// `a/./b/../c` as `a/c`, without asking the file system.
fn clean(p: &Path) -> String {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.to_string_lossy().into_owned()
}

/// NUL-separated arguments joined by spaces; `None` when there are none.
fn join_args(b: &[u8]) -> Option<String> {
    let parts: Vec<String> = b
        .split(|&c| c == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(pid: u32, path: &str) -> ExecRecord {
        ExecRecord {
            pid,
            ppid: 1,
            uid: 0,
            ts: 0,
            comm: "beacon".into(),
            path: path.into(),
            args: b"./beacon\0--every\x005\0".to_vec(),
        }
    }

    #[test]
    fn a_process_outlives_itself_and_its_forks_inherit() {
        // A /proc with no processes: everything comes from the records.
        let dir = std::env::temp_dir().join(format!("procflow-ebpf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut t = Processes::new(&dir, 2);
        t.exec(&exec(100, "/opt/x/beacon"));
        let p = t.get(100).unwrap();
        assert_eq!(p.executable.as_deref(), Some("/opt/x/beacon"));
        assert_eq!(p.cmdline.as_deref(), Some("./beacon --every 5"));
        assert_eq!(p.ppid, Some(1));
        t.fork(101, 100);
        let c = t.get(101).unwrap();
        assert_eq!(c.executable.as_deref(), Some("/opt/x/beacon"));
        assert_eq!(c.ppid, Some(100));
        // A relative path with no cwd to read stays as given.
        t.exec(&exec(102, "./beacon"));
        assert_eq!(t.get(102).unwrap().executable.as_deref(), Some("./beacon"));
        // The cap holds: the least recently used went.
        assert_eq!(t.stats.evicted, 1);
        assert!(t.get(100).is_none());
        assert_eq!(t.stats.unknown, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn paths_are_cleaned() {
        assert_eq!(clean(Path::new("/tmp/a/./b/../beacon")), "/tmp/a/beacon");
    }
}
