//! The rate-limit benches' one configuration, for seawall and governor:
//! limits high enough that no call is refused (the cost of saying yes).
//! Shared by `rate_limit.rs` and `production/`.

#![allow(dead_code)]

use governor::Quota;
use seawall::rate_limit::{RateLimiter, RateLimiterBuilder};
use std::num::NonZeroU32;
use std::time::Duration;

pub const PER_SECOND: u32 = 1_000_000_000;
pub const BURST: u32 = 1_000_000;

fn builder() -> RateLimiterBuilder {
    RateLimiter::builder("bench")
        .rate(PER_SECOND, Duration::from_secs(1))
        .burst(BURST)
}

/// The default configuration: no clock given (outside paused tokio time,
/// the TSC clock).
pub fn seawall_default() -> RateLimiter {
    builder().build().unwrap()
}

/// The same limit on a clock of the caller's.
pub fn seawall_with(clock: impl Into<seawall::ClockHandle>) -> RateLimiter {
    builder().clock(clock).build().unwrap()
}

/// governor's quota for the same limit.
pub fn quota() -> Quota {
    Quota::per_second(NonZeroU32::new(PER_SECOND).unwrap())
        .allow_burst(NonZeroU32::new(BURST).unwrap())
}

/// tower's `RateLimit` at the same limit, one thread only: its limit is per
/// service instance (not shared, not `Clone`). Builds a tokio `Sleep` up
/// front, so call it inside a runtime.
pub fn tower_rate_limit_row(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    use crate::support::{bare, call, thread_waker};
    use std::hint::black_box;
    use tower::Layer;
    let mut tower_rl =
        tower::limit::RateLimitLayer::new(u64::MAX / 2, Duration::from_secs(1)).layer(bare());
    let waker = thread_waker();
    let mut cx = std::task::Context::from_waker(&waker);
    g.bench_function(
        criterion::BenchmarkId::new("tower RateLimit", "1 thread"),
        |b| b.iter(|| black_box(call(&mut tower_rl, black_box(7), &mut cx).is_ok())),
    );
}
