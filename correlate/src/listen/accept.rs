//! The acceptor thread: takes connections in under the caps, one thread
//! each; closes the sockets of those displaced by newer ones and of those
//! past the authentication deadline (so that no peer, however it drips
//! its bytes, outstays it); and at shutdown closes every socket and joins
//! the threads.
//!
//! The listening socket is non-blocking and polled, so that a stop is seen
//! within [`ACCEPT_POLL`] without any wake-up trick.

use super::stats::{Arrival, CloseKind, PeerState, PeerStats};
use super::{conn, Shared};
use crate::feed::FeedReport;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Wait between two looks at an idle listening socket.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Wait after a failed accept (out of descriptors, ...), not to spin.
const ERROR_PAUSE: Duration = Duration::from_millis(200);

/// A connection being served.
struct Served {
    id: u64,
    handle: JoinHandle<()>,
    /// A handle on its socket, to shut it at shutdown.
    stream: Option<TcpStream>,
}

/// Accepts until stopped, then ends every connection.
pub(crate) fn run(listener: TcpListener, sh: Arc<Shared>) {
    let mut served: Vec<Served> = Vec::new();
    while !sh.stop.load(Ordering::Relaxed) {
        reap(&mut served);
        let late = sh.table.lock().overdue(Instant::now());
        for id in late {
            shut(&served, id);
        }
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

/// Shuts the socket of connection `id`, whose thread then ends it.
fn shut(served: &[Served], id: u64) {
    if let Some(stream) = served
        .iter()
        .find(|s| s.id == id)
        .and_then(|s| s.stream.as_ref())
    {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// Takes a connection in (making room if need be), or refuses it.
fn admit(stream: TcpStream, addr: SocketAddr, sh: &Arc<Shared>, served: &mut Vec<Served>) {
    let pending = sh.cfg.authenticates();
    let peer = PeerStats {
        id: 0,
        addr,
        identity: None,
        connected_at: crate::live::now_micros(),
        state: if pending {
            PeerState::Authenticating
        } else {
            PeerState::Open
        },
        closed: None,
        auth_failed: false,
        report: FeedReport::new(&addr.to_string()),
        dropped: 0,
        throttled_ms: 0,
    };
    let now = Instant::now();
    let (arrival, notice) = sh.table.lock().arrive(peer, pending, sh.cfg.limits(), now);
    if let Some(n) = notice {
        (sh.cfg.log)(&n);
    }
    let id = match arrival {
        Arrival::Refused => return,
        Arrival::Admitted { id, victim } => {
            if let Some(v) = victim {
                shut(served, v);
            }
            id
        }
    };
    // Accepted sockets do not inherit non-blocking mode on Linux; be sure.
    if let Err(e) = stream.set_nonblocking(false) {
        let _ = sh
            .table
            .lock()
            .close(id, format!("socket setup failed: {e}"), CloseKind::Normal);
        return;
    }
    let handle_on_socket = stream.try_clone().ok();
    let shared = Arc::clone(sh);
    let spawned = thread::Builder::new()
        .name(format!("feed-peer-{id}"))
        .spawn(move || conn::serve(stream, id, addr, &shared));
    match spawned {
        Ok(handle) => served.push(Served {
            id,
            handle,
            stream: handle_on_socket,
        }),
        Err(e) => {
            let _ =
                sh.table
                    .lock()
                    .close(id, format!("cannot start a thread: {e}"), CloseKind::Normal);
        }
    }
}
