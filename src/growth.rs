//! Growth maths two patterns share: the retry's exponential backoff and
//! the circuit breaker's exponential open wait.

use std::time::Duration;

/// `base·factorⁿ⁻¹` for the `n`-th retry or opening (1-based), at most
/// `cap`: the retry's exponential backoff and the breaker's exponential
/// open wait.
pub(crate) fn exponential(base: Duration, factor: f64, n: u32, cap: Duration) -> Duration {
    // Builders refuse such factors; values built by hand (the enum is
    // public) must still not panic below (a negative `secs`).
    let factor = if factor.is_finite() && factor >= 1.0 {
        factor
    } else {
        1.0
    };
    let secs = base.as_secs_f64() * factor.powi((n.max(1) - 1).min(1024) as i32);
    let d = if secs.is_finite() && secs < cap.as_secs_f64() {
        Duration::from_secs_f64(secs)
    } else {
        cap
    };
    // An f64 holds a duration to the nanosecond only up to 2⁵³ ns (104
    // days); beyond, rounding could go below the base.
    d.max(base).min(cap)
}
