//! Reading a configuration file: TOML errors and checks that serde cannot
//! make, each as one line naming the file, the line and the key.

use super::walk::{self, Fault};
use super::Config;
use crate::detect::registry::Registry;
use std::path::Path;

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}{message}")]
pub struct ConfigError {
    /// File name as given.
    pub file: String,
    /// 1-based line (0 when the file could not be read).
    pub line: usize,
    /// The dotted key, with ": " after it, or empty when unknown.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// Reads and checks a configuration file for the built-in rules.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    load_with(path, &Registry::builtin())
}

/// Reads and checks a configuration file for the rules of `registry`.
pub fn load_with(path: &Path, registry: &Registry) -> Result<Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: name.clone(),
        line: 0,
        key: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse_with(&text, &name, registry)
}

/// Parses and checks configuration text for the built-in rules; `file`
/// names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    parse_with(text, file, &Registry::builtin())
}

/// Parses and checks configuration text for the rules of `registry`;
/// `file` names it in errors.
pub fn parse_with(text: &str, file: &str, registry: &Registry) -> Result<Config, ConfigError> {
    let config = walk::document(text, registry).map_err(|f| located(text, file, f))?;
    check(&config, text, file)?;
    Ok(config)
}

/// The error of a fault found while reading `text`.
fn located(text: &str, file: &str, f: Fault) -> ConfigError {
    // A bad element of a list is reported over the whole list: point at
    // the element the message quotes, when it is there.
    let quoted = f.message.split('"').nth(1).filter(|q| !q.is_empty());
    let at = quoted
        .and_then(|q| text.get(f.span.clone())?.find(q))
        .map_or(f.span.start, |i| f.span.start + i);
    let (line, key) = key_at(text, at);
    ConfigError {
        file: file.to_string(),
        line,
        key: prefix(&key),
        // toml's messages may run over several lines; keep them on one.
        message: f.message.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

fn prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

/// The 1-based line of byte offset `at`, and the dotted key that the value
/// there belongs to: the nearest `name =` at or above it, inside the
/// nearest table header above that.
fn key_at(text: &str, at: usize) -> (usize, String) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let mut key = String::new();
    let mut table = String::new();
    let lines: Vec<&str> = text.lines().collect();
    for l in lines.iter().take(line).rev() {
        let t = l.trim();
        if t.starts_with('[') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            break;
        }
        if key.is_empty() {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim();
                if !k.is_empty() && !k.starts_with('#') && !k.contains(['"', '\'', ' ']) {
                    key = k.to_string();
                }
            }
        }
    }
    // An error on the header line itself (unknown table) names the table.
    let full = match (table.is_empty(), key.is_empty()) {
        (true, _) => key,
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    };
    (line, full)
}

/// Line of the first `key =` inside table `table` ("" for the top level),
/// counting only the `nth` occurrence of that table (arrays of tables).
fn line_of(text: &str, table: &str, nth: usize, key: &str) -> usize {
    let mut current = String::new();
    let mut seen = 0usize;
    let mut table_line = 0;
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if t.starts_with('[') {
            current = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if current == table {
                seen += 1;
                if seen == nth + 1 {
                    table_line = i + 1;
                }
            }
            continue;
        }
        let in_table = current == table && (table.is_empty() || seen == nth + 1);
        if in_table {
            if let Some((k, _)) = t.split_once('=') {
                if k.trim() == key {
                    return i + 1;
                }
            }
        }
    }
    table_line
}

fn check(c: &Config, text: &str, file: &str) -> Result<(), ConfigError> {
    let fail = |table: &str, nth: usize, key: &str, message: String| {
        let dotted = if table.is_empty() {
            key.to_string()
        } else {
            format!("{table}.{key}")
        };
        Err(ConfigError {
            file: file.to_string(),
            line: line_of(text, table, nth, key),
            key: prefix(&dotted),
            message,
        })
    };
    if c.window_secs == 0 {
        return fail("", 0, "window_secs", "must be at least 1".into());
    }
    if c.baseline.horizon_days == 0 {
        return fail("baseline", 0, "horizon_days", "must be at least 1".into());
    }
    for (key, v) in [
        ("max_images", c.baseline.max_images),
        ("max_hosts_per_image", c.baseline.max_hosts_per_image),
        ("max_hosts", c.baseline.max_hosts),
    ] {
        if v == 0 {
            return fail("baseline", 0, key, "must be at least 1".into());
        }
    }
    if c.prevalence.uncommon_max_percent.0 > 100.0 {
        return fail(
            "prevalence",
            0,
            "uncommon_max_percent",
            format!(
                "is a percentage: at most 100, not {}",
                c.prevalence.uncommon_max_percent.0
            ),
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, r) in c.roles.iter().enumerate() {
        if r.name.trim().is_empty() {
            return fail("roles", i, "name", "must not be empty".into());
        }
        if !names.insert(r.name.as_str()) {
            return fail(
                "roles",
                i,
                "name",
                format!("role \"{}\" is defined twice", r.name),
            );
        }
        if r.hosts.is_empty() && r.cidrs.is_empty() {
            return fail(
                "roles",
                i,
                "name",
                format!("role \"{}\" has neither hosts nor cidrs", r.name),
            );
        }
    }
    for h in &c.allowlist.sha256 {
        if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return fail(
                "allowlist",
                0,
                "sha256",
                format!("\"{h}\" is not 64 hex digits"),
            );
        }
    }
    for j in &c.allowlist.ja4 {
        if !is_ja4(j) {
            return fail(
                "allowlist",
                0,
                "ja4",
                format!("\"{j}\" is not a JA4 fingerprint (such as t13d1516h2_8daaf6152771_e5627efa2ab1)"),
            );
        }
    }
    for d in &c.allowlist.domains {
        if d.trim_matches('.').is_empty() || d.contains(['/', ' ', '*']) {
            return fail(
                "allowlist",
                0,
                "domains",
                format!("\"{d}\" is not a domain name (a suffix such as example.com)"),
            );
        }
    }
    for p in &c.linux.managed_prefixes {
        if !p.starts_with('/') {
            return fail(
                "linux",
                0,
                "managed_prefixes",
                format!("\"{p}\" is not an absolute folder"),
            );
        }
    }
    Ok(())
}

/// The form of a JA4: ten characters of part a, then two groups of 12 hex
/// digits.
fn is_ja4(j: &str) -> bool {
    let parts: Vec<&str> = j.split('_').collect();
    let hex12 = |p: &str| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit());
    match parts.as_slice() {
        [a, b, c] => {
            a.len() == 10
                && a.bytes().all(|b| b.is_ascii_alphanumeric())
                && matches!(a.as_bytes().first(), Some(b't' | b'q' | b'd'))
                && hex12(b)
                && hex12(c)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn err(text: &str) -> String {
        parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn errors_name_key_and_line() {
        let e = err("window_secs = 600\n[thresholds.an0144]\nmin_bytes = 5\n");
        assert!(
            e.starts_with("t.toml:3: thresholds.an0144.min_bytes: unknown field `min_bytes`"),
            "{e}"
        );
        let e = err("home_net = [\n  \"10.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n");
        assert_eq!(
            e,
            "t.toml:3: home_net: bad CIDR \"10.0.0.0/33\": prefix must be 0-32"
        );
        let e = err("[thresholds.an0145]\nmax_response_ratio = -0.5\n");
        assert_eq!(
            e,
            "t.toml:2: thresholds.an0145.max_response_ratio: must be a number not below 0, not -0.5"
        );
        let e = err("[thresholds.an0144]\n\nmin_bytes_out = -5\n");
        assert!(
            e.starts_with("t.toml:3: thresholds.an0144.min_bytes_out: invalid value: integer `-5`"),
            "{e}"
        );
        let e = err("[baselin]\nhorizon_days = 3\n");
        assert!(
            e.starts_with("t.toml:1: baselin: unknown field `baselin`"),
            "{e}"
        );
        assert_eq!(
            err("window_secs = 0\n"),
            "t.toml:1: window_secs: must be at least 1"
        );
        assert_eq!(
            err("[[roles]]\nname = \"a\"\nhosts = [\"x\"]\n[[roles]]\nname = \"a\"\ncidrs = [\"10.0.0.0/8\"]\n"),
            "t.toml:5: roles.name: role \"a\" is defined twice"
        );
        assert_eq!(
            err("[[roles]]\nname = \"db\"\n"),
            "t.toml:2: roles.name: role \"db\" has neither hosts nor cidrs"
        );
        assert_eq!(
            err("[prevalence]\nuncommon_max_percent = 150\n"),
            "t.toml:2: prevalence.uncommon_max_percent: is a percentage: at most 100, not 150"
        );
        let e = err("window_secs = \"ten\"\n");
        assert!(e.starts_with("t.toml:1: window_secs: invalid type"), "{e}");
        let e = err("window_secs = [\n");
        assert!(e.starts_with("t.toml:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
