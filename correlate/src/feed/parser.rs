//! A line-based feed read one line at a time, as the lines arrive: the
//! reader of feed files, of streams from endpoint agents and of followed
//! files, so that all three read a line the same way.
//!
//! In [`FeedFormat::Auto`] the first lines decide the format: up to
//! [`SNIFF_LINES`] non-blank lines are held until one of a known format
//! comes, then all of them are read like the rest. A held line never
//! yields an event (it is of no known format), so no event waits for the
//! lookahead. Lines of no known format and nothing else make the input
//! "not a feed": a [`FeedError::Format`], after which the parser takes no
//! more lines.

use super::detect::{self, Sniff};
use super::layouts::{self, LineLayout, LineReader};
use super::{FeedError, FeedFormat, FeedReport, Findings, MAX_LINE};
use crate::event::SocketEvent;

/// Non-blank lines looked at to recognise a feed's format.
pub const SNIFF_LINES: usize = 8;

/// Reads a line-based feed line by line. Every line of the input is given
/// to it, blank ones included, so that line numbers are right; events go
/// to the sink given with each line.
pub struct LineParser {
    format: FeedFormat,
    default_host: String,
    max_line: usize,
    /// Number of the last line taken.
    number: u64,
    /// No line has been taken yet (a byte-order mark may come first).
    first: bool,
    report: FeedReport,
    seen: Option<&'static str>,
    phase: Phase,
}

/// Where the parser is in the input.
enum Phase {
    /// Only blank lines so far.
    Start,
    /// Auto: lines held until one tells the format.
    Sniffing(Sniffing),
    /// The layout is known.
    Reading(Reading),
    /// The input is not a feed.
    Failed(FeedError),
}

/// The first lines of an auto-detected feed.
#[derive(Default)]
struct Sniffing {
    /// Held lines: number and text (`None`: too long).
    held: Vec<(u64, Option<Vec<u8>>)>,
    looked: usize,
    first_problem: Option<String>,
}

impl LineParser {
    /// A parser of the feed called `name` (in reports and errors), in
    /// `format`; `default_host` names the endpoint for formats that carry
    /// no host name (auditd). Lines are numbered from 1.
    pub fn new(name: &str, format: FeedFormat, default_host: &str) -> Self {
        Self {
            format,
            default_host: default_host.to_string(),
            max_line: MAX_LINE,
            number: 0,
            first: true,
            report: FeedReport::new(name),
            seen: None,
            phase: Phase::Start,
        }
    }

    /// Numbers the first line taken `first` (when lines before it were
    /// read by someone else, or are not feed lines).
    pub fn starting_at(mut self, first: u64) -> Self {
        self.number = first.saturating_sub(1);
        self
    }

    /// The input's first bytes were read by the caller, who dealt with a
    /// byte-order mark there: the first line taken here is not checked
    /// for one (the same bytes later on are text like any other).
    pub(crate) fn past_the_start(mut self) -> Self {
        self.first = false;
        self
    }

    /// The line cap the caller cuts lines at, named in the reason of a
    /// line that is over it (default [`MAX_LINE`]).
    pub fn with_max_line(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// What was read so far: lines, events, bad lines, the format.
    pub fn report(&self) -> &FeedReport {
        &self.report
    }

    /// The report, once the input has ended.
    pub fn into_report(self) -> FeedReport {
        self.report
    }

    /// The error that ended the reading, if the input turned out not to be
    /// a feed.
    pub fn error(&self) -> Option<&FeedError> {
        match &self.phase {
            Phase::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Number of the last line taken.
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// Takes the next line (without its `\n`).
    pub fn line(
        &mut self,
        bytes: &[u8],
        sink: &mut dyn FnMut(SocketEvent),
    ) -> Result<(), FeedError> {
        self.take(Some(bytes), sink)
    }

    /// Takes the next line, which was longer than the cap and dropped.
    pub fn too_long(&mut self, sink: &mut dyn FnMut(SocketEvent)) -> Result<(), FeedError> {
        self.take(None, sink)
    }

    /// The input has ended: reads what is still held (lines of an auto
    /// feed, auditd events waiting for more records).
    pub fn finish(&mut self, sink: &mut dyn FnMut(SocketEvent)) -> Result<(), FeedError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Start);
        self.phase = match phase {
            Phase::Sniffing(s) => match s.first_problem {
                Some(p) => Phase::Failed(self.not_a_feed(&p)),
                None => Phase::Start,
            },
            Phase::Reading(mut st) => {
                let (report, seen) = (&mut self.report, &mut self.seen);
                with_ctx(report, seen, &self.default_host, sink, |ctx| {
                    st.reader.finish(ctx);
                });
                Phase::Reading(st)
            }
            p => p,
        };
        self.update_report();
        match &self.phase {
            Phase::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    fn take(
        &mut self,
        bytes: Option<&[u8]>,
        sink: &mut dyn FnMut(SocketEvent),
    ) -> Result<(), FeedError> {
        if let Phase::Failed(e) = &self.phase {
            return Err(e.clone());
        }
        self.number += 1;
        let no = self.number;
        let mut bytes = bytes;
        if std::mem::take(&mut self.first) {
            if let Some(b) = bytes {
                match detect::bom(b) {
                    detect::Bom::Utf16 => {
                        self.phase = Phase::Failed(self.format_error(detect::UTF16.into()));
                    }
                    detect::Bom::Utf8 => bytes = b.get(3..),
                    detect::Bom::None => {}
                }
            }
        }
        if matches!(self.phase, Phase::Start) {
            self.start(no, bytes);
        }
        let phase = std::mem::replace(&mut self.phase, Phase::Start);
        self.phase = match phase {
            Phase::Sniffing(s) => self.sniff(s, no, bytes, sink),
            Phase::Reading(mut st) => {
                let (report, seen) = (&mut self.report, &mut self.seen);
                let max = self.max_line;
                with_ctx(report, seen, &self.default_host, sink, |ctx| match bytes {
                    Some(b) => st.line(ctx, no, b),
                    None => st.too_long(ctx, no, max),
                });
                Phase::Reading(st)
            }
            p => p,
        };
        self.update_report();
        match &self.phase {
            Phase::Failed(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// The first line that is not blank decides how the rest is read.
    fn start(&mut self, no: u64, bytes: Option<&[u8]>) {
        let text = bytes.map(<[u8]>::trim_ascii);
        if text.is_some_and(<[u8]>::is_empty) {
            return;
        }
        if let Some(t) = text {
            // A document of events over several lines is for the file
            // reader; a line-based source takes one event per line.
            let xml_document = t.first() == Some(&b'<')
                && !t.get(1).is_some_and(u8::is_ascii_digit)
                && !detect::has_event_xml(t);
            if xml_document
                && matches!(
                    self.format,
                    FeedFormat::Auto | FeedFormat::Sysmon | FeedFormat::Wfp
                )
            {
                self.phase = Phase::Failed(self.format_error(format!(
                    "line {no}: an XML document: a stream or a followed file takes one <Event> per line"
                )));
                return;
            }
        }
        self.phase = match self.format {
            FeedFormat::Auto => Phase::Sniffing(Sniffing::default()),
            f => Phase::Reading(Reading::new(f, layouts::for_format(f))),
        };
    }

    /// One of the first lines of an auto feed.
    fn sniff(
        &mut self,
        mut s: Sniffing,
        no: u64,
        bytes: Option<&[u8]>,
        sink: &mut dyn FnMut(SocketEvent),
    ) -> Phase {
        let layout = match bytes {
            None => {
                s.held.push((no, None));
                s.looked += 1;
                s.first_problem
                    .get_or_insert_with(|| format!("line {no} is too long"));
                None
            }
            Some(text) => {
                let sniff = detect::sniff(text);
                // Blank lines say nothing and yield nothing: not held.
                if !matches!(sniff, Sniff::Blank) {
                    s.held.push((no, Some(text.to_vec())));
                }
                match sniff {
                    Sniff::Blank => return Phase::Sniffing(s),
                    Sniff::Known(layout) => Some(layout),
                    Sniff::Binary => {
                        return Phase::Failed(
                            self.format_error(format!("binary data at line {no}, not a feed")),
                        )
                    }
                    Sniff::Unknown(why) => {
                        s.first_problem
                            .get_or_insert_with(|| format!("line {no}: {why}"));
                        s.looked += 1;
                        None
                    }
                }
            }
        };
        let Some(layout) = layout else {
            if s.looked >= SNIFF_LINES {
                let p = s.first_problem.unwrap_or_default();
                return Phase::Failed(self.not_a_feed(&p));
            }
            return Phase::Sniffing(s);
        };
        let mut st = Reading::new(self.format, layout);
        let (report, seen, max) = (&mut self.report, &mut self.seen, self.max_line);
        with_ctx(report, seen, &self.default_host, sink, |ctx| {
            for (no, text) in s.held {
                match text {
                    Some(t) => st.line(ctx, no, &t),
                    None => st.too_long(ctx, no, max),
                }
            }
        });
        Phase::Reading(st)
    }

    fn not_a_feed(&self, problem: &str) -> FeedError {
        self.format_error(format!(
            "not a known feed format (native JSON lines, Sysmon, 5156, osquery, auditd): {problem}"
        ))
    }

    fn format_error(&self, reason: String) -> FeedError {
        FeedError::Format {
            path: self.report.path.clone(),
            reason,
        }
    }

    fn update_report(&mut self) {
        self.report.lines = self.number;
        self.report.format = match (&self.phase, self.format, self.seen) {
            (_, FeedFormat::Auto, Some(s)) => s,
            (Phase::Reading(st), FeedFormat::Auto, None) => st.layout.name,
            (_, FeedFormat::Auto, None) => "empty",
            (_, f, _) => f.name(),
        };
    }
}

/// Runs `f` with a reader context over `report`, keeping what it saw.
fn with_ctx<R>(
    report: &mut FeedReport,
    seen: &mut Option<&'static str>,
    default_host: &str,
    sink: &mut dyn FnMut(SocketEvent),
    f: impl FnOnce(&mut Findings) -> R,
) -> R {
    let mut ctx = Findings {
        report,
        sink,
        default_host,
        seen: *seen,
    };
    let r = f(&mut ctx);
    *seen = ctx.seen;
    r
}

/// Reading state of a line-based feed: its layout and that layout's
/// reader.
struct Reading {
    layout: &'static LineLayout,
    reader: Box<dyn LineReader>,
}

impl Reading {
    fn new(format: FeedFormat, layout: &'static LineLayout) -> Self {
        Reading {
            layout,
            reader: (layout.reader)(format),
        }
    }

    fn too_long(&mut self, ctx: &mut Findings, no: u64, max: usize) {
        ctx.bad(no, format!("line longer than {max} bytes"));
    }

    fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]) {
        let bytes = bytes.trim_ascii();
        if !bytes.is_empty() {
            self.reader.line(ctx, no, bytes);
        }
    }
}
