//! Windows folded per second into a shared baseline by several sensors at
//! once: each sensor (a thread with its own connection, as a sensor
//! process has) opens the baseline for writing and commits batches of
//! synthetic windows, each commit one fold transaction and one read-back
//! of what every sensor changed. `bench/fleet.sh` starts the server.
//!
//!   fleet_fold URL [SENSORS] [BATCHES] [WINDOWS_PER_BATCH]

use rules::baseline::{backend, Observation};
use rules::config::BaselineConfig;
use std::path::Path;
use std::time::Instant;

/// Hosts of the fleet, and the images they run (a few everywhere, most on
/// a few hosts).
const HOSTS: u64 = 5_000;
const IMAGES: u64 = 400;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn window(sensor: u64, batch: u64, i: u64) -> Observation {
    let r = mix(sensor << 40 ^ batch << 20 ^ i);
    // Squaring skews the images: low numbers are common.
    let image = (r % IMAGES) * (r % IMAGES) / IMAGES;
    let host = mix(r) % HOSTS;
    let start = 1_700_000_000_000_000 + batch * 600_000_000;
    Observation {
        host: format!("host{host:05}"),
        host_name: format!("HOST{host:05}"),
        image: format!("c:\\program files\\app{image}\\app.exe"),
        executable: format!("C:\\Program Files\\App{image}\\app.exe"),
        os: Some("windows".into()),
        role: if host.is_multiple_of(10) {
            "servers"
        } else {
            "default"
        }
        .into(),
        start,
        end: start + 600_000_000,
        first_flow: start + r % 600_000_000,
        dest_bytes_out: vec![r % 1_000_000, r % 70_000],
        bytes_out: r % 1_070_000,
        bytes_in: r % 300_000,
        http_connections: r % 40,
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let url = args
        .get(1)
        .ok_or("usage: fleet_fold URL [SENSORS] [BATCHES] [WINDOWS]")?;
    let num = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    let (sensors, batches, per) = (num(2, 3), num(3, 40), num(4, 500));
    let started = Instant::now();
    let threads: Vec<_> = (0..sensors)
        .map(|s| {
            let url = url.clone();
            std::thread::spawn(move || -> Result<(u64, u64), String> {
                let opened = backend::open(Path::new(&url), BaselineConfig::default(), true)
                    .map_err(|e| e.to_string())?;
                let mut b = opened.baseline;
                let mut w = opened.writer.ok_or("no writer")?;
                for n in 0..batches {
                    let batch: Vec<Observation> = (0..per).map(|i| window(s, n, i)).collect();
                    for o in &batch {
                        b.fold(o);
                    }
                    w.commit(&mut b, &batch).map_err(|e| e.to_string())?;
                }
                w.close(&mut b).map_err(|e| e.to_string())?;
                let y = b.sync.unwrap_or_default();
                Ok((y.windows_sent, y.rows_read_back))
            })
        })
        .collect();
    let (mut sent, mut read) = (0, 0);
    for t in threads {
        let (s, r) = t.join().map_err(|_| "a sensor thread panicked")??;
        sent += s;
        read += r;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{sensors} sensors: {sent} windows in {} folds in {secs:.2} s: {:.0} windows/s ({:.1} folds/s); {read} rows read back",
        sensors * batches,
        sent as f64 / secs,
        (sensors * batches) as f64 / secs
    );
    Ok(())
}
