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
