//! A token bucket: at most `rate` lines a second per connection, with a
//! burst of one second's worth. Past it the connection is read more
//! slowly, so the sender feels TCP backpressure; nothing is dropped.

use std::time::{Duration, Instant};

/// Lines a connection may still send now.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket of `per_sec` lines a second; `None` for no limit.
    pub(crate) fn new(per_sec: u32, now: Instant) -> Option<Self> {
        (per_sec > 0).then(|| {
            let rate = f64::from(per_sec);
            Self {
                rate,
                burst: rate,
                tokens: rate,
                last: now,
            }
        })
    }

    /// Takes one line's token and tells how long to wait before reading
    /// the line (zero while the burst lasts).
    pub(crate) fn take(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn burst_then_the_rate() {
        let t0 = Instant::now();
        assert!(Bucket::new(0, t0).is_none());
        let mut b = Bucket::new(10, t0).unwrap();
        for _ in 0..10 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        // The 11th line waits a tenth of a second; after that wait, the
        // next one waits another tenth.
        let w = b.take(t0);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-9, "{w:?}");
        let w = b.take(t0 + w);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-9, "{w:?}");
        // A pause refills the bucket, never past the burst.
        let later = t0 + Duration::from_secs(60);
        let n = (0..100)
            .take_while(|_| b.take(later) == Duration::ZERO)
            .count();
        assert_eq!(n, 10);
    }
}
