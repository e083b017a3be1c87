//! Memory per tracked flow, measured two ways and checked against each
//! other.
//!
//! * **From the types**: what one TCP flow puts on the heap is its table
//!   entry (the `lru` crate boxes key, `Flow` and two list pointers), its
//!   two reassembly `Stream`s (one box) and its `App` (one box), plus its
//!   share of the hash table (16 bytes and a control byte per bucket).
//! * **Measured**: an `Engine` (one shard) is loaded with 100,000 idle
//!   flows from a pcapgen flood (handshake, one small client write, no
//!   close), in a child process of its own, which reports the heap bytes
//!   requested (counted by `allocation-counter`) and the growth of its
//!   resident set (`VmRSS`), each divided by the number of flows.
//!
//! The requested heap bytes of a flow without parser state must equal the
//! sum from the types exactly; the resident set adds what malloc rounds up
//! to and its headers.
//!
//! `cargo test -p capture --test flow_memory -- --nocapture` prints the
//! figures.
#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use capture::app::http::{Http, HttpTransaction};
use capture::app::tls::Tls;
use capture::app::App;
use capture::decode::LinkType;
use capture::flow::history::History;
use capture::flow::state::{CloseReason, Flow};
use capture::flow::{Addr, FlowKey};
use capture::tcp::Stream;
use capture::time::Micros;
use capture::{Engine, FlowConfig, FlowRecord};
use pcapgen::flood::{for_each_frame, Flood, FloodPayload};
use std::mem::size_of;
use std::process::Command;

const FLOWS: u64 = 100_000;
/// Two list pointers the `lru` crate keeps beside key and value.
const LRU_LINKS: usize = 2 * size_of::<usize>();

/// Bytes glibc malloc takes for a request of `n` bytes (an 8-byte header,
/// 16-byte granules, 32 bytes at least).
fn chunk(n: usize) -> usize {
    (n + 8).div_ceil(16).max(2) * 16
}

/// Buckets of a hashbrown table holding `n` entries (load factor 7/8,
/// powers of two), and the bytes of its allocation for 16-byte slots.
fn hash_table(n: usize) -> (usize, usize) {
    let buckets = (n * 8 / 7).next_power_of_two();
    (buckets, buckets * 16 + buckets + 16)
}

struct Layout {
    entry: usize,
    streams: usize,
    app: usize,
}

fn layout() -> Layout {
    Layout {
        entry: size_of::<FlowKey>() + size_of::<Flow>() + LRU_LINKS,
        streams: size_of::<[Stream; 2]>(),
        app: size_of::<App>(),
    }
}

#[test]
fn sizes_of_the_flow_state() {
    let l = layout();
    println!("size_of FlowKey           {:4}", size_of::<FlowKey>());
    println!("size_of Flow              {:4}", size_of::<Flow>());
    println!("  key FlowKey             {:4}", size_of::<FlowKey>());
    println!("  start, last Micros      {:4}", 2 * size_of::<Micros>());
    println!(
        "  packets, bytes, ip_bytes, udp_payload [u64; 2] {:4}",
        4 * size_of::<[u64; 2]>()
    );
    println!("  history History         {:4}", size_of::<History>());
    println!("  syn_seq Option<u32>     {:4}", size_of::<Option<u32>>());
    println!(
        "  closing Option<CloseReason> {:4}",
        size_of::<Option<CloseReason>>()
    );
    println!("  client_is_lo, midstream, fin[2] bool {:4}", 4);
    println!(
        "  streams Option<Box<[Stream; 2]>> {:4}",
        size_of::<Option<Box<[Stream; 2]>>>()
    );
    println!(
        "  app Option<Box<App>>    {:4}",
        size_of::<Option<Box<App>>>()
    );
    println!("size_of Addr              {:4}", size_of::<Addr>());
    println!("size_of Stream            {:4}", size_of::<Stream>());
    println!("size_of App               {:4}", size_of::<App>());
    println!(
        "size_of Http (boxed once HTTP is seen) {:4}",
        size_of::<Http>()
    );
    println!(
        "size_of HttpTransaction   {:4}",
        size_of::<HttpTransaction>()
    );
    println!(
        "size_of Tls (boxed once TLS is seen)   {:4}",
        size_of::<Tls>()
    );
    let (buckets, table) = hash_table(FLOWS as usize);
    let per_flow_table = table as f64 / FLOWS as f64;
    let requested = (l.entry + l.streams + l.app) as f64 + per_flow_table;
    let taken = (chunk(l.entry) + chunk(l.streams) + chunk(l.app)) as f64 + per_flow_table;
    println!(
        "per idle TCP flow: lru entry {} (malloc {}), streams {} ({}), app {} ({}), \
         hash table {per_flow_table:.1} at {FLOWS} flows ({buckets} buckets)",
        l.entry,
        chunk(l.entry),
        l.streams,
        chunk(l.streams),
        l.app,
        chunk(l.app)
    );
    println!(
        "bytes per idle TCP flow, from the types: {requested:.1} requested, {taken:.1} with malloc's rounding"
    );
    // The Flow itself is within the 256-byte budget; what it owns is not.
    assert!(size_of::<Flow>() <= 256);
}

/// Runs the `probe` test below in a child process for one payload kind and
/// returns what it printed: (heap bytes per flow, live heap blocks per
/// flow, RSS bytes per flow).
fn run_probe(payload: &str) -> (f64, f64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "probe",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FLOW_MEMORY_PAYLOAD", payload)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "probe failed: {stdout}");
    // libtest prints `test probe ... ` just before the test's own output.
    let line = stdout
        .split_once("PROBE ")
        .and_then(|(_, rest)| rest.lines().next())
        .unwrap_or_else(|| panic!("no PROBE line in {stdout}"));
    let v: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    (v[0], v[1], v[2])
}

#[test]
fn bytes_per_idle_flow() {
    let l = layout();
    let (_, table) = hash_table(FLOWS as usize);
    let computed = (l.entry + l.streams + l.app) as f64 + table as f64 / FLOWS as f64;
    let with_malloc =
        (chunk(l.entry) + chunk(l.streams) + chunk(l.app)) as f64 + table as f64 / FLOWS as f64;
    for payload in ["none", "opaque", "http"] {
        let (heap, blocks, rss) = run_probe(payload);
        println!(
            "{payload:>6}: {heap:.1} heap bytes per flow in {blocks:.2} blocks, {rss:.1} resident bytes per flow"
        );
        if payload != "http" {
            assert!(
                (heap - computed).abs() < 0.5,
                "{payload}: measured {heap} heap bytes per flow, the types say {computed}: \
                 the accounting in this test is out of date"
            );
            assert!(
                (blocks - 3.0).abs() < 0.01,
                "{payload}: {blocks} blocks per flow"
            );
            // The resident set also holds malloc's headers and rounding.
            assert!(
                rss > 0.9 * with_malloc && rss < 1.2 * with_malloc,
                "{payload}: {rss} resident bytes per flow, expected about {with_malloc}"
            );
        }
    }
    println!("bytes per idle TCP flow: {computed:.1} requested, about {with_malloc:.1} resident (target 256)");
}

fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Loads one flood into an engine and prints the figures (run by
/// `bytes_per_idle_flow` in a child process, so that nothing else shares
/// its heap).
#[test]
#[ignore = "run by bytes_per_idle_flow in a process of its own"]
fn probe() {
    let payload = match std::env::var("FLOW_MEMORY_PAYLOAD").as_deref() {
        Ok("none") => FloodPayload::None,
        Ok("opaque") => FloodPayload::Opaque,
        Ok("http") => FloodPayload::Http,
        _ => {
            println!("probe: nothing to do without FLOW_MEMORY_PAYLOAD (none, opaque or http)");
            return;
        }
    };
    let spec = Flood {
        flows: FLOWS,
        payload,
        spacing_us: 1,
        close: false,
    };
    let mut engine = Engine::new(FlowConfig::default(), 1);
    let mut ended = 0u64;
    let before = vm_rss();
    let info = allocation_counter::measure(|| {
        for_each_frame(&spec, |ts, frame| {
            engine.process_frame(
                LinkType::Ethernet,
                ts,
                frame,
                frame.len() as u32,
                &mut |_: FlowRecord| ended += 1,
            );
            Ok(())
        })
        .unwrap();
    });
    let after = vm_rss();
    assert_eq!(ended, 0);
    assert_eq!(engine.flows() as u64, FLOWS);
    let n = FLOWS as f64;
    println!(
        "PROBE {} {} {}",
        info.bytes_current as f64 / n,
        info.count_current as f64 / n,
        after.saturating_sub(before) as f64 / n
    );
    drop(engine);
}
