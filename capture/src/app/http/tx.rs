//! A transaction as the parser keeps it while its connection lives: the
//! text fields one after another in a single allocation, and the counts.
//! On a busy link most connections sit with one request waiting for its
//! answer. Kept as a record's [`HttpTransaction`] (208 bytes and a string
//! per field), an HTTP flow with one request held 749 heap bytes in 7
//! blocks; kept so, 597 in 6 (`cargo test --release -p capture --test
//! flow_memory -- --nocapture`). The record's form is built when the flow
//! is written.

use model::flow::HttpTransaction;
use std::borrow::Cow;

/// The text fields of a transaction, in their order in [`Tx::text`].
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Method,
    Host,
    Uri,
    UserAgent,
    Version,
    ResponseVersion,
    ContentType,
}

const FIELDS: usize = 7;

/// The length that marks a field as absent.
const ABSENT: u32 = u32::MAX;

/// One transaction, compact.
#[derive(Debug)]
pub struct Tx {
    /// The present text fields, in [`Field`] order, with no separator.
    text: Box<str>,
    /// Each field's length in `text`, or [`ABSENT`].
    lens: [u32; FIELDS],
    /// Final response status.
    pub status: Option<u16>,
    /// Request bytes: request line, headers and body as sent.
    pub request_bytes: u64,
    /// Response bytes: interim and final status lines, headers and body.
    pub response_bytes: u64,
    /// Request body bytes after de-chunking.
    pub request_body_bytes: u64,
    /// Response body bytes after de-chunking.
    pub response_body_bytes: u64,
}

impl Default for Tx {
    fn default() -> Self {
        Tx {
            text: Box::default(),
            lens: [ABSENT; FIELDS],
            status: None,
            request_bytes: 0,
            response_bytes: 0,
            request_body_bytes: 0,
            response_body_bytes: 0,
        }
    }
}

impl Tx {
    /// A transaction opened by a request of `bytes` bytes.
    pub fn request(bytes: u64) -> Self {
        Tx {
            request_bytes: bytes,
            ..Tx::default()
        }
    }

    /// A field's text, if present.
    pub fn get(&self, f: Field) -> Option<&str> {
        let i = f as usize;
        let len = *self.lens.get(i)?;
        if len == ABSENT {
            return None;
        }
        let start: usize = self
            .lens
            .iter()
            .take(i)
            .filter(|l| **l != ABSENT)
            .map(|l| *l as usize)
            .sum();
        self.text.get(start..start + len as usize)
    }

    /// Sets some fields (a `None` leaves the field as it is), rebuilding
    /// the text once.
    pub fn set(&mut self, fields: &[(Field, Option<&str>)]) {
        if fields.iter().all(|(_, v)| v.is_none()) {
            return;
        }
        // The present fields, in one pass over the lengths.
        let mut values: [Option<&str>; FIELDS] = [None; FIELDS];
        let mut at = 0;
        for (v, &len) in values.iter_mut().zip(&self.lens) {
            if len != ABSENT {
                *v = self.text.get(at..at + len as usize);
                at += len as usize;
            }
        }
        for (f, v) in fields {
            if let (Some(slot), Some(v)) = (values.get_mut(*f as usize), v) {
                *slot = Some(v);
            }
        }
        let mut text = String::with_capacity(values.iter().flatten().map(|v| v.len()).sum());
        let mut lens = [ABSENT; FIELDS];
        for (v, len) in values.iter().zip(lens.iter_mut()) {
            if let Some(v) = v {
                // A field is cut to its cap long before 4 GiB; the cut
                // keeps a char boundary.
                let mut end = v.len().min(ABSENT as usize - 1);
                while !v.is_char_boundary(end) {
                    end -= 1;
                }
                text.push_str(v.get(..end).unwrap_or(""));
                *len = end as u32;
            }
        }
        self.text = text.into_boxed_str();
        self.lens = lens;
    }

    /// The transaction as records carry it.
    pub fn to_transaction(&self) -> HttpTransaction {
        let owned = |f| self.get(f).map(str::to_owned);
        let word = |f| self.get(f).map(word);
        HttpTransaction {
            method: word(Field::Method),
            host: owned(Field::Host),
            uri: owned(Field::Uri),
            user_agent: owned(Field::UserAgent),
            version: word(Field::Version),
            response_version: word(Field::ResponseVersion),
            status: self.status,
            content_type: owned(Field::ContentType),
            request_bytes: self.request_bytes,
            response_bytes: self.response_bytes,
            request_body_bytes: self.request_body_bytes,
            response_body_bytes: self.response_body_bytes,
        }
    }
}

/// A method or version: the usual ones static (no allocation per record),
/// others copied.
fn word(s: &str) -> Cow<'static, str> {
    const KNOWN: [&str; 12] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE", "HTTP/1.1",
        "HTTP/1.0", "HTTP/0.9",
    ];
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_set_in_two_turns_read_back() {
        let mut tx = Tx::default();
        assert_eq!(tx.get(Field::Host), None);
        tx.set(&[
            (Field::Method, Some("POST")),
            (Field::Host, Some("collector")),
            (Field::Uri, Some("/r")),
            (Field::UserAgent, None),
            (Field::Version, Some("HTTP/1.1")),
        ]);
        tx.set(&[
            (Field::ResponseVersion, Some("HTTP/1.0")),
            (Field::ContentType, Some("text/plain; charset=ütf-8")),
            (Field::Uri, Some("")),
        ]);
        tx.status = Some(200);
        tx.request_bytes = 7;
        let t = tx.to_transaction();
        assert!(matches!(t.method, Some(Cow::Borrowed("POST"))));
        assert_eq!(t.host.as_deref(), Some("collector"));
        assert_eq!(t.uri.as_deref(), Some(""));
        assert_eq!(t.user_agent, None);
        assert_eq!(t.version.as_deref(), Some("HTTP/1.1"));
        assert_eq!(t.response_version.as_deref(), Some("HTTP/1.0"));
        assert_eq!(t.content_type.as_deref(), Some("text/plain; charset=ütf-8"));
        assert_eq!((t.status, t.request_bytes), (Some(200), 7));
        let mut odd = Tx::default();
        odd.set(&[(Field::Method, Some("PROPFIND"))]);
        assert!(matches!(
            odd.to_transaction().method,
            Some(Cow::Owned(m)) if m == "PROPFIND"
        ));
    }
}
