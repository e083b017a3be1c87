//! Replays every capture of the Zeek corpus (`zeek/` in the corpus) and
//! compares procflow's flow records with Zeek's own logs of the same bytes:
//! conn rows (packets, IP bytes, payload and missed bytes each way), http
//! rows (method, host, uri, status, version, body lengths) and ssl rows
//! (version, server name, chosen ALPN).
//!
//! Every compared field of every row is one check, named `conn#N.field`,
//! `http#N.field` or `ssl#N.field` (N: the row's index in the log's JSON
//! file). A check that fails must be listed in `KNOWN_DIFFERENCES` with
//! the reason the two readings differ, or be explained by one of Zeek's
//! conventions that the comparison recognises from what both sides logged
//! (`http_convention`, and one-way traffic from the server's side); a
//! listed check that passes fails the test, so the list stays true. Rows
//! that cannot map onto flow records (a transport procflow does not track,
//! a column the baseline does not keep, a capture procflow cannot read)
//! are skipped, counted by reason.
//!
//! How Zeek's columns map (the corpus README's table):
//! - conn rows are matched to flows by 5-tuple (either orientation); when
//!   one 5-tuple has several rows they pair in order of start time (or, as
//!   the baselines mask their timestamps, in the order both tools log them:
//!   when the connection ends); when Zeek split into several rows what
//!   procflow keeps as one flow (Zeek forgets a connection 5 s after a RST
//!   or FIN), the rows are summed and compared under the first one.
//! - counters are compared per endpoint, so that `conn#N.orig` alone says
//!   whether Zeek's originator is procflow's client; a row whose history
//!   has `C`/`c` (a bad checksum: Zeek without -C counts none of those
//!   packets) has its counters skipped.
//! - Zeek's `missed_bytes` is gaps in TCP content; procflow's also holds
//!   UDP and ICMP payload cut by the snap length, which Zeek counts in
//!   `orig_bytes`/`resp_bytes` (as the payload range below allows).
//! - `orig_bytes` is a span of sequence numbers: equal to the payload when
//!   nothing was missed, else within [payload, payload + missed].
//! - http rows are found by uid (their conn row's flow) or 5-tuple, and
//!   the transaction by `trans_depth`; Zeek's uri is percent-decoded, its
//!   version is the response's without `HTTP/` ("0.9" for a request line
//!   without one), its status 0 is "no status line".
// Test code: serde_json indexing yields Null, never panics.
#![allow(clippy::indexing_slicing)]

mod common;

use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::Path;

/// Where procflow and Zeek disagree, and why: (trace, check, reason).
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    // Zeek's counters of the misordered NTP exchange.
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.orig_pkts",
        ZEEK_NTP_FLIP,
    ),
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.resp_pkts",
        ZEEK_NTP_FLIP,
    ),
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.orig_ip_bytes",
        ZEEK_NTP_FLIP,
    ),
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.resp_ip_bytes",
        ZEEK_NTP_FLIP,
    ),
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.orig_bytes",
        ZEEK_NTP_FLIP,
    ),
    (
        "scripts.base.protocols.ntp.misordered-ntp",
        "conn#0.resp_bytes",
        ZEEK_NTP_FLIP,
    ),
    // A body Zeek's MIME analyser reads part of.
    (
        "scripts.base.protocols.http.smuggle-http-request",
        "http#0.request_body_len",
        MIME_PART,
    ),
    // An answer without a status line to an HTTP/1.1 request.
    (
        "scripts.base.protocols.http.curl-http-09",
        "http#0.response_body_len",
        BARE_ANSWER,
    ),
    // Crafted: an unsolicited response, then an HTTP/0.9 request.
    (
        "scripts.base.protocols.http.http-09-content-length-confusion",
        "http#0.response_body_len",
        UNSOLICITED_FRAMING,
    ),
    (
        "scripts.base.protocols.http.http-09-content-length-confusion",
        "http#1.response_body_len",
        UNSOLICITED_FRAMING,
    ),
];

// Each reason: a short title, then why (the title is what the summary
// prints, with how many checks it covers).

const ZEEK_NTP_FLIP: &str = "Zeek counts both packets of the misordered NTP exchange on one side. \
    tshark: one 76-byte IP packet (48 bytes of NTP) each way, the server's reply first. Zeek \
    flips the connection at the second packet (history D^) and logs 2 packets, 152 IP bytes and \
    96 payload bytes for the originator and nothing for the responder. procflow reads the first \
    datagram's mode (4, server) and names its receiver, 192.168.1.95, the client as Zeek does; \
    its 1 packet and 76/48 bytes each way is what the capture holds.";

const MIME_PART: &str =
    "Zeek counts what its MIME analyser read of a decoded message/rfc822 body. \
    The POST carries 80 bytes of gzip (Content-Length: 80) that inflate to 65 bytes of \
    message/rfc822 (checked with zlib; procflow's request_body_decoded_bytes: 65), of which Zeek's \
    MIME analyser logs 57.";

const UNSOLICITED_FRAMING: &str =
    "Crafted: a response before any request, then an HTTP/0.9 request. \
    The server sends 'HTTP/1.1 200 OK', Content-Length: 4 and a blank line before the client \
    sent anything; the client then sends 'GET /' without a version, and the server 19 bytes \
    ('this is too much.'). procflow frames the server's byte stream as sent: 4 body bytes for \
    the unsolicited response, the 15 after it no message; Zeek gives the unsolicited response no \
    body and the 19 bytes to the HTTP/0.9 request as its answer. The capture supports both.";

const BARE_ANSWER: &str = "An answer without a status line: procflow counts it as the body. \
    curl asks 'GET /zeek.html HTTP/1.1' and the server answers HTTP/0.9 style: 51 bytes of \
    HTML, no status line, then a RST (tshark: frames 6 and 8), which curl --http0.9 shows as \
    the body. procflow records the 51 bytes as the response body of the connection's first \
    answer; Zeek logs no status and a 0-byte body.";

const ONE_WAY_FROM_SERVER: &str = "One-way traffic from the server's side: procflow names its \
    receiver the client, Zeek its sender the originator. Every packet of the connection came \
    from the side procflow takes for the server: a lone SYN-ACK (`mac-logging-2`: one SYN-ACK \
    from 173.192.163.128:80 to 141.142.220.235:6705, Zeek history 'H'), or datagrams from a \
    server port (a DHCPv6 reply from 547 to 546). The counters are compared per endpoint, and \
    agree.";

// Conventions found by what both sides logged, not listed by trace
// (`http_convention`): each is Zeek's reading of an HTTP/0.9 exchange.

const ZEEK_EMPTY_TX: &str = "Zeek logs an empty transaction after an HTTP/0.9 exchange. \
    The row after one (a request line without a version) has no method, no uri, no status and \
    empty bodies, where the capture holds no further request (`no-version`: tshark shows the \
    client's one line, 'GET /cgi-bin/formmail.pl?... \\r\\n', frame 4, and the server's 323 \
    bytes of HTML without a status line, frame 6, then FIN). procflow records the exchange only.";

const ZEEK_09_ANSWER: &str = "Zeek reads every answer to an HTTP/0.9 request line as an \
    HTTP/0.9 body. Where the server answered with a status line anyway (`GET /HTTP/1.1`, no \
    space before the version, answered 'HTTP/1.0 403 Forbidden' with Content-Length: 1207), \
    Zeek logs version 0.9, no status, and the whole answer, head included, as the body; \
    procflow reads the status line and the body its Content-Length gives. Zeek's body length is \
    then procflow's response_bytes, as this rule requires.";

#[derive(Default)]
struct Tally {
    checks: usize,
    agree: usize,
    known: usize,
    /// Of `known`, those listed in `KNOWN_DIFFERENCES`.
    listed: usize,
    /// Known differences by reason.
    by_reason: BTreeMap<&'static str, usize>,
    skipped: BTreeMap<String, usize>,
    failures: Vec<String>,
    stale: Vec<String>,
}

impl Tally {
    fn outcome(&mut self, trace: &str, check: &str, ok: bool, detail: String) {
        self.checks += 1;
        let known = KNOWN_DIFFERENCES
            .iter()
            .find(|(t, c, _)| *t == trace && *c == check)
            .map(|(_, _, r)| *r);
        match (ok, known) {
            (true, None) => self.agree += 1,
            (true, Some(_)) => self.stale.push(format!(
                "{trace} {check}: listed as different but agrees ({detail})"
            )),
            (false, Some(reason)) => {
                self.known += 1;
                self.listed += 1;
                *self.by_reason.entry(reason).or_default() += 1;
            }
            (false, None) => self.failures.push(format!("{trace} {check}: {detail}")),
        }
    }

    /// As `outcome`, where a convention `rule` found by what both sides
    /// logged explains the check if it differs.
    fn outcome_by(
        &mut self,
        trace: &str,
        check: &str,
        ok: bool,
        rule: Option<&'static str>,
        detail: String,
    ) {
        let listed = KNOWN_DIFFERENCES
            .iter()
            .any(|(t, c, _)| *t == trace && *c == check);
        match rule {
            Some(reason) if !ok && !listed => {
                self.checks += 1;
                self.known += 1;
                *self.by_reason.entry(reason).or_default() += 1;
            }
            _ => self.outcome(trace, check, ok, detail),
        }
    }

    fn skip(&mut self, reason: &str, n: usize) {
        if n > 0 {
            *self.skipped.entry(reason.to_string()).or_default() += n;
        }
    }
}

/// One of Zeek's logs for a trace: its rows, and the columns the baseline
/// keeps (a column kept but absent from a row is unset, `-`; a column not
/// kept, as in the `.cut` baselines, cannot be compared).
struct Log {
    columns: BTreeSet<String>,
    rows: Vec<Map<String, Value>>,
}

impl Log {
    fn read(zeek: &Path, spec: &Value) -> Log {
        let file = zeek.join(spec["file"].as_str().expect("log file"));
        let text = std::fs::read_to_string(&file).expect("zeek log JSON");
        let rows: Vec<Map<String, Value>> = serde_json::from_str(&text).expect("rows");
        let mut columns: BTreeSet<String> = rows.iter().flat_map(|r| r.keys().cloned()).collect();
        if let Some(raw) = spec["raw"].as_str() {
            let raw = std::fs::read_to_string(zeek.join(raw)).unwrap_or_default();
            // `#fields` names the columns; a `.cut` baseline names them in
            // its first line instead (or not at all: then the rows do).
            let header = raw
                .lines()
                .find_map(|l| l.strip_prefix("#fields\t"))
                .or_else(|| raw.lines().find(|l| !l.starts_with('#')));
            columns.extend(
                header
                    .into_iter()
                    .flat_map(|h| h.split('\t').map(String::from)),
            );
        }
        Log { columns, rows }
    }

    fn has(&self, column: &str) -> bool {
        self.columns.contains(column)
    }
}

/// A row's value: `None` when unset.
fn text<'a>(row: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match row.get(key).and_then(Value::as_str) {
        Some("-") | None => None,
        Some("(empty)") => Some(""),
        Some(v) => Some(v),
    }
}

fn number(row: &Map<String, Value>, key: &str) -> Option<u64> {
    text(row, key).and_then(|v| v.parse().ok())
}

type Endpoint = (IpAddr, u16);

/// Two endpoints, the lesser first: a connection either way.
type Pair = (Endpoint, Endpoint);

fn zeek_endpoint(row: &Map<String, Value>, side: &str) -> Option<Endpoint> {
    let ip = text(row, &format!("id.{side}_h"))?.parse().ok()?;
    let port = text(row, &format!("id.{side}_p"))?.parse().ok()?;
    Some((ip, port))
}

fn flow_endpoint(flow: &Value, side: &str) -> Endpoint {
    (
        flow[side]["ip"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("flow ip"),
        flow[side]["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("flow port"),
    )
}

fn pair(a: Endpoint, b: Endpoint) -> Pair {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// The flows of one capture, by transport and endpoint pair.
struct Flows {
    records: Vec<Value>,
    by_pair: BTreeMap<(String, Pair), Vec<usize>>,
}

impl Flows {
    fn new(records: Vec<Value>) -> Flows {
        let mut by_pair: BTreeMap<_, Vec<usize>> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            // Zeek's `proto` says "icmp" for ICMPv6 too.
            let transport = match r["network"]["transport"].as_str().unwrap_or("") {
                "ipv6-icmp" => "icmp",
                t => t,
            }
            .to_string();
            let key = pair(flow_endpoint(r, "source"), flow_endpoint(r, "destination"));
            by_pair.entry((transport, key)).or_default().push(i);
        }
        Flows { records, by_pair }
    }

    /// Flows between two endpoints over `transport` (any when `None`), in
    /// the order procflow wrote them.
    fn between(&self, transport: Option<&str>, a: Endpoint, b: Endpoint) -> Vec<usize> {
        let key = pair(a, b);
        let mut out: Vec<usize> = self
            .by_pair
            .iter()
            .filter(|((t, k), _)| *k == key && transport.is_none_or(|want| want == t))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        out.sort_unstable();
        out
    }
}

/// What Zeek's `proto` column says: a transport procflow tracks, unknown
/// (column not kept), or another protocol (skipped).
enum Proto {
    Tracked(&'static str),
    Unknown,
    Other(String),
}

fn proto(row: &Map<String, Value>) -> Proto {
    match text(row, "proto") {
        Some("tcp") => Proto::Tracked("tcp"),
        Some("udp") => Proto::Tracked("udp"),
        Some("icmp") => Proto::Tracked("icmp"),
        None => Proto::Unknown,
        Some(p) => Proto::Other(p.to_string()),
    }
}

/// One comparison unit: Zeek conn rows and the procflow flows they are
/// compared with (one to one, or summed where one side split).
struct Unit {
    rows: Vec<usize>,
    flows: Vec<usize>,
}

/// Pairs the conn rows with flows; returns the units and, per row, the
/// flows it maps to (for http and ssl rows found by uid).
fn match_conn(conn: &Log, flows: &Flows, tally: &mut Tally) -> (Vec<Unit>, Vec<Vec<usize>>) {
    let mut groups: BTreeMap<(Option<&'static str>, Pair), Vec<usize>> = BTreeMap::new();
    for (i, row) in conn.rows.iter().enumerate() {
        let transport = match proto(row) {
            Proto::Tracked(t) => Some(t),
            Proto::Unknown => None,
            Proto::Other(p) => {
                tally.skip(
                    &format!("conn row of {p}: procflow tracks TCP, UDP and ICMP flows"),
                    1,
                );
                continue;
            }
        };
        let (Some(o), Some(r)) = (zeek_endpoint(row, "orig"), zeek_endpoint(row, "resp")) else {
            tally.skip("conn row without a 5-tuple", 1);
            continue;
        };
        groups.entry((transport, pair(o, r))).or_default().push(i);
    }
    let mut units = Vec::new();
    let mut row_flows = vec![Vec::new(); conn.rows.len()];
    for ((transport, (a, b)), mut rows) in groups {
        let mut fl = flows.between(transport, a, b);
        let ts = |i: &usize| text(&conn.rows[*i], "ts").and_then(|t| t.parse::<f64>().ok());
        if rows.iter().all(|i| ts(i).is_some()) {
            rows.sort_by(|x, y| ts(x).partial_cmp(&ts(y)).expect("ts"));
            fl.sort_by_key(|f| {
                flows.records[*f]["event"]["start"]
                    .as_str()
                    .map(String::from)
            });
        }
        let new: Vec<Unit> = match (rows.len(), fl.len()) {
            (_, 1) | (1, _) => vec![Unit { rows, flows: fl }],
            (nz, nf) if nz == nf => rows
                .into_iter()
                .zip(fl)
                .map(|(r, f)| Unit {
                    rows: vec![r],
                    flows: vec![f],
                })
                .collect(),
            // The two split the 5-tuple's packets differently (Zeek ends a
            // connection 5 s after a RST, procflow after its closed
            // timeout): without timestamps to pair them by, the 5-tuple's
            // totals are compared.
            _ => vec![Unit { rows, flows: fl }],
        };
        for u in &new {
            for r in &u.rows {
                row_flows[*r] = u.flows.clone();
            }
        }
        units.extend(new);
    }
    (units, row_flows)
}

/// Per-endpoint sums of a counter over Zeek rows (`orig_x` / `resp_x`).
fn zeek_sums(conn: &Log, rows: &[usize], stem: &str) -> Option<BTreeMap<Endpoint, u64>> {
    let mut out = BTreeMap::new();
    for r in rows {
        let row = &conn.rows[*r];
        for side in ["orig", "resp"] {
            let ep = zeek_endpoint(row, side)?;
            *out.entry(ep).or_default() += number(row, &format!("{side}_{stem}"))?;
        }
    }
    Some(out)
}

/// Per-endpoint sums of a flow counter (`get(flow, is_source)`).
fn flow_sums(
    flows: &Flows,
    ids: &[usize],
    get: impl Fn(&Value, bool) -> u64,
) -> BTreeMap<Endpoint, u64> {
    let mut out = BTreeMap::new();
    for f in ids {
        let r = &flows.records[*f];
        *out.entry(flow_endpoint(r, "source")).or_default() += get(r, true);
        *out.entry(flow_endpoint(r, "destination")).or_default() += get(r, false);
    }
    out
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// The conn columns compared as counters, each a check of its own.
const CONN_COUNTERS: [&str; 7] = [
    "orig_pkts",
    "resp_pkts",
    "orig_ip_bytes",
    "resp_ip_bytes",
    "missed_bytes",
    "orig_bytes",
    "resp_bytes",
];

fn compare_conn(trace: &str, conn: &Log, flows: &Flows, units: &[Unit], tally: &mut Tally) {
    const SIDES: [(&str, &str); 2] = [("orig", "source"), ("resp", "destination")];
    for unit in units {
        let first = unit.rows[0];
        tally.skip(
            "conn row of a connection Zeek split in several: compared summed under the first",
            unit.rows.len() - 1,
        );
        let row = &conn.rows[first];
        let id = |field: &str| format!("conn#{first}.{field}");
        let (Some(orig), Some(resp)) = (zeek_endpoint(row, "orig"), zeek_endpoint(row, "resp"))
        else {
            continue;
        };
        if unit.flows.is_empty() {
            tally.outcome(trace, &id("orig"), false, "no procflow flow".into());
            for field in CONN_COUNTERS.iter().filter(|f| conn.has(f)) {
                tally.outcome(trace, &id(field), false, "no procflow flow".into());
            }
            continue;
        }
        // Orientation: Zeek's originator is procflow's client.
        let clients: Vec<Endpoint> = unit
            .flows
            .iter()
            .map(|f| flow_endpoint(&flows.records[*f], "source"))
            .collect();
        // Zeek's originator is procflow's server, and procflow's client
        // sent nothing.
        let one_way_from_server = unit.flows.iter().all(|f| {
            let r = &flows.records[*f];
            flow_endpoint(r, "destination") == orig && u(&r["source"]["packets"]) == 0
        });
        tally.outcome_by(
            trace,
            &id("orig"),
            clients.iter().all(|c| *c == orig),
            one_way_from_server.then_some(ONE_WAY_FROM_SERVER),
            format!("Zeek's originator {orig:?}, procflow's client {clients:?}"),
        );
        // History 'C' / 'c': a packet with a bad checksum, which Zeek (run
        // without -C) leaves out of every counter; procflow counts every
        // packet it reads (a capture taken on a sending host with checksum
        // offload has them all bad).
        let bad_checksum = unit
            .rows
            .iter()
            .any(|r| text(&conn.rows[*r], "history").is_some_and(|h| h.contains(['C', 'c'])));
        if bad_checksum {
            let n = CONN_COUNTERS.iter().filter(|f| conn.has(f)).count();
            tally.skip(
                "counters of a connection whose packets Zeek dropped for a bad checksum",
                n,
            );
            continue;
        }
        let ep = |side: &str| if side == "orig" { orig } else { resp };
        // Packets and IP bytes, per endpoint.
        for (stem, ours) in [("pkts", "packets"), ("ip_bytes", "ip_bytes")] {
            let Some(zeek) = zeek_sums(conn, &unit.rows, stem) else {
                for (side, _) in SIDES {
                    let field = format!("{side}_{stem}");
                    if conn.has(&field) {
                        tally.skip(&format!("Zeek left {field} unset"), 1);
                    } else {
                        tally.skip(&format!("{field} not in Zeek's baseline (cut)"), 1);
                    }
                }
                continue;
            };
            let got = flow_sums(flows, &unit.flows, |r, src| match (ours, src) {
                ("packets", true) => u(&r["source"]["packets"]),
                ("packets", false) => u(&r["destination"]["packets"]),
                (_, true) => u(&r["flow"]["ip_bytes_out"]),
                (_, false) => u(&r["flow"]["ip_bytes_in"]),
            });
            for (side, _) in SIDES {
                let (z, p) = (zeek.get(&ep(side)), got.get(&ep(side)));
                tally.outcome(
                    trace,
                    &id(&format!("{side}_{stem}")),
                    z == p,
                    format!("Zeek {z:?}, procflow {p:?}"),
                );
            }
        }
        // Missed bytes, both ways together.
        let missed: u64 = unit
            .flows
            .iter()
            .map(|f| u(&flows.records[*f]["flow"]["missed_bytes"]))
            .sum();
        let zeek_missed: Option<u64> = unit
            .rows
            .iter()
            .map(|r| number(&conn.rows[*r], "missed_bytes"))
            .sum();
        // Zeek's missed_bytes counts gaps in TCP content only; procflow's
        // also counts UDP and ICMP payload the snap length cut (which
        // Zeek's orig_bytes and resp_bytes hold, as the range below allows).
        let content_missed: u64 = unit
            .flows
            .iter()
            .map(|f| &flows.records[*f])
            .filter(|r| r["network"]["transport"] == "tcp")
            .map(|r| u(&r["flow"]["missed_bytes"]))
            .sum();
        match zeek_missed {
            Some(z) => tally.outcome(
                trace,
                &id("missed_bytes"),
                z == content_missed,
                format!("Zeek {z}, procflow {content_missed}"),
            ),
            None if conn.has("missed_bytes") => tally.skip("Zeek left missed_bytes unset", 1),
            None => tally.skip("missed_bytes not in Zeek's baseline (cut)", 1),
        }
        // Payload: Zeek's span of sequence numbers against what procflow
        // saw plus what it missed.
        let payload = flow_sums(flows, &unit.flows, |r, src| {
            u(&r["flow"][if src { "payload_out" } else { "payload_in" }])
        });
        for side in ["orig", "resp"] {
            let field = format!("{side}_bytes");
            let z: Option<u64> = unit
                .rows
                .iter()
                .map(|r| {
                    let row = &conn.rows[*r];
                    // The row's own side that is this endpoint.
                    let s = if zeek_endpoint(row, "orig") == Some(ep(side)) {
                        "orig"
                    } else {
                        "resp"
                    };
                    number(row, &format!("{s}_bytes"))
                })
                .sum();
            let Some(z) = z else {
                if conn.has(&field) {
                    tally.skip(&format!("Zeek left {field} unset"), 1);
                } else {
                    tally.skip(&format!("{field} not in Zeek's baseline (cut)"), 1);
                }
                continue;
            };
            let p = payload.get(&ep(side)).copied().unwrap_or(0);
            let ok = if missed == 0 && zeek_missed.unwrap_or(0) == 0 {
                z == p
            } else {
                p <= z && z <= p + missed
            };
            tally.outcome(
                trace,
                &id(&field),
                ok,
                format!("Zeek {z}, procflow payload {p} (+ {missed} missed)"),
            );
        }
    }
}

/// The flows an http or ssl row belongs to: its uid's conn row's flows,
/// else the flows of its 5-tuple over `transport` (`None`: any; an ssl
/// row is TLS over TCP or QUIC over UDP).
fn row_flows(
    transport: Option<&str>,
    row: &Map<String, Value>,
    conn: Option<(&Log, &[Vec<usize>])>,
    flows: &Flows,
) -> Vec<usize> {
    if let (Some(uid), Some((log, mapped))) = (text(row, "uid"), conn) {
        let rows: Vec<usize> = (0..log.rows.len())
            .filter(|i| text(&log.rows[*i], "uid") == Some(uid))
            .collect();
        if let [one] = rows.as_slice() {
            return mapped[*one].clone();
        }
    }
    match (zeek_endpoint(row, "orig"), zeek_endpoint(row, "resp")) {
        (Some(o), Some(r)) => flows.between(transport, o, r),
        _ => Vec::new(),
    }
}

/// `%XX` decoded, as Zeek logs a request target, in [`canonical`] form.
fn percent_decode(s: &str) -> String {
    unescape(s.as_bytes(), |b, i| match b.get(i) {
        Some(b'%') => hex_byte(b, i + 1).map(|v| (v, 3)),
        _ => None,
    })
}

/// Zeek's log escaping undone (`\\` a backslash, `\xNN` a byte), in
/// [`canonical`] form.
fn zeek_unescape(s: &str) -> String {
    unescape(s.as_bytes(), |b, i| match (b.get(i), b.get(i + 1)) {
        (Some(b'\\'), Some(b'\\')) => Some((b'\\', 2)),
        (Some(b'\\'), Some(b'x')) => hex_byte(b, i + 2).map(|v| (v, 4)),
        _ => None,
    })
}

/// The bytes of `b` with each escape `escape` finds at an index (the byte
/// it stands for, and its length) replaced, in [`canonical`] form.
fn unescape(b: &[u8], escape: impl Fn(&[u8], usize) -> Option<(u8, usize)>) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match escape(b, i) {
            Some((v, len)) => {
                out.push(v);
                i += len;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    canonical(&out)
}

/// The byte two hex digits at `at` write.
fn hex_byte(b: &[u8], at: usize) -> Option<u8> {
    let digit = |i: usize| b.get(i).and_then(|c| (*c as char).to_digit(16));
    Some((digit(at)? * 16 + digit(at + 1)?) as u8)
}

/// Bytes as text both sides can be compared in: UTF-8 kept, control bytes
/// and bytes that are no UTF-8 written `\xNN`.
fn canonical(b: &[u8]) -> String {
    let mut out = String::new();
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c.is_ascii() {
                out.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// The http columns compared.
const HTTP_FIELDS: [&str; 7] = [
    "method",
    "host",
    "uri",
    "status_code",
    "version",
    "request_body_len",
    "response_body_len",
];

/// Zeek's value of an http column, as compared.
fn zeek_http(row: &Map<String, Value>, field: &str) -> Option<String> {
    match field {
        // Zeek's 0: no status line (an HTTP/0.9 answer).
        "status_code" => number(row, field)
            .filter(|s| *s != 0)
            .map(|s| s.to_string()),
        "uri" => text(row, field).map(zeek_unescape),
        _ => text(row, field).map(String::from),
    }
}

/// procflow's value for an http column, in Zeek's terms.
fn procflow_http(tx: &Value, field: &str) -> Option<String> {
    let number = |key: &str| tx[key].as_u64().map(|n| n.to_string());
    match field {
        "uri" => tx["uri"].as_str().map(percent_decode),
        "status_code" => number("status"),
        // Zeek's is the response's; without a response, none.
        "version" => match (tx["response_version"].as_str(), tx["version"].as_str()) {
            (Some(v), _) => Some(v.trim_start_matches("HTTP/").to_string()),
            // An HTTP/0.9 request (a line without a version, answered
            // without a status line): Zeek's "0.9".
            (None, Some("HTTP/0.9")) => Some("0.9".into()),
            (None, None) if tx.get("method").is_some() => Some("0.9".into()),
            (None, _) => None,
        },
        // Zeek's is after Content-Encoding is undone.
        "request_body_len" => {
            number("request_body_decoded_bytes").or_else(|| number("request_body_bytes"))
        }
        "response_body_len" => {
            number("response_body_decoded_bytes").or_else(|| number("response_body_bytes"))
        }
        _ => tx[field].as_str().map(String::from),
    }
}

fn compare_http(
    trace: &str,
    http: &Log,
    conn: Option<(&Log, &[Vec<usize>])>,
    flows: &Flows,
    tally: &mut Tally,
) {
    // Rows without trans_depth are taken in order within their connection.
    let mut seen: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
    for (i, row) in http.rows.iter().enumerate() {
        let fl = row_flows(Some("tcp"), row, conn, flows);
        let ordinal = seen.entry(fl.clone()).or_default();
        let idx = number(row, "trans_depth")
            .and_then(|d| usize::try_from(d).ok())
            .map_or(*ordinal, |d| d.saturating_sub(1));
        *ordinal += 1;
        let txs: Vec<&Value> = fl
            .iter()
            .flat_map(|f| flows.records[*f]["http"].as_array().into_iter().flatten())
            .collect();
        let tx = txs.get(idx).copied();
        for field in HTTP_FIELDS {
            let want = zeek_http(row, field);
            if !http.has(field) {
                tally.skip(&format!("http {field} not in Zeek's baseline (cut)"), 1);
                continue;
            }
            if want.is_none() && field.ends_with("_len") {
                tally.skip(&format!("Zeek left http {field} unset"), 1);
                continue;
            }
            let id = format!("http#{i}.{field}");
            let prev = idx.checked_sub(1).and_then(|p| txs.get(p).copied());
            let rule = http_convention(row, field, tx, prev);
            match tx {
                Some(t) => {
                    let got = procflow_http(t, field);
                    tally.outcome_by(
                        trace,
                        &id,
                        got == want,
                        rule,
                        format!("Zeek {want:?}, procflow {got:?}"),
                    );
                }
                None => tally.outcome_by(
                    trace,
                    &id,
                    false,
                    rule,
                    format!(
                        "Zeek {want:?}; procflow has no transaction #{idx} ({} on {} flows)",
                        txs.len(),
                        fl.len()
                    ),
                ),
            }
        }
    }
}

/// The convention of Zeek's that explains a difference on an http row's
/// `field`, found by what both sides logged: `tx` is procflow's
/// transaction at the row's depth, `prev` the one before it.
fn http_convention(
    row: &Map<String, Value>,
    field: &str,
    tx: Option<&Value>,
    prev: Option<&Value>,
) -> Option<&'static str> {
    let http09 = |t: &Value| t["version"] == "HTTP/0.9";
    let Some(t) = tx else {
        // An empty row where procflow has no transaction, after an
        // HTTP/0.9 exchange.
        let empty = ["method", "uri", "status_code", "version"]
            .iter()
            .all(|c| text(row, c).is_none())
            && ["request_body_len", "response_body_len"]
                .iter()
                .all(|c| number(row, c).unwrap_or(0) == 0);
        return (empty && prev.is_some_and(http09)).then_some(ZEEK_EMPTY_TX);
    };
    // An HTTP/0.9 request line answered with a status line.
    let answered =
        http09(t) && t.get("response_version").is_some() && text(row, "version") == Some("0.9");
    match field {
        "status_code" | "version" if answered => Some(ZEEK_09_ANSWER),
        "response_body_len" if answered && number(row, field) == t["response_bytes"].as_u64() => {
            Some(ZEEK_09_ANSWER)
        }
        _ => None,
    }
}

/// Zeek's version names (`TLSv12`, `TLSv13-draft18`) as procflow writes
/// them (`TLS 1.2`, `TLS 1.3 draft 18`).
fn tls_version(v: &str) -> String {
    if let Some(d) = v.strip_prefix("TLSv13-draft") {
        return format!("TLS 1.3 draft {d}");
    }
    match v {
        "SSLv2" => "SSL 2.0".into(),
        "SSLv3" => "SSL 3.0".into(),
        "TLSv10" => "TLS 1.0".into(),
        "TLSv11" => "TLS 1.1".into(),
        "TLSv12" => "TLS 1.2".into(),
        "TLSv13" => "TLS 1.3".into(),
        "DTLSv10" => "DTLS 1.0".into(),
        "DTLSv12" => "DTLS 1.2".into(),
        // A version Zeek has no name for, in decimal; procflow writes its
        // number in hex.
        other => match other
            .strip_prefix("unknown-")
            .and_then(|n| n.parse::<u16>().ok())
        {
            Some(n) => format!("0x{n:04x}"),
            None => other.into(),
        },
    }
}

fn compare_ssl(
    trace: &str,
    ssl: &Log,
    conn: Option<(&Log, &[Vec<usize>])>,
    flows: &Flows,
    tally: &mut Tally,
) {
    for (i, row) in ssl.rows.iter().enumerate() {
        let fl = row_flows(None, row, conn, flows);
        let flow = fl
            .iter()
            .map(|f| &flows.records[*f])
            .find(|r| r.get("tls").is_some())
            .or_else(|| fl.first().map(|f| &flows.records[*f]));
        for (field, ours) in [
            ("version", "version"),
            ("server_name", "sni"),
            ("next_protocol", "alpn_chosen"),
        ] {
            if !ssl.has(field) {
                tally.skip(&format!("ssl {field} not in Zeek's baseline (cut)"), 1);
                continue;
            }
            let want = text(row, field).map(|v| {
                if field == "version" {
                    tls_version(v)
                } else {
                    v.to_string()
                }
            });
            let id = format!("ssl#{i}.{field}");
            match flow {
                Some(r) => {
                    let got = r["tls"][ours].as_str().map(String::from);
                    tally.outcome(
                        trace,
                        &id,
                        got == want,
                        format!("Zeek {want:?}, procflow {got:?}"),
                    );
                }
                None => tally.outcome(
                    trace,
                    &id,
                    false,
                    format!("Zeek {want:?}; no procflow flow"),
                ),
            }
        }
    }
}

#[test]
fn zeek_corpus() {
    let Some(corpus) = common::corpus("zeek_corpus") else {
        return;
    };
    let zeek = corpus.join("zeek");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(zeek.join("manifest.json")).expect("zeek manifest"),
    )
    .expect("manifest JSON");
    let entries = manifest["entries"].as_array().expect("entries");
    let mut tally = Tally::default();
    for entry in entries {
        let name = entry["name"].as_str().expect("name");
        let trace = zeek.join(entry["trace"].as_str().expect("trace"));
        let logs: BTreeMap<&str, Log> = ["conn", "http", "ssl"]
            .into_iter()
            .filter(|k| entry["logs"].get(*k).is_some())
            .map(|k| (k, Log::read(&zeek, &entry["logs"][k])))
            .collect();
        let path = trace.display().to_string();
        let run = common::procflow(&["flows", "--no-progress", &path]);
        if !run.status.success() {
            // A link type procflow does not decode: none of the rows can map.
            let why = run
                .stderr
                .lines()
                .find(|l| l.contains("is not supported"))
                .unwrap_or_else(|| panic!("procflow failed on {path}: {}", run.stderr));
            let why = why.rsplit(": ").next().unwrap_or(why);
            let rows: usize = logs.values().map(|l| l.rows.len()).sum();
            tally.skip(&format!("capture procflow does not read ({why})"), rows);
            continue;
        }
        let flows = Flows::new(run.records());
        let mut row_flows = Vec::new();
        if let Some(conn) = logs.get("conn") {
            let (units, mapped) = match_conn(conn, &flows, &mut tally);
            compare_conn(name, conn, &flows, &units, &mut tally);
            row_flows = mapped;
        }
        let conn = logs.get("conn").map(|l| (l, row_flows.as_slice()));
        if let Some(http) = logs.get("http") {
            compare_http(name, http, conn, &flows, &mut tally);
        }
        if let Some(ssl) = logs.get("ssl") {
            compare_ssl(name, ssl, conn, &flows, &mut tally);
        }
    }
    eprintln!("skipped (rows or fields that do not map):");
    for (why, n) in &tally.skipped {
        eprintln!("  {n:5}  {why}");
    }
    eprintln!("known differences by reason:");
    for (why, n) in &tally.by_reason {
        let title = why.split_once(". ").map_or(*why, |(t, _)| t);
        eprintln!("  {n:5}  {title}");
    }
    for f in &tally.failures {
        eprintln!("FAIL {f}");
    }
    for s in &tally.stale {
        eprintln!("STALE {s}");
    }
    let listed = KNOWN_DIFFERENCES.len();
    let pct = if tally.checks == 0 {
        0.0
    } else {
        tally.agree as f64 * 100.0 / tally.checks as f64
    };
    eprintln!(
        "zeek: {} traces, {} checks: {} agree, {} known differences ({pct:.1} % agreement)",
        entries.len(),
        tally.checks,
        tally.agree,
        tally.known
    );
    assert!(
        tally.failures.is_empty() && tally.stale.is_empty(),
        "{} failures, {} stale",
        tally.failures.len(),
        tally.stale.len()
    );
    assert_eq!(
        tally.listed, listed,
        "every listed difference is checked once"
    );
    assert!(tally.checks > 200, "too few checks: {}", tally.checks);
}
