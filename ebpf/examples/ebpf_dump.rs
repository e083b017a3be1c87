//! Loads the programs and prints every socket record for a few seconds:
//! `cargo run -p ebpf --example ebpf_dump -- SECONDS` (as root).

use std::time::{Duration, Instant};

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let mut probes = match ebpf::Probes::load(&ebpf::Config::default()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ebpf_dump: {e}");
            std::process::exit(1);
        }
    };
    eprintln!(
        "ebpf_dump: attached; {} processes seeded",
        probes.processes.stats.seeded
    );
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        let r = probes.read(Duration::from_millis(100), &mut |s| {
            let p = s.process.as_deref();
            println!(
                "{} {:?} {:?} {} -> {} pid {} ppid {} netns {} cgroup {} comm {} exe {:?} deleted {} cmd {:?}",
                s.wall_us,
                s.record.kind,
                s.record.protocol,
                s.record.local,
                s.record.remote,
                s.record.pid,
                s.record.ppid,
                s.record.netns,
                s.record.cgroup,
                s.record.comm,
                p.and_then(|p| p.executable.as_deref()),
                p.is_some_and(|p| p.deleted),
                p.and_then(|p| p.cmdline.as_deref()),
            );
        });
        if let Err(e) = r {
            eprintln!("ebpf_dump: {e}");
            break;
        }
    }
    eprintln!(
        "ebpf_dump: {:?} {:?}",
        probes.stats(),
        probes.processes.stats
    );
}
