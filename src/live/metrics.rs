//! Live counters, shared between the capture, feed and processing threads
//! as atomics (no lock on any packet path), and served in the Prometheus
//! text format.

use super::output::{Counters, Kind};
use super::sources::MetricsRenderer;
use rules::detect::Registry;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Counters of a live run.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Frames read from the interfaces.
    pub packets: AtomicU64,
    /// Captured bytes read.
    pub bytes: AtomicU64,
    /// Packets the kernel dropped (pcap_stats `ps_drop`, all interfaces).
    pub kernel_drops: AtomicU64,
    /// Packets the interfaces dropped (`ps_ifdrop`).
    pub if_drops: AtomicU64,
    /// Packets dropped because a worker's queue was full.
    pub queue_drops: AtomicU64,
    /// Flow records dropped because processing fell behind.
    pub records_dropped: AtomicU64,
    /// Flows written.
    pub flows: AtomicU64,
    /// Flows with a process on either end.
    pub flows_attributed: AtomicU64,
    /// Socket events taken from the feeds (/proc, files, agents).
    pub feed_events: AtomicU64,
    /// Socket events dropped because processing fell behind.
    pub feed_events_dropped: AtomicU64,
    /// Socket events a source lost before they reached procflow (the eBPF
    /// ring buffer full).
    pub source_events_lost: AtomicU64,
    /// Alerts, one counter per rule of the registry, in its order.
    pub alerts: Vec<RuleCounter>,
    /// Interfaces not capturing now: down, or failed for good.
    pub interfaces_down: AtomicU64,
    /// The `--flows` output.
    pub flows_out: Counters,
    /// The `--processes` output.
    pub processes_out: Counters,
    /// The `--alerts` output.
    pub alerts_out: Counters,
    /// The socket-event sources' own metrics, once they run.
    sources: std::sync::OnceLock<SourceMetrics>,
    /// `--publish`: the spool and the server's acknowledgements.
    publish: std::sync::OnceLock<transport::publish::Counters>,
}

/// The renderers of the sources' own metrics.
#[derive(Default)]
struct SourceMetrics(Vec<MetricsRenderer>);

impl std::fmt::Debug for SourceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} renderers", self.0.len())
    }
}

/// Alerts written by one rule.
#[derive(Debug)]
pub struct RuleCounter {
    /// The rule's id, as alerts and the summary name it.
    pub id: &'static str,
    /// The value of the metric's `rule` label.
    pub label: &'static str,
    /// Alerts written so far.
    pub count: AtomicU64,
}

impl Metrics {
    /// Hands the sources' metric renderers over (once; later calls are
    /// ignored).
    pub fn set_source_metrics(&self, renderers: Vec<MetricsRenderer>) {
        let _ = self.sources.set(SourceMetrics(renderers));
    }

    /// Hands over the publisher's counters (once).
    pub fn set_publish_counters(&self, c: transport::publish::Counters) {
        let _ = self.publish.set(c);
    }

    /// Counters of a run of the rules of `registry`, all at 0.
    pub fn new(registry: &Registry) -> Self {
        Metrics {
            alerts: registry
                .iter()
                .map(|r| RuleCounter {
                    id: r.id(),
                    label: r.metric_label(),
                    count: AtomicU64::new(0),
                })
                .collect(),
            ..Metrics::default()
        }
    }

    /// Sets each rule's alert counter from the run's alerts by rule id.
    pub fn record_alerts(&self, by_rule: &BTreeMap<&'static str, u64>) {
        for c in &self.alerts {
            c.count
                .store(by_rule.get(c.id).copied().unwrap_or(0), Relaxed);
        }
    }

    /// Alerts by rule for the periodic stats line: "AN0144 2, AN0145 0".
    pub fn alerts_line(&self) -> String {
        let each: Vec<String> = self
            .alerts
            .iter()
            .map(|c| format!("{} {}", c.id, c.count.load(Relaxed)))
            .collect();
        each.join(", ")
    }

    /// The counters of one output.
    pub fn output(&self, k: Kind) -> &Counters {
        match k {
            Kind::Flows => &self.flows_out,
            Kind::Processes => &self.processes_out,
            Kind::Alerts => &self.alerts_out,
        }
    }

    /// The counters in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Relaxed);
        let mut s = String::new();
        let mut put = |name: &str, help: &str, v: u64| {
            s.push_str(&format!(
                "# HELP procflow_{name} {help}\n# TYPE procflow_{name} counter\nprocflow_{name} {v}\n"
            ));
        };
        put(
            "packets_total",
            "Frames read from the interfaces.",
            g(&self.packets),
        );
        put("bytes_total", "Captured bytes read.", g(&self.bytes));
        put(
            "kernel_drops_total",
            "Packets the kernel dropped.",
            g(&self.kernel_drops),
        );
        put(
            "interface_drops_total",
            "Packets the interfaces dropped.",
            g(&self.if_drops),
        );
        put(
            "queue_drops_total",
            "Packets dropped at a full worker queue.",
            g(&self.queue_drops),
        );
        put(
            "records_dropped_total",
            "Flow records dropped by a full processing queue.",
            g(&self.records_dropped),
        );
        put("flows_total", "Flows written.", g(&self.flows));
        put(
            "flows_attributed_total",
            "Flows with a process on either end.",
            g(&self.flows_attributed),
        );
        put(
            "feed_events_total",
            "Socket events taken from the feeds.",
            g(&self.feed_events),
        );
        put(
            "feed_events_dropped_total",
            "Socket events dropped by a full processing queue.",
            g(&self.feed_events_dropped),
        );
        put(
            "source_events_lost_total",
            "Socket events a source lost before procflow read them (eBPF ring buffer full).",
            g(&self.source_events_lost),
        );
        s.push_str("# HELP procflow_interfaces_down Interfaces not capturing now (down, or failed for good).\n# TYPE procflow_interfaces_down gauge\n");
        s.push_str(&format!(
            "procflow_interfaces_down {}\n",
            g(&self.interfaces_down)
        ));
        self.render_outputs(&mut s);
        for render in self.sources.get().map_or(&[][..], |r| &r.0) {
            render(&mut s);
        }
        if let Some(p) = self.publish.get() {
            render_publish(p, &mut s);
        }
        s.push_str("# HELP procflow_alerts_total Alerts raised, by rule.\n# TYPE procflow_alerts_total counter\n");
        for c in &self.alerts {
            s.push_str(&format!(
                "procflow_alerts_total{{rule=\"{}\"}} {}\n",
                c.label,
                g(&c.count)
            ));
        }
        s
    }

    /// Lines written and dropped, per output and reason.
    fn render_outputs(&self, s: &mut String) {
        s.push_str("# HELP procflow_output_written_total Lines written, by output.\n# TYPE procflow_output_written_total counter\n");
        for k in Kind::ALL {
            let c = self.output(k);
            s.push_str(&format!(
                "procflow_output_written_total{{output=\"{}\"}} {}\n",
                k.name(),
                c.written.load(Relaxed)
            ));
        }
        s.push_str("# HELP procflow_output_dropped_total Lines not written, by output and reason.\n# TYPE procflow_output_dropped_total counter\n");
        for k in Kind::ALL {
            let c = self.output(k);
            for (reason, v) in [
                ("queue_full", &c.queue_full),
                ("write_failed", &c.write_failed),
                ("abandoned", &c.abandoned),
            ] {
                s.push_str(&format!(
                    "procflow_output_dropped_total{{output=\"{}\",reason=\"{reason}\"}} {}\n",
                    k.name(),
                    v.load(Relaxed)
                ));
            }
        }
    }
}

/// Serves `/metrics` on `listener` until `stop` is set.
/// Publishing to NATS: the spool and what the server acknowledged.
fn render_publish(p: &transport::publish::Counters, s: &mut String) {
    let [appended, acked, dropped, outages, pending] = p.get();
    for (name, kind, help, v) in [
        (
            "publish_appended_total",
            "counter",
            "Messages appended to the spool.",
            appended,
        ),
        (
            "publish_acknowledged_total",
            "counter",
            "Messages the NATS server acknowledged.",
            acked,
        ),
        (
            "publish_dropped_total",
            "counter",
            "Messages dropped at the spool's cap.",
            dropped,
        ),
        (
            "publish_outages_total",
            "counter",
            "Times the NATS server stopped answering.",
            outages,
        ),
        (
            "publish_spool_bytes",
            "gauge",
            "Bytes in the spool not yet acknowledged.",
            pending,
        ),
    ] {
        s.push_str(&format!(
            "# HELP procflow_{name} {help}\n# TYPE procflow_{name} {kind}\nprocflow_{name} {v}\n"
        ));
    }
}

pub fn serve(listener: TcpListener, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
    // Non-blocking accept, so the thread sees `stop` within 100 ms.
    if listener.set_nonblocking(true).is_err() {
        return;
    }
    while !stop.load(Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => answer(conn, &metrics),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// One request: read at most 8 KiB of request head for at most 2 s, then
/// answer with the counters whatever the path.
fn answer(conn: TcpStream, metrics: &Metrics) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(2)));
    let began = std::time::Instant::now();
    let mut reader = BufReader::new((&conn).take(8192));
    let mut line = Vec::new();
    while began.elapsed() < Duration::from_secs(2) {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) if line == b"\r\n" || line == b"\n" => break,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    let body = metrics.render();
    let mut w = &conn;
    let _ = write!(
        w,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_counter() {
        let m = Metrics::new(&Registry::builtin());
        m.packets.store(12, Relaxed);
        m.record_alerts(&BTreeMap::from([("AN0145", 1)]));
        let t = m.render();
        assert!(t.contains("procflow_packets_total 12\n"));
        assert!(t.ends_with(
            "# HELP procflow_alerts_total Alerts raised, by rule.\n# TYPE procflow_alerts_total counter\n\
             procflow_alerts_total{rule=\"AN0144\"} 0\nprocflow_alerts_total{rule=\"AN0145\"} 1\n"
        ));
        assert_eq!(m.alerts_line(), "AN0144 0, AN0145 1");
        assert!(t.contains("# TYPE procflow_kernel_drops_total counter\n"));
        m.alerts_out.write_failed.store(3, Relaxed);
        m.interfaces_down.store(1, Relaxed);
        let t = m.render();
        assert!(t.contains(
            "procflow_output_dropped_total{output=\"alerts\",reason=\"write_failed\"} 3\n"
        ));
        assert!(
            t.contains("procflow_output_dropped_total{output=\"flows\",reason=\"queue_full\"} 0\n")
        );
        assert!(t.contains("procflow_interfaces_down 1\n"));
    }
}
