//! The fleet: several sensors and one shared baseline on a real
//! PostgreSQL server (started by the test on a free port). Three sensors
//! read three parts of the generated detection scenario, split by a
//! symmetric hash of the host pair as a packet broker spreads a link, and
//! together build the prevalence one sensor builds from the whole: the
//! same images, host sets and first sightings, and the same alerts. A
//! server killed in the middle of a fold loses nothing and folds nothing
//! twice.
#![allow(clippy::indexing_slicing)]

mod common;

use common::nats::Nats;
use common::postgres::Postgres;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SENSORS: usize = 3;

/// The scenario at 1 % of its bulk volumes, with each capture also split
/// into three parts; written once per run of this test binary.
fn scenario() -> &'static Path {
    static S: OnceLock<PathBuf> = OnceLock::new();
    S.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fleet-scenario");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scenario dir");
        pcapgen::detection::write(&dir, 0.01).expect("scenario written");
        for name in ["history", "detection"] {
            let whole = std::fs::read(dir.join(format!("{name}.pcap"))).expect("capture");
            let parts = pcapgen::split::by_host_pair(&whole, SENSORS);
            for (i, p) in parts.iter().enumerate() {
                std::fs::write(dir.join(format!("{name}.{}.pcap", i + 1)), p).expect("part");
            }
        }
        dir
    })
}

fn file(name: &str) -> String {
    scenario().join(name).display().to_string()
}

/// A configuration: the scenario's, with AN0144's volume thresholds at
/// the scenario's scale (1 %) and the shared baseline's retry settings
/// made short for the test.
fn config(name: &str, retry: &str) -> String {
    let text = std::fs::read_to_string(scenario().join("config.toml")).expect("config");
    let text = format!(
        "{text}\n[thresholds.an0144]\nmin_bytes_out = 100000\nhistory_floor_bytes = 10000\n"
    );
    let text = text.replacen("[baseline]", &format!("[baseline]\n{retry}"), 1);
    let text = if text.contains("[baseline]") {
        text
    } else {
        format!("{text}\n[baseline]\n{retry}\n")
    };
    let p = scenario().join(name);
    std::fs::write(&p, text).expect("config written");
    p.display().to_string()
}

/// `procflow learn` (or `read`, alerts to `alerts`) of one capture.
fn sensor(
    cmd: &str,
    pcap: &str,
    feed: &str,
    baseline: &str,
    cfg: &str,
    alerts: Option<&Path>,
) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_procflow"));
    // A feed is a file of the scenario, or a NATS server's relayed events.
    let feed = if feed.starts_with("nats://") {
        feed.to_string()
    } else {
        file(feed)
    };
    c.args([cmd, &file(pcap), "--feed", &feed]).args([
        "--baseline",
        baseline,
        "--config",
        cfg,
        "--no-progress",
    ]);
    if let Some(a) = alerts {
        c.args(["--learn", "--alerts", &a.display().to_string()]);
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn finish(child: Child) -> Output {
    let out = child.wait_with_output().expect("procflow ends");
    assert!(
        out.status.success(),
        "procflow failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The three sensors at once, each on its part.
fn fleet(
    cmd: &str,
    name: &str,
    feed: &str,
    baseline: &str,
    cfg: &str,
    alerts: &Path,
) -> Vec<Output> {
    let children: Vec<Child> = (1..=SENSORS)
        .map(|i| {
            let a = (cmd == "read").then(|| alerts.join(format!("{i}.jsonl")));
            sensor(
                cmd,
                &format!("{name}.{i}.pcap"),
                feed,
                baseline,
                cfg,
                a.as_deref(),
            )
            .args(["--sensor-name", &format!("tap-{i}")])
            .args(publish(cmd, feed, alerts, i))
            .spawn()
            .expect("sensor starts")
        })
        .collect();
    children.into_iter().map(finish).collect()
}

/// Image, executable, first and last sighting, windows; and every
/// (image, host, first, last) sighting; from the SQLite file.
fn sqlite_prevalence(db: &Path) -> (Vec<String>, Vec<String>) {
    let c = rusqlite::Connection::open(db).expect("open baseline");
    let rows = |sql: &str| -> Vec<String> {
        let mut q = c.prepare(sql).expect("query");
        let n = q.column_count();
        let v: Vec<String> = q
            .query_map([], |r| {
                (0..n)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i).map(|v| match v {
                            rusqlite::types::Value::Integer(i) => i.to_string(),
                            rusqlite::types::Value::Text(t) => t,
                            other => format!("{other:?}"),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|c| c.join("|"))
            })
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        v
    };
    (rows(IMAGES), rows(SIGHTINGS))
}

const IMAGES: &str = "SELECT image, executable, first_seen, last_seen, (SELECT count(*) FROM image_hosts h WHERE h.image = i.image) FROM images i ORDER BY image";
const SIGHTINGS: &str =
    "SELECT image, host, first_seen, last_seen FROM image_hosts ORDER BY image, host";
const HOSTS: &str = "SELECT host, name, role, first_seen, last_seen FROM hosts ORDER BY host";

/// Alerts as (rule, host, executable, destination, port, window start).
fn alert_set(files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let a: Value = serde_json::from_str(l).expect("alert line");
                    format!(
                        "{} {} {} {} {} {}",
                        a["rule"],
                        a["host"]["name"],
                        a["process"]["executable"],
                        a["destination"]["ip"],
                        a["destination"]["port"],
                        a["window"]["start"]
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Three sensors on three parts build, in PostgreSQL, the prevalence one
/// sensor builds from the whole capture in its SQLite file, and raise the
/// same alerts.
#[test]
fn three_sensors_build_what_one_sensor_builds() {
    let Some(pg) = Postgres::start("fleet") else {
        return;
    };
    let Some(nats) = Nats::start("fleet") else {
        return;
    };
    pg.createdb("fleet");
    let shared = pg.url("fleet");
    let cfg = config("fleet.toml", "retry_secs = 1");
    let out = scenario().join("out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("out dir");
    let single = out.join("single.db");
    relay(&nats, &out, "history.feed.jsonl");

    // One sensor, the whole capture, its own file.
    let learn = sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &single.display().to_string(),
        &cfg,
        None,
    );
    finish(learn_spawn(learn));
    // The endpoints' socket events reach every sensor through NATS: a
    // relay publishes the feeds, each sensor reads them all.
    let bus = nats.url();
    let fleet_learn = fleet("learn", "history", &bus, &shared, &cfg, &out);
    for o in &fleet_learn {
        let e = stderr(o);
        assert!(e.contains("procflow: shared baseline: "), "{e}");
        assert!(
            e.contains("0 outages; 0 windows still queued, 0 dropped"),
            "{e}"
        );
    }
    let (images, sightings) = sqlite_prevalence(&single);
    assert_eq!(images.len(), 7, "{images:?}");
    assert_eq!(
        pg.query("fleet", IMAGES),
        images,
        "images after the history"
    );
    assert_eq!(pg.query("fleet", SIGHTINGS), sightings);

    // The new traffic, judged and learned.
    let single_alerts = out.join("single.jsonl");
    finish(learn_spawn(sensor(
        "read",
        "detection.pcap",
        "detection.feed.jsonl",
        &single.display().to_string(),
        &cfg,
        Some(&single_alerts),
    )));
    relay(&nats, &out, "detection.feed.jsonl");
    fleet("read", "detection", &bus, &shared, &cfg, &out);
    let fleet_alerts: Vec<PathBuf> = (1..=SENSORS)
        .map(|i| out.join(format!("{i}.jsonl")))
        .collect();
    for (i, f) in fleet_alerts.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for l in text.lines() {
            let a: Value = serde_json::from_str(l).expect("alert");
            let name = format!("tap-{}", i + 1);
            assert_eq!(
                a["observer"]["name"],
                name.as_str(),
                "each alert names its sensor"
            );
        }
    }
    let want = alert_set(&[single_alerts]);
    // The alerts on the bus are the fleet's, each from its sensor.
    let server = transport::Server::parse(&bus).expect("url");
    let on_bus =
        transport::consume::all(&server, "PROCFLOW", Some("procflow.alerts.>")).expect("alerts");
    let bus_file = out.join("bus-alerts.jsonl");
    let mut text = String::new();
    for m in &on_bus {
        let a: Value = serde_json::from_slice(&m.payload).expect("alert");
        assert_eq!(m.sensor.as_deref(), a["observer"]["name"].as_str());
        assert_eq!(
            m.subject,
            format!(
                "procflow.alerts.{}",
                a["observer"]["name"].as_str().unwrap_or("")
            )
        );
        text.push_str(&String::from_utf8_lossy(&m.payload));
        text.push('\n');
    }
    std::fs::write(&bus_file, text).expect("bus alerts");
    assert_eq!(alert_set(&[bus_file]), want, "the alerts on the bus");
    let who: Vec<String> = want
        .iter()
        .map(|a| a.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        who,
        [
            r#""AN0144" "WIN03""#,
            r#""AN0144" "WIN05""#,
            r#""AN0144" "WIN09""#,
            r#""AN0145" "lnx03""#
        ],
        "{want:#?}"
    );
    assert_eq!(alert_set(&fleet_alerts), want);
    let (images, sightings) = sqlite_prevalence(&single);
    assert_eq!(
        pg.query("fleet", IMAGES),
        images,
        "images after the new traffic"
    );
    assert_eq!(pg.query("fleet", SIGHTINGS), sightings);
    let hosts: Vec<String> = {
        let c = rusqlite::Connection::open(&single).expect("open");
        let mut q = c.prepare(HOSTS).expect("query");
        let v = q
            .query_map([], |r| {
                Ok(format!(
                    "{}|{}|{}|{}|{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?
                ))
            })
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        v
    };
    assert_eq!(pg.query("fleet", HOSTS), hosts);
    // Every batch of every sensor folded once.
    let folds = pg.query(
        "fleet",
        "SELECT count(*), count(DISTINCT writer), sum(windows) FROM folds",
    );
    let windows: u64 = pg.query(
        "fleet",
        "SELECT value FROM meta WHERE key = 'windows_folded'",
    )[0]
    .parse()
    .expect("number");
    let parts: Vec<&str> = folds[0].split('|').collect();
    assert_eq!(parts[1], "6", "three learns and three reads");
    assert_eq!(parts[2].parse::<u64>().expect("sum"), windows);
}

/// Sensors that judge publish their records, windows and alerts to the
/// NATS server their events come from, each through its own spool.
fn publish(cmd: &str, feed: &str, out: &Path, i: usize) -> Vec<String> {
    if cmd != "read" || !feed.starts_with("nats://") {
        return Vec::new();
    }
    let spool = out.join(format!("spool-{i}")).display().to_string();
    ["--publish", feed, "--publish-spool", &spool]
        .map(str::to_string)
        .to_vec()
}

/// `procflow relay` of one feed of the scenario to the NATS server.
fn relay(nats: &Nats, out: &Path, feed: &str) {
    let o = Command::new(env!("CARGO_BIN_EXE_procflow"))
        .args(["relay", "--feed", &file(feed), "--publish", &nats.url()])
        .args([
            "--publish-spool",
            &out.join("relay-spool").display().to_string(),
        ])
        .output()
        .expect("relay runs");
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{e}");
    assert!(e.contains(", 0 outages;"), "{e}");
}

/// `learn` of the whole history into database `db` of `pg`.
fn learn_history(pg: &Postgres, db: &str, cfg: &str) {
    finish(learn_spawn(sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &pg.url(db),
        cfg,
        None,
    )));
}

fn learn_spawn(mut c: Command) -> Child {
    c.spawn().expect("procflow starts")
}

/// The server killed while a sensor's fold is written and not committed:
/// the sensor says so, goes on, and folds everything in once the server
/// is back; the result equals a run without the fault, window for window.
#[test]
fn a_server_killed_mid_fold_loses_nothing_and_doubles_nothing() {
    let Some(pg) = Postgres::start("kill") else {
        return;
    };
    pg.createdb("calm");
    pg.createdb("killed");
    let cfg = config("kill.toml", "retry_secs = 1\nfinal_wait_secs = 120");
    learn_history(&pg, "calm", &cfg);

    let mut c = sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &pg.url("killed"),
        &cfg,
        None,
    );
    c.env("PROCFLOW_FAILPOINT", "baseline-commit:3");
    let mut child = c.spawn().expect("sensor starts");
    let _ = child.stdout.take();
    let (rx, reader) = common::stderr_lines(&mut child);
    // Wait for the third batch to be written and held open.
    common::wait_for_line(
        &rx,
        "failpoint baseline-commit reached",
        Duration::from_secs(60),
    );
    pg.kill();
    std::thread::sleep(Duration::from_secs(2));
    pg.up();
    let status = child.wait().expect("sensor ends");
    let e = reader.join().expect("stderr read");
    assert!(status.success(), "{e}");
    assert!(e.contains("judging on the copy last read"), "{e}");
    assert!(e.contains("answering again after"), "{e}");
    assert!(e.contains("1 outages; 0 windows still queued"), "{e}");
    let all = "SELECT image, executable, first_seen, last_seen, windows FROM images ORDER BY image";
    assert_eq!(pg.query("killed", all), pg.query("calm", all));
    assert_eq!(pg.query("killed", SIGHTINGS), pg.query("calm", SIGHTINGS));
    let vol = "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes ORDER BY image, role";
    assert_eq!(pg.query("killed", vol), pg.query("calm", vol));
    // The half-written batch was rolled back whole and sent again: the
    // counts and histograms above would be off by its windows otherwise.
    let meta = "SELECT key, value FROM meta ORDER BY key";
    assert_eq!(pg.query("killed", meta), pg.query("calm", meta));
    let sent = "SELECT sum(windows) FROM folds";
    assert_eq!(pg.query("killed", sent), pg.query("calm", sent));
}

/// A fold whose COMMIT answer is lost is sent again and found already
/// folded: nothing is folded twice.
#[test]
fn a_fold_sent_twice_is_folded_once() {
    let Some(pg) = Postgres::start("twice") else {
        return;
    };
    pg.createdb("calm");
    pg.createdb("twice");
    let cfg = config("twice.toml", "retry_secs = 1");
    learn_history(&pg, "calm", &cfg);
    let mut c = sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &pg.url("twice"),
        &cfg,
        None,
    );
    c.env("PROCFLOW_FAILPOINT", "baseline-answer-lost:2");
    let out = finish(learn_spawn(c));
    let e = stderr(&out);
    assert!(e.contains("the answer to COMMIT was lost"), "{e}");
    assert!(
        e.contains("1 batches found already folded; 1 outages; 0 windows still queued"),
        "{e}"
    );
    for sql in [
        "SELECT image, executable, first_seen, last_seen, windows FROM images ORDER BY image",
        "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes ORDER BY image, role",
        "SELECT key, value FROM meta ORDER BY key",
    ] {
        assert_eq!(pg.query("twice", sql), pg.query("calm", sql), "{sql}");
    }
}

/// A server that takes only TLS: a sensor given its CA folds over TLS; one
/// without TLS, or trusting another CA, is refused with one line.
#[test]
fn the_shared_baseline_over_tls() {
    let Some(pg) = Postgres::start("tls") else {
        return;
    };
    if common::which("openssl").is_none() {
        assert!(
            std::env::var_os("PROCFLOW_REQUIRE_TOOLS").is_none(),
            "openssl is required"
        );
        eprintln!("fleet: skipped: openssl missing");
        return;
    }
    pg.createdb("base");
    let certs = scenario().join("certs");
    let _ = std::fs::remove_dir_all(&certs);
    std::fs::create_dir_all(&certs).expect("certs");
    common::certs::certificates(&certs);
    pg.require_tls(&certs);
    let cfg = config("tls.toml", "retry_secs = 1");
    let ca = certs.join("ca.pem").display().to_string();
    let run = |url: &str| {
        sensor(
            "learn",
            "history.pcap",
            "history.feed.jsonl",
            url,
            &cfg,
            None,
        )
        .output()
        .expect("runs")
    };
    let over_tls = format!("{}?sslmode=verify-full&sslrootcert={ca}", pg.url("base"));
    let out = run(&over_tls);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("0 outages; 0 windows still queued"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pg.query("base", "SELECT count(*) FROM images"), ["7"]);
    // Without TLS the server refuses (pg_hba: hostssl only).
    let out = run(&pg.url("base"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
    // Trusting the client certificate's own key as a CA: not the server's.
    let wrong = format!(
        "{}?sslmode=require&sslrootcert={}",
        pg.url("base"),
        certs.join("client.pem").display()
    );
    let out = run(&wrong);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));
    // `require` without a CA is refused before anything is sent.
    let out = run(&format!("{}?sslmode=require", pg.url("base")));
    assert!(
        stderr(&out).contains("give the server's CA as sslrootcert=PEM"),
        "{}",
        stderr(&out)
    );
}

/// A sensor that starts while the server is away judges on the copy its
/// last run left (`[baseline] cache`), queues its windows, and folds them
/// in once the server answers: the same alerts and the same baseline as
/// a sensor that found the server there.
#[test]
fn a_sensor_starts_on_its_cached_copy_while_the_server_is_away() {
    let Some(pg) = Postgres::start("cache") else {
        return;
    };
    pg.createdb("calm");
    pg.createdb("away");
    let out = scenario().join("cache-out");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("out");
    let copy = out.join("copy.db");
    let cfg = config(
        "cache.toml",
        &format!(
            "retry_secs = 1\nfinal_wait_secs = 120\ncache = {:?}",
            copy.display().to_string()
        ),
    );
    for db in ["calm", "away"] {
        learn_history(&pg, db, &cfg);
    }
    assert!(copy.exists(), "the run left its copy");
    let calm_alerts = out.join("calm.jsonl");
    finish(learn_spawn(sensor(
        "read",
        "detection.pcap",
        "detection.feed.jsonl",
        &pg.url("calm"),
        &cfg,
        Some(&calm_alerts),
    )));
    pg.kill();
    let away_alerts = out.join("away.jsonl");
    let mut child = sensor(
        "read",
        "detection.pcap",
        "detection.feed.jsonl",
        &pg.url("away"),
        &cfg,
        Some(&away_alerts),
    )
    .spawn()
    .expect("sensor starts");
    let (rx, reader) = common::stderr_lines(&mut child);
    common::wait_for_line(&rx, "judging on the cached copy", Duration::from_secs(60));
    pg.up();
    let status = child.wait().expect("sensor ends");
    let e = reader.join().expect("stderr");
    assert!(status.success(), "{e}");
    assert!(e.contains("answering again after"), "{e}");
    assert!(e.contains("1 outages; 0 windows still queued"), "{e}");
    let calm = alert_set(&[calm_alerts]);
    assert_eq!(calm.len(), 4, "{calm:#?}");
    assert_eq!(alert_set(&[away_alerts]), calm);
    for sql in [
        "SELECT image, executable, first_seen, last_seen, windows FROM images ORDER BY image",
        SIGHTINGS,
        "SELECT image, role, dest_bytes_out, window_bytes_out, http_connections, response_ratio_milli FROM volumes ORDER BY image, role",
    ] {
        assert_eq!(pg.query("away", sql), pg.query("calm", sql), "{sql}");
    }
}

/// A server that takes the TCP connection and never answers: the sensor
/// says so within seconds instead of hanging.
#[test]
fn a_server_that_never_answers_does_not_hang_the_sensor() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming().map_while(Result::ok) {
            held.push(c);
        }
    });
    let cfg = config("silent.toml", "retry_secs = 1");
    let url = format!("postgres://postgres@127.0.0.1:{port}/base");
    let started = Instant::now();
    let mut child = sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &url,
        &cfg,
        None,
    )
    .spawn()
    .expect("runs");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("the sensor hung on a silent server");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let e = stderr(&out);
    assert!(!status.success());
    assert!(e.contains("cannot connect: no answer within 6 s"), "{e}");
}

/// A sensor that only judges reads the shared baseline and writes
/// nothing; a database with no baseline yet is said to be empty.
#[test]
fn a_judging_sensor_reads_and_writes_nothing() {
    let Some(pg) = Postgres::start("readonly") else {
        return;
    };
    pg.createdb("base");
    let cfg = config("readonly.toml", "retry_secs = 1");
    let mut c = sensor(
        "read",
        "detection.pcap",
        "detection.feed.jsonl",
        &pg.url("base"),
        &cfg,
        None,
    );
    c.arg("--no-learn");
    let out = c.output().expect("runs");
    let e = stderr(&out);
    assert!(out.status.success(), "{e}");
    assert!(e.contains("is missing (not created: nothing is learned): every process counts as previously unseen"), "{e}");
    let tables = pg.query(
        "base",
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
    );
    assert_eq!(tables, ["0"]);

    let url = format!("postgres://postgres:hunter2@127.0.0.1:{}/nowhere", pg.port);
    let mut c = sensor(
        "learn",
        "history.pcap",
        "history.feed.jsonl",
        &url,
        &cfg,
        None,
    );
    let out = c.output().expect("runs");
    let e = stderr(&out);
    assert!(!out.status.success());
    assert!(!e.contains("hunter2"), "the password is never shown: {e}");
    assert!(e.contains("baseline postgres://postgres@127.0.0.1:"), "{e}");
    assert!(e.contains("cannot connect"), "{e}");
    assert!(e.contains("\"nowhere\" does not exist"), "{e}");
}
