//! Messages per second published to JetStream through the spool: N flow
//! lines of about 600 bytes appended, then the time until the server has
//! acknowledged every one. `bench/fleet.sh` starts the server.
//!
//!   publish_rate nats://HOST:PORT SPOOL_DIR [MESSAGES]

use std::io::Write;
use std::time::{Duration, Instant};
use transport::{Kind, PublishConfig, Publisher, Server};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(spool)) = (args.get(1), args.get(2)) else {
        return Err("usage: publish_rate URL SPOOL_DIR [MESSAGES]".into());
    };
    let n: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let _ = std::fs::remove_dir_all(spool);
    let p = Publisher::start(PublishConfig {
        server: Server::parse(url)?,
        sensor: "bench".into(),
        spool: spool.into(),
        spool_max_bytes: 4 << 30,
        final_wait: Duration::from_secs(600),
    })
    .map_err(|e| e.to_string())?;
    let mut w = p.writer(Kind::Flow);
    let filler = "x".repeat(520);
    let started = Instant::now();
    for i in 0..n {
        let line = format!("{{\"community_id\":\"1:{i:026}\",\"pad\":\"{filler}\"}}\n");
        w.write_all(line.as_bytes()).map_err(|e| e.to_string())?;
    }
    w.flush().map_err(|e| e.to_string())?;
    let appended = started.elapsed().as_secs_f64();
    let end = p.finish();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} messages acknowledged in {secs:.2} s: {:.0} messages/s ({:.1} MB/s); appending to the spool alone: {:.0} messages/s",
        end.published,
        end.published as f64 / secs,
        end.published as f64 * 560.0 / secs / 1e6,
        n as f64 / appended
    );
    Ok(())
}
