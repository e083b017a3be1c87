//! The line layouts a line-based feed may have, each recognised from a
//! line and read by its own reader: one JSON object a line (whose kind is
//! then told per line by [`super::kinds`]), auditd records, and syslog
//! lines carrying a Sysmon for Linux event. Auto feeds take the first
//! layout that recognises one of their first lines; a forced
//! `--feed-format` reads the layout that lists it. A new line layout is a
//! reader file with its [`LineLayout`] and one entry in [`LAYOUTS`].

use super::{auditd, detect, kinds, native, sysmon_xml, FeedFormat, Findings};
use serde_json::{Map, Value};

/// What a layout makes of one of the first lines of a feed.
pub(crate) enum Sniffed {
    /// A line of this layout.
    Yes,
    /// Not this layout; the next may say.
    No,
    /// Of this layout's shape but not readable: the line's problem (an
    /// auto feed looks on).
    Unknown(String),
}

/// Reads the lines of one feed in one layout.
pub(crate) trait LineReader: Send {
    /// One non-blank line (trimmed), number `no`.
    fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]);
    /// The input has ended: what is still held is read.
    fn finish(&mut self, _ctx: &mut Findings) {}
}

/// One layout.
pub(crate) struct LineLayout {
    /// Its name in reports, when no record kind names the feed.
    pub(crate) name: &'static str,
    /// Looks at one of the first lines (trimmed, non-blank, UTF-8).
    pub(crate) sniff: fn(&[u8]) -> Sniffed,
    /// The forced formats read in this layout.
    pub(crate) formats: &'static [FeedFormat],
    /// A reader for a feed of `format`.
    pub(crate) reader: fn(FeedFormat) -> Box<dyn LineReader>,
}

/// Every layout, in the order auto feeds try them.
pub(crate) const LAYOUTS: &[LineLayout] = &[JSON, AUDITD, SYSLOG_XML];

/// The layout a forced format is read in: the one that lists it, else
/// JSON lines.
pub(crate) fn for_format(format: FeedFormat) -> &'static LineLayout {
    LAYOUTS
        .iter()
        .find(|l| l.formats.contains(&format))
        .unwrap_or(&JSON)
}

/// One JSON object a line.
pub(crate) const JSON: LineLayout = LineLayout {
    name: "jsonl",
    sniff: |t| {
        if t.first() != Some(&b'{') {
            return Sniffed::No;
        }
        match serde_json::from_slice::<Value>(t) {
            Ok(Value::Object(o)) => match kinds::kind_of(&o) {
                Some(_) => Sniffed::Yes,
                None => Sniffed::Unknown(detect::unknown_record(&o)),
            },
            Ok(_) => Sniffed::Unknown("not a JSON object".into()),
            Err(e) => Sniffed::Unknown(format!("not JSON: {e}")),
        }
    },
    formats: &[
        FeedFormat::Jsonl,
        FeedFormat::Sysmon,
        FeedFormat::Wfp,
        FeedFormat::Osquery,
    ],
    reader: |format| {
        Box::new(JsonLines {
            format,
            // Forced Sysmon learns from its first line whether it reads
            // JSON rows or syslog text.
            syslog: (format != FeedFormat::Sysmon).then_some(false),
        })
    },
};

/// auditd's raw records.
pub(crate) const AUDITD: LineLayout = LineLayout {
    name: "auditd",
    sniff: |t| {
        if detect::contains(t, b"msg=audit(") && detect::contains(t, b"type=") {
            Sniffed::Yes
        } else {
            Sniffed::No
        }
    },
    formats: &[FeedFormat::Auditd],
    reader: |_| Box::new(auditd::Assembler::new()),
};

/// Syslog text lines carrying a Sysmon for Linux `<Event>`.
pub(crate) const SYSLOG_XML: LineLayout = LineLayout {
    name: "sysmon",
    sniff: |t| {
        if detect::has_event_xml(t) {
            Sniffed::Yes
        } else {
            Sniffed::No
        }
    },
    formats: &[],
    reader: |format| Box::new(SyslogXml { format }),
};

/// JSON lines; in auto and forced Sysmon feeds a line holding an
/// `<Event>` is read as syslog text too.
struct JsonLines {
    format: FeedFormat,
    /// `Some(true)`: a forced Sysmon feed of syslog text; `None`: not known
    /// before the first line.
    syslog: Option<bool>,
}

impl LineReader for JsonLines {
    fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]) {
        let syslog = *self
            .syslog
            .get_or_insert_with(|| bytes.first() != Some(&b'{'));
        if syslog {
            sysmon_xml::syslog_line(ctx, no, bytes, self.format);
        } else if bytes.first() == Some(&b'{') {
            json_line(ctx, no, bytes, self.format);
        } else if matches!(self.format, FeedFormat::Auto | FeedFormat::Sysmon)
            && detect::has_event_xml(bytes)
        {
            sysmon_xml::syslog_line(ctx, no, bytes, self.format);
        } else {
            ctx.bad(no, "not a JSON object".into());
        }
    }
}

/// Syslog lines, each holding one Sysmon for Linux event.
struct SyslogXml {
    format: FeedFormat,
}

impl LineReader for SyslogXml {
    fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]) {
        sysmon_xml::syslog_line(ctx, no, bytes, self.format);
    }
}

impl LineReader for auditd::Assembler {
    fn line(&mut self, ctx: &mut Findings, no: u64, bytes: &[u8]) {
        auditd::Assembler::line(self, ctx, no, bytes);
    }

    fn finish(&mut self, ctx: &mut Findings) {
        auditd::Assembler::finish(self, ctx);
    }
}

/// One JSON line: classified by its keys (in auto mode) and read.
fn json_line(ctx: &mut Findings, no: u64, bytes: &[u8], format: FeedFormat) {
    // Flat native lines (the bulk of most feeds) are read straight into
    // their fields in one pass; anything else (nested, another format, not
    // even JSON) is parsed once, into the general map below, which reads a
    // native line exactly as the fast form does and words the errors.
    if matches!(format, FeedFormat::Jsonl | FeedFormat::Auto) {
        if let Some(line) = native::NativeLine::scan(bytes).filter(|l| l.is_native()) {
            ctx.seen("jsonl");
            let rec = native::record_fast(&line);
            return ctx.rec(no, rec);
        }
    }
    let obj: Map<String, Value> = match serde_json::from_slice(bytes) {
        Ok(Value::Object(o)) => o,
        Ok(_) => return ctx.bad(no, "not a JSON object".into()),
        Err(e) => return ctx.bad(no, format!("not JSON: {e}")),
    };
    match kinds::for_format(&obj, format) {
        Some(kind) => (kind.read)(ctx, no, &obj, format),
        None => ctx.bad(no, refused(&obj, format)),
    }
}

/// Why a JSON record is not read in `format`.
fn refused(obj: &Map<String, Value>, format: FeedFormat) -> String {
    match format {
        FeedFormat::Sysmon => "not a Sysmon record".into(),
        FeedFormat::Wfp => "not a Windows event record".into(),
        FeedFormat::Auditd => "not an audit record".into(),
        // Auto, and the formats that force a kind (never refused).
        _ => detect::unknown_record(obj),
    }
}
