//! The acceptor thread: takes connections in under the cap, one thread
//! each, and at shutdown closes their sockets and joins them.
//!
//! The listening socket is non-blocking and polled, so that a stop is seen
//! within [`ACCEPT_POLL`] without any wake-up trick.

use super::stats::{PeerState, PeerStats};
use super::{conn, Shared};
use crate::feed::FeedReport;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Wait between two looks at an idle listening socket.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Wait after a failed accept (out of descriptors, ...), not to spin.
const ERROR_PAUSE: Duration = Duration::from_millis(200);

/// A connection being served.
struct Served {
    handle: JoinHandle<()>,
    /// A handle on its socket, to shut it at shutdown.
    stream: Option<TcpStream>,
}

/// Accepts until stopped, then ends every connection.
pub(crate) fn run(listener: TcpListener, sh: Arc<Shared>) {
    let mut served: Vec<Served> = Vec::new();
    while !sh.stop.load(Ordering::Relaxed) {
        reap(&mut served);
        match listener.accept() {
            Ok((stream, addr)) => admit(stream, addr, &sh, &mut served),
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                let notice = sh.table.lock().accept_error(&e);
                if let Some(n) = notice {
                    (sh.cfg.log)(&n);
                }
                thread::sleep(ERROR_PAUSE);
            }
        }
    }
    drop(listener);
    for s in &served {
        if let Some(stream) = &s.stream {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
    for s in served {
        let _ = s.handle.join();
    }
}

/// Joins the threads of connections that have ended.
fn reap(served: &mut Vec<Served>) {
    let mut i = 0;
    while i < served.len() {
        if served.get(i).is_some_and(|s| s.handle.is_finished()) {
            let s = served.swap_remove(i);
            let _ = s.handle.join();
        } else {
            i += 1;
        }
    }
}

/// Takes a connection in, or refuses it over the cap.
fn admit(stream: TcpStream, addr: SocketAddr, sh: &Arc<Shared>, served: &mut Vec<Served>) {
    let cap = sh.cfg.max_connections;
    let id = {
        let mut table = sh.table.lock();
        if table.live() >= cap {
            let notice = table.refuse(addr, cap);
            drop(table);
            if let Some(n) = notice {
                (sh.cfg.log)(&n);
            }
            return;
        }
        table.admit(PeerStats {
            id: 0,
            addr,
            identity: None,
            connected_at: crate::live::now_micros(),
            state: PeerState::Authenticating,
            closed: None,
            auth_failed: false,
            report: FeedReport::new(&addr.to_string()),
            dropped: 0,
            throttled_ms: 0,
        })
    };
    // Accepted sockets do not inherit non-blocking mode on Linux; be sure.
    if let Err(e) = stream.set_nonblocking(false) {
        let _ = sh
            .table
            .lock()
            .close(id, format!("socket setup failed: {e}"), false);
        return;
    }
    let handle_on_socket = stream.try_clone().ok();
    let shared = Arc::clone(sh);
    let spawned = thread::Builder::new()
        .name(format!("feed-peer-{id}"))
        .spawn(move || conn::serve(stream, id, addr, &shared));
    match spawned {
        Ok(handle) => served.push(Served {
            handle,
            stream: handle_on_socket,
        }),
        Err(e) => {
            let _ = sh
                .table
                .lock()
                .close(id, format!("cannot start a thread: {e}"), false);
        }
    }
}
