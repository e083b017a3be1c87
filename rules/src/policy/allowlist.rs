//! Processes and destinations the rules never alert on.

use super::platform::folds_case;
use crate::cidr::{any_contains, Cidr};
use crate::config::AllowlistConfig;
use crate::glob::{Glob, Prepared};
use model::image::image_key;
pub use model::window::host_part;
use std::net::IpAddr;

/// The compiled `[allowlist]`.
#[derive(Debug, Clone)]
pub struct Allowlist {
    /// (pattern as written, pattern normalised like an image key).
    images: Vec<(Glob, Glob)>,
    sha256: Vec<String>,
    signers: Vec<Glob>,
    domains: Vec<String>,
    cidrs: Vec<Cidr>,
    ja4: Vec<String>,
}

impl Allowlist {
    /// From the configuration.
    pub fn new(c: &AllowlistConfig) -> Self {
        Allowlist {
            images: c
                .images
                .iter()
                .map(|g| (g.clone(), Glob::new(&image_key(g.as_str()))))
                .collect(),
            sha256: c.sha256.iter().map(|h| h.to_ascii_lowercase()).collect(),
            signers: c.signers.clone(),
            domains: c
                .domains
                .iter()
                .map(|d| d.trim_matches('.').to_ascii_lowercase())
                .collect(),
            cidrs: c.cidrs.clone(),
            ja4: c.ja4.iter().map(|j| j.to_ascii_lowercase()).collect(),
        }
    }

    /// The entry that exempts this process, if any. Windows paths are
    /// compared without case or drive letter, so `C:\Program Files\...`
    /// also covers `\device\harddiskvolume2\program files\...`.
    pub fn process(
        &self,
        executable: &str,
        sha256: Option<&str>,
        signer: Option<&str>,
    ) -> Option<String> {
        let fold = folds_case(executable);
        let text = if fold {
            Prepared::new(&image_key(executable), true)
        } else {
            Prepared::new(executable, false)
        };
        for (raw, normalised) in &self.images {
            let hit = if fold {
                normalised.matches_prepared(&text)
            } else {
                raw.matches_prepared(&text)
            };
            if hit {
                return Some(format!("image {}", raw.as_str()));
            }
        }
        if let Some(h) = sha256 {
            if self.sha256.iter().any(|a| a.eq_ignore_ascii_case(h)) {
                return Some(format!("sha256 {h}"));
            }
        }
        if let Some(s) = signer {
            if let Some(g) = self.signers.iter().find(|g| g.matches(s, true)) {
                return Some(format!("signer {}", g.as_str()));
            }
        }
        None
    }

    /// The entry that exempts a window by its TLS clients: every one of
    /// its `connections` gave a JA4 (`with_ja4`), all of them are in
    /// `ja4` (none left out of it: `complete`), and every one is listed.
    pub fn clients(
        &self,
        ja4: &std::collections::BTreeSet<String>,
        complete: bool,
        with_ja4: u64,
        connections: u64,
    ) -> Option<String> {
        let all_listed = ja4.iter().all(|j| self.ja4.iter().any(|a| a == j));
        (!ja4.is_empty() && complete && with_ja4 == connections && all_listed).then(|| {
            let list: Vec<&str> = ja4.iter().map(String::as_str).collect();
            format!("ja4 {}", list.join(", "))
        })
    }

    /// True when traffic to this destination is exempt: its domain (port
    /// and trailing dot ignored) is a listed domain or below one, or its
    /// address is in a listed block.
    pub fn destination(&self, ip: Option<IpAddr>, domain: Option<&str>) -> bool {
        if ip.is_some_and(|ip| any_contains(&self.cidrs, ip)) {
            return true;
        }
        let Some(d) = domain.map(host_part) else {
            return false;
        };
        self.domains.iter().any(|suffix| {
            d.len() >= suffix.len()
                && d.get(d.len() - suffix.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                && (d.len() == suffix.len()
                    || d.as_bytes().get(d.len() - suffix.len() - 1) == Some(&b'.'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_and_destinations() {
        let a = Allowlist::new(&AllowlistConfig {
            sha256: vec!["AB".repeat(32)],
            signers: vec![Glob::new("Microsoft *")],
            cidrs: vec!["192.0.2.0/24".parse().unwrap()],
            ..AllowlistConfig::default()
        });
        assert!(a
            .process(
                r"C:\Program Files\Google\Chrome\Application\chrome.exe",
                None,
                None
            )
            .is_some());
        assert!(a
            .process(
                r"\device\harddiskvolume3\program files (x86)\google\chrome\application\chrome.exe",
                None,
                None
            )
            .is_some());
        assert!(a.process(r"C:\Users\a\chrome.exe", None, None).is_none());
        assert!(a.process("/usr/bin/FIREFOX", None, None).is_none());
        assert!(a.process("/usr/bin/firefox", None, None).is_some());
        assert!(a.process("/x", Some(&"ab".repeat(32)), None).is_some());
        assert_eq!(
            a.process("/x", None, Some("Microsoft Windows")).as_deref(),
            Some("signer Microsoft *")
        );
        assert!(a.destination(None, Some("download.windowsupdate.com:80")));
        assert!(a.destination(None, Some("Windowsupdate.COM.")));
        assert!(!a.destination(None, Some("notwindowsupdate.com")));
        assert!(!a.destination(None, Some("windowsupdate.com.evil.net")));
        assert!(a.destination("192.0.2.9".parse().ok(), None));
        assert!(!a.destination("198.51.100.1".parse().ok(), None));
        assert_eq!(host_part("[2001:db8::1]:443"), "2001:db8::1");
        assert_eq!(host_part("2001:db8::1"), "2001:db8::1");
    }
}
