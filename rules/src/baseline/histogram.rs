//! A bounded histogram of u64 samples on a log scale, for quantiles of
//! per-window volumes: values below 16 are kept exactly, larger ones in 8
//! buckets per power of two (about 12 % wide), so the whole u64 range
//! takes at most 496 buckets whatever the number of samples.

use serde::{Deserialize, Serialize};

const EXACT: u64 = 16;
const SUB_BITS: u32 = 3;
const SUBS: u64 = 1 << SUB_BITS;
/// The bucket of `u64::MAX`: no bucket lies beyond.
const LAST_BUCKET: u16 = 495;

/// Sparse bucket counts, sorted by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Histogram {
    /// (bucket, samples), sorted by bucket.
    buckets: Vec<(u16, u64)>,
    /// Samples in all.
    count: u64,
    /// Largest sample.
    max: u64,
}

fn bucket_of(v: u64) -> u16 {
    if v < EXACT {
        return v as u16;
    }
    let exp = 63 - v.leading_zeros(); // >= 4
    let sub = (v >> (exp - SUB_BITS)) & (SUBS - 1);
    (EXACT + u64::from(exp - 4) * SUBS + sub) as u16
}

/// Largest value that falls in bucket `b`.
fn upper_bound(b: u16) -> u64 {
    let b = u64::from(b);
    if b < EXACT {
        return b;
    }
    let exp = (b - EXACT) / SUBS + 4;
    let sub = (b - EXACT) % SUBS;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    ((SUBS + sub) * width).saturating_add(width - 1)
}

impl Histogram {
    /// Adds one sample.
    pub fn add(&mut self, v: u64) {
        let b = bucket_of(v);
        match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
            Ok(i) => {
                if let Some(e) = self.buckets.get_mut(i) {
                    e.1 += 1;
                }
            }
            Err(i) => self.buckets.insert(i, (b, 1)),
        }
        self.count += 1;
        self.max = self.max.max(v);
    }

    /// Adds every sample of `other` (another sensor's, or another
    /// batch's): the result is the histogram of both sample sets.
    pub fn merge(&mut self, other: &Histogram) {
        for &(b, n) in &other.buckets {
            match self.buckets.binary_search_by_key(&b, |&(k, _)| k) {
                Ok(i) => {
                    if let Some(e) = self.buckets.get_mut(i) {
                        e.1 = e.1.saturating_add(n);
                    }
                }
                Err(i) => self.buckets.insert(i, (b, n)),
            }
        }
        self.count = self.count.saturating_add(other.count);
        self.max = self.max.max(other.max);
    }

    /// Samples added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (0..=1), rounded up to its bucket's upper bound
    /// and never above the largest sample; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(upper_bound(b).min(self.max));
            }
        }
        Some(self.max)
    }

    /// The histogram as compact JSON, for the baseline file.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads [`Histogram::to_json`] back; `None` when damaged.
    pub fn from_json(s: &str) -> Option<Histogram> {
        let h: Histogram = serde_json::from_str(s).ok()?;
        let sorted = h.buckets.windows(2).all(|w| match w {
            [a, b] => a.0 < b.0,
            _ => true,
        });
        // A bucket past the last is a damaged (or crafted) file.
        let in_range = h.buckets.iter().all(|&(b, _)| b <= LAST_BUCKET);
        let total = h
            .buckets
            .iter()
            .try_fold(0u64, |t, &(_, n)| t.checked_add(n));
        (sorted && in_range && total == Some(h.count)).then_some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merging_equals_adding_both_sample_sets() {
        let (a, b) = ([3u64, 70, 70, 9_000], [70u64, 1 << 40, 2]);
        let (mut left, mut right, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        a.iter().for_each(|&v| left.add(v));
        b.iter().for_each(|&v| right.add(v));
        a.iter().chain(&b).for_each(|&v| both.add(v));
        left.merge(&right);
        assert_eq!(left, both);
        assert_eq!(left.count(), 7);
        assert_eq!(left.quantile(1.0), Some(1 << 40));
    }

    #[test]
    fn buckets_cover_the_range() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(15), 15);
        assert_eq!(bucket_of(16), 16);
        assert_eq!(upper_bound(16), 17);
        assert_eq!(bucket_of(u64::MAX), LAST_BUCKET);
        assert_eq!(upper_bound(LAST_BUCKET), u64::MAX);
        for v in [16u64, 17, 100, 1_000_000, 1 << 40, u64::MAX / 3] {
            let b = bucket_of(v);
            assert!(upper_bound(b) >= v);
            assert!(b == 0 || upper_bound(b - 1) < v, "{v}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.99), None);
        for v in 1..=100u64 {
            h.add(v * 1000);
        }
        let p99 = h.quantile(0.99).unwrap();
        assert!((99_000..=99_000 * 9 / 8).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), Some(100_000));
        assert_eq!(h.count(), 100);
        let back = Histogram::from_json(&h.to_json()).unwrap();
        assert_eq!(back, h);
        assert_eq!(
            Histogram::from_json("{\"buckets\":[[3,1]],\"count\":2,\"max\":3}"),
            None
        );
        assert_eq!(Histogram::from_json("not json"), None);
        // Buckets past u64::MAX's, or counts that overflow: refused.
        assert_eq!(
            Histogram::from_json("{\"buckets\":[[4000,1]],\"count\":1,\"max\":3}"),
            None
        );
        assert_eq!(
            Histogram::from_json(&format!(
                "{{\"buckets\":[[1,{m}],[2,{m}]],\"count\":1,\"max\":3}}",
                m = u64::MAX
            )),
            None
        );
    }

    proptest! {
        /// The reported quantile is never below the true one, and at most
        /// one bucket (12.5 %) above it.
        #[test]
        fn quantile_bounds(mut values in proptest::collection::vec(0u64..1u64 << 50, 1..200), q in 0.0f64..1.0) {
            let mut h = Histogram::default();
            for &v in &values { h.add(v); }
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).max(1);
            let truth = values[rank - 1];
            let got = h.quantile(q).unwrap();
            prop_assert!(got >= truth);
            prop_assert!(got <= truth.max(15) + truth / 8 + 1, "got {} truth {}", got, truth);
        }
    }
}
