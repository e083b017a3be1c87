//! Every endpoint feed of the corpus (`PROCFLOW_CORPUS`, default
//! `../shared/corpus` from the workspace root) read whole: exact numbers of
//! socket events, skipped records by reason and bad lines, and the exact
//! fields of a few events per format. The expected numbers were counted
//! apart from this code (python3 over the files: JSON and XML parsers,
//! regular expressions over the audit records).
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use correlate::event::{EventKind, Os, SocketEvent, Transport};
use correlate::feed::{self, FeedFormat, FeedReport};
use std::path::{Path, PathBuf};

fn corpus(test: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os("PROCFLOW_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "{test}: skipped: corpus not found at {} (set PROCFLOW_CORPUS)",
            dir.display()
        );
        None
    }
}

/// Reads a feed the way `procflow read` does: auto-detected, the file
/// name up to its first dot as the default host.
fn read(path: &Path) -> (FeedReport, Vec<SocketEvent>) {
    let host = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('.').next())
        .unwrap()
        .to_string();
    let mut got = Vec::new();
    let r = feed::read_file(path, FeedFormat::Auto, &host, &mut |e| got.push(e))
        .unwrap_or_else(|e| panic!("{e}"));
    (r, got)
}

struct Want {
    file: &'static str,
    format: &'static str,
    lines: u64,
    events: u64,
    skipped: &'static [(&'static str, u64)],
    bad: u64,
}

const fn sysmon(file: &'static str, n: u64) -> Want {
    Want {
        file,
        format: "sysmon",
        lines: n,
        events: n,
        skipped: &[],
        bad: 0,
    }
}

const WANT: &[Want] = &[
    sysmon("security-datasets/aadinternals_export_adfsdatabaseconfig_remotely/sysmon-eid3.jsonl", 8),
    sysmon("security-datasets/covenant_dcom_executeexcel4macro_blocked/sysmon-eid3.jsonl", 12),
    sysmon("security-datasets/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges/sysmon-eid3.jsonl", 29),
    sysmon("security-datasets/covenant_psremoting_command/sysmon-eid3.jsonl", 55),
    sysmon("security-datasets/covenant_sc_query_dcerpc_smb_svcctl/sysmon-eid3.jsonl", 11),
    sysmon("security-datasets/covenant_sharpsc_create_dcerpc_smb_svcctl/sysmon-eid3.jsonl", 58),
    sysmon("security-datasets/covenant_sharpsc_query_dcerpc_smb_svcctl/sysmon-eid3.jsonl", 12),
    sysmon("security-datasets/covenant_sharpsc_stop_dcerpc_smb_svcctl/sysmon-eid3.jsonl", 20),
    sysmon("security-datasets/covenant_sharpwmi_create_dcerpc_wmi/sysmon-eid3.jsonl", 48),
    sysmon("security-datasets/empire_find_localadmin_smb_svcctl_OpenSCManager/sysmon-eid3.jsonl", 11),
    sysmon("security-datasets/empire_getsession_dcerpc_smb_srvsvc_NetSessEnum/sysmon-eid3.jsonl", 15),
    sysmon("security-datasets/empire_powerview_ldap_ntsecuritydescriptor/sysmon-eid3.jsonl", 28),
    sysmon("security-datasets/empire_shell_dcerpc_smb_service_dll_hijack/sysmon-eid3.jsonl", 26),
    sysmon("security-datasets/empire_shell_rubeus_asktgt_createnetonly/sysmon-eid3.jsonl", 11),
    sysmon("security-datasets/empire_shell_rubeus_asktgt_ptt/sysmon-eid3.jsonl", 1),
    sysmon("security-datasets/empire_shell_samr_EnumDomainUsers/sysmon-eid3.jsonl", 3),
    sysmon("security-datasets/schtask_create/sysmon-eid3.jsonl", 6),
    sysmon("security-datasets/schtask_modification/sysmon-eid3.jsonl", 6),
    sysmon("otrf-security-datasets/windows-sysmon-eid3/covenant_psremoting_grunt.sysmon3.ndjson", 276),
    sysmon("otrf-security-datasets/windows-sysmon-eid3/empire_dllinjection_LoadLibrary_CreateRemoteThread.sysmon3.ndjson", 206),
    sysmon("otrf-security-datasets/lsass-campaign-01/MKT01.sysmon3.ndjson", 140),
    Want {
        file: "otrf-security-datasets/lsass-campaign-01/MKT01.security5156.ndjson",
        format: "wfp",
        lines: 177,
        events: 176,
        // The ICMPv6 (58) router advertisement on line 144.
        skipped: &[("other protocol", 1)],
        bad: 0,
    },
    Want {
        file: "otrf-security-datasets/log4shell-linux/UBUNTU5.sysmon-linux-eid3.ndjson",
        format: "sysmon",
        lines: 6,
        events: 5,
        skipped: &[("all-zero addresses", 1)],
        bad: 0,
    },
    // Per-process summaries of an aggregation interval, without pid or
    // local port: recognised and skipped, not read as sockets.
    Want {
        file: "otrf-security-datasets/log4shell-linux/UBUNTU5.vmconnection.ndjson",
        format: "vmconnection",
        lines: 5,
        events: 0,
        skipped: &[("VMConnection summary", 5)],
        bad: 0,
    },
    Want {
        file: "evtx-attack-samples/sysmon-eid3.xml",
        format: "sysmon",
        lines: 5907,
        events: 164,
        skipped: &[],
        bad: 0,
    },
    Want {
        file: "auditd-loopback/audit.log",
        format: "auditd",
        lines: 600,
        events: 47,
        // 90 resolver connects to the nscd unix socket that failed
        // (ENOENT), one AF_UNSPEC connect (disconnect), two connects of
        // openssl s_server to the unspecified address.
        skipped: &[
            ("failed syscall", 90),
            ("non-inet socket", 1),
            ("unspecified remote address", 2),
        ],
        bad: 0,
    },
    Want {
        file: "go-libaudit/audit-socket-syscalls.log",
        format: "auditd",
        lines: 11,
        events: 3,
        skipped: &[("no SOCKADDR record", 1)],
        bad: 0,
    },
];

#[test]
fn every_corpus_feed_reads_to_the_counted_numbers() {
    let Some(corpus) = corpus("every_corpus_feed_reads_to_the_counted_numbers") else {
        return;
    };
    let root = corpus.join("endpoint");
    // Every feed file in the corpus is listed above.
    let mut on_disk = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "jsonl" || x == "ndjson" || x == "xml" || x == "log")
            {
                on_disk.push(p.strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = WANT.iter().map(|w| w.file.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
    assert_eq!(
        WANT.iter()
            .filter(|w| w.file.starts_with("security-datasets/"))
            .count(),
        18
    );

    let mut total = 0;
    for w in WANT {
        let (r, got) = read(&root.join(w.file));
        let skipped: Vec<(&str, u64)> = r.skipped.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(r.format, w.format, "{}", w.file);
        assert_eq!(r.lines, w.lines, "{}", w.file);
        assert_eq!(r.events, w.events, "{}", w.file);
        assert_eq!(got.len() as u64, w.events, "{}", w.file);
        assert_eq!(skipped, w.skipped.to_vec(), "{}", w.file);
        assert_eq!(r.bad_lines, w.bad, "{}: {:?}", w.file, r.bad_examples);
        assert_eq!(r.evicted, 0, "{}", w.file);
        total += r.events;
    }
    eprintln!("feeds_corpus: {} files, {total} socket events", WANT.len());
}

/// The fields of one event.
struct Ev {
    ts: &'static str,
    host: &'static str,
    os: Os,
    kind: EventKind,
    proto: Option<Transport>,
    local: Option<(&'static str, u16)>,
    remote: (&'static str, u16),
    pid: Option<u32>,
    exe: Option<&'static str>,
    user: Option<&'static str>,
}

fn check(e: &SocketEvent, w: &Ev, what: &str) {
    assert_eq!(capture::time::rfc3339(e.ts), w.ts, "{what}");
    assert_eq!(e.host, w.host, "{what}");
    assert_eq!(e.os, Some(w.os), "{what}");
    assert_eq!(e.kind, w.kind, "{what}");
    assert_eq!(e.proto, w.proto, "{what}");
    let local = e.local_ip.map(|ip| (ip.to_string(), e.local_port));
    assert_eq!(
        local,
        w.local.map(|(ip, port)| (ip.to_string(), Some(port))),
        "{what}"
    );
    assert_eq!(
        (e.remote_ip.to_string(), e.remote_port),
        (w.remote.0.to_string(), w.remote.1),
        "{what}"
    );
    assert_eq!(e.process.pid, w.pid, "{what}");
    // Sysmon's `<unknown process>` (escaped or not) names no image.
    let exe = w
        .exe
        .filter(|x| !x.to_ascii_lowercase().contains("unknown process"));
    assert_eq!(e.process.executable.as_deref(), exe, "{what}");
    assert_eq!(e.process.user.as_deref(), w.user, "{what}");
}

fn events(corpus: &Path, file: &str) -> Vec<SocketEvent> {
    read(&corpus.join("endpoint").join(file)).1
}

#[test]
fn sysmon_json_events_have_the_recorded_fields() {
    let Some(c) = corpus("sysmon_json_events_have_the_recorded_fields") else {
        return;
    };
    use EventKind::*;
    // NXLog export with ProcessId; `<unknown process>` and `-` user kept
    // as nothing.
    let e = events(&c, "security-datasets/schtask_create/sysmon-eid3.jsonl");
    check(
        &e[0],
        &Ev {
            ts: "2020-12-19T11:59:21.008000Z",
            host: "WORKSTATION5.theshire.local",
            os: Os::Windows,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("172.18.39.5", 56587)),
            remote: ("172.18.39.6", 135),
            pid: Some(8920),
            exe: Some("<unknown process>"),
            user: None,
        },
        "schtask_create line 1",
    );
    // No ProcessId and no Message at all: no pid (ExecutionProcessID is Sysmon's).
    let e = events(
        &c,
        "security-datasets/empire_shell_rubeus_asktgt_ptt/sysmon-eid3.jsonl",
    );
    check(
        &e[0],
        &Ev {
            ts: "2020-09-22T02:39:12.251000Z",
            host: "WORKSTATION6.theshire.local",
            os: Os::Windows,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("172.18.39.6", 53409)),
            remote: ("172.18.38.5", 88),
            pid: None,
            exe: Some("C:\\Users\\sbeavers\\Desktop\\Rubeus.exe"),
            user: Some("THESHIRE\\wardog"),
        },
        "rubeus_asktgt_ptt line 1",
    );
    // The older export: the pid only in Message (3068), never ProcessID (3140).
    let e = events(
        &c,
        "otrf-security-datasets/windows-sysmon-eid3/covenant_psremoting_grunt.sysmon3.ndjson",
    );
    check(
        &e[173],
        &Ev {
            ts: "2019-12-05T01:53:48.481000Z",
            host: "IT001.shire.com",
            os: Os::Windows,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("172.18.39.105", 50674)),
            remote: ("169.254.169.254", 80),
            pid: Some(3068),
            exe: Some("C:\\Program Files\\Amazon\\cfn-bootstrap\\winhup.exe"),
            user: Some("NT AUTHORITY\\SYSTEM"),
        },
        "covenant_psremoting_grunt line 174",
    );
    // IPv6 in expanded form; an accepted TCP connection, whose local side
    // Sysmon writes as the destination (lsass listening on LDAP 389).
    let e = events(
        &c,
        "otrf-security-datasets/windows-sysmon-eid3/empire_dllinjection_LoadLibrary_CreateRemoteThread.sysmon3.ndjson",
    );
    check(
        &e[31],
        &Ev {
            ts: "2020-07-22T04:01:23.828000Z",
            host: "MORDORDC.mordor.local",
            os: Os::Windows,
            kind: Accept,
            proto: Some(Transport::Tcp),
            local: Some(("::1", 389)),
            remote: ("::1", 64715),
            pid: Some(704),
            exe: Some("C:\\Windows\\System32\\lsass.exe"),
            user: Some("NT AUTHORITY\\SYSTEM"),
        },
        "empire_dllinjection line 32",
    );
    let e = events(
        &c,
        "otrf-security-datasets/lsass-campaign-01/MKT01.sysmon3.ndjson",
    );
    check(
        &e[63],
        &Ev {
            ts: "2023-08-10T14:39:59.419000Z",
            host: "MKT01.pandalab.com",
            os: Os::Windows,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("192.168.1.41", 51129)),
            remote: ("10.0.5.13", 8080),
            pid: Some(1988),
            exe: Some("C:\\Users\\stevie.marie\\Downloads\\winx64_payload.exe"),
            user: Some("PANDALAB\\pedro.gustavo"),
        },
        "MKT01 sysmon line 64",
    );
}

#[test]
fn security_5156_events_have_the_recorded_fields() {
    let Some(c) = corpus("security_5156_events_have_the_recorded_fields") else {
        return;
    };
    let e = events(
        &c,
        "otrf-security-datasets/lsass-campaign-01/MKT01.security5156.ndjson",
    );
    check(
        &e[19],
        &Ev {
            ts: "2023-08-15T09:54:05.323000Z",
            host: "MKT01.pandalab.com",
            os: Os::Windows,
            kind: EventKind::Connect,
            proto: Some(Transport::Tcp),
            local: Some(("192.168.1.41", 52887)),
            remote: ("10.0.5.13", 80),
            pid: Some(7476),
            exe: Some("\\device\\harddiskvolume2\\program files (x86)\\microsoft\\edge\\application\\msedge.exe"),
            user: None,
        },
        "5156 line 20",
    );
    check(
        &e[41],
        &Ev {
            ts: "2023-08-15T09:54:11.690000Z",
            host: "MKT01.pandalab.com",
            os: Os::Windows,
            kind: EventKind::Accept,
            proto: Some(Transport::Udp),
            local: Some(("fe80::5d91:ea18:e2b5:9755", 5353)),
            remote: ("ff02::fb", 5353),
            pid: Some(1048),
            exe: Some("\\device\\harddiskvolume2\\windows\\system32\\svchost.exe"),
            user: None,
        },
        "5156 line 42",
    );
}

#[test]
fn sysmon_for_linux_and_xml_events_have_the_recorded_fields() {
    let Some(c) = corpus("sysmon_for_linux_and_xml_events_have_the_recorded_fields") else {
        return;
    };
    use EventKind::*;
    let e = events(
        &c,
        "otrf-security-datasets/log4shell-linux/UBUNTU5.sysmon-linux-eid3.ndjson",
    );
    check(
        &e[2],
        &Ev {
            ts: "2022-05-11T18:10:21.925000Z",
            host: "UBUNTU5",
            os: Os::Linux,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("192.168.2.5", 41878)),
            remote: ("192.168.2.6", 8888),
            pid: Some(1340),
            exe: Some("java"),
            user: None,
        },
        "log4shell line 3",
    );
    check(
        &e[1],
        &Ev {
            ts: "2022-05-11T18:10:21.790000Z",
            host: "UBUNTU5",
            os: Os::Linux,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("192.168.2.5", 41696)),
            remote: ("192.168.2.6", 1389),
            pid: Some(1340),
            exe: Some("/usr/lib/jvm/java-8-openjdk-amd64/jre/bin/java"),
            user: Some("tomcat"),
        },
        "log4shell line 2",
    );

    let e = events(&c, "evtx-attack-samples/sysmon-eid3.xml");
    check(
        &e[0],
        &Ev {
            ts: "2019-07-19T14:50:20.871000Z",
            host: "MSEDGEWIN10",
            os: Os::Windows,
            kind: Connect,
            proto: Some(Transport::Tcp),
            local: Some(("10.0.2.15", 49727)),
            remote: ("172.217.17.132", 80),
            // Not Execution/@ProcessID 2796 (Sysmon's own).
            pid: Some(3912),
            exe: Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"),
            user: Some("MSEDGEWIN10\\IEUser"),
        },
        "xml event 1",
    );
    check(
        &e[16],
        &Ev {
            ts: "2019-02-16T10:03:00.320000Z",
            host: "PC01.example.corp",
            os: Os::Windows,
            kind: Accept,
            proto: Some(Transport::Udp),
            local: Some(("ff02::1:3", 5355)),
            remote: ("fe80::80ac:4126:fa58:1b81", 64763),
            pid: Some(1276),
            exe: Some("C:\\Windows\\System32\\svchost.exe"),
            user: Some("NT AUTHORITY\\NETWORK SERVICE"),
        },
        "xml event 17",
    );
    check(
        &e[99],
        &Ev {
            ts: "2021-04-20T20:33:59.834000Z",
            host: "MSEDGEWIN10",
            os: Os::Windows,
            kind: Accept,
            proto: Some(Transport::Tcp),
            local: Some(("127.0.0.1", 445)),
            remote: ("127.0.0.1", 49925),
            pid: Some(4),
            exe: Some("<unknown process>"),
            user: None,
        },
        "xml event 100",
    );
    assert_eq!(e.iter().filter(|x| x.kind == Accept).count(), 87);
    assert_eq!(
        e.iter().filter(|x| x.proto == Some(Transport::Udp)).count(),
        38
    );
    assert_eq!(e.iter().filter(|x| x.remote_ip.is_ipv6()).count(), 20);
}

#[test]
fn auditd_events_have_the_recorded_fields() {
    let Some(c) = corpus("auditd_events_have_the_recorded_fields") else {
        return;
    };
    let (r, e) = read(&c.join("endpoint/auditd-loopback/audit.log"));
    assert_eq!(r.events, 47);
    let by = |exe: &str| {
        e.iter()
            .filter(|x| x.process.executable.as_deref() == Some(exe))
            .count()
    };
    assert_eq!(by("/tmp/.cache-x/beacon"), 40);
    assert_eq!(by("/usr/bin/python3.11"), 3);
    assert_eq!(by("/usr/bin/curl"), 3);
    assert_eq!(by("/usr/bin/openssl"), 1);
    let remote_only = |e: &SocketEvent| {
        assert_eq!((e.local_ip, e.local_port, e.proto), (None, None, None));
        assert_eq!(e.host, "audit");
        assert_eq!(e.os, Some(Os::Linux));
        assert_eq!(e.process.user.as_deref(), Some("root"));
        assert_eq!(e.process.ppid, Some(11896));
    };
    e.iter().for_each(remote_only);
    let first = &e[0];
    assert_eq!(
        capture::time::rfc3339(first.ts),
        "2026-11-23T08:49:34.568000Z"
    );
    assert_eq!(first.kind, EventKind::Connect);
    assert_eq!(first.process.pid, Some(11976));
    assert_eq!(first.process.executable.as_deref(), Some("/usr/bin/curl"));
    assert_eq!(
        first.process.cmdline.as_deref(),
        Some("curl -s -o /dev/null http://127.0.0.1:18080/big.bin")
    );
    assert_eq!(
        (first.remote_ip.to_string(), first.remote_port),
        ("127.0.0.1".into(), 18080)
    );
    let last = e.last().unwrap();
    assert_eq!(
        capture::time::rfc3339(last.ts),
        "2026-11-23T08:49:35.584000Z"
    );
    assert_eq!(last.process.pid, Some(12206));
    assert_eq!(
        last.process.cmdline.as_deref(),
        Some("openssl s_client -connect 127.0.0.1:18443 -servername api.example.test")
    );
    assert_eq!(
        (last.remote_ip.to_string(), last.remote_port),
        ("127.0.0.1".into(), 18443)
    );

    let (_, e) = read(&c.join("endpoint/go-libaudit/audit-socket-syscalls.log"));
    let host = "audit-socket-syscalls";
    let a = &e[0];
    assert_eq!(capture::time::rfc3339(a.ts), "2017-04-21T05:28:40.441000Z");
    assert_eq!((a.kind, a.host.as_str()), (EventKind::Accept, host));
    assert_eq!(
        (a.remote_ip.to_string(), a.remote_port),
        ("72.83.230.100".into(), 58140)
    );
    assert_eq!(a.process.pid, Some(1663));
    assert_eq!(a.process.executable.as_deref(), Some("/usr/sbin/sshd"));
    assert_eq!(a.process.user.as_deref(), Some("0"));
    assert_eq!(a.process.cmdline.as_deref(), Some("(sshd)"));
    let b = &e[1];
    assert_eq!(b.kind, EventKind::Connect);
    assert_eq!(b.process.pid, Some(1648));
    assert_eq!(b.process.executable.as_deref(), Some("/usr/bin/python3.5"));
    assert_eq!(
        (b.remote_ip.to_string(), b.remote_port),
        ("169.254.169.254".into(), 80)
    );
    let h = &e[2];
    assert_eq!(h.process.pid, Some(1172));
    assert_eq!(
        h.process.executable.as_deref(),
        Some("/usr/bin/python2.7;58d1ccfb (deleted)"),
        "hex-encoded exe"
    );
    assert_eq!(capture::time::rfc3339(h.ts), "2017-04-12T22:48:09.295000Z");
}
