//! Timestamps as endpoint feeds write them, to microseconds since the epoch.

/// Parses RFC 3339 (`2023-08-10T14:39:01.123Z`, `...+02:00`), the
/// space-separated form Sysmon and python-evtx write (`2019-07-19
/// 14:50:20.871`, `2019-07-19 14:50:25.376030+00:00`; no zone means UTC),
/// or epoch seconds with an optional fraction (`1795423772.376`).
/// Fractions past microseconds are truncated. Returns `None` for anything
/// else, or a time before 1970.
pub fn parse(s: &str) -> Option<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(s);
    }
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let min = digits(b, 14, 2)?;
    let sec = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut micros = 0u64;
    if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
        i += 1;
        let mut scale = 100_000u64;
        let start = i;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            micros += u64::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs: i64 = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(b, i + 1, 2)? as i64;
            let om = match b.get(i + 3) {
                Some(b':') if b.len() == i + 6 => digits(b, i + 4, 2)? as i64,
                None => 0,
                Some(_) if b.len() == i + 5 => digits(b, i + 3, 2)? as i64,
                _ => return None,
            };
            let off = oh * 3600 + om * 60;
            if sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days * 86_400 + hour as i64 * 3600 + min as i64 * 60 + sec as i64 - offset_secs;
    u64::try_from(secs)
        .ok()?
        .checked_mul(1_000_000)?
        .checked_add(micros)
}

fn parse_epoch(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || whole.len() > 12 || frac.contains('.') {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let mut micros = 0u64;
    let mut scale = 100_000u64;
    for d in frac.bytes().take(6) {
        micros += u64::from(d - b'0') * scale;
        scale /= 10;
    }
    secs.checked_mul(1_000_000)?.checked_add(micros)
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for k in 0..n {
        let d = *b.get(at + k)?;
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(d - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (era-based algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::parse;
    use capture::time::rfc3339;

    #[test]
    fn forms_feeds_write() {
        let t = |s: &str| parse(s).map(rfc3339);
        assert_eq!(
            t("2019-07-19 14:50:20.871").as_deref(),
            Some("2019-07-19T14:50:20.871000Z")
        );
        assert_eq!(
            t("2019-07-19 14:50:25.376030+00:00").as_deref(),
            Some("2019-07-19T14:50:25.376030Z")
        );
        assert_eq!(
            t("2022-05-11T18:10:20.465735000Z").as_deref(),
            Some("2022-05-11T18:10:20.465735Z")
        );
        assert_eq!(
            t("2019-07-19T14:50:25.3760300Z").as_deref(),
            Some("2019-07-19T14:50:25.376030Z")
        );
        assert_eq!(
            t("2020-12-19T07:00:23+02:00").as_deref(),
            Some("2020-12-19T05:00:23.000000Z")
        );
        assert_eq!(
            t("2020-12-19T07:00:23-0130").as_deref(),
            Some("2020-12-19T08:30:23.000000Z")
        );
        assert_eq!(
            t("1795423772.376").as_deref(),
            Some("2026-11-23T08:49:32.376000Z")
        );
        assert_eq!(
            t("2000-02-29 00:00:00").as_deref(),
            Some("2000-02-29T00:00:00.000000Z")
        );
        for bad in [
            "",
            "yesterday",
            "2019-13-01 00:00:00",
            "2019-07-19 14:50",
            "1.2.3",
            "1969-12-31T23:59:59Z",
            "2019-07-19T14:50:20.Z",
            "2019-07-19T14:50:20Zjunk",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
