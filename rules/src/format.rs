//! Figures as an analyst reads them in alert reasons.

/// Bytes in decimal units: `512 B`, `3.4 KB`, `412 MB`, `1.20 GB`.
pub fn bytes(n: u64) -> String {
    let v = n as f64;
    let (value, unit) = if n < 1000 {
        return format!("{n} B");
    } else if v < 1e6 {
        (v / 1e3, "KB")
    } else if v < 1e9 {
        (v / 1e6, "MB")
    } else if v < 1e12 {
        (v / 1e9, "GB")
    } else {
        (v / 1e12, "TB")
    };
    if value >= 100.0 {
        format!("{value:.0} {unit}")
    } else if value >= 10.0 {
        format!("{value:.1} {unit}")
    } else {
        format!("{value:.2} {unit}")
    }
}

/// A span of microseconds in the largest fitting unit, rounded to the
/// nearest: `45 seconds`, `3 minutes`, `5 hours`, `8 days`.
pub fn span(us: u64) -> String {
    let s = us / 1_000_000;
    let near = |unit: u64| (s + unit / 2) / unit;
    let (n, unit) = if s < 120 {
        (s, "second")
    } else if s < 2 * 3600 {
        (near(60), "minute")
    } else if s < 2 * 86_400 {
        (near(3600), "hour")
    } else {
        (near(86_400), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// A multiple: `96x`, `2.5x`.
pub fn times(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.0}x")
    } else {
        format!("{x:.1}x")
    }
}

/// A response ratio with the digits that matter: `0.52`, `0.0012`,
/// `under 0.0001`.
pub fn ratio(r: f64) -> String {
    if r >= 0.01 {
        format!("{r:.2}")
    } else if r >= 0.0001 {
        format!("{r:.4}")
    } else {
        "under 0.0001".to_string()
    }
}

/// `1 host` / `3 hosts`.
pub fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(3_400), "3.40 KB");
        assert_eq!(bytes(412_000_000), "412 MB");
        assert_eq!(bytes(41_200_000), "41.2 MB");
        assert_eq!(bytes(1_200_000_000), "1.20 GB");
        assert_eq!(span(45_000_000), "45 seconds");
        assert_eq!(span(180_000_000), "3 minutes");
        assert_eq!(span(3_600_000_000), "60 minutes");
        assert_eq!(span(8 * 86_400_000_000), "8 days");
        assert_eq!(span(8 * 86_400_000_000 - 5_000_000), "8 days");
        assert_eq!(span(150_000_000), "3 minutes");
        assert_eq!(ratio(0.523), "0.52");
        assert_eq!(ratio(0.00116), "0.0012");
        assert_eq!(ratio(0.000003), "under 0.0001");
        assert_eq!(span(86_400_000_000), "24 hours");
        assert_eq!(times(96.4), "96x");
        assert_eq!(times(2.46), "2.5x");
        assert_eq!(count(1, "host"), "1 host");
        assert_eq!(count(0, "host"), "0 hosts");
    }
}
