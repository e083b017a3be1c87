//! Following a feed file an agent appends to, like `tail -F`: new complete
//! lines are read as they are appended (the file is looked at every
//! `poll`), read exactly as the file reader reads them, and their events
//! sent to the pipeline's channel.
//!
//! - It starts at the file's end (or its beginning: [`StartAt`]); line
//!   numbers are the file's all the same.
//! - The file may not exist yet: the follower waits for it, and reads a
//!   file that appears from its beginning.
//! - Rotation: when another file takes the name (its inode changes) the
//!   new one is read from its start, and the old one is still read beside
//!   it until it has not grown for `rotate_grace` (a writer may write to
//!   its old file until it reopens the name). When the file is truncated
//!   it is read again from its start; so is a file truncated and written
//!   again past the point read between two looks (logrotate's
//!   copytruncate), told by the last bytes read no longer being where
//!   they were. Each is counted and logged in one line. Each file read
//!   has its own [`FeedReport`] (its own line numbers). What copytruncate
//!   copied away before the follower read it is only in the copy.
//! - The sink is waited for when full (the file holds what is not read
//!   yet), unless `send_timeout` is set; once stopping, events that find
//!   no room are dropped and counted.
//! - A file that is not a feed is reported in [`FollowStats::error`] and
//!   not read further; a new file under the name is read again.

mod generation;

use crate::event::SocketEvent;
use crate::feed::{FeedError, FeedFormat, FeedReport, MAX_LINE};
use crate::live::{sleep_unless_stopped, stderr_logger, EventSink, Logger, Sent};
use crossbeam_channel::Sender;
use generation::{Change, Delivery, Generation, Outcome};
use std::cell::Cell;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Reports of files read kept in [`FollowStats::reports`].
pub const MAX_REPORTS: usize = 8;
/// Default time between two looks at the file.
pub const DEFAULT_POLL: Duration = Duration::from_millis(150);
/// Default time a rotated file is still read after it last grew.
pub const DEFAULT_ROTATE_GRACE: Duration = Duration::from_secs(10);
/// Bytes read at a time.
const READ_BUF: usize = 64 << 10;

/// Where reading starts in the file found at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// Its first line: everything it holds is read.
    Beginning,
    /// Its end: only lines appended from now on are read.
    End,
}

/// What to follow, and how.
#[derive(Clone)]
pub struct FollowConfig {
    /// The file.
    pub path: PathBuf,
    /// Its format; [`FeedFormat::Auto`] detects it from each file's first
    /// lines.
    pub format: FeedFormat,
    /// Host name for formats that carry none (auditd).
    pub default_host: String,
    /// Where to start in the file found at start.
    pub start: StartAt,
    /// Time between two looks at the file.
    pub poll: Duration,
    /// Longest line, in bytes; a longer one is a bad line.
    pub max_line: usize,
    /// A rotated file is read beside the new one until it has not grown
    /// for this long (one rotated file at a time: a second rotation ends
    /// the reading of the first).
    pub rotate_grace: Duration,
    /// How long a full sink is waited for before an event is dropped and
    /// counted; `None`: as long as it takes.
    pub send_timeout: Option<Duration>,
    /// Where the few notices go (a file that is not a feed, read errors).
    pub log: Logger,
}

impl FollowConfig {
    /// Follows `path` from its end, format detected, host `"unknown"` for
    /// formats without one, looking every 150 ms.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            format: FeedFormat::Auto,
            default_host: "unknown".into(),
            start: StartAt::End,
            poll: DEFAULT_POLL,
            max_line: MAX_LINE,
            rotate_grace: DEFAULT_ROTATE_GRACE,
            send_timeout: None,
            log: stderr_logger(),
        }
    }
}

impl std::fmt::Debug for FollowConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowConfig")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("default_host", &self.default_host)
            .field("start", &self.start)
            .field("poll", &self.poll)
            .field("max_line", &self.max_line)
            .field("rotate_grace", &self.rotate_grace)
            .field("send_timeout", &self.send_timeout)
            .finish_non_exhaustive()
    }
}

/// What the follower has done.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FollowStats {
    /// The file followed.
    pub path: String,
    /// Its name names no file now (not yet, or between rotations).
    pub waiting: bool,
    /// Files opened: the first, and one after each rotation or truncation.
    pub opened: u64,
    /// Times another file took the name.
    pub rotations: u64,
    /// Times the file was truncated.
    pub truncations: u64,
    /// Lines read, in all files (not those there before, when it started
    /// at the end).
    pub lines: u64,
    /// Events read.
    pub events: u64,
    /// Bad lines.
    pub bad_lines: u64,
    /// Records skipped (valid, no socket event).
    pub skipped: u64,
    /// Events dropped because the sink stayed full (or was closed).
    pub dropped: u64,
    /// Bytes read of the file being read (its read offset).
    pub offset: u64,
    /// One report per file read, the last [`MAX_REPORTS`], the current one
    /// last; bad lines carry the line numbers of that file.
    pub reports: Vec<FeedReport>,
    /// Reports no longer in `reports`.
    pub reports_forgotten: u64,
    /// The last error: the file is not a feed, or cannot be read.
    pub error: Option<String>,
}

/// Counts of the files done with.
#[derive(Debug, Default)]
struct FinishedFiles {
    lines: u64,
    events: u64,
    bad_lines: u64,
    skipped: u64,
}

/// What the follower thread shares with its handle.
struct Shared {
    cfg: FollowConfig,
    stop: AtomicBool,
    stats: Mutex<FollowStats>,
    sink: EventSink,
}

impl Shared {
    fn stats(&self) -> MutexGuard<'_, FollowStats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running file follower. Dropping it stops it.
pub struct FileFollower {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FileFollower {
    /// Starts following; events go to `sink`. A path that is a directory
    /// is an error; a missing file is waited for.
    pub fn start(cfg: FollowConfig, sink: Sender<SocketEvent>) -> Result<Self, FeedError> {
        let name = cfg.path.display().to_string();
        let open = |reason: String| FeedError::Open {
            path: name.clone(),
            reason,
        };
        if cfg.path.is_dir() {
            return Err(open("is a directory".into()));
        }
        let shared = Arc::new(Shared {
            sink: EventSink::new(sink, cfg.send_timeout),
            stats: Mutex::new(FollowStats {
                path: name.clone(),
                ..FollowStats::default()
            }),
            cfg,
            stop: AtomicBool::new(false),
        });
        let inner = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("feed-follow".into())
            .spawn(move || run(&inner))
            .map_err(|e| open(format!("cannot start the follower thread: {e}")))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// What has been counted so far.
    pub fn stats(&self) -> FollowStats {
        self.shared.stats().clone()
    }

    /// Stops following (what was read of an unfinished last line is read
    /// as a line), joins the thread, and gives the final counts.
    pub fn shutdown(mut self) -> FollowStats {
        self.stop();
        self.stats()
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FileFollower {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A rotated file still read beside the new one, and when it last grew.
struct Draining {
    g: Generation,
    grew: Instant,
}

/// The follower thread.
fn run(sh: &Shared) {
    let cfg = &sh.cfg;
    let mut buf = vec![0u8; READ_BUF];
    let mut cur: Option<Generation> = None;
    let mut old: Option<Draining> = None;
    let mut done = FinishedFiles::default();
    let mut first_look = true;
    let dropped = Cell::new(0u64);
    let sink_closed = Cell::new(false);
    let mut open_error_logged = false;
    let mut send = |ev| match sh.sink.send(ev, &sh.stop) {
        Sent::Yes => true,
        Sent::Dropped => {
            dropped.set(dropped.get() + 1);
            true
        }
        Sent::Closed => {
            dropped.set(dropped.get() + 1);
            sink_closed.set(true);
            false
        }
    };
    while !sh.stop.load(Ordering::Relaxed) {
        if cur.is_none() {
            let at_end = first_look && cfg.start == StartAt::End;
            first_look = false;
            cur = open(sh, at_end, &mut open_error_logged);
        }
        let mut out = Delivery {
            send: &mut send,
            stop: &sh.stop,
        };
        drain_rotated(sh, &mut old, &mut buf, &mut out, &mut done);
        match follow_current(sh, &mut cur, &mut old, &mut buf, &mut out, &mut done) {
            Step::Stop => break,
            Step::Again => continue,
            Step::Wait => {}
        }
        publish(sh, cur.as_ref(), old.as_ref(), &done);
        let mut st = sh.stats();
        st.dropped = dropped.get();
        st.waiting = !cfg.path.exists();
        drop(st);
        if sink_closed.get() || !sleep_unless_stopped(cfg.poll, &sh.stop) {
            break;
        }
    }
    let mut out = Delivery {
        send: &mut send,
        stop: &sh.stop,
    };
    retire(sh, old.map(|d| d.g), &mut out, &mut done);
    let offset = cur.as_ref().map(Generation::offset);
    retire(sh, cur, &mut out, &mut done);
    publish(sh, None, None, &done);
    let mut st = sh.stats();
    st.offset = offset.unwrap_or(st.offset);
    st.dropped = dropped.get();
}

/// What the follower does after a look at the file under the name.
enum Step {
    /// Sleep a poll, then look again.
    Wait,
    /// Look again at once (the file under the name changed).
    Again,
    /// Stop: the run is stopping, or the sink is gone.
    Stop,
}

/// Reads what the rotated-away file still gains, and lets it go once it
/// has not grown for the grace time (or cannot be read).
fn drain_rotated(
    sh: &Shared,
    old: &mut Option<Draining>,
    buf: &mut [u8],
    out: &mut Delivery<'_>,
    done: &mut FinishedFiles,
) {
    let Some(d) = old.as_mut() else { return };
    let at = d.g.offset();
    let outcome = d.g.read_new(buf, out, &mut |_| {});
    failed(sh, &outcome);
    if d.g.offset() != at {
        d.grew = Instant::now();
    } else if d.grew.elapsed() >= sh.cfg.rotate_grace || outcome != Outcome::Caught {
        retire(sh, old.take().map(|d| d.g), out, done);
    }
}

/// Reads what the file under the name gained, and notices when it was
/// rotated away or truncated.
fn follow_current(
    sh: &Shared,
    cur: &mut Option<Generation>,
    old: &mut Option<Draining>,
    buf: &mut [u8],
    out: &mut Delivery<'_>,
    done: &mut FinishedFiles,
) -> Step {
    let cfg = &sh.cfg;
    let Some(g) = cur.as_mut() else {
        return Step::Wait;
    };
    let change = g.change(&cfg.path);
    // After a truncation what follows the offset is new content,
    // read from the start; a replaced file is read to its end.
    let outcome = if change == Change::Truncated {
        Outcome::Caught
    } else {
        g.read_new(buf, out, &mut |g| publish(sh, Some(g), old.as_ref(), done))
    };
    failed(sh, &outcome);
    publish(sh, Some(g), old.as_ref(), done);
    let path = cfg.path.display();
    match change {
        Change::Same if outcome == Outcome::Stopped => Step::Stop,
        Change::Same => Step::Wait,
        Change::Replaced => {
            sh.stats().rotations += 1;
            (cfg.log)(&format!(
                    "feed {path}: rotated (another file has the name): reading the new one from its start, and the old one while it grows"
                ));
            retire(sh, old.take().map(|d| d.g), out, done);
            *old = cur.take().map(|g| Draining {
                g,
                grew: Instant::now(),
            });
            Step::Again
        }
        Change::Truncated => {
            sh.stats().truncations += 1;
            (cfg.log)(&format!(
                    "feed {path}: truncated (or rewritten from its start): reading it again from its start"
                ));
            retire(sh, cur.take(), out, done);
            Step::Again
        }
    }
}

/// Opens the file under the name, if there is one, and starts its report.
fn open(sh: &Shared, at_end: bool, error_logged: &mut bool) -> Option<Generation> {
    let cfg = &sh.cfg;
    let opened = Generation::open(
        &cfg.path,
        cfg.format,
        &cfg.default_host,
        cfg.max_line,
        at_end,
        &sh.stop,
    );
    match opened {
        Ok(mut g) => {
            *error_logged = false;
            let mut st = sh.stats();
            st.waiting = false;
            st.opened += 1;
            g.seq = st.opened;
            if st.reports.len() >= MAX_REPORTS {
                st.reports.remove(0);
                st.reports_forgotten += 1;
            }
            st.reports.push(g.report().clone());
            Some(g)
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            sh.stats().waiting = true;
            None
        }
        Err(e) => {
            let msg = format!("feed {}: cannot open: {e}", cfg.path.display());
            if !std::mem::replace(error_logged, true) {
                (cfg.log)(&msg);
            }
            sh.stats().error = Some(msg);
            None
        }
    }
}

/// Ends a file no longer read: its unfinished last line is read as a
/// line, and its counts join those of the files done with.
fn retire(sh: &Shared, g: Option<Generation>, out: &mut Delivery<'_>, done: &mut FinishedFiles) {
    if let Some(g) = g {
        let outcome = g_finish(g, out, sh, done);
        failed(sh, &outcome);
    }
}

/// Finishes `g`, keeps its last counts in its report, and adds them up.
fn g_finish(
    mut g: Generation,
    out: &mut Delivery<'_>,
    sh: &Shared,
    done: &mut FinishedFiles,
) -> Outcome {
    let outcome = g.finish(out);
    if let Some(r) = report_of(&mut sh.stats(), g.seq) {
        r.clone_from(g.report());
    }
    done.add(&g);
    outcome
}

/// The report of the `seq`th file opened, if still kept.
fn report_of(st: &mut FollowStats, seq: u64) -> Option<&mut FeedReport> {
    let i = seq.checked_sub(1 + st.reports_forgotten)?;
    st.reports.get_mut(usize::try_from(i).ok()?)
}

/// Notes (and logs, once per file) that a file cannot be read further.
fn failed(sh: &Shared, outcome: &Outcome) {
    if let Outcome::Failed(reason) = outcome {
        let mut st = sh.stats();
        if st.error.as_ref() != Some(reason) {
            (sh.cfg.log)(&format!("{reason}; waiting for a new file under the name"));
        }
        st.error = Some(reason.clone());
    }
}

impl FinishedFiles {
    fn add(&mut self, g: &Generation) {
        let r = g.report();
        self.lines += g.lines_read();
        self.events += r.events;
        self.bad_lines += r.bad_lines;
        self.skipped += r.skipped.values().sum::<u64>();
    }
}

/// Copies the counts of the files being read (the current one, and a
/// rotated one still read) into the stats.
fn publish(sh: &Shared, cur: Option<&Generation>, old: Option<&Draining>, done: &FinishedFiles) {
    let gens = || cur.into_iter().chain(old.map(|d| &d.g));
    let mut st = sh.stats();
    st.lines = done.lines + gens().map(Generation::lines_read).sum::<u64>();
    st.events = done.events + gens().map(|g| g.report().events).sum::<u64>();
    st.bad_lines = done.bad_lines + gens().map(|g| g.report().bad_lines).sum::<u64>();
    st.skipped = done.skipped
        + gens()
            .map(|g| g.report().skipped.values().sum::<u64>())
            .sum::<u64>();
    if let Some(g) = cur {
        st.offset = g.offset();
    }
    for g in gens() {
        if let Some(r) = report_of(&mut st, g.seq) {
            r.clone_from(g.report());
        }
    }
}
