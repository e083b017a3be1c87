//! The disk spool between the sensor and the server: every message is
//! appended here first and sent from here, so a slow or absent server, or
//! a sensor that stops, loses nothing that fitted.
//!
//! A spool is a directory of segment files (`<n>.seg`, up to
//! [`SEGMENT_BYTES`] each) of records `[u32 length LE][u8 kind][payload]`,
//! a `cursor` file (the segment and offset of the first record the server
//! has not acknowledged) and an `id` (random, made once) that names the
//! spool's messages. A message's id is `<id>.<segment>.<offset>`: the same
//! each time it is sent, so the server drops a resend as a duplicate. A
//! run appends to a new segment; what an earlier run left is sent first.
//! The bytes not yet acknowledged are capped: past the cap a message is
//! dropped and counted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Largest segment file before the next is begun.
pub const SEGMENT_BYTES: u64 = 16 << 20;
/// Largest record payload (a longer message is dropped and counted).
pub const MAX_RECORD: usize = 16 << 20;
const HEADER: usize = 5;

/// Counters shared by the writer (the sensor) and the sender.
#[derive(Debug, Default)]
pub struct Shared {
    /// Bytes appended and not yet acknowledged.
    pub pending_bytes: AtomicU64,
    /// Messages appended this run.
    pub appended: AtomicU64,
    /// Messages dropped because the spool was full (or too long).
    pub dropped: AtomicU64,
}

/// Where the first unacknowledged record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Segment number.
    pub segment: u64,
    /// Byte offset in it.
    pub offset: u64,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}.seg"))
}

/// Segment numbers present, in order.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".seg")?.parse().ok())
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// The spool's id, made on first use.
pub fn spool_id(dir: &Path) -> io::Result<String> {
    let p = dir.join("id");
    if let Ok(s) = fs::read_to_string(&p) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let mut seed = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut seed)?;
    let id = format!("{:016x}", u64::from_le_bytes(seed));
    write_atomic(&p, id.as_bytes())?;
    Ok(id)
}

fn write_atomic(p: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = p.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
    }
    fs::rename(&tmp, p)
}

/// The acknowledged position as last saved.
pub fn read_cursor(dir: &Path) -> Position {
    let text = fs::read_to_string(dir.join("cursor")).unwrap_or_default();
    let mut it = text.split_whitespace().map(|w| w.parse::<u64>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(segment), Some(offset)) => Position { segment, offset },
        _ => Position::default(),
    }
}

/// Saves the acknowledged position, and removes the segments before it.
pub fn save_cursor(dir: &Path, at: Position) -> io::Result<()> {
    write_atomic(
        &dir.join("cursor"),
        format!("{} {}\n", at.segment, at.offset).as_bytes(),
    )?;
    for n in segments(dir)? {
        if n < at.segment {
            fs::remove_file(segment_path(dir, n))?;
        }
    }
    Ok(())
}

/// Bytes not yet acknowledged in `dir`.
fn pending_on_disk(dir: &Path, at: Position) -> io::Result<u64> {
    let mut total = 0u64;
    for n in segments(dir)? {
        if n < at.segment {
            continue;
        }
        let len = fs::metadata(segment_path(dir, n))?.len();
        total += if n == at.segment {
            len.saturating_sub(at.offset)
        } else {
            len
        };
    }
    Ok(total)
}

/// One sensor per spool: a second is refused (`flock`, released however
/// the holder ends).
fn lock(dir: &Path) -> io::Result<nix::fcntl::Flock<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        io::Error::other(format!(
            "spool {} is in use by another procflow ({e}): one sensor per spool",
            dir.display()
        ))
    })
}

/// Appends messages; owned by the thread that makes them.
pub struct Writer {
    _lock: nix::fcntl::Flock<File>,
    dir: PathBuf,
    out: BufWriter<File>,
    segment: u64,
    written: u64,
    max_bytes: u64,
    shared: Arc<Shared>,
}

impl Writer {
    /// Opens the spool in `dir` (created when missing), holding at most
    /// `max_bytes` not yet acknowledged; a new segment is begun.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Writer, Arc<Shared>)> {
        fs::create_dir_all(dir)?;
        let lock = lock(dir)?;
        spool_id(dir)?;
        let at = read_cursor(dir);
        let shared = Arc::new(Shared::default());
        shared
            .pending_bytes
            .store(pending_on_disk(dir, at)?, Relaxed);
        let segment = segments(dir)?.last().map_or(at.segment.max(1), |n| n + 1);
        let out = BufWriter::new(
            OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(segment_path(dir, segment))?,
        );
        let w = Writer {
            _lock: lock,
            dir: dir.to_path_buf(),
            out,
            segment,
            written: 0,
            max_bytes,
            shared: shared.clone(),
        };
        Ok((w, shared))
    }

    /// Appends one message of `kind`; `Ok(false)` when it was dropped
    /// (the spool full, or the message too long), counted.
    pub fn append(&mut self, kind: u8, payload: &[u8]) -> io::Result<bool> {
        let size = (HEADER + payload.len()) as u64;
        let pending = self.shared.pending_bytes.load(Relaxed);
        if payload.len() > MAX_RECORD || pending + size > self.max_bytes {
            self.shared.dropped.fetch_add(1, Relaxed);
            return Ok(false);
        }
        if self.written > 0 && self.written + size > SEGMENT_BYTES {
            self.out.flush()?;
            self.segment += 1;
            self.written = 0;
            self.out = BufWriter::new(
                OpenOptions::new()
                    .create_new(true)
                    .append(true)
                    .open(segment_path(&self.dir, self.segment))?,
            );
        }
        self.out.write_all(&(payload.len() as u32).to_le_bytes())?;
        self.out.write_all(&[kind])?;
        self.out.write_all(payload)?;
        self.written += size;
        self.shared.pending_bytes.fetch_add(size, Relaxed);
        self.shared.appended.fetch_add(1, Relaxed);
        Ok(true)
    }

    /// Makes what was appended readable by the sender.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Where it is.
    pub at: Position,
    /// Where the next one is.
    pub next: Position,
    /// Its kind.
    pub kind: u8,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Reads records from a position on; stops (for now) at the end of what
/// was flushed.
pub struct Reader {
    dir: PathBuf,
    at: Position,
    file: Option<File>,
    /// Records that did not read back (a torn tail), skipped.
    pub damaged: u64,
}

impl Reader {
    /// A reader from `at`.
    pub fn new(dir: &Path, at: Position) -> Reader {
        Reader {
            dir: dir.to_path_buf(),
            at,
            file: None,
            damaged: 0,
        }
    }

    /// Where the next record is.
    pub fn position(&self) -> Position {
        self.at
    }

    /// Goes back to `at` (to send again what was not acknowledged).
    pub fn rewind(&mut self, at: Position) {
        self.at = at;
        self.file = None;
    }

    /// The next record, `None` when nothing more is readable now.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            if self.file.is_none() {
                let segs = segments(&self.dir)?;
                let Some(&first) = segs.iter().find(|&&n| n >= self.at.segment) else {
                    return Ok(None);
                };
                if first > self.at.segment {
                    self.at = Position {
                        segment: first,
                        offset: 0,
                    };
                }
                let mut f = File::open(segment_path(&self.dir, first))?;
                f.seek(SeekFrom::Start(self.at.offset))?;
                self.file = Some(f);
            }
            let Some(f) = self.file.as_mut() else {
                return Ok(None);
            };
            match read_one(f)? {
                Some((kind, payload)) => {
                    let at = self.at;
                    self.at.offset += (HEADER + payload.len()) as u64;
                    return Ok(Some(Record {
                        at,
                        next: self.at,
                        kind,
                        payload,
                    }));
                }
                None => {
                    // The end of what is readable: move on only when a
                    // later segment exists (this one is then complete).
                    let later = segments(&self.dir)?
                        .into_iter()
                        .any(|n| n > self.at.segment);
                    if !later {
                        self.file = None;
                        return Ok(None);
                    }
                    let len = fs::metadata(segment_path(&self.dir, self.at.segment))?.len();
                    if len > self.at.offset {
                        // A torn record at the end of a finished segment.
                        self.damaged += 1;
                    }
                    self.at = Position {
                        segment: self.at.segment + 1,
                        offset: 0,
                    };
                    self.file = None;
                }
            }
        }
    }
}

/// One record, or `None` at a (perhaps partial) end: the file position is
/// then where it was.
fn read_one(f: &mut File) -> io::Result<Option<(u8, Vec<u8>)>> {
    let start = f.stream_position()?;
    let mut head = [0u8; HEADER];
    let back = |f: &mut File| f.seek(SeekFrom::Start(start)).map(|_| None);
    if read_full(f, &mut head)? < HEADER {
        return back(f);
    }
    let [a, b, c, d, kind] = head;
    let len = u32::from_le_bytes([a, b, c, d]) as usize;
    if len > MAX_RECORD {
        return back(f);
    }
    let mut payload = vec![0u8; len];
    if read_full(f, &mut payload)? < len {
        return back(f);
    }
    Ok(Some((kind, payload)))
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match f.read(buf.get_mut(got..).unwrap_or_default())? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("procflow-spool-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn records_come_back_in_order_across_runs_and_the_cap_drops() {
        let d = dir("order");
        let (mut w, shared) = Writer::open(&d, 1000).unwrap();
        for i in 0..5u8 {
            assert!(w.append(i % 3, &[i; 100]).unwrap());
        }
        w.flush().unwrap();
        drop(w);
        // A second run: a new segment, the cap counting what is left.
        let (mut w, shared2) = Writer::open(&d, 1000).unwrap();
        assert_eq!(shared2.pending_bytes.load(Relaxed), 5 * 105);
        for i in 5..12u8 {
            w.append(1, &[i; 100]).unwrap();
        }
        w.flush().unwrap();
        assert_eq!(
            shared2.dropped.load(Relaxed),
            3,
            "1000 bytes hold 9 records"
        );
        assert_eq!(shared.dropped.load(Relaxed), 0);
        let mut r = Reader::new(&d, read_cursor(&d));
        let mut got = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            got.push(rec.payload[0]);
        }
        assert_eq!(got, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        // Acknowledge up to the 7th: the first segment goes.
        let mut r = Reader::new(&d, Position::default());
        let mut last = Position::default();
        for _ in 0..7 {
            last = r.next_record().unwrap().unwrap().next;
        }
        save_cursor(&d, last).unwrap();
        assert_eq!(segments(&d).unwrap().len(), 1);
        let mut r = Reader::new(&d, read_cursor(&d));
        assert_eq!(r.next_record().unwrap().unwrap().payload[0], 7);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_torn_tail_waits_then_reads_whole() {
        let d = dir("torn");
        let (mut w, _) = Writer::open(&d, 1 << 20).unwrap();
        w.append(0, b"first").unwrap();
        w.flush().unwrap();
        let seg = segment_path(&d, segments(&d).unwrap()[0]);
        // Half a record, as a flush in progress leaves it.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[6, 0, 0, 0, 1, b's']).unwrap();
        let mut r = Reader::new(&d, Position::default());
        assert_eq!(r.next_record().unwrap().unwrap().payload, b"first");
        assert!(r.next_record().unwrap().is_none());
        f.write_all(b"econd").unwrap();
        assert_eq!(r.next_record().unwrap().unwrap().payload, b"second");
        fs::remove_dir_all(&d).unwrap();
    }
}
