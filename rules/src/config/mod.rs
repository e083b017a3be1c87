//! Detection settings as a TOML file: the serde model, its defaults (the
//! documented file [`DEFAULT_TOML`] gives exactly [`Config::default`]),
//! and loading with errors that name the key and the line.

mod load;
mod walk;

pub use load::{load, load_with, parse, parse_with, ConfigError};

use crate::cidr::Cidr;
use crate::detect::registry::{Registered, Registry};
use crate::detect::rule::{AnyThresholds, RuleThresholds};
use crate::glob::Glob;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// The default configuration file, every key documented.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

/// A number that must be finite and not negative (ratios, multipliers).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct NonNegative(pub f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if v.is_finite() && v >= 0.0 {
            Ok(NonNegative(v))
        } else {
            Err(serde::de::Error::custom(format!(
                "must be a number not below 0, not {v}"
            )))
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Networks that are ours; a flow to a server outside is outbound.
    pub home_net: Vec<Cidr>,
    /// Process window length (seconds of packet time).
    pub window_secs: u64,
    /// Baseline horizon and caps.
    pub baseline: BaselineConfig,
    /// What "uncommon" and "previously unseen" mean.
    pub prevalence: PrevalenceConfig,
    /// Which rules run where.
    pub rules: RulesConfig,
    /// Thresholds of each rule for hosts that match no role.
    pub thresholds: Thresholds,
    /// Host roles with their own thresholds, first match wins.
    pub roles: Vec<RoleConfig>,
    /// What the rules never alert on.
    pub allowlist: AllowlistConfig,
    /// What counts as a custom binary on Linux.
    pub linux: LinuxConfig,
    /// What an alert carries.
    pub alerts: AlertsConfig,
    /// Who this sensor is.
    pub sensor: SensorConfig,
    /// The agent listener's limits (`live --feed-listen`).
    pub listener: ListenerConfig,
}

/// `[sensor]`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorConfig {
    /// The sensor's name on every line (`--sensor-name` wins over it).
    pub name: Option<String>,
}

/// `[listener]`: the agent listener's limits; each flag of the same name
/// wins over it.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenerConfig {
    /// Connections at once, authenticated or not.
    pub max_connections: usize,
    /// Connections not yet authenticated at once.
    pub max_unauthenticated: usize,
    /// Connections not yet authenticated from one address at once.
    pub max_per_address: usize,
    /// Longest line (bytes).
    pub max_line: usize,
    /// Lines per second one connection may send (0: no limit).
    pub max_lines_per_sec: u32,
    /// Seconds a connection has to authenticate.
    pub auth_timeout_secs: NonNegative,
    /// Seconds without data after which a connection is closed.
    pub idle_timeout_secs: NonNegative,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            max_connections: 256,
            max_unauthenticated: 32,
            max_per_address: 8,
            max_line: 64 << 10,
            max_lines_per_sec: 20_000,
            auth_timeout_secs: NonNegative(5.0),
            idle_timeout_secs: NonNegative(60.0),
        }
    }
}

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Flows an alert lists (Community ID, 5-tuple, start); past it the
    /// alert says how many it left out.
    pub max_flows: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig { max_flows: 1000 }
    }
}

/// `[baseline]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Prevalence counts hosts seen within this many days.
    pub horizon_days: u64,
    /// Images remembered.
    pub max_images: usize,
    /// Hosts remembered per image.
    pub max_hosts_per_image: usize,
    /// Hosts remembered.
    pub max_hosts: usize,
    /// Windows of history before an image's own p99 is used.
    pub min_history_windows: u64,
    /// Seconds a run that learns waits for another writer of the same
    /// baseline to finish; 0: refused at once.
    pub lock_wait_secs: u64,
    /// A shared baseline (PostgreSQL) that does not answer: seconds
    /// between tries while the run goes on judging on its last copy.
    pub retry_secs: u64,
    /// Seconds the end of a run keeps trying to fold in what is queued.
    pub final_wait_secs: u64,
    /// Windows queued for a shared baseline that does not answer; past
    /// this the newest are dropped and counted.
    pub queue_max_windows: usize,
    /// A local copy of a shared baseline (an SQLite file), written at the
    /// end of each run: a sensor that starts while the server does not
    /// answer judges on it.
    pub cache: Option<std::path::PathBuf>,
}

/// `[prevalence]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrevalenceConfig {
    /// Uncommon: on at most this many hosts,
    pub uncommon_max_hosts: u64,
    /// or on at most this share (percent) of the hosts seen.
    pub uncommon_max_percent: NonNegative,
    /// Previously unseen: first seen less than this many hours ago.
    pub unseen_within_hours: u64,
}

/// `[rules]`: which rules run, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct RulesConfig {
    /// Whether each rule runs, by configuration key (`an0144 = true`); a
    /// rule not listed runs when it is on by default.
    pub enabled: BTreeMap<String, bool>,
    /// Every rule on every platform.
    pub all_platforms: bool,
}

impl RulesConfig {
    /// Every rule of `registry` as it is by default.
    pub fn for_rules(registry: &Registry) -> Self {
        RulesConfig {
            enabled: registry
                .iter()
                .map(|r| (r.key().to_string(), r.enabled_by_default()))
                .collect(),
            all_platforms: false,
        }
    }

    /// Whether `rule` runs.
    pub fn runs(&self, rule: &Registered) -> bool {
        self.enabled
            .get(rule.key())
            .copied()
            .unwrap_or(rule.enabled_by_default())
    }
}

impl Serialize for RulesConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.enabled.len() + 1))?;
        for (key, on) in &self.enabled {
            map.serialize_entry(key, on)?;
        }
        map.serialize_entry("all_platforms", &self.all_platforms)?;
        map.end()
    }
}

/// Thresholds by rule, keyed by configuration key (lower-case rule id):
/// `[thresholds.<id>]`, or in a role `[roles.<id>]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Thresholds(BTreeMap<String, AnyThresholds>);

impl Thresholds {
    /// Every rule of `registry` with its default thresholds.
    pub fn for_rules(registry: &Registry) -> Self {
        Thresholds(
            registry
                .iter()
                .map(|r| (r.key().to_string(), r.default_thresholds()))
                .collect(),
        )
    }

    /// The thresholds of the rule keyed `key`, when they are a `T`.
    pub fn get<T: 'static>(&self, key: &str) -> Option<&T> {
        self.0.get(key).and_then(AnyThresholds::get)
    }

    /// Sets the thresholds of the rule keyed `key`.
    pub fn set<T: RuleThresholds>(&mut self, key: &str, t: T) {
        self.insert(key, AnyThresholds::new(t));
    }

    /// The thresholds of the rule keyed `key`, whatever their type.
    pub fn any(&self, key: &str) -> Option<&AnyThresholds> {
        self.0.get(key)
    }

    /// Sets the thresholds of the rule keyed `key`, whatever their type.
    pub fn insert(&mut self, key: &str, t: AnyThresholds) {
        self.0.insert(key.to_string(), t);
    }
}

/// One `[[roles]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoleConfig {
    /// Name, as written in alerts and the baseline.
    pub name: String,
    /// Host-name patterns (case ignored).
    pub hosts: Vec<Glob>,
    /// Address blocks.
    pub cidrs: Vec<Cidr>,
    /// For each rule the role names (`[roles.<id>]`): the file's
    /// `[thresholds.<id>]` with the role's keys applied. Rules it does not
    /// name keep `[thresholds.<id>]`.
    #[serde(flatten)]
    pub thresholds: Thresholds,
}

/// `[allowlist]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AllowlistConfig {
    /// Image path patterns.
    pub images: Vec<Glob>,
    /// Executable hashes.
    pub sha256: Vec<String>,
    /// Code signer patterns.
    pub signers: Vec<Glob>,
    /// Destination domain suffixes.
    pub domains: Vec<String>,
    /// Destination address blocks.
    pub cidrs: Vec<Cidr>,
    /// JA4 fingerprints of TLS client stacks: a process window all of
    /// whose connections came from listed stacks is exempt.
    pub ja4: Vec<String>,
}

/// `[linux]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinuxConfig {
    /// Paths that are always custom.
    pub custom_paths: Vec<Glob>,
    /// The user's own additions.
    pub extra_custom_paths: Vec<Glob>,
    /// Folders the package manager owns.
    pub managed_prefixes: Vec<String>,
    /// Absolute paths outside every managed prefix are custom.
    pub outside_managed_is_custom: bool,
}

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().filter_map(|c| c.parse().ok()).collect()
}

fn globs(list: &[&str]) -> Vec<Glob> {
    list.iter().map(|g| Glob::new(g)).collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Default for Config {
    /// The configuration of the built-in rules.
    fn default() -> Self {
        Config::for_rules(&Registry::builtin())
    }
}

impl Config {
    /// The default configuration of the rules of `registry`.
    pub fn for_rules(registry: &Registry) -> Self {
        Config {
            home_net: cidrs(&[
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "100.64.0.0/10",
                "169.254.0.0/16",
                "127.0.0.0/8",
                "fc00::/7",
                "fe80::/10",
                "::1/128",
            ]),
            window_secs: 600,
            baseline: BaselineConfig::default(),
            prevalence: PrevalenceConfig::default(),
            rules: RulesConfig::for_rules(registry),
            thresholds: Thresholds::for_rules(registry),
            roles: Vec::new(),
            allowlist: AllowlistConfig::default(),
            linux: LinuxConfig::default(),
            alerts: AlertsConfig::default(),
            sensor: SensorConfig::default(),
            listener: ListenerConfig::default(),
        }
    }
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            horizon_days: 30,
            max_images: 200_000,
            max_hosts_per_image: 1000,
            max_hosts: 100_000,
            min_history_windows: 5,
            lock_wait_secs: 0,
            retry_secs: 5,
            final_wait_secs: 60,
            queue_max_windows: 1_000_000,
            cache: None,
        }
    }
}

impl Default for PrevalenceConfig {
    fn default() -> Self {
        PrevalenceConfig {
            uncommon_max_hosts: 2,
            uncommon_max_percent: NonNegative(1.0),
            unseen_within_hours: 168,
        }
    }
}

impl Default for AllowlistConfig {
    fn default() -> Self {
        AllowlistConfig {
            images: globs(&[
                r"C:\Program Files*\Google\Chrome\Application\chrome.exe",
                r"C:\Program Files*\Microsoft\Edge\Application\msedge.exe",
                r"C:\Program Files*\Mozilla Firefox\firefox.exe",
                r"C:\Program Files*\BraveSoftware\Brave-Browser\Application\brave.exe",
                "/usr/bin/firefox",
                "/usr/lib/firefox*/firefox*",
                "/usr/lib/chromium*/chromium*",
                "/opt/google/chrome/chrome",
                "/snap/firefox/*",
                "/snap/chromium/*",
                r"C:\Windows\System32\wuauclt.exe",
                r"C:\Windows\System32\usoclient.exe",
                r"C:\Windows\UUS\*\MoUsoCoreWorker.exe",
                r"C:\Windows\System32\MoUsoCoreWorker.exe",
                r"C:\Program Files*\Google\Update\*GoogleUpdate.exe",
                r"C:\Program Files*\Microsoft\EdgeUpdate\*MicrosoftEdgeUpdate.exe",
                r"C:\Program Files*\Mozilla Maintenance Service\maintenanceservice.exe",
                "/usr/lib/apt/methods/http*",
                "/usr/bin/dnf*",
                "/usr/bin/yum",
                "/usr/libexec/packagekitd",
                "/usr/lib/snapd/snapd",
                "/usr/bin/unattended-upgrade*",
                r"C:\Program Files*\Veeam\Endpoint Backup\Veeam.EndPoint.Service.exe",
                r"C:\Program Files*\Acronis\*",
                r"C:\Program Files*\CrashPlan\*",
                r"C:\Program Files*\Backblaze\bztransmit*.exe",
                "/opt/veeam/*",
                "/usr/local/crashplan/*",
                "/opt/acronis/*",
            ]),
            sha256: Vec::new(),
            signers: Vec::new(),
            domains: strings(&[
                "windowsupdate.com",
                "update.microsoft.com",
                "delivery.mp.microsoft.com",
                "download.windowsupdate.com",
                "dl.google.com",
                "archive.ubuntu.com",
                "security.ubuntu.com",
                "deb.debian.org",
                "security.debian.org",
            ]),
            cidrs: Vec::new(),
            ja4: Vec::new(),
        }
    }
}

impl Default for LinuxConfig {
    fn default() -> Self {
        LinuxConfig {
            custom_paths: globs(&[
                "/tmp/*",
                "/var/tmp/*",
                "/dev/shm/*",
                "/run/user/*",
                "/home/*",
                "/root/*",
                "*/.*",
                "* (deleted)",
            ]),
            extra_custom_paths: Vec::new(),
            managed_prefixes: strings(&[
                "/usr/bin/",
                "/usr/sbin/",
                "/usr/lib/",
                "/usr/lib64/",
                "/usr/libexec/",
                "/usr/share/",
                "/bin/",
                "/sbin/",
                "/lib/",
                "/lib64/",
                "/opt/",
                "/snap/",
                "/nix/store/",
            ]),
            outside_managed_is_custom: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::an0144::An0144Thresholds;
    use crate::detect::an0145::An0145Thresholds;

    #[test]
    fn the_documented_file_is_the_default() {
        let parsed = parse(DEFAULT_TOML, "default.toml").unwrap();
        assert_eq!(parsed, Config::default());
        // An empty file is the default too.
        assert_eq!(parse("", "empty.toml").unwrap(), Config::default());
    }

    #[test]
    fn roles_override_only_what_they_name() {
        // The role's table is read after [thresholds] whatever the order.
        let c = parse(
            "[[roles]]\nname = \"server\"\nhosts = [\"srv-*\"]\n[roles.an0144]\nmin_bytes_out = 5\n\
             [thresholds.an0144]\nhistory_floor_bytes = 9\n",
            "r.toml",
        )
        .unwrap();
        let role = &c.roles[0];
        let t: &An0144Thresholds = role.thresholds.get("an0144").unwrap();
        assert_eq!(t.min_bytes_out, 5);
        assert_eq!(t.history_floor_bytes, 9);
        assert_eq!(t.history_multiplier, NonNegative(10.0));
        assert!(role.thresholds.any("an0145").is_none());
        let base: &An0144Thresholds = c.thresholds.get("an0144").unwrap();
        assert_eq!(base.min_bytes_out, 10_000_000);
    }

    #[test]
    fn a_configuration_writes_out_and_reads_back_the_same() {
        let text = "[rules]\nan0145 = false\n[thresholds.an0145]\ninclude_tls = true\n\
                    [[roles]]\nname = \"server\"\nhosts = [\"srv-*\"]\n[roles.an0144]\nhistory_multiplier = 3\n";
        let c = parse(text, "t.toml").unwrap();
        let written = toml::to_string(&c).unwrap();
        assert_eq!(parse(&written, "again.toml").unwrap(), c, "{written}");
        assert!(!c.rules.enabled["an0145"]);
        assert!(written.contains("[roles.an0144]"), "{written}");
        let t: &An0145Thresholds = c.thresholds.get("an0145").unwrap();
        assert!(t.include_tls);
    }
}
