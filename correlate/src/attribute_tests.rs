//! Matching rules, one at a time.

use super::*;
use crate::config::AttributionConfig;
use crate::event::{EventKind, Os, Process, SocketEvent, Transport};

const T: u64 = 1_700_000_000_000_000;
const S: u64 = 1_000_000;

fn ep(s: &str) -> (IpAddr, u16) {
    let a: std::net::SocketAddr = s.parse().expect("addr");
    (a.ip(), a.port())
}

fn proc_(pid: u32, exe: &str) -> Arc<Process> {
    Arc::new(Process {
        pid: Some(pid),
        executable: Some(exe.to_string()),
        ..Process::default()
    })
}

fn ev(
    ts: u64,
    host: &str,
    kind: EventKind,
    local: Option<&str>,
    remote: &str,
    p: Arc<Process>,
) -> SocketEvent {
    let l = local.map(ep);
    SocketEvent {
        ts,
        host: host.to_string(),
        host_ip: None,
        os: Some(Os::Linux),
        kind,
        proto: Some(Transport::Tcp),
        local_ip: l.map(|x| x.0),
        local_port: l.map(|x| x.1),
        remote_ip: ep(remote).0,
        remote_port: ep(remote).1,
        process: p,
    }
}

fn flow(client: &str, server: &str, start: u64, end: u64) -> FlowKeyTime {
    FlowKeyTime {
        proto: Transport::Tcp,
        client: ep(client),
        server: ep(server),
        start,
        end,
        midstream: false,
    }
}

fn index() -> SocketIndex {
    SocketIndex::new(AttributionConfig::default())
}

fn pid(a: &Attribution) -> Option<u32> {
    a.client.as_ref().and_then(|s| s.process.pid)
}

fn quality(a: &Attribution) -> Quality {
    a.client.as_ref().map_or(Quality::None, |s| s.quality)
}

#[test]
fn exact_within_tolerance_only() {
    let mut ix = index();
    let p = proc_(10, "/usr/bin/curl");
    ix.insert(
        ev(
            T + S,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            p,
        ),
        0,
    );
    let f = |start| flow("10.0.0.1:5000", "1.2.3.4:80", start, start + S);
    assert_eq!(quality(&ix.attribute(&f(T))), Quality::Exact, "1 s apart");
    assert_eq!(
        quality(&ix.attribute(&f(T - S))),
        Quality::Exact,
        "2 s apart"
    );
    assert_eq!(
        quality(&ix.attribute(&f(T - 10 * S))),
        Quality::TimeWindow,
        "event 11 s after the start: late"
    );
    assert_eq!(
        quality(&ix.attribute(&f(T + 20 * S))),
        Quality::TimeWindow,
        "event 19 s before"
    );
    assert_eq!(
        quality(&ix.attribute(&f(T + 40 * S))),
        Quality::None,
        "39 s before: another socket"
    );
    assert_eq!(
        quality(&ix.attribute(&f(T - 40 * S))),
        Quality::None,
        "38 s after the end"
    );
    // Other port, other tuple: nothing.
    assert_eq!(
        quality(&ix.attribute(&flow("10.0.0.1:5001", "1.2.3.4:80", T, T + S))),
        Quality::None
    );
}

#[test]
fn midstream_flow_takes_an_older_open_socket() {
    let mut ix = index();
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            proc_(10, "/x"),
        ),
        0,
    );
    let mut f = flow("10.0.0.1:5000", "1.2.3.4:80", T + 3600 * S, T + 3601 * S);
    assert_eq!(
        quality(&ix.attribute(&f)),
        Quality::None,
        "with its SYN, the flow is another socket"
    );
    f.midstream = true;
    assert_eq!(
        quality(&ix.attribute(&f)),
        Quality::Exact,
        "picked up mid-stream: the socket predates it"
    );
    ix.insert(
        ev(
            T + 1800 * S,
            "h",
            EventKind::Close,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            proc_(10, "/x"),
        ),
        0,
    );
    assert_eq!(
        quality(&ix.attribute(&f)),
        Quality::None,
        "closed before the flow"
    );
}

#[test]
fn sightings_cover_an_interval() {
    let mut ix = index();
    let p = proc_(7, "/usr/sbin/agent");
    for k in 0..5 {
        ix.insert(
            ev(
                T + k * 10 * S,
                "h",
                EventKind::Open,
                Some("10.0.0.1:6000"),
                "1.2.3.4:443",
                p.clone(),
            ),
            0,
        );
    }
    assert_eq!(ix.stats.sockets, 1);
    assert_eq!(ix.stats.merged, 4);
    let f = flow("10.0.0.1:6000", "1.2.3.4:443", T + 15 * S, T + 16 * S);
    assert_eq!(
        quality(&ix.attribute(&f)),
        Quality::Exact,
        "seen open before and after"
    );
    let f = flow("10.0.0.1:6000", "1.2.3.4:443", T + 60 * S, T + 61 * S);
    assert_eq!(
        quality(&ix.attribute(&f)),
        Quality::TimeWindow,
        "20 s after the last sighting"
    );
}

#[test]
fn disagreeing_records_leave_the_flow_unattributed() {
    let mut ix = index();
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            proc_(1, "/a"),
        ),
        0,
    );
    ix.insert(
        ev(
            T + 1000,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            proc_(2, "/b"),
        ),
        0,
    );
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", T, T + S));
    assert!(a.client.is_none() && a.client_conflict);
}

/// A client port come round: two processes connect on one 5-tuple 1.9 s
/// apart, within the tolerance of each other; each flow goes to the
/// connect its start is next to, and only one no nearer is a conflict.
#[test]
fn a_tuple_used_again_goes_to_the_nearest_connect() {
    let mut ix = index();
    for (t, pid, exe) in [
        (T, 1, "/usr/bin/curl"),
        (T + 1_900_000, 2, "/usr/bin/python3"),
    ] {
        let e = ev(
            t,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:80",
            proc_(pid, exe),
        );
        ix.insert(e, 0);
    }
    let at = |start| ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", start, start + 2_000));
    assert_eq!(pid(&at(T + 300)), Some(1));
    assert_eq!(pid(&at(T + 1_900_500)), Some(2));
    let a = at(T + 950_000);
    assert!(a.client.is_none() && a.client_conflict);
}

#[test]
fn two_feeds_of_one_process_agree() {
    // Sysmon and the firewall log name one connection, one pid, two spellings.
    let mut ix = index();
    let sysmon = Arc::new(Process {
        pid: Some(1048),
        executable: Some("C:\\Windows\\System32\\svchost.exe".into()),
        user: Some("NT AUTHORITY\\NETWORK SERVICE".into()),
        ..Process::default()
    });
    let wfp = proc_(
        1048,
        "\\device\\harddiskvolume2\\windows\\system32\\svchost.exe",
    );
    ix.insert(
        ev(
            T,
            "w",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:53",
            sysmon,
        ),
        0,
    );
    ix.insert(
        ev(
            T + 2000,
            "w",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:53",
            wfp,
        ),
        1,
    );
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:53", T, T + S));
    let c = a.client.expect("attributed");
    assert_eq!(
        c.process.user.as_deref(),
        Some("NT AUTHORITY\\NETWORK SERVICE"),
        "the fuller record"
    );
    assert_eq!(
        image_key("C:\\Windows\\System32\\svchost.exe"),
        image_key("\\Device\\HarddiskVolume2\\Windows\\System32\\svchost.exe")
    );
    assert_eq!(
        image_key("/usr/bin/Curl"),
        "/usr/bin/Curl",
        "Linux paths keep their case"
    );
}

#[test]
fn remote_only_takes_the_nearest_connect() {
    let mut ix = index();
    for (i, (pid, exe)) in [
        (1, "/usr/bin/curl"),
        (2, "/usr/bin/python3"),
        (3, "/usr/bin/curl"),
    ]
    .into_iter()
    .enumerate()
    {
        ix.insert(
            ev(
                T + i as u64 * 50_000,
                "h",
                EventKind::Connect,
                None,
                "1.2.3.4:80",
                proc_(pid, exe),
            ),
            0,
        );
    }
    let at = |start| ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", start, start + 1000));
    let a = at(T + 51_000);
    assert_eq!((quality(&a), pid(&a)), (Quality::RemoteOnly, Some(2)));
    let a = at(T + 101_500);
    assert_eq!((quality(&a), pid(&a)), (Quality::RemoteOnly, Some(3)));
    // Between python's and curl's connect, 25 ms from each: ambiguous.
    let a = at(T + 75_000);
    assert!(a.client.is_none() && a.client_conflict);
    // Two runs of one program a few ms apart: the program is known.
    let mut ix = index();
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            None,
            "1.2.3.4:80",
            proc_(1, "/tmp/b"),
        ),
        0,
    );
    ix.insert(
        ev(
            T + 3000,
            "h",
            EventKind::Connect,
            None,
            "1.2.3.4:80",
            proc_(2, "/tmp/b"),
        ),
        0,
    );
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", T + 2000, T + 3000));
    assert_eq!((quality(&a), pid(&a)), (Quality::RemoteOnly, Some(2)));
    // Too far in time: nothing.
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", T + 10 * S, T + 11 * S));
    assert_eq!(quality(&a), Quality::None);
}

#[test]
fn remote_only_respects_the_hosts_addresses() {
    let mut ix = index();
    // h is known to be 10.0.0.1 from another event.
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:4000"),
            "9.9.9.9:53",
            proc_(5, "/x"),
        ),
        0,
    );
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            None,
            "1.2.3.4:80",
            proc_(6, "/y"),
        ),
        0,
    );
    let a = ix.attribute(&flow("10.0.0.2:5000", "1.2.3.4:80", T, T + 1000));
    assert_eq!(quality(&a), Quality::None, "another host's flow");
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:80", T, T + 1000));
    assert_eq!(pid(&a), Some(6));
}

#[test]
fn clock_offset_is_the_median_of_unambiguous_samples() {
    let mut ix = index();
    let day = 86_400 * S;
    for k in 0..5u16 {
        let local = format!("10.0.0.1:{}", 5000 + k);
        ix.insert(
            ev(
                T - day + u64::from(k) * S,
                "h",
                EventKind::Connect,
                Some(&local),
                "1.2.3.4:80",
                proc_(9, "/z"),
            ),
            0,
        );
    }
    let f = |k: u16| {
        flow(
            &format!("10.0.0.1:{}", 5000 + k),
            "1.2.3.4:80",
            T + u64::from(k) * S + 300,
            T + u64::from(k) * S + S,
        )
    };
    assert_eq!(
        quality(&ix.attribute(&f(0))),
        Quality::None,
        "before any sample, a day is too far"
    );
    for k in 0..5 {
        ix.observe(&f(k));
    }
    let clock = ix.hosts.clocks().next().expect("clock");
    assert_eq!(clock.offset(), Some((day + 300) as i64));
    assert_eq!(clock.sample_count, 5);
    assert_eq!(quality(&ix.attribute(&f(3))), Quality::Exact);
}

#[test]
fn the_index_stays_under_its_cap() {
    let mut ix = SocketIndex::new(AttributionConfig {
        max_sockets: 100,
        ..AttributionConfig::default()
    });
    for k in 0..250u16 {
        let local = format!("10.0.0.1:{}", 1000 + k);
        ix.insert(
            ev(
                T,
                "h",
                EventKind::Connect,
                Some(&local),
                "1.2.3.4:80",
                proc_(1, "/a"),
            ),
            0,
        );
    }
    assert_eq!(ix.len(), 100);
    assert_eq!(ix.stats.evicted, 150);
    // The newest are kept.
    let a = ix.attribute(&flow("10.0.0.1:1249", "1.2.3.4:80", T, T + 1));
    assert_eq!(pid(&a), Some(1));
    let a = ix.attribute(&flow("10.0.0.1:1000", "1.2.3.4:80", T, T + 1));
    assert_eq!(pid(&a), None);
}

#[test]
fn a_process_without_an_executable_is_named_from_another_event_of_its_pid() {
    let mut ix = index();
    let unknown = Arc::new(Process {
        pid: Some(4242),
        ..Process::default()
    });
    // The event without an image comes first; the one naming it later.
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:443",
            unknown.clone(),
        ),
        0,
    );
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5001"),
            "1.2.3.4:443",
            proc_(4242, "C:\\Temp\\beacon.exe"),
        ),
        0,
    );
    // Another host's pid 4242 is another process: it stays unknown.
    ix.insert(
        ev(
            T,
            "g",
            EventKind::Connect,
            Some("10.0.0.2:5000"),
            "1.2.3.4:443",
            unknown,
        ),
        0,
    );
    let exe = |client: &str| {
        let a = ix.attribute(&flow(client, "1.2.3.4:443", T, T + S));
        a.client.and_then(|s| s.process.executable.clone())
    };
    assert_eq!(
        exe("10.0.0.1:5000").as_deref(),
        Some("C:\\Temp\\beacon.exe")
    );
    assert_eq!(exe("10.0.0.2:5000"), None);
    assert_eq!(ix.stats.unknown_images, 2);
}

#[test]
fn the_agents_process_id_names_a_process_before_its_pid_does() {
    let mut ix = index();
    let with = |pid: u32, guid: &str, exe: Option<&str>| {
        Arc::new(Process {
            pid: Some(pid),
            guid: Some(guid.to_string()),
            executable: exe.map(str::to_string),
            ..Process::default()
        })
    };
    // Pid 500 ran two programs one after the other; the unknown event is
    // the first program's, by its guid.
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5000"),
            "1.2.3.4:443",
            with(500, "{a}", None),
        ),
        0,
    );
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5001"),
            "1.2.3.4:443",
            with(500, "{a}", Some("C:\\first.exe")),
        ),
        0,
    );
    ix.insert(
        ev(
            T,
            "h",
            EventKind::Connect,
            Some("10.0.0.1:5002"),
            "1.2.3.4:443",
            with(500, "{b}", Some("C:\\second.exe")),
        ),
        0,
    );
    let a = ix.attribute(&flow("10.0.0.1:5000", "1.2.3.4:443", T, T + S));
    let exe = a.client.and_then(|s| s.process.executable.clone());
    assert_eq!(exe.as_deref(), Some("C:\\first.exe"));
}
