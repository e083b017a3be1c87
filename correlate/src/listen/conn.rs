//! One connection, on its own thread: authentication (TLS handshake, token
//! line), then its lines read into events under its limits (line length,
//! line rate, idle time), counted as they go.
//!
//! The socket is read with a short timeout so that the thread sees a stop,
//! the authentication deadline and the idle timeout in time; a partial
//! line waits in the [`LineSplitter`] across reads.

use super::stats::{publish, CloseKind, PeerState};
use super::throttle::Bucket;
use super::token::{self, TokenLine};
use super::Shared;
use crate::feed::{LineParser, LineSplitter, Piece};
use crate::live::{sleep_unless_stopped, Sent};
use rustls::{ServerConnection, StreamOwned};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often a waiting read looks at the clock and the stop flag.
const TICK: Duration = Duration::from_millis(200);
/// Longest a write (TLS handshake, alerts) may block.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read at a time.
const READ_BUF: usize = 16 << 10;

/// Serves one connection until it ends, then closes it in the table.
pub(crate) fn serve(stream: TcpStream, id: u64, peer: SocketAddr, sh: &Shared) {
    let mut guard = CloseGuard {
        sh,
        id,
        done: false,
    };
    let (reason, kind) = match run(stream, id, peer, sh) {
        End::Closed(r) => (r, CloseKind::Normal),
        End::AuthFailed(r) => (format!("authentication failed: {r}"), CloseKind::AuthFailed),
        End::AuthTimeout(r) => (
            format!("authentication failed: {r}"),
            CloseKind::AuthTimeout,
        ),
        End::Idle(r) => (r, CloseKind::Idle),
    };
    guard.done = true;
    let notice = sh.table.lock().close(id, reason, kind);
    if let Some(n) = notice {
        (sh.cfg.log)(&n);
    }
}

/// Closes the connection's table entry even if its thread panics, so its
/// place under the cap is given back.
struct CloseGuard<'a> {
    sh: &'a Shared,
    id: u64,
    done: bool,
}

impl Drop for CloseGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.sh.table.lock().close(
                self.id,
                "connection thread ended unexpectedly".into(),
                CloseKind::Normal,
            );
        }
    }
}

/// How a connection ended.
enum End {
    /// Closed, and why.
    Closed(String),
    /// It did not authenticate: nothing it sent was used.
    AuthFailed(String),
    /// It did not authenticate in time: nothing it sent was used.
    AuthTimeout(String),
    /// It sent nothing for the idle timeout.
    Idle(String),
}

/// The listener closes (or closed) the connection before it authenticated.
const NOT_ADMITTED: &str = "closed by the listener before it authenticated";

/// The connection's byte stream.
enum Transport {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
}

impl Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read(buf),
            Transport::Tls(s) => s.read(buf),
        }
    }

    fn handshaking(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(s) => s.conn.is_handshaking(),
        }
    }

    /// The subject of the client's certificate, if it showed one.
    fn subject(&self) -> Option<String> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(s) => {
                let cert = s.conn.peer_certificates()?.first()?;
                Some(
                    super::subject::subject(cert.as_ref())
                        .unwrap_or_else(|| "certificate (subject unreadable)".into()),
                )
            }
        }
    }

    /// Ends the stream: TLS close_notify (best effort), then the socket.
    fn close(&mut self) {
        let sock = match self {
            Transport::Plain(s) => s,
            Transport::Tls(s) => {
                s.conn.send_close_notify();
                while s.conn.wants_write() {
                    if s.conn.write_tls(&mut s.sock).is_err() {
                        break;
                    }
                }
                let _ = s.sock.flush();
                &mut s.sock
            }
        };
        let _ = sock.shutdown(Shutdown::Both);
    }
}

/// Where authentication stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Handshake,
    Token,
    Done,
}

/// The reading side of a connection: what each line goes through.
struct Reader<'a> {
    sh: &'a Shared,
    id: u64,
    auth: Auth,
    identity: Option<String>,
    parser: LineParser,
    bucket: Option<Bucket>,
    dropped: u64,
    throttled: Duration,
    sink_closed: bool,
    end: Option<End>,
}

impl<'a> Reader<'a> {
    /// The reader of connection `id` from `peer`, before authentication.
    fn new(sh: &'a Shared, id: u64, peer: SocketAddr) -> Self {
        let cfg = &sh.cfg;
        let host = cfg
            .default_host
            .clone()
            .unwrap_or_else(|| peer.ip().to_string());
        let first_line = if cfg.token.is_some() { 2 } else { 1 };
        Reader {
            sh,
            id,
            auth: match (&sh.tls, &cfg.token) {
                (Some(_), _) => Auth::Handshake,
                (None, Some(_)) => Auth::Token,
                (None, None) => Auth::Done,
            },
            identity: None,
            parser: LineParser::new(&peer.to_string(), cfg.format, &host)
                .with_max_line(cfg.max_line)
                .starting_at(first_line),
            bucket: Bucket::new(cfg.max_lines_per_sec, Instant::now()),
            dropped: 0,
            throttled: Duration::ZERO,
            sink_closed: false,
            end: None,
        }
    }

    /// Reads what the peer sent last to its end: its unfinished last line,
    /// held lines and auditd events. The connection's end, `end` unless
    /// that fails.
    fn finish(&mut self, split: &mut LineSplitter, end: End) -> End {
        let _ = split.finish(&mut |p| self.piece(p));
        let (sh, dropped) = (self.sh, &mut self.dropped);
        let mut deliver = |ev| {
            if sh.sink.send(ev, &sh.stop) != Sent::Yes {
                *dropped += 1;
            }
        };
        let finished = self.parser.finish(&mut deliver);
        match (self.end.take(), finished) {
            (Some(e), _) => e,
            (None, Err(e)) => End::Closed(format!("not a feed: {e}")),
            (None, Ok(())) => end,
        }
    }

    /// One line (or an over-long one) of the connection.
    fn piece(&mut self, piece: Piece<'_>) -> ControlFlow<()> {
        if let Some(b) = &mut self.bucket {
            let wait = b.take(Instant::now());
            if !wait.is_zero() {
                self.throttled += wait;
                if !sleep_unless_stopped(wait, &self.sh.stop) {
                    return self.stop(End::Closed("listener shut down".into()));
                }
            }
        }
        if self.auth == Auth::Token {
            let expected = self.sh.cfg.token.as_deref().unwrap_or_default().as_bytes();
            let got = match piece {
                Piece::Line(l) => token::check(l, expected),
                Piece::TooLong => TokenLine::Missing,
            };
            if got != TokenLine::Right {
                return self.stop(End::AuthFailed(got.reason().into()));
            }
            if !self.sh.table.lock().authenticated(self.id) {
                return self.stop(End::Closed(NOT_ADMITTED.into()));
            }
            self.auth = Auth::Done;
            self.identity.get_or_insert_with(|| "token".into());
            return ControlFlow::Continue(());
        }
        let sh = self.sh;
        let (dropped, closed) = (&mut self.dropped, &mut self.sink_closed);
        let mut deliver = |ev| match sh.sink.send(ev, &sh.stop) {
            Sent::Yes => {}
            Sent::Dropped => *dropped += 1,
            Sent::Closed => {
                *dropped += 1;
                *closed = true;
            }
        };
        let r = match piece {
            Piece::Line(l) => self.parser.line(l, &mut deliver),
            Piece::TooLong => self.parser.too_long(&mut deliver),
        };
        if let Err(e) = r {
            return self.stop(End::Closed(format!("not a feed: {e}")));
        }
        if self.sink_closed {
            return self.stop(End::Closed("sink closed".into()));
        }
        ControlFlow::Continue(())
    }

    fn stop(&mut self, end: End) -> ControlFlow<()> {
        self.end = Some(end);
        ControlFlow::Break(())
    }

    /// Copies the counts into the table.
    fn publish(&self) {
        let state = if self.auth == Auth::Done {
            PeerState::Open
        } else {
            PeerState::Authenticating
        };
        self.sh.table.lock().update(self.id, |p| {
            p.state = state;
            if p.identity != self.identity {
                p.identity.clone_from(&self.identity);
            }
            publish(p, self.parser.report());
            p.dropped = self.dropped;
            p.throttled_ms = u64::try_from(self.throttled.as_millis()).unwrap_or(u64::MAX);
        });
    }
}

fn run(stream: TcpStream, id: u64, peer: SocketAddr, sh: &Shared) -> End {
    let mut io = match open(stream, sh) {
        Ok(io) => io,
        Err(end) => return end,
    };
    let mut r = Reader::new(sh, id, peer);
    r.publish();
    let mut split = LineSplitter::new(sh.cfg.max_line);
    let (end, flush) = read_until_end(&mut io, &mut r, &mut split);
    let end = if flush && r.auth == Auth::Done {
        r.finish(&mut split, end)
    } else {
        end
    };
    r.publish();
    io.close();
    end
}

/// The connection's socket set up, with TLS when the listener has it.
fn open(stream: TcpStream, sh: &Shared) -> Result<Transport, End> {
    stream
        .set_read_timeout(Some(TICK))
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)))
        .map_err(|e| End::Closed(format!("socket setup failed: {e}")))?;
    Ok(match &sh.tls {
        Some(tls) => match ServerConnection::new(tls.clone()) {
            Ok(c) => Transport::Tls(Box::new(StreamOwned::new(c, stream))),
            Err(e) => return Err(End::Closed(format!("TLS: {e}"))),
        },
        None => Transport::Plain(stream),
    })
}

/// Reads the peer until the connection ends: how it ended, and whether the
/// peer's last bytes are still to be read.
fn read_until_end(io: &mut Transport, r: &mut Reader, split: &mut LineSplitter) -> (End, bool) {
    let (sh, cfg) = (r.sh, &r.sh.cfg);
    let mut buf = vec![0u8; READ_BUF];
    let started = Instant::now();
    let mut last_data = started;
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            return (End::Closed("listener shut down".into()), true);
        }
        let read = io.read(&mut buf);
        if r.auth == Auth::Handshake && !io.handshaking() {
            r.identity = io.subject();
            r.auth = if cfg.token.is_some() {
                Auth::Token
            } else if sh.table.lock().authenticated(r.id) {
                Auth::Done
            } else {
                return (End::Closed(NOT_ADMITTED.into()), false);
            };
            r.publish();
        }
        match read {
            Ok(0) => return (eof(sh), true),
            Ok(n) => {
                last_data = Instant::now();
                let bytes = buf.get(..n).unwrap_or_default();
                if split.push(bytes, &mut |p| r.piece(p)).is_break() {
                    let end = r.end.take().unwrap_or(End::Closed("closed".into()));
                    return (end, false);
                }
                r.publish();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if r.auth == Auth::Handshake => {
                return (End::AuthFailed(format!("TLS: {e}")), false)
            }
            // TLS without close_notify: the peer is gone all the same.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return (eof(sh), true),
            Err(e) => return (End::Closed(format!("read error: {e}")), true),
        }
        if r.auth != Auth::Done && started.elapsed() >= cfg.auth_timeout {
            let t = human(cfg.auth_timeout);
            return (
                End::AuthTimeout(format!("not authenticated within {t}")),
                false,
            );
        }
        if last_data.elapsed() >= cfg.idle_timeout {
            let t = human(cfg.idle_timeout);
            return (End::Idle(format!("idle timeout ({t} without data)")), true);
        }
    }
}

/// A timeout as people write it: `300 ms`, `10 s`.
pub(crate) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs())
    }
}

/// The peer closed its side (or the listener shut the socket to stop).
fn eof(sh: &Shared) -> End {
    if sh.stop.load(Ordering::Relaxed) {
        End::Closed("listener shut down".into())
    } else {
        End::Closed("closed by peer".into())
    }
}
