//! Application protocols on reassembled streams: detection by content (any
//! port), then HTTP/1.x or TLS.

pub mod http;
pub mod tls;

use http::{Feed, Http, HttpLimits};
use tls::Tls;

/// Bytes per direction in which an unrecognised stream is still watched for
/// a TLS handshake (STARTTLS upgrades in SMTP, LDAP, IMAP...).
const STARTTLS_WINDOW: u64 = 64 << 10;

/// Which parser a connection's bytes go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nothing seen yet.
    Undecided,
    /// HTTP/1.x.
    Http,
    /// TLS records.
    Tls,
    /// Something else; only watched for a TLS start.
    Opaque,
}

/// Limits for the parsers.
#[derive(Debug, Clone, Copy)]
pub struct AppLimits {
    /// HTTP limits.
    pub http: HttpLimits,
    /// Bytes of a TLS hello kept while incomplete.
    pub max_tls_hello: usize,
}

/// Application-layer state of one connection: 40 bytes until a parser is
/// needed (the limits come from the shard on every call, not kept here).
#[derive(Debug)]
pub struct App {
    mode: Mode,
    /// HTTP parser, once HTTP was seen.
    pub http: Option<Box<Http>>,
    /// TLS parser, once TLS was seen.
    pub tls: Option<Box<Tls>>,
    /// Bytes seen per direction while opaque (saturating: only compared
    /// with the STARTTLS window).
    opaque_seen: [u32; 2],
    /// A first chunk too short to tell the protocol by, per direction.
    stash: [Stash; 2],
}

/// True when a stream start settles the protocol on its own: a method and
/// a space, `HTTP/`, or a whole TLS record-header prefix.
fn decisive(to_server: bool, view: &[u8]) -> bool {
    if http::starts_message(to_server, view) {
        return if to_server {
            view.contains(&b' ')
        } else {
            view.len() >= 5
        };
    }
    tls::starts_record(view) && view.len() >= 3
}

/// Up to 6 leading bytes kept inline until the protocol can be told (7
/// always tell it).
#[derive(Debug, Clone, Copy, Default)]
struct Stash {
    len: u8,
    bytes: [u8; 6],
}

/// The protocol a record reports, as DESIGN names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.x (also when a CONNECT tunnel later carried TLS).
    Http,
    /// TLS.
    Tls,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// Fresh state for a new connection.
    pub fn new() -> Self {
        App {
            mode: Mode::Undecided,
            http: None,
            tls: None,
            opaque_seen: [0; 2],
            stash: [Stash::default(); 2],
        }
    }

    /// The protocol the connection speaks, if recognised.
    pub fn protocol(&self) -> Option<Protocol> {
        if self
            .http
            .as_ref()
            .is_some_and(|h| !h.txs.is_empty() || self.mode == Mode::Http)
        {
            Some(Protocol::Http)
        } else if self.tls.is_some() {
            Some(Protocol::Tls)
        } else {
            None
        }
    }

    /// Feeds contiguous bytes of one direction.
    pub fn data(&mut self, limits: &AppLimits, to_server: bool, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        if self.mode == Mode::Undecided {
            let idx = usize::from(!to_server);
            let stash = self.stash.get(idx).copied().unwrap_or_default();
            let held = stash.bytes.get(..usize::from(stash.len)).unwrap_or(&[]);
            let mut probe = [0u8; 16];
            let n = held.len() + chunk.len().min(probe.len() - held.len());
            let (a, b) = probe.split_at_mut(held.len());
            a.copy_from_slice(held);
            if let Some(dst) = b.get_mut(..n - held.len()) {
                dst.copy_from_slice(chunk.get(..n - held.len()).unwrap_or(&[]));
            }
            let view = probe.get(..n).unwrap_or(&[]);
            let could_be = http::starts_message(to_server, view) || tls::starts_record(view);
            if n < 7 && could_be && !decisive(to_server, view) {
                // Too short to tell: keep it and wait for more.
                if let Some(s) = self.stash.get_mut(idx) {
                    if let Some(dst) = s.bytes.get_mut(held.len()..n) {
                        dst.copy_from_slice(chunk);
                    }
                    s.len = n as u8;
                }
                return;
            }
            self.mode = self.detect(limits, to_server, view);
            self.flush_stash(limits, to_server);
            self.dispatch(limits, to_server, chunk);
            // The other direction may have been waiting on a short start.
            self.flush_stash(limits, !to_server);
            return;
        }
        self.dispatch(limits, to_server, chunk);
    }

    fn detect(&mut self, limits: &AppLimits, to_server: bool, view: &[u8]) -> Mode {
        let switched = self.http.as_ref().is_some_and(|h| h.upgraded());
        if http::starts_message(to_server, view) {
            match self.http.as_mut() {
                // HTTP inside a CONNECT tunnel: read as HTTP again.
                Some(h) if h.in_connect_tunnel() => h.reopen(),
                // After a 101 the stream speaks another protocol (WebSocket,
                // HTTP/2): handed over, its bytes counted by the flow.
                Some(_) if switched => return Mode::Opaque,
                Some(_) => {}
                None => self.http = Some(Box::new(Http::new(limits.http))),
            }
            Mode::Http
        } else if tls::starts_record(view) {
            self.tls
                .get_or_insert_with(|| Box::new(Tls::new(limits.max_tls_hello)));
            Mode::Tls
        } else {
            Mode::Opaque
        }
    }

    fn dispatch(&mut self, limits: &AppLimits, to_server: bool, chunk: &[u8]) {
        match self.mode {
            Mode::Http => {
                let Some(h) = self.http.as_mut() else { return };
                if let Feed::Upgraded(at) = h.data(to_server, chunk) {
                    // CONNECT or Upgrade: what follows is another protocol.
                    self.mode = Mode::Undecided;
                    if let Some(rest) = chunk.get(at..) {
                        self.data(limits, to_server, rest);
                    }
                }
            }
            Mode::Tls => {
                if let Some(t) = self.tls.as_mut() {
                    t.data(to_server, chunk);
                }
            }
            Mode::Opaque => {
                let idx = usize::from(!to_server);
                let seen = u64::from(self.opaque_seen.get(idx).copied().unwrap_or(0));
                if seen < STARTTLS_WINDOW
                    && chunk.len() >= 3
                    && tls::starts_record(chunk)
                    && chunk.first() == Some(&22)
                {
                    self.tls
                        .get_or_insert_with(|| Box::new(Tls::new(limits.max_tls_hello)));
                    self.mode = Mode::Tls;
                    self.dispatch(limits, to_server, chunk);
                    return;
                }
                if let Some(s) = self.opaque_seen.get_mut(idx) {
                    *s = s.saturating_add(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
                }
            }
            Mode::Undecided => self.data(limits, to_server, chunk),
        }
    }

    /// Hands a direction's held first bytes to the parser, deciding the
    /// protocol on them if nothing decided it yet.
    fn flush_stash(&mut self, limits: &AppLimits, to_server: bool) {
        let idx = usize::from(!to_server);
        let Some(stash) = self.stash.get_mut(idx) else {
            return;
        };
        if stash.len == 0 {
            return;
        }
        let n = usize::from(stash.len);
        stash.len = 0;
        let bytes = stash.bytes;
        let held = bytes.get(..n).unwrap_or(&[]);
        if self.mode == Mode::Undecided {
            self.mode = self.detect(limits, to_server, held);
        }
        self.dispatch(limits, to_server, held);
    }

    /// End of the connection: parsers record what they still hold.
    pub fn finish(&mut self, limits: &AppLimits) {
        // A stream that ended before its first bytes told the protocol
        // (`GET` and a close) is decided on what it has.
        self.flush_stash(limits, true);
        self.flush_stash(limits, false);
        if let Some(h) = self.http.as_mut() {
            h.finish();
        }
    }

    /// `len` bytes of one direction are missing from the capture.
    pub fn gap(&mut self, to_server: bool, len: u64) {
        match self.mode {
            Mode::Http => {
                if let Some(h) = self.http.as_mut() {
                    h.gap(to_server, len);
                }
            }
            Mode::Tls => {
                if let Some(t) = self.tls.as_mut() {
                    t.gap(to_server, len);
                }
            }
            Mode::Undecided | Mode::Opaque => {
                if let Some(s) = self.opaque_seen.get_mut(usize::from(!to_server)) {
                    *s = s.saturating_add(u32::try_from(len).unwrap_or(u32::MAX));
                }
            }
        }
    }
}

#[cfg(test)]
mod tunnel_tests {
    use super::*;

    fn limits() -> AppLimits {
        AppLimits {
            http: HttpLimits {
                max_transactions: 64,
                max_header_bytes: 16 << 10,
                max_field_len: 256,
            },
            max_tls_hello: 1 << 16,
        }
    }

    fn run(exchange: &[(bool, &[u8])]) -> App {
        let l = limits();
        let mut app = App::new();
        for (to_server, bytes) in exchange {
            app.data(&l, *to_server, bytes);
        }
        app.finish(&l);
        app
    }

    #[test]
    fn http_inside_connect_is_read_as_http() {
        let app = run(&[
            (
                true,
                b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n",
            ),
            (false, b"HTTP/1.1 200 Connection established\r\n\r\n"),
            (true, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
            (false, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        ]);
        let txs = app.http.as_ref().map(|h| h.txs.clone()).unwrap_or_default();
        assert_eq!(txs.len(), 2);
        assert_eq!(txs[0].method.as_deref(), Some("CONNECT"));
        assert_eq!((txs[0].request_bytes, txs[0].response_bytes), (57, 39));
        assert_eq!(txs[1].method.as_deref(), Some("GET"));
        assert_eq!(txs[1].host.as_deref(), Some("example.com"));
        assert_eq!((txs[1].request_bytes, txs[1].response_bytes), (37, 40));
        assert_eq!(txs[1].response_body_bytes, 2);
        assert_eq!(app.protocol(), Some(Protocol::Http));
    }

    #[test]
    fn inner_bytes_in_the_same_chunk_as_the_answer() {
        let app = run(&[
            (
                true,
                b"CONNECT a:80 HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n",
            ),
            (
                false,
                b"HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
            ),
            (true, b"GET /y HTTP/1.1\r\nHost: a\r\n\r\n"),
        ]);
        let txs = app.http.as_ref().map(|h| h.txs.clone()).unwrap_or_default();
        let got: Vec<_> = txs.iter().map(|t| (t.uri.as_deref(), t.status)).collect();
        // /x was sent before the tunnel opened: a pipelined request that
        // waits behind the CONNECT. The 204 inside the tunnel has no
        // request the parser saw inside it; /y follows inside.
        assert_eq!(
            got,
            [
                (Some("a:80"), Some(200)),
                (Some("/x"), None),
                (None, Some(204)),
                (Some("/y"), None)
            ]
        );
    }

    #[test]
    fn after_101_the_stream_is_handed_over() {
        for inner in [
            &b"GET /again HTTP/1.1\r\n\r\n"[..],
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let app = run(&[
                (true, b"GET /chat HTTP/1.1\r\nUpgrade: websocket\r\n\r\n"),
                (false, b"HTTP/1.1 101 Switching Protocols\r\n\r\n"),
                (true, inner),
                (false, b"\x81\x02hi"),
            ]);
            let txs = app.http.as_ref().map(|h| h.txs.clone()).unwrap_or_default();
            assert_eq!(txs.len(), 1);
            assert_eq!(txs[0].status, Some(101));
            assert_eq!(app.mode, Mode::Opaque);
        }
    }

    #[test]
    fn nested_connects_never_loop() {
        let mut ex: Vec<(bool, &[u8])> = Vec::new();
        for _ in 0..1000 {
            ex.push((true, b"CONNECT a:80 HTTP/1.1\r\n\r\n"));
            ex.push((false, b"HTTP/1.1 200 OK\r\n\r\n"));
        }
        let app = run(&ex);
        assert_eq!(app.http.as_ref().map(|h| h.txs.len()), Some(64));
    }
}
