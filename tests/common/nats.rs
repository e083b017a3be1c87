//! A throwaway NATS server with JetStream for one test: Debian's
//! `nats-server`, on a free port with its store in a temp directory,
//! killed when dropped.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server.
pub struct Nats {
    child: Option<Child>,
    extra: Vec<String>,
    bin: PathBuf,
    dir: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Nats {
    /// Starts a server for test `name`; `None` (the test skips, saying
    /// so) when none is installed, unless CI requires the tools.
    pub fn start(name: &str) -> Option<Nats> {
        Nats::start_with(name, &[])
    }

    /// Starts a server with these further arguments (`--user`, ...).
    pub fn start_with(name: &str, extra: &[&str]) -> Option<Nats> {
        let Some(bin) = super::which("nats-server") else {
            assert!(
                std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
                "nats-server is required (Debian's nats-server package)"
            );
            eprintln!("{name}: skipped: nats-server not installed");
            return None;
        };
        let dir = std::env::temp_dir().join(format!("procflow-nats-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("store dir");
        let mut n = Nats {
            child: None,
            extra: extra.iter().map(|a| a.to_string()).collect(),
            bin,
            dir,
            port: super::live::free_port(),
        };
        n.up();
        Some(n)
    }

    /// The location procflow is given.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again, on the same store), waiting until it
    /// takes connections.
    pub fn up(&mut self) {
        let child = Command::new(&self.bin)
            .args(["-js", "-sd"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-a", "127.0.0.1"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let until = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < until, "nats-server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
