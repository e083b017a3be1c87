//! The file reader and the streaming reader (the listener's and the
//! follower's) read the same bytes the same way: line counts, bad lines,
//! events and errors, on odd inputs the fuzzer found and their neighbours.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use correlate::feed::{
    read_reader, FeedFormat, FeedReport, LineParser, LineSplitter, Piece, MAX_LINE,
};
use std::ops::ControlFlow;

const NATIVE: &str = r#"{"ts":"2023-11-14T22:13:20.000900Z","host":"ws1","proto":"tcp","src_ip":"10.1.0.5","src_port":41001,"dst_ip":"203.0.113.10","dst_port":80,"pid":1100,"process":"/usr/bin/curl"}"#;

/// What a reader made of an input: format, lines, events, bad line
/// numbers, and the error if any.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    format: &'static str,
    lines: u64,
    events: usize,
    bad: Vec<u64>,
    error: Option<String>,
}

fn outcome(r: &FeedReport, events: usize, error: Option<String>) -> Outcome {
    Outcome {
        format: r.format,
        lines: r.lines,
        events,
        bad: r.bad_examples.iter().map(|b| b.line).collect(),
        error,
    }
}

fn file_reader(input: &[u8]) -> Outcome {
    let mut n = 0;
    match read_reader(input, "feed", FeedFormat::Auto, "h", &mut |_| n += 1) {
        Ok(r) => outcome(&r, n, None),
        Err(e) => Outcome {
            format: "",
            lines: 0,
            events: n,
            bad: Vec::new(),
            error: Some(e.to_string()),
        },
    }
}

/// The streaming reader, given the input in pieces of `chunk` bytes.
fn stream_reader(input: &[u8], chunk: usize) -> Outcome {
    let mut parser = LineParser::new("feed", FeedFormat::Auto, "h");
    let mut split = LineSplitter::new(MAX_LINE);
    let mut n = 0;
    let mut error = None;
    let take = |p: Piece<'_>, parser: &mut LineParser, n: &mut usize| {
        let r = match p {
            Piece::Line(l) => parser.line(l, &mut |_| *n += 1),
            Piece::TooLong => parser.too_long(&mut |_| *n += 1),
        };
        match r {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => ControlFlow::Break(e.to_string()),
        }
    };
    for c in input.chunks(chunk.max(1)) {
        let mut stop = None;
        let _ = split.push(c, &mut |p| match take(p, &mut parser, &mut n) {
            ControlFlow::Break(e) => {
                stop = Some(e);
                ControlFlow::Break(())
            }
            ControlFlow::Continue(()) => ControlFlow::Continue(()),
        });
        if stop.is_some() {
            error = stop;
            break;
        }
    }
    if error.is_none() {
        let mut stop = None;
        let _ = split.finish(&mut |p| match take(p, &mut parser, &mut n) {
            ControlFlow::Break(e) => {
                stop = Some(e);
                ControlFlow::Break(())
            }
            ControlFlow::Continue(()) => ControlFlow::Continue(()),
        });
        error = stop.or_else(|| parser.finish(&mut |_| n += 1).err().map(|e| e.to_string()));
    }
    match error {
        None => outcome(parser.report(), n, None),
        Some(e) => Outcome {
            format: "",
            lines: 0,
            events: n,
            bad: Vec::new(),
            error: Some(e),
        },
    }
}

/// Both readers, the streaming one at several chunk sizes, agree on
/// `input`; the common outcome.
fn agreed(input: &[u8]) -> Outcome {
    let file = file_reader(input);
    for chunk in [1, 3, 64, input.len()] {
        let stream = stream_reader(input, chunk);
        assert_eq!(file, stream, "input {input:?}, chunks of {chunk}");
    }
    file
}

fn ok(format: &'static str, lines: u64, events: usize, bad: &[u64]) -> Outcome {
    Outcome {
        format,
        lines,
        events,
        bad: bad.to_vec(),
        error: None,
    }
}

#[test]
fn blank_input_counts_every_line_the_same_ended_or_not() {
    // A line is what ends at a newline or at the end of the input, if it
    // holds any byte: blank ones count, and yield nothing.
    assert_eq!(agreed(b""), ok("empty", 0, 0, &[]));
    assert_eq!(agreed(b" "), ok("empty", 1, 0, &[]));
    assert_eq!(agreed(b" \t\r"), ok("empty", 1, 0, &[]));
    assert_eq!(agreed(b"\n"), ok("empty", 1, 0, &[]));
    assert_eq!(agreed(b"  \n"), ok("empty", 1, 0, &[]));
    assert_eq!(agreed(b"\n\n  "), ok("empty", 3, 0, &[]));
    assert_eq!(agreed(b"\xEF\xBB\xBF"), ok("empty", 1, 0, &[]));
    assert_eq!(agreed(b"\xEF\xBB\xBF  "), ok("empty", 1, 0, &[]));
    let n = format!("{NATIVE}\n  ");
    assert_eq!(agreed(n.as_bytes()), ok("jsonl", 2, 1, &[]));
    let n = format!(" \n{NATIVE}");
    assert_eq!(agreed(n.as_bytes()), ok("jsonl", 2, 1, &[]));
}

#[test]
fn a_byte_order_mark_counts_only_at_the_start() {
    let utf16 = "feed feed: UTF-16 text: convert the export to UTF-8 first";
    for input in [&b"\xFF\xFE"[..], b"\xFE\xFF\n", b"\xFF\xFE{\x00\n\x00"] {
        assert_eq!(agreed(input).error.as_deref(), Some(utf16), "{input:?}");
    }
    // After a blank first line the same bytes are no mark: a bad line of
    // a feed, or no feed at all.
    let late = format!("\n\u{feff}{NATIVE}\n");
    assert_eq!(agreed(late.as_bytes()).events, 0);
    let binary = "feed feed: binary data at line 2, not a feed";
    let mut bytes = b"\n\xFF\xFE".to_vec();
    assert_eq!(agreed(&bytes).error.as_deref(), Some(binary));
    bytes.extend_from_slice(format!("\n{NATIVE}\n").as_bytes());
    assert_eq!(agreed(&bytes).error.as_deref(), Some(binary));
    let mut bytes = format!("{NATIVE}\n").into_bytes();
    bytes.extend_from_slice(b"\xFF\xFE{\x00\n");
    bytes.extend_from_slice(format!("{NATIVE}\n").as_bytes());
    assert_eq!(agreed(&bytes), ok("jsonl", 3, 2, &[2]));
    // A UTF-8 mark is dropped once, at the start only.
    let n = format!("\u{feff}{NATIVE}\n");
    assert_eq!(agreed(n.as_bytes()), ok("jsonl", 1, 1, &[]));
    let n = format!("\u{feff}\n{NATIVE}\n");
    assert_eq!(agreed(n.as_bytes()), ok("jsonl", 2, 1, &[]));
    let n = format!("\u{feff}\u{feff}{NATIVE}\n{NATIVE}\n");
    assert_eq!(agreed(n.as_bytes()), ok("jsonl", 2, 1, &[1]));
}
