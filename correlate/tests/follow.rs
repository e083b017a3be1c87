//! The file follower on real files: appends, a partial line, rotation
//! (rename and a new file), truncation, a file that does not exist yet,
//! and one that is not a feed.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use correlate::follow::{FileFollower, FollowConfig, FollowStats, StartAt};
use correlate::live::Logger;
use correlate::SocketEvent;
use crossbeam_channel::Receiver;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

/// A native feed line whose process id is `pid`.
fn native(pid: u32) -> String {
    format!(
        r#"{{"ts":"2026-11-23T10:00:00.000{pid:03}Z","host":"ws1","proto":"tcp","src_ip":"10.1.0.5","src_port":{},"dst_ip":"203.0.113.10","dst_port":443,"pid":{pid},"process":"/usr/bin/agent"}}"#,
        40000 + pid
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("procflow-follow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

struct Fixture {
    follower: FileFollower,
    rx: Receiver<SocketEvent>,
    log: Arc<Mutex<Vec<String>>>,
}

fn follow(path: &Path, start: StartAt) -> Fixture {
    follow_with(path, start, |_| {})
}

fn follow_with(path: &Path, start: StartAt, tune: impl FnOnce(&mut FollowConfig)) -> Fixture {
    let mut cfg = FollowConfig::new(path);
    cfg.start = start;
    cfg.poll = Duration::from_millis(20);
    tune(&mut cfg);
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    let logger: Logger = Arc::new(move |m: &str| l.lock().unwrap().push(m.to_string()));
    cfg.log = logger;
    let (tx, rx) = crossbeam_channel::bounded(1000);
    Fixture {
        follower: FileFollower::start(cfg, tx).unwrap(),
        rx,
        log,
    }
}

impl Fixture {
    /// The pids of the next `n` events.
    fn pids(&self, n: usize) -> Vec<u32> {
        (0..n)
            .map(|k| {
                let e = self
                    .rx
                    .recv_timeout(WAIT)
                    .unwrap_or_else(|_| panic!("event {k} of {n} did not arrive"));
                e.process.pid.unwrap()
            })
            .collect()
    }

    fn wait_stats(&self, what: &str, f: impl Fn(&FollowStats) -> bool) -> FollowStats {
        let end = Instant::now() + WAIT;
        loop {
            let s = self.follower.stats();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}: {s:#?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn no_more_events(&self) {
        assert!(
            self.rx.recv_timeout(Duration::from_millis(200)).is_err(),
            "an event arrived that should not have"
        );
    }
}

#[test]
fn appends_rotation_and_truncation() {
    let d = temp_dir("rotate");
    let path = d.join("feed.jsonl");
    append(&path, &format!("{}\n{}\n", native(1), native(2)));
    let f = follow(&path, StartAt::End);
    f.wait_stats("opened", |s| s.opened == 1);

    // Lines appended from now on; a partial line waits for its end.
    let four = native(4);
    let (head, tail) = four.split_at(30);
    append(&path, &format!("{}\n{{broken\n{head}", native(3)));
    assert_eq!(f.pids(1), vec![3]);
    f.no_more_events();
    append(&path, &format!("{tail}\n"));
    assert_eq!(f.pids(1), vec![4]);
    let s = f.wait_stats("line 5 counted", |s| s.lines == 3);
    let r = &s.reports[0];
    assert_eq!((r.lines, r.events, r.bad_lines), (5, 2, 1));
    assert_eq!(r.bad_examples[0].line, 4, "line numbers are the file's");
    assert_eq!(s.lines, 3, "lines read, not those there before");

    // Rotation: renamed away, still written to, then a new file.
    std::fs::rename(&path, d.join("feed.jsonl.1")).unwrap();
    append(&d.join("feed.jsonl.1"), &format!("{}\n", native(5)));
    append(
        &path,
        &format!("{}\n{{\"ts\":1}}\n{}\n", native(6), native(7)),
    );
    assert_eq!(f.pids(3), vec![5, 6, 7]);
    let s = f.wait_stats("rotated", |s| s.rotations == 1 && s.lines == 7);
    assert_eq!((s.opened, s.reports.len()), (2, 2));
    assert_eq!(s.reports[0].events, 3);
    let r = &s.reports[1];
    assert_eq!((r.lines, r.events, r.bad_lines), (3, 2, 1));
    assert_eq!(r.bad_examples[0].line, 2);

    // Truncation: read again from the start.
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    append(&path, &format!("{}\n", native(8)));
    assert_eq!(f.pids(1), vec![8]);
    let s = f.wait_stats("truncated", |s| s.truncations == 1 && s.lines == 8);
    assert_eq!((s.opened, s.rotations, s.events, s.lines), (3, 1, 6, 8));
    assert_eq!(s.reports[2].lines, 1);
    f.no_more_events();

    // A last line without its newline is read when the follower stops.
    append(&path, &native(9));
    let len = std::fs::metadata(&path).unwrap().len();
    f.wait_stats("partial read", |s| s.offset == len);
    let Fixture { follower, rx, .. } = f;
    let s = follower.shutdown();
    assert_eq!(rx.try_recv().unwrap().process.pid, Some(9));
    assert_eq!((s.events, s.bad_lines, s.dropped), (7, 2, 0));
    assert_eq!(s.error, None);
}

#[test]
fn a_missing_file_is_waited_for_and_read_from_its_start() {
    let d = temp_dir("missing");
    let path = d.join("later.jsonl");
    let f = follow(&path, StartAt::End);
    f.wait_stats("waiting", |s| s.waiting);
    append(&path, &format!("{}\n{}\n", native(1), native(2)));
    assert_eq!(f.pids(2), vec![1, 2]);
    let s = f.wait_stats("read", |s| !s.waiting && s.events == 2);
    assert_eq!(s.reports[0].format, "jsonl");

    // From the beginning: every line already there.
    let g = follow(&path, StartAt::Beginning);
    assert_eq!(g.pids(2), vec![1, 2]);
}

#[test]
fn starting_at_the_end_in_the_middle_of_a_line_skips_its_rest() {
    let d = temp_dir("mid");
    let path = d.join("feed.jsonl");
    append(&path, &format!("{}\n{{\"ts\":\"2026", native(1)));
    let f = follow(&path, StartAt::End);
    f.wait_stats("opened", |s| s.opened == 1);
    append(&path, &format!("-11-23T10:00:00Z\"}}\n{}\n", native(2)));
    assert_eq!(f.pids(1), vec![2]);
    let s = f.wait_stats("read", |s| s.lines == 1);
    let r = &s.reports[0];
    assert_eq!((r.lines, r.events, r.bad_lines), (3, 1, 0));
}

#[test]
fn a_file_that_is_no_feed_is_reported_and_its_successor_read() {
    let d = temp_dir("garbage");
    let path = d.join("feed.log");
    let f = follow(&path, StartAt::Beginning);
    append(&path, "\x7fELF\x02\x01\x01\x00\x00\n");
    let s = f.wait_stats("error", |s| s.error.is_some());
    assert!(
        s.error
            .as_deref()
            .unwrap()
            .contains("binary data at line 1"),
        "{s:?}"
    );
    append(&path, &format!("{}\n", native(1)));
    f.no_more_events();
    std::fs::rename(&path, d.join("feed.log.1")).unwrap();
    append(&path, &format!("{}\n", native(2)));
    assert_eq!(f.pids(1), vec![2]);
    let log = f.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[1].contains(": rotated (another file has the name)"),
        "{log:?}"
    );
}

#[test]
fn a_directory_is_an_error() {
    let d = temp_dir("dir");
    let (tx, _rx) = crossbeam_channel::bounded(1);
    let e = FileFollower::start(FollowConfig::new(&d), tx)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        e,
        format!("feed {}: cannot open: is a directory", d.display())
    );
}

impl Fixture {
    /// The log so far.
    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

/// Overwrites the file from its start in one write, without truncating:
/// what copytruncate and a quick writer leave between two looks.
fn rewrite(path: &Path, text: &str) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn a_writer_still_on_the_rotated_file_loses_nothing() {
    let d = temp_dir("rotate-late");
    let path = d.join("feed.jsonl");
    let old = d.join("feed.jsonl.1");
    append(&path, &format!("{}\n{}\n", native(1), native(2)));
    let f = follow_with(&path, StartAt::Beginning, |c| {
        c.rotate_grace = Duration::from_millis(500);
    });
    assert_eq!(f.pids(2), vec![1, 2]);
    // logrotate's create: renamed, a new empty file at once; the writer
    // still writes to its old file before it reopens the name.
    std::fs::rename(&path, &old).unwrap();
    append(&path, "");
    f.wait_stats("the new file opened", |s| s.rotations == 1 && s.opened == 2);
    append(&old, &format!("{}\n", native(3)));
    assert_eq!(f.pids(1), vec![3]);
    append(&path, &format!("{}\n", native(4)));
    assert_eq!(f.pids(1), vec![4]);
    // Quiet for the grace: the old file is done with.
    std::thread::sleep(Duration::from_millis(700));
    append(&old, &format!("{}\n", native(5)));
    f.no_more_events();
    let s = f.wait_stats("all counted", |s| s.lines == 4);
    assert_eq!((s.events, s.rotations, s.truncations), (4, 1, 0));
    assert_eq!(s.reports.len(), 2);
    assert_eq!((s.reports[0].lines, s.reports[0].events), (3, 3));
    assert_eq!((s.reports[1].lines, s.reports[1].events), (1, 1));
    let log = f.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].ends_with(
        "feed.jsonl: rotated (another file has the name): reading the new one from its start, and the old one while it grows"
    ), "{log:?}");
}

#[test]
fn a_file_rewritten_past_the_offset_is_read_again_from_its_start() {
    let d = temp_dir("copytruncate");
    let path = d.join("feed.jsonl");
    append(&path, &format!("{}\n{}\n", native(1), native(2)));
    let f = follow(&path, StartAt::Beginning);
    assert_eq!(f.pids(2), vec![1, 2]);
    f.wait_stats("read to the end", |s| s.lines == 2);
    // copytruncate, then the writer's next lines, longer than what was
    // read: the size alone cannot tell; the bytes before the offset can.
    let copy = std::fs::read(&path).unwrap();
    std::fs::write(d.join("feed.jsonl.1"), copy).unwrap();
    rewrite(
        &path,
        &format!("{}\n{}\n{}\n", native(13), native(14), native(15)),
    );
    assert_eq!(f.pids(3), vec![13, 14, 15]);
    let s = f.wait_stats("counted", |s| s.lines == 5);
    assert_eq!(
        (s.events, s.bad_lines, s.truncations, s.opened),
        (5, 0, 1, 2)
    );
    assert_eq!((s.reports[1].lines, s.reports[1].events), (3, 3));
    f.no_more_events();
    let log = f.log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].ends_with(
            "feed.jsonl: truncated (or rewritten from its start): reading it again from its start"
        ),
        "{log:?}"
    );
}

#[test]
fn copytruncate_and_truncation_to_a_smaller_size_lose_no_later_line() {
    let d = temp_dir("truncate-smaller");
    let path = d.join("feed.jsonl");
    let first = format!("{}\n", native(1));
    append(&path, &format!("{first}{}\n{}\n", native(2), native(3)));
    let f = follow(&path, StartAt::Beginning);
    assert_eq!(f.pids(3), vec![1, 2, 3]);
    // Cut back to its first line, then written on: the file is read
    // again from its start, what it holds now.
    let file = OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(first.len() as u64).unwrap();
    drop(file);
    f.wait_stats("truncated", |s| s.truncations == 1);
    append(&path, &format!("{}\n", native(4)));
    assert_eq!(f.pids(2), vec![1, 4]);
    // copytruncate: copied away, emptied, written on.
    std::fs::copy(&path, d.join("feed.jsonl.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.wait_stats("emptied", |s| s.truncations == 2);
    append(&path, &format!("{}\n", native(5)));
    assert_eq!(f.pids(1), vec![5]);
    let s = f.wait_stats("counted", |s| s.lines == 6);
    assert_eq!((s.events, s.bad_lines, s.opened, s.rotations), (6, 0, 3, 0));
    f.no_more_events();
    assert_eq!(f.log().len(), 2, "{:?}", f.log());
}
