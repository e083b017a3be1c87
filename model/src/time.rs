//! Packet time: microseconds since the Unix epoch, formatted as RFC 3339.
//!
//! Every timer in the crate runs on packet time, never the wall clock, so a
//! capture replays the same way on any machine.

/// Microseconds since 1970-01-01T00:00:00Z, as read from the capture.
pub type Micros = u64;

/// One second in [`Micros`].
pub const SECOND: Micros = 1_000_000;

/// The latest packet time procflow keeps, 9999-12-31T23:59:59.999999Z: a
/// capture's later times are taken as this one, so every sum and every
/// signed difference of packet times stays in range.
pub const LATEST: Micros = 253_402_300_799_999_999;

/// Packet time a stage has reached. It only moves forward, and it alone
/// says what is due: something that ended at `end` and waits `lag` (a
/// flow its late-event window, a process window the flows still to come)
/// is due once the watermark is `lag` past `end`. The engines hold packet
/// time in one, the attribution its flows' wait, the process windows
/// their closing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Watermark(Micros);

impl Watermark {
    /// The time reached.
    pub const fn at(self) -> Micros {
        self.0
    }

    /// Moves to `t` when `t` is later; whether it moved.
    pub fn advance(&mut self, t: Micros) -> bool {
        let moved = t > self.0;
        if moved {
            self.0 = t;
        }
        moved
    }

    /// `t`, or the watermark when `t` is earlier: a time stamp taken so
    /// that time never runs back.
    pub fn clamp(self, t: Micros) -> Micros {
        t.max(self.0)
    }

    /// True when what ended at `end` and waits `lag` is due.
    pub fn passed(self, end: Micros, lag: Micros) -> bool {
        end.saturating_add(lag) <= self.0
    }
}

/// Packet time from a capture's seconds and microseconds, held to
/// [`LATEST`].
pub fn from_parts(secs: u64, micros: u64) -> Micros {
    secs.saturating_mul(SECOND)
        .saturating_add(micros)
        .min(LATEST)
}

/// Formats packet time as RFC 3339 in UTC with microseconds,
/// e.g. `2023-11-14T22:13:20.000001Z`.
pub fn rfc3339(ts: Micros) -> String {
    Rfc3339::new(ts).as_str().to_string()
}

/// Packet time written out as RFC 3339 in a buffer of its own: what
/// [`rfc3339`] gives, without an allocation or the formatting machinery
/// (a record holds several times, and millions of records are written).
pub struct Rfc3339 {
    buf: [u8; 32],
    len: usize,
}

impl Rfc3339 {
    /// The text of `ts`.
    pub fn new(ts: Micros) -> Self {
        let secs = ts / SECOND;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let mut out = Rfc3339 {
            buf: [0; 32],
            len: 0,
        };
        out.date(days);
        out.push(b'T');
        out.digits(rem / 3600, 2);
        out.push(b':');
        out.digits((rem / 60) % 60, 2);
        out.push(b':');
        out.digits(rem % 60, 2);
        out.push(b'.');
        out.digits(ts % SECOND, 6);
        out.push(b'Z');
        out
    }

    /// Writes the date of `days` since the epoch. The text of the last
    /// day written on this thread is kept: a record's times, and the
    /// records of a capture, mostly fall on one day.
    fn date(&mut self, days: u64) {
        thread_local! {
            static LAST: std::cell::Cell<(u64, [u8; 10])> =
                const { std::cell::Cell::new((u64::MAX, [0; 10])) };
        }
        let (day, text) = LAST.get();
        if day == days {
            self.extend(&text);
            return;
        }
        let start = self.len;
        let (y, m, d) = civil_from_days(days as i64);
        // Years past 9999 (not a capture's) are written in full.
        let y = y.clamp(0, 999_999) as u64;
        if y > 9999 {
            let mut digits = [0u8; 6];
            let mut n = y;
            let mut k = 0;
            while n > 0 {
                if let Some(c) = digits.get_mut(k) {
                    *c = b'0' + (n % 10) as u8;
                }
                n /= 10;
                k += 1;
            }
            for &c in digits.get(..k).unwrap_or(&[]).iter().rev() {
                self.push(c);
            }
        } else {
            self.digits(y, 4);
        }
        self.push(b'-');
        self.digits(u64::from(m), 2);
        self.push(b'-');
        self.digits(u64::from(d), 2);
        if let Some(Ok(text)) = self.buf.get(start..self.len).map(<[u8; 10]>::try_from) {
            LAST.set((days, text));
        }
    }

    fn extend(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
            self.len = end;
        }
    }

    fn push(&mut self, c: u8) {
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = c;
            self.len += 1;
        }
    }

    /// Writes `n` as exactly `width` digits (the low ones), from the
    /// right, two at a time, into the slice they take.
    fn digits(&mut self, mut n: u64, width: usize) {
        const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
            2021222324252627282930313233343536373839\
            4041424344454647484950515253545556575859\
            6061626364656667686970717273747576777879\
            8081828384858687888990919293949596979899";
        let end = self.len + width;
        let Some(dst) = self.buf.get_mut(self.len..end) else {
            return;
        };
        let mut pairs = dst.rchunks_exact_mut(2);
        for slot in &mut pairs {
            let at = (n % 100) as usize * 2;
            if let Some(pair) = PAIRS.get(at..at + 2) {
                slot.copy_from_slice(pair);
            }
            n /= 100;
        }
        if let Some(first) = pairs.into_remainder().first_mut() {
            *first = b'0' + (n % 10) as u8;
        }
        self.len = end;
    }

    /// The text's bytes (ASCII).
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and separators were written.
        std::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
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
    fn a_watermark_only_moves_forward_and_says_what_is_due() {
        let mut w = Watermark::default();
        assert!(w.advance(10));
        assert!(!w.advance(5));
        assert!(!w.advance(10));
        assert_eq!(w.at(), 10);
        assert_eq!((w.clamp(3), w.clamp(12)), (10, 12));
        assert!(w.passed(4, 6));
        assert!(!w.passed(5, 6));
        assert!(!w.passed(u64::MAX, 1), "no overflow");
    }

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
        // The far future is still a valid, longer year.
        assert_eq!(
            rfc3339(253_402_300_800 * SECOND),
            "10000-01-01T00:00:00.000000Z"
        );
        assert_eq!(rfc3339(u64::MAX), "586524-01-19T08:01:49.551615Z");
    }

    #[test]
    fn same_text_as_the_formatting_machinery() {
        let reference = |ts: Micros| {
            let secs = ts / SECOND;
            let rem = secs % 86_400;
            let (y, m, d) = civil_from_days((secs / 86_400) as i64);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
                rem / 3600,
                (rem / 60) % 60,
                rem % 60,
                ts % SECOND
            )
        };
        let mut ts: Micros = 1;
        for _ in 0..10_000 {
            assert_eq!(rfc3339(ts), reference(ts), "{ts}");
            ts = ts.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) >> 11;
        }
    }
}
