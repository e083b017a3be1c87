//! Attribution on real endpoint data recorded with a capture (the corpus
//! in `PROCFLOW_CORPUS`): Windows Sysmon with the domain's traffic, a host
//! whose capture names the pid of every packet, and a Linux audit log.
#![allow(clippy::indexing_slicing)]

mod common;

use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

/// "ip:port" (IPv6 in any form, unbracketed) to a normalised pair.
fn endpoint(s: &str) -> (IpAddr, u16) {
    let (ip, port) = s.rsplit_once(':').expect("ip:port");
    (ip.parse().expect("ip"), port.parse().expect("port"))
}

fn flow_endpoints(f: &Value) -> [(IpAddr, u16); 2] {
    let ep = |side: &str| {
        (
            f[side]["ip"]
                .as_str()
                .expect("ip")
                .parse::<IpAddr>()
                .expect("ip"),
            f[side]["port"].as_u64().expect("port") as u16,
        )
    };
    [ep("source"), ep("destination")]
}

/// The process fields of one side of a flow: the client's at the top
/// level, the server's under `attribution.server`.
fn side(f: &Value, client: bool) -> (&Value, &Value, &Value) {
    if client {
        (&f["attribution"]["quality"], &f["process"], &f["host"])
    } else {
        let s = &f["attribution"]["server"];
        (&s["quality"], &s["process"], &s["host"])
    }
}

#[test]
fn security_datasets_sysmon_joins() {
    let Some(corpus) = common::corpus("security_datasets_sysmon_joins") else {
        return;
    };
    let root = corpus.join("endpoint/security-datasets");
    let mut pairs = 0;
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).expect("security-datasets") {
        let dir = entry.expect("entry").path();
        let expected_path = dir.join("expected-attribution.json");
        if !expected_path.is_file() {
            continue;
        }
        let capture = std::fs::read_dir(&dir)
            .expect("pair dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                p.extension()
                    .is_some_and(|x| x == "cap" || x == "pcapng" || x == "pcap")
            })
            .expect("capture in pair");
        let name = dir
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(&expected_path).expect("read"))
                .expect("json");
        let feed = dir.join("sysmon-eid3.jsonl");
        let r = common::read(&[
            &capture.display().to_string(),
            "--feed",
            &feed.display().to_string(),
        ]);
        pairs += 1;
        let mut listed = Vec::new();
        for want in expected["attributable"].as_array().expect("list") {
            let eps: Vec<(IpAddr, u16)> = want["endpoints"]
                .as_array()
                .expect("endpoints")
                .iter()
                .map(|e| endpoint(e.as_str().expect("str")))
                .collect();
            listed.push(eps.clone());
            let flows: Vec<&Value> = r
                .flows
                .iter()
                .filter(|f| {
                    let fe = flow_endpoints(f);
                    f["network"]["transport"] == want["proto"]
                        && eps.contains(&fe[0])
                        && eps.contains(&fe[1])
                })
                .collect();
            assert!(!flows.is_empty(), "{name}: no flow for {want}");
            for f in flows {
                // The record's host is the flow's client when it initiated
                // the connection, else the server.
                let (quality, process, host) = side(f, want["initiated"] == "true");
                assert_eq!(quality, "exact", "{name}: {want}\n{f}");
                // Sysmon's `<unknown process>` (escaped or not) names no
                // image: the process is left without one.
                let image = match want["image"].as_str() {
                    Some(i) if i.trim().to_ascii_lowercase().contains("unknown process") => {
                        &Value::Null
                    }
                    _ => &want["image"],
                };
                assert_eq!(&process["executable"], image, "{name}: {want}\n{f}");
                assert_eq!(host["name"], want["host"], "{name}: {want}\n{f}");
                if !want["pid"].is_null() {
                    assert_eq!(process["pid"], want["pid"], "{name}: {want}\n{f}");
                }
                checked += 1;
            }
        }
        // Every other connection stays unattributed: no guesses.
        for f in &r.flows {
            let fe = flow_endpoints(f);
            if listed
                .iter()
                .any(|eps| eps.contains(&fe[0]) && eps.contains(&fe[1]))
            {
                continue;
            }
            assert_eq!(f["attribution"]["quality"], "none", "{name}: {f}");
            assert_eq!(f["attribution"]["server"]["quality"], "none", "{name}: {f}");
        }
    }
    assert_eq!(pairs, 18);
    eprintln!("security_datasets_sysmon_joins: {pairs} pairs, {checked} listed flows attributed");
}

/// IP protocol, then the two endpoints.
type FiveTuple = (u8, (IpAddr, u16), (IpAddr, u16));

/// Per 5-tuple (both orders), the PIDs named by the `PID=N` comments of
/// the packets of a little-endian pcapng with Ethernet frames.
fn packet_pids(bytes: &[u8]) -> HashMap<FiveTuple, BTreeSet<u32>> {
    let u32le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let mut out: HashMap<_, BTreeSet<u32>> = HashMap::new();
    let mut at = 0;
    while at + 12 <= bytes.len() {
        let (kind, len) = (u32le(at), u32le(at + 4) as usize);
        if len < 12 || at + len > bytes.len() {
            break;
        }
        if kind == 6 {
            let caplen = u32le(at + 20) as usize;
            let frame = &bytes[at + 28..at + 28 + caplen];
            let mut opt = at + 28 + caplen.div_ceil(4) * 4;
            let mut pid = None;
            while opt + 4 <= at + len - 4 {
                let code = u16::from_le_bytes([bytes[opt], bytes[opt + 1]]);
                let olen = u16::from_le_bytes([bytes[opt + 2], bytes[opt + 3]]) as usize;
                if code == 0 {
                    break;
                }
                if code == 1 {
                    let text = String::from_utf8_lossy(&bytes[opt + 4..opt + 4 + olen]);
                    pid = text
                        .trim()
                        .strip_prefix("PID=")
                        .and_then(|p| p.parse::<u32>().ok());
                }
                opt += 4 + olen.div_ceil(4) * 4;
            }
            if let (Some(pid), Some(key)) = (pid, five_tuple(frame)) {
                if pid != 0 {
                    out.entry(key).or_default().insert(pid);
                    out.entry((key.0, key.2, key.1)).or_default().insert(pid);
                }
            }
        }
        at += len;
    }
    out
}

/// Protocol and endpoints of an Ethernet frame carrying TCP or UDP.
fn five_tuple(f: &[u8]) -> Option<FiveTuple> {
    let mut at = 12;
    let mut ethertype = u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]);
    if ethertype == 0x8100 {
        at += 4;
        ethertype = u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]);
    }
    at += 2;
    let (proto, src, dst, l4) = match ethertype {
        0x0800 => {
            let ihl = usize::from(f.get(at)? & 0x0f) * 4;
            let a: [u8; 4] = f.get(at + 12..at + 16)?.try_into().ok()?;
            let b: [u8; 4] = f.get(at + 16..at + 20)?.try_into().ok()?;
            (*f.get(at + 9)?, IpAddr::from(a), IpAddr::from(b), at + ihl)
        }
        0x86dd => {
            let a: [u8; 16] = f.get(at + 8..at + 24)?.try_into().ok()?;
            let b: [u8; 16] = f.get(at + 24..at + 40)?.try_into().ok()?;
            (*f.get(at + 6)?, IpAddr::from(a), IpAddr::from(b), at + 40)
        }
        _ => return None,
    };
    if proto != 6 && proto != 17 {
        return None;
    }
    let sp = u16::from_be_bytes([*f.get(l4)?, *f.get(l4 + 1)?]);
    let dp = u16::from_be_bytes([*f.get(l4 + 2)?, *f.get(l4 + 3)?]);
    Some((proto, (src, sp), (dst, dp)))
}

#[test]
fn lsass_campaign_pids_match_packet_comments() {
    let Some(corpus) = common::corpus("lsass_campaign_pids_match_packet_comments") else {
        return;
    };
    let dir = corpus.join("endpoint/otrf-security-datasets/lsass-campaign-01");
    let capture = dir.join("metasploit_logonpasswords_lsass_memory_dump.pcapng");
    let pids = packet_pids(&std::fs::read(&capture).expect("capture"));
    assert!(pids.len() > 100, "comments read: {}", pids.len());
    for feed in ["MKT01.sysmon3.ndjson", "MKT01.security5156.ndjson"] {
        let r = common::read(&[
            &capture.display().to_string(),
            "--feed",
            &dir.join(feed).display().to_string(),
        ]);
        let (mut agree, mut differ) = (0, Vec::new());
        for f in &r.flows {
            let proto = if f["network"]["transport"] == "tcp" {
                6
            } else {
                17
            };
            let [c, s] = flow_endpoints(f);
            let Some(truth) = pids.get(&(proto, c, s)) else {
                continue;
            };
            for client in [true, false] {
                let (quality, process, host) = side(f, client);
                if quality == "none" {
                    continue;
                }
                assert_eq!(host["name"], "MKT01.pandalab.com", "{f}");
                let pid = process["pid"].as_u64().expect("pid") as u32;
                if truth.contains(&pid) {
                    agree += 1;
                } else {
                    differ.push((pid, c, s, truth.clone()));
                }
            }
        }
        // Windows charges NetBIOS datagrams (137/138) that the kernel's
        // System process (pid 4) sends to other processes' pids in the
        // packet comments: the one known disagreement between the two.
        for (pid, c, s, truth) in &differ {
            assert!(
                *pid == 4 && [137, 138].contains(&c.1) && [137, 138].contains(&s.1),
                "{feed}: pid {pid} for {c:?} -> {s:?}, packets say {truth:?}"
            );
        }
        assert!(
            agree >= 100,
            "{feed}: only {agree} attributions agree with the packet comments"
        );
        eprintln!("lsass {feed}: {agree} attributed connection ends equal the packet comments, {} NetBIOS by System", differ.len());
        // Neither feed's clock is the packets', and the offset was
        // estimated. Sysmon's UtcTime is 5 days 14 h behind them, the same
        // 483,275.1 s in every record; the event log's TimeCreated, the
        // only time of a 5156 record, is 19 h behind and wanders between
        // 68,394 and 68,453 s (measured with tshark per 5-tuple).
        let clock = &r.stats["clocks"][0];
        let off = clock["offset_us"].as_i64().expect("offset estimated");
        let (lo, hi) = if feed.contains("sysmon") {
            (483_274_000_000, 483_276_000_000)
        } else {
            (68_390_000_000, 68_455_000_000)
        };
        assert!((lo..=hi).contains(&off), "{feed}: offset {off}");
    }
}

#[test]
fn auditd_loopback_names_each_client_executable() {
    let Some(corpus) = common::corpus("auditd_loopback_names_each_client_executable") else {
        return;
    };
    let dir = corpus.join("endpoint/auditd-loopback");
    let capture = dir.join("capture.pcap");
    let r = common::read(&[
        &capture.display().to_string(),
        "--feed",
        &dir.join("audit.log").display().to_string(),
    ]);
    assert_eq!(r.flows.len(), 47);
    let mut by_exe: HashMap<String, usize> = HashMap::new();
    for f in &r.flows {
        assert_eq!(f["attribution"]["quality"], "remote_only", "{f}");
        let exe = f["process"]["executable"]
            .as_str()
            .expect("exe")
            .to_string();
        // What the traffic itself says about its client.
        let ua = f["http"][0]["user_agent"].as_str().unwrap_or("");
        let want = if f["destination"]["port"] == 18443 {
            if f["flow"]["payload_out"] == 732 {
                "/usr/bin/curl"
            } else {
                "/usr/bin/openssl"
            }
        } else if ua.starts_with("Python-urllib") {
            "/usr/bin/python3.11"
        } else if f["http"][0]["method"] == "POST" && f["http"][0]["uri"] != "/upload" {
            "/tmp/.cache-x/beacon"
        } else {
            "/usr/bin/curl"
        };
        assert_eq!(exe, want, "{f}");
        *by_exe.entry(exe).or_default() += 1;
        assert_eq!(f["host"]["name"], "audit", "{f}");
    }
    assert_eq!(by_exe["/tmp/.cache-x/beacon"], 40);
    assert_eq!(by_exe["/usr/bin/python3.11"], 3);
    assert_eq!(by_exe["/usr/bin/curl"], 3);
    assert_eq!(by_exe["/usr/bin/openssl"], 1);
}
