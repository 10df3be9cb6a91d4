//! What a rate limiter's builder and `set_rate` accept: daily and monthly
//! quotas, the exact bounds, conflicting settings, and rates too slow to
//! represent; and what it says is left after an admission. `ManualClock`
//! throughout.

use seawall::prelude::*;
use seawall::rate_limit::{
    KeyedLimitError, LimitError, LONG_EMISSION_INTERVAL, MAX_BURST, MAX_BURST_AT_LONG_INTERVALS,
    MAX_EMISSION_INTERVAL,
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn one_per_hour_admits_once_then_says_when() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("hourly")
        .rate(1, HOUR)
        .clock(clock.clone())
        .build()
        .expect("one per hour is a rate");
    l.try_acquire().unwrap();
    clock.advance(Duration::from_secs(60));
    let limited = l.try_acquire().unwrap_err();
    assert_eq!(limited.retry_after(), Some(HOUR - Duration::from_secs(60)));
    clock.advance(HOUR - Duration::from_secs(60));
    l.try_acquire().unwrap();
}

#[test]
fn a_thousand_per_day_per_key_with_a_burst_of_a_thousand() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("api-keys")
        .rate(1000, DAY)
        .clock(clock.clone())
        .build_keyed::<&'static str>()
        .unwrap();
    for _ in 0..1000 {
        l.try_acquire(&"key-1").unwrap();
    }
    match l.try_acquire(&"key-1") {
        Err(KeyedLimitError::Limit(LimitError::Limited(e))) => {
            assert_eq!(e.retry_after(), Some(Duration::from_millis(86_400)));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    l.try_acquire(&"key-2").unwrap();
}

#[test]
fn one_per_thirty_days_is_exact_to_the_nanosecond() {
    let clock = ManualClock::new();
    let month = 30 * DAY + Duration::from_nanos(7);
    let l = RateLimiter::builder("monthly")
        .rate(1, month)
        .burst(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..3 {
        l.try_acquire().unwrap();
    }
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(month));
    clock.advance(month - Duration::from_nanos(1));
    assert_eq!(
        l.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_nanos(1))
    );
    clock.advance(Duration::from_nanos(1));
    l.try_acquire().unwrap();
}

#[test]
fn the_bounds_are_the_documented_ones() {
    let at = |count, per, burst| {
        RateLimiter::builder("b")
            .rate(count, per)
            .burst(burst)
            .build()
            .map(drop)
            .map_err(|e| e.field())
    };
    assert_eq!(at(1, MAX_EMISSION_INTERVAL, 1), Ok(()));
    assert_eq!(
        at(1, MAX_EMISSION_INTERVAL + Duration::from_nanos(1), 1),
        Err("rate")
    );
    let below_long = LONG_EMISSION_INTERVAL - Duration::from_nanos(1);
    assert_eq!(at(1, below_long, MAX_BURST), Ok(()));
    assert_eq!(at(1, below_long, MAX_BURST + 1), Err("burst"));
    assert_eq!(
        at(1, LONG_EMISSION_INTERVAL, MAX_BURST_AT_LONG_INTERVALS),
        Ok(())
    );
    assert_eq!(
        at(1, LONG_EMISSION_INTERVAL, MAX_BURST_AT_LONG_INTERVALS + 1),
        Err("burst")
    );
}

#[test]
fn a_rate_too_slow_to_represent_is_refused_not_rounded() {
    // `Duration::MAX` in u64 nanoseconds saturates; divided after that it
    // gave one call every 4.3 s.
    for count in [1, u32::MAX] {
        let err = RateLimiter::builder("slow")
            .rate(count, Duration::MAX)
            .build()
            .expect_err("too slow");
        assert_eq!(err.field(), "rate");
    }
    let direct = RateLimiter::builder("d").build().unwrap();
    let err = direct
        .set_rate(u32::MAX, Duration::MAX, None)
        .expect_err("too slow");
    assert_eq!(err.field(), "rate");
    let keyed = RateLimiter::builder("k").build_keyed::<u8>().unwrap();
    let err = keyed
        .set_rate(u32::MAX, Duration::MAX, None)
        .expect_err("too slow");
    assert_eq!(err.field(), "rate");
    // Nothing changed: still 100 per second with a burst of 100.
    for _ in 0..100 {
        direct.try_acquire().unwrap();
    }
    assert!(direct.try_acquire().is_err());
}

#[test]
fn set_rate_moves_between_short_and_long_intervals_keeping_tokens_spent() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("switch")
        .rate(10, Duration::from_secs(1))
        .burst(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    l.try_acquire().unwrap(); // one of two tokens spent
    l.set_rate(1, HOUR, None).unwrap();
    l.try_acquire().unwrap();
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(HOUR));
    l.set_rate(10, Duration::from_secs(1), None).unwrap();
    assert_eq!(
        l.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_millis(100))
    );
    // A long interval refuses a burst beyond its bound; nothing changes.
    assert_eq!(
        l.set_rate(1, HOUR, Some(MAX_BURST_AT_LONG_INTERVALS + 1))
            .unwrap_err()
            .field(),
        "burst"
    );
    clock.advance(Duration::from_millis(100));
    l.try_acquire().unwrap();
}

#[test]
fn a_sliding_window_with_a_rate_or_a_burst_is_a_conflict() {
    let b = || RateLimiter::builder("x");
    let minute = Duration::from_secs(60);
    for builder in [
        b().sliding_window(5, minute).burst(2),
        b().burst(2).sliding_window(5, minute),
        b().rate(1, minute).sliding_window(5, minute),
        b().sliding_window(5, minute).rate(1, minute),
    ] {
        let err = builder.build().expect_err("conflict");
        assert_eq!(err.field(), "sliding_window", "{err}");
    }
    let window = b().sliding_window(5, minute).build().unwrap();
    assert_eq!(
        window
            .set_rate(5, minute, Some(2))
            .expect_err("no burst")
            .field(),
        "burst"
    );
}

#[test]
fn a_sliding_window_admits_its_limit_per_window_not_a_default_rate() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("window")
        .sliding_window(5, Duration::from_secs(60))
        .clock(clock.clone())
        .build()
        .unwrap();
    let admitted = (0..120).filter(|_| l.try_acquire().is_ok()).count();
    assert_eq!(admitted, 5);
}

#[test]
fn with_no_rate_a_limiter_is_a_hundred_per_second() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("default")
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!((0..200).filter(|_| l.try_acquire().is_ok()).count(), 100);
    assert_eq!(
        l.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_millis(10))
    );
}

/// governor's `StateSnapshot::remaining_burst_capacity`: a quota of 10
/// per second, after 3 taken at once, has 7 left; one token returns every
/// 100 ms.
#[test]
fn a_token_bucket_says_what_is_left_after_each_admission() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("snap")
        .rate(10, Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    let after = l.try_acquire_snapshot(3).unwrap();
    assert_eq!(
        (after.remaining_burst_capacity, after.burst_capacity),
        (7, 10)
    );
    let after = l.try_acquire_snapshot(7).unwrap();
    assert_eq!(after.remaining_burst_capacity, 0);
    clock.advance(Duration::from_millis(250)); // 2.5 tokens back
    let after = l.try_acquire_snapshot(1).unwrap();
    assert_eq!(after.remaining_burst_capacity, 1);
    assert!(l.try_acquire_snapshot(2).is_err());
}

#[test]
fn a_sliding_window_says_what_its_estimate_leaves() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("window")
        .sliding_window(10, Duration::from_secs(10))
        .clock(clock.clone())
        .build_keyed::<u8>()
        .unwrap();
    let after = l.try_acquire_snapshot(&1, 4).unwrap();
    assert_eq!(
        (after.remaining_burst_capacity, after.burst_capacity),
        (6, 10)
    );
    // Into the next window by 2.5 s: the 4 weigh 4 · 0.75 = 3, so 7 fit.
    clock.advance(Duration::from_millis(12_500));
    let after = l.try_acquire_snapshot(&1, 1).unwrap();
    assert_eq!(after.remaining_burst_capacity, 6);
    assert_eq!(
        l.try_acquire_snapshot(&2, 1)
            .unwrap()
            .remaining_burst_capacity,
        9,
        "each key its own"
    );
}
