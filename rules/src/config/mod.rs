//! Detection settings as a TOML file: the serde model, its defaults (the
//! documented file [`DEFAULT_TOML`] gives exactly [`Config::default`]),
//! and loading with errors that name the key and the line.

mod load;

pub use load::{load, parse, ConfigError};

use crate::cidr::Cidr;
use crate::glob::Glob;
use serde::{Deserialize, Deserializer, Serialize};

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
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
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
    /// Thresholds of hosts that match no role.
    pub thresholds: Thresholds,
    /// Host roles with their own thresholds, first match wins.
    pub roles: Vec<RoleConfig>,
    /// What the rules never alert on.
    pub allowlist: AllowlistConfig,
    /// What counts as a custom binary on Linux.
    pub linux: LinuxConfig,
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

/// `[rules]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Run AN0144.
    pub an0144: bool,
    /// Run AN0145.
    pub an0145: bool,
    /// Both rules on every platform.
    pub all_platforms: bool,
}

/// `[thresholds]`: both rules' thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// AN0144.
    pub an0144: An0144Thresholds,
    /// AN0145.
    pub an0145: An0145Thresholds,
}

/// AN0144 thresholds (per process, remote host and window).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct An0144Thresholds {
    /// Outbound request volume above which the rule fires.
    pub min_bytes_out: u64,
    /// Or this many times the image's own p99,
    pub history_multiplier: NonNegative,
    /// but never below this volume.
    pub history_floor_bytes: u64,
}

/// AN0145 thresholds (per process and window).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct An0145Thresholds {
    /// HTTP connections to outside hosts,
    pub min_http_connections: u64,
    /// or HTTP requests.
    pub min_http_requests: u64,
    /// Response volume / request volume at most this,
    pub max_response_ratio: NonNegative,
    /// and mean response bytes per connection at most this.
    pub max_mean_response_bytes: u64,
    /// Count TLS connections as HTTP.
    pub include_tls: bool,
}

/// One `[[roles]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    /// Name, as written in alerts and the baseline.
    pub name: String,
    /// Host-name patterns (case ignored).
    #[serde(default)]
    pub hosts: Vec<Glob>,
    /// Address blocks.
    #[serde(default)]
    pub cidrs: Vec<Cidr>,
    /// AN0144 thresholds that differ from `[thresholds.an0144]`.
    #[serde(default)]
    pub an0144: An0144Overrides,
    /// AN0145 thresholds that differ from `[thresholds.an0145]`.
    #[serde(default)]
    pub an0145: An0145Overrides,
}

/// A role's AN0144 keys; the missing ones keep the default thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct An0144Overrides {
    /// See [`An0144Thresholds::min_bytes_out`].
    pub min_bytes_out: Option<u64>,
    /// See [`An0144Thresholds::history_multiplier`].
    pub history_multiplier: Option<NonNegative>,
    /// See [`An0144Thresholds::history_floor_bytes`].
    pub history_floor_bytes: Option<u64>,
}

/// A role's AN0145 keys; the missing ones keep the default thresholds.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct An0145Overrides {
    /// See [`An0145Thresholds::min_http_connections`].
    pub min_http_connections: Option<u64>,
    /// See [`An0145Thresholds::min_http_requests`].
    pub min_http_requests: Option<u64>,
    /// See [`An0145Thresholds::max_response_ratio`].
    pub max_response_ratio: Option<NonNegative>,
    /// See [`An0145Thresholds::max_mean_response_bytes`].
    pub max_mean_response_bytes: Option<u64>,
    /// See [`An0145Thresholds::include_tls`].
    pub include_tls: Option<bool>,
}

impl An0144Overrides {
    /// `base` with these keys applied.
    pub fn apply(&self, base: &An0144Thresholds) -> An0144Thresholds {
        An0144Thresholds {
            min_bytes_out: self.min_bytes_out.unwrap_or(base.min_bytes_out),
            history_multiplier: self.history_multiplier.unwrap_or(base.history_multiplier),
            history_floor_bytes: self.history_floor_bytes.unwrap_or(base.history_floor_bytes),
        }
    }
}

impl An0145Overrides {
    /// `base` with these keys applied.
    pub fn apply(&self, base: &An0145Thresholds) -> An0145Thresholds {
        An0145Thresholds {
            min_http_connections: self
                .min_http_connections
                .unwrap_or(base.min_http_connections),
            min_http_requests: self.min_http_requests.unwrap_or(base.min_http_requests),
            max_response_ratio: self.max_response_ratio.unwrap_or(base.max_response_ratio),
            max_mean_response_bytes: self
                .max_mean_response_bytes
                .unwrap_or(base.max_mean_response_bytes),
            include_tls: self.include_tls.unwrap_or(base.include_tls),
        }
    }
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
    fn default() -> Self {
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
            rules: RulesConfig::default(),
            thresholds: Thresholds::default(),
            roles: Vec::new(),
            allowlist: AllowlistConfig::default(),
            linux: LinuxConfig::default(),
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

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            an0144: true,
            an0145: true,
            all_platforms: false,
        }
    }
}

impl Default for An0144Thresholds {
    fn default() -> Self {
        An0144Thresholds {
            min_bytes_out: 10_000_000,
            history_multiplier: NonNegative(10.0),
            history_floor_bytes: 1_000_000,
        }
    }
}

impl Default for An0145Thresholds {
    fn default() -> Self {
        An0145Thresholds {
            min_http_connections: 50,
            min_http_requests: 200,
            max_response_ratio: NonNegative(0.5),
            max_mean_response_bytes: 2000,
            include_tls: false,
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

    #[test]
    fn the_documented_file_is_the_default() {
        let parsed = parse(DEFAULT_TOML, "default.toml").unwrap();
        assert_eq!(parsed, Config::default());
        // An empty file is the default too.
        assert_eq!(parse("", "empty.toml").unwrap(), Config::default());
    }

    #[test]
    fn roles_override_only_what_they_name() {
        let c = parse(
            "[[roles]]\nname = \"server\"\nhosts = [\"srv-*\"]\n[roles.an0144]\nmin_bytes_out = 5\n",
            "r.toml",
        )
        .unwrap();
        let role = &c.roles[0];
        let t = role.an0144.apply(&c.thresholds.an0144);
        assert_eq!(t.min_bytes_out, 5);
        assert_eq!(t.history_floor_bytes, 1_000_000);
        assert_eq!(role.an0145.apply(&c.thresholds.an0145), c.thresholds.an0145);
    }
}
