//! A throwaway PostgreSQL cluster for one test: Debian's server, started
//! as a local process on a free port with its data and socket in a temp
//! directory, stopped (immediately) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A running cluster.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

/// The newest installed server's programs.
fn bin_dir() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

fn run_as_owner(bin: &Path, prog: &str, args: &[&str]) -> Output {
    let path = bin.join(prog);
    let mut c = if super::is_root() {
        // initdb and the server refuse to run as root.
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&path);
        c
    } else {
        Command::new(&path)
    };
    c.args(args).output().expect("PostgreSQL program runs")
}

fn ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Postgres {
    /// Starts a cluster for test `name`; `None` (the test skips, saying
    /// so) when no server is installed, unless CI requires the tools.
    pub fn start(name: &str) -> Option<Postgres> {
        let Some(bin) = bin_dir() else {
            assert!(
                std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
                "PostgreSQL is required (Debian's postgresql package)"
            );
            eprintln!("{name}: skipped: no PostgreSQL server installed");
            return None;
        };
        // Under /tmp: the server's user must reach it.
        let dir = std::env::temp_dir().join(format!("procflow-pg-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("cluster dir");
        if super::is_root() {
            let st = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(st.success(), "chown the cluster dir");
        }
        let data = dir.join("data");
        let d = data.to_str().expect("utf-8 path");
        ok(
            &run_as_owner(
                &bin,
                "initdb",
                &["-D", d, "-A", "trust", "-U", "postgres", "-N"],
            ),
            "initdb",
        );
        let pg = Postgres {
            port: super::live::free_port(),
            dir,
            bin,
        };
        pg.up();
        Some(pg)
    }

    /// Makes the server take only TLS connections over TCP, with the
    /// certificate and key `server.pem` / `server.key` in `certs` (as
    /// [`super::certs::certificates`] writes them), then restarts it.
    pub fn require_tls(&self, certs: &Path) {
        self.kill();
        let data = self.dir.join("data");
        for f in ["server.pem", "server.key"] {
            std::fs::copy(certs.join(f), data.join(f)).expect("copy certificate");
        }
        let conf = "ssl = on\nssl_cert_file = 'server.pem'\nssl_key_file = 'server.key'\n";
        let mut c = std::fs::read_to_string(data.join("postgresql.conf")).expect("conf");
        c.push_str(conf);
        std::fs::write(data.join("postgresql.conf"), c).expect("conf");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("hba");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("key mode");
        if super::is_root() {
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .expect("chown");
            assert!(st.success(), "chown the data dir");
        }
        self.up();
    }

    /// Starts the server (again), waiting until it takes connections.
    pub fn up(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        ok(
            &run_as_owner(
                &self.bin,
                "pg_ctl",
                &[
                    "-D",
                    self.data().as_str(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().expect("utf-8"),
                    "start",
                    "-w",
                ],
            ),
            "pg_ctl start",
        );
    }

    /// Kills the server at once (no checkpoint: as a crash would).
    pub fn kill(&self) {
        ok(
            &run_as_owner(
                &self.bin,
                "pg_ctl",
                &["-D", self.data().as_str(), "stop", "-m", "immediate", "-w"],
            ),
            "pg_ctl stop",
        );
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Makes a database.
    pub fn createdb(&self, db: &str) {
        let port = self.port.to_string();
        ok(
            &run_as_owner(
                &self.bin,
                "createdb",
                &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", db],
            ),
            "createdb",
        );
    }

    /// The location procflow is given.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Rows of `sql` in `db`, one line each, columns joined by '|'.
    pub fn query(&self, db: &str, sql: &str) -> Vec<String> {
        let o = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ])
            .output()
            .expect("psql runs");
        ok(&o, sql);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = run_as_owner(
            &self.bin,
            "pg_ctl",
            &["-D", self.data().as_str(), "stop", "-m", "immediate"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
