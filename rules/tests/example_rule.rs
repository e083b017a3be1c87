//! Adding a rule through the public API, as a new rule file does: EX0001,
//! "a process window with more than `max_connections` connections", with
//! its own `[thresholds.ex0001]` table, registered after the built-in
//! rules and run by the detector.

use model::Destination;
use model::ProcessWindow;
use rules::config::{parse_with, Config};
use rules::detect::build::skeleton;
use rules::detect::subject::Subject;
use rules::detect::{Context, Registry, Rule};
use rules::{Alert, Baseline, Detector, Mode, Policy};
use serde::{Deserialize, Serialize};

/// EX0001: a process window with many connections.
struct Ex0001;

/// `[thresholds.ex0001]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct Ex0001Thresholds {
    /// More connections than this in one window raise an alert.
    max_connections: u64,
}

impl Default for Ex0001Thresholds {
    fn default() -> Self {
        Ex0001Thresholds {
            max_connections: 100,
        }
    }
}

impl Rule for Ex0001 {
    type Thresholds = Ex0001Thresholds;

    fn id(&self) -> &'static str {
        "EX0001"
    }

    fn applies(&self, _: &Subject, _: &Policy) -> bool {
        true
    }

    fn judge(&self, s: &Subject, t: &Ex0001Thresholds, _: &Context, out: &mut Vec<Alert>) {
        let conns: u64 = s.remote.iter().map(|r| r.traffic.connections).sum();
        let Some(top) = s.remote.first() else { return };
        if conns <= t.max_connections {
            return;
        }
        let mut a = skeleton(
            s,
            "EX0001",
            "A process with many connections",
            top,
            None,
            None,
        );
        a.metrics.connections = conns;
        a.reasons.push(format!(
            "it opened {conns} connections, more than {}",
            t.max_connections
        ));
        out.push(a);
    }
}

fn registry() -> Registry {
    Registry::builtin().with(Ex0001)
}

const T0: u64 = 1_700_000_400_000_000;

/// A Linux window of `/usr/bin/fetcher` on `host` with `conns` plain
/// connections to one outside server (too few for AN0145).
fn window(host: &str, conns: u64) -> ProcessWindow {
    let mut w = ProcessWindow::default();
    w.host_name = host.to_string();
    w.os = Some("linux");
    w.executable = "/usr/bin/fetcher".to_string();
    w.image = model::image::image_key(&w.executable);
    w.name = "fetcher".to_string();
    w.start = T0;
    w.end = T0 + 600_000_000;
    w.host_ips.insert("10.0.0.5".parse().expect("an address"));
    let ip = "198.51.100.7".parse().expect("an address");
    let mut d = Destination::default();
    d.ip = Some(ip);
    d.port = 8080;
    d.traffic.connections = conns;
    d.traffic.http_connections = conns;
    d.traffic.http_requests = conns;
    d.traffic.request_bytes = 100 * conns;
    d.traffic.response_bytes = 50 * conns;
    w.traffic.add(&d.traffic);
    w.destinations.insert((ip, 8080), d);
    w
}

fn run(config: Config, windows: Vec<ProcessWindow>) -> (Vec<Alert>, Detector) {
    let mut d = Detector::new(
        Policy::with_rules(config, registry()),
        Baseline::new(Default::default()),
        None,
        Mode {
            detect: true,
            learn: false,
        },
        600,
    );
    for w in windows {
        d.push(w);
    }
    let mut alerts = Vec::new();
    d.flush(&mut |a| alerts.push(a)).expect("no baseline file");
    (alerts, d)
}

fn config(text: &str) -> Config {
    parse_with(text, "ex.toml", &registry()).expect("a good configuration")
}

#[test]
fn its_thresholds_table_is_read_from_the_configuration() {
    let c = config("[thresholds.ex0001]\nmax_connections = 3\n");
    assert_eq!(
        c.thresholds.get::<Ex0001Thresholds>("ex0001"),
        Some(&Ex0001Thresholds { max_connections: 3 })
    );
    assert_eq!(c.rules.enabled.get("ex0001"), Some(&true));
    // Left out, the table takes the rule's defaults.
    let c = config("");
    assert_eq!(
        c.thresholds.get::<Ex0001Thresholds>("ex0001"),
        Some(&Ex0001Thresholds::default())
    );
    assert_eq!(c, Config::for_rules(&registry()));
}

#[test]
fn the_detector_runs_it_after_the_builtin_rules() {
    let (alerts, d) = run(
        config("[thresholds.ex0001]\nmax_connections = 3\n"),
        vec![window("ws-1", 5), window("ws-2", 3)],
    );
    assert_eq!(alerts.len(), 1);
    let a = &alerts[0];
    assert_eq!(a.rule, "EX0001");
    assert_eq!(a.host.name, "ws-1");
    assert_eq!(a.host.role, "default");
    assert_eq!(a.metrics.connections, 5);
    assert_eq!(a.destination.ip, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(a.reasons, ["it opened 5 connections, more than 3"]);
    let by_rule: Vec<(&str, u64)> = d.summary.alerts_by_rule().collect();
    assert_eq!(by_rule, [("AN0144", 0), ("AN0145", 0), ("EX0001", 1)]);
}

#[test]
fn roles_and_the_rules_table_apply_to_it() {
    let text = "[thresholds.ex0001]\nmax_connections = 3\n\
                [[roles]]\nname = \"servers\"\nhosts = [\"srv-*\"]\n[roles.ex0001]\nmax_connections = 10\n";
    let (alerts, _) = run(config(text), vec![window("srv-1", 5), window("ws-1", 5)]);
    let hosts: Vec<&str> = alerts.iter().map(|a| a.host.name.as_str()).collect();
    assert_eq!(hosts, ["ws-1"]);
    let (alerts, _) = run(
        config("[rules]\nex0001 = false\n[thresholds.ex0001]\nmax_connections = 3\n"),
        vec![window("ws-1", 5)],
    );
    assert!(alerts.is_empty());
}

#[test]
fn its_configuration_errors_name_the_key_and_the_line() {
    let err = |text: &str| {
        parse_with(text, "ex.toml", &registry())
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        err("[thresholds.ex0001]\nmax_conections = 3\n"),
        "ex.toml:2: thresholds.ex0001.max_conections: unknown field `max_conections`, expected `max_connections`"
    );
    assert_eq!(
        err("[thresholds.ex0001]\nmax_connections = -3\n"),
        "ex.toml:2: thresholds.ex0001.max_connections: invalid value: integer `-3`, expected u64"
    );
    assert_eq!(
        err("[[roles]]\nname = \"r\"\nhosts = [\"h\"]\nex0001 = 7\n"),
        "ex.toml:4: roles.ex0001: invalid type: integer `7`, expected struct Ex0001Overrides"
    );
    assert_eq!(
        err("[thresholds.ex0002]\n"),
        "ex.toml:1: thresholds.ex0002: unknown field `ex0002`, expected one of `an0144`, `an0145`, `ex0001`"
    );
    // Without the rule registered, its table is an unknown one.
    assert_eq!(
        rules::config::parse("[thresholds.ex0001]\n", "ex.toml")
            .unwrap_err()
            .to_string(),
        "ex.toml:1: thresholds.ex0001: unknown field `ex0001`, expected `an0144` or `an0145`"
    );
}

#[test]
#[should_panic(expected = "rule id AN0144 is taken")]
fn an_id_is_registered_once() {
    let _ = Registry::builtin().with(rules::detect::an0144::An0144);
}
