//! Attribution settings.

/// One second in microseconds.
const SECOND: u64 = 1_000_000;

/// How flows are matched to endpoint sockets, and how much is kept.
#[derive(Debug, Clone)]
pub struct AttributionConfig {
    /// How far apart the sensor's and an endpoint's clocks may be, and how
    /// far an event may sit from the flow it names, for an `exact` match
    /// (microseconds). Default 2 s.
    pub time_tolerance: u64,
    /// How long (packet time) a flow waits for a late event, and how far
    /// outside the tolerance an event may be for a `time_window` match
    /// (microseconds). Default 30 s: Sysmon buffers events about 15 s.
    pub late_window: u64,
    /// For matches without a local port: another process's event must be
    /// at least this much farther in time than the nearest one, or the flow
    /// is left unattributed as ambiguous (microseconds). Default 10 ms.
    pub remote_only_margin: u64,
    /// Most sockets held in the index; the least recently used go first.
    pub max_sockets: usize,
    /// Most sockets kept per remote endpoint for matches without a local port.
    pub max_sockets_per_remote: usize,
    /// Most endpoint hosts tracked.
    pub max_hosts: usize,
    /// Most flows waiting for late events before they are attributed early.
    pub max_pending_flows: usize,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        Self {
            time_tolerance: 2 * SECOND,
            late_window: 30 * SECOND,
            remote_only_margin: 10_000,
            max_sockets: 1_000_000,
            max_sockets_per_remote: 1024,
            max_hosts: 65_536,
            max_pending_flows: 262_144,
        }
    }
}
