//! Flow records, as every stage shares them: defined in the data model
//! crate, re-exported here where the engine makes them.

pub use model::flow::{
    AppProtocol, EndpointFields, EventFields, FlowFields, FlowRecord, IcmpErrorFields, IcmpFields,
    NetworkFields, Transport, TunnelFields, Vlan,
};

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::file::FileSource;
    use crate::PacketEngine;
    use crate::{Engine, FlowConfig};

    /// Records are written by hand for speed; their `Serialize` is the
    /// reference. On every record of every capture at hand the two must
    /// give the same bytes.
    #[test]
    fn written_records_equal_their_serialization() {
        let files =
            crate::test_captures::every_capture("written_records_equal_their_serialization");
        let (mut records, mut http, mut tls, mut v6) = (0, 0, 0, 0);
        for f in &files {
            let Ok(mut src) = FileSource::open(f) else {
                continue;
            };
            let mut engine = Engine::new(FlowConfig::default(), 1);
            let mut all: Vec<FlowRecord> = Vec::new();
            src.for_each(|link, ts, frame, wire| {
                engine.process_frame(link, ts, frame, wire, &mut |r| all.push(r));
            });
            engine.finish(&mut |r| all.push(r));
            for r in &all {
                assert_eq!(
                    r.to_json(),
                    serde_json::to_string(r).unwrap(),
                    "{}",
                    f.display()
                );
                http += r.http.len();
                tls += usize::from(r.tls.is_some());
                v6 += usize::from(r.source.ip.is_ipv6());
            }
            records += all.len();
        }
        println!(
            "{} captures, {records} records ({http} HTTP transactions, {tls} TLS, {v6} IPv6) written alike",
            files.len()
        );
        // What pcaps/ alone holds, at least.
        assert!(
            records >= 54 && http >= 51 && tls >= 5 && v6 >= 1,
            "{records} {http} {tls} {v6}"
        );
    }
}
