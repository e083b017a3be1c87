//! How regular a process's connections to one destination are: the
//! evidence of a beacon. From the flows a window lists (start times and
//! request sizes), per destination: the median interval between
//! connection starts and its spread, the median request size and its
//! spread, and one score.
//!
//! Spread is the median absolute deviation over the median, so a beacon
//! with jitter (a start every 60 s ± 20 %) stays regular while a person's
//! browsing (bursts, then minutes of nothing) does not. The score weighs
//! the interval's regularity most, then the size's, then how many
//! connections there were (ten or more count fully).

use serde::Serialize;

/// Connections a destination needs before its regularity is judged.
pub const MIN_CONNECTIONS: usize = 4;

/// A score at or above this reads as a beacon.
pub const BEACON_SCORE: f64 = 0.8;

/// The regularity of one destination's connections.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Beaconing {
    /// Connections looked at (those the window listed).
    pub connections: u64,
    /// Median interval between connection starts (µs).
    pub interval_us: u64,
    /// Median absolute deviation of the intervals over their median.
    pub interval_spread: f64,
    /// Median request size (bytes).
    pub request_bytes: u64,
    /// Median absolute deviation of the request sizes over their median.
    pub size_spread: f64,
    /// 0 (irregular) to 1 (clockwork).
    pub score: f64,
}

impl Beaconing {
    /// The regularity of connections started at `starts` (µs, any order)
    /// with requests of `sizes` bytes; `None` below [`MIN_CONNECTIONS`].
    pub fn of(starts: &[u64], sizes: &[u64]) -> Option<Beaconing> {
        if starts.len() < MIN_CONNECTIONS {
            return None;
        }
        let mut s = starts.to_vec();
        s.sort_unstable();
        let mut intervals: Vec<u64> = s
            .windows(2)
            .map(|w| w.get(1).copied().unwrap_or(0) - w.first().copied().unwrap_or(0))
            .collect();
        let (interval, interval_spread) = median_spread(&mut intervals);
        let mut sz = sizes.to_vec();
        let (size, size_spread) = median_spread(&mut sz);
        let regular = |spread: f64| 1.0 - spread.min(1.0);
        let count = (starts.len() as f64 / 10.0).min(1.0);
        let score = 0.6 * regular(interval_spread) + 0.25 * regular(size_spread) + 0.15 * count;
        Some(Beaconing {
            connections: starts.len() as u64,
            interval_us: interval,
            interval_spread: round(interval_spread),
            request_bytes: size,
            size_spread: round(size_spread),
            score: round(score),
        })
    }

    /// Reads as a beacon.
    pub fn regular(&self) -> bool {
        self.score >= BEACON_SCORE && self.interval_us > 0
    }
}

/// The median of `v` and its median absolute deviation over it (0 for an
/// empty list; a median of 0 spreads 0 when every value is 0, else 1).
fn median_spread(v: &mut [u64]) -> (u64, f64) {
    let Some(m) = median(v) else {
        return (0, 0.0);
    };
    let mut dev: Vec<u64> = v.iter().map(|x| x.abs_diff(m)).collect();
    let mad = median(&mut dev).unwrap_or(0);
    let spread = match (m, mad) {
        (_, 0) => 0.0,
        (0, _) => 1.0,
        (m, mad) => mad as f64 / m as f64,
    };
    (m, spread)
}

fn median(v: &mut [u64]) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn a_jittered_beacon_is_regular_and_browsing_is_not() {
        // Every 60 s, ±12 s of jitter (a fixed pattern), 600-byte posts.
        let jitter = [0i64, 7, -12, 3, 11, -5, -9, 12, 2, -3, 8, -11];
        let mut t = 0i64;
        let starts: Vec<u64> = jitter
            .iter()
            .map(|j| {
                t += 60;
                (t + j) as u64 * S
            })
            .collect();
        let sizes = vec![600; starts.len()];
        let b = Beaconing::of(&starts, &sizes).unwrap();
        assert!(b.regular(), "{b:?}");
        assert_eq!(b.size_spread, 0.0);
        assert!(b.interval_spread < 0.3, "{b:?}");
        assert_eq!(b.connections, 12);
        // Bursts of clicks, then minutes of nothing; pages of every size.
        let starts = [0, 1, 2, 3, 180, 181, 183, 600, 601, 900, 905, 1500].map(|x| x * S);
        let sizes = [
            300, 2500, 410, 90, 1200, 700, 5000, 350, 800, 60, 3000, 1500,
        ];
        let b = Beaconing::of(&starts, &sizes).unwrap();
        assert!(!b.regular(), "{b:?}");
        assert!(b.interval_spread >= 0.5, "{b:?}");
    }

    #[test]
    fn too_few_connections_say_nothing() {
        assert_eq!(Beaconing::of(&[0, S, 2 * S], &[1, 1, 1]), None);
        // Four at once: no interval to speak of, not a beacon.
        let b = Beaconing::of(&[5 * S; 4], &[10; 4]).unwrap();
        assert_eq!(b.interval_us, 0);
        assert!(!b.regular());
    }
}
