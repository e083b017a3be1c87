//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Network packet sensor: which process on which host sent this outbound
/// web traffic, how much, and is that normal here.
#[derive(Parser, Debug)]
#[command(name = "procflow", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read captures and write one JSON line per flow (HTTP and TLS included).
    Flows(FlowsArgs),
    /// Read captures and endpoint socket feeds: attribute every flow to the
    /// host and process on each end, sum traffic per process window, and
    /// (with --alerts) run AN0144 / AN0145 against the baseline.
    Read(ReadArgs),
    /// Fold captures and feeds into the baseline without alerting.
    Learn(LearnArgs),
    /// Print the documented default configuration, or check a file.
    Config(ConfigArgs),
    /// Capture live from interfaces: attribute flows (from /proc, feed
    /// files followed as they grow, or agents streaming over TCP), judge
    /// process windows as they close, write alerts as they happen.
    Live(Box<LiveArgs>),
    /// Poll this host's /proc and write its sockets as a native feed
    /// (an `open` event when a socket appears, `close` when it is gone).
    Sockets(SocketsArgs),
    /// Publish endpoint socket feeds (any format read here) to NATS
    /// JetStream, for every sensor of a fleet to read (`--feed nats://`).
    Relay(RelayArgs),
    /// Turn a run's outputs (process windows, alerts, flows) into the
    /// alerts, who talked to whom per process, and attribution coverage:
    /// on the terminal, and as one self-contained HTML page.
    Report(ReportArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the manual page (roff), or write one page per command into a
    /// folder.
    Man(ManArgs),
}

/// Arguments of `procflow relay`.
#[derive(Args, Debug)]
pub struct RelayArgs {
    /// Endpoint socket feed files.
    #[arg(long = "feed", value_name = "FILE")]
    pub feeds: Vec<PathBuf>,
    /// Feed format: auto, jsonl, sysmon, wfp, osquery, auditd.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub feed_format: String,
    /// Host name for feed records that carry none (auditd without node=);
    /// default: the feed file's name without its extension.
    #[arg(long, value_name = "NAME")]
    pub feed_host: Option<String>,
    /// Follow the feed files as they grow (like tail -F, from their start)
    /// and publish what is appended, until SIGINT or SIGTERM.
    #[arg(long)]
    pub follow: bool,
    /// Where to publish, and the spool.
    #[command(flatten)]
    pub publish: crate::publish::PublishOpts,
}

/// Arguments of `procflow report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Process windows, as `read --processes` writes them.
    #[arg(long, value_name = "FILE")]
    pub processes: Option<PathBuf>,
    /// Alerts, as `read --alerts` writes them.
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Attributed flows, as `read --flows` writes them (for coverage and
    /// the blind spots).
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page here.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// Arguments of `procflow completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `procflow man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write procflow.1 and procflow-COMMAND.1 for every command here
    /// instead of printing procflow.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Arguments of `procflow sockets`.
#[derive(Args, Debug)]
pub struct SocketsArgs {
    /// Write the feed here instead of standard output ("-": standard
    /// output; flushed every poll).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Milliseconds between two polls.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub interval_ms: u64,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Host name to write (default: the kernel's host name).
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// The proc file system to read.
    #[arg(long, default_value = "/proc", value_name = "DIR")]
    pub proc_root: PathBuf,
    /// Most live sockets tracked at once.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_sockets: usize,
}

/// Arguments of `procflow flows`.
#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// Write flow records here instead of standard output ("-":
    /// standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write only the flows of this Community ID (repeat for several).
    #[arg(long = "community-id", value_name = "ID")]
    pub community_ids: Vec<String>,
    /// Write only the flows of the Community IDs in this file: alerts
    /// (JSON lines: every ID of their `flows`), or one ID a line.
    #[arg(long, value_name = "FILE")]
    pub community_ids_from: Option<PathBuf>,
    /// How lines are written.
    #[command(flatten)]
    pub output: OutputOpts,
    /// Captures and flow-table settings.
    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// Arguments of `procflow read`.
#[derive(Args, Debug)]
pub struct ReadArgs {
    /// Write alerts (JSON lines) here ("-": standard output).
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Judge against the baseline in this file (SQLite; created when
    /// missing). Without it every process counts as unseen.
    #[arg(long, value_name = "DB")]
    pub baseline: Option<PathBuf>,
    /// Detection settings (TOML; `procflow config --default` prints them).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Fold what this run sees into the baseline after judging it
    /// (without it the baseline is only read: the same input judged twice
    /// gives the same alerts).
    #[arg(long, conflicts_with = "no_learn")]
    pub learn: bool,
    /// The default: leave the baseline as it was (kept for scripts).
    #[arg(long, hide = true)]
    pub no_learn: bool,
    /// Feeds, outputs, attribution and capture settings.
    #[command(flatten)]
    pub attribute: AttributeArgs,
}

/// Arguments of `procflow learn`.
#[derive(Args, Debug)]
pub struct LearnArgs {
    /// The baseline file to fold into (SQLite; created when missing).
    #[arg(long, value_name = "DB", required = true)]
    pub baseline: PathBuf,
    /// Detection settings (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Feeds, outputs, attribution and capture settings.
    #[command(flatten)]
    pub attribute: AttributeArgs,
}

/// Arguments of `procflow live`.
#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Interface to capture on (repeat for several).
    #[arg(short = 'i', long = "interface", value_name = "IFACE", required = true)]
    pub interfaces: Vec<String>,
    /// BPF filter applied to every interface.
    #[arg(short = 'f', long = "filter", value_name = "BPF")]
    pub filter: Option<String>,
    /// Bytes captured per packet.
    #[arg(long, default_value_t = 65535, value_name = "BYTES")]
    pub snaplen: i32,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer per interface, in MiB.
    #[arg(long, default_value_t = 64, value_name = "MIB")]
    pub buffer_mb: i32,
    /// Deliver each packet at once instead of in kernel batches.
    #[arg(long)]
    pub immediate: bool,
    /// Where this host's own sockets come from.
    #[command(flatten)]
    pub local: crate::live::LocalArgs,
    /// Sockets from the kernel.
    #[cfg(feature = "ebpf")]
    #[command(flatten)]
    pub kernel: crate::live::KernelArgs,
    /// Sockets from /proc.
    #[command(flatten)]
    pub procfs: crate::live::ProcfsArgs,
    /// Followed feed files.
    #[command(flatten)]
    pub follow: crate::live::FollowArgs,
    /// Feed format of --feed files and listener connections.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub feed_format: String,
    /// The agent listener.
    #[command(flatten)]
    pub listen: crate::live::ListenArgs,
    /// Socket events from the fleet's bus.
    #[command(flatten)]
    pub nats: crate::live::NatsFeedArgs,
    /// Write alerts (JSON lines, each flushed) here ("-": standard output).
    #[arg(long, value_name = "FILE")]
    pub alerts: Option<PathBuf>,
    /// Write attributed flow records here.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Write process windows here.
    #[arg(long, value_name = "FILE")]
    pub processes: Option<PathBuf>,
    /// How lines are written.
    #[command(flatten)]
    pub output: OutputOpts,
    /// Packets behind each alert.
    #[command(flatten)]
    pub pcap: PcapOutOpts,
    /// Publishing to NATS.
    #[command(flatten)]
    pub publish: crate::publish::PublishOpts,
    /// Lines each output (alerts, flows, processes) holds for its writer
    /// thread; when its sink blocks or falls behind, lines that find the
    /// queue full are dropped and counted.
    #[arg(long, default_value_t = 16_384, value_name = "LINES")]
    pub output_queue: usize,
    /// The baseline file (SQLite; created when missing), updated as windows close.
    #[arg(long, value_name = "DB")]
    pub baseline: Option<PathBuf>,
    /// Detection settings (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Do not fold what this run sees into the baseline.
    #[arg(long)]
    pub no_learn: bool,
    /// Once the interfaces are open, run as this user (as tcpdump -Z does).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9187).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// Seconds between two statistics lines on standard error (0: none).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub stats_interval: u64,
    /// Stop after this many seconds (default: until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Also write the run statistics here as JSON at the end.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Attribution and window settings.
    #[command(flatten)]
    pub attribution: AttributionOpts,
    /// Flow-table and thread settings.
    #[command(flatten)]
    pub flow: FlowOpts,
}

/// Flow-table and thread settings shared by every command that reads packets.
#[derive(Args, Debug)]
pub struct FlowOpts {
    /// Flows tracked at once by the whole process, whatever the number of
    /// threads or shards (each holds an equal share); beyond its share a
    /// worker evicts its least recently active flow (counted).
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_flows: usize,
    /// Seconds without a packet (packet time) after which a TCP flow ends.
    #[arg(long, default_value_t = 300, value_name = "SECS")]
    pub tcp_timeout: u64,
    /// Seconds without a packet after which a UDP flow ends.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub udp_timeout: u64,
    /// Worker threads, each owning the flows of its share of the symmetric
    /// flow hash (default: the number of cores less one, for the reading
    /// or capture thread; at least 1). Reading a file, 1 runs the engine on
    /// the reading thread. The records are the same set for any number.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Community ID seed.
    #[arg(long, default_value_t = 0, value_name = "SEED")]
    pub community_id_seed: u16,
    /// A UDP port read as VXLAN besides 4789 (repeatable, up to three).
    #[arg(long = "vxlan-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub vxlan_ports: Vec<u16>,
    /// Tunnels (VXLAN, GENEVE, GRE, ERSPAN, IP in IP, Teredo, AYIYA, GTP-U)
    /// followed inside one another; a packet nested deeper is counted
    /// (tunnel_too_deep), not read. 0 reads no tunnel.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u8).range(0..=8))]
    pub tunnel_depth: u8,
    /// HTTP bodies with a Content-Encoding (gzip, deflate) decoded at once
    /// by the whole process, to count their decoded length (about 43 KiB
    /// each while read); a body finding none free is counted
    /// (http_bodies_not_decoded) and has no decoded length. 0 decodes none.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub max_body_decoders: usize,
    /// Memory for IP fragments awaiting the rest of their datagram, in MiB,
    /// for the whole process (the oldest datagram is dropped, and counted,
    /// to make room). 0 reassembles nothing: fragments are then counted as
    /// decode errors (ip_fragment).
    #[arg(long, default_value_t = 32, value_name = "MIB", value_parser = clap::value_parser!(u32).range(0..=4096))]
    pub defrag_memory: u32,
    /// Seconds of packet time a fragmented datagram waits for its missing
    /// fragments (counted as timed out after).
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub frag_timeout: u64,
}

/// Attribution and window settings shared by `read`, `learn` and `live`.
#[derive(Args, Debug)]
pub struct AttributionOpts {
    /// Process window length in seconds of packet time (default: the
    /// configuration's window_secs, 600).
    #[arg(long, value_name = "SECS")]
    pub window: Option<u64>,
    /// Seconds an endpoint clock and its events may be off the flow for an
    /// exact match.
    #[arg(long, default_value_t = 2.0, value_name = "SECS")]
    pub time_tolerance: f64,
    /// Seconds of packet time a flow waits for a late event.
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub late_window: f64,
    /// Sockets held in the index; the least recently used are evicted.
    #[arg(long, default_value_t = 1_000_000, value_name = "N")]
    pub max_sockets: usize,
    /// Endpoint hosts the index knows (each with its clock); events of
    /// hosts past it are refused and counted.
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    pub max_hosts: usize,
    /// Process windows open at once; the oldest is written early beyond it.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub max_windows: usize,
    /// Flows the open process windows list, all together (what alerts
    /// list); past it a flow is counted but not listed.
    #[arg(long, default_value_t = correlate::window::DEFAULT_MAX_FLOW_REFS, value_name = "N")]
    pub max_flow_refs: usize,
}

/// Arguments of `procflow config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print the default configuration, every key documented.
    #[arg(long = "default", conflicts_with = "check")]
    pub print_default: bool,
    /// Check a configuration file and say what is wrong with it.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

/// What `read` and `learn` share.
#[derive(Args, Debug)]
pub struct AttributeArgs {
    /// Endpoint socket feed files (native JSON lines, Sysmon Event ID 3 as
    /// XML or JSON, Windows Security 5156, Sysmon for Linux, auditd,
    /// osquery), or nats://HOST:PORT: every event relays published there.
    #[arg(long = "feed", value_name = "FILE")]
    pub feeds: Vec<PathBuf>,
    /// Feed format: auto (detected per file), jsonl, sysmon, wfp (Windows
    /// Security 5156), osquery, auditd.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub feed_format: String,
    /// Host name for feed records that carry none (auditd without node=);
    /// default: the feed file's name without its extension.
    #[arg(long, value_name = "NAME")]
    pub feed_host: Option<String>,
    /// Packets behind each alert.
    #[command(flatten)]
    pub pcap: PcapOutOpts,
    /// Publishing to NATS.
    #[command(flatten)]
    pub publish: crate::publish::PublishOpts,
    /// Go on when a feed has bad lines and not one usable (by default that
    /// stops the run: the feed is most likely read as the wrong format).
    #[arg(long)]
    pub accept_bad_feeds: bool,
    /// Write attributed flow records (JSON lines) here ("-": standard
    /// output, also the default for `read` when no other output is named).
    #[arg(long, value_name = "FILE")]
    pub flows: Option<PathBuf>,
    /// Write per-process windows (JSON lines) here ("-": standard output).
    #[arg(long, value_name = "FILE")]
    pub processes: Option<PathBuf>,
    /// How lines are written.
    #[command(flatten)]
    pub output: OutputOpts,
    /// Attribution and window settings.
    #[command(flatten)]
    pub attribution: AttributionOpts,
    /// Captures and flow-table settings.
    #[command(flatten)]
    pub capture: CaptureArgs,
}

/// Captures and flow-table settings shared by `flows` and `read`.
#[derive(Args, Debug)]
pub struct CaptureArgs {
    /// pcap or pcapng files, read one after another as one capture (`-`:
    /// standard input; gzip or zstd compressed files read as they are).
    #[arg(required = true, value_name = "CAPTURE")]
    pub captures: Vec<PathBuf>,
    /// Also write the run statistics here as JSON.
    #[arg(long, value_name = "FILE")]
    pub stats: Option<PathBuf>,
    /// Flow-table and thread settings.
    #[command(flatten)]
    pub flow: FlowOpts,
    /// Flow-table shards on the reading thread when --threads is 1, at
    /// most 65,535 (the output is the same set of records for any number).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub shards: usize,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Read the files through libpcap instead of procflow's own reader
    /// (same packets, slower: one more copy per frame).
    #[arg(long)]
    pub libpcap: bool,
}

/// `--pcap-out`, for `read` and `live`.
#[derive(Args, Debug, Clone)]
pub struct PcapOutOpts {
    /// Write the packets of every flow behind each alert here, one pcap
    /// per alert (named RULE-HOST-WINDOW-REMOTE.pcap); frames are kept
    /// while their windows are open, within --pcap-out-memory.
    #[arg(long, value_name = "DIR")]
    pub pcap_out: Option<PathBuf>,
    /// Memory for the frames kept for --pcap-out (MiB, for the whole run;
    /// the oldest are dropped first, and counted).
    #[arg(long, default_value_t = 256, value_name = "MIB")]
    pub pcap_out_memory: usize,
}

impl PcapOutOpts {
    /// The frame store the options ask for, if any.
    pub fn store(&self) -> anyhow::Result<Option<crate::pcap_out::FrameStore>> {
        let bytes = self.pcap_out_memory.saturating_mul(1 << 20);
        self.pcap_out
            .as_deref()
            .map(|dir| crate::pcap_out::FrameStore::new(dir, bytes))
            .transpose()
    }
}

/// How every output line is written.
#[derive(Args, Debug)]
pub struct OutputOpts {
    /// Output profile of every line written (flow records, processes,
    /// alerts); see ARCHITECTURE.md for adding one.
    #[arg(long = "output-profile", visible_alias = "format", default_value = "native", value_name = "NAME", value_parser = crate::sink::parse_profile)]
    pub profile: String,
    /// This sensor's name on every line (observer.name; EVE's host; in
    /// the native profile only when given); default: the host name.
    #[arg(long, value_name = "NAME")]
    pub sensor_name: Option<String>,
}

impl OutputOpts {
    /// The chosen profile (the sensor is named as the options say).
    pub fn profile(&self) -> &'static dyn crate::sink::Profile {
        crate::sink::identity::name_sensor(self.sensor_name.as_deref());
        crate::sink::profile(&self.profile).unwrap_or_else(crate::sink::default_profile)
    }
}

impl LiveArgs {
    /// The `--feed-format` of followed files and agent connections.
    pub fn feed_format(&self) -> anyhow::Result<correlate::feed::FeedFormat> {
        self.feed_format
            .parse()
            .map_err(|e| anyhow::anyhow!("--feed-format: {e}"))
    }
}
