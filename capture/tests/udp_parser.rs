//! Adding a parser is one file and one registration: this test writes a
//! datagram parser (a made-up "knock" protocol: datagrams starting `KNK`
//! and a sequence byte) and registers it beside the built-in ones in
//! `FlowConfig::parsers`; its findings land in the record under its own key
//! and in `network.protocol`, written as JSON by the record's own writer.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::app::parser::{ParserSpec, Probe, StreamParser, Transports, Verdict};
use capture::app::registry::BUILTIN;
use capture::app::AppLimits;
use capture::decode::LinkType;
use capture::PacketEngine;
use capture::{Engine, FlowConfig, FlowRecord, Stats};

/// What the knock parser keeps for one flow.
#[derive(Debug, Default)]
struct Knock {
    knocks: u64,
    replies: u64,
    highest: u8,
}

const KNOCK: ParserSpec = ParserSpec {
    name: "knock",
    transports: Transports::Udp,
    probe: |_, first| {
        if first.starts_with(b"KNK") {
            Probe::Yes
        } else {
            Probe::No
        }
    },
    late_probe: None,
    new: |_: &AppLimits| Box::<Knock>::default(),
};

impl StreamParser for Knock {
    fn name(&self) -> &'static str {
        KNOCK.name
    }

    fn data(&mut self, to_server: bool, datagram: &[u8]) -> Verdict {
        if to_server {
            self.knocks += 1;
            self.highest = self.highest.max(datagram.get(3).copied().unwrap_or(0));
        } else {
            self.replies += 1;
        }
        Verdict::Continue
    }

    fn gap(&mut self, _: bool, _: u64) {}

    fn record(self: Box<Self>, rec: &mut FlowRecord, _: &mut Stats) {
        let v = serde_json::json!({
            "knocks": self.knocks,
            "replies": self.replies,
            "highest": self.highest,
        });
        rec.extra.insert("knock", v);
    }
}

/// The registration: two built-in parsers (HTTP/1.x and TLS) and this one.
static PARSERS: [ParserSpec; 3] = [BUILTIN[1], BUILTIN[2], KNOCK];

/// Ethernet + IPv4 + UDP 10.0.0.1:5000 <-> 10.0.0.2:7, checksums 0.
fn datagram(to_server: bool, payload: &[u8]) -> Vec<u8> {
    let (src, dst, sport, dport) = if to_server {
        ([10, 0, 0, 1], [10, 0, 0, 2], 5000u16, 7u16)
    } else {
        ([10, 0, 0, 2], [10, 0, 0, 1], 7, 5000)
    };
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (28 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

fn run(cfg: FlowConfig, datagrams: &[(bool, &[u8])]) -> FlowRecord {
    let mut engine = Engine::new(cfg, 1);
    let mut records = Vec::new();
    for (i, (to_server, payload)) in datagrams.iter().enumerate() {
        let f = datagram(*to_server, payload);
        let ts = 1_000_000 + i as u64;
        engine.process_frame(LinkType::Ethernet, ts, &f, f.len() as u32, &mut |r| {
            records.push(r)
        });
    }
    engine.finish(&mut |r| records.push(r));
    assert_eq!(records.len(), 1);
    records.pop().unwrap()
}

const EXCHANGE: [(bool, &[u8]); 4] = [
    (true, b"KNK\x01"),
    (false, b"who"),
    (true, b"KNK\x07"),
    (true, b"KNK\x03"),
];

#[test]
fn a_registered_datagram_parser_fills_its_part_of_the_record() {
    let cfg = FlowConfig {
        parsers: &PARSERS,
        ..FlowConfig::default()
    };
    let r = run(cfg, &EXCHANGE);
    assert_eq!(r.network.transport, capture::record::Transport::Udp);
    assert_eq!(
        r.network.protocol,
        Some(capture::record::AppProtocol::named("knock"))
    );
    assert_eq!((r.flow.payload_out, r.flow.payload_in), (12, 3));
    assert_eq!(
        r.extra.get("knock"),
        Some(&serde_json::json!({"knocks": 3, "replies": 1, "highest": 7}))
    );
    let line = r.to_json();
    assert!(
        line.ends_with(r#""midstream":false},"knock":{"highest":7,"knocks":3,"replies":1}}"#),
        "{line}"
    );
    assert_eq!(line, serde_json::to_string(&r).unwrap());
}

#[test]
fn without_the_registration_the_flow_is_plain_udp() {
    let r = run(FlowConfig::default(), &EXCHANGE);
    assert_eq!(r.network.protocol, None);
    assert!(r.extra.is_empty());
    assert!(!r.to_json().contains("knock"));
}

/// A datagram no probe takes leaves the next ones to be probed, within a
/// direction's first KiB: after that, the flow is not taken.
#[test]
fn a_flow_is_taken_within_its_first_kib_only() {
    let cfg = FlowConfig {
        parsers: &PARSERS,
        ..FlowConfig::default()
    };
    let r = run(cfg.clone(), &[(true, b"hello"), (true, b"KNK\x01")]);
    assert_eq!(r.network.protocol.map(|p| p.name()), Some("knock"));
    let junk = [b'j'; 1100];
    let r = run(cfg, &[(true, &junk), (true, b"KNK\x01")]);
    assert_eq!(r.network.protocol, None);
    assert!(r.extra.is_empty());
}
