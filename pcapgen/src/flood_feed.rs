//! The endpoint feed of a flood at fleet scale: for each connection of a
//! [`crate::flood`] capture, its `connect` event (host and process of the
//! client), and between them the other sockets of a fleet of hosts (
//! connections to elsewhere, which the capture never sees), so that the
//! socket index holds many times more than the capture needs. Native JSON
//! lines, in time order.

use crate::flood::{flood_conn, Flood};
use crate::pcap::START_TIME_US;
use crate::rng::mix64;
use std::io::{self, Write};
use std::net::Ipv4Addr;

/// Packets of a flood connection's open phase with a payload: the
/// connection `i` opens at `START_TIME_US + OPEN_PACKETS * i * spacing`.
const OPEN_PACKETS: u64 = 5;

/// What a feed holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedSummary {
    /// Lines written.
    pub events: u64,
    /// Of those, the connects of the capture's connections.
    pub capture_events: u64,
    /// Hosts named.
    pub hosts: u64,
}

/// The address of host `h`: the flood's clients are hosts 0..65,536.
fn host_ip(h: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x0a80_0000u32.wrapping_add(h as u32))
}

/// Writes about `events` lines over `hosts` hosts for the flood `spec`
/// (at least one line per connection).
pub fn write_flood_feed<W: Write>(
    w: W,
    spec: &Flood,
    events: u64,
    hosts: u64,
) -> io::Result<FeedSummary> {
    let mut out = io::BufWriter::with_capacity(1 << 20, w);
    let hosts = hosts.max(1);
    let others = events.saturating_sub(spec.flows);
    let mut s = FeedSummary {
        hosts,
        ..FeedSummary::default()
    };
    let mut other = 0u64;
    for i in 0..spec.flows {
        let ts = START_TIME_US + OPEN_PACKETS * i * spec.spacing_us.max(1);
        let (c, srv) = flood_conn(i);
        // Connection i's client is 10.128.0.0 + i % 65,536: host i % 65,536.
        let h = i % 65_536;
        line(
            &mut out,
            ts,
            h,
            &c.ip().to_string(),
            c.port(),
            &srv.ip().to_string(),
            srv.port(),
            i,
        )?;
        s.capture_events += 1;
        // The others of this moment: spread evenly over the connections.
        let due = others * (i + 1) / spec.flows.max(1);
        while other < due {
            let r = mix64(other ^ 0x5eed);
            let host = r % hosts;
            let dst = Ipv4Addr::new(198, 51, 100, (r >> 20) as u8);
            let sport = 20_000 + (r >> 32) as u16 % 40_000;
            line(
                &mut out,
                ts,
                host,
                &host_ip(host).to_string(),
                sport,
                &dst.to_string(),
                443,
                r,
            )?;
            other += 1;
        }
    }
    s.events = s.capture_events + other;
    out.flush()?;
    Ok(s)
}

#[allow(clippy::too_many_arguments)]
fn line<W: Write>(
    out: &mut W,
    ts: u64,
    host: u64,
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    r: u64,
) -> io::Result<()> {
    let os = if host.is_multiple_of(3) {
        "windows"
    } else {
        "linux"
    };
    // Each host runs eight networked programs, each one process.
    let app = r % 8;
    writeln!(
        out,
        r#"{{"ts":"{}","host":"h{host:06}","os":"{os}","event":"connect","proto":"tcp","src_ip":"{src}","src_port":{sport},"dst_ip":"{dst}","dst_port":{dport},"pid":{},"process":"/usr/bin/app{}"}}"#,
        crate::attribution::rfc3339(ts as i64),
        1000 + (host % 20_000) + app,
        app
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_connect_per_connection_and_the_others_spread() {
        let mut buf = Vec::new();
        let s = write_flood_feed(&mut buf, &Flood::new(100), 1_000, 300).unwrap();
        assert_eq!((s.events, s.capture_events), (1_000, 100));
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.lines().count(), 1_000);
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let (c, srv) = flood_conn(0);
        assert_eq!(first["src_ip"], c.ip().to_string());
        assert_eq!(first["src_port"], c.port());
        assert_eq!(first["dst_port"], srv.port());
        assert_eq!(first["host"], "h000000");
    }
}
