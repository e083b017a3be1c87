//! The kinds of JSON record a feed line may hold, each recognised by its
//! keys and read by its own reader. Auto feeds try them in the order of
//! [`KINDS`] (the first whose keys match); a forced `--feed-format` reads
//! the kinds it names and refuses the others. A new JSON feed format is a
//! reader file and one entry here.

use super::{native, osquery, sysmon_json, FeedFormat, Findings, Rec};
use serde_json::{Map, Value};

/// One kind of JSON record.
pub(crate) struct JsonKind {
    /// True when a record is of this kind, by its keys.
    pub(crate) matches: fn(&Map<String, Value>) -> bool,
    /// The forced formats (besides auto) that read this kind when its keys
    /// match.
    pub(crate) formats: &'static [FeedFormat],
    /// The forced format that reads every record as this kind, keys or not.
    pub(crate) forced_by: Option<FeedFormat>,
    /// Reads record number `no` of the kind, in format `format`.
    pub(crate) read: fn(&mut Findings, u64, &Map<String, Value>, FeedFormat),
}

/// Every kind, in the order auto feeds try them.
pub(crate) const KINDS: &[JsonKind] = &[
    // Native lines (`ts`, `dst_ip`, ...).
    JsonKind {
        matches: |o| o.contains_key("ts") && o.contains_key("dst_ip"),
        formats: &[],
        forced_by: Some(FeedFormat::Jsonl),
        read: |ctx, no, o, _| {
            ctx.seen("jsonl");
            ctx.rec(no, native::record(o));
        },
    },
    // Winlogbeat / Elastic Agent (`winlog.event_id`, `winlog.event_data`).
    JsonKind {
        matches: |o| o.get("winlog").is_some_and(Value::is_object),
        formats: &[FeedFormat::Sysmon, FeedFormat::Wfp],
        forced_by: None,
        read: |ctx, no, o, f| {
            let rec = sysmon_json::winlogbeat(ctx, o, f);
            ctx.rec(no, rec);
        },
    },
    // A Windows event with flat fields (`EventID`: NXLog and similar).
    JsonKind {
        matches: |o| o.contains_key("EventID"),
        formats: &[FeedFormat::Sysmon, FeedFormat::Wfp],
        forced_by: None,
        read: |ctx, no, o, f| {
            let rec = sysmon_json::windows_flat(ctx, o, f);
            ctx.rec(no, rec);
        },
    },
    // A syslog row whose `SyslogMessage` may hold a Sysmon for Linux event.
    JsonKind {
        matches: |o| o.contains_key("SyslogMessage"),
        formats: &[FeedFormat::Sysmon],
        forced_by: None,
        read: |ctx, no, o, f| {
            let rec = sysmon_json::syslog_row(ctx, o, f);
            ctx.rec(no, rec);
        },
    },
    // An osquery result line.
    JsonKind {
        matches: |o| {
            o.contains_key("hostIdentifier")
                || o.contains_key("diffResults")
                || o.contains_key("snapshot")
                || (o.contains_key("columns") && o.contains_key("name"))
        },
        formats: &[],
        forced_by: Some(FeedFormat::Osquery),
        read: |ctx, no, o, _| {
            ctx.seen("osquery");
            osquery::line(ctx, no, o);
        },
    },
    // Azure VM Insights `VMConnection`: per-process summaries of an
    // aggregation interval, without pid or local port: not socket events.
    JsonKind {
        matches: |o| o.get("Type").and_then(Value::as_str) == Some("VMConnection"),
        formats: &[],
        forced_by: None,
        read: |ctx, no, _, _| {
            ctx.seen("vmconnection");
            ctx.rec(no, Rec::Skip("VMConnection summary"));
        },
    },
];

/// The kind of a record, by its keys (auto feeds).
pub(crate) fn kind_of(o: &Map<String, Value>) -> Option<&'static JsonKind> {
    KINDS.iter().find(|k| (k.matches)(o))
}

/// The kind a record is read as in `format`, or `None` when the format
/// refuses it.
pub(crate) fn for_format(o: &Map<String, Value>, format: FeedFormat) -> Option<&'static JsonKind> {
    if let Some(k) = KINDS.iter().find(|k| k.forced_by == Some(format)) {
        return Some(k);
    }
    kind_of(o).filter(|k| format == FeedFormat::Auto || k.formats.contains(&format))
}
