//! Reading whole feeds: detection, forced formats, bad input, errors.

use super::*;

fn read(input: &[u8], format: FeedFormat) -> Result<(FeedReport, Vec<SocketEvent>), String> {
    let mut got = Vec::new();
    read_reader(input, "feed.x", format, "dflt", &mut |e| got.push(e))
        .map(|r| (r, got))
        .map_err(|e| e.to_string())
}

const NATIVE: &str = r#"{"ts":"2023-11-14T22:13:20.000900Z","host":"ws1","proto":"tcp","src_ip":"10.1.0.5","src_port":41001,"dst_ip":"203.0.113.10","dst_port":80,"pid":1100,"process":"/usr/bin/curl"}"#;
const SYSMON: &str = r#"{"EventID":3,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"W","ProcessId":"1","Image":"C:\\a.exe","Protocol":"tcp","Initiated":"true","SourceIp":"10.0.0.1","SourcePort":"1","DestinationIp":"10.0.0.2","DestinationPort":"2","UtcTime":"2020-07-22 04:00:48.097"}"#;

#[test]
fn format_names_parse() {
    for (s, f) in [
        ("auto", FeedFormat::Auto),
        ("jsonl", FeedFormat::Jsonl),
        ("sysmon", FeedFormat::Sysmon),
        ("osquery", FeedFormat::Osquery),
        ("auditd", FeedFormat::Auditd),
        ("wfp", FeedFormat::Wfp),
        ("WFP", FeedFormat::Wfp),
    ] {
        assert_eq!(s.parse::<FeedFormat>(), Ok(f));
    }
    assert!("zeek".parse::<FeedFormat>().unwrap_err().contains("zeek"));
}

#[test]
fn bad_lines_are_counted_and_reading_goes_on() {
    let mut input = String::new();
    input.push_str(NATIVE);
    input.push_str("\n\nnot json\n{\"ts\":1}\n[1,2]\n{\"broken\": \n");
    input.push_str(&NATIVE.replace("\"dst_port\":80", "\"dst_port\":\"http\""));
    input.push('\n');
    input.push_str(&"x".repeat(MAX_LINE + 1));
    input.push('\n');
    input.push_str(NATIVE);
    let (r, got) = read(input.as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!(r.format, "jsonl");
    assert_eq!((r.lines, r.events, r.bad_lines), (9, 2, 6));
    let lines: Vec<u64> = r.bad_examples.iter().map(|b| b.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8]);
    let reasons: Vec<&str> = r.bad_examples.iter().map(|b| b.reason.as_str()).collect();
    assert_eq!(reasons[0], "not a JSON object");
    assert!(reasons[1].starts_with("unknown record"), "{}", reasons[1]);
    assert_eq!(reasons[2], "not a JSON object");
    assert!(reasons[3].starts_with("not JSON: "), "{}", reasons[3]);
    assert_eq!(reasons[4], "bad dst_port \"http\"");
    assert_eq!(reasons[5], format!("line longer than {MAX_LINE} bytes"));
    assert_eq!(got.len(), 2);
}

#[test]
fn examples_are_capped_but_all_bad_lines_counted() {
    let input = "{\"ts\":1,\"dst_ip\":\"x\"}\n".repeat(25);
    let (r, _) = read(input.as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!(r.bad_lines, 25);
    assert_eq!(r.bad_examples.len(), MAX_BAD_EXAMPLES);
}

#[test]
fn mixed_files_are_classified_per_line() {
    let input = format!("{NATIVE}\n{SYSMON}\n");
    let (r, got) = read(input.as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!((r.format, r.events), ("mixed", 2));
    assert_eq!(got[1].process.executable.as_deref(), Some("C:\\a.exe"));
    // Forced: only that reader.
    let (r, _) = read(input.as_bytes(), FeedFormat::Jsonl).unwrap();
    assert_eq!((r.format, r.events, r.bad_lines), ("jsonl", 1, 1));
    assert_eq!(r.bad_examples[0].reason, "missing ts");
    let (r, _) = read(input.as_bytes(), FeedFormat::Sysmon).unwrap();
    assert_eq!((r.format, r.events, r.bad_lines), ("sysmon", 1, 1));
    assert_eq!(r.bad_examples[0].reason, "not a Sysmon record");
    let (r, _) = read(input.as_bytes(), FeedFormat::Auditd).unwrap();
    assert_eq!((r.events, r.bad_lines), (0, 2));
}

#[test]
fn files_that_are_no_feed_are_errors() {
    let err = |b: &[u8]| read(b, FeedFormat::Auto).unwrap_err();
    assert!(err(b"\x7fELF\x02\x01\x01\x00\x00").contains("binary data"));
    assert!(err(b"hello world\nsecond line\n").contains("not a known feed format"));
    assert!(err(b"{\"a\":1}\n{\"b\":2}\n").contains("unknown record"));
    assert!(err(b"\xFF\xFE<\x00E\x00").contains("UTF-16"));
    assert!(err(b"<html><body>hi</body></html>\n").contains("without <Event>"));
    // An export of nothing is an empty feed, not an error.
    let (r, _) = read(
        b"<?xml version=\"1.0\"?>\n<Events>\n</Events>\n",
        FeedFormat::Auto,
    )
    .unwrap();
    assert_eq!((r.format, r.lines, r.events), ("sysmon", 3, 0));
    let e = err(b"hello");
    assert!(e.starts_with("feed feed.x: "), "{e}");
    // A broken first line does not decide alone: the next lines do.
    let input = format!("{{broken\n{NATIVE}\n");
    let (r, _) = read(input.as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!((r.events, r.bad_lines), (1, 1));
}

#[test]
fn empty_and_blank_input() {
    let (r, got) = read(b"", FeedFormat::Auto).unwrap();
    assert_eq!((r.format, r.lines, r.events, got.len()), ("empty", 0, 0, 0));
    let (r, _) = read(b"\n\n  \n", FeedFormat::Auto).unwrap();
    assert_eq!((r.format, r.lines), ("empty", 3));
    let (r, _) = read(b"", FeedFormat::Auditd).unwrap();
    assert_eq!(r.format, "auditd");
}

#[test]
fn leading_blank_lines_and_bom_keep_line_numbers() {
    let input = format!("\u{feff}\n\n{NATIVE}\nbad\n");
    let (r, _) = read(input.as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!((r.lines, r.events), (4, 1));
    assert_eq!(r.bad_examples[0].line, 4);
}

#[test]
fn read_file_errors_name_the_file() {
    let mut sink = |_e: SocketEvent| {};
    let missing = Path::new("/nonexistent/feed.jsonl");
    let e = read_file(missing, FeedFormat::Auto, "h", &mut sink).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("feed /nonexistent/feed.jsonl: cannot open: "),
        "{e}"
    );
    let e = read_file(Path::new("/"), FeedFormat::Auto, "h", &mut sink).unwrap_err();
    assert_eq!(e.to_string(), "feed /: cannot open: is a directory");
}

#[test]
fn vmconnection_rows_are_skipped_with_their_reason() {
    let row = r#"{"TimeGenerated":"2022-05-11T18:09:38.868Z","Computer":"UBUNTU5","Direction":"outbound","ProcessName":"java","SourceIp":"192.168.2.5","DestinationIp":"192.168.2.6","DestinationPort":8888,"Protocol":"tcp","Type":"VMConnection"}"#;
    let (r, _) = read(format!("{row}\n{row}\n").as_bytes(), FeedFormat::Auto).unwrap();
    assert_eq!((r.format, r.events, r.bad_lines), ("vmconnection", 0, 0));
    assert_eq!(r.skipped.get("VMConnection summary"), Some(&2));
}

#[test]
fn forced_sysmon_reads_syslog_text_skipping_other_lines() {
    let input = "Oct 11 10:00:00 h cron[1]: job\n\
        Oct 11 10:00:01 h sysmon: <Event><System><Provider Name=\"Linux-Sysmon\"/><EventID>3</EventID><Computer>h</Computer></System><EventData><Data Name=\"UtcTime\">2022-05-11 18:10:21.925</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">true</Data><Data Name=\"SourceIp\">10.0.0.1</Data><Data Name=\"SourcePort\">1</Data><Data Name=\"DestinationIp\">10.0.0.2</Data><Data Name=\"DestinationPort\">2</Data></EventData></Event>\n";
    let (r, got) = read(input.as_bytes(), FeedFormat::Sysmon).unwrap();
    assert_eq!((r.format, r.events, r.bad_lines), ("sysmon", 1, 0));
    assert_eq!(r.skipped.get("not a Sysmon event"), Some(&1));
    assert_eq!(got[0].process.pid, None);
}

/// Broken copies of valid feeds (bytes flipped, cut, lines doubled) never
/// panic and never stop the read, in any format.
#[test]
fn mangled_input_never_panics() {
    let xml = "<Events>\n<Event><System><Provider Name=\"Microsoft-Windows-Sysmon\"/><EventID>3</EventID><Computer>c</Computer></System><EventData><Data Name=\"UtcTime\">2019-07-19 14:50:20.871</Data><Data Name=\"ProcessId\">1</Data><Data Name=\"Image\">&lt;x&gt;</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">False</Data><Data Name=\"SourceIp\">10.0.0.1</Data><Data Name=\"SourcePort\">1</Data><Data Name=\"DestinationIp\">::1</Data><Data Name=\"DestinationPort\">2</Data></EventData></Event>\n</Events>\n";
    let audit = "type=SYSCALL msg=audit(1492752520.441:8832): arch=c000003e syscall=43 success=yes exit=5 a0=3 ppid=1 pid=1663 uid=0 exe=\"/usr/sbin/sshd\"\ntype=SOCKADDR msg=audit(1492752520.441:8832): saddr=0200E31C4853E6640000000000000000\ntype=PROCTITLE msg=audit(1492752520.441:8832): proctitle=6375726C002D73\ntype=EOE msg=audit(1492752520.441:8832):\n";
    let osq = r#"{"name":"socket_events","hostIdentifier":"h","unixTime":1,"snapshot":[{"action":"connect","pid":"1","remote_address":"1.2.3.4","remote_port":"80","family":"2","protocol":"6","time":"5"}]}"#;
    let samples = [NATIVE, SYSMON, xml, audit, osq];
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let formats = [
        FeedFormat::Auto,
        FeedFormat::Jsonl,
        FeedFormat::Sysmon,
        FeedFormat::Wfp,
        FeedFormat::Osquery,
        FeedFormat::Auditd,
    ];
    for round in 0..400 {
        let base = samples[round % samples.len()];
        let mut b = format!("{base}\n{base}\n").into_bytes();
        for _ in 0..(next() % 6) {
            let at = (next() as usize) % b.len();
            match next() % 4 {
                0 => b[at] = next() as u8,
                1 => b.truncate(at.max(1)),
                2 => b.insert(
                    at,
                    [b'<', b'>', b'"', b'{', b'\n', 0][(next() % 6) as usize],
                ),
                _ => {
                    b.remove(at);
                }
            }
            if b.is_empty() {
                b.push(b'{');
            }
        }
        for f in formats {
            let mut n = 0u64;
            match read_reader(&b[..], "fuzz", f, "h", &mut |_| n += 1) {
                Ok(r) => assert_eq!(r.events, n),
                Err(e) => assert!(e.to_string().starts_with("feed fuzz: ")),
            }
        }
    }
}

/// Reads `input` as a live source does: cut into pieces of `chunk` bytes,
/// split into lines, each given to a [`LineParser`].
fn stream(
    input: &[u8],
    format: FeedFormat,
    chunk: usize,
) -> Result<(FeedReport, Vec<SocketEvent>), String> {
    use std::ops::ControlFlow;
    let mut got = Vec::new();
    let mut parser = LineParser::new("feed.x", format, "dflt");
    let mut split = LineSplitter::new(MAX_LINE);
    let mut err = None;
    let mut each = |p: Piece<'_>| {
        let r = match p {
            Piece::Line(l) => parser.line(l, &mut |e| got.push(e)),
            Piece::TooLong => parser.too_long(&mut |e| got.push(e)),
        };
        match r {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => {
                err = Some(e.to_string());
                ControlFlow::Break(())
            }
        }
    };
    for piece in input.chunks(chunk.max(1)) {
        if split.push(piece, &mut each).is_break() {
            break;
        }
    }
    let _ = split.finish(&mut each);
    if let Some(e) = err {
        return Err(e);
    }
    parser
        .finish(&mut |e| got.push(e))
        .map_err(|e| e.to_string())?;
    Ok((parser.into_report(), got))
}

fn same(
    a: &Result<(FeedReport, Vec<SocketEvent>), String>,
    b: &Result<(FeedReport, Vec<SocketEvent>), String>,
) -> bool {
    match (a, b) {
        (Ok((ra, ea)), Ok((rb, eb))) => {
            (
                ra.format,
                ra.lines,
                ra.events,
                ra.bad_lines,
                &ra.bad_examples,
                &ra.skipped,
                ra.evicted,
            ) == (
                rb.format,
                rb.lines,
                rb.events,
                rb.bad_lines,
                &rb.bad_examples,
                &rb.skipped,
                rb.evicted,
            ) && ea == eb
        }
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

/// Lines given one at a time, however the bytes arrive, read exactly as
/// the file reader reads them: same events, counts, bad lines, errors.
#[test]
fn a_stream_reads_like_a_file() {
    let audit = "type=SYSCALL msg=audit(1492752520.441:8832): arch=c000003e syscall=42 success=no exit=-115 a0=3 ppid=1 pid=1663 uid=0 exe=\"/usr/bin/curl\"\ntype=SOCKADDR msg=audit(1492752520.441:8832): saddr=0200E31C4853E6640000000000000000\ntype=EOE msg=audit(1492752520.441:8832):\ntype=SYSCALL msg=audit(1492752521.441:8833): arch=c000003e syscall=42 success=no exit=-115 a0=3 ppid=1 pid=1664 uid=0 exe=\"/usr/bin/wget\"\ntype=SOCKADDR msg=audit(1492752521.441:8833): saddr=0200E31C4853E6640000000000000000\n";
    let syslog = "Oct 11 10:00:00 h cron[1]: job\nOct 11 10:00:01 h sysmon: <Event><System><Provider Name=\"Linux-Sysmon\"/><EventID>3</EventID><Computer>h</Computer></System><EventData><Data Name=\"UtcTime\">2022-05-11 18:10:21.925</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">true</Data><Data Name=\"SourceIp\">10.0.0.1</Data><Data Name=\"SourcePort\">1</Data><Data Name=\"DestinationIp\">10.0.0.2</Data><Data Name=\"DestinationPort\">2</Data></EventData></Event>\n";
    let osq = r#"{"name":"socket_events","hostIdentifier":"h","unixTime":1,"snapshot":[{"action":"connect","pid":"1","remote_address":"1.2.3.4","remote_port":"80","family":"2","protocol":"6","time":"5"}]}"#;
    let long = "x".repeat(MAX_LINE + 1);
    let inputs: Vec<String> = vec![
        format!("{NATIVE}\n\nnot json\n{{\"ts\":1}}\n[1,2]\n{{\"broken\": \n{long}\n{NATIVE}"),
        format!("\u{feff}\n\n{NATIVE}\nbad\n"),
        format!("{NATIVE}\n{SYSMON}\n"),
        format!("{{broken\n{long}\n{NATIVE}\r\n"),
        "hello world\nsecond line\n".into(),
        "{\"a\":1}\n{\"b\":2}\n".into(),
        "\x7fELF\x02\x01\x01\x00\x00".into(),
        "\n\n  \n".into(),
        audit.into(),
        syslog.into(),
        format!("{osq}\n{osq}"),
        format!("{SYSMON}\n{NATIVE}"),
    ];
    let formats = [
        FeedFormat::Auto,
        FeedFormat::Jsonl,
        FeedFormat::Sysmon,
        FeedFormat::Wfp,
        FeedFormat::Osquery,
        FeedFormat::Auditd,
    ];
    for input in &inputs {
        for f in formats {
            let want = read(input.as_bytes(), f);
            for chunk in [1, 7, 100, 1 << 20] {
                let got = stream(input.as_bytes(), f, chunk);
                assert!(
                    same(&want, &got),
                    "{f:?} chunk {chunk}: {:?}\n{want:?}\n{got:?}",
                    &input[..input.len().min(60)]
                );
            }
        }
    }
    // Every event of the auditd sample, the one still open included.
    let (r, got) = stream(audit.as_bytes(), FeedFormat::Auto, 13).unwrap();
    assert_eq!((r.format, r.events, got.len()), ("auditd", 2, 2));
}

/// An event comes out of the parser with its line: the format lookahead
/// holds only lines that yield none.
#[test]
fn events_are_not_held_back() {
    let mut got = 0;
    let mut p = LineParser::new("s", FeedFormat::Auto, "h");
    p.line(b"{broken", &mut |_| got += 1).unwrap();
    p.line(b"", &mut |_| got += 1).unwrap();
    assert_eq!((got, p.report().bad_lines), (0, 0));
    p.line(NATIVE.as_bytes(), &mut |_| got += 1).unwrap();
    assert_eq!(
        (got, p.report().bad_lines, p.report().format),
        (1, 1, "jsonl")
    );
    p.line(NATIVE.as_bytes(), &mut |_| got += 1).unwrap();
    assert_eq!((got, p.report().lines), (2, 4));
    assert_eq!(p.report().bad_examples[0].line, 1);
}

/// A line-based source cannot carry a multi-line XML document; the parser
/// says so. One `<Event>` per line is read.
#[test]
fn streams_take_one_xml_event_per_line() {
    let mut p = LineParser::new("s", FeedFormat::Auto, "h");
    let e = p.line(b"<Events>", &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("one <Event> per line"), "{e}");
    assert!(
        p.line(NATIVE.as_bytes(), &mut |_| {}).is_err(),
        "stays failed"
    );
    let ev = "<Event><System><Provider Name=\"Microsoft-Windows-Sysmon\"/><EventID>3</EventID><Computer>c</Computer></System><EventData><Data Name=\"UtcTime\">2019-07-19 14:50:20.871</Data><Data Name=\"ProcessId\">1</Data><Data Name=\"Protocol\">tcp</Data><Data Name=\"Initiated\">true</Data><Data Name=\"SourceIp\">10.0.0.1</Data><Data Name=\"SourcePort\">1</Data><Data Name=\"DestinationIp\">10.0.0.2</Data><Data Name=\"DestinationPort\">2</Data></EventData></Event>";
    for f in [FeedFormat::Auto, FeedFormat::Sysmon] {
        let mut p = LineParser::new("s", f, "h");
        let mut got = Vec::new();
        p.line(ev.as_bytes(), &mut |e| got.push(e)).unwrap();
        p.line(ev.as_bytes(), &mut |e| got.push(e)).unwrap();
        assert_eq!((got.len(), p.report().format), (2, "sysmon"), "{f:?}");
        assert_eq!(got[0].process.pid, Some(1));
    }
    // A line cap of the caller's is the one named.
    let mut p = LineParser::new("s", FeedFormat::Jsonl, "h").with_max_line(100);
    p.too_long(&mut |_| {}).unwrap();
    assert_eq!(
        p.report().bad_examples[0].reason,
        "line longer than 100 bytes"
    );
}
