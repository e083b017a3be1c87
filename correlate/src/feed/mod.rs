//! Endpoint socket feeds: every supported format read into [`SocketEvent`]s.
//!
//! Formats: the native JSON lines of DESIGN.md; Sysmon Event ID 3 as flat
//! (NXLog) JSON, Winlogbeat/ECS JSON, Windows event XML, and Sysmon for
//! Linux (XML inside syslog, as JSON rows or text lines); Windows Security
//! 5156 (Windows Filtering Platform); Linux auditd raw logs; osquery
//! results (`socket_events`, `process_open_sockets`).
//!
//! A file is streamed: line by line (each line capped at [`MAX_LINE`]), or
//! event by event for an XML document. A broken line is counted with its
//! line number and reason and reading goes on; records that are valid but
//! carry no socket event (other event ids, failed syscalls, unix sockets,
//! ...) are counted as skipped, by reason. Only an input that is not a
//! feed at all is an error.
//!
//! Line-based sources that are read as they grow (a stream from an
//! endpoint agent, a followed file) use the same pieces one line at a
//! time: [`LineSplitter`] cuts arriving bytes into capped lines and
//! [`LineParser`] reads each line exactly as [`read_reader`] does.

mod auditd;
mod detect;
mod fields;
mod flat;
mod kinds;
mod layouts;
mod lines;
mod native;
mod osquery;
mod parser;
mod split;
mod sysmon;
mod sysmon_json;
mod sysmon_xml;
mod wfp;

use crate::event::SocketEvent;
use lines::{Line, Lines};
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

/// Longest line (or XML event) read, in bytes; a longer one is a bad line.
pub const MAX_LINE: usize = 1 << 20;
/// Bad lines kept as examples in a report.
pub const MAX_BAD_EXAMPLES: usize = 10;
pub use parser::{LineParser, SNIFF_LINES};
pub use split::{LineSplitter, Piece};

/// Which reader to use for a feed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedFormat {
    /// Recognise the format from the content (per line for JSON lines).
    Auto,
    /// Native JSON lines (DESIGN.md).
    Jsonl,
    /// Sysmon Event ID 3: JSON (NXLog, Winlogbeat, syslog rows) or XML.
    Sysmon,
    /// Windows Security event 5156 (Windows Filtering Platform), JSON or XML.
    Wfp,
    /// osquery result logs.
    Osquery,
    /// Linux auditd raw logs.
    Auditd,
}

/// Each format's name, and the other names the command line takes for it.
const NAMES: &[(FeedFormat, &str, &[&str])] = &[
    (FeedFormat::Auto, "auto", &[]),
    (FeedFormat::Jsonl, "jsonl", &["native"]),
    (FeedFormat::Sysmon, "sysmon", &[]),
    (FeedFormat::Wfp, "wfp", &["5156"]),
    (FeedFormat::Osquery, "osquery", &[]),
    (FeedFormat::Auditd, "auditd", &["audit"]),
];

impl FeedFormat {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _, _)| *f == self)
            .map_or("auto", |(_, name, _)| name)
    }
}

impl std::str::FromStr for FeedFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let want = s.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .find(|(_, name, also)| *name == want || also.contains(&want.as_str()))
            .map(|(f, _, _)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = NAMES.iter().map(|(_, n, _)| *n).collect();
                format!("unknown feed format {s:?} ({})", names.join(", "))
            })
    }
}

/// One line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadLine {
    /// Line number, from 1 (for XML, the line where the event starts).
    pub line: u64,
    /// What is wrong with it.
    pub reason: String,
}

/// What reading one feed gave.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FeedReport {
    /// The file (or stream) name.
    pub path: String,
    /// The format read ("jsonl", "sysmon", "wfp", "osquery", "auditd",
    /// "vmconnection", "mixed" when lines of several formats were found,
    /// "empty").
    pub format: &'static str,
    /// Lines read.
    pub lines: u64,
    /// Socket events produced.
    pub events: u64,
    /// Valid records that carry no socket event, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Lines (records) that could not be used.
    pub bad_lines: u64,
    /// The first few of them.
    pub bad_examples: Vec<BadLine>,
    /// auditd events ended before their last record was seen because too
    /// many were pending.
    pub evicted: u64,
}

impl FeedReport {
    /// An empty report of the feed called `path`.
    pub fn new(path: &str) -> Self {
        Self {
            path: path.to_string(),
            format: "empty",
            lines: 0,
            events: 0,
            skipped: BTreeMap::new(),
            bad_lines: 0,
            bad_examples: Vec::new(),
            evicted: 0,
        }
    }
}

/// A feed that cannot be used at all.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FeedError {
    /// The file cannot be opened (missing, a directory, no permission).
    #[error("feed {path}: cannot open: {reason}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Reading failed part way.
    #[error("feed {path}: read error: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The content is not a feed format this reader knows.
    #[error("feed {path}: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What was found.
        reason: String,
    },
}

/// What a reader made of one record.
pub(crate) enum Rec {
    /// A socket event.
    Event(SocketEvent),
    /// A valid record without a socket event, and why.
    Skip(&'static str),
    /// A broken record, and what is wrong.
    Bad(String),
}

impl From<Result<SocketEvent, String>> for Rec {
    fn from(r: Result<SocketEvent, String>) -> Self {
        match r {
            Ok(e) => Rec::Event(e),
            Err(e) => Rec::Bad(e),
        }
    }
}

/// Where readers put what they found.
pub(crate) struct Findings<'a> {
    report: &'a mut FeedReport,
    sink: &'a mut dyn FnMut(SocketEvent),
    /// Host name for formats that carry none.
    pub(crate) default_host: &'a str,
    seen: Option<&'static str>,
}

impl Findings<'_> {
    pub(crate) fn event(&mut self, ev: SocketEvent) {
        self.report.events += 1;
        (self.sink)(ev);
    }

    pub(crate) fn skip(&mut self, reason: &'static str) {
        *self.report.skipped.entry(reason).or_default() += 1;
    }

    pub(crate) fn bad(&mut self, line: u64, reason: String) {
        self.report.bad_lines += 1;
        if self.report.bad_examples.len() < MAX_BAD_EXAMPLES {
            self.report.bad_examples.push(BadLine { line, reason });
        }
    }

    pub(crate) fn rec(&mut self, line: u64, rec: Rec) {
        match rec {
            Rec::Event(e) => self.event(e),
            Rec::Skip(r) => self.skip(r),
            Rec::Bad(r) => self.bad(line, r),
        }
    }

    /// Notes that a record of `format` was found.
    pub(crate) fn seen(&mut self, format: &'static str) {
        self.seen = match self.seen {
            None => Some(format),
            Some(f) if f == format => Some(f),
            Some(_) => Some("mixed"),
        };
    }

    pub(crate) fn evicted(&mut self) {
        self.report.evicted += 1;
    }
}

/// Reads a feed file, giving every socket event to `sink`. `default_host`
/// names the endpoint for formats that carry no host name (auditd).
pub fn read_file(
    path: &Path,
    format: FeedFormat,
    default_host: &str,
    sink: &mut dyn FnMut(SocketEvent),
) -> Result<FeedReport, FeedError> {
    let file = open(path)?;
    read_open(file, path, format, default_host, sink)
}

/// Opens a feed file, refusing what cannot be one (a directory), so a
/// caller can learn that a feed is unusable before it reads anything.
pub fn open(path: &Path) -> Result<std::fs::File, FeedError> {
    let open = |reason: String| FeedError::Open {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| open(e.to_string()))?;
    if meta.is_dir() {
        return Err(open("is a directory".into()));
    }
    std::fs::File::open(path).map_err(|e| open(e.to_string()))
}

/// Reads a feed file [`open`] opened; `path` names it in reports.
pub fn read_open(
    file: std::fs::File,
    path: &Path,
    format: FeedFormat,
    default_host: &str,
    sink: &mut dyn FnMut(SocketEvent),
) -> Result<FeedReport, FeedError> {
    read_reader(
        BufReader::with_capacity(1 << 16, file),
        &path.display().to_string(),
        format,
        default_host,
        sink,
    )
}

/// Reads a feed from any buffered reader (a file, a socket, bytes in a
/// test); `name` is what reports and errors call it.
pub fn read_reader<R: BufRead>(
    mut reader: R,
    name: &str,
    format: FeedFormat,
    default_host: &str,
    sink: &mut dyn FnMut(SocketEvent),
) -> Result<FeedReport, FeedError> {
    let read_err = |e: io::Error| FeedError::Read {
        path: name.to_string(),
        reason: e.to_string(),
    };
    let format_err = |reason: String| FeedError::Format {
        path: name.to_string(),
        reason,
    };
    let mut report = FeedReport::new(name);
    let head = detect::Head::read(&mut reader).map_err(read_err)?;
    let marked = match head.bom() {
        detect::Bom::Utf16 => return Err(format_err(detect::UTF16.into())),
        detect::Bom::Utf8 => true,
        detect::Bom::None => false,
    };
    let mut reader = head.rest().chain(reader);
    let start = detect::skip_leading(&mut reader, marked).map_err(read_err)?;
    let mut ctx = Findings {
        report: &mut report,
        sink,
        default_host,
        seen: None,
    };
    match start.kind {
        detect::Start::Empty => {
            ctx.report.lines = start.line;
            if format != FeedFormat::Auto {
                ctx.report.format = format.name();
            }
            return Ok(report);
        }
        detect::Start::Xml
            if matches!(
                format,
                FeedFormat::Auto | FeedFormat::Sysmon | FeedFormat::Wfp
            ) =>
        {
            let doc = sysmon_xml::read_document(&mut reader, &mut ctx, start.line, format)
                .map_err(read_err)?;
            if format == FeedFormat::Auto && doc.events == 0 && !doc.root {
                return Err(format_err(
                    "XML without <Event> elements: not a Windows event export".into(),
                ));
            }
            ctx.report.lines = doc.lines;
            let seen = ctx.seen.unwrap_or("sysmon");
            report.format = seen;
            return Ok(report);
        }
        _ => {}
    }

    let mut lines = Lines::new(reader, MAX_LINE, start.line);
    // The mark, if any, was dealt with above, at the input's start.
    let mut parser = LineParser::new(name, format, default_host)
        .starting_at(start.line)
        .past_the_start();
    while let Some((_, line)) = lines.next_line().map_err(read_err)? {
        match line {
            Line::Text(t) => parser.line(t, sink)?,
            Line::TooLong => parser.too_long(sink)?,
        }
    }
    parser.finish(sink)?;
    Ok(parser.into_report())
}

#[cfg(test)]
mod tests;
