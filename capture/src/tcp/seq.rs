//! Sequence numbers: 32-bit and wrapping on the wire, 64-bit stream offsets
//! inside procflow.

/// Maps a 32-bit sequence number to a 64-bit stream offset, choosing the
/// offset nearest to `near` (the next expected offset). `base` is the
/// sequence number of stream offset 0. This handles wrap-around and streams
/// longer than 4 GiB as long as segments arrive within 2 GiB of each other.
/// Offsets before the stream start come out negative.
pub fn unwrap(seq: u32, base: u32, near: u64) -> i64 {
    let rel = seq.wrapping_sub(base);
    let near32 = near as u32;
    let delta = rel.wrapping_sub(near32) as i32;
    (near as i64).wrapping_add(i64::from(delta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around_zero() {
        let base = u32::MAX - 9; // offset 0 ten bytes before the wrap
        assert_eq!(unwrap(base, base, 0), 0);
        assert_eq!(unwrap(5, base, 10), 15);
        assert_eq!(unwrap(u32::MAX, base, 15), 9);
    }

    #[test]
    fn beyond_four_gib() {
        let base = 1000u32;
        let near = (1u64 << 32) + 500;
        assert_eq!(unwrap(1500, base, near), (1i64 << 32) + 500);
        assert_eq!(unwrap(1400, base, near), (1i64 << 32) + 400);
    }

    #[test]
    fn before_start_is_negative() {
        assert_eq!(unwrap(900, 1000, 0), -100);
    }
}
