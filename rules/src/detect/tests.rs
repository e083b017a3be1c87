//! The detector on hand-made windows: each threshold, gate and
//! exemption, and the batch semantics.

use super::*;
use crate::config::{parse, Config};
use model::Destination;
use std::net::IpAddr;

const MIN: u64 = 60_000_000;
const T0: u64 = 1_700_000_400_000_000;

struct W {
    host: &'static str,
    exe: &'static str,
    os: Option<&'static str>,
    start: u64,
}

fn window(w: W, dests: &[(&str, u16, Option<&str>, Dest)]) -> ProcessWindow {
    let mut pw = ProcessWindow::default();
    pw.host_name = w.host.to_string();
    pw.os = w.os;
    pw.executable = w.exe.to_string();
    pw.image = model::image::image_key(w.exe);
    pw.name = w
        .exe
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(w.exe)
        .to_string();
    pw.start = w.start;
    pw.end = w.start + 10 * MIN;
    pw.first_start = w.start + 1_000_000;
    pw.host_ips.insert("10.0.0.5".parse().unwrap());
    pw.pids.insert(4242);
    for (ip, port, domain, d) in dests {
        let ip: IpAddr = ip.parse().unwrap();
        let mut dest = Destination::default();
        dest.ip = Some(ip);
        dest.port = *port;
        dest.domain = domain.map(str::to_string);
        dest.traffic.connections = d.conns;
        dest.traffic.http_requests = d.reqs;
        dest.traffic.http_connections = if d.tls { 0 } else { d.conns };
        dest.traffic.tls_connections = if d.tls { d.conns } else { 0 };
        dest.traffic.tls_app_bytes_out = if d.tls { d.out } else { 0 };
        dest.traffic.tls_app_bytes_in = if d.tls { d.back } else { 0 };
        // TLS here is HTTPS unless the test says otherwise.
        let https = d.tls && d.https;
        dest.traffic.https_connections = if https { d.conns } else { 0 };
        dest.traffic.https_bytes_out = if https { d.out } else { 0 };
        dest.traffic.https_bytes_in = if https { d.back } else { 0 };
        // Responses carry about 150 bytes of head each.
        if !d.tls {
            dest.traffic.response_body_bytes = d.back.saturating_sub(d.reqs * 150);
        }
        dest.traffic.request_bytes = d.out;
        dest.traffic.response_bytes = d.back;
        dest.traffic.bytes_out = d.out;
        dest.traffic.bytes_in = d.back;
        dest.first_start = w.start;
        dest.flows = vec![model::window::FlowRef {
            start: w.start,
            community_id: format!("1:{ip}"),
            transport: model::flow::Transport::Tcp,
            client: ("10.0.0.5".parse().unwrap(), 50_000),
            server: (ip, *port),
            request_bytes: d.out / d.conns.max(1),
        }];
        dest.flows_unlisted = d.conns.saturating_sub(1);
        pw.traffic.add(&dest.traffic);
        pw.destinations.insert((ip, *port), dest);
    }
    pw
}

#[derive(Clone, Copy)]
struct Dest {
    conns: u64,
    reqs: u64,
    out: u64,
    back: u64,
    tls: bool,
    /// TLS carrying HTTP (ALPN, web port).
    https: bool,
}

fn tls(out: u64, back: u64) -> Dest {
    Dest {
        conns: 1,
        reqs: 0,
        out,
        back,
        tls: true,
        https: true,
    }
}

fn http(conns: u64, out: u64, back: u64) -> Dest {
    Dest {
        conns,
        reqs: conns,
        out,
        back,
        tls: false,
        https: false,
    }
}

fn detector(config: Config) -> Detector {
    let b = Baseline::new(config.baseline.clone());
    Detector::new(
        Policy::new(config),
        b,
        None,
        Mode {
            detect: true,
            learn: true,
        },
        600,
    )
}

fn run(d: &mut Detector, windows: Vec<ProcessWindow>) -> Vec<Alert> {
    let mut out = Vec::new();
    for w in windows {
        d.push(w);
    }
    d.flush(&mut |a| out.push(a)).unwrap();
    out
}

fn win(host: &'static str, exe: &'static str, start: u64) -> W {
    W {
        host,
        exe,
        os: Some("windows"),
        start,
    }
}

fn lin(host: &'static str, exe: &'static str, start: u64) -> W {
    W {
        host,
        exe,
        os: Some("linux"),
        start,
    }
}

const UPD: &str = r"C:\Users\a\AppData\Local\Temp\upd.exe";

#[test]
fn an0144_fires_over_the_role_threshold_for_an_unseen_image() {
    let mut d = detector(Config::default());
    let alerts = run(
        &mut d,
        vec![window(
            win("WS1", UPD, T0),
            &[
                (
                    "203.0.113.50",
                    443,
                    Some("sync.example.net"),
                    tls(412_000_000, 9000),
                ),
                (
                    "203.0.113.51",
                    443,
                    Some("cdn.example.net"),
                    tls(9_000_000, 9000),
                ),
            ],
        )],
    );
    assert_eq!(alerts.len(), 1, "one remote host is over the threshold");
    let a = &alerts[0];
    assert_eq!(a.rule, "AN0144");
    assert_eq!(a.destination.domain.as_deref(), Some("sync.example.net"));
    assert_eq!(a.destination.port, Some(443));
    assert_eq!(a.metrics.bytes_out, 412_000_000);
    assert_eq!(a.metrics.tls_connections, 1);
    assert_eq!(a.baseline.novelty, "never");
    assert_eq!(a.severity, "critical");
    assert_eq!(a.risk_score, 100);
    assert_eq!(a.timestamp, "2023-11-14T22:30:00.000000Z");
    assert_eq!(
        a.reasons,
        [
            r"C:\Users\a\AppData\Local\Temp\upd.exe had never been seen before on any host (the baseline holds no host yet)",
            "it sent 412 MB to 203.0.113.50 (sync.example.net) in 10 minutes, 41x its role's threshold of 10.0 MB",
            "over 1 TLS connection, counted from TLS application data; 9.00 KB came back (response ratio under 0.0001)",
        ]
    );
    assert_eq!(a.community_ids, ["1:203.0.113.50"]);
    assert_eq!(a.destinations.len(), 2);
    // Exactly at the threshold is not over it.
    let mut d = detector(Config::default());
    let alerts = run(
        &mut d,
        vec![window(
            win("WS1", UPD, T0),
            &[("203.0.113.50", 443, None, tls(10_000_000, 10))],
        )],
    );
    assert!(alerts.is_empty());
}

#[test]
fn an0144_needs_a_rare_image_a_windows_host_and_an_outside_server() {
    let mut d = detector(Config::default());
    // Eight hosts run the image in the first window: common from then on.
    let first: Vec<ProcessWindow> = ["A", "B", "C", "D", "E", "F", "G", "H"]
        .iter()
        .map(|h| {
            window(
                win(h, r"C:\Agent\sync.exe", T0),
                &[("198.51.100.9", 443, None, tls(1000, 10))],
            )
        })
        .collect();
    // Judged against an empty baseline, small traffic raises nothing.
    assert!(run(&mut d, first).is_empty());
    let later = T0 + 8 * 24 * 60 * MIN;
    let big = [("198.51.100.9", 443, None, tls(50_000_000, 10))];
    assert!(run(
        &mut d,
        vec![window(win("A", r"C:\Agent\sync.exe", later), &big)]
    )
    .is_empty());
    // A new image on a Linux host: not AN0144's platform...
    assert!(run(&mut d, vec![window(lin("l1", "/opt/x/up", later), &big)]).is_empty());
    // ...unless both rules run everywhere.
    let mut c = Config::default();
    c.rules.all_platforms = true;
    let mut d2 = detector(c);
    assert_eq!(
        run(&mut d2, vec![window(lin("l1", "/opt/x/up", later), &big)]).len(),
        1
    );
    // Inside home_net is not outbound.
    let inside = [("10.9.9.9", 443, None, tls(50_000_000, 10))];
    assert!(run(&mut d, vec![window(win("A", UPD, later), &inside)]).is_empty());
    // The platform comes from the path when the feed gives none.
    let mut w = window(win("A", r"C:\Temp\new.exe", later), &big);
    w.os = None;
    assert_eq!(run(&mut d, vec![w]).len(), 1);
}

#[test]
fn an0144_compares_with_the_images_own_history() {
    let mut d = detector(Config::default());
    let exe = r"C:\Program Files\Tool\report.exe";
    for i in 0..6 {
        let w = window(
            win("A", exe, T0 + i * 10 * MIN),
            &[("203.0.113.60", 443, None, tls(200_000, 10))],
        );
        run(&mut d, vec![w]);
    }
    let at = T0 + 60 * MIN;
    // One batch: 1.9 MB from host A (under the role's 10 MB and under 10x
    // the p99 of 200 KB), 5 MB from host B (25x the p99).
    let small = window(
        win("A", exe, at),
        &[("203.0.113.60", 443, None, tls(1_900_000, 10))],
    );
    let big = window(
        win("B", exe, at),
        &[("203.0.113.60", 443, None, tls(5_000_000, 10))],
    );
    let a = run(&mut d, vec![small, big]);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].host.name, "B");
    assert_eq!(a[0].baseline.p99_bytes_out, Some(200_000));
    assert_eq!(a[0].baseline.history_windows, 6);
    assert!(
        a[0].reasons[1].ends_with("25x its own p99 of 200 KB per window"),
        "{:?}",
        a[0].reasons
    );
    assert_eq!(a[0].baseline.novelty, "recent");
    assert!(
        a[0].reasons[0].starts_with(
            r"C:\Program Files\Tool\report.exe was first seen 60 minutes ago, on 1 of 1 host"
        ),
        "{}",
        a[0].reasons[0]
    );
}

#[test]
fn allowlists_exempt_processes_and_destinations() {
    let big = [(
        "203.0.113.50",
        443,
        Some("download.windowsupdate.com"),
        tls(50_000_000, 10),
    )];
    let other = [("203.0.113.51", 443, Some("x.example"), tls(50_000_000, 10))];
    let mut d = detector(Config::default());
    let chrome = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
    assert!(run(&mut d, vec![window(win("A", chrome, T0), &other)]).is_empty());
    assert!(run(&mut d, vec![window(win("A", UPD, T0), &big)]).is_empty());
    assert_eq!(d.summary.allowlisted_windows, 1);
    let c = parse(
        &format!(
            "[allowlist]\nsha256 = [\"{}\"]\ncidrs = [\"203.0.113.0/24\"]\n",
            "ab".repeat(32)
        ),
        "t",
    )
    .unwrap();
    let mut d = detector(c);
    assert!(run(&mut d, vec![window(win("A", UPD, T0), &other)]).is_empty());
    let mut w = window(
        win("A", UPD, T0),
        &[("198.51.100.1", 443, None, tls(50_000_000, 10))],
    );
    w.sha256 = Some("AB".repeat(32));
    assert!(run(&mut d, vec![w]).is_empty());
}

/// A JA4 allowlist exempts a window only when every one of its
/// connections came from a listed client stack.
#[test]
fn a_listed_ja4_exempts_a_window_whose_every_connection_gave_it() {
    const LISTED: &str = "t13d1516h2_8daaf6152771_e5627efa2ab1";
    const OTHER: &str = "q13i0311h3_55b375c5d22e_c183556c78e2";
    let c = parse(&format!("[allowlist]\nja4 = [\"{LISTED}\"]\n"), "t").unwrap();
    let dest = [
        ("198.51.100.1", 443, None, tls(50_000_000, 10)),
        ("198.51.100.2", 443, None, tls(1_000, 10)),
    ];
    let judged = |ja4: &[&str]| {
        let mut d = detector(c.clone());
        let mut w = window(win("A", UPD, T0), &dest);
        assert_eq!(w.traffic.connections, 2);
        for j in ja4 {
            w.add_ja4(j);
        }
        (run(&mut d, vec![w]).len(), d.summary.allowlisted_windows)
    };
    assert_eq!(judged(&[LISTED, LISTED]), (0, 1));
    // One connection gave no fingerprint, or another stack's.
    assert_eq!(judged(&[LISTED]), (1, 0));
    assert_eq!(judged(&[LISTED, OTHER]), (1, 0));
    // Without the list the same window alerts.
    let mut d = detector(Config::default());
    let mut w = window(win("A", UPD, T0), &dest);
    w.add_ja4(LISTED);
    w.add_ja4(LISTED);
    assert_eq!(run(&mut d, vec![w]).len(), 1);
    assert!(parse("[allowlist]\nja4 = [\"t13d\"]\n", "t")
        .unwrap_err()
        .to_string()
        .contains("is not a JA4 fingerprint"));
}

#[test]
fn an0145_custom_or_unseen_many_connections_little_back() {
    let beacon = [(
        "198.51.100.77",
        80,
        Some("c2.example.net"),
        http(300, 300 * 600, 300 * 80),
    )];
    let mut d = detector(Config::default());
    let a = run(
        &mut d,
        vec![window(lin("l1", "/tmp/.x/agent", T0), &beacon)],
    );
    assert_eq!(a.len(), 1);
    let a = &a[0];
    assert_eq!(a.rule, "AN0145");
    assert_eq!(a.metrics.http_connections, 300);
    assert_eq!(a.metrics.http_requests, 300);
    assert_eq!(a.metrics.mean_response_bytes, 80);
    assert_eq!(a.metrics.response_ratio, 0.133333);
    assert_eq!(a.destination.domain.as_deref(), Some("c2.example.net"));
    assert_eq!(
        a.reasons[0],
        "/tmp/.x/agent is a custom binary: its path matches /tmp/*"
    );
    assert_eq!(
        a.reasons[2],
        "it opened 300 HTTP connections (300 requests) to 1 remote host in 10 minutes, 6.0x its role's threshold of 50 connections or 200 requests"
    );
    assert_eq!(a.severity, "critical");
    // The window listed one of its 300 flows: the alert says so.
    assert_eq!(a.flows.len(), 1);
    assert_eq!(a.flows[0].community_id, "1:198.51.100.77");
    assert_eq!(a.flows[0].destination.port, 80);
    assert_eq!(a.flows_omitted, 299);

    let later = T0 + 8 * 24 * 60 * MIN;
    // Known and package-managed: silent.
    run(
        &mut d,
        vec![window(lin("l1", "/usr/sbin/agentd", T0), &beacon)],
    );
    assert!(run(
        &mut d,
        vec![window(lin("l1", "/usr/sbin/agentd", later), &beacon)]
    )
    .is_empty());
    // Custom but known is still custom.
    assert_eq!(
        run(
            &mut d,
            vec![window(lin("l1", "/tmp/.x/agent", later), &beacon)]
        )
        .len(),
        1
    );
    // Big responses: silent.
    let down = [(
        "198.51.100.77",
        80,
        None,
        http(300, 300 * 600, 300 * 100_000),
    )];
    assert!(run(&mut d, vec![window(lin("l1", "/tmp/y", later), &down)]).is_empty());
    // Responses of 2.5 KB, each over the per-request limit, but a quarter
    // of what was sent: the ratio alone is little back.
    let fat = [("198.51.100.77", 80, None, http(60, 60 * 10_000, 60 * 2_500))];
    let a = run(&mut d, vec![window(lin("l1", "/tmp/z", later), &fat)]);
    assert_eq!(a.len(), 1);
    assert!(
        a[0].reasons[3].contains(
            "response ratio 0.25 (at most 0.5) (low), 2.50 KB per request (at most 1.00 KB),"
        ),
        "{:?}",
        a[0].reasons
    );
    // A GET beacon: requests as small as the answers (ratio near 1), but
    // each answer a near-empty body: fires.
    let get = [("198.51.100.77", 80, None, http(120, 120 * 180, 120 * 190))];
    let a = run(&mut d, vec![window(lin("l1", "/tmp/g", later), &get)]);
    assert_eq!(a.len(), 1, "the GET beacon");
    assert!(a[0].reasons[3].contains("190 B per request (at most 1.00 KB) (low), 40 B of body per cleartext request (at most 256 B) (low)"), "{:?}", a[0].reasons);
    // Few connections, but many requests on them (keep-alive): fires.
    let mut keepalive = http(4, 250 * 600, 250 * 20);
    keepalive.reqs = 250;
    let a = run(
        &mut d,
        vec![window(
            lin("l1", "/tmp/k", later),
            &[("198.51.100.77", 80, None, keepalive)],
        )],
    );
    assert_eq!(a.len(), 1);
    // HTTPS counts by default; other TLS does not.
    let beacon_tls = |https| {
        [(
            "198.51.100.77",
            443,
            None,
            Dest {
                tls: true,
                https,
                ..http(300, 300 * 600, 300 * 80)
            },
        )]
    };
    let a = run(
        &mut d,
        vec![window(lin("l1", "/tmp/t", later), &beacon_tls(true))],
    );
    assert_eq!(a.len(), 1, "the HTTPS beacon");
    assert_eq!(a[0].metrics.http_connections, 300);
    assert_eq!(a[0].metrics.tls_connections, 300);
    assert!(run(
        &mut d,
        vec![window(lin("l1", "/tmp/u", later), &beacon_tls(false))]
    )
    .is_empty());
    // Windows hosts are AN0144's.
    assert!(run(
        &mut d,
        vec![window(win("w1", r"C:\Temp\b.exe", later), &beacon)]
    )
    .is_empty());
}

#[test]
fn roles_set_their_own_thresholds() {
    let c = parse(
        "[[roles]]\nname = \"servers\"\nhosts = [\"srv-*\"]\n[roles.an0145]\nmin_http_connections = 100\n",
        "t",
    )
    .unwrap();
    let mut d = detector(c);
    let sixty = [("198.51.100.77", 80, None, http(60, 60 * 600, 60 * 20))];
    let ws = run(&mut d, vec![window(lin("ws-1", "/tmp/h", T0), &sixty)]);
    assert_eq!(ws.len(), 1);
    assert_eq!(ws[0].host.role, "default");
    assert!(run(&mut d, vec![window(lin("SRV-1", "/tmp/h", T0), &sixty)]).is_empty());
}

#[test]
fn a_batch_is_judged_before_any_of_it_is_learned() {
    let big = [("203.0.113.50", 443, None, tls(50_000_000, 10))];
    let mut d = detector(Config::default());
    // Three hosts, same window: each is judged as never seen.
    let ws: Vec<ProcessWindow> = ["A", "B", "C"]
        .iter()
        .map(|h| window(win(h, UPD, T0), &big))
        .collect();
    let a = run(&mut d, ws);
    assert_eq!(a.len(), 3);
    assert!(a.iter().all(|a| a.baseline.novelty == "never"));
    let hosts: Vec<&str> = a.iter().map(|a| a.host.name.as_str()).collect();
    assert_eq!(hosts, ["A", "B", "C"]);
    assert_eq!(d.baseline.meta.batches, 1);
    assert_eq!(
        d.baseline
            .prevalence(&model::image::image_key(UPD), T0 + 20 * MIN, u64::MAX)
            .hosts,
        3
    );
    // The same window again (a late flow) does not alert twice.
    assert!(run(&mut d, vec![window(win("A", UPD, T0), &big)]).is_empty());
    assert_eq!(d.summary.duplicate_alerts, 1);
    // Without learning, nothing is folded.
    let mut c = detector(Config::default());
    c.mode.learn = false;
    run(&mut c, vec![window(win("A", UPD, T0), &big)]);
    assert!(c.baseline.images.is_empty());
}

#[test]
fn a_young_baseline_does_not_make_its_first_images_new() {
    const HOSTS: [&str; 40] = [
        "H00", "H01", "H02", "H03", "H04", "H05", "H06", "H07", "H08", "H09", "H10", "H11", "H12",
        "H13", "H14", "H15", "H16", "H17", "H18", "H19", "H20", "H21", "H22", "H23", "H24", "H25",
        "H26", "H27", "H28", "H29", "H30", "H31", "H32", "H33", "H34", "H35", "H36", "H37", "H38",
        "H39",
    ];
    const SYNC: &str = r"C:\Program Files\Sync\sync.exe";
    const LATE: &str = r"C:\Program Files\Late\late.exe";
    const DAY: u64 = 24 * 60 * MIN;
    let small = [("203.0.113.70", 443, None, tls(10_000, 10_000))];
    let upload = [("203.0.113.70", 443, None, tls(50_000_000, 10_000))];
    let mut d = detector(Config::default());
    // The baseline's first hour: the sync client on 30 of 40 hosts.
    let first: Vec<ProcessWindow> = HOSTS
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let exe = if i < 30 {
                SYNC
            } else {
                r"C:\Windows\explorer.exe"
            };
            window(win(h, exe, T0), &small)
        })
        .collect();
    run(&mut d, first);
    // Two days in, a new image on one host.
    run(&mut d, vec![window(win("H00", LATE, T0 + 2 * DAY), &small)]);
    // Four days in, both upload 50 MB.
    let a = run(
        &mut d,
        vec![
            window(win("H01", SYNC, T0 + 4 * DAY), &upload),
            window(win("H01", LATE, T0 + 4 * DAY), &upload),
        ],
    );
    // The sync client has been there as long as the baseline has watched:
    // not new, and common, so no alert.
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].process.executable, LATE);
    assert_eq!(a[0].baseline.novelty, "recent");
    assert!(
        a[0].reasons[0].ends_with("so far; the baseline has watched for 4 days"),
        "{}",
        a[0].reasons[0]
    );
}

#[test]
fn an0145_keeps_a_custom_agent_quiet_while_it_behaves_as_its_history() {
    let mut d = detector(Config::default());
    const AGENT: &str = "/srv/corp/inventory-agent";
    let poll = |conns: u64| {
        [(
            "198.51.100.90",
            443,
            None,
            Dest {
                tls: true,
                https: true,
                ..http(conns, conns * 400, conns * 300)
            },
        )]
    };
    // Six windows of history on three hosts: 60 to 80 HTTPS polls each.
    for i in 0..6u64 {
        let hosts = ["srv-a", "srv-b", "srv-c"];
        let ws = hosts
            .iter()
            .map(|h| window(lin(h, AGENT, T0 + i * 10 * MIN), &poll(60 + i * 4)))
            .collect();
        run(&mut d, ws);
    }
    let later = T0 + 8 * 24 * 60 * MIN;
    // As it always polls: quiet, though custom and with little back.
    assert!(run(&mut d, vec![window(lin("srv-a", AGENT, later), &poll(80))]).is_empty());
    // Three times its own p99: alerts, as custom.
    let a = run(&mut d, vec![window(lin("srv-b", AGENT, later), &poll(240))]);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].rule, "AN0145");
    assert!(
        a[0].reasons[0].starts_with("/srv/corp/inventory-agent is a custom binary"),
        "{:?}",
        a[0].reasons
    );
}

#[test]
fn an_alert_lists_its_flows_up_to_the_cap_and_counts_the_rest() {
    let flow = |i: u64| model::window::FlowRef {
        start: T0 + i,
        community_id: format!("1:{i:04}"),
        transport: model::flow::Transport::Tcp,
        client: ("10.0.0.5".parse().unwrap(), 40_000 + i as u16),
        server: ("198.51.100.1".parse().unwrap(), 443),
        request_bytes: 100,
    };
    let (even, odd): (Vec<_>, Vec<_>) = (0..10).map(flow).partition(|f| f.start % 2 == 0);
    let mut a = super::subject::RemoteHost::default();
    let mut b = super::subject::RemoteHost::default();
    // Two remote hosts, their flows interleaved in time (listed latest
    // first, as a window may), one unlisted.
    a.flows = even.iter().rev().collect();
    b.flows = odd.iter().collect();
    b.flows_unlisted = 1;
    let (listed, omitted) = super::subject::flows_of([&a, &b], 4);
    let ids: Vec<&str> = listed.iter().map(|f| f.community_id.as_str()).collect();
    assert_eq!(ids, ["1:0000", "1:0001", "1:0002", "1:0003"]);
    assert_eq!(omitted, 7, "6 past the cap and 1 the window did not list");
    assert_eq!(listed[1].source.port, 40_001);
    let (all, none) = super::subject::flows_of([&a, &b], 1000);
    assert_eq!((all.len(), none), (10, 1));
}
