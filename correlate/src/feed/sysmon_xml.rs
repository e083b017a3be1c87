//! Windows event XML: `<Event>` elements as Windows, `wevtutil` or
//! python-evtx render them (Sysmon EID 3, Security 5156), in a document
//! (`<Events>` root or none, comments between events, any line layout) or
//! one per syslog line (Sysmon for Linux).
//!
//! A document is cut into events first, each at most [`MAX_LINE`] bytes,
//! and each event is parsed on its own with quick-xml's pull parser: one
//! broken event is one bad record and the next one is read as usual, and
//! nothing but the current event is ever held in memory.

use super::fields::{parse_pid, present};
use super::{sysmon, wfp, FeedFormat, Findings, Rec, MAX_LINE};
use crate::event::Os;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;
use std::io::{self, BufRead, Read};

/// The parts of one `<Event>` the readers use.
#[derive(Debug, Default)]
pub(crate) struct XmlEvent {
    /// `System/EventID`.
    pub(crate) event_id: Option<String>,
    /// `System/Provider/@Name`.
    pub(crate) provider: Option<String>,
    /// `System/Computer`.
    pub(crate) computer: Option<String>,
    /// `System/TimeCreated/@SystemTime`.
    pub(crate) time_created: Option<String>,
    /// `EventData/Data` by `@Name`, in order.
    pub(crate) data: Vec<(String, String)>,
}

/// What text is being collected.
enum Target {
    EventId,
    Computer,
    Data(String),
}

/// Deepest element nesting accepted (Windows events are 3-4 deep).
const MAX_DEPTH: usize = 32;

/// Parses one `<Event>...</Event>`.
pub(crate) fn parse_event(xml: &[u8]) -> Result<XmlEvent, String> {
    let mut r = Reader::from_reader(xml);
    let mut out = XmlEvent::default();
    let mut depth = 0usize;
    let mut in_system = false;
    let mut target: Option<(Target, usize)> = None;
    let mut text = String::new();
    let mut seen_root = false;
    loop {
        let ev = r.read_event().map_err(|e| format!("XML: {e}"))?;
        match ev {
            Event::Start(e) if !seen_root => {
                if e.local_name().as_ref() != b"Event" {
                    return Err("XML: not an <Event>".into());
                }
                seen_root = true;
                depth = 1;
            }
            Event::Empty(_) if !seen_root => return Err("XML: empty <Event/>".into()),
            Event::Start(e) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err("XML: nested too deep".into());
                }
                let name = e.local_name();
                match name.as_ref() {
                    b"System" if depth == 2 => in_system = true,
                    b"EventID" if in_system => target = Some((Target::EventId, depth)),
                    b"Computer" if in_system => target = Some((Target::Computer, depth)),
                    b"Data" => {
                        if let Some(n) = attr(&e, b"Name")? {
                            target = Some((Target::Data(n), depth));
                        }
                    }
                    _ => open(&e, in_system, &mut out)?,
                }
                text.clear();
            }
            Event::Empty(e) => {
                let name = e.local_name();
                if name.as_ref() == b"Data" {
                    if let Some(n) = attr(&e, b"Name")? {
                        out.data.push((n, String::new()));
                    }
                } else {
                    open(&e, in_system, &mut out)?;
                }
            }
            Event::Text(t) if target.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("XML: {e}"))?);
            }
            Event::CData(t) if target.is_some() => {
                text.push_str(&t.decode().map_err(|e| format!("XML: {e}"))?);
            }
            Event::GeneralRef(g) if target.is_some() => push_ref(&g, &mut text)?,
            Event::End(e) => {
                if target.as_ref().is_some_and(|(_, d)| *d == depth) {
                    if let Some((t, _)) = target.take() {
                        keep(t, text.trim().to_string(), &mut out);
                    }
                    text.clear();
                }
                if e.local_name().as_ref() == b"System" && depth == 2 {
                    in_system = false;
                }
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            Event::Eof => {
                if depth > 0 || !seen_root {
                    return Err("XML: truncated event".into());
                }
                break;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Appends the character an entity or character reference stands for.
fn push_ref(g: &BytesRef<'_>, text: &mut String) -> Result<(), String> {
    if let Some(c) = g.resolve_char_ref().map_err(|e| format!("XML: {e}"))? {
        text.push(c);
        return Ok(());
    }
    let name = g.decode().map_err(|e| format!("XML: {e}"))?;
    text.push(match &*name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        other => return Err(format!("XML: unknown entity &{other};")),
    });
    Ok(())
}

/// Keeps the text of an element the event is read for.
fn keep(t: Target, value: String, out: &mut XmlEvent) {
    match t {
        Target::EventId => out.event_id = Some(value),
        Target::Computer => out.computer = Some(value),
        Target::Data(n) => out.data.push((n, value)),
    }
}

/// Attributes of `System` children that matter.
fn open(e: &BytesStart, in_system: bool, out: &mut XmlEvent) -> Result<(), String> {
    if !in_system {
        return Ok(());
    }
    match e.local_name().as_ref() {
        b"Provider" => out.provider = attr(e, b"Name")?,
        b"TimeCreated" => out.time_created = attr(e, b"SystemTime")?,
        _ => {}
    }
    Ok(())
}

fn attr(e: &BytesStart, name: &[u8]) -> Result<Option<String>, String> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a
            .unescape_value()
            .map(|v| Some(v.into_owned()))
            .map_err(|e| format!("XML: {e}")),
        Ok(None) => Ok(None),
        Err(e) => Err(format!("XML: {e}")),
    }
}

/// Reads a parsed event: Sysmon EID 3 or Security 5156 (as `format`
/// allows), other event ids skipped. `host` stands in when the event has
/// no `Computer`.
pub(crate) fn dispatch(
    ctx: &mut Findings,
    ev: &XmlEvent,
    format: FeedFormat,
    host: Option<&str>,
) -> Rec {
    let Some(id) = ev.event_id.as_deref() else {
        return Rec::Bad("missing EventID".into());
    };
    let Some(id) = parse_pid(id) else {
        return Rec::Bad(format!("bad EventID {}", super::fields::quote(id)));
    };
    let provider = ev.provider.as_deref().unwrap_or("");
    let host = ev.computer.as_deref().and_then(present).or(host);
    let sysmon_ok = matches!(format, FeedFormat::Auto | FeedFormat::Sysmon);
    let wfp_ok = matches!(format, FeedFormat::Auto | FeedFormat::Wfp);
    if id == sysmon::EVENT_ID && sysmon_ok && (provider.is_empty() || provider.contains("Sysmon")) {
        ctx.seen("sysmon");
        let os = if provider.starts_with("Linux") {
            Os::Linux
        } else {
            Os::Windows
        };
        sysmon::record(ev.data.as_slice(), host, os)
    } else if id == wfp::EVENT_ID && wfp_ok && !provider.contains("Sysmon") {
        ctx.seen("wfp");
        let ts = ev.time_created.as_deref().and_then(crate::timestamp::parse);
        wfp::record(ev.data.as_slice(), host, ts)
    } else {
        Rec::Skip("other event id")
    }
}

/// What reading an XML document found.
pub(crate) struct Document {
    /// Lines read.
    pub(crate) lines: u64,
    /// `<Event>` elements found (read or not).
    pub(crate) events: u64,
    /// An `<Events>` root was seen: an export, perhaps of nothing.
    pub(crate) root: bool,
}

/// Reads an XML document of events. `line` is the number of the line the
/// reader starts on.
pub(crate) fn read_document(
    r: &mut impl BufRead,
    ctx: &mut Findings,
    mut line: u64,
    format: FeedFormat,
) -> io::Result<Document> {
    enum State {
        Outside,
        Inside(u64),
        TooLong(u64),
    }
    let limit = u64::try_from(MAX_LINE)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut chunk = Vec::new();
    let mut event = Vec::new();
    let mut state = State::Outside;
    let mut last = b'\n';
    let (mut events, mut root) = (0u64, false);
    loop {
        // Up to and including the next `>`: a whole tag, with the text
        // before it.
        chunk.clear();
        if (&mut *r).take(limit).read_until(b'>', &mut chunk)? == 0 {
            break;
        }
        let newlines = count_newlines(&chunk);
        let tag_at = chunk.iter().rposition(|&b| b == b'<');
        let tag = tag_at.and_then(|i| chunk.get(i..)).unwrap_or(&[]);
        state = match state {
            State::Outside => match tag_at {
                Some(at) if is_event_start(tag) => {
                    let before = chunk.get(..at).unwrap_or(&[]);
                    event.clear();
                    event.extend_from_slice(tag);
                    events += 1;
                    State::Inside(line + count_newlines(before))
                }
                _ => {
                    root |= is_root_start(tag);
                    State::Outside
                }
            },
            State::Inside(start) if event.len() + chunk.len() > MAX_LINE => {
                event.clear();
                State::TooLong(start)
            }
            State::Inside(start) => {
                event.extend_from_slice(&chunk);
                State::Inside(start)
            }
            s @ State::TooLong(_) => s,
        };
        if is_event_end(tag) {
            match state {
                State::Inside(start) => {
                    let host = ctx.default_host;
                    let rec = match parse_event(&event) {
                        Ok(ev) => dispatch(ctx, &ev, format, Some(host)),
                        Err(e) => Rec::Bad(e),
                    };
                    ctx.rec(start, rec);
                    state = State::Outside;
                }
                State::TooLong(start) => {
                    ctx.bad(start, format!("event longer than {MAX_LINE} bytes"));
                    state = State::Outside;
                }
                State::Outside => {}
            }
        }
        line += newlines;
        if let Some(&b) = chunk.last() {
            last = b;
        }
    }
    if let State::Inside(start) | State::TooLong(start) = state {
        ctx.bad(start, "truncated event (no </Event>)".into());
    }
    // `line` is the line after the last newline: count it if it has text.
    Ok(Document {
        lines: if last == b'\n' { line - 1 } else { line },
        events,
        root,
    })
}

/// `<Events>`, the root of an export.
fn is_root_start(tag: &[u8]) -> bool {
    tag.strip_prefix(b"<Events")
        .and_then(|rest| rest.first())
        .is_some_and(|&b| b == b'>' || b == b'/' || b.is_ascii_whitespace())
}

fn count_newlines(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// `<Event` followed by blank space or `>` (not `<Events>`, not `<Event/>`).
fn is_event_start(tag: &[u8]) -> bool {
    tag.strip_prefix(b"<Event")
        .and_then(|rest| rest.first())
        .is_some_and(|&b| b == b'>' || b.is_ascii_whitespace())
        && !tag.ends_with(b"/>")
}

/// `</Event>`, blank space allowed before the `>`.
fn is_event_end(tag: &[u8]) -> bool {
    tag.strip_prefix(b"</Event")
        .and_then(|rest| rest.strip_suffix(b">"))
        .is_some_and(|mid| mid.iter().all(u8::is_ascii_whitespace))
}

/// One syslog text line that may carry a Sysmon for Linux `<Event>`.
pub(crate) fn syslog_line(ctx: &mut Findings, no: u64, line: &[u8], format: FeedFormat) {
    let host = ctx.default_host;
    let rec = match embedded_event(line) {
        Some(xml) => match parse_event(xml) {
            Ok(ev) => dispatch(ctx, &ev, format, Some(host)),
            Err(e) => Rec::Bad(e),
        },
        None => Rec::Skip("not a Sysmon event"),
    };
    ctx.rec(no, rec);
}

/// The `<Event ...>...</Event>` inside a line of text.
pub(crate) fn embedded_event(line: &[u8]) -> Option<&[u8]> {
    let start = line.windows(6).position(|w| w == b"<Event")?;
    let end = line.windows(8).rposition(|w| w == b"</Event>")? + 8;
    line.get(start..end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, SocketEvent, Transport};
    use crate::feed::{read_reader, FeedReport};

    pub(crate) fn read(input: &str, format: FeedFormat) -> (FeedReport, Vec<SocketEvent>) {
        let mut got = Vec::new();
        let r = read_reader(input.as_bytes(), "t.xml", format, "dflt", &mut |e| {
            got.push(e)
        })
        .unwrap();
        (r, got)
    }

    const WIN: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<Events>
<!-- first file record 1 -->
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon" Guid="{5770385f-c22a-43e0-bf4c-06f5698ffbd9}"></Provider>
<EventID Qualifiers="">3</EventID>
<TimeCreated SystemTime="2019-07-19 14:50:25.376030+00:00"></TimeCreated>
<Execution ProcessID="2796" ThreadID="3400"></Execution>
<Computer>MSEDGEWIN10</Computer>
</System>
<EventData><Data Name="RuleName"></Data>
<Data Name="UtcTime">2019-07-19 14:50:20.871</Data>
<Data Name="ProcessId">3912</Data>
<Data Name="Image">&lt;unknown process&gt;</Data>
<Data Name="User">A &amp; B</Data>
<Data Name="Protocol">udp</Data>
<Data Name="Initiated">False</Data>
<Data Name="SourceIp">fe80:0000:0000:0000:0000:0000:0000:0001</Data>
<Data Name="SourcePort">5353</Data>
<Data Name="DestinationIp">ff02:0000:0000:0000:0000:0000:0000:00fb</Data>
<Data Name="DestinationPort">5353</Data>
</EventData>
</Event>
<!-- second -->
<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon"/><EventID>1</EventID><Computer>X</Computer></System><EventData><Data Name="Image">a.exe</Data></EventData></Event>
<Event><System><EventID>3</EventID><Computer>Y</Computer></System><EventData><Data Name="UtcTime">2019-07-19 14:50:20.871</Data><Data Name="Protocol">tcp</Data></Data></EventData></Event>
<Event><System><EventID>3</EventID><Computer>Y</Computer></System><EventData><Data Name="UtcTime">2019-07-19 14:50:20.871</Data><Data Name="Protocol">tcp</Data><Data Name="Initiated">true</Data><Data Name="SourceIp">10.0.0.1</Data><Data Name="SourcePort">1</Data><Data Name="DestinationIp">10.0.0.2</Data><Data Name="DestinationPort">x</Data></EventData></Event>
</Events>
"#;

    #[test]
    fn document_with_comments_entities_and_broken_events() {
        let (r, got) = read(WIN, FeedFormat::Auto);
        assert_eq!(r.format, "sysmon");
        assert_eq!(r.lines, 27);
        assert_eq!(r.events, 1);
        assert_eq!(r.skipped.get("other event id"), Some(&1));
        assert_eq!(r.bad_lines, 2);
        assert_eq!(r.bad_examples[0].line, 25);
        assert!(
            r.bad_examples[0].reason.starts_with("XML: "),
            "{:?}",
            r.bad_examples
        );
        assert_eq!(r.bad_examples[1].line, 26);
        assert_eq!(r.bad_examples[1].reason, "bad DestinationPort \"x\"");
        let e = &got[0];
        assert_eq!(e.host, "MSEDGEWIN10");
        assert_eq!(e.kind, EventKind::Accept);
        assert_eq!(e.proto, Some(Transport::Udp));
        assert_eq!(
            e.process.pid,
            Some(3912),
            "EventData ProcessId, not Execution/@ProcessID"
        );
        // `&lt;unknown process&gt;` decoded: Sysmon's placeholder, no image.
        assert_eq!(e.process.executable, None);
        assert_eq!(e.process.user.as_deref(), Some("A & B"));
        assert_eq!(e.local_ip.unwrap().to_string(), "fe80::1");
        assert_eq!(e.remote_ip.to_string(), "ff02::fb");
        assert_eq!(capture::time::rfc3339(e.ts), "2019-07-19T14:50:20.871000Z");
        assert_eq!(e.os, Some(Os::Windows));
    }

    #[test]
    fn one_line_document_without_root_and_a_truncated_end() {
        let one = WIN.lines().skip(3).take(19).collect::<Vec<_>>().join("");
        let input = format!("{one}{one}<Event><System>");
        let (r, got) = read(&input, FeedFormat::Sysmon);
        assert_eq!((r.lines, r.events, r.bad_lines), (1, 2, 1));
        assert_eq!(r.bad_examples[0].reason, "truncated event (no </Event>)");
        assert_eq!(got[1].process.pid, Some(3912));
    }

    #[test]
    fn security_5156_as_xml() {
        let x = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Security-Auditing" Guid="{54849625-5478-4994-A5BA-3E3B0328C30D}"/><EventID>5156</EventID><TimeCreated SystemTime="2015-09-22T05:24:22.622090200Z"/><Execution ProcessID="4" ThreadID="3712"/><Computer>DC01.contoso.local</Computer></System><EventData><Data Name="ProcessID">4556</Data><Data Name="Application">\device\harddiskvolume2\documents\listener.exe</Data><Data Name="Direction">%%14592</Data><Data Name="SourceAddress">10.0.0.10</Data><Data Name="SourcePort">3333</Data><Data Name="DestAddress">10.0.0.100</Data><Data Name="DestPort">49278</Data><Data Name="Protocol">6</Data></EventData></Event>"#;
        let (r, got) = read(x, FeedFormat::Auto);
        assert_eq!((r.format, r.events), ("wfp", 1));
        let e = &got[0];
        assert_eq!(e.kind, EventKind::Accept);
        assert_eq!(e.process.pid, Some(4556));
        assert_eq!((e.local_port, e.remote_port), (Some(3333), 49278));
        assert_eq!(capture::time::rfc3339(e.ts), "2015-09-22T05:24:22.622090Z");
        // Forced Sysmon: a 5156 is another event id.
        let (r, _) = read(x, FeedFormat::Sysmon);
        assert_eq!((r.events, r.skipped.get("other event id")), (0, Some(&1)));
    }

    #[test]
    fn syslog_text_lines_from_sysmon_for_linux() {
        let input = "Oct 11 10:00:00 ubuntu systemd[1]: Started.\n\
            Oct 11 10:00:01 ubuntu sysmon: <Event><System><Provider Name=\"Linux-Sysmon\" Guid=\"{ff032593-a8d3-4f13-b0d6-01fc615a0f97}\"/><EventID>3</EventID><Computer>ubuntu</Computer></System><EventData><Data Name=\"UtcTime\">2022-05-11 18:10:21.925</Data><Data Name=\"ProcessId\">1340</Data><Data Name=\"Image\">java</Data><Data Name=\"User\">-</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">true</Data><Data Name=\"SourceIp\">192.168.2.5</Data><Data Name=\"SourcePort\">41878</Data><Data Name=\"DestinationIp\">192.168.2.6</Data><Data Name=\"DestinationPort\">8888</Data></EventData></Event>\n";
        let (r, got) = read(input, FeedFormat::Auto);
        assert_eq!(r.format, "sysmon");
        assert_eq!((r.lines, r.events, r.bad_lines), (2, 1, 0));
        assert_eq!(r.skipped.get("not a Sysmon event"), Some(&1));
        let e = &got[0];
        assert_eq!(e.os, Some(Os::Linux));
        assert_eq!(e.host, "ubuntu");
        assert_eq!(e.process.executable.as_deref(), Some("java"));
        assert_eq!(e.process.user, None);
        assert_eq!(e.process.pid, Some(1340));
    }

    #[test]
    fn event_longer_than_the_cap_is_one_bad_record() {
        let big = "x".repeat(MAX_LINE + 10);
        let ev = WIN.lines().skip(3).take(19).collect::<Vec<_>>().join("\n");
        let input = format!(
            "<Events>\n<Event><System><EventID>3</EventID></System><EventData><Data Name=\"Image\">{big}</Data></EventData></Event>\n{ev}\n</Events>\n"
        );
        let (r, got) = read(&input, FeedFormat::Auto);
        assert_eq!((r.events, r.bad_lines), (1, 1));
        assert_eq!(r.bad_examples[0].line, 2);
        assert_eq!(got[0].process.pid, Some(3912));
    }
}
