//! `procflow sockets`: this host's sockets from /proc, as a native feed.

use crate::cli::SocketsArgs;
use crate::pipeline;
use anyhow::{Context, Result};
use correlate::procfs::{host_name, user_names, Poller};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Runs the command.
pub fn run(args: &SocketsArgs) -> Result<()> {
    if !args.proc_root.join("net/tcp").is_file() {
        anyhow::bail!(
            "{}: no net/tcp here: not a Linux proc file system",
            args.proc_root.display()
        );
    }
    let host = match &args.host {
        Some(h) => h.clone(),
        None => host_name(&args.proc_root),
    };
    let mut out = pipeline::writer(args.out.as_deref())?;
    let mut poller = Poller::new(
        &args.proc_root,
        &host,
        user_names("/etc/passwd".as_ref()),
        args.max_sockets,
    );
    let began = Instant::now();
    let limit = args.duration.map(|d| Duration::from_secs_f64(d.max(0.0)));
    let interval = Duration::from_millis(args.interval_ms.max(1));
    let mut events = 0u64;
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut err = None;
        poller.poll(now, &mut |e| {
            events += 1;
            if err.is_none() {
                err = writeln!(out, "{}", e.to_native_json()).err();
            }
        });
        if let Some(e) = err {
            return Err(e).context("writing the feed");
        }
        out.flush().context("writing the feed")?;
        if limit.is_some_and(|l| began.elapsed() >= l) {
            break;
        }
        std::thread::sleep(interval);
    }
    eprintln!(
        "procflow: sockets: {events} events written, {} sockets not tracked (table full)",
        poller.dropped
    );
    Ok(())
}
