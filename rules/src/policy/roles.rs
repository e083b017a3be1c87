//! Host roles: which thresholds apply to a host.

use crate::cidr::{any_contains, Cidr};
use crate::config::{Config, Thresholds};
use crate::detect::registry::Registry;
use crate::detect::rule::AnyThresholds;
use crate::glob::Glob;
use std::net::IpAddr;

/// A role with its thresholds resolved.
#[derive(Debug, Clone)]
pub struct Role {
    /// Name ("default" for hosts no role matches).
    pub name: String,
    hosts: Vec<Glob>,
    cidrs: Vec<Cidr>,
    /// Each rule's thresholds, in registry order.
    thresholds: Vec<AnyThresholds>,
}

impl Role {
    /// The thresholds of rule `index` of the registry.
    pub fn thresholds(&self, index: usize) -> Option<&AnyThresholds> {
        self.thresholds.get(index)
    }

    /// The thresholds of type `T` (those of the first rule with that type).
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.thresholds.iter().find_map(AnyThresholds::get)
    }
}

/// Every role, in file order, and the default.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: Vec<Role>,
    default: Role,
}

/// Each rule's thresholds: `own`'s, else `base`'s, else the rule's
/// defaults.
fn resolve(registry: &Registry, own: &Thresholds, base: &Thresholds) -> Vec<AnyThresholds> {
    registry
        .iter()
        .map(|r| match own.any(r.key()).or_else(|| base.any(r.key())) {
            Some(t) => t.clone(),
            None => r.default_thresholds(),
        })
        .collect()
}

impl Roles {
    /// From the configuration, for the rules of `registry`.
    pub fn new(c: &Config, registry: &Registry) -> Self {
        Roles {
            roles: c
                .roles
                .iter()
                .map(|r| Role {
                    name: r.name.clone(),
                    hosts: r.hosts.clone(),
                    cidrs: r.cidrs.clone(),
                    thresholds: resolve(registry, &r.thresholds, &c.thresholds),
                })
                .collect(),
            default: Role {
                name: "default".to_string(),
                hosts: Vec::new(),
                cidrs: Vec::new(),
                thresholds: resolve(registry, &c.thresholds, &Thresholds::default()),
            },
        }
    }

    /// The first role whose host pattern matches `host` (case ignored) or
    /// whose block holds one of `ips`; else the default.
    pub fn of<'a>(&self, host: &str, ips: impl IntoIterator<Item = &'a IpAddr> + Clone) -> &Role {
        self.roles
            .iter()
            .find(|r| {
                r.hosts.iter().any(|g| g.matches(host, true))
                    || ips
                        .clone()
                        .into_iter()
                        .any(|ip| any_contains(&r.cidrs, *ip))
            })
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::Roles;
    use crate::config::parse;
    use crate::detect::an0144::An0144Thresholds;
    use crate::detect::registry::Registry;
    use std::net::IpAddr;

    #[test]
    fn first_match_by_name_or_address() {
        let c = parse(
            "[[roles]]\nname = \"server\"\nhosts = [\"srv-*\"]\n[roles.an0144]\nmin_bytes_out = 7\n\
             [[roles]]\nname = \"dmz\"\ncidrs = [\"10.9.0.0/16\"]\n",
            "t",
        )
        .unwrap();
        let r = Roles::new(&c, &Registry::builtin());
        let min_bytes_out = |role: &super::Role| {
            role.get::<An0144Thresholds>()
                .map(|t| t.min_bytes_out)
                .unwrap()
        };
        let ip: IpAddr = "10.9.1.1".parse().unwrap();
        let other: IpAddr = "10.1.1.1".parse().unwrap();
        assert_eq!(r.of("SRV-01", [&ip]).name, "server");
        assert_eq!(min_bytes_out(r.of("SRV-01", [&ip])), 7);
        assert_eq!(r.of("ws1", [&ip]).name, "dmz");
        assert_eq!(r.of("ws1", [&other]).name, "default");
        assert_eq!(min_bytes_out(r.of("ws1", [&other])), 10_000_000);
    }
}
