//! Replays every capture of the Suricata verification corpus and checks
//! procflow's flow records against (1) the Suricata expectations that map
//! onto them and (2) tshark's reading of the same capture.
//!
//! A check that does not map (another protocol, a Suricata-only field) is
//! skipped with its reason. A check that maps and fails must be listed in
//! `KNOWN_DIFFERENCES` with the reason it differs; a listed check that
//! passes fails the test, so the list stays true.
// Test code: serde_json indexing yields Null, never panics; slices are of known files.
#![allow(clippy::indexing_slicing)]

mod common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// Where procflow and the reference disagree, and why procflow's reading
/// stands. Keys: (test, check) where check is `suricata#N` (index in the
/// manifest's checks) or `tshark:...` (see `compare_tshark`).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    // Tunnels. tshark's reading names the outermost IP header of a frame
    // (with the inner ports) and counts whole frames; procflow keys a
    // tunnelled flow by the inner packet and names the tunnel ends in
    // `tunnel.src_ip` / `tunnel.dest_ip`.
    ("bug-5437-01", "tshark:tcp#0", TSHARK_OUTER),
    ("bug-5437-01", "tshark:tcp#1", TSHARK_OUTER),
    ("bug-5437-01", "tshark:http#0", TSHARK_OUTER),
    ("bug-5437-01", "tshark:http#1", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#0", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#1", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#2", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#3", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#4", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#5", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#6", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#7", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#8", TSHARK_OUTER),
    ("bug-5437-02", "tshark:tcp#9", TSHARK_OUTER),
    ("bug-5437-02", "tshark:http#2", TSHARK_OUTER),
    ("bug-5437-02", "tshark:http#3", TSHARK_OUTER),
    ("bug-6402-01", "tshark:tcp#0", TSHARK_OUTER),
    ("bug-6402-01", "tshark:http#0", TSHARK_OUTER),
    ("vxlan-decoder-03", "tshark:tcp#0", TSHARK_OUTER),
    ("vxlan-decoder-03", "tshark:tcp#1", TSHARK_OUTER),
    ("vxlan-decoder-03", "tshark:tcp#2", TSHARK_OUTER),
    ("vxlan-decoder-03", "tshark:tcp#3", TSHARK_OUTER),
    // The tunnel datagrams from port 65445 come at 0 s, 0.006 s and
    // 30.8 s, one way: Suricata ends a one-way UDP flow after 30 s (its
    // new-flow timeout) and counts two flows; procflow's UDP idle timeout
    // is 60 s, and it counts one (as the same check at count 13 says).
    ("vxlan-decoder-03", "suricata#0", UDP_TIMEOUT),
    ("vxlan-decoder-03", "suricata#1", UDP_TIMEOUT),
    // A ping inside ERSPAN whose requests were mirrored from VLAN 1011 and
    // replies from VLAN 999: Suricata keys flows by VLAN as well and
    // counts two; procflow, as Zeek, keys by the addresses and counts one
    // echo flow (with the first packet's VLAN).
    (
        "decode-erspan-typeI-01",
        "suricata#0",
        "Suricata keys flows by VLAN too",
    ),
    // Upstream enables HTTP logging only for transactions a rule matched
    // (conditional logging); procflow records every transaction.
    (
        "cond-log-http-testmyids",
        "suricata#0",
        "Suricata conditional logging configuration",
    ),
    // Suricata counts 7 http events where the capture holds 5 HTTP/2
    // streams: tshark (`-d tcp.port==443,http2`) shows HEADERS both ways on
    // streams 1, 3, 5, 7 and 9 only, each request answered once; procflow
    // records those 5 (a GET and four POSTs, every status 200).
    (
        "http2-compression-bug",
        "suricata#0",
        "Suricata logs 7 http events for 5 HTTP/2 streams",
    ),
    // tshark pairs no response with these requests after a gap or a
    // retransmission; the captures hold a response for each (checked with
    // tcpdump: one status line per request, in order), and Suricata's own
    // checks on the gap captures (status 200 for /2 in http-gap-simple)
    // agree with procflow.
    (
        "http-body-inspect",
        "tshark:http#0",
        "tshark misses the 200 after retransmissions",
    ),
    (
        "http-gap-beyond-body",
        "tshark:http#0",
        "tshark misses statuses after the gap",
    ),
    (
        "http-gap-simple",
        "tshark:http#0",
        "tshark misses the status after the gap",
    ),
    (
        "http-gap-simple-frames",
        "tshark:http#0",
        "tshark misses the status after the gap",
    ),
    (
        "http-gap-whole-body",
        "tshark:http#0",
        "tshark misses the status after the gap",
    ),
    (
        "http-pipeline-files-with-gap",
        "tshark:http#0",
        "tshark misses statuses after the gap",
    ),
    (
        "http-range-file",
        "tshark:http#0",
        "tshark misses the first 206",
    ),
    // tshark reassembles only 5 of the 40 keep-alive requests here;
    // Suricata's check (40 transactions, all HTTP/1.1) passes for procflow.
    (
        "http-protocol-nodup",
        "tshark:http#0",
        "tshark sees 5 of 40 requests",
    ),
    // `GET /uri afterspace HTTP/1.1`: the target the server received is
    // "/uri afterspace" (its 400 page quotes it); tshark cuts at the space.
    (
        "http-uri-spaces",
        "tshark:http#0",
        "procflow keeps the whole request target",
    ),
    // Status "2XX" is not a number: procflow records the transaction
    // without a status; tshark reads the leading digit.
    (
        "http1-noint-status",
        "tshark:http#0",
        "non-numeric status is not a status code",
    ),
];

const TSHARK_OUTER: &str =
    "tshark names the outer IP header of a tunnelled frame; procflow the inner flow and its tunnel";
const UDP_TIMEOUT: &str = "Suricata ends one-way UDP flows after 30 s idle, procflow after 60 s";

#[derive(Default)]
struct Tally {
    mapped: usize,
    passed: usize,
    known: usize,
    /// Suricata checks mapped / passed.
    suricata: (usize, usize),
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
    stale: Vec<String>,
}

impl Tally {
    fn outcome(&mut self, test: &str, check: &str, ok: bool, detail: String) {
        self.mapped += 1;
        let known = KNOWN_DIFFERENCES
            .iter()
            .any(|(t, c, _)| *t == test && *c == check);
        if check.starts_with("suricata") {
            self.suricata.0 += 1;
            self.suricata.1 += usize::from(ok);
        }
        match (ok, known) {
            (true, false) => self.passed += 1,
            (true, true) => self
                .stale
                .push(format!("{test} {check}: listed as different but passes")),
            (false, true) => self.known += 1,
            (false, false) => self.failures.push(format!("{test} {check}: {detail}")),
        }
    }

    fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }
}

fn ip_eq(a: &Value, b: &Value) -> bool {
    match (
        a.as_str().and_then(|s| s.parse::<IpAddr>().ok()),
        b.as_str().and_then(|s| s.parse::<IpAddr>().ok()),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Suricata's host name is the Host header without its port.
fn host_without_port(h: &str) -> &str {
    if h.starts_with('[') {
        return h.split_once(']').map_or(h, |(a, _)| &h[..a.len() + 1]);
    }
    h.rsplit_once(':')
        .filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit()))
        .map_or(h, |(a, _)| a)
}

/// Suricata's version names to procflow's.
fn tls_version_name(v: &str) -> String {
    match v {
        "TLSv1" => "TLS 1.0".into(),
        "TLSv1.1" => "TLS 1.1".into(),
        "TLSv1.2" => "TLS 1.2".into(),
        "TLSv1.3" => "TLS 1.3".into(),
        "SSLv3" => "SSL 3.0".into(),
        "SSLv2" => "SSL 2.0".into(),
        // Suricata's draft names: `TLS 1.3 draft-18`.
        other => match other.strip_prefix("TLS 1.3 draft-") {
            Some(n) if n.parse::<u8>().is_ok() => format!("TLS 1.3 draft {n}"),
            _ => other.into(),
        },
    }
}

/// One candidate event: a flow record, or one HTTP transaction of it.
struct Event<'a> {
    flow: &'a Value,
    tx: Option<&'a Value>,
}

/// Does `ev` satisfy `key == want`? `Err` when the key has no procflow
/// equivalent.
fn field_matches(ev: &Event<'_>, key: &str, want: &Value) -> Result<bool, &'static str> {
    let f = ev.flow;
    let tx = ev.tx.unwrap_or(&Value::Null);
    Ok(match key {
        "event_type" => true,
        "src_ip" => ip_eq(&f["source"]["ip"], want),
        "dest_ip" => ip_eq(&f["destination"]["ip"], want),
        "src_port" => f["source"]["port"] == *want,
        "dest_port" => f["destination"]["port"] == *want,
        "proto" => match want.as_str() {
            Some("TCP") => f["network"]["transport"] == "tcp",
            Some("UDP") => f["network"]["transport"] == "udp",
            Some("ICMP") => f["network"]["transport"] == "icmp",
            Some("IPv6-ICMP") => f["network"]["transport"] == "ipv6-icmp",
            _ => return Err("transport procflow does not track (SCTP...)"),
        },
        "app_proto" => match want.as_str() {
            Some(p @ ("http" | "http2" | "tls" | "dns" | "quic")) => f["network"]["protocol"] == p,
            _ => return Err("app_proto of a protocol procflow does not parse"),
        },
        "flow.pkts_toserver" => f["source"]["packets"] == *want,
        "flow.pkts_toclient" => f["destination"]["packets"] == *want,
        "flow.bytes_toserver" => f["source"]["bytes"] == *want,
        "flow.bytes_toclient" => f["destination"]["bytes"] == *want,
        "http.hostname" => tx["host"].as_str().map(host_without_port) == want.as_str(),
        "http.url" => tx["uri"] == *want,
        "http.http_method" => tx["method"] == *want,
        "http.status" => tx["status"] == *want,
        "http.length" => tx["response_body_bytes"] == *want,
        "http.http_user_agent" => tx["user_agent"] == *want,
        "http.protocol" => tx["version"] == *want,
        "http.http_content_type" => tx["content_type"] == *want,
        "tls.sni" => f["tls"]["sni"] == *want,
        // Suricata names every draft before 16 alike.
        "tls.version" if want == "TLS 1.3 draft-<16" => f["tls"]["version"]
            .as_str()
            .and_then(|v| v.strip_prefix("TLS 1.3 draft "))
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| n < 16),
        "tls.version" => {
            let want = tls_version_name(want.as_str().unwrap_or(""));
            // Without a ServerHello, Suricata names the ClientHello's version.
            let got = f["tls"]["version"]
                .as_str()
                .or_else(|| f["tls"]["client_versions"][0].as_str());
            got == Some(want.as_str())
        }
        _ => return Err("Suricata-specific field"),
    })
}

/// Whether the test's configuration has Suricata act on traffic (an
/// exception or midstream policy, firewall rules, a memcap set to be hit,
/// drops): then its "no event" checks say what Suricata was told to stop
/// reading, which a passive sensor reads all the same.
fn acting_policy(test: &Value) -> bool {
    const ACTING: [&str; 5] = [
        "exception-policy",
        "midstream-policy",
        "firewall",
        "memcap",
        "drop",
    ];
    test["suricata_yaml_settings"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| {
            let v = v.as_str().unwrap_or("");
            ACTING.iter().any(|a| k.contains(a) || v.contains(a))
        })
}

fn check_suricata(test: &Value, records: &[Value], tally: &mut Tally) {
    let name = test["name"].as_str().unwrap_or("?");
    let Some(checks) = test["checks"].as_array() else {
        return;
    };
    let acts = acting_policy(test);
    for (i, check) in checks.iter().enumerate() {
        let want = check["count"].as_u64().unwrap_or(0) as usize;
        let Some(m) = check["match"].as_object() else {
            continue;
        };
        if want == 0 && acts {
            tally.skip("no event because Suricata was set to drop or stop reading the flow");
            continue;
        }
        let events: Vec<Event<'_>> = match m.get("event_type").and_then(Value::as_str) {
            Some("flow") => records
                .iter()
                .map(|flow| Event { flow, tx: None })
                .collect(),
            Some("http") => records
                .iter()
                .flat_map(|flow| {
                    flow["http"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |tx| Event { flow, tx: Some(tx) })
                })
                .collect(),
            Some("tls") => records
                .iter()
                .filter(|f| f.get("tls").is_some())
                .map(|flow| Event { flow, tx: None })
                .collect(),
            _ => {
                tally.skip("event type other than flow/http/tls");
                continue;
            }
        };
        let probe = Event {
            flow: &Value::Null,
            tx: None,
        };
        if let Some(why) = m
            .iter()
            .find_map(|(k, v)| field_matches(&probe, k, v).err())
        {
            tally.skip(why);
            continue;
        }
        let count = events
            .iter()
            .filter(|ev| m.iter().all(|(k, v)| field_matches(ev, k, v) == Ok(true)))
            .count();
        tally.outcome(
            name,
            &format!("suricata#{i}"),
            count == want,
            format!("{check} matched {count} records"),
        );
    }
}

fn split_endpoint(s: &str) -> (IpAddr, u64) {
    let (ip, port) = s.rsplit_once(':').expect("ip:port");
    (ip.parse().expect("ip"), port.parse().expect("port"))
}

fn endpoint(v: &Value) -> (IpAddr, u64) {
    (
        v["ip"].as_str().and_then(|s| s.parse().ok()).expect("ip"),
        v["port"].as_u64().expect("port"),
    )
}

fn compare_tshark(name: &str, tshark: &Value, records: &[Value], tally: &mut Tally) {
    let mut tcp: Vec<&Value> = records
        .iter()
        .filter(|r| r["network"]["transport"] == "tcp")
        .collect();
    tcp.sort_by_key(|r| r["event"]["start"].as_str().unwrap_or("").to_string());
    let mut used = vec![false; tcp.len()];
    // stream number -> our record
    let mut by_stream: BTreeMap<u64, &Value> = BTreeMap::new();
    for conn in tshark["tcp"].as_array().into_iter().flatten() {
        let stream = conn["stream"].as_u64().unwrap_or(0);
        let c = split_endpoint(conn["client"].as_str().unwrap_or(""));
        let s = split_endpoint(conn["server"].as_str().unwrap_or(""));
        let found = tcp.iter().enumerate().find(|(i, r)| {
            let (a, b) = (endpoint(&r["source"]), endpoint(&r["destination"]));
            !used[*i] && ((a, b) == (c, s) || (a, b) == (s, c))
        });
        let check = format!("tshark:tcp#{stream}");
        let Some((i, r)) = found else {
            tally.outcome(
                name,
                &check,
                false,
                "no flow record for this connection".into(),
            );
            continue;
        };
        used[i] = true;
        by_stream.insert(stream, r);
        let same_way = endpoint(&r["source"]) == c;
        let (ours_out, ours_in) = if same_way {
            ("source", "destination")
        } else {
            ("destination", "source")
        };
        let got = (
            &r[ours_out]["packets"],
            &r[ours_out]["bytes"],
            &r[ours_in]["packets"],
            &r[ours_in]["bytes"],
        );
        let want = (
            &conn["pkts_toserver"],
            &conn["bytes_toserver"],
            &conn["pkts_toclient"],
            &conn["bytes_toclient"],
        );
        let oriented = same_way || conn["syn_seen"] != true;
        tally.outcome(
            name,
            &check,
            got == want && oriented,
            format!(
                "tshark {want:?} procflow {got:?} (client {})",
                if same_way { "same" } else { "swapped" }
            ),
        );
    }
    // HTTP requests: method, host, uri and status per connection, in order.
    let mut want_http: BTreeMap<u64, Vec<(Value, Value, Value, Value)>> = BTreeMap::new();
    for h in tshark["http"].as_array().into_iter().flatten() {
        let stream = h["stream"].as_u64().unwrap_or(0);
        want_http.entry(stream).or_default().push((
            h["method"].clone(),
            h["host"].clone(),
            h["uri"].clone(),
            h["status"].clone(),
        ));
    }
    for (stream, want) in want_http {
        let check = format!("tshark:http#{stream}");
        let Some(r) = by_stream.get(&stream) else {
            tally.outcome(name, &check, false, "no flow for the stream".into());
            continue;
        };
        let got: Vec<_> = r["http"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t.get("method").is_some())
            .map(|t| {
                (
                    t["method"].clone(),
                    t["host"].clone(),
                    t["uri"].clone(),
                    t["status"].clone(),
                )
            })
            .collect();
        tally.outcome(
            name,
            &check,
            got == want,
            format!("tshark {want:?} procflow {got:?}"),
        );
    }
    for (i, t) in tshark["tls"].as_array().into_iter().flatten().enumerate() {
        let stream = t["stream"].as_u64().unwrap_or(0);
        let check = format!("tshark:tls#{i}");
        let Some(r) = by_stream.get(&stream) else {
            tally.outcome(name, &check, false, "no flow for the stream".into());
            continue;
        };
        let version = t["server_version"]
            .as_str()
            .and_then(|v| u16::from_str_radix(v.trim_start_matches("0x"), 16).ok());
        let want_version = version.map(capture::internals::tls::version_name);
        let got = (
            r["tls"]["sni"].as_str(),
            r["tls"]["version"].as_str().map(str::to_string),
        );
        let want = (t["sni"].as_str(), want_version);
        tally.outcome(
            name,
            &check,
            got == want,
            format!("tshark {want:?} procflow {got:?}"),
        );
    }
}

#[test]
fn suricata_verify_corpus() {
    let Some(corpus) = common::corpus("suricata_verify_corpus") else {
        return;
    };
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("suricata-verify/manifest.json")).expect("manifest"),
    )
    .expect("manifest JSON");
    let mut tally = Tally::default();
    let tests = manifest["tests"].as_array().expect("tests");
    for test in tests {
        let name = test["name"].as_str().expect("name");
        let pcap = corpus.join(test["pcap"].as_str().expect("pcap"));
        let records = common::flows(&[&pcap]);
        check_suricata(test, &records, &mut tally);
        let tshark_file = pcap.parent().expect("dir").join("expected-tshark.json");
        if let Ok(text) = std::fs::read_to_string(&tshark_file) {
            let tshark: Value = serde_json::from_str(&text).expect("tshark JSON");
            compare_tshark(name, &tshark, &records, &mut tally);
        }
    }
    eprintln!(
        "corpus: {} captures; {} checks mapped: {} pass, {} known differences; Suricata checks {} mapped, {} pass; tshark comparisons {} , {} pass; skipped: {:?}",
        tests.len(),
        tally.mapped,
        tally.passed,
        tally.known,
        tally.suricata.0,
        tally.suricata.1,
        tally.mapped - tally.suricata.0,
        tally.passed - tally.suricata.1,
        tally.skipped
    );
    for f in &tally.failures {
        eprintln!("FAIL {f}");
    }
    for s in &tally.stale {
        eprintln!("STALE {s}");
    }
    assert!(
        tally.failures.is_empty() && tally.stale.is_empty(),
        "{} failures, {} stale",
        tally.failures.len(),
        tally.stale.len()
    );
    assert!(
        tally.mapped > 100,
        "too few checks mapped: {}",
        tally.mapped
    );
}

/// Captures of the endpoint corpus in other containers: a pcapng written on
/// a Windows host (its README gives 4,425 packets), and a classic capture
/// that really is cut off after its 153rd packet.
#[test]
fn endpoint_captures_pcapng_and_truncated() {
    let Some(corpus) = common::corpus("endpoint_captures_pcapng_and_truncated") else {
        return;
    };
    let read = |rel: &str| {
        let path = corpus.join(rel).display().to_string();
        let (run, stats) = common::flows_with_stats(&["--out", "/dev/null", &path]);
        (stats, run.stderr)
    };
    let (lsass, _) = read("endpoint/otrf-security-datasets/lsass-campaign-01/metasploit_logonpasswords_lsass_memory_dump.pcapng");
    assert_eq!(lsass["files"][0]["packets"], 4425);
    assert!(lsass["files"][0].get("truncated").is_none());
    assert!(lsass["stats"]["flows_emitted"].as_u64().expect("flows") > 100);

    let (cut, stderr) = read(
        "endpoint/security-datasets/covenant_psremoting_command/covenant_psremoting_command_2020-08-06115603.cap",
    );
    assert_eq!(cut["files"][0]["packets"], 153);
    assert!(cut["files"][0]["truncated"]
        .as_str()
        .expect("truncated")
        .contains("truncated dump file"));
    assert!(
        stderr.contains("cut off after packet 153 (byte offset 435312)"),
        "{stderr}"
    );
}

/// QUIC captures of Suricata's suite, whose Initials the sensor decrypts:
/// what tshark reads from them (server name, ALPN, the cipher the
/// ServerHello chose), and for the version 2 capture (quic-go) the JA4
/// published for that client stack.
#[test]
fn quic_initials_of_the_corpus_are_read() {
    let Some(corpus) = common::corpus("quic_initials_of_the_corpus_are_read") else {
        return;
    };
    let read = |name: &str| {
        let path = corpus
            .join("suricata-verify")
            .join(name)
            .join("input.pcap")
            .display()
            .to_string();
        let (run, stats) = common::flows_with_stats(&[&path]);
        let records = run.records();
        assert_eq!(records.len(), 1, "{name}: {}", run.stdout);
        (records[0].clone(), stats)
    };
    let (ietf, stats) = read("quic-ietf-ja3");
    assert_eq!(ietf["network"]["protocol"], "quic");
    assert_eq!(ietf["quic"]["version"], "1");
    assert_eq!(ietf["tls"]["sni"], "msquic.net");
    assert_eq!(ietf["tls"]["alpn"], serde_json::json!(["h3-29"]));
    assert_eq!(ietf["tls"]["cipher"], "TLS_AES_256_GCM_SHA384");
    // Every datagram counts: 5 of the client's, 6 of the server's.
    assert_eq!(ietf["tls"]["app_bytes_out"], ietf["flow"]["payload_out"]);
    assert_eq!(ietf["flow"]["payload_out"], 3232);
    assert_eq!(stats["stats"]["quic_initials"], 2);
    assert_eq!(stats["stats"]["quic_undecrypted"], 0);

    let (v2, _) = read("quic-v2-ja3");
    assert_eq!(v2["quic"]["version"], "2");
    assert!(v2["tls"].get("sni").is_none());
    assert_eq!(v2["tls"]["alpn"], serde_json::json!(["h3"]));
    assert_eq!(v2["tls"]["cipher"], "TLS_AES_128_GCM_SHA256");
    assert_eq!(v2["tls"]["ja4"], "q13i0311h3_55b375c5d22e_c183556c78e2");
}
