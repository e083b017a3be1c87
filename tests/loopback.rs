//! Real traffic recorded on loopback (`pcaps/record-loopback.sh`): curl,
//! Python urllib and openssl against real servers. The application content
//! is fixed by the recording script, so the byte counts are exact.
// Test code: serde_json indexing yields Null, never panics; slices are of known files.
#![allow(clippy::indexing_slicing)]

mod common;

use common::{flows, pcap};
use serde_json::Value;

fn by_port(records: &[Value], port: u64) -> &Value {
    records
        .iter()
        .find(|r| r["source"]["port"] == port)
        .unwrap_or_else(|| panic!("no flow from port {port}"))
}

#[test]
fn http_clients_exact_bytes() {
    let records = flows(&[&pcap("loopback-http-tls.pcap")]);
    assert_eq!(records.len(), 6);
    for r in &records {
        assert_eq!(r["event"]["reason"], "fin");
        assert_eq!(r["flow"]["missed_bytes"], 0);
        assert_eq!(r["flow"]["midstream"], false);
        assert_eq!(r["network"]["transport"], "tcp");
    }

    // curl GET of the 100000-byte file.
    let get = by_port(&records, 59038);
    assert_eq!(get["network"]["protocol"], "http");
    assert_eq!(
        (&get["source"]["packets"], &get["destination"]["packets"]),
        (&9.into(), &7.into())
    );
    assert_eq!(
        (&get["flow"]["payload_out"], &get["flow"]["payload_in"]),
        (&87.into(), &100_150.into())
    );
    let tx = &get["http"][0];
    assert_eq!(tx["method"], "GET");
    assert_eq!(tx["uri"], "/data.bin");
    assert_eq!(tx["host"], "127.0.0.1:18080");
    assert_eq!(tx["user_agent"], "curl/7.88.1");
    assert_eq!(tx["status"], 200);
    assert_eq!(tx["content_type"], "application/octet-stream");
    assert_eq!(
        (&tx["request_bytes"], &tx["response_bytes"]),
        (&87.into(), &100_150.into())
    );
    assert_eq!(tx["response_body_bytes"], 100_000);

    // curl POST of exactly 5000 bytes; 3-byte answer.
    let post = &by_port(&records, 59052)["http"][0];
    assert_eq!(post["method"], "POST");
    assert_eq!(post["user_agent"], "procflow-fixture-upload/1.0");
    assert_eq!(
        (&post["request_bytes"], &post["request_body_bytes"]),
        (&5164.into(), &5000.into())
    );
    assert_eq!(
        (&post["response_bytes"], &post["response_body_bytes"]),
        (&134.into(), &3.into())
    );

    // Python urllib, Connection: close, server closes first.
    let py = by_port(&records, 59068);
    assert_eq!(py["http"][0]["user_agent"], "Python-urllib/3.11");
    assert_eq!(py["flow"]["payload_in"], 100_150);
    assert_eq!(py["flow"]["history"], "ShADadfF");

    // Two GETs on one keep-alive connection.
    let ka = by_port(&records, 59070);
    assert_eq!(ka["http"].as_array().map(Vec::len), Some(2));
    assert_eq!(ka["flow"]["payload_in"], 200_300);
    assert_eq!(ka["http"][1]["response_body_bytes"], 100_000);
}

#[test]
fn tls_clients_hello_fields() {
    let records = flows(&[&pcap("loopback-http-tls.pcap")]);
    let t12 = by_port(&records, 44306);
    assert_eq!(t12["network"]["protocol"], "tls");
    assert_eq!(t12["tls"]["sni"], "tls.procflow.test");
    assert_eq!(t12["tls"]["alpn"], serde_json::json!(["http/1.1"]));
    assert_eq!(t12["tls"]["version"], "TLS 1.2");
    assert_eq!(
        (&t12["flow"]["payload_out"], &t12["flow"]["payload_in"]),
        (&410.into(), &1571.into())
    );
    // One 28-byte line each way, in one TLS 1.2 GCM record each
    // (8-byte explicit nonce + 28 + 16-byte tag = 52).
    assert_eq!(
        (&t12["tls"]["app_bytes_out"], &t12["tls"]["app_bytes_in"]),
        (&52.into(), &52.into())
    );
    let t13 = by_port(&records, 44318);
    assert_eq!(t13["tls"]["version"], "TLS 1.3");
    assert_eq!(
        t13["tls"]["client_versions"],
        serde_json::json!(["TLS 1.3"])
    );
    assert_eq!(
        (&t13["flow"]["payload_out"], &t13["flow"]["payload_in"]),
        (&420.into(), &2014.into())
    );
    // TLS 1.3 hides the rest of the handshake in application_data records:
    // out 69 (Finished) + 45 (the line) + 19 (close_notify); in 38 + 857 +
    // 281 + 69 (encrypted handshake) + 266 + 266 (tickets) + 45 + 19.
    assert_eq!(
        (&t13["tls"]["app_bytes_out"], &t13["tls"]["app_bytes_in"]),
        (&133.into(), &1841.into())
    );
    // The server's ALPN choice travels encrypted in TLS 1.3.
    assert!(t13["tls"].get("alpn_chosen").is_none());
}

/// Cleartext HTTP/2 between real peers (`pcaps/record-h2c.sh`: nghttp and
/// curl against nghttpd, with prior knowledge). Each stream's bytes are
/// its frames (headers included) each way; tshark 4.0's dissection of the
/// same capture (`-d tcp.port==18082,http2`, 9 + `http2.length` summed
/// per stream and direction) gives the same figures.
#[test]
fn h2c_streams_are_transactions() {
    let records = flows(&[&pcap("loopback-h2c.pcap")]);
    assert_eq!(records.len(), 3);
    let tx = |r: &Value, i: usize| {
        let t = &r["http"][i];
        (
            t["method"].as_str().unwrap_or("").to_string(),
            t["uri"].as_str().unwrap_or("").to_string(),
            t["status"].as_u64().unwrap_or(0),
            t["content_type"].as_str().unwrap_or("").to_string(),
            [
                &t["request_bytes"],
                &t["response_bytes"],
                &t["request_body_bytes"],
                &t["response_body_bytes"],
            ]
            .map(|v| v.as_u64().unwrap_or(u64::MAX)),
        )
    };
    let owned = |m: &str, u: &str, s, c: &str, b| (m.into(), u.into(), s, c.into(), b);
    for r in &records {
        assert_eq!(r["network"]["protocol"], "http2");
        assert_eq!(r["event"]["reason"], "fin");
        assert_eq!(r["flow"]["missed_bytes"], 0);
        for t in r["http"].as_array().unwrap() {
            assert_eq!(t["host"], "127.0.0.1:18082", "Huffman-coded :authority");
            assert_eq!(
                (&t["version"], &t["response_version"]),
                (&"HTTP/2".into(), &"HTTP/2".into())
            );
        }
    }
    // nghttp: two streams at once; the second response's head is mostly
    // dynamic-table references (19 bytes against 103).
    let both = &records[0];
    assert_eq!(both["http"].as_array().unwrap().len(), 2);
    assert_eq!(both["http"][0]["user_agent"], "nghttp2/1.52.0");
    assert_eq!(
        tx(both, 0),
        owned(
            "GET",
            "/data.bin",
            200,
            "application/octet-stream",
            [82, 100_184, 0, 100_000]
        )
    );
    assert_eq!(
        tx(both, 1),
        owned("GET", "/small.txt", 200, "text/plain", [30, 49, 0, 12])
    );
    // Preface 24, connection frames 73, PRIORITY on five idle streams 70,
    // the two requests 82 + 30.
    assert_eq!(both["flow"]["payload_out"], 279);
    let post = &records[1];
    assert_eq!(post["http"][0]["user_agent"], "procflow-fixture-upload/1.0");
    assert_eq!(
        tx(post, 0),
        owned(
            "POST",
            "/small.txt",
            200,
            "text/plain",
            [5102, 122, 5000, 12]
        )
    );
    let get = &records[2];
    assert_eq!(get["http"][0]["user_agent"], "curl/7.88.1");
    assert_eq!(
        tx(get, 0),
        owned(
            "GET",
            "/data.bin",
            200,
            "application/octet-stream",
            [48, 100_175, 0, 100_000]
        )
    );
}
