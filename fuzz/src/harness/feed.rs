//! An endpoint feed through the file reader and the streaming reader (the
//! listener's and the follower's), which must agree.
//!
//! Input: 6 control bytes, then the feed. Byte 0 picks the format; bytes
//! 1-4 cut the stream into chunks as they would arrive; byte 5 sets how
//! much the file reader reads at a time. Oracle: both readers give the
//! same events, counts, bad lines and errors; the report counts the events
//! its sink got.

use super::split::{pieces, Control};
use correlate::feed::{
    read_reader, FeedFormat, FeedReport, LineParser, LineSplitter, Piece, MAX_LINE,
};
use correlate::SocketEvent;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;

const FORMATS: [FeedFormat; 6] = [
    FeedFormat::Auto,
    FeedFormat::Jsonl,
    FeedFormat::Sysmon,
    FeedFormat::Wfp,
    FeedFormat::Osquery,
    FeedFormat::Auditd,
];

/// What a reader made of a feed: the report's figures and the events, or
/// the error.
type Outcome = Result<(Figures, Vec<SocketEvent>), String>;

/// The figures of a report that both readers must agree on.
#[derive(Debug, PartialEq, Eq)]
pub struct Figures {
    format: &'static str,
    lines: u64,
    events: u64,
    bad_lines: u64,
    bad_examples: Vec<(u64, String)>,
    skipped: Vec<(&'static str, u64)>,
    evicted: u64,
}

impl From<&FeedReport> for Figures {
    fn from(r: &FeedReport) -> Self {
        Figures {
            format: r.format,
            lines: r.lines,
            events: r.events,
            bad_lines: r.bad_lines,
            bad_examples: r
                .bad_examples
                .iter()
                .map(|b| (b.line, b.reason.clone()))
                .collect(),
            skipped: r.skipped.iter().map(|(k, v)| (*k, *v)).collect(),
            evicted: r.evicted,
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, feed) = Control::take(data, 6);
    let format = FORMATS
        .get(usize::from(ctl.byte()) % FORMATS.len())
        .copied()
        .unwrap_or(FeedFormat::Auto);
    let chunks = pieces(feed, &mut ctl, 4);
    let buf = 1 + usize::from(ctl.byte());
    let file = file_reader(&chunks, buf, format);
    let stream = stream_reader(&chunks, format);
    if let Ok((f, events)) = &file {
        assert_eq!(f.events, events.len() as u64, "report and sink disagree");
    }
    if xml_document(feed) {
        return;
    }
    assert_eq!(file, stream, "file and streaming readers disagree");
}

/// A Windows event export (an XML document): files only, the streaming
/// readers take line-based formats.
fn xml_document(feed: &[u8]) -> bool {
    let text = feed.strip_prefix(b"\xef\xbb\xbf").unwrap_or(feed);
    text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// A reader that hands out the chunks one per read, as a file or socket
/// may.
struct Chunks<'a> {
    chunks: &'a [&'a [u8]],
    at: usize,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let Some((first, rest)) = self.chunks.split_first() else {
                return Ok(0);
            };
            let left = first.get(self.at..).unwrap_or_default();
            if left.is_empty() {
                self.chunks = rest;
                self.at = 0;
                continue;
            }
            let n = left.len().min(buf.len());
            if let (Some(dst), Some(src)) = (buf.get_mut(..n), left.get(..n)) {
                dst.copy_from_slice(src);
            }
            self.at += n;
            return Ok(n);
        }
    }
}

fn file_reader(chunks: &[&[u8]], buf: usize, format: FeedFormat) -> Outcome {
    let reader = BufReader::with_capacity(buf, Chunks { chunks, at: 0 });
    let mut events = Vec::new();
    read_reader(reader, "feed", format, "dflt", &mut |e| events.push(e))
        .map(|r| (Figures::from(&r), events))
        .map_err(|e| e.to_string())
}

fn stream_reader(chunks: &[&[u8]], format: FeedFormat) -> Outcome {
    let mut events = Vec::new();
    let mut parser = LineParser::new("feed", format, "dflt");
    let mut split = LineSplitter::new(MAX_LINE);
    let mut err = None;
    let mut each = |p: Piece<'_>| {
        let r = match p {
            Piece::Line(l) => parser.line(l, &mut |e| events.push(e)),
            Piece::TooLong => parser.too_long(&mut |e| events.push(e)),
        };
        match r {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                err = Some(e.to_string());
                ControlFlow::Break(())
            }
        }
    };
    let mut broke = false;
    for c in chunks {
        if split.push(c, &mut each).is_break() {
            broke = true;
            break;
        }
    }
    if !broke {
        let _ = split.finish(&mut each);
    }
    if let Some(e) = err {
        return Err(e);
    }
    parser
        .finish(&mut |e| events.push(e))
        .map_err(|e| e.to_string())?;
    Ok((Figures::from(parser.report()), events))
}
