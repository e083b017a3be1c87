//! The generated captures in `pcaps/` against what their generator knows
//! by construction: packets and frame bytes each way, reassembled payload,
//! missed bytes, every HTTP transaction field and the TLS fields.

// Test code: serde_json indexing yields Null, never panics.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{flows, pcap, procflow};
use pcapgen::{ExpectedFlow, Scenario};
use serde_json::{json, Value};

fn endpoint(v: &Value) -> String {
    let ip: std::net::IpAddr = v["ip"].as_str().and_then(|s| s.parse().ok()).expect("ip");
    std::net::SocketAddr::new(ip, v["port"].as_u64().expect("port") as u16).to_string()
}

fn find<'a>(records: &'a [Value], want: &ExpectedFlow) -> Option<&'a Value> {
    records.iter().find(|r| {
        endpoint(&r["source"]) == want.client.to_string()
            && endpoint(&r["destination"]) == want.server.to_string()
            && r["network"]["transport"] == want.transport
    })
}

/// The parts of a record the generator has an expectation for, in the
/// generator's terms, so a mismatch shows as one readable diff.
fn observed(r: &Value) -> Value {
    let http: Vec<Value> = r["http"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let mut h = json!({
                "method": t["method"], "host": t["host"], "uri": t["uri"], "user_agent": t["user_agent"],
                "status": t["status"], "content_type": t["content_type"],
                "request_bytes": t["request_bytes"], "response_bytes": t["response_bytes"],
                "request_body_bytes": t["request_body_bytes"], "response_body_bytes": t["response_body_bytes"],
            });
            // Present only for a body decoded whole, as the generator says.
            for key in ["request_body_decoded_bytes", "response_body_decoded_bytes"] {
                if let (Some(v), Some(o)) = (t.get(key), h.as_object_mut()) {
                    o.insert(key.into(), v.clone());
                }
            }
            h
        })
        .collect();
    let tls = r.get("tls").map(|t| {
        json!({
            "sni": t["sni"], "alpn": t.get("alpn").cloned().unwrap_or(json!([])),
            "client_versions": t.get("client_versions").cloned().unwrap_or(json!([])),
            "version": t["version"], "app_bytes_out": t["app_bytes_out"], "app_bytes_in": t["app_bytes_in"],
        })
    });
    let mut v = json!({
        "transport": r["network"]["transport"],
        "client": endpoint(&r["source"]),
        "server": endpoint(&r["destination"]),
        "client_packets": r["source"]["packets"], "client_bytes": r["source"]["bytes"],
        "server_packets": r["destination"]["packets"], "server_bytes": r["destination"]["bytes"],
        "payload_out": r["flow"]["payload_out"], "payload_in": r["flow"]["payload_in"],
        "missed_bytes": r["flow"]["missed_bytes"],
        "http": http,
        "tls": tls,
    });
    if let Some(vlan) = r["network"].get("vlan") {
        v["vlan"] = vlan["id"].clone();
    }
    if let Some(t) = r.get("tunnel") {
        v["tunnel"] = t.clone();
    }
    if let Some(m) = r.get("icmp") {
        v["icmp"] = m.clone();
    }
    if let Some(e) = r.get("icmp_errors") {
        v["icmp_errors"] = e.clone();
    }
    v
}

/// Bytes the capture cut off: wire length minus captured length of every
/// frame, from the record headers.
/// The payload bytes the snap length cut from a capture's frames
/// (Ethernet, IPv4, TCP): what each frame was on the wire past its TCP
/// header and past what was captured. A header cut inside its options is
/// no payload.
fn cut_payload(pcap: &[u8]) -> u64 {
    common::pcap_records(pcap)
        .iter()
        .map(|&(at, caplen, len)| {
            let frame = &pcap[at + 16..at + 16 + caplen as usize];
            let tcp = 14 + usize::from(frame[14] & 0xf) * 4;
            let header_end = tcp + usize::from(frame[tcp + 12] >> 4) * 4;
            u64::from(len).saturating_sub(u64::from(caplen).max(header_end as u64))
        })
        .sum()
}

fn check(s: &Scenario) {
    let path = pcap(&format!("{}.pcap", s.name));
    let records = flows(&[&path]);
    for want in &s.flows {
        let got = find(&records, want).unwrap_or_else(|| {
            panic!(
                "{}: no flow {} -> {}: {records:#?}",
                s.name, want.client, want.server
            )
        });
        let mut want_json = serde_json::to_value(want).expect("serialise");
        if s.name.starts_with("snaplen") && want.transport == "tcp" {
            // The generator's TCP connections count only what was captured
            // (its UDP flows count the cut as missed). Payload the snap
            // length cut off was sent all the same: procflow reports it as
            // missed.
            want_json["missed_bytes"] = json!(cut_payload(&s.pcap));
        }
        assert_eq!(
            observed(got),
            want_json,
            "{}: flow {} -> {}",
            s.name,
            want.client,
            want.server
        );
    }
}

#[test]
fn committed_captures_are_what_the_generator_writes() {
    for s in pcapgen::scenarios() {
        let committed = std::fs::read(pcap(&format!("{}.pcap", s.name))).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run `cargo run -p pcapgen -- scenarios --out pcaps`)",
                s.name
            )
        });
        assert!(
            committed == s.pcap,
            "{}: pcaps/ differs from the generator's output",
            s.name
        );
    }
}

#[test]
fn every_scenario_matches_its_construction() {
    let all = pcapgen::scenarios();
    assert!(all.len() >= 15);
    for s in &all {
        check(s);
    }
}

/// Shards, threads and the reader (procflow's own, or libpcap) change
/// nothing in the records.
#[test]
fn shards_and_threads_do_not_change_the_records() {
    let paths: Vec<String> = pcapgen::scenarios()
        .iter()
        .map(|s| pcap(&format!("{}.pcap", s.name)).display().to_string())
        .chain(
            ["attribution.pcap", "loopback-http-tls.pcap"].map(|n| pcap(n).display().to_string()),
        )
        .collect();
    let run = |files: &[&str], split: &[&str]| {
        let mut args = vec!["flows", "--no-progress"];
        args.extend_from_slice(split);
        args.extend_from_slice(files);
        let r = procflow(&args);
        assert!(r.status.success(), "{}", r.stderr);
        let mut lines: Vec<String> = r.stdout.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let splits: [&[&str]; 6] = [
        &["--threads", "1", "--shards", "4"],
        &["--threads", "2"],
        &["--threads", "3"],
        &["--threads", "8"],
        &["--threads", "1", "--libpcap"],
        &["--threads", "2", "--libpcap"],
    ];
    for p in &paths {
        let one = run(&[p], &["--threads", "1"]);
        assert!(!one.is_empty(), "{p}");
        for split in splits {
            assert_eq!(one, run(&[p], split), "{p} {split:?}");
        }
    }
    // The scenario captures read as one: packet time runs forward within
    // each file and the flows of different files never meet.
    let scenario_files: Vec<&str> = paths
        .iter()
        .take(pcapgen::scenarios().len())
        .map(String::as_str)
        .collect();
    let one = run(&scenario_files, &["--threads", "1"]);
    assert!(one.len() > 20);
    for split in splits {
        assert_eq!(one, run(&scenario_files, split), "{split:?}");
    }
}

/// A few figures spelt out, so a reader sees what the generator promises.
#[test]
fn keepalive_figures_spelt_out() {
    let records = flows(&[&pcap("http-keepalive.pcap")]);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["event"]["reason"], "fin");
    assert_eq!(r["flow"]["history"], "ShADadFf");
    let sizes: Vec<&Value> = r["http"]
        .as_array()
        .expect("http")
        .iter()
        .map(|t| &t["response_body_bytes"])
        .collect();
    assert_eq!(sizes, [&json!(1000), &json!(5000), &json!(10)]);
}

/// IPv4 fragments are put back together before the flow table: the UDP
/// datagram in 3 fragments and the TCP segment in 2 (the first carrying the
/// TCP header) are one packet each of their flows, their bytes the frames
/// of all their fragments. With reassembly off they are counted, never
/// read as TCP or UDP.
#[test]
fn ipv4_fragments_are_reassembled_or_counted() {
    let path = pcap("ipv4-fragments.pcap");
    let file = path.to_str().expect("path");
    let (run, stats) = common::flows_with_stats(&[file]);
    assert_eq!(stats["stats"]["decode_errors"], json!({}));
    let records = run.records();
    let by_port = |p: u64| {
        records
            .iter()
            .find(|r| r["source"]["port"] == p)
            .unwrap_or_else(|| panic!("flow from port {p}: {records:?}"))
    };
    let udp = by_port(40000);
    assert_eq!(udp["network"]["transport"], "udp");
    assert_eq!(
        udp["source"],
        json!({"ip": "10.0.0.23", "port": 40000, "packets": 1, "bytes": 1514 + 1514 + 74})
    );
    assert_eq!(udp["flow"]["payload_out"], 2992);
    let tcp = by_port(40001);
    assert_eq!(tcp["source"]["bytes"], 634 + 654);
    assert_eq!(tcp["flow"]["payload_out"], 1200);
    assert_eq!(tcp["flow"]["midstream"], true);
    assert_eq!(records.len(), 3);
    assert_eq!(
        stats["stats"]["fragments"],
        json!({"fragments": 5, "reassembled": 2, "duplicates": 0, "overlaps": 0, "invalid": 0,
               "cut": 0, "timed_out": 0, "evicted": 0, "incomplete_at_end": 0})
    );

    let (run, stats) = common::flows_with_stats(&[file, "--defrag-memory", "0"]);
    assert_eq!(stats["stats"]["decode_errors"], json!({ "ip_fragment": 5 }));
    let records = run.records();
    assert_eq!(records.len(), 1, "only the HTTP exchange: {records:?}");
    assert_eq!(records[0]["source"]["port"], 40002);
}

/// Fragments in every order, a duplicate, an overlap and a datagram that
/// never completes: the flows are field for field those expected (the
/// scenario test checks them), and every fragment is accounted for, with
/// one reading thread as with two.
#[test]
fn fragment_drops_are_counted_by_reason() {
    let path = pcap("ip-fragments.pcap");
    let file = path.to_str().expect("path");
    for threads in ["1", "2"] {
        let (run, stats) = common::flows_with_stats(&[file, "--threads", threads]);
        assert_eq!(run.records().len(), 6);
        // Each HTTP exchange has 3 datagrams over 512 data bytes, in 8
        // fragments (the fourth exchange sends 3 of them twice); the UDP
        // datagram is in 6; the tunnelled one in 3 inside the tunnel, two
        // of whose packets are in 2 each (3 + 4 taken, 3 reassembled);
        // then 2 overlapping fragments and a lone one.
        assert_eq!(
            stats["stats"]["fragments"],
            json!({"fragments": 51, "reassembled": 16, "duplicates": 3, "overlaps": 1, "invalid": 0,
                   "cut": 0, "timed_out": 0, "evicted": 0, "incomplete_at_end": 1}),
            "threads {threads}"
        );
        assert_eq!(stats["stats"]["decode_errors"], json!({}));
    }
    // No memory for reassembly: every frame that is a fragment (the
    // tunnel's 4, and the inner one whose tunnel packet was whole) is an
    // error.
    let (_, stats) = common::flows_with_stats(&[file, "--defrag-memory", "0"]);
    assert_eq!(
        stats["stats"]["decode_errors"],
        json!({ "ip_fragment": 49 })
    );
}

/// Frames that carry no flow are counted as what they are: link control
/// (spanning tree, IS-IS, CDP, LLDP, LACP, PPPoE discovery, PPP's LCP, a
/// PPTP acknowledgement, a GRE keepalive, NHRP) and IP protocols without flows (IGMP, OSPF, ESP); the
/// ten shimmed exchanges beside them are flows (their fields are checked
/// with every scenario's).
#[test]
fn frames_without_flows_are_not_errors() {
    let file = pcap("link-shims.pcap");
    let (run, stats) = common::flows_with_stats(&[file.to_str().expect("path")]);
    assert_eq!(run.records().len(), 10);
    assert_eq!(stats["stats"]["decode_errors"], json!({}));
    assert_eq!(
        stats["stats"]["not_flows"],
        json!({
            "arp": 0,
            "link_control": pcapgen::shims::LINK_CONTROL_FRAMES,
            "other_ip_protocols": pcapgen::shims::OTHER_IP_PACKETS
        })
    );
    assert!(run.stderr.contains("10 link control"), "{}", run.stderr);
}

/// 802.11 captures (bare and behind radiotap): management frames and
/// null data frames are link control beside the exchange's data frames;
/// an NFLOG capture's frames are all the exchange's.
#[test]
fn wireless_and_nflog_captures_count_what_is_no_flow() {
    for (name, link_control) in [
        ("link-80211.pcap", pcapgen::links::WLAN_LINK_CONTROL),
        ("link-radiotap.pcap", pcapgen::links::WLAN_LINK_CONTROL),
        ("link-nflog.pcap", 0),
    ] {
        let file = pcap(name);
        let (run, stats) = common::flows_with_stats(&[file.to_str().expect("path")]);
        assert_eq!(run.records().len(), 1, "{name}");
        assert_eq!(stats["stats"]["decode_errors"], json!({}), "{name}");
        assert_eq!(
            stats["stats"]["not_flows"]["link_control"], link_control,
            "{name}"
        );
    }
}

/// Text protocols whose commands look like request lines (SMTP's EHLO,
/// FTP's and POP3's USER, IRC's NICK, SIP's and RTSP's OPTIONS and
/// DESCRIBE) are no HTTP: no protocol named, no parse error counted. A
/// WebDAV method, and a method of no registry with an HTTP version, are.
#[test]
fn only_http_is_named_http() {
    let file = pcap("line-protocols.pcap");
    let (run, stats) = common::flows_with_stats(&[file.to_str().expect("path")]);
    let records = run.records();
    let named: Vec<(u64, &str)> = records
        .iter()
        .map(|r| {
            (
                r["destination"]["port"].as_u64().unwrap_or(0),
                r["network"]["protocol"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            (25, "-"),
            (21, "-"),
            (110, "-"),
            (6667, "-"),
            (5060, "-"),
            (554, "-"),
            (80, "http"),
            (8080, "http")
        ]
    );
    assert_eq!(stats["stats"]["http_parse_errors"], 0);
    assert_eq!(stats["stats"]["http_transactions"], 2);
    let methods: Vec<&Value> = records.iter().map(|r| &r["http"][0]["method"]).collect();
    assert_eq!(methods[6..], [&json!("PROPFIND"), &json!("PING")]);
}

/// DNS over TCP: length-prefixed messages, two on one connection, a
/// prefix split from its message; the record keeps the first question and
/// every answer, as on UDP.
#[test]
fn dns_over_tcp_is_read_across_segments() {
    let records = flows(&[&pcap("tcp-dns.pcap")]);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["network"]["transport"], "tcp");
    assert_eq!(r["network"]["protocol"], "dns");
    assert_eq!(
        r["dns"],
        json!({"query": "api.example.com", "qtype": "A", "rcode": "NoError",
               "answers": ["203.0.113.44", "2001:db8::44", "2001:db8::45"], "ttl": 300,
               "queries": 2, "responses": 2})
    );
}

/// DNS over UDP: each flow's query, type, response code and answers.
#[test]
fn dns_queries_and_answers_spelt_out() {
    let records = flows(&[&pcap("udp-dns.pcap")]);
    let by_port = |p: u64| {
        records
            .iter()
            .find(|r| r["source"]["port"] == p)
            .unwrap_or_else(|| panic!("flow from port {p}"))
    };
    let a = by_port(53001);
    assert_eq!(a["network"]["protocol"], "dns");
    assert_eq!(
        a["dns"],
        json!({"query": "www.example.com", "qtype": "A", "rcode": "NoError",
               "answers": ["203.0.113.10"], "ttl": 300, "queries": 1, "responses": 1})
    );
    let b = by_port(53002);
    assert_eq!(b["dns"]["qtype"], "AAAA");
    assert_eq!(b["dns"]["answers"], json!(["2001:db8::25"]));
    let c = by_port(53003);
    assert_eq!(
        c["dns"],
        json!({"query": "nx.example.net", "qtype": "A", "queries": 1, "responses": 0})
    );
}

/// Tunnels nested beyond the depth are counted, a shallower depth turns a
/// nested flow into counted frames, and depth 0 reads no tunnel at all.
#[test]
fn tunnel_depth_bounds_what_is_read_and_counts_the_rest() {
    let path = pcap("encapsulations.pcap");
    let file = path.to_str().expect("path");
    let s = pcapgen::scenarios()
        .into_iter()
        .find(|s| s.name == "encapsulations")
        .expect("scenario");
    // The flows two tunnels deep: in VXLAN inside GRE, and inside VXLAN.
    let nested: Vec<_> = s
        .flows
        .iter()
        .filter(|f| f.tunnel.as_ref().is_some_and(|t| t.depth == 2))
        .collect();
    assert_eq!(nested.len(), 2);
    let nested_packets: u64 = nested
        .iter()
        .map(|f| f.client_packets + f.server_packets)
        .sum();

    let (run, stats) = common::flows_with_stats(&[file]);
    let read = run.records();
    // Seventeen inner flows, and the UDP tunnels' own fourteen (the VXLAN
    // inside GRE and the one inside VXLAN among them, one each way).
    assert_eq!(read.len(), 31);
    let carriers: Vec<&Value> = read
        .iter()
        .filter(|r| r["network"]["transport"] == "udp")
        .collect();
    let mut names: Vec<&str> = carriers
        .iter()
        .map(|r| r["network"]["protocol"].as_str().unwrap_or(""))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "ayiya", "geneve", "geneve", "gre", "gre", "gtpu", "teredo", "teredo", "vxlan",
            "vxlan", "vxlan", "vxlan", "vxlan", "vxlan"
        ]
    );
    assert_eq!(
        stats["stats"]["decode_errors"],
        json!({ "tunnel_too_deep": 3 })
    );

    let (run, stats) = common::flows_with_stats(&[file, "--tunnel-depth", "1"]);
    let records = run.records();
    assert_eq!(records.len(), 29);
    assert!(records.iter().all(|r| r["tunnel"]["depth"] != 2));
    // Not read through, the VXLAN inside GRE and the one inside VXLAN
    // still make their two flows each.
    for outer in ["gre", "vxlan"] {
        let inner = records
            .iter()
            .filter(|r| r["network"]["protocol"] == "vxlan" && r["tunnel"]["type"] == outer)
            .count();
        assert_eq!(inner, 2, "VXLAN inside {outer}");
    }
    assert_eq!(
        stats["stats"]["decode_errors"],
        json!({ "tunnel_too_deep": 3 + nested_packets })
    );

    // Depth 0: UDP tunnels are UDP flows between the tunnel ends, GRE and
    // IP in IP other transports; the shims (MPLS, PPPoE, LLC/SNAP, NSH)
    // are still read.
    let (run, stats) = common::flows_with_stats(&[file, "--tunnel-depth", "0"]);
    let records = run.records();
    assert!(records.iter().all(|r| r.get("tunnel").is_none()));
    let udp: Vec<u64> = records
        .iter()
        .filter(|r| r["network"]["transport"] == "udp")
        .map(|r| r["destination"]["port"].as_u64().unwrap_or(0))
        .collect();
    // VXLAN, GENEVE and GRE in UDP send from one port to the tunnel port
    // both ways: a flow each way; Teredo (to 3544, and to a relay's 33000),
    // AYIYA and GTP-U one flow each.
    let mut ports = udp.clone();
    ports.sort_unstable();
    assert_eq!(
        ports,
        [2152, 3544, 4754, 4754, 4789, 4789, 5072, 6081, 6081, 33000],
        "{records:?}"
    );
    let tcp = records.len() - udp.len();
    assert_eq!(tcp, 4, "MPLS, PPPoE, LLC/SNAP and NSH: {records:?}");
    // Read through, a UDP tunnel's own flow counts what it counts unread.
    let counters = |r: &Value| {
        json!([
            r["source"],
            r["destination"],
            r["flow"]["payload_out"],
            r["flow"]["payload_in"]
        ])
    };
    let unread: Vec<Value> = records
        .iter()
        .filter(|r| r["network"]["transport"] == "udp")
        .map(counters)
        .collect();
    // (GRE is not read at depth 0: the VXLAN inside it is left out.)
    let read: Vec<Value> = carriers
        .iter()
        .filter(|r| r.get("tunnel").is_none())
        .map(|r| counters(r))
        .collect();
    assert_eq!(read, unread);
    assert!(stats["stats"]["not_flows"]["other_ip_protocols"].as_u64() > Some(0));
    assert_eq!(stats["stats"]["decode_errors"].get("other_transport"), None);

    let bad = procflow(&[
        "flows",
        file,
        "--vxlan-port",
        "1",
        "--vxlan-port",
        "2",
        "--vxlan-port",
        "3",
        "--vxlan-port",
        "4",
    ]);
    assert!(!bad.status.success());
    assert_eq!(
        bad.stderr.trim(),
        "procflow: error: --vxlan-port: at most 3 ports besides 4789"
    );
}

/// Malformed HTTP is read as a lenient server reads it (the scenario test
/// checks every transaction), and each break of the grammar is counted:
/// the header block read line by line, the chunk size of 2^64 and the
/// Content-Length of 2^64 - 1.
#[test]
fn malformed_http_is_kept_and_counted() {
    let path = pcap("http-malformed.pcap");
    let (run, stats) = common::flows_with_stats(&[path.to_str().expect("path")]);
    assert_eq!(stats["stats"]["http_parse_errors"], 3);
    assert_eq!(stats["stats"]["http_transactions"], 10);
    let records = run.records();
    let versions: Vec<&Value> = records
        .iter()
        .flat_map(|r| r["http"].as_array().into_iter().flatten())
        .map(|t| &t["version"])
        .collect();
    assert_eq!(
        versions.iter().filter(|v| **v == "HTTP/0.9").count(),
        2,
        "only the requests without a version are HTTP/0.9: {versions:?}"
    );
}

/// Answers that break HTTP's framing are read as lenient clients read them
/// (the scenario test checks every byte count): eight breaks are counted,
/// none where a lenient reading is the norm (chunk sizes with junk after
/// their digits, blanks before a status line).
#[test]
fn lenient_answers_are_counted() {
    let path = pcap("http-lenient.pcap");
    let (_, stats) = common::flows_with_stats(&[path.to_str().expect("path")]);
    assert_eq!(stats["stats"]["http_parse_errors"], 8);
    assert_eq!(stats["stats"]["http_transactions"], 11);
}

/// Encoded bodies are decoded only while a decoder is free: with none
/// (`--max-body-decoders 0`) no record has a decoded length, and the seven
/// bodies that would have been decoded are counted; the lengths on the
/// wire are the same either way.
#[test]
fn encoded_bodies_without_decoders_are_counted() {
    let path = pcap("http-encoded.pcap");
    let file = path.to_str().expect("path");
    let (with, stats) = common::flows_with_stats(&[file]);
    assert_eq!(stats["stats"]["http_bodies_not_decoded"], 0);
    let (without, stats) = common::flows_with_stats(&[file, "--max-body-decoders", "0"]);
    assert_eq!(stats["stats"]["http_bodies_not_decoded"], 7);
    let (with, without) = (with.records(), without.records());
    let decoded = |rs: &[Value]| {
        rs.iter()
            .flat_map(|r| r["http"].as_array().into_iter().flatten())
            .filter(|t| {
                t.get("request_body_decoded_bytes").is_some()
                    || t.get("response_body_decoded_bytes").is_some()
            })
            .count()
    };
    assert_eq!((decoded(&with), decoded(&without)), (6, 0));
    let wire = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .flat_map(|r| r["http"].as_array().into_iter().flatten())
            .map(|t| json!([t["request_body_bytes"], t["response_body_bytes"]]))
            .collect()
    };
    assert_eq!(wire(&with), wire(&without));
}

/// QUIC: the hellos read from Initials sealed with real keys (versions 1
/// and 2, and after a Retry), their JA4, and every Initial opened.
#[test]
fn quic_initials_spelt_out() {
    let (run, stats) = common::flows_with_stats(&[&pcap("quic.pcap").display().to_string()]);
    let records = run.records();
    let by_port = |p: u64| {
        records
            .iter()
            .find(|r| r["source"]["port"] == p)
            .unwrap_or_else(|| panic!("flow from port {p}"))
    };
    let v1 = by_port(50443);
    assert_eq!(v1["network"]["protocol"], "quic");
    assert_eq!(v1["quic"], json!({"version": "1"}));
    assert_eq!(v1["tls"]["cipher"], "TLS_AES_128_GCM_SHA256");
    // 9 ciphers and 10 extensions once GREASE is left out.
    assert_eq!(v1["tls"]["ja4"], "q13d0910h3_f91f431d341e_560390466015");
    let v2 = by_port(50444);
    assert_eq!(v2["quic"], json!({"version": "2"}));
    assert_eq!(v2["tls"]["ja4"], "q13i0909h3_f91f431d341e_560390466015");
    assert_eq!(v2["tls"]["cipher"], "TLS_AES_256_GCM_SHA384");
    let retried = by_port(50445);
    assert_eq!(retried["tls"]["sni"], "retry.example.test");
    assert_eq!(retried["tls"]["cipher"], "TLS_CHACHA20_POLY1305_SHA256");
    // 3 server Initials; 7 client ones (the Retry answered the first).
    assert_eq!(stats["stats"]["quic_initials"], 10);
    assert_eq!(stats["stats"]["quic_undecrypted"], 0);
    assert_eq!(stats["stats"]["tls_client_hellos"], 3);
}

/// ICMP flows are keyed as Community ID keys them: each record's ID is
/// the one tshark 4.0's Community ID dissector gives every packet of the
/// flow (an echo and its reply alike; a one-way message from its sender).
#[test]
fn icmp_flows_carry_the_community_ids_tshark_computes() {
    let records = flows(&[&pcap("icmp.pcap")]);
    let ids: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["source"]["ip"].as_str().unwrap_or(""),
                r["community_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ids,
        [
            ("10.0.0.40", "1:+WhjmEk5eYxZpp/xdjXZu+yFJWw="),
            ("10.0.0.1", "1:NZ0OWPMLW3qt0HOZzyED0pY02CM="),
            ("192.0.2.254", "1:b05Wq2IbyS9mrs5psHmqh+RvQiI="),
            ("2001:db8::40", "1:uJB3Sia1PUKJTxECLOjF4KYEHKM="),
            ("fe80::40", "1:NHkXFVZapq8XHzRFo1Ogu+T/tQY="),
            ("fe80::7", "1:2wdnNrK4ou8e7Rsb5kAeOGBjruY="),
            ("10.0.0.40", "1:/mx2qCTN9i0uSqcUbgnKi3s5Ygg="),
            ("10.0.0.53", "1:iulqK37CVJbANBNROqBNCYhxkHc="),
            ("10.0.0.40", "1:e5lSzjSLpFziZ839G0A+uG1U3Hg="),
            ("10.0.0.1", "1:dUHJ7jori0FJKCB28nh/x02zihk="),
            ("10.0.0.40", "1:BNKseySwKeU9IdO8+kcg9hVjKks="),
            // tshark gives it on the frame that completes the datagram.
            ("10.0.0.2", "1:GAyxkDsVLxJ4fpd6ULyri7nCOZ0="),
        ]
    );
}

/// An ICMP error counts in the record of the flow it quotes, found on the
/// shard (the worker) that flow lives on, at any thread count; errors
/// about packets the capture never held are counted as such.
#[test]
fn icmp_errors_count_in_the_flows_they_quote() {
    let path = pcap("icmp.pcap");
    let file = path.to_str().expect("path");
    for threads in ["1", "2"] {
        let (run, stats) = common::flows_with_stats(&[file, "--threads", threads, "--shards", "3"]);
        let records = run.records();
        let mut errors: Vec<(Value, Value, Value)> = records
            .iter()
            .filter_map(|r| {
                let e = r.get("icmp_errors")?;
                Some((
                    r["network"]["transport"].clone(),
                    r["destination"]["port"].clone(),
                    e.clone(),
                ))
            })
            .collect();
        // Records come out as flows end: in port order here.
        errors.sort_by_key(|e| e.1.as_u64());
        assert_eq!(
            errors,
            [
                (
                    json!("tcp"),
                    json!(80),
                    json!({"count": 2, "type": 3, "code": 4, "reporter": "10.0.0.1"})
                ),
                (
                    json!("udp"),
                    json!(514),
                    json!({"count": 1, "type": 3, "code": 3, "reporter": "10.0.0.53"})
                ),
                // Quoted by an error that came in two fragments.
                (
                    json!("udp"),
                    json!(777),
                    json!({"count": 1, "type": 11, "code": 0, "reporter": "10.0.0.2"})
                ),
            ],
            "{threads} thread(s)"
        );
        assert_eq!(stats["stats"]["icmp_errors_matched"], 4);
        // The port unreachable and two time exceeded about traceroute
        // probes that were not captured.
        assert_eq!(stats["stats"]["icmp_errors_unmatched"], 3);
        assert!(
            run.stderr.contains("ICMP errors: 4 about tracked flows"),
            "{}",
            run.stderr
        );
    }
}

/// DTLS flows are named `dtls`, their hellos fingerprinted with JA4's `d`
/// (DTLS 1.2 as `d2`, 1.3 as `d3`), and each ClientHello counted once
/// though the WebRTC flow's client sent it twice.
#[test]
fn dtls_flows_are_named_and_fingerprinted() {
    let file = pcap("dtls.pcap");
    let (run, stats) = common::flows_with_stats(&[file.to_str().expect("path")]);
    let records = run.records();
    let ja4: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["network"]["protocol"].as_str().unwrap_or(""),
                r["tls"]["ja4"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ja4,
        [
            ("dtls", "dd2i1006wc_7d47ee6a622e_bb157cc35868"),
            ("dtls", "dd3d100700_7d47ee6a622e_f0bd236cd16e"),
        ]
    );
    assert_eq!(stats["stats"]["tls_client_hellos"], 2);
    assert_eq!(stats["stats"]["tls_parse_errors"], 0);
}
