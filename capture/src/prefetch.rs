//! A cache-line prefetch: a hint that a value is about to be read, so the
//! processor fetches it while other work goes on. It never faults and
//! changes nothing a program can observe; where the target has no such
//! instruction it does nothing.

/// Asks for the cache line holding the start of `value`.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse"
    ))]
    safe_arch::prefetch_t0(value);
    #[cfg(not(all(
        any(target_arch = "x86", target_arch = "x86_64"),
        target_feature = "sse"
    )))]
    let _ = value;
}
