//! `pcapgen` command line: writes the scenario captures, a benchmark
//! capture or a flood of concurrent connections.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::fs::{self, File};
use std::path::PathBuf;

/// Deterministic pcap generator for procflow's tests and benchmark.
#[derive(Parser)]
#[command(name = "pcapgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write every scenario as DIR/<name>.pcap and DIR/<name>.expected.json.
    Scenarios {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the AN0144 / AN0145 detection scenario: history and detection
    /// captures with their feeds, a configuration, and the expected alerts.
    Detection {
        /// Output directory (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Multiplies the bulk volumes (1.0: about 1.6 GB of traffic).
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Write the labelled suite instead (12 cases to report, 17 to
        /// leave alone).
        #[arg(long)]
        suite: bool,
    },
    /// Split a capture (as this tool writes them) into N parts by a
    /// symmetric hash of the two IP addresses, as a packet broker spreads
    /// a link over N sensors: PREFIX.1.pcap ... PREFIX.N.pcap.
    Split {
        /// The capture.
        input: PathBuf,
        /// Parts.
        #[arg(long)]
        parts: usize,
        /// Output prefix.
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the endpoint feed of a flood (`flood --flows N`, HTTP, 1 µs
    /// apart) at fleet scale: a connect per connection, and other sockets
    /// of HOSTS hosts up to EVENTS lines (native JSON lines).
    FloodFeed {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Connections of the flood.
        #[arg(long)]
        flows: u64,
        /// Lines in all.
        #[arg(long)]
        events: u64,
        /// Hosts.
        #[arg(long)]
        hosts: u64,
    },
    /// Write a benchmark capture of mixed traffic.
    Bench {
        /// Output pcap file.
        #[arg(long)]
        out: PathBuf,
        /// Approximate size in MiB.
        #[arg(long)]
        size_mb: u64,
        /// Seed of the traffic mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also write the endpoint feed of the traffic here (native JSON
        /// lines: a connect event per TCP connection).
        #[arg(long)]
        feed: Option<PathBuf>,
    },
    /// Write N concurrent TCP connections: every one opened (handshake and
    /// a small request) before any is closed, then all closed in order.
    Flood {
        /// Output pcap file.
        #[arg(long)]
        out: PathBuf,
        /// Connections.
        #[arg(long)]
        flows: u64,
        /// What each client sends after its handshake: http, opaque, none.
        #[arg(long, default_value = "http", value_parser = parse_payload)]
        payload: pcapgen::FloodPayload,
        /// Microseconds between two packets.
        #[arg(long, default_value_t = 1)]
        spacing_us: u64,
        /// Leave every connection open (no close phase).
        #[arg(long)]
        no_close: bool,
    },
}

fn parse_payload(s: &str) -> Result<pcapgen::FloodPayload, String> {
    match s {
        "http" => Ok(pcapgen::FloodPayload::Http),
        "opaque" => Ok(pcapgen::FloodPayload::Opaque),
        "none" => Ok(pcapgen::FloodPayload::None),
        _ => Err(format!("{s:?}: expected http, opaque or none")),
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::FloodFeed {
            out,
            flows,
            events,
            hosts,
        } => {
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let s = pcapgen::flood_feed::write_flood_feed(
                file,
                &pcapgen::Flood::new(flows),
                events,
                hosts,
            )
            .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} events ({} for the capture's connections) over {} hosts",
                out.display(),
                s.events,
                s.capture_events,
                s.hosts
            );
        }
        Command::Split { input, parts, out } => {
            let whole = fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            for (i, part) in pcapgen::split::by_host_pair(&whole, parts)
                .iter()
                .enumerate()
            {
                let path = PathBuf::from(format!("{}.{}.pcap", out.display(), i + 1));
                fs::write(&path, part).with_context(|| format!("writing {}", path.display()))?;
                println!("{:>12} bytes  {}", part.len(), path.display());
            }
        }
        Command::Scenarios { out } => {
            fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            for s in pcapgen::scenarios() {
                let pcap = out.join(format!("{}.pcap", s.name));
                fs::write(&pcap, &s.pcap).with_context(|| format!("writing {}", pcap.display()))?;
                let json = out.join(format!("{}.expected.json", s.name));
                let mut text = serde_json::to_string_pretty(&s.flows)?;
                text.push('\n');
                fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
                println!(
                    "{:<18} {:>3} flows  {:>7} bytes  {}",
                    s.name,
                    s.flows.len(),
                    s.pcap.len(),
                    pcap.display()
                );
            }
            let a = pcapgen::attribution::attribution();
            let pcap = out.join("attribution.pcap");
            fs::write(&pcap, &a.pcap).with_context(|| format!("writing {}", pcap.display()))?;
            let feed = out.join("attribution.feed.jsonl");
            fs::write(&feed, &a.feed).with_context(|| format!("writing {}", feed.display()))?;
            let json = out.join("attribution.expected.json");
            let mut text = serde_json::to_string_pretty(&a.flows)?;
            text.push('\n');
            fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
            println!(
                "{:<18} {:>3} flows  {:>7} bytes  {}",
                "attribution",
                a.flows.len(),
                a.pcap.len(),
                pcap.display()
            );
        }
        Command::Detection { out, scale, suite } => {
            fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let write = if suite {
                pcapgen::suite::write
            } else {
                pcapgen::detection::write
            };
            let s =
                write(&out, scale).with_context(|| format!("writing into {}", out.display()))?;
            let json = out.join("expected.json");
            let mut text = serde_json::to_string_pretty(&s)?;
            text.push('\n');
            fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
            println!(
                "{}: history {} packets, detection {} packets, {} expected alerts, {} silent cases",
                out.display(),
                s.history_packets,
                s.detection_packets,
                s.alerts.len(),
                s.silent.len()
            );
        }
        Command::Bench {
            out,
            size_mb,
            seed,
            feed,
        } => {
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let feed_file: Option<Box<dyn std::io::Write>> = match &feed {
                Some(p) => Some(Box::new(
                    File::create(p).with_context(|| format!("creating {}", p.display()))?,
                )),
                None => None,
            };
            let summary =
                pcapgen::bench::try_write_bench_with_feed(file, feed_file, size_mb << 20, seed)
                    .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} packets, {} frame bytes, {} tcp flows, {} udp flows",
                out.display(),
                summary.packets,
                summary.bytes,
                summary.tcp_flows,
                summary.udp_flows
            );
        }
        Command::Flood {
            out,
            flows,
            payload,
            spacing_us,
            no_close,
        } => {
            let spec = pcapgen::Flood {
                flows,
                payload,
                spacing_us,
                close: !no_close,
            };
            let file = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let s = pcapgen::flood::write_flood(file, &spec)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "{}: {} connections, {} packets ({} in the open phase), {} frame bytes, {:.3} s of packet time",
                out.display(),
                s.flows,
                s.packets,
                s.open_packets,
                s.bytes,
                (s.last_ts_us - s.first_ts_us) as f64 / 1e6
            );
        }
    }
    Ok(())
}
