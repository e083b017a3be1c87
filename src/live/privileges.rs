//! Dropping root once the capture handles are open, as tcpdump -Z does.

use anyhow::{bail, Context, Result};
use nix::unistd::{setgid, setgroups, setuid, Uid, User};

/// Becomes `name` (its uid, its primary group, no supplementary groups),
/// and checks that root cannot be taken back.
pub fn drop_to(name: &str) -> Result<()> {
    let user = User::from_name(name)
        .with_context(|| format!("--user {name}: cannot look the user up"))?
        .with_context(|| format!("--user {name}: no such user"))?;
    setgroups(&[user.gid])
        .with_context(|| format!("--user {name}: cannot drop supplementary groups (not root?)"))?;
    setgid(user.gid).with_context(|| format!("--user {name}: cannot change group"))?;
    setuid(user.uid).with_context(|| format!("--user {name}: cannot change user"))?;
    if !user.uid.is_root() && setuid(Uid::from_raw(0)).is_ok() {
        bail!("--user {name}: root could be taken back after dropping it; stopping");
    }
    Ok(())
}
