//! Host roles: which thresholds apply to a host.

use crate::cidr::{any_contains, Cidr};
use crate::config::{An0144Thresholds, An0145Thresholds, Config};
use crate::glob::Glob;
use std::net::IpAddr;

/// A role with its thresholds resolved.
#[derive(Debug, Clone)]
pub struct Role {
    /// Name ("default" for hosts no role matches).
    pub name: String,
    hosts: Vec<Glob>,
    cidrs: Vec<Cidr>,
    /// AN0144 thresholds.
    pub an0144: An0144Thresholds,
    /// AN0145 thresholds.
    pub an0145: An0145Thresholds,
}

/// Every role, in file order, and the default.
#[derive(Debug, Clone)]
pub struct Roles {
    roles: Vec<Role>,
    default: Role,
}

impl Roles {
    /// From the configuration.
    pub fn new(c: &Config) -> Self {
        Roles {
            roles: c
                .roles
                .iter()
                .map(|r| Role {
                    name: r.name.clone(),
                    hosts: r.hosts.clone(),
                    cidrs: r.cidrs.clone(),
                    an0144: r.an0144.apply(&c.thresholds.an0144),
                    an0145: r.an0145.apply(&c.thresholds.an0145),
                })
                .collect(),
            default: Role {
                name: "default".to_string(),
                hosts: Vec::new(),
                cidrs: Vec::new(),
                an0144: c.thresholds.an0144.clone(),
                an0145: c.thresholds.an0145.clone(),
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
    use std::net::IpAddr;

    #[test]
    fn first_match_by_name_or_address() {
        let c = parse(
            "[[roles]]\nname = \"server\"\nhosts = [\"srv-*\"]\n[roles.an0144]\nmin_bytes_out = 7\n\
             [[roles]]\nname = \"dmz\"\ncidrs = [\"10.9.0.0/16\"]\n",
            "t",
        )
        .unwrap();
        let r = Roles::new(&c);
        let ip: IpAddr = "10.9.1.1".parse().unwrap();
        let other: IpAddr = "10.1.1.1".parse().unwrap();
        assert_eq!(r.of("SRV-01", [&ip]).name, "server");
        assert_eq!(r.of("SRV-01", [&ip]).an0144.min_bytes_out, 7);
        assert_eq!(r.of("ws1", [&ip]).name, "dmz");
        assert_eq!(r.of("ws1", [&other]).name, "default");
        assert_eq!(r.of("ws1", [&other]).an0144.min_bytes_out, 10_000_000);
    }
}
