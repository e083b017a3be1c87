//! Helpers for the `procflow live` tests: a real HTTP server and client on
//! real sockets, the sensor as a child process, its standard error line by
//! line, and every wait bounded.

use super::Killed;
use std::io::{BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// What the test server answers to every request (85 bytes).
pub const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

/// An HTTP server on `ip` (port chosen by the system), answering each
/// connection on a thread of its own; it lives as long as the test.
pub fn server(ip: &str) -> u16 {
    let l = TcpListener::bind((ip, 0)).expect("server binds");
    let port = l.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer(conn));
        }
    });
    port
}

fn answer(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // The head, then a body of Content-Length bytes.
    let want = loop {
        let Ok(n) = conn.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break end + 4 + len;
        }
    };
    while got.len() < want {
        match conn.read(&mut buf) {
            Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let _ = conn.write_all(RESPONSE);
    let _ = conn.shutdown(std::net::Shutdown::Write);
    while conn.read(&mut buf).is_ok_and(|n| n > 0) {}
}

/// The request [`post`] sends: `body` bytes of payload.
pub fn request(body: usize) -> Vec<u8> {
    let mut r =
        format!("POST /report HTTP/1.1\r\nHost: collector\r\nContent-Length: {body}\r\n\r\n")
            .into_bytes();
    r.extend(vec![b'm'; body]);
    r
}

/// One POST of `body` bytes to `ip:port` on a new connection, read to the
/// end; `connected` runs with the client's local port before the request
/// is sent (to announce the socket in a feed). The local port.
pub fn post(ip: &str, port: u16, body: usize, connected: impl FnOnce(u16)) -> u16 {
    let ip: IpAddr = ip.parse().expect("address");
    let mut c = TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(10))
        .expect("client connects");
    let local = c.local_addr().expect("local address").port();
    connected(local);
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(&request(body)).expect("request sent");
    let mut reply = Vec::new();
    c.read_to_end(&mut reply).expect("reply read");
    assert_eq!(reply, RESPONSE);
    local
}

/// A native feed line naming a client socket on 127.0.0.1 and its process.
pub fn feed_line(local_port: u16, server_port: u16, exe: &str) -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    serde_json::json!({
        "ts": capture::time::rfc3339(us), "host": "sensor-test", "os": "linux",
        "event": "connect", "proto": "tcp", "src_ip": "127.0.0.1", "src_port": local_port,
        "dst_ip": "127.0.0.1", "dst_port": server_port, "pid": 4000 + u32::from(local_port % 1000),
        "process": exe,
    })
    .to_string()
}

/// Appends one line to a file.
pub fn append(path: &Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("feed opens");
    writeln!(f, "{line}").expect("feed line written");
}

/// A port free on 127.0.0.1 a moment ago, and never handed out before
/// in this test process (runs started at once each get their own). It is
/// taken below the kernel's ephemeral range (32768 and up), where the
/// connections other tests open at the same time take their local ports:
/// a port from that range could be taken by one of them before the run
/// it was meant for listens on it.
pub fn free_port() -> u16 {
    static NEXT: std::sync::Mutex<u16> = std::sync::Mutex::new(0);
    let mut next = NEXT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *next == 0 {
        // Each test process starts at its own place in 20000..32000.
        *next = 20_000 + (std::process::id() % 600) as u16 * 20;
    }
    loop {
        let port = *next;
        *next = if port >= 31_999 { 20_000 } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// `n` distinct ports, as [`free_port`] gives them.
pub fn free_ports(n: usize) -> Vec<u16> {
    (0..n).map(|_| free_port()).collect()
}

/// `procflow live` running, its standard error read line by line.
pub struct Live {
    pub child: Killed,
    lines: Receiver<String>,
    reader: Option<std::thread::JoinHandle<String>>,
    seen: Vec<String>,
}

impl Live {
    /// Starts `procflow live ARGS` and waits (60 s at most) until it says
    /// it is capturing.
    pub fn start(args: &[String]) -> Live {
        let mut child = Killed(
            Command::new(env!("CARGO_BIN_EXE_procflow"))
                .arg("live")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("procflow live starts"),
        );
        let (lines, reader) = super::stderr_lines(&mut child.0);
        let mut live = Live {
            child,
            lines,
            reader: Some(reader),
            seen: Vec::new(),
        };
        live.wait_for("procflow: live on", Duration::from_secs(60));
        live
    }

    /// Waits for a line of standard error containing `what`; the line.
    pub fn wait_for(&mut self, what: &str, within: Duration) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.contains(what)) {
            return l.clone();
        }
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(what) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no line with {what:?} within {within:?}; so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Sends SIGTERM.
    pub fn term(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.0.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    }

    /// Waits (at most `within`) for the process to end by itself; its exit
    /// status and whole standard error.
    pub fn wait(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(s) = self.child.0.try_wait().expect("wait") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "procflow live did not end within {within:?}:\n{}",
                self.seen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let text = self
            .reader
            .take()
            .map(|r| r.join().expect("stderr"))
            .unwrap_or_default();
        (status, text)
    }

    /// SIGTERM, then [`Live::wait`].
    pub fn stop(self, within: Duration) -> (ExitStatus, String) {
        self.term();
        self.wait(within)
    }
}

/// `GET /metrics` from `127.0.0.1:port`: the value of each sample line.
pub fn metrics(port: u16) -> Vec<(String, u64)> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("metrics listen");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").expect("ask");
    let mut text = String::new();
    BufReader::new(c).read_to_string(&mut text).expect("answer");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

/// One sample of [`metrics`] by its full name (labels included).
pub fn sample(m: &[(String, u64)], name: &str) -> u64 {
    m.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Polls `f` every 50 ms until it is true, `within` at most.
pub fn until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// JSON lines of a file (every line must be whole JSON).
pub fn json_lines(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}
