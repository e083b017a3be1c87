//! One file the follower has open: from opening it (at its start, or at
//! its end with its lines counted so that line numbers stay the file's)
//! to its last line, when it is replaced or truncated.

use crate::event::SocketEvent;
use crate::feed::{FeedFormat, FeedReport, LineParser, LineSplitter, Piece};
use std::fs::{File, Metadata};
use std::io::{self, ErrorKind, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Bytes remembered from just before the read offset, to tell a file that
/// was truncated and written again past that offset between two looks
/// (logrotate's copytruncate) from one that only grew.
const TAIL: usize = 64;

/// What identifies a file apart from its name: device and inode.
pub(crate) type FileId = Option<(u64, u64)>;

#[cfg(unix)]
pub(crate) fn file_id(m: &Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    Some((m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(crate) fn file_id(_: &Metadata) -> FileId {
    None
}

/// What happened to the path since the last look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// Nothing that matters (it grew, or is gone for now).
    Same,
    /// Another file has its name now.
    Replaced,
    /// The open file got shorter than what was read of it, or what was
    /// read last is no longer where it was (truncated, then written again
    /// past that point).
    Truncated,
}

/// How reading new lines went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Up to the end of what is there.
    Caught,
    /// Stopped, or nobody reads the sink any more.
    Stopped,
    /// The file is not a feed, or cannot be read: the reason.
    Failed(String),
}

/// One opened file.
pub(crate) struct Generation {
    file: File,
    id: FileId,
    /// Bytes of it read (its offset).
    pos: u64,
    split: LineSplitter,
    parser: LineParser,
    /// Lines that were there before reading started (when it started at
    /// the end).
    before: u64,
    /// It is not a feed: nothing more is read of it.
    failed: bool,
    /// The last bytes read (up to [`TAIL`]), ending at `pos`.
    tail: Vec<u8>,
    /// Which file opened it is (1: the first), to find its report.
    pub(crate) seq: u64,
}

/// Events of one file handed over, and what became of them.
pub(crate) struct Delivery<'a> {
    /// Hands one event over; false when it was not taken.
    pub(crate) send: &'a mut dyn FnMut(SocketEvent) -> bool,
    pub(crate) stop: &'a AtomicBool,
}

impl Generation {
    /// Opens `path`. At its end (`at_end`): its lines are counted first,
    /// and an unfinished last line is skipped, not read.
    pub(crate) fn open(
        path: &Path,
        format: FeedFormat,
        default_host: &str,
        max_line: usize,
        at_end: bool,
        stop: &AtomicBool,
    ) -> io::Result<Self> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(ErrorKind::InvalidInput, "is a directory"));
        }
        let name = path.display().to_string();
        let mut split = LineSplitter::new(max_line);
        let mut parser = LineParser::new(&name, format, default_host).with_max_line(max_line);
        let (mut pos, mut before, mut tail) = (0, 0, Vec::new());
        if at_end {
            let (lines, mid_line) = count_lines(&mut file, meta.len(), stop)?;
            pos = meta.len();
            let from = pos.saturating_sub(TAIL as u64);
            file.seek(SeekFrom::Start(from))?;
            file.by_ref().take(pos - from).read_to_end(&mut tail)?;
            pos = file.seek(SeekFrom::Start(from + tail.len() as u64))?;
            before = lines;
            if mid_line {
                split.discard_partial();
                before += 1;
            }
            parser = parser.starting_at(before + 1);
            if pos > 0 {
                // A byte-order mark is for the file's first bytes only.
                parser = parser.past_the_start();
            }
        }
        Ok(Self {
            file,
            id: file_id(&meta),
            pos,
            split,
            parser,
            before,
            failed: false,
            tail,
            seq: 0,
        })
    }

    /// What was read of it.
    pub(crate) fn report(&self) -> &FeedReport {
        self.parser.report()
    }

    /// Bytes of it read.
    pub(crate) fn offset(&self) -> u64 {
        self.pos
    }

    /// Lines read of it (not those there before reading started).
    pub(crate) fn lines_read(&self) -> u64 {
        self.parser.line_number().saturating_sub(self.before)
    }

    /// Reads what was appended since the last call, `buf` at a time,
    /// calling `progress` after each read.
    pub(crate) fn read_new(
        &mut self,
        buf: &mut [u8],
        out: &mut Delivery<'_>,
        progress: &mut dyn FnMut(&Self),
    ) -> Outcome {
        if self.failed {
            return Outcome::Caught;
        }
        loop {
            if out.stop.load(Ordering::Relaxed) {
                return Outcome::Stopped;
            }
            let n = match self.file.read(buf) {
                Ok(0) => return Outcome::Caught,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Outcome::Failed(format!("read error: {e}")),
            };
            self.pos += n as u64;
            let bytes = buf.get(..n).unwrap_or_default();
            self.remember(bytes);
            let r = self.lines(bytes, out, false);
            progress(self);
            if r != Outcome::Caught {
                return r;
            }
        }
    }

    /// The file has ended (replaced, truncated, or the follower stops):
    /// its unfinished last line is read as a line, and what the parser
    /// holds.
    pub(crate) fn finish(&mut self, out: &mut Delivery<'_>) -> Outcome {
        if self.failed {
            return Outcome::Caught;
        }
        let r = self.lines(&[], out, true);
        if r != Outcome::Caught {
            return r;
        }
        let mut taken = true;
        let finished = self.parser.finish(&mut |ev| taken &= (out.send)(ev));
        match finished {
            Err(e) => {
                self.failed = true;
                Outcome::Failed(e.to_string())
            }
            Ok(()) if !taken => Outcome::Stopped,
            Ok(()) => Outcome::Caught,
        }
    }

    /// What happened to `path` since it was opened.
    pub(crate) fn change(&self, path: &Path) -> Change {
        let replaced = std::fs::metadata(path)
            .ok()
            .is_some_and(|m| self.id.is_some() && file_id(&m) != self.id);
        if replaced {
            return Change::Replaced;
        }
        match self.file.metadata() {
            Ok(m) if m.len() < self.pos => Change::Truncated,
            Ok(_) if !self.tail_in_place() => Change::Truncated,
            _ => Change::Same,
        }
    }

    /// Keeps the last [`TAIL`] bytes read.
    fn remember(&mut self, bytes: &[u8]) {
        let keep = bytes.len().min(TAIL);
        let new = bytes.get(bytes.len() - keep..).unwrap_or_default();
        let old = (self.tail.len() + new.len()).saturating_sub(TAIL);
        self.tail.drain(..old.min(self.tail.len()));
        self.tail.extend_from_slice(new);
    }

    /// The bytes last read are still just before the offset (a file the
    /// size of which cannot say it was rewritten from its start).
    #[cfg(unix)]
    fn tail_in_place(&self) -> bool {
        use std::os::unix::fs::FileExt;
        if self.tail.is_empty() {
            return true;
        }
        let mut now = vec![0u8; self.tail.len()];
        let at = self.pos.saturating_sub(self.tail.len() as u64);
        match self.file.read_exact_at(&mut now, at) {
            Ok(()) => now == self.tail,
            // Gone shorter meanwhile: the size says so at the next look.
            Err(_) => true,
        }
    }

    #[cfg(not(unix))]
    fn tail_in_place(&self) -> bool {
        true
    }

    /// Pushes `bytes` (or, with `end`, the rest) through the splitter and
    /// the parser.
    fn lines(&mut self, bytes: &[u8], out: &mut Delivery<'_>, end: bool) -> Outcome {
        let mut result = Outcome::Caught;
        let parser = &mut self.parser;
        let mut each = |p: Piece<'_>| {
            let mut taken = true;
            let r = match p {
                Piece::Line(l) => parser.line(l, &mut |ev| taken &= (out.send)(ev)),
                Piece::TooLong => parser.too_long(&mut |ev| taken &= (out.send)(ev)),
            };
            if let Err(e) = r {
                result = Outcome::Failed(e.to_string());
                return ControlFlow::Break(());
            }
            if !taken {
                result = Outcome::Stopped;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        };
        let _ = if end {
            self.split.finish(&mut each)
        } else {
            self.split.push(bytes, &mut each)
        };
        if matches!(result, Outcome::Failed(_)) {
            self.failed = true;
        }
        result
    }
}

/// Counts the lines in the first `len` bytes, and tells whether the last
/// one is unfinished.
fn count_lines(file: &mut File, len: u64, stop: &AtomicBool) -> io::Result<(u64, bool)> {
    let mut buf = vec![0u8; 1 << 16];
    let (mut lines, mut left, mut last) = (0u64, len, b'\n');
    while left > 0 && !stop.load(Ordering::Relaxed) {
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match file.read(buf.get_mut(..want).unwrap_or_default()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        last = chunk.last().copied().unwrap_or(last);
        left = left.saturating_sub(n as u64);
    }
    Ok((lines, last != b'\n'))
}
