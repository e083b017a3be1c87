//! Live outputs (flows, process windows, alerts), each written by a thread
//! of its own from a bounded queue of lines, so that a sink that blocks (a
//! FIFO nobody reads) or fails (a full disk) never holds up processing.
//! Every line that does not reach its sink is counted: dropped at the full
//! queue, lost to a failed write, or still queued when the run ended and
//! the writer could not finish in time.

use super::metrics::Metrics;
use anyhow::{Context, Result};
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Bytes gathered from the queue into one write, at most (a line longer
/// than this is written alone).
const BATCH_BYTES: usize = 1 << 16;

/// Which output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attributed flow records (`--flows`).
    Flows,
    /// Process windows (`--processes`).
    Processes,
    /// Alerts (`--alerts`).
    Alerts,
}

impl Kind {
    /// Every output, in report order.
    pub const ALL: [Kind; 3] = [Kind::Alerts, Kind::Flows, Kind::Processes];

    /// Its name in messages, metrics and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Flows => "flows",
            Kind::Processes => "processes",
            Kind::Alerts => "alerts",
        }
    }
}

/// What happened to the lines of one output.
#[derive(Debug, Default)]
pub struct Counters {
    /// Lines handed to the output.
    pub lines: AtomicU64,
    /// Lines written to the sink whole.
    pub written: AtomicU64,
    /// Lines dropped because the queue was full.
    pub queue_full: AtomicU64,
    /// Lines lost to a failed write.
    pub write_failed: AtomicU64,
    /// Lines still queued or being written when the run ended.
    pub abandoned: AtomicU64,
}

impl Counters {
    /// Lines that did not reach the sink.
    pub fn dropped(&self) -> u64 {
        self.queue_full.load(Relaxed)
            + self.write_failed.load(Relaxed)
            + self.abandoned.load(Relaxed)
    }

    /// The counters as JSON (`--stats`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "lines": self.lines.load(Relaxed),
            "written": self.written.load(Relaxed),
            "dropped": self.dropped(),
            "queue_full": self.queue_full.load(Relaxed),
            "write_failed": self.write_failed.load(Relaxed),
            "abandoned": self.abandoned.load(Relaxed),
        })
    }
}

/// The processing thread's end of an output: a `Write` that queues whole
/// lines for the writer thread and never blocks or fails.
pub struct Queued {
    kind: Kind,
    path: String,
    partial: Vec<u8>,
    tx: Sender<Vec<u8>>,
    metrics: Arc<Metrics>,
    warned: bool,
}

impl Queued {
    fn offer(&mut self, line: Vec<u8>) {
        let c = self.metrics.output(self.kind);
        c.lines.fetch_add(1, Relaxed);
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                c.queue_full.fetch_add(1, Relaxed);
                if !self.warned {
                    self.warned = true;
                    eprintln!(
                        "procflow: warning: {} output {}: not keeping up (blocked or too slow); lines that find its queue of {} full are dropped and counted",
                        self.kind.name(),
                        self.path,
                        self.tx.capacity().unwrap_or(0)
                    );
                }
            }
            // The writer is gone only if it panicked: its lines are lost.
            Err(TrySendError::Disconnected(_)) => {
                c.write_failed.fetch_add(1, Relaxed);
            }
        }
    }
}

impl Write for Queued {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i + 1);
            self.partial.extend_from_slice(line);
            let whole = std::mem::take(&mut self.partial);
            self.offer(whole);
            rest = tail;
        }
        self.partial.extend_from_slice(rest);
        Ok(buf.len())
    }

    /// Lines are queued as they end: nothing to flush here.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A running output writer.
pub struct Output {
    /// Which output.
    pub kind: Kind,
    /// Where it writes ("-": standard output).
    pub path: String,
    /// The writer thread.
    pub thread: JoinHandle<()>,
}

/// Opens `path` ("-": standard output) and starts its writer; the queue
/// holds `queue` lines.
pub fn start(
    kind: Kind,
    path: &Path,
    queue: usize,
    metrics: &Arc<Metrics>,
) -> Result<(Queued, Output)> {
    let name = path.display().to_string();
    let target = if path == Path::new("-") {
        // A descriptor of its own: writes go out at once (no buffer in
        // between), so each line is counted only once it is written.
        let fd = io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .context("standard output")?;
        Target::Stdout(File::from(fd))
    } else {
        Target::File(File::create(path).with_context(|| format!("{name}: cannot create"))?)
    };
    let (tx, rx) = bounded::<Vec<u8>>(queue.max(1));
    let stream = !target.is_regular_file();
    let mut w = Writer {
        kind,
        path: name.clone(),
        target,
        stream,
        good: 0,
        mid_line: false,
        warned: false,
        metrics: metrics.clone(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("procflow-{}", kind.name()))
        .spawn(move || w.run(&rx))
        .context("cannot start an output thread")?;
    let q = Queued {
        kind,
        path: name.clone(),
        partial: Vec::new(),
        tx,
        metrics: metrics.clone(),
        warned: false,
    };
    Ok((
        q,
        Output {
            kind,
            path: name,
            thread,
        },
    ))
}

/// What a writer writes to.
enum Target {
    /// A file procflow created (written from its start).
    File(File),
    /// Standard output, whatever it is (never cut back: it may not start at 0).
    Stdout(File),
}

impl Target {
    /// A regular file (not a pipe, FIFO, socket or terminal).
    fn is_regular_file(&self) -> bool {
        let (Target::File(f) | Target::Stdout(f)) = self;
        f.metadata().is_ok_and(|m| m.is_file())
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::File(f) => f.write(buf),
            Target::Stdout(s) => s.write(buf),
        }
    }

    /// Cuts a regular file back to `len` bytes (a line half written before
    /// a failure); false where that cannot be done.
    fn cut(&mut self, len: u64) -> bool {
        match self {
            Target::File(f) => f.set_len(len).is_ok() && f.seek(SeekFrom::Start(len)).is_ok(),
            Target::Stdout(_) => false,
        }
    }
}

/// The writer thread's state.
struct Writer {
    kind: Kind,
    path: String,
    target: Target,
    /// Not a regular file: written one line a call, since a blocking write
    /// to a pipe returns only once all of it is in, and the lines of a
    /// batch the reader took before it stopped reading would be counted
    /// as unwritten.
    stream: bool,
    /// Bytes of whole lines written so far.
    good: u64,
    /// A failed write left part of a line that could not be taken back.
    mid_line: bool,
    warned: bool,
    metrics: Arc<Metrics>,
}

impl Writer {
    /// Writes batches until the queue is closed and empty.
    fn run(&mut self, rx: &Receiver<Vec<u8>>) {
        let mut buf = Vec::with_capacity(BATCH_BYTES);
        let mut ends = Vec::new();
        while let Ok(first) = rx.recv() {
            buf.clear();
            ends.clear();
            buf.extend_from_slice(&first);
            ends.push(buf.len());
            while buf.len() < BATCH_BYTES {
                let Ok(line) = rx.try_recv() else { break };
                buf.extend_from_slice(&line);
                ends.push(buf.len());
            }
            self.batch(&buf, &ends);
        }
    }

    /// Writes `buf`, whose lines end at `ends`, counting each line written
    /// as soon as its last byte is.
    fn batch(&mut self, buf: &[u8], ends: &[usize]) {
        let c = self.metrics.output(self.kind);
        if self.mid_line && self.target.write(b"\n").is_ok_and(|n| n == 1) {
            // The broken fragment is ended, so the lines after it stay whole.
            self.mid_line = false;
            self.good += 1;
        }
        let (mut done, mut whole) = (0usize, 0usize);
        while done < buf.len() {
            let upto = match (self.stream, ends.get(whole)) {
                (true, Some(&end)) => end,
                _ => buf.len(),
            };
            let rest = buf.get(done..upto).unwrap_or_default();
            let err = match self.target.write(rest) {
                Ok(0) => io::Error::from(io::ErrorKind::WriteZero),
                Ok(n) => {
                    done += n;
                    let now = ends.iter().take_while(|&&e| e <= done).count();
                    c.written.fetch_add((now - whole) as u64, Relaxed);
                    whole = now;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => e,
            };
            c.write_failed
                .fetch_add((ends.len() - whole) as u64, Relaxed);
            let kept = whole
                .checked_sub(1)
                .and_then(|i| ends.get(i))
                .copied()
                .unwrap_or(0);
            if done > kept && !self.target.cut(self.good + kept as u64) {
                self.mid_line = true;
            }
            self.good += kept as u64;
            self.warn(&err);
            return;
        }
        self.good += buf.len() as u64;
    }

    fn warn(&mut self, e: &io::Error) {
        if !self.warned {
            self.warned = true;
            eprintln!(
                "procflow: warning: {} output {}: {e}; lines not written are dropped and counted (later lines are tried)",
                self.kind.name(),
                self.path
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn counts(m: &Metrics, k: Kind) -> (u64, u64, u64, u64) {
        let c = m.output(k);
        (
            c.lines.load(Relaxed),
            c.written.load(Relaxed),
            c.queue_full.load(Relaxed),
            c.write_failed.load(Relaxed),
        )
    }

    #[test]
    fn every_line_reaches_a_good_file() {
        let dir = std::env::temp_dir().join(format!("procflow-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows.jsonl");
        let m = Arc::new(Metrics::default());
        let (mut q, out) = start(Kind::Flows, &path, 1000, &m).unwrap();
        for i in 0..500 {
            // Two writes per line, as `writeln!` makes.
            write!(q, "{{\"n\":{i}}}").unwrap();
            q.write_all(b"\n").unwrap();
        }
        drop(q);
        out.thread.join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 500);
        assert_eq!(text.lines().nth(499), Some("{\"n\":499}"));
        assert_eq!(counts(&m, Kind::Flows), (500, 500, 0, 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_device_loses_every_line_and_counts_each() {
        let m = Arc::new(Metrics::default());
        let (mut q, out) = start(Kind::Alerts, Path::new("/dev/full"), 1000, &m).unwrap();
        for i in 0..40 {
            writeln!(q, "alert {i}").unwrap();
        }
        drop(q);
        out.thread.join().unwrap();
        assert_eq!(counts(&m, Kind::Alerts), (40, 0, 0, 40));
        assert_eq!(m.output(Kind::Alerts).dropped(), 40);
    }

    #[test]
    fn a_blocked_writer_never_blocks_the_queue_side() {
        // A queue of 2 whose writer waits on a socket nobody reads: the
        // processing side goes on, and counts what does not fit.
        let (r, w) = std::os::unix::net::UnixStream::pair().unwrap();
        let m = Arc::new(Metrics::default());
        let (tx, rx) = bounded::<Vec<u8>>(2);
        let mut writer = Writer {
            kind: Kind::Alerts,
            path: "pipe".into(),
            target: Target::File(File::from(std::os::fd::OwnedFd::from(w))),
            stream: true,
            good: 0,
            mid_line: false,
            warned: false,
            metrics: m.clone(),
        };
        let t = std::thread::spawn(move || writer.run(&rx));
        let mut q = Queued {
            kind: Kind::Alerts,
            path: "pipe".into(),
            partial: Vec::new(),
            tx,
            metrics: m.clone(),
            warned: false,
        };
        let line = "x".repeat(1 << 20);
        let began = std::time::Instant::now();
        for _ in 0..10 {
            writeln!(q, "{line}").unwrap();
        }
        assert!(began.elapsed() < std::time::Duration::from_secs(5));
        let c = m.output(Kind::Alerts);
        assert_eq!(c.lines.load(Relaxed), 10);
        // At most one line taken by the writer and two queued.
        assert!(c.queue_full.load(Relaxed) >= 7, "{c:?}");
        assert_eq!(c.written.load(Relaxed), 0);
        drop(q);
        drop(r); // the writer's write fails (EPIPE) and it drains the rest
        t.join().unwrap();
        assert_eq!(
            c.queue_full.load(Relaxed) + c.write_failed.load(Relaxed),
            10,
            "{c:?}"
        );
    }
}
