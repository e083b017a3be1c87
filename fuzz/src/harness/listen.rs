//! The feed listener's line protocol, over a real socket on loopback.
//!
//! One listener (token authentication) serves the whole run; each input
//! is one connection: the bytes are written in chunks the input picks,
//! then the write side is shut and the connection read to its end. The
//! events the listener delivers must be exactly those of a reference: a
//! first line that is `token <TOKEN>` and the rest read line by line with
//! the feed reader; nothing at all without the right token.

use super::split::{pieces, Control};
use correlate::feed::{FeedFormat, LineParser, LineSplitter, Piece};
use correlate::listen::{FeedListener, ListenConfig};
use correlate::SocketEvent;
use crossbeam_channel::Receiver;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::ops::ControlFlow;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The token every connection must send first.
pub const TOKEN: &str = "fuzz-token";
const MAX_LINE: usize = 4096;

struct Served {
    addr: SocketAddr,
    events: Receiver<SocketEvent>,
    // Kept so the listener runs as long as the process.
    _listener: FeedListener,
}

fn served() -> &'static Mutex<Served> {
    static SERVED: OnceLock<Mutex<Served>> = OnceLock::new();
    SERVED.get_or_init(|| {
        let (tx, rx) = crossbeam_channel::bounded(1 << 16);
        let mut cfg = ListenConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        cfg.token = Some(TOKEN.into());
        cfg.default_host = Some("agent".into());
        cfg.max_line = MAX_LINE;
        cfg.max_lines_per_sec = 0;
        let listener = match FeedListener::start(cfg, tx) {
            Ok(l) => l,
            Err(e) => panic!("listener: {e}"),
        };
        Mutex::new(Served {
            addr: listener.local_addr(),
            events: rx,
            _listener: listener,
        })
    })
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let (mut ctl, body) = Control::take(data, 3);
    let chunks = pieces(body, &mut ctl, 3);
    let served = match served().lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    let got = exchange(served.addr, &chunks, &served.events);
    let want = reference(&chunks);
    assert_eq!(got, want, "listener and reference disagree");
}

/// Sends the chunks on one connection; the events the listener delivered.
fn exchange(
    addr: SocketAddr,
    chunks: &[&[u8]],
    events: &Receiver<SocketEvent>,
) -> Vec<SocketEvent> {
    let mut conn = match TcpStream::connect(addr) {
        Ok(c) => c,
        Err(e) => panic!("connect: {e}"),
    };
    for c in chunks {
        // The listener may close first (a bad token, not a feed).
        if conn.write_all(c).is_err() {
            break;
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut sink = [0u8; 256];
    loop {
        match conn.read(&mut sink) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("the listener did not close the connection within 10 s")
            }
            Err(_) => break,
        }
    }
    // Events are sent before the connection is closed.
    events.try_iter().collect()
}

/// What the listener should deliver for these chunks.
pub fn reference(chunks: &[&[u8]]) -> Vec<SocketEvent> {
    let mut out = Vec::new();
    let mut split = LineSplitter::new(MAX_LINE);
    let mut parser = LineParser::new("peer", FeedFormat::Auto, "agent")
        .with_max_line(MAX_LINE)
        .starting_at(2);
    let mut authed: Option<bool> = None;
    let mut each = |p: Piece<'_>| {
        match authed {
            None => {
                let ok = matches!(p, Piece::Line(l) if token_right(l));
                authed = Some(ok);
                return if ok {
                    ControlFlow::Continue(())
                } else {
                    ControlFlow::Break(())
                };
            }
            Some(false) => return ControlFlow::Break(()),
            Some(true) => {}
        }
        let r = match p {
            Piece::Line(l) => parser.line(l, &mut |e| out.push(e)),
            Piece::TooLong => parser.too_long(&mut |e| out.push(e)),
        };
        if r.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    for c in chunks {
        if split.push(c, &mut each).is_break() {
            return out;
        }
    }
    if split.finish(&mut each).is_break() || authed != Some(true) {
        return out;
    }
    let _ = parser.finish(&mut |e| out.push(e));
    out
}

/// The protocol's first line: `token`, blanks, the token, as the
/// listener's documentation describes it.
fn token_right(line: &[u8]) -> bool {
    let line = line.trim_ascii();
    let Some(rest) = line.strip_prefix(b"token") else {
        return false;
    };
    let given = rest.trim_ascii_start();
    given.len() < rest.len() && given == TOKEN.as_bytes()
}
