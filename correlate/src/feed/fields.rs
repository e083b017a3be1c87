//! Field helpers shared by the readers: values as feeds write them
//! (strings or numbers, `-` for nothing, addresses in any form).

use serde_json::{Map, Value};
use std::borrow::Cow;
use std::net::IpAddr;

/// A record whose fields are looked up by name (a JSON object, the
/// `EventData` of an XML event, ...).
pub(crate) trait Fields {
    /// The field's value as text, if present.
    fn get(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl Fields for Map<String, Value> {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        Map::get(self, key).and_then(text)
    }
}

impl Fields for [(String, String)] {
    fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| Cow::Borrowed(v.as_str()))
    }
}

/// A JSON scalar as text: strings as they are, numbers and booleans in
/// their JSON spelling. Objects, arrays and null are not text.
pub(crate) fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

/// Follows a dotted path (`winlog.event_data`) through nested objects.
pub(crate) fn path<'a>(obj: &'a Map<String, Value>, dotted: &str) -> Option<&'a Value> {
    let mut parts = dotted.split('.');
    let mut v = obj.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

/// The value, unless it is one of the ways feeds write "nothing": empty,
/// `-`, `(null)`, `null`.
pub(crate) fn present(s: &str) -> Option<&str> {
    let s = s.trim();
    (!matches!(s, "" | "-" | "(null)" | "null")).then_some(s)
}

/// An optional text field, `None` when absent or written as nothing.
pub(crate) fn opt_string(f: &(impl Fields + ?Sized), key: &str) -> Option<String> {
    f.get(key).and_then(|v| present(&v).map(str::to_string))
}

/// An address as endpoints write it: IPv4, IPv6 in any form (expanded,
/// bracketed, with a `%zone`); an IPv4-mapped IPv6 address becomes the
/// IPv4 address, as packets carry it.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// An unsigned integer written in decimal (or `0x` hex, as some Windows
/// renderings write pids).
pub(crate) fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok(),
        _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

/// A port: 0 to 65535.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    parse_uint(s).and_then(|n| u16::try_from(n).ok())
}

/// A process id.
pub(crate) fn parse_pid(s: &str) -> Option<u32> {
    parse_uint(s).and_then(|n| u32::try_from(n).ok())
}

/// `true`/`false` in any case, `1`/`0`, `yes`/`no`.
pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("true") || s == "1" || s.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s == "0" || s.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// A value quoted for a bad-line reason, cut to a readable length.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 60;
    let mut out: String = s.chars().take(MAX).collect();
    if s.chars().nth(MAX).is_some() {
        out.push_str("...");
    }
    format!("{out:?}")
}

/// A required field parsed by `parse`: "missing KEY" when absent or empty,
/// `bad KEY "value"` when it does not parse.
pub(crate) fn required<T>(
    f: &(impl Fields + ?Sized),
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, String> {
    let v = f.get(key).ok_or_else(|| format!("missing {key}"))?;
    if v.trim().is_empty() {
        return Err(format!("missing {key}"));
    }
    parse(&v).ok_or_else(|| format!("bad {key} {}", quote(&v)))
}

/// An optional field parsed by `parse`: `None` when absent or written as
/// nothing, `bad KEY "value"` when present and it does not parse.
pub(crate) fn optional<T>(
    f: &(impl Fields + ?Sized),
    key: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, String> {
    match f.get(key) {
        Some(v) => match present(&v) {
            Some(p) => parse(p)
                .map(Some)
                .ok_or_else(|| format!("bad {key} {}", quote(&v))),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

/// Bytes from hex text (`2F7573`), `None` when not hex.
pub(crate) fn unhex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| {
            let hi = char::from(*pair.first()?).to_digit(16)?;
            let lo = char::from(*pair.get(1)?).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_the_forms_feeds_write() {
        let ip = |s: &str| parse_ip(s).map(|i| i.to_string());
        assert_eq!(ip("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(
            ip("fe80:0000:0000:0000:020c:29ff:faf2:ab42").as_deref(),
            Some("fe80::20c:29ff:faf2:ab42")
        );
        assert_eq!(ip("0:0:0:0:0:0:0:0").as_deref(), Some("::"));
        assert_eq!(ip("[::1]").as_deref(), Some("::1"));
        assert_eq!(ip("fe80::1%eth0").as_deref(), Some("fe80::1"));
        assert_eq!(ip("::ffff:192.168.1.4").as_deref(), Some("192.168.1.4"));
        assert_eq!(ip(" 1.2.3.4 ").as_deref(), Some("1.2.3.4"));
        for bad in ["", "1.2.3", "x", "1.2.3.4:80", "::g"] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_and_booleans() {
        assert_eq!(parse_port("443"), Some(443));
        assert_eq!(parse_port("65536"), None);
        assert_eq!(parse_port("-1"), None);
        assert_eq!(parse_port(""), None);
        assert_eq!(parse_pid("0x1a4"), Some(420));
        assert_eq!(parse_pid("4294967296"), None);
        assert_eq!(parse_pid("12a"), None);
        assert_eq!(parse_bool("True"), Some(true));
        assert_eq!(parse_bool("false"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn required_and_optional_name_the_problem() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"a":"80","b":"x","n":8080,"d":"-"}"#).unwrap();
        assert_eq!(required(&m, "a", parse_port), Ok(80));
        assert_eq!(required(&m, "n", parse_port), Ok(8080));
        assert_eq!(
            required(&m, "b", parse_port),
            Err("bad b \"x\"".to_string())
        );
        assert_eq!(required(&m, "c", parse_port), Err("missing c".to_string()));
        assert_eq!(optional(&m, "d", parse_port), Ok(None));
        assert_eq!(optional(&m, "c", parse_port), Ok(None));
        assert!(optional(&m, "b", parse_port).is_err());
    }

    #[test]
    fn hex_and_quotes() {
        assert_eq!(unhex("2F7573").as_deref(), Some(&b"/us"[..]));
        assert_eq!(unhex("2F7"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote(&"x".repeat(100)).len(), 60 + 3 + 2);
    }
}
