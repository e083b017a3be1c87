//! Header blocks: httparse into a stack array, then only the fields kept,
//! borrowed from the block (the transaction copies them into its own text
//! at once: a string each first was three allocations a request).

use std::borrow::Cow;

/// How the message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Neither Content-Length nor chunked.
    #[default]
    None,
    /// Content-Length.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Conflicting Content-Length headers: the body length cannot be known
    /// (and guessing is how request smuggling works).
    Ambiguous,
}

/// The fields kept from one header block, over its bytes.
#[derive(Debug, Default)]
pub struct Head<'a> {
    pub method: Option<Cow<'a, str>>,
    pub uri: Option<Cow<'a, str>>,
    pub version: Option<Cow<'static, str>>,
    pub status: Option<u16>,
    pub host: Option<Cow<'a, str>>,
    pub user_agent: Option<Cow<'a, str>>,
    pub content_type: Option<Cow<'a, str>>,
    pub framing: Framing,
    /// Content-Encoding, when it is one the parser undoes.
    pub coding: Option<super::inflate::Coding>,
    /// The block broke the grammar (a folded line, a line without a
    /// colon) and was read line by line: an error to count, the message
    /// kept.
    pub malformed: bool,
    /// An HTTP/0.9 request: its line alone, no version, no headers.
    pub simple: bool,
}

/// Result of parsing a header block.
pub enum Parsed<'a> {
    /// Complete: its length in bytes (with the blank line) and its fields.
    Complete(usize, Head<'a>),
    /// More bytes are needed.
    Partial,
    /// Not a valid header block.
    Invalid,
}

/// Headers per message read at most; more is a parse error.
const MAX_HEADERS: usize = 100;

/// At most `max` bytes of `b` as text (invalid UTF-8 replaced).
fn text(b: &[u8], max: usize) -> Cow<'_, str> {
    let cut = b.get(..max).unwrap_or(b);
    String::from_utf8_lossy(cut)
}

/// A request target as text: at most `max` bytes of it, a byte that is no
/// UTF-8 written `%XX` as a URI escapes it (the target keeps every byte;
/// a replacement character would lose which).
pub fn uri_text(b: &[u8], max: usize) -> Cow<'_, str> {
    let cut = b.get(..max).unwrap_or(b);
    if let Ok(s) = std::str::from_utf8(cut) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(cut.len() + 8);
    for chunk in cut.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    Cow::Owned(out)
}

fn fill<'a>(head: &mut Head<'a>, headers: &[httparse::Header<'a>], max: usize) {
    let mut length: Option<u64> = None;
    for h in headers {
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            head.host.get_or_insert_with(|| text(h.value, max));
        } else if name.eq_ignore_ascii_case("user-agent") {
            head.user_agent.get_or_insert_with(|| text(h.value, max));
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type.get_or_insert_with(|| text(h.value, max));
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
            // Blanks are SP and HTAB: `\rchunked` is not chunked.
            if v.split(',')
                .any(|t| t.trim_matches([' ', '\t']) == "chunked")
            {
                head.framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.coding = super::inflate::Coding::from_header(h.value);
        } else if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().map(str::trim);
            // A length of 2^60 bytes or more is no body's (the bound chunk
            // sizes have too): a smuggling attempt, not a length.
            match v
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|n| *n < 1 << 60)
            {
                // Two different lengths is how request smuggling starts:
                // refuse to guess.
                Some(n) if length.is_none_or(|l| l == n) => length = Some(n),
                _ => {
                    head.framing = Framing::Ambiguous;
                    return;
                }
            }
        }
    }
    if head.framing != Framing::Chunked {
        if let Some(n) = length {
            head.framing = Framing::Length(n);
        }
    }
}

fn version_text(v: Option<u8>) -> Option<Cow<'static, str>> {
    v.map(|v| match v {
        0 => Cow::Borrowed("HTTP/1.0"),
        1 => Cow::Borrowed("HTTP/1.1"),
        v => Cow::Owned(format!("HTTP/1.{v}")),
    })
}

/// A method or version as text: the usual ones static, others copied (at
/// most `max` bytes).
pub fn known(b: &[u8], max: usize) -> Cow<'static, str> {
    const KNOWN: [&str; 11] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "HTTP/1.1",
        "HTTP/1.0",
    ];
    match KNOWN.iter().find(|k| k.as_bytes() == b) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(text(b, max).into_owned()),
    }
}

/// Parses a request header block.
pub fn parse_request(data: &[u8], max: usize) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Complete(len)) => {
            let mut head = Head {
                method: req.method.map(|m| known(m.as_bytes(), max)),
                uri: req.path.map(|p| text(p.as_bytes(), max)),
                version: version_text(req.version),
                ..Head::default()
            };
            fill(&mut head, req.headers, max);
            Parsed::Complete(len, head)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => lenient_request(data, max),
    }
}

/// A request line httparse refuses (a space inside the target, as in
/// `GET /a b HTTP/1.1`) is still a request the server sees: take the method,
/// everything up to the last ` HTTP/1.x` as the target, and parse the
/// headers that follow.
fn lenient_request(data: &[u8], max: usize) -> Parsed<'_> {
    let Some(eol) = data.iter().position(|b| *b == b'\n') else {
        return Parsed::Partial;
    };
    let line = data.get(..eol).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some((method, target, version)) = split_request_line(line) else {
        return Parsed::Invalid;
    };
    let mut head = Head {
        method: Some(known(method, max)),
        uri: Some(uri_text(target, max)),
        ..Head::default()
    };
    if version.is_none() {
        // HTTP/0.9: the line is the request, its target a path. Header
        // lines sent with it in the same segment are read with it (a
        // server reads them so, and so does Zeek); the answer is still
        // taken as HTTP/0.9's, bare bytes unless it has a status line.
        if !target.starts_with(b"/") {
            return Parsed::Invalid;
        }
        head.version = Some(Cow::Borrowed("HTTP/0.9"));
        head.simple = true;
        let rest = data.get(eol + 1..).unwrap_or(&[]);
        if !header_line_follows(rest) {
            return Parsed::Complete(eol + 1, head);
        }
        return header_block(rest, eol + 1, head, max);
    }
    head.version = version;
    header_block(data.get(eol + 1..).unwrap_or(&[]), eol + 1, head, max)
}

/// Whether what follows a request line without a version, in the same
/// segment, is its header lines: anything but another request (an
/// HTTP/0.9 client sends its line alone; a line without a colon among
/// headers is passed over as lenient servers pass it).
fn header_line_follows(rest: &[u8]) -> bool {
    !rest.is_empty() && !super::starts_message(true, rest)
}

/// Reads the header block `rest`, which follows `before` bytes of start
/// line, into `head`: through httparse, or line by line when it breaks
/// the grammar.
fn header_block<'a>(rest: &'a [u8], before: usize, mut head: Head<'a>, max: usize) -> Parsed<'a> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::parse_headers(rest, &mut headers) {
        Ok(httparse::Status::Complete((n, hs))) => {
            fill(&mut head, hs, max);
            Parsed::Complete(before + n, head)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => match loose_headers(rest, &mut headers) {
            Some((n, count)) => {
                fill(&mut head, headers.get(..count).unwrap_or(&[]), max);
                head.malformed = true;
                Parsed::Complete(before + n, head)
            }
            None => Parsed::Partial,
        },
    }
}

/// A header block read line by line, as a lenient server reads one:
/// `name: value` lines kept, folded continuation lines and lines without a
/// colon passed over. Gives the block's length (up to its blank line) and
/// how many headers were kept; `None` while the blank line has not come.
fn loose_headers<'a>(
    block: &'a [u8],
    out: &mut [httparse::Header<'a>; MAX_HEADERS],
) -> Option<(usize, usize)> {
    let mut at = 0;
    let mut kept = 0;
    loop {
        let eol = block.get(at..)?.iter().position(|b| *b == b'\n')?;
        let line = block.get(at..at + eol).unwrap_or(&[]);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += eol + 1;
        if line.is_empty() {
            return Some((at, kept));
        }
        // A line of blanks continues a folded one when more blanks or the
        // end of the block follow; else it ends the block as an empty line
        // does (`\n \n`, `\n\r\r\n`), and lenient clients read the body
        // from there.
        if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
            match block.get(at)? {
                b' ' | b'\t' | b'\r' | b'\n' => continue,
                _ => return Some((at, kept)),
            }
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(line.get(..colon).unwrap_or(&[])).map(str::trim);
        let value = line.get(colon + 1..).unwrap_or(&[]).trim_ascii();
        if let (Ok(name), Some(slot)) = (name, out.get_mut(kept)) {
            *slot = httparse::Header { name, value };
            kept += 1;
        }
    }
}

/// A request line's method, target and version.
pub type RequestLine<'a> = (&'a [u8], &'a [u8], Option<Cow<'static, str>>);

/// Splits `METHOD SP target [SP HTTP/1.x]`; the method must be an
/// upper-case token. Without a version it is an HTTP/0.9-style line.
pub fn split_request_line(line: &[u8]) -> Option<RequestLine<'_>> {
    let sp = line.iter().position(|b| *b == b' ')?;
    let method = line.get(..sp)?;
    if method.is_empty()
        || !method
            .iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'-' || *b == b'_')
    {
        return None;
    }
    let rest = line.get(sp + 1..)?;
    if rest.starts_with(b"HTTP/") && !rest.contains(&b' ') {
        // `GET HTTP/1.1`: no target, read as Zeek reads it (an empty one).
        return Some((method, &[], Some(known(rest, usize::MAX))));
    }
    let (target, version) = match rest.windows(6).rposition(|w| w == b" HTTP/") {
        Some(at) => {
            let v = rest.get(at + 1..)?;
            (rest.get(..at)?, Some(known(v, usize::MAX)))
        }
        None => (rest, None),
    };
    if target.is_empty() || target.iter().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some((method, target, version))
}

/// Parses a response header block.
pub fn parse_response(data: &[u8], max: usize) -> Parsed<'_> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(data) {
        Ok(httparse::Status::Complete(len)) => {
            let mut head = Head {
                status: resp.code,
                version: version_text(resp.version),
                ..Head::default()
            };
            fill(&mut head, resp.headers, max);
            Parsed::Complete(len, head)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => loose_response(data, max),
    }
}

/// A response whose head httparse refuses, read as a lenient client reads
/// it: any line starting `HTTP/` (in any case) is a status line; its
/// version kept when it is one (`HTTP/` digit `.` digits), its status when
/// it is three digits; the headers line by line. The message, and every
/// byte of it, is kept; what broke the grammar is counted.
fn loose_response(data: &[u8], max: usize) -> Parsed<'_> {
    let n = data.len().min(5);
    if !data
        .get(..n)
        .zip(b"HTTP/".get(..n))
        .is_some_and(|(d, h)| d.eq_ignore_ascii_case(h))
    {
        return Parsed::Invalid;
    }
    let Some(eol) = data.iter().position(|b| *b == b'\n') else {
        return Parsed::Partial;
    };
    let line = data.get(..eol).unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < 5 {
        return Parsed::Invalid;
    }
    let mut parts = line.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let version = parts.next().filter(|v| is_version(v));
    let status = parts
        .next()
        .filter(|c| c.len() == 3 && c.iter().all(u8::is_ascii_digit))
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|c| *c >= 100);
    let head = Head {
        status,
        version: version.map(|v| known(v, max)),
        malformed: true,
        ..Head::default()
    };
    header_block(data.get(eol + 1..).unwrap_or(&[]), eol + 1, head, max)
}

/// `HTTP/` (any case), a digit, `.` and digits.
fn is_version(v: &[u8]) -> bool {
    let Some(num) = v.get(5..) else {
        return false;
    };
    let mut halves = num.splitn(2, |b| *b == b'.');
    let major = halves.next().unwrap_or(&[]);
    let minor = halves.next().unwrap_or(&[]);
    major.len() == 1 && !minor.is_empty() && major.iter().chain(minor).all(u8::is_ascii_digit)
}
