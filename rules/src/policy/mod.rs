//! The configuration compiled for use: roles, allowlists, what custom and
//! outbound mean, and the prevalence settings in microseconds.

pub mod allowlist;
pub mod custom;
pub mod platform;
pub mod roles;

pub use allowlist::Allowlist;
pub use custom::CustomPaths;
pub use platform::Platform;
pub use roles::{Role, Roles};

use crate::cidr::{any_contains, Cidr};
use crate::config::{Config, PrevalenceConfig, RulesConfig};
use crate::detect::registry::Registry;
use std::net::IpAddr;

const HOUR: u64 = 3_600_000_000;

/// Everything the detector needs from the configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The configuration it came from.
    pub config: Config,
    home_net: Vec<Cidr>,
    /// Roles and their thresholds.
    pub roles: Roles,
    /// Exemptions.
    pub allowlist: Allowlist,
    /// Linux custom paths.
    pub custom: CustomPaths,
    /// Which rules run.
    pub rules: RulesConfig,
    /// Prevalence settings.
    pub prevalence: PrevalenceConfig,
    /// Prevalence horizon (µs).
    pub horizon: u64,
    /// "Previously unseen" span (µs).
    pub unseen_within: u64,
    /// The rules.
    registry: Registry,
    /// Whether each rule runs, in registry order.
    running: Vec<bool>,
}

impl Policy {
    /// Compiles a checked configuration of the built-in rules.
    pub fn new(config: Config) -> Self {
        Policy::with_rules(config, Registry::builtin())
    }

    /// Compiles a checked configuration of the rules of `registry` (the
    /// registry it was read with; a rule it has no thresholds for takes
    /// its defaults).
    pub fn with_rules(config: Config, registry: Registry) -> Self {
        Policy {
            running: registry.iter().map(|r| config.rules.runs(r)).collect(),
            roles: Roles::new(&config, &registry),
            registry,
            home_net: config.home_net.clone(),
            allowlist: Allowlist::new(&config.allowlist),
            custom: CustomPaths::new(&config.linux),
            rules: config.rules.clone(),
            prevalence: config.prevalence.clone(),
            horizon: config.baseline.horizon_days.saturating_mul(24 * HOUR),
            unseen_within: config.prevalence.unseen_within_hours.saturating_mul(HOUR),
            config,
        }
    }

    /// The rules, in the order they judge a window.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Whether rule `index` of the registry runs (`[rules]`).
    pub fn runs(&self, index: usize) -> bool {
        self.running.get(index).copied().unwrap_or(false)
    }

    /// True when `ip` is outside `home_net`: traffic to it is outbound.
    pub fn is_outside(&self, ip: IpAddr) -> bool {
        !any_contains(&self.home_net, ip)
    }
}
