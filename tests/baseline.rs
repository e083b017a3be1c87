//! The baseline file's integrity on the generated detection scenario (at a
//! small scale): one writer at a time, read-only when nothing is learned,
//! a damaged file reported at start, and kills at random moments.
#![allow(clippy::indexing_slicing)]

mod common;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Windows and batches one `learn` of the scenario's history folds in.
const HISTORY_WINDOWS: u64 = 265;
const HISTORY_BATCHES: u64 = 6;

/// The scenario at 1 % of its bulk volumes (40 MB), written once per run
/// of this test binary.
fn scenario() -> &'static Path {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("baseline-scenario");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scenario dir");
        pcapgen::detection::write(&dir, 0.01).expect("scenario written");
        dir
    })
}

fn file(name: &str) -> String {
    scenario().join(name).display().to_string()
}

/// A fresh directory for one test.
fn dir(name: &str) -> PathBuf {
    let d = scenario().join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("test dir");
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `procflow learn` of the history into `db`.
fn learn(db: &Path, config: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_procflow"));
    c.args([
        "learn",
        &file("history.pcap"),
        "--feed",
        &file("history.feed.jsonl"),
    ])
    .args(["--baseline", &s(db), "--config", config, "--no-progress"]);
    c
}

/// `procflow read` of the new traffic against `db`, alerts on stdout.
fn read(db: &Path, extra: &[&str]) -> Command {
    read_from(
        Path::new(env!("CARGO_BIN_EXE_procflow")),
        scenario(),
        db,
        extra,
    )
}

/// `read` with the binary and the scenario's files found elsewhere.
fn read_from(bin: &Path, inputs: &Path, db: &Path, extra: &[&str]) -> Command {
    let f = |name: &str| s(&inputs.join(name));
    let mut c = Command::new(bin);
    c.args([
        "read",
        &f("detection.pcap"),
        "--feed",
        &f("detection.feed.jsonl"),
    ])
    .args(["--baseline", &s(db), "--config", &f("config.toml")])
    .args(["--alerts", "-", "--no-progress"])
    .args(extra);
    c
}

fn run(mut c: Command) -> Output {
    c.output().expect("procflow runs")
}

fn ok(c: Command) -> Output {
    let out = run(c);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Every row of every baseline table, as text, sorted.
fn dump(db: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open(db).expect("open baseline");
    let mut out = Vec::new();
    for t in ["images", "image_hosts", "hosts", "volumes", "meta"] {
        let mut q = c.prepare(&format!("SELECT * FROM {t}")).expect("query");
        let n = q.column_count();
        let rows = q
            .query_map([], |r| {
                let cols: Vec<String> = (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(format!("{t}: {}", cols.join(" | ")))
            })
            .expect("rows");
        out.extend(rows.map(|r| r.expect("row")));
    }
    out.sort();
    out
}

fn meta(db: &Path, key: &str) -> u64 {
    let c = rusqlite::Connection::open(db).expect("open baseline");
    c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| {
        r.get::<_, String>(0)
    })
    .expect("meta")
    .parse()
    .expect("number")
}

/// The pid written into the lock file, once the writer holds the lock.
fn wait_for_holder(db: &Path, child: &mut Child) {
    let lock = format!("{}-lock", db.display());
    let want = format!("{}\n", child.id());
    let start = Instant::now();
    while std::fs::read_to_string(&lock).ok().as_deref() != Some(want.as_str()) {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the writer ended"
        );
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the writer never took the lock"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_second_writer_is_refused_and_the_first_loses_nothing() {
    let d = dir("refused");
    let (alone, db) = (d.join("alone.db"), d.join("two.db"));
    ok(learn(&alone, &file("config.toml")));
    // The first writer is held still (SIGSTOP) once it has the lock, so
    // the second surely starts while it writes.
    let mut first = learn(&db, &file("config.toml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_for_holder(&db, &mut first);
    let pid = Pid::from_raw(i32::try_from(first.id()).expect("pid"));
    kill(pid, Signal::SIGSTOP).expect("stop");
    let second = run(learn(&db, &file("config.toml")));
    kill(pid, Signal::SIGCONT).expect("continue");
    assert!(first.wait().expect("wait").success());
    assert!(!second.status.success());
    assert_eq!(
        text(&second.stderr),
        format!(
            "procflow: error: baseline {}: another procflow is writing it (pid {}): one writer at a time \
             (read without --learn reads it meanwhile; [baseline] lock_wait_secs waits for the writer)\n",
            db.display(),
            first.id()
        )
    );
    assert_eq!(meta(&db, "windows_folded"), HISTORY_WINDOWS);
    assert_eq!(meta(&db, "batches"), HISTORY_BATCHES);
    assert_eq!(
        dump(&db),
        dump(&alone),
        "the first writer's baseline is whole"
    );
}

#[test]
fn two_writers_that_wait_keep_every_window() {
    let d = dir("waiting");
    let config = d.join("wait.toml");
    let base = std::fs::read_to_string(file("config.toml")).expect("config");
    std::fs::write(
        &config,
        format!("{base}\n[baseline]\nlock_wait_secs = 120\n"),
    )
    .expect("write");
    let config = s(&config);
    let (seq, db) = (d.join("sequential.db"), d.join("two.db"));
    ok(learn(&seq, &config));
    ok(learn(&seq, &config));
    let spawn = || {
        learn(&db, &config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(meta(&db, "windows_folded"), 2 * HISTORY_WINDOWS);
    assert_eq!(meta(&db, "batches"), 2 * HISTORY_BATCHES);
    assert_eq!(dump(&db), dump(&seq), "the same as one run after the other");
}

/// Whether the read-only cases run as `nobody`: this is root, for whom
/// file modes do not stop a write.
fn as_nobody() -> bool {
    nix::unistd::geteuid().is_root()
}

fn unprivileged(mut c: Command) -> Command {
    if as_nobody() {
        c.uid(65534).gid(65534);
    }
    c
}

/// Whether every folder above `p` lets others through and `p` lets them
/// read it.
fn others_reach(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mode = |q: &Path| std::fs::metadata(q).map_or(0, |m| m.permissions().mode());
    mode(p) & 0o004 != 0
        && p.ancestors()
            .skip(1)
            .all(|a| a.as_os_str().is_empty() || mode(a) & 0o001 != 0)
}

/// The binary and the scenario's files where `nobody` can read them: in
/// place when it can, else copied under the system's temporary folder.
fn reachable_inputs() -> (PathBuf, PathBuf) {
    let bin = Path::new(env!("CARGO_BIN_EXE_procflow"));
    let names = ["detection.pcap", "detection.feed.jsonl", "config.toml"];
    let in_place = others_reach(bin) && names.iter().all(|n| others_reach(&scenario().join(n)));
    if !as_nobody() || in_place {
        return (bin.to_path_buf(), scenario().to_path_buf());
    }
    let to = std::env::temp_dir().join(format!("procflow-baseline-ro-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("temp dir");
    set_mode(&to, 0o755);
    std::fs::copy(bin, to.join("procflow")).expect("copy the binary");
    for n in names {
        std::fs::copy(scenario().join(n), to.join(n)).expect("copy an input");
    }
    (to.join("procflow"), to)
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Names of the files in `d`, sorted.
fn listing(d: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(d)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_read_only_baseline_is_judged_against_and_refused_for_learning() {
    let (bin, inputs) = reachable_inputs();
    let d = if inputs == scenario() {
        dir("read-only")
    } else {
        inputs.join("read-only")
    };
    std::fs::create_dir_all(&d).expect("dir");
    let learned = d.join("learned.db");
    ok(learn(&learned, &file("config.toml")));
    let want = ok(read(&learned, &["--no-learn"])).stdout;
    assert!(!want.is_empty(), "the scenario raises alerts");
    let read = |db: &Path, extra: &[&str]| read_from(&bin, &inputs, db, extra);
    // A read-only file in a read-only directory, and a writable file in
    // a read-only directory.
    for (name, file_mode) in [("ro-file", 0o444), ("ro-dir", 0o666)] {
        let ro = d.join(name);
        std::fs::create_dir_all(&ro).expect("dir");
        let db = ro.join("baseline.db");
        std::fs::copy(&learned, &db).expect("copy");
        set_mode(&db, file_mode);
        set_mode(&ro, 0o555);
        let before = std::fs::read(&db).expect("read");
        let out = ok(unprivileged(read(&db, &["--no-learn"])));
        assert_eq!(text(&out.stdout), text(&want), "{name}: the same alerts");
        let out = run(unprivileged(read(&db, &["--learn"])));
        assert!(!out.status.success(), "{name}");
        assert_eq!(out.stdout, b"", "{name}: nothing judged");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with(&format!(
                "procflow: error: baseline {}: cannot be written: cannot open its lock file {}-lock: Permission denied",
                db.display(),
                db.display()
            )),
            "{name}: {err}"
        );
        assert_eq!(
            std::fs::read(&db).expect("read"),
            before,
            "{name}: untouched"
        );
        assert_eq!(
            listing(&ro),
            ["baseline.db"],
            "{name}: nothing created beside it"
        );
        set_mode(&ro, 0o755);
    }
    if inputs != scenario() {
        let _ = std::fs::remove_dir_all(&inputs);
    }
}

/// Overwrites the header of the index page nearest the middle of the file
/// (reading the tables alone would not notice): its page type stays, its
/// cell count and content offset become nonsense.
fn damage_a_middle_index_page(path: &Path) {
    let mut bytes = std::fs::read(path).expect("read");
    let size = usize::from(u16::from_be_bytes([bytes[16], bytes[17]]));
    let pages = bytes.len() / size;
    let middle = (1..pages)
        .filter(|&p| [2u8, 10].contains(&bytes[p * size]))
        .min_by_key(|&p| p.abs_diff(pages / 2))
        .expect("an index page");
    for b in &mut bytes[middle * size + 3..middle * size + 7] {
        *b = 0xff;
    }
    std::fs::write(path, bytes).expect("write");
}

#[test]
fn a_damaged_baseline_is_reported_at_start() {
    let d = dir("damaged");
    let db = d.join("baseline.db");
    ok(learn(&db, &file("config.toml")));
    assert!(!d.join("baseline.db-wal").exists(), "all in the file");
    damage_a_middle_index_page(&db);
    let want = format!("procflow: error: baseline {}: damaged: ", db.display());
    for (what, out) in [
        ("learn", run(learn(&db, &file("config.toml")))),
        ("read --learn", run(read(&db, &["--learn"]))),
        ("read", run(read(&db, &[]))),
    ] {
        assert!(!out.status.success(), "{what}");
        assert_eq!(out.stdout, b"", "{what}: nothing judged");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.starts_with(&want), "{what}: {err}");
        assert!(err.contains("(PRAGMA quick_check"), "{what}: {err}");
    }
}

/// Removes the baseline (not its lock file, which a killed writer held),
/// then puts `start` in its place when given.
fn reset(db: &Path, start: Option<&Path>) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    if let Some(s) = start {
        std::fs::copy(s, db).expect("copy");
    }
}

/// Runs `c` until it stops inside its commit `n`, and kills it there.
fn stop_in_commit(mut c: Command, n: u64) {
    let mut child = c
        .env("PROCFLOW_FAILPOINT", format!("baseline-commit:{n}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let want = format!("failpoint baseline-commit:{n} reached");
    let mut seen = String::new();
    while !seen.contains(&want) {
        let got = std::io::BufRead::read_line(&mut err, &mut seen).expect("stderr");
        assert!(got > 0, "ended before commit {n}:\n{seen}");
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
}

/// What the baseline can hold after a kill: the dump after each number of
/// commits (found by stopping inside the next one), and how long an
/// uninterrupted run takes.
fn committed_states(
    cmd: &dyn Fn() -> Command,
    db: &Path,
    start: Option<&Path>,
) -> (Vec<Vec<String>>, Duration) {
    reset(db, start);
    let before = start.map_or(0, |s| meta(s, "batches"));
    let t = Instant::now();
    ok(cmd());
    let took = t.elapsed();
    let last = dump(db);
    let commits = meta(db, "batches") - before;
    let mut states = Vec::new();
    for n in 1..=commits {
        reset(db, start);
        stop_in_commit(cmd(), n);
        states.push(dump(db));
    }
    states.push(last);
    (states, took)
}

/// splitmix64: the kill moments, repeatable from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// What a killed run left: "absent", "empty" (no table yet) or
/// "N commits"; panics on anything else.
fn state_after_kill(db: &Path, states: &[Vec<String>], may_be_new: bool) -> String {
    if !db.exists() {
        assert!(may_be_new, "the baseline is gone");
        return "absent".into();
    }
    let c = rusqlite::Connection::open(db).expect("opens after a kill");
    let check: String = c
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .expect("quick_check");
    assert_eq!(check, "ok");
    let tables: i64 = c
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .expect("tables");
    drop(c);
    if tables == 0 {
        assert!(may_be_new, "an existing baseline lost its tables");
        return "empty".into();
    }
    let now = dump(db);
    match states.iter().position(|s| *s == now) {
        Some(n) => format!("{n} commits"),
        None => panic!("not a state a commit leaves: {now:#?}"),
    }
}

/// SIGKILL at random moments in `learn` (from no file) and `read` (from a
/// learned baseline): after every kill the file opens, passes quick_check
/// and holds exactly what some number of whole commits left, and the next
/// writer gets the lock. `PROCFLOW_KILLS` (default 20; 100 for the full
/// loop) and `PROCFLOW_KILL_SEED` (default from the clock) steer it.
#[test]
fn killed_at_random_moments_the_baseline_holds_the_last_commit() {
    let d = dir("kills");
    let (db, learned) = (d.join("baseline.db"), d.join("learned.db"));
    let config = file("config.toml");
    ok(learn(&learned, &config));
    let learn_cmd = || learn(&db, &config);
    let read_cmd = || read(&db, &["--learn"]);
    let (learn_states, learn_time) = committed_states(&learn_cmd, &db, None);
    let (read_states, read_time) = committed_states(&read_cmd, &db, Some(&learned));
    assert_eq!(learn_states.len(), 1 + HISTORY_BATCHES as usize);
    assert_eq!(read_states.len(), 3, "the new traffic's two batches");
    assert_eq!(read_states[0], dump(&learned));

    let kills = env_u64("PROCFLOW_KILLS").unwrap_or(20);
    let seed = env_u64("PROCFLOW_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |t| t.as_nanos() as u64)
    });
    eprintln!("kill loop: {kills} kills, seed {seed} (PROCFLOW_KILL_SEED={seed} repeats them)");
    let mut rng = Rng(seed);
    let mut seen = std::collections::BTreeMap::<String, u64>::new();
    for i in 0..kills {
        let learning = i % 2 == 0;
        let (cmd, states, took, start): (&dyn Fn() -> Command, _, _, _) = if learning {
            (&learn_cmd, &learn_states, learn_time, None)
        } else {
            (&read_cmd, &read_states, read_time, Some(learned.as_path()))
        };
        reset(&db, start);
        // Anywhere in the run and a little past its usual end; every
        // other time near the end, where `read` commits.
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(10);
        let at = Duration::from_micros(match i % 4 < 2 {
            true => rng.next() % (us / 10 * 12),
            false => us / 10 * 8 + rng.next() % (us / 10 * 3),
        });
        let mut child = cmd()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().expect("wait");
        let state = state_after_kill(&db, states, learning);
        // The kernel released the lock: the next writer opens the file.
        let caps = rules::config::BaselineConfig::default();
        drop(rules::baseline::Store::open(&db, caps).expect("the next writer opens it"));
        let what = if learning { "learn" } else { "read" };
        *seen.entry(format!("{what}: {state}")).or_default() += 1;
    }
    eprintln!("kill loop: states left (seed {seed}): {seen:?}");
    assert_eq!(seen.values().sum::<u64>(), kills);
}

/// A name SQLite would take for a URI (`file:...`) is a file name like any
/// other: the baseline, its lock and the read-only reader all use the file
/// of that name.
#[test]
fn a_file_colon_name_is_a_plain_file() {
    let d = dir("file-colon");
    let config = file("config.toml");
    let mut c = learn(Path::new("file:base.db"), &config);
    c.current_dir(&d);
    ok(c);
    assert!(d.join("file:base.db").is_file(), "the file of that name");
    assert!(!d.join("base.db").exists(), "not a URI");
    let mut r = read(Path::new("file:base.db"), &["--no-learn"]);
    r.current_dir(&d);
    let out = ok(r);
    assert!(
        !text(&out.stderr).contains("missing"),
        "{}",
        text(&out.stderr)
    );
    let db = d.join("file:base.db");
    assert_eq!(meta(&db, "windows_folded"), HISTORY_WINDOWS);
    assert_eq!(meta(&db, "batches"), HISTORY_BATCHES);
}
