//! What a custom binary is on Linux: anything the package manager did not
//! put there (AN0145).

use crate::config::LinuxConfig;
use crate::glob::{Glob, Prepared};

/// The compiled `[linux]` settings.
#[derive(Debug, Clone)]
pub struct CustomPaths {
    patterns: Vec<Glob>,
    managed: Vec<String>,
    outside_managed: bool,
}

impl CustomPaths {
    /// From the configuration.
    pub fn new(c: &LinuxConfig) -> Self {
        CustomPaths {
            patterns: c
                .custom_paths
                .iter()
                .chain(&c.extra_custom_paths)
                .cloned()
                .collect(),
            managed: c.managed_prefixes.clone(),
            outside_managed: c.outside_managed_is_custom,
        }
    }

    /// Why `executable` is custom, or `None` when it is not. A bare name
    /// (Sysmon for Linux sometimes gives only `java`) is not judged.
    pub fn why(&self, executable: &str) -> Option<String> {
        let text = Prepared::new(executable, false);
        if let Some(p) = self.patterns.iter().find(|p| p.matches_prepared(&text)) {
            return Some(format!("its path matches {}", p.as_str()));
        }
        if self.outside_managed
            && executable.starts_with('/')
            && !self
                .managed
                .iter()
                .any(|m| executable.starts_with(m.as_str()))
        {
            return Some("it lives outside the package-managed folders".to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::CustomPaths;
    use crate::config::LinuxConfig;

    #[test]
    fn defaults() {
        let c = CustomPaths::new(&LinuxConfig::default());
        for custom in [
            "/tmp/.x/agent",
            "/dev/shm/a",
            "/var/tmp/b",
            "/home/alice/bin/sync",
            "/root/x",
            "/usr/lib/.hidden/x",
            "/usr/bin/python3.9;5f3a (deleted)",
            "/usr/local/bin/tool",
            "/srv/app/run",
        ] {
            assert!(c.why(custom).is_some(), "{custom}");
        }
        for managed in [
            "/usr/bin/curl",
            "/usr/sbin/zabbix_agentd",
            "/opt/datadog-agent/bin/agent",
            "java",
        ] {
            assert_eq!(c.why(managed), None, "{managed}");
        }
        assert_eq!(c.why("/tmp/x").as_deref(), Some("its path matches /tmp/*"));
    }
}
