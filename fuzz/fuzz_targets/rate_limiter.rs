//! Rate limiters over the whole configuration range and any arrivals on a
//! manual clock: building gives a limiter or a `ConfigError` naming a
//! field, never a panic; a token bucket never admits more than
//! `burst + elapsed / T` tokens in any interval, and its `retry_after` is
//! exact (one nanosecond earlier is still too early, then it fits); a
//! sliding window admits at most `limit` per fixed window, and a refused
//! call fits once its `retry_after` has passed.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use seawall::clock::ManualClock;
use seawall::error::Rejection;
use seawall::rate_limit::{LimitError, RateLimiter};
use seawall_fuzz::check_config_error;
use std::time::Duration;

#[derive(Debug, Arbitrary)]
enum Algorithm {
    Gcra {
        count: u32,
        per_nanos: u64,
        burst: Option<u32>,
    },
    SlidingWindow {
        limit: u32,
        window_nanos: u64,
    },
}

#[derive(Debug, Arbitrary)]
enum Op {
    Advance(u32),
    Leap(u64),
    Acquire(u8),
    SetRate {
        count: u32,
        per_nanos: u64,
        burst: Option<u32>,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    algorithm: Algorithm,
    max_wait_nanos: u64,
    ops: Vec<Op>,
}

// Keep the clock where `now + retry_after` cannot saturate it, so the
// properties are about the limiter, not the clock's ceiling.
const HORIZON: u64 = 1 << 62;

fuzz_target!(|input: Input| {
    let clock = ManualClock::new();
    let builder = RateLimiter::builder("fuzz")
        .clock(clock.clone())
        .max_wait(Duration::from_nanos(input.max_wait_nanos));
    // The parameters as the builder documents them: (emission interval T,
    // burst) for GCRA, (limit, window) for the sliding window.
    let (builder, mut gcra, window) = match input.algorithm {
        Algorithm::Gcra {
            count,
            per_nanos,
            burst,
        } => {
            let mut b = builder.rate(count, Duration::from_nanos(per_nanos));
            if let Some(burst) = burst {
                b = b.burst(burst);
            }
            let t = per_nanos / u64::from(count.max(1));
            (b, Some((t, burst.unwrap_or(count))), None)
        }
        Algorithm::SlidingWindow {
            limit,
            window_nanos,
        } => (
            builder.sliding_window(limit, Duration::from_nanos(window_nanos)),
            None,
            Some((limit, window_nanos)),
        ),
    };
    let limiter = match builder.build() {
        Ok(l) => l,
        Err(e) => {
            check_config_error(&e, "fuzz");
            return;
        }
    };
    let mut admitted: Vec<(u64, u64)> = Vec::new(); // (time, tokens) since the last rate change
    for op in input.ops {
        let now = clock.elapsed().as_nanos() as u64;
        match op {
            Op::Advance(ns) => clock.advance(Duration::from_nanos(ns.into())),
            Op::Leap(ns) => clock.advance(Duration::from_nanos(ns % HORIZON)),
            Op::SetRate {
                count,
                per_nanos,
                burst,
            } => {
                if limiter
                    .set_rate(count, Duration::from_nanos(per_nanos), burst)
                    .is_ok()
                {
                    // Tokens already taken stay taken; the bounds restart
                    // (a window's fixed-window count carries over, so its
                    // bound is checked for the first configuration only).
                    gcra = gcra.map(|(_, b)| (per_nanos / u64::from(count), burst.unwrap_or(b)));
                    if window.is_some() {
                        return;
                    }
                    admitted.clear();
                }
            }
            Op::Acquire(n) => {
                let n = u32::from(n % 8);
                if now >= HORIZON {
                    let _ = limiter.try_acquire_n(n);
                    continue;
                }
                match limiter.try_acquire_n(n) {
                    Ok(()) => admitted.push((now, n.into())),
                    Err(LimitError::Capacity(_)) => {
                        let most = gcra.map(|(_, b)| b).or(window.map(|(l, _)| l)).unwrap();
                        assert!(n > most, "{n} refused as never fitting under {most}");
                    }
                    Err(LimitError::Limited(e)) => {
                        let wait = e.retry_after().expect("a refusal says when").as_nanos() as u64;
                        assert!(wait >= 1);
                        if gcra.is_some() {
                            // Exact: still too early one nanosecond before.
                            clock.advance(Duration::from_nanos(wait - 1));
                            if wait > 1 {
                                match limiter.try_acquire_n(n) {
                                    Err(LimitError::Limited(e)) => {
                                        assert_eq!(e.retry_after(), Some(Duration::from_nanos(1)))
                                    }
                                    other => panic!("fit {} ns early: {other:?}", 1),
                                }
                            }
                            clock.advance(Duration::from_nanos(1));
                        } else {
                            clock.advance(Duration::from_nanos(wait));
                        }
                        let at = clock.elapsed().as_nanos() as u64;
                        assert!(
                            limiter.try_acquire_n(n).is_ok(),
                            "{n} still refused after {wait} ns"
                        );
                        admitted.push((at, n.into()));
                    }
                }
                check_bounds(&admitted, gcra, window);
            }
        }
    }
});

fn check_bounds(admitted: &[(u64, u64)], gcra: Option<(u64, u32)>, window: Option<(u32, u64)>) {
    let Some(&(last, _)) = admitted.last() else {
        return;
    };
    if let Some((t, burst)) = gcra {
        // Any interval ending at the newest admission.
        let mut tokens = 0u128;
        for &(at, n) in admitted.iter().rev() {
            tokens += u128::from(n);
            let bound = u128::from(burst) + u128::from(last - at) / u128::from(t);
            assert!(
                tokens <= bound,
                "{tokens} tokens in {} ns (T {t}, burst {burst})",
                last - at
            );
        }
    }
    if let Some((limit, w)) = window {
        let fixed: u64 = admitted
            .iter()
            .filter(|&&(at, _)| at / w == last / w)
            .map(|&(_, n)| n)
            .sum();
        assert!(
            fixed <= u64::from(limit),
            "{fixed} in one fixed window of limit {limit}"
        );
    }
}
