//! Nothing public panics on user input: random configurations, valid or
//! not, for every builder, then random sequences of calls on what builds.
//! A configuration is either built or refused with a `ConfigError`; what
//! is built answers every call. (The fuzz targets go deeper on the parsers
//! and on three of these; this covers every constructor.)

use proptest::prelude::*;
use seawall::bulkhead::Bulkhead;
use seawall::prelude::*;
use seawall::retry::{Backoff, Jitter};

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..10_000).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_nanos),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(-1.0f32),
        0.0f32..=150.0
    ]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        -10.0f64..10.0
    ]
}

fn any_count() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(u32::MAX), 0u32..2_000, any::<u32>()]
}

fn any_state() -> impl Strategy<Value = CircuitState> {
    proptest::sample::select(CircuitState::all().to_vec())
}

#[derive(Debug, Clone)]
enum BreakerOp {
    Call(Outcome, Duration),
    Drop,
    Advance(Duration),
    Force(CircuitState),
    OpenFor(Duration),
    Reset,
}

fn breaker_op() -> impl Strategy<Value = BreakerOp> {
    prop_oneof![
        4 => (proptest::sample::select(vec![Outcome::Success, Outcome::Failure, Outcome::Ignored]), any_duration())
            .prop_map(|(o, d)| BreakerOp::Call(o, d)),
        1 => Just(BreakerOp::Drop),
        2 => any_duration().prop_map(BreakerOp::Advance),
        1 => any_state().prop_map(BreakerOp::Force),
        1 => any_duration().prop_map(BreakerOp::OpenFor),
        1 => Just(BreakerOp::Reset),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn circuit_breakers_build_or_refuse_and_then_answer(
        window in prop_oneof![
            any_count().prop_map(SlidingWindow::count),
            any_duration().prop_map(SlidingWindow::time),
            any_count().prop_map(SlidingWindow::consecutive_failures),
        ],
        minimum in any_count(),
        failure_rate in any_f32(),
        slow_rate in any_f32(),
        slow in proptest::option::of(any_duration()),
        wait in prop_oneof![
            any_duration().prop_map(WaitDuration::Fixed),
            (any_duration(), any_f64(), any_duration()).prop_map(|(initial, multiplier, max)| {
                WaitDuration::Exponential { initial, multiplier, max }
            }),
        ],
        permitted in any_count(),
        max_half_open in any_duration(),
        after in any_state(),
        initial in any_state(),
        ops in proptest::collection::vec(breaker_op(), 0..40),
    ) {
        let clock = ManualClock::new();
        let mut b = CircuitBreaker::builder("any")
            .sliding_window(window)
            .minimum_number_of_calls(minimum)
            .failure_rate_threshold(failure_rate)
            .slow_call_rate_threshold(slow_rate)
            .wait_duration_in_open_state_backoff(wait)
            .permitted_number_of_calls_in_half_open_state(permitted)
            .max_wait_duration_in_half_open_state(max_half_open)
            .transition_to_state_after_wait_duration(after)
            .initial_state(initial)
            .clock(clock.clone());
        if let Some(d) = slow {
            b = b.slow_call_duration_threshold(d);
        }
        let Ok(b) = b.build() else { return Ok(()) };
        for op in ops {
            match op {
                BreakerOp::Call(outcome, d) => {
                    if let Ok(p) = b.try_acquire() {
                        p.record_with_duration(outcome, d);
                    }
                }
                BreakerOp::Drop => drop(b.try_acquire()),
                BreakerOp::Advance(d) => clock.advance(d),
                BreakerOp::Force(s) => match s {
                    CircuitState::Closed => b.close(),
                    CircuitState::Open => b.open(),
                    CircuitState::HalfOpen => b.half_open(),
                    CircuitState::ForcedOpen => b.force_open(),
                    CircuitState::Disabled => b.disable(),
                    CircuitState::MetricsOnly => b.metrics_only(),
                },
                BreakerOp::OpenFor(d) => b.open_for(d),
                BreakerOp::Reset => b.reset(),
            }
            let _ = (b.state(), b.metrics());
        }
    }

    #[test]
    fn rate_limiters_build_or_refuse_and_then_answer(
        rate in proptest::option::of((any_count(), any_duration())),
        burst in proptest::option::of(any_count()),
        sliding in proptest::option::of((any_count(), any_duration())),
        max_wait in any_duration(),
        max_keys in prop_oneof![Just(0usize), 1usize..64],
        keyed in any::<bool>(),
        ops in proptest::collection::vec(
            (any_count(), any::<u8>(), proptest::option::of(any_duration()), any_duration()),
            0..40,
        ),
    ) {
        let clock = ManualClock::new();
        let mut builder = RateLimiter::builder("any")
            .max_wait(max_wait)
            .max_keys(max_keys)
            .clock(clock.clone());
        if let Some((count, per)) = rate {
            builder = builder.rate(count, per);
        }
        if let Some(b) = burst {
            builder = builder.burst(b);
        }
        if let Some((limit, window)) = sliding {
            builder = builder.sliding_window(limit, window);
        }
        if keyed {
            let Ok(l) = builder.build_keyed::<u8>() else { return Ok(()) };
            for (n, key, new_rate, advance) in ops {
                let _ = l.try_acquire_n(&key, n);
                let _ = l.try_acquire_snapshot(&key, n);
                if let Some(per) = new_rate {
                    let _ = l.set_rate(n, per, Some(n));
                }
                clock.advance(advance);
                let _ = (l.evict_idle(), l.metrics());
            }
        } else {
            let Ok(l) = builder.build() else { return Ok(()) };
            for (n, _, new_rate, advance) in ops {
                let _ = (l.try_acquire(), l.try_acquire_n(n), l.try_acquire_snapshot(n));
                if let Some(per) = new_rate {
                    let _ = l.set_rate(n, per, None);
                }
                clock.advance(advance);
                let _ = l.metrics();
            }
        }
    }

    #[test]
    fn bulkheads_build_or_refuse_and_then_answer(
        max in prop_oneof![Just(0usize), Just(usize::MAX), Just(1usize << 40), 1usize..100],
        max_wait in any_duration(),
        resizes in proptest::collection::vec(
            prop_oneof![Just(0usize), Just(usize::MAX), Just(1usize << 40), 1usize..100],
            0..10,
        ),
    ) {
        let Ok(b) = Bulkhead::builder("any").max_concurrent_calls(max).max_wait(max_wait).build()
        else { return Ok(()) };
        let mut held = Vec::new();
        for n in resizes {
            held.extend(b.try_acquire().ok());
            let _ = b.set_max_concurrent(n);
            if held.len() > 3 {
                held.clear();
            }
            let _ = b.metrics();
        }
    }

    #[test]
    fn retries_and_backoffs_build_or_refuse_and_delays_never_panic(
        attempts in any_count(),
        backoff in prop_oneof![
            any_duration().prop_map(Backoff::Constant),
            (any_duration(), any_duration()).prop_map(|(base, cap)| Backoff::Linear { initial: base, max: cap }),
            (any_duration(), any_f64(), any_duration())
                .prop_map(|(base, factor, cap)| Backoff::Exponential { initial: base, multiplier: factor, max: cap }),
        ],
        jitter in prop_oneof![
            Just(Jitter::None),
            Just(Jitter::Full),
            Just(Jitter::Equal),
            Just(Jitter::Decorrelated),
            any_f64().prop_map(Jitter::Randomized),
        ],
        deadline in proptest::option::of(any_duration()),
        max_retry_after in any_duration(),
        seed in any::<u64>(),
        n in any::<u32>(),
    ) {
        // Values the builder refuses still give delays (the enums are public).
        let _ = backoff.delay(n);
        let _: Vec<_> = backoff.delays(jitter, seed).take(20).collect();
        let mut builder = Retry::builder("any")
            .max_attempts(attempts)
            .backoff(backoff)
            .jitter(jitter)
            .max_retry_after(max_retry_after);
        if let Some(d) = deadline {
            builder = builder.deadline(d);
        }
        let _ = builder.build();
    }

    #[test]
    fn fault_injectors_build_or_refuse_and_then_answer(
        rates in proptest::array::uniform4(any_f64()),
        latency in prop_oneof![
            any_duration().prop_map(seawall::chaos::Latency::Fixed),
            (any_duration(), any_duration())
                .prop_map(|(min, max)| seawall::chaos::Latency::Uniform { min, max }),
            (any_duration(), any_f64(), any_duration())
                .prop_map(|(median, sigma, max)| seawall::chaos::Latency::LogNormal { median, sigma, max }),
            (any_duration(), any_f64(), any_duration())
                .prop_map(|(min, shape, max)| seawall::chaos::Latency::Pareto { min, shape, max }),
        ],
        per_sec in proptest::option::of(any_count()),
        share in proptest::option::of((any_f64(), any_duration())),
        seed in any::<u64>(),
        calls in 0usize..200,
    ) {
        use seawall::chaos::{Chaos, FaultKind};
        // Values the builder refuses still give delays (the enum is public).
        let _ = latency.sample(seed);
        let mut b = Chaos::builder("any")
            .error_rate(rates[0])
            .latency(rates[1], latency)
            .outcome_rate(rates[2])
            .behaviour(rates[3], || {})
            .seed(seed)
            .clock(ManualClock::new());
        if let Some(n) = per_sec {
            b = b.max_injections_per_sec(n);
        }
        if let Some((share, window)) = share {
            b = b.max_injected_share(share, window);
        }
        if let Ok(chaos) = b.build() {
            for i in 0..calls {
                let _ = chaos.decide();
                let _ = chaos.set_rate(FaultKind::ALL[i % 4], rates[i % 4]);
            }
            let _ = chaos.metrics();
        }
    }

    #[test]
    fn timeouts_build_or_refuse(d in any_duration()) {
        let _ = Timeout::builder("any").duration(d).build();
    }

    #[test]
    fn error_responses_for_any_wait(nanos in any::<u64>(), secs in any::<u64>()) {
        for wait in [Duration::from_nanos(nanos), Duration::new(secs, 999_999_999), Duration::MAX] {
            let err: BoxError = Box::new(RateLimited::new("any".into(), wait));
            let res = seawall::http::error_response(&err);
            prop_assert_eq!(res.status(), 429);
            let after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            prop_assert!(after >= 1 && u128::from(after) >= wait.as_nanos() / 1_000_000_000);
        }
    }
}
