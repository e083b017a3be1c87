//! The feed listener on real sockets (127.0.0.1, ephemeral ports): plain,
//! token and TLS client-certificate peers, what is refused, the limits,
//! and that one peer never holds up another.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use correlate::feed::FeedFormat;
use correlate::listen::{FeedListener, ListenConfig, ListenStats, PeerState, PeerStats, TlsConfig};
use correlate::live::Logger;
use correlate::{EventKind, SocketEvent, Transport};
use crossbeam_channel::Receiver;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A native feed line, its fields numbered by `i`.
fn native(i: u16) -> String {
    format!(
        r#"{{"ts":"2026-11-23T10:00:{:02}.250000Z","host":"ws{i}","os":"linux","proto":"tcp","src_ip":"10.1.0.{i}","src_port":{},"dst_ip":"203.0.113.{i}","dst_port":443,"pid":{},"process":"/usr/bin/agent{i}","user":"u{i}"}}"#,
        i % 60,
        40000 + i,
        1000 + u32::from(i)
    )
}

/// Checks that `e` is the event of `native(i)`, field by field.
fn assert_native(e: &SocketEvent, i: u16) {
    assert_eq!(
        capture::time::rfc3339(e.ts),
        format!("2026-11-23T10:00:{:02}.250000Z", i % 60)
    );
    assert_eq!(e.host, format!("ws{i}"));
    assert_eq!(e.kind, EventKind::Connect);
    assert_eq!(e.proto, Some(Transport::Tcp));
    assert_eq!(e.os, Some(correlate::Os::Linux));
    assert_eq!(e.local_ip, Some(format!("10.1.0.{i}").parse().unwrap()));
    assert_eq!(e.local_port, Some(40000 + i));
    assert_eq!(
        e.remote_ip,
        format!("203.0.113.{i}")
            .parse::<std::net::IpAddr>()
            .unwrap()
    );
    assert_eq!(e.remote_port, 443);
    assert_eq!(e.process.pid, Some(1000 + u32::from(i)));
    assert_eq!(
        e.process.executable.as_deref(),
        Some(format!("/usr/bin/agent{i}").as_str())
    );
    assert_eq!(e.process.user.as_deref(), Some(format!("u{i}").as_str()));
}

/// A loopback listener with a log that tests can read.
struct Fixture {
    listener: FeedListener,
    rx: Receiver<SocketEvent>,
    log: Arc<Mutex<Vec<String>>>,
}

fn config() -> (ListenConfig, Arc<Mutex<Vec<String>>>) {
    let mut cfg = ListenConfig::new("127.0.0.1:0".parse().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    let logger: Logger = Arc::new(move |m: &str| l.lock().unwrap().push(m.to_string()));
    cfg.log = logger;
    (cfg, log)
}

fn start(cfg: ListenConfig, log: Arc<Mutex<Vec<String>>>) -> Fixture {
    let (tx, rx) = crossbeam_channel::bounded(10_000);
    let listener = FeedListener::start(cfg, tx).unwrap();
    Fixture { listener, rx, log }
}

impl Fixture {
    fn addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr()).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s
    }

    fn recv(&self, n: usize) -> Vec<SocketEvent> {
        (0..n)
            .map(|k| {
                self.rx
                    .recv_timeout(WAIT)
                    .unwrap_or_else(|_| panic!("event {k} of {n} did not arrive"))
            })
            .collect()
    }

    /// Waits until the stats satisfy `f` (polling, bounded by [`WAIT`]).
    fn wait_stats(&self, what: &str, f: impl Fn(&ListenStats) -> bool) -> ListenStats {
        let end = Instant::now() + WAIT;
        loop {
            let s = self.listener.stats();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {s:#?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until connection `id` is closed, and gives its stats.
    fn closed(&self, id: u64) -> PeerStats {
        let s = self.wait_stats(&format!("peer {id} closed"), |s| {
            s.peers
                .iter()
                .any(|p| p.id == id && p.state == PeerState::Closed)
        });
        s.peers.into_iter().find(|p| p.id == id).unwrap()
    }

    fn no_more_events(&self) {
        assert!(
            self.rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "an event arrived that should not have"
        );
    }
}

/// Reads until the server closes the connection (EOF or reset); panics if
/// it stays open.
fn wait_closed(s: &mut impl Read) {
    let mut buf = [0u8; 256];
    let end = Instant::now() + WAIT;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => assert!(Instant::now() < end, "connection stays open"),
        }
    }
}

#[test]
fn plain_loopback_events_arrive_exactly() {
    let (cfg, log) = config();
    let f = start(cfg, log);
    let mut a = f.connect();
    for i in 1..=3 {
        writeln!(a, "{}", native(i)).unwrap();
    }
    let got = f.recv(3);
    for (e, i) in got.iter().zip(1..) {
        assert_native(e, i);
    }
    // Another connection in another format, detected on its own: auditd,
    // whose host is the peer's address.
    let mut b = f.connect();
    b.write_all(
        b"type=SYSCALL msg=audit(1700000000.500:77): arch=c000003e syscall=42 success=no exit=-115 a0=3 ppid=1 pid=4242 uid=0 exe=\"/tmp/x\"\n\
          type=SOCKADDR msg=audit(1700000000.500:77): saddr=020001BBCB00710A0000000000000000\n\
          type=EOE msg=audit(1700000000.500:77):\n",
    )
    .unwrap();
    let e = &f.recv(1)[0];
    assert_eq!((e.host.as_str(), e.process.pid), ("127.0.0.1", Some(4242)));
    assert_eq!(e.remote_ip.to_string(), "203.0.113.10");
    assert_eq!(e.remote_port, 443);
    assert_eq!(e.process.executable.as_deref(), Some("/tmp/x"));
    drop(a);
    let p = f.closed(1);
    assert_eq!(p.closed.as_deref(), Some("closed by peer"));
    assert_eq!(
        (p.report.format, p.report.lines, p.report.events),
        ("jsonl", 3, 3)
    );
    assert_eq!((p.identity.as_deref(), p.auth_failed), (None, false));
    assert_eq!(p.addr.ip().to_string(), "127.0.0.1");
    let s = f.wait_stats("all counted", |s| s.totals.events == 4);
    assert_eq!((s.accepted, s.active), (2, 1));
    let live = s.peers.iter().find(|p| p.id == 2).unwrap();
    assert_eq!(
        (live.state, live.report.format),
        (PeerState::Open, "auditd")
    );
    let s = f.listener.shutdown();
    assert_eq!(s.active, 0);
    let b_stats = s.peers.iter().find(|p| p.id == 2).unwrap();
    assert_eq!(b_stats.closed.as_deref(), Some("listener shut down"));
    drop(b);
}

#[test]
fn token_mode_refuses_wrong_and_missing_tokens() {
    let (mut cfg, log) = config();
    cfg.token = Some("s3cret-T0ken".into());
    cfg.auth_timeout = Duration::from_millis(300);
    let f = start(cfg, log);
    // No token line: refused, its line not used.
    let mut a = f.connect();
    let _ = writeln!(a, "{}", native(1));
    wait_closed(&mut a);
    let p = f.closed(1);
    assert!(p.auth_failed);
    assert_eq!(
        p.closed.as_deref(),
        Some("authentication failed: the first line is not `token <TOKEN>`")
    );
    assert_eq!((p.report.lines, p.report.events), (0, 0));
    // A wrong token: the same.
    let mut b = f.connect();
    let _ = write!(b, "token s3cret-T0kem\n{}\n{}\n", native(2), native(3));
    wait_closed(&mut b);
    let p = f.closed(2);
    assert_eq!(
        p.closed.as_deref(),
        Some("authentication failed: wrong token")
    );
    // No line at all within the deadline.
    let mut c = f.connect();
    wait_closed(&mut c);
    let p = f.closed(3);
    assert_eq!(
        p.closed.as_deref(),
        Some("authentication failed: not authenticated within 300 ms")
    );
    assert_eq!((p.auth_failed, p.report.lines), (true, 0));
    f.no_more_events();
    // The right token: in, lines numbered from the token line.
    let mut d = f.connect();
    write!(
        d,
        "token s3cret-T0ken\r\n{}\n{{broken\n{}\n",
        native(4),
        native(5)
    )
    .unwrap();
    let got = f.recv(2);
    assert_native(&got[0], 4);
    assert_native(&got[1], 5);
    let s = f.wait_stats("peer 4 counted", |s| {
        s.peers.iter().any(|p| p.id == 4 && p.report.lines == 4)
    });
    let p = s.peers.iter().find(|p| p.id == 4).unwrap();
    assert_eq!(
        (p.identity.as_deref(), p.state),
        (Some("token"), PeerState::Open)
    );
    assert_eq!((p.report.events, p.report.bad_lines), (2, 1));
    assert_eq!(p.report.bad_examples[0].line, 3);
    assert_eq!((s.auth_failed, s.auth_timeouts), (3, 1));
    assert_eq!((s.displaced, s.displaced_per_address, s.refused), (0, 0, 0));
    // Three failures from one address: one notice.
    let log = f.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].contains("the first line is not `token <TOKEN>`"),
        "{log:?}"
    );
    assert!(!log[0].contains("s3cret"), "{log:?}");
    drop(d);
}

#[test]
fn beyond_loopback_without_authentication_does_not_start() {
    let (mut cfg, _) = config();
    cfg.addr = "0.0.0.0:0".parse().unwrap();
    let (tx, _rx) = crossbeam_channel::bounded(1);
    let e = FeedListener::start(cfg, tx).err().unwrap().to_string();
    assert_eq!(
        e,
        "feed listener 0.0.0.0:0: refusing to listen beyond loopback without authentication: \
         configure TLS with a client CA bundle, or a token"
    );
}

#[test]
fn overlong_and_broken_lines_are_counted_and_reading_goes_on() {
    let (mut cfg, log) = config();
    cfg.max_line = 1024;
    let f = start(cfg, log);
    let mut a = f.connect();
    let long = "x".repeat(5000);
    write!(a, "{}\n{long}\n{{\"ts\": \n{}\n", native(1), native(2)).unwrap();
    let got = f.recv(2);
    assert_native(&got[0], 1);
    assert_native(&got[1], 2);
    drop(a);
    let p = f.closed(1);
    assert_eq!(
        (p.report.lines, p.report.events, p.report.bad_lines),
        (4, 2, 2)
    );
    let bad: Vec<(u64, &str)> = p
        .report
        .bad_examples
        .iter()
        .map(|b| (b.line, b.reason.as_str()))
        .collect();
    assert_eq!(bad[0], (2, "line longer than 1024 bytes"));
    assert_eq!(bad[1].0, 3);
    assert!(bad[1].1.starts_with("not JSON: "), "{bad:?}");
}

#[test]
fn a_silent_or_slow_peer_delays_no_other() {
    let (cfg, log) = config();
    let f = start(cfg, log);
    // One connects and says nothing; another sends half a line and stops.
    let _silent = f.connect();
    let mut slow = f.connect();
    let line = native(1);
    let (head, tail) = line.split_at(40);
    slow.write_all(head.as_bytes()).unwrap();
    f.wait_stats("both admitted", |s| s.active == 2);
    let t = Instant::now();
    let mut quick = f.connect();
    for i in 2..=11 {
        writeln!(quick, "{}", native(i)).unwrap();
    }
    let got = f.recv(10);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    for (e, i) in got.iter().zip(2..) {
        assert_native(e, i);
    }
    // The slow one's line, once finished, is read whole.
    writeln!(slow, "{tail}").unwrap();
    assert_native(&f.recv(1)[0], 1);
}

#[test]
fn connections_over_the_cap_are_refused() {
    let (mut cfg, log) = config();
    cfg.max_connections = 2;
    let f = start(cfg, log);
    let mut a = f.connect();
    let _b = f.connect();
    f.wait_stats("two admitted", |s| s.active == 2);
    let mut c = f.connect();
    let _ = writeln!(c, "{}", native(3));
    wait_closed(&mut c);
    let s = f.wait_stats("one refused", |s| s.refused == 1);
    assert_eq!((s.accepted, s.active), (2, 2));
    f.no_more_events();
    // A place freed is a place taken.
    writeln!(a, "{}", native(1)).unwrap();
    assert_native(&f.recv(1)[0], 1);
    drop(a);
    f.closed(1);
    let mut d = f.connect();
    writeln!(d, "{}", native(4)).unwrap();
    assert_native(&f.recv(1)[0], 4);
    let s = f.listener.stats();
    assert_eq!((s.accepted, s.refused), (3, 1));
    let log = f.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].contains("2 connections already served"), "{log:?}");
}

#[test]
fn the_line_rate_slows_a_peer_down_without_losing_lines() {
    let (mut cfg, log) = config();
    cfg.max_lines_per_sec = 20;
    let f = start(cfg, log);
    let mut a = f.connect();
    let t = Instant::now();
    let mut all = String::new();
    for i in 1..=40 {
        all.push_str(&native(i));
        all.push('\n');
    }
    a.write_all(all.as_bytes()).unwrap();
    let got = f.recv(40);
    // A burst of 20, then 20 more at 20 a second.
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
    for (e, i) in got.iter().zip(1..) {
        assert_native(e, i);
    }
    drop(a);
    let p = f.closed(1);
    assert!(p.throttled_ms >= 900, "{}", p.throttled_ms);
    assert_eq!((p.report.events, p.dropped), (40, 0));
}

#[test]
fn idle_connections_are_closed() {
    let (mut cfg, log) = config();
    cfg.idle_timeout = Duration::from_millis(300);
    let f = start(cfg, log);
    let mut a = f.connect();
    writeln!(a, "{}", native(1)).unwrap();
    f.recv(1);
    wait_closed(&mut a);
    let p = f.closed(1);
    assert_eq!(
        p.closed.as_deref(),
        Some("idle timeout (300 ms without data)")
    );
    let s = f.listener.stats();
    assert_eq!((s.idle_timeouts, s.auth_timeouts, s.active), (1, 0, 0));
}

#[test]
fn a_full_sink_drops_and_counts_after_the_wait() {
    let (mut cfg, _) = config();
    cfg.send_timeout = Duration::from_millis(50);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let listener = FeedListener::start(cfg, tx).unwrap();
    let mut a = TcpStream::connect(listener.local_addr()).unwrap();
    for i in 1..=5 {
        writeln!(a, "{}", native(i)).unwrap();
    }
    drop(a);
    let end = Instant::now() + WAIT;
    let p = loop {
        let s = listener.stats();
        if let Some(p) = s.peers.into_iter().find(|p| p.state == PeerState::Closed) {
            break p;
        }
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!((p.report.events, p.dropped), (5, 4));
    assert_native(&rx.try_recv().unwrap(), 1);
    assert_eq!(listener.shutdown().totals.dropped, 4);
}

#[test]
fn shutdown_ends_connections_and_reads_their_last_line() {
    let (cfg, log) = config();
    let f = start(cfg, log);
    let mut a = f.connect();
    // A last line without its newline.
    write!(a, "{}\n{}", native(1), native(2)).unwrap();
    assert_native(&f.recv(1)[0], 1);
    // Sent in the same write as the first line: read with it.
    f.wait_stats("first line in", |s| s.totals.lines == 1);
    let Fixture { listener, rx, .. } = f;
    let t = Instant::now();
    let s = listener.shutdown();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_native(&rx.try_recv().unwrap(), 2);
    assert_eq!(s.peers[0].closed.as_deref(), Some("listener shut down"));
    wait_closed(&mut a);
}

// ---- TLS ------------------------------------------------------------------

/// A CA, and certificates it signs.
struct Ca {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert: rcgen::Certificate,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(rcgen::DnType::CommonName, name);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = p.self_signed(&key).unwrap();
        Ca {
            issuer: rcgen::Issuer::new(p, key),
            cert,
        }
    }

    /// A leaf certificate and its key.
    fn leaf(&self, names: &[&str], cn: &str, client: bool) -> (rcgen::Certificate, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut p = rcgen::CertificateParams::new(names).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "procflow test");
        p.distinguished_name.push(rcgen::DnType::CommonName, cn);
        p.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert, key)
    }
}

/// A folder of its own under the system's temporary folder.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_cert(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> ClientCert {
    (
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// A TLS client of the listener, trusting `ca`.
fn tls_client(
    addr: SocketAddr,
    ca: &Ca,
    cert: Option<ClientCert>,
) -> StreamOwned<ClientConnection, TcpStream> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let b = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = match cert {
        Some((chain, key)) => b.with_client_auth_cert(chain, key).unwrap(),
        None => b.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").unwrap();
    let conn = ClientConnection::new(Arc::new(cfg), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(WAIT)).unwrap();
    StreamOwned::new(conn, sock)
}

/// A listener with TLS: its CA, and the files it was given.
fn tls_fixture(dir: &str, client_ca: bool, token: Option<&str>) -> (Fixture, Ca) {
    tls_fixture_with(dir, client_ca, token, |_| {})
}

/// [`tls_fixture`], with the configuration tuned by `tune`.
fn tls_fixture_with(
    dir: &str,
    client_ca: bool,
    token: Option<&str>,
    tune: impl FnOnce(&mut ListenConfig),
) -> (Fixture, Ca) {
    let d = temp_dir(dir);
    let ca = Ca::new("procflow test CA");
    let (server, server_key) = ca.leaf(&["localhost", "127.0.0.1"], "feed listener", false);
    std::fs::write(d.join("server.pem"), server.pem()).unwrap();
    std::fs::write(d.join("server.key"), server_key.serialize_pem()).unwrap();
    std::fs::write(d.join("ca.pem"), ca.cert.pem()).unwrap();
    let (mut cfg, log) = config();
    cfg.tls = Some(TlsConfig {
        cert: d.join("server.pem"),
        key: d.join("server.key"),
        client_ca: client_ca.then(|| d.join("ca.pem")),
    });
    cfg.token = token.map(str::to_string);
    tune(&mut cfg);
    (start(cfg, log), ca)
}

#[test]
fn tls_with_client_certificates() {
    let (f, ca) = tls_fixture("tls", true, None);
    let (agent, agent_key) = ca.leaf(&["agent-7.example"], "agent-7", true);
    let mut good = tls_client(f.addr(), &ca, Some(client_cert(&agent, &agent_key)));
    for i in 1..=2 {
        writeln!(good, "{}", native(i)).unwrap();
    }
    good.flush().unwrap();
    let got = f.recv(2);
    assert_native(&got[0], 1);
    assert_native(&got[1], 2);
    let s = f.wait_stats("identity", |s| s.peers.iter().any(|p| p.report.events == 2));
    let p = s.peers.iter().find(|p| p.id == 1).unwrap();
    assert_eq!(p.identity.as_deref(), Some("O=procflow test, CN=agent-7"));

    // No certificate: refused at the handshake; nothing it sent is used.
    let mut none = tls_client(f.addr(), &ca, None);
    let _ = writeln!(none, "{}", native(3));
    let _ = none.flush();
    wait_closed(&mut none);
    let p = f.closed(2);
    assert!(p.auth_failed);
    let why = p.closed.unwrap();
    assert!(why.starts_with("authentication failed: TLS: "), "{why}");
    assert!(why.contains("no certificates"), "{why}");

    // A certificate from another CA: the same.
    let other = Ca::new("another CA");
    let (stranger, stranger_key) = other.leaf(&["x.example"], "stranger", true);
    let mut bad = tls_client(f.addr(), &ca, Some(client_cert(&stranger, &stranger_key)));
    let _ = writeln!(bad, "{}", native(4));
    let _ = bad.flush();
    wait_closed(&mut bad);
    let p = f.closed(3);
    assert!(p.auth_failed);
    let why = p.closed.unwrap();
    assert!(why.contains("UnknownIssuer"), "{why}");
    assert_eq!((p.report.lines, p.identity), (0, None));

    f.no_more_events();
    let s = f.listener.stats();
    assert_eq!((s.auth_failed, s.totals.events), (2, 2));
    assert_eq!(f.log.lock().unwrap().len(), 1, "one notice per address");
    // The good peer is still served.
    writeln!(good, "{}", native(5)).unwrap();
    good.flush().unwrap();
    assert_native(&f.recv(1)[0], 5);
}

#[test]
fn tls_without_client_certificates_takes_a_token() {
    let (f, ca) = tls_fixture("tls-token", false, Some("tok"));
    let mut a = tls_client(f.addr(), &ca, None);
    write!(a, "token tok\n{}\n", native(1)).unwrap();
    a.flush().unwrap();
    assert_native(&f.recv(1)[0], 1);
    let mut b = tls_client(f.addr(), &ca, None);
    // Refused: the server may close before the client is done writing.
    let _ = write!(b, "token nope\n{}\n", native(2));
    let _ = b.flush();
    wait_closed(&mut b);
    assert_eq!(
        f.closed(2).closed.as_deref(),
        Some("authentication failed: wrong token")
    );
    f.no_more_events();
    f.wait_stats("token identity", |s| {
        s.peers[0].identity.as_deref() == Some("token") && s.peers[0].report.events == 1
    });
}

#[test]
fn unusable_tls_files_are_one_line_errors() {
    let d = temp_dir("tls-bad");
    std::fs::write(d.join("empty.pem"), "").unwrap();
    let (mut cfg, _) = config();
    cfg.tls = Some(TlsConfig {
        cert: d.join("missing.pem"),
        key: d.join("missing.key"),
        client_ca: None,
    });
    let (tx, _rx) = crossbeam_channel::bounded(1);
    let e = FeedListener::start(cfg.clone(), tx.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(e.starts_with("feed listener TLS: "), "{e}");
    assert!(e.contains("missing.pem"), "{e}");
    cfg.tls = Some(TlsConfig {
        cert: d.join("empty.pem"),
        key: d.join("empty.pem"),
        client_ca: None,
    });
    let e = FeedListener::start(cfg, tx).err().unwrap().to_string();
    assert!(e.contains("no certificate in the file"), "{e}");
}

#[test]
fn forced_format_is_used_for_every_connection() {
    let (mut cfg, log) = config();
    cfg.format = FeedFormat::Auditd;
    cfg.default_host = Some("sensor-feed".into());
    let f = start(cfg, log);
    let mut a = f.connect();
    writeln!(a, "{}", native(1)).unwrap();
    a.write_all(b"type=SYSCALL msg=audit(1700000000.500:77): arch=c000003e syscall=42 success=no exit=-115 a0=3 ppid=1 pid=4242 uid=0 exe=\"/tmp/x\"\ntype=SOCKADDR msg=audit(1700000000.500:77): saddr=020001BBCB00710A0000000000000000\n").unwrap();
    drop(a);
    // The open event ends with the connection.
    let e = &f.recv(1)[0];
    assert_eq!(e.host, "sensor-feed");
    let p = f.closed(1);
    assert_eq!((p.report.format, p.report.bad_lines), ("auditd", 1));
}

// ---- Strangers -------------------------------------------------------------

/// Writes the token line and `lines` native lines numbered from `first`.
fn send_as_agent(s: &mut impl Write, token: &str, first: u16, lines: u16) {
    let mut all = format!("token {token}\n");
    for i in first..first + lines {
        all.push_str(&native(i));
        all.push('\n');
    }
    s.write_all(all.as_bytes()).unwrap();
    s.flush().unwrap();
}

/// `n` connections to `addr` that never say a word, held open.
fn strangers(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| TcpStream::connect(addr).unwrap()).collect()
}

#[test]
fn a_flood_of_strangers_never_keeps_an_agent_out() {
    let (mut cfg, log) = config();
    // Both stacks: strangers come from 127.0.0.1, an agent from ::1.
    cfg.addr = "[::]:0".parse().unwrap();
    cfg.token = Some("fl00d-T0ken".into());
    cfg.max_unauthenticated = 16;
    cfg.max_per_address = 8;
    // Longer than the test: no stranger times out, the counts are exact.
    cfg.auth_timeout = Duration::from_secs(60);
    let f = start(cfg, log);
    let port = f.addr().port();
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port));
    let flood = std::thread::spawn(move || strangers(v4, 500));
    f.wait_stats("the flood under way", |s| s.accepted >= 100);
    // An agent from another address during the flood.
    let t = Instant::now();
    let mut a = TcpStream::connect(v6).unwrap();
    send_as_agent(&mut a, "fl00d-T0ken", 1, 20);
    let got = f.recv(20);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    for (e, i) in got.iter().zip(1..) {
        assert_native(e, i);
    }
    let held = flood.join().unwrap();
    assert_eq!(held.len(), 500);
    // Each stranger beyond the eighth took the place of the oldest.
    f.wait_stats("the flood admitted", |s| {
        s.accepted == 501 && s.unauthenticated == 8 && s.active == 9
    });
    // An agent from the strangers' own address, all 500 still held open.
    let mut b = TcpStream::connect(v4).unwrap();
    send_as_agent(&mut b, "fl00d-T0ken", 21, 5);
    for (e, i) in f.recv(5).iter().zip(21..) {
        assert_native(e, i);
    }
    let s = f.wait_stats("the second agent in", |s| {
        s.accepted == 502 && s.totals.events == 25 && s.active == 9
    });
    assert_eq!(
        (s.refused, s.displaced, s.displaced_per_address),
        (0, 0, 493)
    );
    assert_eq!(
        (s.auth_failed, s.auth_timeouts, s.unauthenticated),
        (0, 0, 7)
    );
    let agents: Vec<_> = s
        .peers
        .iter()
        .filter(|p| p.state == PeerState::Open)
        .collect();
    assert_eq!(agents.len(), 2);
    assert_eq!(agents.iter().map(|p| p.report.events).sum::<u64>(), 25);
    let displaced = s
        .peers
        .iter()
        .find(|p| p.state == PeerState::Closed)
        .unwrap();
    assert_eq!(
        displaced.closed.as_deref(),
        Some(
            "displaced before authenticating: 8 unauthenticated connections from 127.0.0.1 at once"
        )
    );
    assert_eq!((displaced.auth_failed, displaced.report.lines), (false, 0));
    // One notice for the flooding address.
    let log = f.log.lock().unwrap().clone();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("feed listener: 127.0.0.1: displaced before"),
        "{log:?}"
    );
    assert!(f.listener.shutdown().summary().starts_with(
        "502 connections (0 refused at the cap, 493 unauthenticated displaced by newer ones, 493 of them for the per-address cap, 0 failed authentication"
    ));
    drop(held);
}

#[test]
fn a_tls_agent_gets_in_past_strangers_holding_every_place() {
    let (f, ca) = tls_fixture_with("tls-flood", true, None, |c| {
        c.auth_timeout = Duration::from_secs(60);
    });
    // Strangers that never start a handshake fill the places of their
    // address (the default 8), displacing one another.
    let held = strangers(f.addr(), 200);
    f.wait_stats("the flood admitted", |s| {
        s.accepted == 200 && s.unauthenticated == 8 && s.active == 8
    });
    let (agent, agent_key) = ca.leaf(&["agent-9.example"], "agent-9", true);
    let mut good = tls_client(f.addr(), &ca, Some(client_cert(&agent, &agent_key)));
    for i in 1..=3 {
        writeln!(good, "{}", native(i)).unwrap();
    }
    good.flush().unwrap();
    for (e, i) in f.recv(3).iter().zip(1..) {
        assert_native(e, i);
    }
    let s = f.wait_stats("the agent in", |s| s.totals.events == 3 && s.active == 8);
    assert_eq!(
        (s.refused, s.displaced, s.displaced_per_address),
        (0, 0, 193)
    );
    assert_eq!((s.auth_failed, s.unauthenticated), (0, 7));
    let p = s.peers.iter().find(|p| p.id == 201).unwrap();
    assert_eq!(p.identity.as_deref(), Some("O=procflow test, CN=agent-9"));
    drop(held);
}

#[test]
fn a_peer_dripping_its_handshake_is_closed_at_the_deadline() {
    let (f, _ca) = tls_fixture_with("tls-drip", true, None, |c| {
        c.auth_timeout = Duration::from_millis(500);
    });
    let mut s = f.connect();
    // A TLS record header announcing a long handshake, then a byte at a
    // time: every read gets something, so only the deadline ends it.
    s.write_all(&[0x16, 0x03, 0x01, 0x40, 0x00]).unwrap();
    let t = Instant::now();
    let end = t + WAIT;
    while s.write_all(&[0]).is_ok() {
        assert!(Instant::now() < end, "still open after {:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let p = f.closed(1);
    assert_eq!(
        p.closed.as_deref(),
        Some("authentication failed: not authenticated within 500 ms")
    );
    let st = f.listener.stats();
    assert_eq!((st.auth_failed, st.auth_timeouts, st.active), (1, 1, 0));
}
