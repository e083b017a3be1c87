//! Publishing a sensor's flow records, process windows and alerts to
//! JetStream, at least once. The sensor appends each line to the disk
//! spool ([`crate::spool`]); a thread of its own (with its own async
//! runtime) sends from the spool, a window of messages in flight at a
//! time, and moves the spool's cursor past what the server acknowledged.
//! A server that is slow or away only lets the spool grow (to its cap);
//! when it answers again, sending resumes from the first message not
//! acknowledged. Each message carries its spool id (`Nats-Msg-Id`), so a
//! message sent twice is stored once, and the sensor's name
//! (`Procflow-Sensor`).

use crate::connect::{ensure_stream, token, Server};
use crate::spool::{self, Position, Reader, Shared};
use async_nats::jetstream::message::PublishMessage;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The stream the sensors publish to, and its subjects' prefix.
pub const STREAM: &str = "PROCFLOW";
/// Subjects: `procflow.<kind>.<sensor>` (kinds `flows`, `windows`,
/// `alerts`, and `events` for socket events a relay publishes).
pub const PREFIX: &str = "procflow";
/// Messages in flight at once.
const IN_FLIGHT: usize = 512;
/// Pause between tries while the server is away.
const RETRY: Duration = Duration::from_secs(1);

/// The subjects of the stream: every kind, every sensor.
pub fn subjects() -> Vec<String> {
    ["flows", "windows", "alerts", "events"]
        .iter()
        .map(|k| format!("{PREFIX}.{k}.>"))
        .collect()
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An (attributed) flow record.
    Flow = 1,
    /// A process window.
    Window = 2,
    /// An alert.
    Alert = 3,
    /// An endpoint socket event (native feed line), from a relay.
    Event = 4,
}

impl Kind {
    fn subject_part(kind: u8) -> &'static str {
        match kind {
            1 => "flows",
            2 => "windows",
            3 => "alerts",
            4 => "events",
            _ => "other",
        }
    }
}

/// What to publish to, and how.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    /// The server.
    pub server: Server,
    /// The sensor's name (on every message, and in its subject).
    pub sensor: String,
    /// The spool directory.
    pub spool: PathBuf,
    /// Bytes the spool may hold not yet acknowledged.
    pub spool_max_bytes: u64,
    /// How long the end of a run waits for the spool to drain.
    pub final_wait: Duration,
}

/// Counters of the sending thread.
#[derive(Debug, Default)]
pub struct SendStats {
    /// Messages the server acknowledged.
    pub published: AtomicU64,
    /// Of those, ones it had already (sent again after a lost answer).
    pub duplicates: AtomicU64,
    /// Times the server stopped answering.
    pub outages: AtomicU64,
}

/// How publishing ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishEnd {
    /// Messages appended to the spool this run.
    pub appended: u64,
    /// Messages acknowledged by the server (this run, from any run's spool).
    pub published: u64,
    /// Acknowledged as duplicates.
    pub duplicates: u64,
    /// Dropped because the spool was full.
    pub dropped: u64,
    /// Times the server stopped answering.
    pub outages: u64,
    /// Bytes left in the spool, sent by the next run that uses it.
    pub left_bytes: u64,
    /// Spool records that did not read back, skipped.
    pub damaged: u64,
}

/// The publisher's counters, readable from any thread.
#[derive(Debug, Clone)]
pub struct Counters {
    shared: Arc<Shared>,
    stats: Arc<SendStats>,
}

impl Counters {
    /// Appended, acknowledged, dropped, outages, bytes not yet
    /// acknowledged.
    pub fn get(&self) -> [u64; 5] {
        [
            self.shared.appended.load(Relaxed),
            self.stats.published.load(Relaxed),
            self.shared.dropped.load(Relaxed),
            self.stats.outages.load(Relaxed),
            self.shared.pending_bytes.load(Relaxed),
        ]
    }
}

/// A running publisher: the spool's writer and the sending thread.
pub struct Publisher {
    writer: Arc<Mutex<spool::Writer>>,
    shared: Arc<Shared>,
    stats: Arc<SendStats>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
    /// The spool directory.
    pub spool: PathBuf,
    /// The server, as messages show it.
    pub shown: String,
}

/// One kind's lines, as a writer: each write is one message.
pub struct KindWriter {
    kind: Kind,
    writer: Arc<Mutex<spool::Writer>>,
}

impl Write for KindWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = buf.strip_suffix(b"\n").unwrap_or(buf);
        let mut w = self
            .writer
            .lock()
            .map_err(|_| io::Error::other("spool poisoned"))?;
        // A message the full spool drops is counted there, not an error:
        // the other outputs go on.
        w.append(self.kind as u8, line)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer
            .lock()
            .map_err(|_| io::Error::other("spool poisoned"))?
            .flush()
    }
}

impl Publisher {
    /// Opens the spool and starts sending.
    pub fn start(cfg: PublishConfig) -> io::Result<Publisher> {
        let (writer, shared) = spool::Writer::open(&cfg.spool, cfg.spool_max_bytes)?;
        let stats = Arc::new(SendStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let shown = cfg.server.shown();
        let spool = cfg.spool.clone();
        let writer = Arc::new(Mutex::new(writer));
        let (s2, st2, stop2, w2) = (shared.clone(), stats.clone(), stop.clone(), writer.clone());
        let rt = crate::connect::runtime()?;
        let thread = std::thread::Builder::new()
            .name("publish".into())
            .spawn(move || rt.block_on(send_loop(&cfg, &s2, &st2, &stop2, &w2)))?;
        Ok(Publisher {
            writer,
            shared,
            stats,
            stop,
            thread,
            spool,
            shown,
        })
    }

    /// A writer of `kind`'s lines.
    pub fn writer(&self, kind: Kind) -> KindWriter {
        KindWriter {
            kind,
            writer: self.writer.clone(),
        }
    }

    /// A handle on the counters, for another thread (live metrics).
    pub fn counters(&self) -> Counters {
        Counters {
            shared: self.shared.clone(),
            stats: self.stats.clone(),
        }
    }

    /// Flushes the spool, lets the sender drain it (up to the final
    /// wait), and says how it went.
    pub fn finish(self) -> PublishEnd {
        if let Ok(mut w) = self.writer.lock() {
            if let Err(e) = w.flush() {
                eprintln!("procflow: publishing: cannot write the spool: {e}");
            }
        }
        self.stop.store(true, Relaxed);
        let damaged = self.thread.join().unwrap_or(0);
        PublishEnd {
            appended: self.shared.appended.load(Relaxed),
            published: self.stats.published.load(Relaxed),
            duplicates: self.stats.duplicates.load(Relaxed),
            dropped: self.shared.dropped.load(Relaxed),
            outages: self.stats.outages.load(Relaxed),
            left_bytes: self.shared.pending_bytes.load(Relaxed),
            damaged,
        }
    }
}

/// Faults a test asks for with `PROCFLOW_FAILPOINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failpoint {
    /// `publish-pause:N`: after N acknowledgements the sender waits until
    /// the server is gone (a server killed while a sensor publishes).
    Pause(u64),
    /// `publish-acks-lost:N`: the acknowledgements of the batch after N
    /// are taken for lost (the batch is sent again).
    AcksLost(u64),
}

fn failpoint() -> Option<Failpoint> {
    let v = std::env::var("PROCFLOW_FAILPOINT").ok()?;
    if let Some(n) = v.strip_prefix("publish-pause:") {
        return n.parse().ok().map(Failpoint::Pause);
    }
    v.strip_prefix("publish-acks-lost:")?
        .parse()
        .ok()
        .map(Failpoint::AcksLost)
}

/// Sends until stopped and drained (or the final wait is over); returns
/// the spool records that did not read back.
async fn send_loop(
    cfg: &PublishConfig,
    shared: &Shared,
    stats: &SendStats,
    stop: &AtomicBool,
    writer: &Mutex<spool::Writer>,
) -> u64 {
    let dir = cfg.spool.as_path();
    let id = spool::spool_id(dir).unwrap_or_else(|_| "spool".into());
    let sensor = token(&cfg.sensor);
    let mut acked = spool::read_cursor(dir);
    let mut reader = Reader::new(dir, acked);
    let mut js = None;
    let mut down_since: Option<Instant> = None;
    let mut deadline: Option<Instant> = None;
    let mut fault = failpoint();
    loop {
        if stop.load(Relaxed) && deadline.is_none() {
            deadline = Some(Instant::now() + cfg.final_wait);
        }
        let over = deadline.is_some_and(|d| Instant::now() >= d);
        let context = match js.as_ref() {
            Some(c) => c,
            None => match connect(cfg).await {
                Ok(c) => js.insert(c),
                Err(e) => {
                    note_down(cfg, stats, &mut down_since, &e, shared);
                    if over {
                        break;
                    }
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            },
        };
        let mut batch = read_batch(&mut reader, dir);
        if batch.is_empty() {
            if stop.load(Relaxed) || over {
                break;
            }
            flush_idle(writer);
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        let lose =
            matches!(fault, Some(Failpoint::AcksLost(n)) if stats.published.load(Relaxed) >= n);
        if lose {
            fault = None;
        }
        let names = Names {
            id: &id,
            token: &sensor,
            sensor: &cfg.sensor,
        };
        match send_batch(context, &names, &mut batch, stats, shared, &mut acked, lose).await {
            Ok(()) => {
                if let Some(since) = down_since.take() {
                    eprintln!(
                        "procflow: NATS {}: answering again after {} s; sending from the spool",
                        cfg.server.shown(),
                        since.elapsed().as_secs()
                    );
                }
            }
            Err(e) => {
                js = None;
                reader.rewind(acked);
                note_down(cfg, stats, &mut down_since, &e, shared);
                if !over {
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
        if let Err(e) = spool::save_cursor(dir, acked) {
            eprintln!("procflow: publishing: cannot save the spool's cursor: {e}");
        }
        if matches!(fault, Some(Failpoint::Pause(n)) if stats.published.load(Relaxed) >= n) {
            fault = None;
            if let Some(c) = js.as_ref() {
                pause_until_gone(c).await;
            }
        }
        if over {
            break;
        }
    }
    let _ = spool::save_cursor(dir, acked);
    reader.damaged
}

/// The next messages of the spool, at most [`IN_FLIGHT`].
fn read_batch(reader: &mut Reader, dir: &std::path::Path) -> Vec<spool::Record> {
    let mut batch = Vec::with_capacity(IN_FLIGHT);
    while batch.len() < IN_FLIGHT {
        match reader.next_record() {
            Ok(Some(r)) => batch.push(r),
            Ok(None) => break,
            Err(e) => {
                eprintln!(
                    "procflow: publishing: cannot read the spool {}: {e}",
                    dir.display()
                );
                break;
            }
        }
    }
    batch
}

/// A sensor with nothing more to write (a quiet link) leaves its last
/// lines in the writer's buffer: flushed here when the sender has caught
/// up, without waiting for the writer's thread.
fn flush_idle(writer: &Mutex<spool::Writer>) {
    if let Ok(mut w) = writer.try_lock() {
        if let Err(e) = w.flush() {
            eprintln!("procflow: publishing: cannot write the spool: {e}");
        }
    }
}

async fn connect(cfg: &PublishConfig) -> Result<async_nats::jetstream::Context, String> {
    let js = cfg.server.connect().await?;
    ensure_stream(&js, STREAM, subjects()).await?;
    Ok(js)
}

fn note_down(
    cfg: &PublishConfig,
    stats: &SendStats,
    down_since: &mut Option<Instant>,
    why: &str,
    shared: &Shared,
) {
    if down_since.is_none() {
        *down_since = Some(Instant::now());
        stats.outages.fetch_add(1, Relaxed);
        eprintln!(
            "procflow: warning: NATS {}: {why}: messages kept in the spool {} ({} bytes now) until it answers",
            cfg.server.shown(),
            cfg.spool.display(),
            shared.pending_bytes.load(Relaxed)
        );
    }
}

/// What names the messages: the spool's id, the sensor as a subject token
/// and as itself.
struct Names<'a> {
    id: &'a str,
    token: &'a str,
    sensor: &'a str,
}

/// Sends a batch, then waits for the acknowledgements in order, moving
/// `acked` past each; the first failure ends the batch.
async fn send_batch(
    js: &async_nats::jetstream::Context,
    names: &Names<'_>,
    batch: &mut [spool::Record],
    stats: &SendStats,
    shared: &Shared,
    acked: &mut Position,
    lose_acks: bool,
) -> Result<(), String> {
    let mut waiting = Vec::with_capacity(batch.len());
    // The payloads move into the messages: a batch that fails is read
    // from the spool again.
    for r in batch.iter_mut() {
        let subject = format!("{PREFIX}.{}.{}", Kind::subject_part(r.kind), names.token);
        let msg = PublishMessage::build()
            .payload(std::mem::take(&mut r.payload).into())
            .message_id(format!("{}.{}.{}", names.id, r.at.segment, r.at.offset))
            .header("Procflow-Sensor", names.sensor);
        match js.send_publish(subject, msg).await {
            Ok(f) => waiting.push(f),
            Err(e) => {
                if waiting.is_empty() {
                    return Err(e.to_string());
                }
                break;
            }
        }
    }
    let sent = waiting.len();
    for (r, f) in batch.iter().zip(waiting) {
        let ack = f.await.map_err(|e| e.to_string())?;
        if lose_acks {
            continue;
        }
        stats.published.fetch_add(1, Relaxed);
        if ack.duplicate {
            stats.duplicates.fetch_add(1, Relaxed);
        }
        let size = r.next.offset.saturating_sub(r.at.offset);
        // Saturating: a count that wrapped would read as a full spool.
        let _ = shared
            .pending_bytes
            .fetch_update(Relaxed, Relaxed, |p| Some(p.saturating_sub(size)));
        *acked = r.next;
    }
    if lose_acks {
        return Err("failpoint: the acknowledgements were lost".into());
    }
    if sent < batch.len() {
        return Err("the connection failed while sending".into());
    }
    Ok(())
}

async fn pause_until_gone(js: &async_nats::jetstream::Context) {
    eprintln!("procflow: failpoint publish-pause reached");
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until && js.query_account().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
