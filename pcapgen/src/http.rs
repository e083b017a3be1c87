//! HTTP/1.x message building, with the expected values of each message.

use crate::expected::ExpectedHttp;
use crate::rng::SplitMix64;

/// User-Agent used by generated requests unless stated otherwise.
pub const USER_AGENT: &str = "procflow-test/1.0 (pcapgen)";

fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

fn head_bytes(start_line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(start_line.as_bytes());
    h.extend_from_slice(b"\r\n");
    for (n, v) in headers {
        h.extend_from_slice(n.as_bytes());
        h.extend_from_slice(b": ");
        h.extend_from_slice(v.as_bytes());
        h.extend_from_slice(b"\r\n");
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// `len` bytes of printable text, deterministic for a given `seed`.
pub fn text_body(len: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \n";
    let mut r = SplitMix64::new(seed);
    (0..len)
        .map(|_| ALPHABET[r.below(ALPHABET.len() as u64) as usize])
        .collect()
}

/// Chunked transfer coding of `chunks` (sizes in lower-case hex), the last
/// zero-size chunk, the trailer fields and the final empty line.
pub fn chunked(chunks: &[&[u8]], trailers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n");
    for (n, v) in trailers {
        out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// An HTTP request: head (start line + headers) and body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// Start line and headers, including the empty line.
    pub head: Vec<u8>,
    /// Body as sent (chunk framing included).
    pub body: Vec<u8>,
    /// Method.
    pub method: String,
    /// Request target.
    pub uri: String,
    /// Host header.
    pub host: Option<String>,
    /// User-Agent header.
    pub user_agent: Option<String>,
    /// Body length after de-chunking.
    pub body_len: u64,
}

impl HttpRequest {
    /// A request with a body sent as is (give a Content-Length header).
    pub fn new(
        method: &str,
        uri: &str,
        version: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Self {
        let head = head_bytes(&format!("{method} {uri} {version}"), headers);
        let body_len = body.len() as u64;
        Self {
            head,
            body,
            method: method.to_string(),
            uri: uri.to_string(),
            host: header(headers, "host").map(str::to_string),
            user_agent: header(headers, "user-agent").map(str::to_string),
            body_len,
        }
    }

    /// An HTTP/1.1 GET with Host, User-Agent and Accept.
    pub fn get(host: &str, uri: &str) -> Self {
        Self::new(
            "GET",
            uri,
            "HTTP/1.1",
            &[
                ("Host", host),
                ("User-Agent", USER_AGENT),
                ("Accept", "*/*"),
            ],
            Vec::new(),
        )
    }

    /// A request with a chunked body: `headers` must include
    /// `Transfer-Encoding: chunked`.
    pub fn chunked(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
        trailers: &[(&str, &str)],
    ) -> Self {
        let mut r = Self::new(method, uri, "HTTP/1.1", headers, chunked(chunks, trailers));
        r.body_len = chunks.iter().map(|c| c.len() as u64).sum();
        r
    }

    /// Head followed by body.
    pub fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }
}

/// An HTTP response: optional interim 1xx responses, head and body as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Interim (1xx) responses sent before the final one.
    pub interim: Vec<u8>,
    /// Start line and headers of the final response, with the empty line.
    pub head: Vec<u8>,
    /// Body as sent (chunk framing included).
    pub body: Vec<u8>,
    /// Final status code.
    pub status: u16,
    /// Content-Type header.
    pub content_type: Option<String>,
    /// Body length after de-chunking.
    pub body_len: u64,
}

impl HttpResponse {
    /// A response with a body sent as is (`headers` decide how it is
    /// delimited).
    pub fn new(
        version: &str,
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Self {
        let head = head_bytes(&format!("{version} {status} {reason}"), headers);
        let body_len = body.len() as u64;
        Self {
            interim: Vec::new(),
            head,
            body,
            status,
            content_type: header(headers, "content-type").map(str::to_string),
            body_len,
        }
    }

    /// `HTTP/1.1 200 OK` with Content-Type, Content-Length and a text body
    /// of `len` bytes.
    pub fn ok(content_type: &str, len: usize, seed: u64) -> Self {
        let cl = len.to_string();
        Self::new(
            "HTTP/1.1",
            200,
            "OK",
            &[
                ("Server", "pcapgen-httpd"),
                ("Content-Type", content_type),
                ("Content-Length", &cl),
            ],
            text_body(len, seed),
        )
    }

    /// A response with a chunked body: `headers` must include
    /// `Transfer-Encoding: chunked`.
    pub fn chunked(
        status: u16,
        reason: &str,
        headers: &[(&str, &str)],
        chunks: &[&[u8]],
        trailers: &[(&str, &str)],
    ) -> Self {
        let mut r = Self::new(
            "HTTP/1.1",
            status,
            reason,
            headers,
            chunked(chunks, trailers),
        );
        r.body_len = chunks.iter().map(|c| c.len() as u64).sum();
        r
    }

    /// Marks the body as not counted (responses to HEAD, 204, 304 whose
    /// headers announce a length but carry nothing).
    pub fn without_body(mut self) -> Self {
        self.body.clear();
        self.body_len = 0;
        self
    }

    /// Adds an interim response (e.g. `HTTP/1.1 100 Continue`) sent before.
    pub fn with_interim(mut self, interim: &[u8]) -> Self {
        self.interim.extend_from_slice(interim);
        self
    }

    /// Head followed by body (interim responses not included).
    pub fn bytes(&self) -> Vec<u8> {
        [self.head.as_slice(), self.body.as_slice()].concat()
    }
}

/// The expected transaction of a request and its response.
pub fn transaction(req: &HttpRequest, resp: &HttpResponse) -> ExpectedHttp {
    ExpectedHttp {
        method: Some(req.method.clone()),
        host: req.host.clone(),
        uri: Some(req.uri.clone()),
        user_agent: req.user_agent.clone(),
        status: Some(resp.status),
        content_type: resp.content_type.clone(),
        request_bytes: (req.head.len() + req.body.len()) as u64,
        response_bytes: (resp.interim.len() + resp.head.len() + resp.body.len()) as u64,
        request_body_bytes: req.body_len,
        response_body_bytes: resp.body_len,
        ..ExpectedHttp::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_framing() {
        let c = chunked(&[b"hello", &[b'x'; 26]], &[("X-T", "1")]);
        assert_eq!(
            c,
            b"5\r\nhello\r\n1a\r\nxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n0\r\nX-T: 1\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn get_request_fields() {
        let r = HttpRequest::get("a.example", "/x");
        assert!(r
            .head
            .starts_with(b"GET /x HTTP/1.1\r\nHost: a.example\r\n"));
        assert!(r.head.ends_with(b"\r\n\r\n"));
        assert_eq!(r.host.as_deref(), Some("a.example"));
        assert_eq!(r.user_agent.as_deref(), Some(USER_AGENT));
    }
}
