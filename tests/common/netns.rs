//! Test hosts in network namespaces joined to this one by veth pairs.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs a command quietly; whether it succeeded.
pub fn sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A namespace joined to this one by a veth pair; removed on drop.
pub struct Netns {
    /// The namespace.
    pub name: String,
    /// Our end of the veth pair.
    pub veth: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

impl Netns {
    /// Namespace `name`, our end `veth` holding `ours` (address/prefix),
    /// its end holding `theirs`; IPv6 addresses too where given.
    pub fn new(
        name: &str,
        veth: &str,
        v4: (&str, &str),
        v6: Option<(&str, &str)>,
    ) -> Option<Netns> {
        let peer = format!("{veth}p");
        let n = Netns {
            name: name.into(),
            veth: veth.into(),
        };
        let inside = |args: &[&str]| {
            let mut all = vec!["ip", "netns", "exec", name];
            all.extend_from_slice(args);
            sh(&all)
        };
        let mut ok = sh(&["ip", "netns", "add", name])
            && sh(&[
                "ip", "link", "add", veth, "type", "veth", "peer", "name", &peer,
            ])
            && sh(&["ip", "link", "set", &peer, "netns", name])
            && sh(&["ip", "addr", "add", v4.0, "dev", veth])
            && inside(&["ip", "addr", "add", v4.1, "dev", &peer]);
        if let Some((a, b)) = v6 {
            ok = ok
                && sh(&["ip", "-6", "addr", "add", a, "dev", veth, "nodad"])
                && inside(&["ip", "-6", "addr", "add", b, "dev", &peer, "nodad"]);
        }
        ok = ok
            && sh(&["ip", "link", "set", veth, "up"])
            && inside(&["ip", "link", "set", &peer, "up"])
            && inside(&["ip", "link", "set", "lo", "up"]);
        ok.then_some(n)
    }

    /// A command run inside the namespace.
    pub fn cmd(&self, prog: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// The namespace's inode, as the kernel names it.
    pub fn inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.name))
            .expect("namespace file")
            .ino()
    }
}
