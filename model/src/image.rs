//! The unit of prevalence: an executable path reduced for comparison.

/// An executable path reduced for comparison: Windows paths are
/// case-folded and lose their volume (`C:` or `\Device\HarddiskVolumeN`),
/// so Sysmon's and the firewall log's names of one file compare equal.
pub fn image_key(exe: &str) -> String {
    if exe.contains('\\') {
        let lower = exe.to_lowercase();
        let rest = if let Some(r) = lower.strip_prefix("\\device\\") {
            r.find('\\').map_or(r, |i| r.get(i..).unwrap_or(r))
        } else if lower.as_bytes().get(1) == Some(&b':') {
            lower.get(2..).unwrap_or(&lower)
        } else {
            &lower
        };
        rest.to_string()
    } else {
        exe.to_string()
    }
}
