//! Cost of detection per process window: judging a batch of windows
//! against a baseline of 20,000 images on 2,000 hosts, folding them in,
//! and (second figure) writing the batch to the SQLite baseline file.
//!
//! `cargo bench -p rules --bench detect`: criterion prints the time per
//! batch of 1,000 windows and the windows per second.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use model::Destination;
use model::ProcessWindow;
use rules::baseline::{Observation, Store};
use rules::config::Config;
use rules::{Baseline, Detector, Mode, Policy};
use std::net::IpAddr;

const WINDOW: u64 = 600_000_000;
const T0: u64 = 1_700_000_400_000_000;
const BATCH: usize = 1000;

fn baseline(config: &Config) -> Baseline {
    let mut b = Baseline::new(config.baseline.clone());
    for i in 0..20_000u64 {
        for h in 0..(1 + i % 7) {
            b.fold(&Observation {
                host: format!("host{}", (i * 31 + h * 17) % 2000),
                host_name: format!("HOST{}", (i * 31 + h * 17) % 2000),
                image: format!("\\program files\\vendor{}\\app{i}.exe", i % 50),
                executable: format!("C:\\Program Files\\Vendor{}\\app{i}.exe", i % 50),
                os: Some("windows".into()),
                role: "default".into(),
                start: T0,
                end: T0 + WINDOW,
                first_flow: T0,
                dest_bytes_out: vec![1000 + i * 10, 500],
                bytes_out: 1500 + i * 10,
                bytes_in: 90_000,
                http_connections: 3,
            });
        }
    }
    b.dirty = Default::default();
    b
}

/// A batch of windows a week later: known images, unseen ones, several
/// destinations each, a few over the AN0144 threshold.
fn windows() -> Vec<ProcessWindow> {
    (0..BATCH as u64)
        .map(|i| {
            let exe = if i % 10 == 0 {
                format!("C:\\Users\\u{i}\\AppData\\Local\\Temp\\new{i}.exe")
            } else {
                format!(
                    "C:\\Program Files\\Vendor{}\\app{}.exe",
                    i % 50,
                    i * 13 % 20_000
                )
            };
            let mut w = ProcessWindow::default();
            w.host_name = format!("HOST{}", i % 2000);
            w.os = Some("windows");
            w.image = model::image::image_key(&exe);
            w.name = "app.exe".into();
            w.executable = exe;
            w.start = T0 + 7 * 86_400_000_000;
            w.end = w.start + WINDOW;
            w.host_ips
                .insert(IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8]));
            w.pids.insert(1000 + i as u32);
            for d in 0..5u64 {
                let ip = IpAddr::from([203, 0, 113, (i * 5 + d) as u8]);
                let mut dest = Destination::default();
                dest.ip = Some(ip);
                dest.port = 443;
                dest.domain = Some(format!("svc{d}.example.net"));
                dest.traffic.connections = 4;
                dest.traffic.tls_connections = 4;
                dest.traffic.request_bytes = if i % 97 == 0 { 50_000_000 } else { 20_000 };
                dest.traffic.response_bytes = 400_000;
                dest.traffic.tls_app_bytes_out = dest.traffic.request_bytes;
                dest.traffic.tls_app_bytes_in = 400_000;
                dest.flows = vec![model::window::FlowRef {
                    start: 0,
                    community_id: "1:abcdefghijklmnopqrstuvwxyz0=".into(),
                    transport: model::flow::Transport::Tcp,
                    client: (IpAddr::from([10, 0, 0, 5]), 50_000),
                    server: (ip, 443),
                    request_bytes: 5_000,
                }];
                w.traffic.add(&dest.traffic);
                w.destinations.insert((ip, 443), dest);
            }
            w
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = Config::default();
    let base = baseline(&config);
    let batch = windows();
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.sample_size(20);
    g.bench_function("judge_and_fold_per_window_in_memory", |b| {
        b.iter_batched(
            || {
                let d = Detector::new(
                    Policy::new(config.clone()),
                    base.clone(),
                    None,
                    Mode {
                        detect: true,
                        learn: true,
                    },
                    600,
                );
                (d, batch.clone())
            },
            |(mut d, ws)| {
                for w in ws {
                    d.push(w);
                }
                let mut n = 0usize;
                d.flush(&mut |_| n += 1).expect("flush");
                // Returned, so the baseline is dropped outside the timing.
                (d, n)
            },
            BatchSize::PerIteration,
        )
    });
    let dir = std::env::temp_dir().join(format!("procflow-bench-detect-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("baseline.db");
    g.bench_function("judge_fold_and_commit_per_window_sqlite", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&path);
                let (store, _) = Store::open(&path, config.baseline.clone()).expect("store");
                let d = Detector::new(
                    Policy::new(config.clone()),
                    base.clone(),
                    Some(Box::new(store)),
                    Mode {
                        detect: true,
                        learn: true,
                    },
                    600,
                );
                (d, batch.clone())
            },
            |(mut d, ws)| {
                for w in ws {
                    d.push(w);
                }
                let mut n = 0usize;
                d.flush(&mut |_| n += 1).expect("flush");
                // Returned, so the baseline is dropped outside the timing.
                (d, n)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
