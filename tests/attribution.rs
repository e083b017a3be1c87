//! Generated capture + feed: every attribution case gives the exact
//! process and quality (see pcapgen's `attribution` module).
#![allow(clippy::indexing_slicing)]

mod common;

use common::{pcap, read};

#[test]
fn committed_files_are_what_the_generator_writes() {
    let a = pcapgen::attribution::attribution();
    assert_eq!(
        std::fs::read(pcap("attribution.pcap")).expect("pcap"),
        a.pcap
    );
    assert_eq!(
        std::fs::read_to_string(pcap("attribution.feed.jsonl")).expect("feed"),
        a.feed
    );
}

#[test]
fn every_case_is_attributed_as_expected() {
    let a = pcapgen::attribution::attribution();
    let (p, f) = (pcap("attribution.pcap"), pcap("attribution.feed.jsonl"));
    let r = read(&[&p.display().to_string(), "--feed", &f.display().to_string()]);
    assert_eq!(r.flows.len(), a.flows.len());
    // Workers emit in their own order: each expectation finds its flow by
    // client endpoint and start time (one port is reused minutes apart).
    for want in &a.flows {
        let case = want.case;
        let start = capture::time::rfc3339(want.start);
        let matching: Vec<&serde_json::Value> = r
            .flows
            .iter()
            .filter(|f| {
                f["source"]["ip"] == want.client.ip().to_string()
                    && f["source"]["port"] == want.client.port()
                    && f["event"]["start"] == start.as_str()
            })
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "{case}: one flow from {} at {start}",
            want.client
        );
        let got = matching[0];
        assert_eq!(
            got["destination"]["ip"],
            want.server.ip().to_string(),
            "{case}"
        );
        let att = &got["attribution"];
        match &want.client_process {
            Some(w) => {
                assert_eq!(att["quality"], w.quality, "{case}: {got}");
                assert_eq!(got["process"]["pid"], w.pid, "{case}");
                assert_eq!(got["process"]["executable"], w.executable, "{case}");
                assert_eq!(got["host"]["name"], w.host, "{case}");
                assert_eq!(got["host"]["ip"], want.client.ip().to_string(), "{case}");
            }
            None => {
                assert_eq!(att["quality"], "none", "{case}: {got}");
                assert!(
                    got.get("process").is_none() && got.get("host").is_none(),
                    "{case}"
                );
            }
        }
        assert_eq!(
            att["conflict"].as_bool().unwrap_or(false),
            want.conflict,
            "{case}"
        );
        match &want.server_process {
            Some(w) => {
                assert_eq!(att["server"]["quality"], w.quality, "{case}");
                assert_eq!(att["server"]["process"]["pid"], w.pid, "{case}");
                assert_eq!(
                    att["server"]["process"]["executable"], w.executable,
                    "{case}"
                );
                assert_eq!(att["server"]["host"]["name"], w.host, "{case}");
            }
            None => assert_eq!(att["server"]["quality"], "none", "{case}"),
        }
    }
    // Clock offsets: estimated from the exact matches, to the microsecond.
    let clocks = r.stats["clocks"].as_array().expect("clocks");
    for (host, offset) in &a.clock_offsets {
        let c = clocks
            .iter()
            .find(|c| c["host"] == *host)
            .expect("clock listed");
        assert_eq!(c["offset_us"].as_i64(), Some(*offset), "{host}");
    }
    let ws2 = clocks.iter().find(|c| c["host"] == "ws2").expect("ws2");
    assert!(
        ws2["offset_us"].is_null(),
        "no exact match on ws2, no estimate"
    );
    // Coverage and blind spots.
    let cov = &r.stats["coverage"];
    assert_eq!(cov["flows"], 19);
    assert_eq!(cov["unattributed"], 2);
    assert_eq!(cov["client_exact"], 15);
    assert_eq!(cov["client_remote_only"], 1);
    assert_eq!(cov["client_time_window"], 1);
    assert_eq!(cov["server_attributed"], 1);
    assert_eq!(cov["conflicts"], 1);
    let talkers = r.stats["unattributed_talkers"].as_array().expect("talkers");
    assert_eq!(talkers[0]["ip"], "10.1.0.66");
    assert_eq!(talkers[0]["bytes"], 5189);
    assert!(
        r.run.stderr.contains("top unattributed talkers"),
        "{}",
        r.run.stderr
    );
}

#[test]
fn process_windows_sum_each_process() {
    let (p, f) = (pcap("attribution.pcap"), pcap("attribution.feed.jsonl"));
    let r = read(&[&p.display().to_string(), "--feed", &f.display().to_string()]);
    let flows_of = |host: &str, exe: &str| -> Vec<&serde_json::Value> {
        r.flows
            .iter()
            .filter(|f| f["host"]["name"] == host && f["process"]["executable"] == exe)
            .collect()
    };
    // Every window's figures are the sums of its flows.
    let mut seen = 0;
    for w in &r.processes {
        let host = w["host"]["name"].as_str().expect("host");
        let exe = w["process"]["executable"].as_str().expect("exe");
        let start = w["window"]["start"].as_str().expect("start");
        let flows: Vec<_> = flows_of(host, exe)
            .into_iter()
            .filter(|f| f["event"]["start"].as_str().expect("ts")[..15] == start[..15])
            .collect();
        assert!(!flows.is_empty(), "{w}");
        seen += flows.len();
        let sum = |k: &str| {
            flows
                .iter()
                .map(|f| f["flow"][k].as_u64().expect("n"))
                .sum::<u64>()
        };
        assert_eq!(w["metrics"]["connections"], flows.len() as u64, "{w}");
        assert_eq!(w["metrics"]["bytes_out"], sum("payload_out"), "{w}");
        assert_eq!(w["metrics"]["bytes_in"], sum("payload_in"), "{w}");
        let reqs: usize = flows
            .iter()
            .map(|f| f["http"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(w["metrics"]["http_requests"], reqs as u64, "{w}");
    }
    assert_eq!(seen, 17, "every client-attributed flow is in one window");
    // One window in detail: curl on ws1, the four on-time connections, the
    // first of the reused port and the one to 10.2.0.20.
    let curl = r
        .processes
        .iter()
        .find(|w| w["host"]["name"] == "ws1" && w["process"]["executable"] == "/usr/bin/curl")
        .expect("ws1 curl window");
    assert_eq!(curl["process"]["pid"], serde_json::json!([1100, 2010]));
    assert_eq!(curl["metrics"]["connections"], 6);
    assert_eq!(curl["metrics"]["http_requests"], 6);
    assert_eq!(curl["metrics"]["bytes_out"], 6 * 99);
    assert_eq!(curl["metrics"]["destinations"], 3);
    assert_eq!(curl["destinations"][0]["ip"], "203.0.113.10");
    assert_eq!(curl["destinations"][0]["connections"], 4);
    assert_eq!(curl["destinations"][0]["domain"], "app.example.net");
    assert_eq!(curl["window"]["start"], "2023-11-14T22:10:00.000000Z");
    assert_eq!(curl["window"]["end"], "2023-11-14T22:20:00.000000Z");
    assert_eq!(r.processes.len(), 8);
}

#[test]
fn without_a_feed_everything_is_unattributed() {
    let p = pcap("attribution.pcap");
    let r = read(&[&p.display().to_string()]);
    assert_eq!(r.flows.len(), 19);
    assert!(r
        .flows
        .iter()
        .all(|f| f["attribution"]["quality"] == "none"));
    assert!(r.processes.is_empty());
    assert_eq!(r.stats["coverage"]["unattributed"], 19);
    assert!(r.run.stderr.contains("no --feed given"), "{}", r.run.stderr);
}

/// A feed larger than the socket index: the capture's flows are listed
/// first and only the sockets that could name one are kept, so sockets of
/// the fleet's other traffic, coming after the capture's own, evict
/// nothing and every flow is attributed as with the feed alone.
#[test]
fn a_feed_larger_than_the_index_keeps_the_sockets_the_capture_needs() {
    let (p, f) = (pcap("attribution.pcap"), pcap("attribution.feed.jsonl"));
    let (p, f) = (p.display().to_string(), f.display().to_string());
    let alone = read(&[&p, "--feed", &f]);
    // The fleet's other sockets: 2,000 connects naming no flow of the
    // capture, and 10 from a feed without local ports to a server the
    // capture never saw.
    let mut feed = std::fs::read_to_string(&f).expect("feed");
    for i in 0..2000u32 {
        feed.push_str(&format!(
            "{{\"dst_ip\":\"198.51.100.{}\",\"dst_port\":443,\"event\":\"connect\",\"host\":\"fleet{}\",\"os\":\"linux\",\"pid\":{},\"process\":\"/usr/bin/agent\",\"proto\":\"tcp\",\"src_ip\":\"10.9.{}.{}\",\"src_port\":{},\"ts\":\"2023-11-14T22:13:21.000000Z\"}}\n",
            i % 200,
            i % 50,
            2000 + i,
            i / 250,
            i % 250,
            30_000 + i
        ));
    }
    for i in 0..10u32 {
        feed.push_str(&format!(
            "{{\"dst_ip\":\"198.51.100.250\",\"dst_port\":8443,\"event\":\"connect\",\"host\":\"fleet{i}\",\"os\":\"linux\",\"pid\":9,\"process\":\"/usr/bin/agent\",\"proto\":\"tcp\",\"ts\":\"2023-11-14T22:13:21.000000Z\"}}\n"
        ));
    }
    let big = std::env::temp_dir().join(format!("procflow-bigfeed-{}.jsonl", std::process::id()));
    std::fs::write(&big, feed).expect("write feed");
    let b = big.display().to_string();
    // 40 sockets hold the capture's own, not the fleet's 2,010.
    let r = read(&[&p, "--feed", &b, "--max-sockets", "40"]);
    let _ = std::fs::remove_file(&big);
    assert!(
        // 19 flows, one 5-tuple twice (a port reused minutes apart).
        r.run
            .stderr
            .contains("listed the capture's flows first (18 5-tuples)"),
        "{}",
        r.run.stderr
    );
    assert_eq!(r.stats["index"]["not_in_capture"], 2010);
    assert_eq!(r.stats["index"]["evicted"], 0);
    let key = |v: &serde_json::Value| {
        (
            v["community_id"].as_str().unwrap_or("").to_string(),
            v["event"]["start"].as_str().unwrap_or("").to_string(),
        )
    };
    let who =
        |v: &serde_json::Value| serde_json::json!([v["attribution"], v["process"], v["host"]]);
    let mut want: Vec<_> = alone.flows.iter().map(|v| (key(v), who(v))).collect();
    let mut got: Vec<_> = r.flows.iter().map(|v| (key(v), who(v))).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    assert_eq!(r.stats["coverage"], alone.stats["coverage"]);
}
