//! Packet time: microseconds since the Unix epoch, formatted as RFC 3339.
//!
//! Every timer in the crate runs on packet time, never the wall clock, so a
//! capture replays the same way on any machine.

/// Microseconds since 1970-01-01T00:00:00Z, as read from the capture.
pub type Micros = u64;

/// One second in [`Micros`].
pub const SECOND: Micros = 1_000_000;

/// Formats packet time as RFC 3339 in UTC with microseconds,
/// e.g. `2023-11-14T22:13:20.000001Z`.
pub fn rfc3339(ts: Micros) -> String {
    let secs = ts / SECOND;
    let micros = ts % SECOND;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Converts days since the epoch to a proleptic Gregorian date
/// (the well-known era-based algorithm: 400-year eras of 146,097 days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_700_000_000 * SECOND + 1),
            "2023-11-14T22:13:20.000001Z"
        );
        // Leap day, and the last microsecond of a year.
        assert_eq!(rfc3339(951_782_400 * SECOND), "2000-02-29T00:00:00.000000Z");
        assert_eq!(
            rfc3339(1_704_067_199_999_999),
            "2023-12-31T23:59:59.999999Z"
        );
    }
}
