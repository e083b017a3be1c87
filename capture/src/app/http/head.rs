//! Header blocks: httparse into a stack array, then only the fields kept.

/// How the message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Neither Content-Length nor chunked.
    None,
    /// Content-Length.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
}

/// The fields kept from one header block.
#[derive(Debug, Default)]
pub struct Head {
    pub method: Option<String>,
    pub uri: Option<String>,
    pub version: Option<String>,
    pub status: Option<u16>,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub content_type: Option<String>,
    pub framing: Framing,
}

impl Default for Framing {
    fn default() -> Self {
        Framing::None
    }
}

/// Result of parsing a header block.
pub enum Parsed {
    /// Complete: its length in bytes (with the blank line) and its fields.
    Complete(usize, Head),
    /// More bytes are needed.
    Partial,
    /// Not a valid header block.
    Invalid,
}

/// Headers per message read at most; more is a parse error.
const MAX_HEADERS: usize = 100;

fn text(b: &[u8], max: usize) -> String {
    let cut = b.get(..max).unwrap_or(b);
    String::from_utf8_lossy(cut).into_owned()
}

fn fill(head: &mut Head, headers: &[httparse::Header<'_>], max: usize) -> bool {
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
            if v.split(',').any(|t| t.trim() == "chunked") {
                head.framing = Framing::Chunked;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().map(str::trim);
            match v.and_then(|v| v.parse::<u64>().ok()) {
                // Two different lengths is how request smuggling starts:
                // refuse to guess.
                Some(n) if length.is_some_and(|l| l != n) => return false,
                Some(n) => length = Some(n),
                None => return false,
            }
        }
    }
    if head.framing != Framing::Chunked {
        if let Some(n) = length {
            head.framing = Framing::Length(n);
        }
    }
    true
}

fn version_text(v: Option<u8>) -> Option<String> {
    v.map(|v| format!("HTTP/1.{v}"))
}

/// Parses a request header block.
pub fn parse_request(data: &[u8], max: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(data) {
        Ok(httparse::Status::Complete(len)) => {
            let mut head = Head {
                method: req.method.map(|m| text(m.as_bytes(), max)),
                uri: req.path.map(|p| text(p.as_bytes(), max)),
                version: version_text(req.version),
                ..Head::default()
            };
            if !fill(&mut head, req.headers, max) {
                return Parsed::Invalid;
            }
            Parsed::Complete(len, head)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}

/// Parses a response header block.
pub fn parse_response(data: &[u8], max: usize) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(data) {
        Ok(httparse::Status::Complete(len)) => {
            let mut head = Head {
                status: resp.code,
                version: version_text(resp.version),
                ..Head::default()
            };
            if !fill(&mut head, resp.headers, max) {
                return Parsed::Invalid;
            }
            Parsed::Complete(len, head)
        }
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid,
    }
}
