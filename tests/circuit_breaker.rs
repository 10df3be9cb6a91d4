//! Behaviour of the circuit breaker primitive, driven by `ManualClock`.

mod support;

use seawall::prelude::*;
use seawall::telemetry::EventMask;
use std::sync::{Arc, Mutex};
use support::{made_on_threads, record};

fn breaker(clock: &ManualClock) -> seawall::CircuitBreakerBuilder {
    CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(4)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(10))
        .permitted_number_of_calls_in_half_open_state(2)
        .clock(clock.clone())
}

use Outcome::{Failure as F, Ignored as I, Success as S};

fn open_it(b: &CircuitBreaker) {
    record(b, &[F, F, F, F]);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn invalid_config_names_the_field() {
    let cases: Vec<(seawall::CircuitBreakerBuilder, &str)> = vec![
        (
            CircuitBreaker::builder("x").failure_rate_threshold(0.0),
            "failure_rate_threshold",
        ),
        (
            CircuitBreaker::builder("x").failure_rate_threshold(100.1),
            "failure_rate_threshold",
        ),
        (
            CircuitBreaker::builder("x").failure_rate_threshold(f32::NAN),
            "failure_rate_threshold",
        ),
        (
            CircuitBreaker::builder("x").slow_call_rate_threshold(-1.0),
            "slow_call_rate_threshold",
        ),
        (
            CircuitBreaker::builder("x").sliding_window(SlidingWindow::count(0)),
            "sliding_window",
        ),
        (
            CircuitBreaker::builder("x").sliding_window(SlidingWindow::count(u32::MAX)),
            "sliding_window",
        ),
        (
            CircuitBreaker::builder("x").sliding_window(SlidingWindow::time(Duration::ZERO)),
            "sliding_window",
        ),
        (
            CircuitBreaker::builder("x")
                .sliding_window(SlidingWindow::time(Duration::from_millis(1500))),
            "sliding_window",
        ),
        (
            CircuitBreaker::builder("x").sliding_window(SlidingWindow::consecutive_failures(0)),
            "sliding_window",
        ),
        (
            CircuitBreaker::builder("x").minimum_number_of_calls(0),
            "minimum_number_of_calls",
        ),
        (
            CircuitBreaker::builder("x").permitted_number_of_calls_in_half_open_state(0),
            "permitted_number_of_calls_in_half_open_state",
        ),
        (
            CircuitBreaker::builder("x").permitted_number_of_calls_in_half_open_state(5000),
            "permitted_number_of_calls_in_half_open_state",
        ),
        (
            CircuitBreaker::builder("x").wait_duration_in_open_state(Duration::ZERO),
            "wait_duration_in_open_state",
        ),
        (
            CircuitBreaker::builder("x").wait_duration_in_open_state_backoff(
                WaitDuration::Exponential {
                    initial: Duration::from_secs(2),
                    multiplier: 0.5,
                    max: Duration::from_secs(60),
                },
            ),
            "wait_duration_in_open_state",
        ),
        (
            CircuitBreaker::builder("x").wait_duration_in_open_state_backoff(
                WaitDuration::Exponential {
                    initial: Duration::from_secs(2),
                    multiplier: 2.0,
                    max: Duration::from_secs(1),
                },
            ),
            "wait_duration_in_open_state",
        ),
        (
            CircuitBreaker::builder("x").slow_call_duration_threshold(Duration::ZERO),
            "slow_call_duration_threshold",
        ),
    ];
    for (builder, field) in cases {
        let err = builder.build().expect_err(field);
        assert_eq!(err.field(), field, "{err}");
        assert_eq!(err.instance(), "x");
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn opens_at_the_threshold_only_after_the_minimum_number_of_calls() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    record(&b, &[F, F, F]);
    assert_eq!(b.state(), CircuitState::Closed, "3 calls < minimum 4");
    assert_eq!(b.metrics().failure_rate, None);
    record(&b, &[S]);
    assert_eq!(b.state(), CircuitState::Open, "3 of 4 failed: 75% >= 50%");

    let b = breaker(&clock).build().unwrap();
    record(&b, &[S, S, S, F, S, F]);
    assert_eq!(b.state(), CircuitState::Closed, "2 of 6: 33%");
    assert_eq!(b.metrics().failure_rate, Some(100.0 * 2.0 / 6.0));
    record(&b, &[F]);
    assert_eq!(b.state(), CircuitState::Closed, "3 of 7: 43%");
    record(&b, &[F]);
    assert_eq!(b.state(), CircuitState::Open, "4 of 8: 50%");
}

#[test]
fn the_count_window_rolls_instead_of_accumulating() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    // 3 failures among the first 10 calls, then 10 successes push them out.
    record(&b, &[S, S, S, F, S, S, F, S, F, S]);
    record(&b, &[S; 10]);
    let m = b.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (10, 0));
    // Five failures now: 5 of the last 10 = 50%. Cumulatively it would be 8 of 25.
    record(&b, &[F, F, F, F]);
    assert_eq!(b.state(), CircuitState::Closed);
    record(&b, &[F]);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().total_failures, 8);
}

#[test]
fn ignored_outcomes_do_not_count() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    record(&b, &[I, I, I, I, I, F, F, F]);
    assert_eq!(b.state(), CircuitState::Closed, "only 3 counted calls");
    assert_eq!(b.metrics().total_ignored, 5);
}

#[test]
fn slow_calls_open_the_breaker_even_when_they_succeed() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .slow_call_duration_threshold(Duration::from_millis(100))
        .slow_call_rate_threshold(50.0)
        .build()
        .unwrap();
    for slow in [true, false, true, false] {
        let p = b.try_acquire().unwrap();
        clock.advance(Duration::from_millis(if slow { 100 } else { 99 }));
        p.record(S);
    }
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.metrics().total_slow, 2);
    assert_eq!(b.metrics().total_failures, 0);
}

#[test]
fn a_cancelled_call_that_ran_past_the_slow_threshold_counts_as_slow() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .slow_call_duration_threshold(Duration::from_secs(1))
        .slow_call_rate_threshold(100.0)
        .build()
        .unwrap();
    for _ in 0..4 {
        let hung = b.try_acquire().unwrap();
        clock.advance(Duration::from_secs(2));
        drop(hung); // an outer timeout gave up on it
    }
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!((m.total_cancelled, m.total_slow), (4, 4));
    // A quick cancellation is not slow and does not count.
    let b = breaker(&clock)
        .slow_call_duration_threshold(Duration::from_secs(1))
        .build()
        .unwrap();
    for _ in 0..10 {
        drop(b.try_acquire().unwrap());
    }
    assert_eq!(b.metrics().buffered_calls, 0);
}

#[test]
fn recorded_durations_decide_slowness_without_the_clock() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .slow_call_duration_threshold(Duration::from_millis(10))
        .slow_call_rate_threshold(100.0)
        .build()
        .unwrap();
    for _ in 0..4 {
        b.try_acquire()
            .unwrap()
            .record_with_duration(S, Duration::from_millis(10));
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn open_rejects_with_the_remaining_wait_then_half_opens() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    open_it(&b);
    let err = b.try_acquire().unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(10)));
    assert_eq!(err.name(), "dep");
    clock.advance(Duration::from_secs(4));
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(6))
    );
    assert_eq!(b.metrics().not_permitted_calls, 2);
    clock.advance(Duration::from_nanos(6_000_000_000 - 1));
    assert!(b.try_acquire().is_err(), "not a nanosecond early");
    clock.advance(Duration::from_nanos(1));
    let _probe = b.try_acquire().expect("first probe");
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[test]
fn half_open_admits_exactly_the_permitted_probes_and_closes_on_success() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    open_it(&b);
    clock.advance(Duration::from_secs(10));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!(rejected.retry_after(), None);
    p1.record(S);
    assert_eq!(b.state(), CircuitState::HalfOpen, "one probe outstanding");
    assert!(b.try_acquire().is_err(), "a recorded probe keeps its slot");
    p2.record(S);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(
        b.metrics().buffered_calls,
        0,
        "closed starts with an empty window"
    );
}

#[test]
fn failing_probes_reopen_with_a_fresh_wait() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    open_it(&b);
    clock.advance(Duration::from_secs(10));
    b.try_acquire().unwrap().record(S);
    b.try_acquire().unwrap().record(F); // 1 of 2 = 50%
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(10))
    );
}

#[test]
fn dropped_and_ignored_probes_return_their_slots() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    open_it(&b);
    clock.advance(Duration::from_secs(10));
    for _ in 0..5 {
        let a = b.try_acquire().unwrap();
        let c = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(a);
        c.record(I);
    }
    assert_eq!(b.state(), CircuitState::HalfOpen);
    b.try_acquire().unwrap().record(S);
    b.try_acquire().unwrap().record(S);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_permit_from_an_earlier_phase_neither_counts_nor_frees_a_slot() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    let stale = b.try_acquire().unwrap(); // issued while closed
    open_it(&b);
    clock.advance(Duration::from_secs(10));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    stale.record(F);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.try_acquire().is_err(), "stale permit returned no slot");
    let old_probe = p1;
    p2.record(F);
    old_probe.record(F);
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(Duration::from_secs(10));
    let probe = b.try_acquire().unwrap();
    let stale_probe = b.try_acquire().unwrap();
    probe.record(S);
    b.close();
    drop(stale_probe); // from the half-open phase; the breaker is closed now
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.metrics().buffered_calls, 0);
}

#[test]
fn half_open_reopens_when_probes_never_finish() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .max_wait_duration_in_half_open_state(Duration::from_secs(5))
        .build()
        .unwrap();
    open_it(&b);
    clock.advance(Duration::from_secs(10));
    let _hung1 = b.try_acquire().unwrap();
    let _hung2 = b.try_acquire().unwrap();
    clock.advance(Duration::from_millis(4999));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    clock.advance(Duration::from_millis(1));
    assert!(b.try_acquire().is_err());
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn exponential_wait_grows_with_consecutive_openings_and_resets_on_close() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .permitted_number_of_calls_in_half_open_state(1)
        .wait_duration_in_open_state_backoff(WaitDuration::Exponential {
            initial: Duration::from_secs(1),
            multiplier: 2.0,
            max: Duration::from_secs(5),
        })
        .build()
        .unwrap();
    open_it(&b);
    for expected in [1, 2, 4, 5, 5] {
        let wait = b.try_acquire().unwrap_err().retry_after().unwrap();
        assert_eq!(wait, Duration::from_secs(expected));
        clock.advance(wait);
        b.try_acquire().unwrap().record(F);
    }
    clock.advance(Duration::from_secs(5));
    b.try_acquire().unwrap().record(S);
    assert_eq!(b.state(), CircuitState::Closed);
    open_it(&b);
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(1))
    );
}

#[test]
fn manual_states() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    b.force_open();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    clock.advance(Duration::from_secs(3600));
    assert!(b.try_acquire().is_err(), "forced open never half-opens");

    b.disable();
    record(&b, &[F; 20]);
    assert_eq!(b.state(), CircuitState::Disabled);
    assert_eq!(b.metrics().total_failures, 0, "disabled records nothing");

    b.metrics_only();
    record(&b, &[F; 20]);
    assert_eq!(b.state(), CircuitState::MetricsOnly);
    assert_eq!(b.metrics().failed_calls, 10);
    assert_eq!(b.metrics().failure_rate, Some(100.0));

    b.close();
    assert_eq!(b.metrics().buffered_calls, 0);
    b.open();
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(10))
    );
    b.half_open();
    assert!(b.try_acquire().is_ok());
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn consecutive_failures_model() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .sliding_window(SlidingWindow::consecutive_failures(3))
        .permitted_number_of_calls_in_half_open_state(2)
        .build()
        .unwrap();
    record(&b, &[F, F, S, F, F, S]);
    assert_eq!(b.state(), CircuitState::Closed, "never 3 in a row");
    record(&b, &[F, F, F]);
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(Duration::from_secs(10));
    record(&b, &[S, F]);
    assert_eq!(b.state(), CircuitState::Open, "any failed probe re-opens");
    clock.advance(Duration::from_secs(10));
    record(&b, &[S, S]);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn time_window_forgets_calls_older_than_the_window() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .sliding_window(SlidingWindow::time(Duration::from_secs(5)))
        .minimum_number_of_calls(4)
        .build()
        .unwrap();
    record(&b, &[F, F, F]);
    clock.advance(Duration::from_secs(5));
    record(&b, &[F]);
    assert_eq!(
        b.state(),
        CircuitState::Closed,
        "the first three are out of the window"
    );
    assert_eq!(b.metrics().buffered_calls, 1);
    clock.advance(Duration::from_secs(4));
    record(&b, &[S, F, S]);
    assert_eq!(b.metrics().buffered_calls, 4);
    assert_eq!(b.state(), CircuitState::Open, "2 of 4 within 5 s");
}

#[test]
fn events_report_transitions_and_rejections_and_listeners_may_call_back() {
    let clock = ManualClock::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let slot: Arc<Mutex<Option<CircuitBreaker>>> = Arc::default();
    let (seen2, slot2) = (seen.clone(), slot.clone());
    let b = breaker(&clock)
        .on_events(EventMask::TRANSITIONS | EventMask::REJECTIONS, move |e| {
            seen2.lock().unwrap().push((e.at, e.kind.clone()));
            // A listener that escalates: force the breaker open once it half-opens.
            if e.kind
                == (EventKind::StateTransition {
                    from: CircuitState::Open,
                    to: CircuitState::HalfOpen,
                })
            {
                if let Some(b) = slot2.lock().unwrap().as_ref() {
                    b.force_open();
                }
            }
        })
        .build()
        .unwrap();
    *slot.lock().unwrap() = Some(b.clone());
    clock.advance(Duration::from_secs(1));
    open_it(&b);
    let _ = b.try_acquire();
    clock.advance(Duration::from_secs(10));
    let _ = b.try_acquire();
    assert_eq!(b.state(), CircuitState::ForcedOpen);
    let seen = seen.lock().unwrap();
    let s = Duration::from_secs;
    assert_eq!(
        *seen,
        vec![
            (
                s(1),
                EventKind::FailureRateExceeded {
                    failure_rate: 100.0,
                    calls: 4
                }
            ),
            (
                s(1),
                EventKind::StateTransition {
                    from: CircuitState::Closed,
                    to: CircuitState::Open
                }
            ),
            (
                s(1),
                EventKind::CallRejected {
                    retry_after: Some(s(10))
                }
            ),
            (
                s(11),
                EventKind::StateTransition {
                    from: CircuitState::Open,
                    to: CircuitState::HalfOpen
                }
            ),
            (
                s(11),
                EventKind::StateTransition {
                    from: CircuitState::HalfOpen,
                    to: CircuitState::ForcedOpen
                }
            ),
            (s(11), EventKind::CallRejected { retry_after: None }),
        ]
    );
}

#[test]
fn per_call_events_only_when_asked() {
    let clock = ManualClock::new();
    let errors = Arc::new(Mutex::new(0));
    let e2 = errors.clone();
    let b = breaker(&clock)
        .on_events(EventMask::ERRORS, move |e| {
            assert!(matches!(e.kind, EventKind::Error { .. }));
            *e2.lock().unwrap() += 1;
        })
        .build()
        .unwrap();
    record(&b, &[S, F, S, I]);
    assert_eq!(*errors.lock().unwrap(), 1);
}

#[tokio::test(start_paused = true)]
async fn automatic_transition_to_half_open_without_calls() {
    let b = CircuitBreaker::builder("auto")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(2)
        .wait_duration_in_open_state(Duration::from_secs(30))
        .automatic_transition_from_open_to_half_open(true)
        .build()
        .unwrap();
    record(&b, &[F, F]);
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_secs(29)).await;
    assert_eq!(b.state(), CircuitState::Open);
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::yield_now().await;
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[test]
fn counts_are_exact_under_concurrent_load() {
    // 8 threads × 20,000 calls with a fixed mix; in metrics-only mode nothing
    // opens, so every outcome must be counted exactly once.
    let b = CircuitBreaker::builder("stress")
        .sliding_window(SlidingWindow::count(1000))
        .build()
        .unwrap();
    b.metrics_only();
    std::thread::scope(|s| {
        for t in 0..8 {
            let b = &b;
            s.spawn(move || {
                for i in 0..20_000u32 {
                    let p = b.try_acquire().unwrap();
                    match (i + t) % 10 {
                        0..=5 => p.record(S),
                        6 | 7 => p.record(F),
                        8 => p.record(I),
                        _ => drop(p),
                    }
                }
            });
        }
    });
    let m = b.metrics();
    assert_eq!(m.total_successes, 8 * 12_000);
    assert_eq!(m.total_failures, 8 * 4_000);
    assert_eq!(m.total_ignored, 8 * 2_000);
    assert_eq!(m.total_cancelled, 8 * 2_000);
    assert_eq!(m.buffered_calls, 1000);
    // The packed aggregate did not drift under racing evictions: a thousand
    // successes flush the window to exactly (1000 calls, 0 failed).
    record(&b, &[S; 1000]);
    let m = b.metrics();
    assert_eq!((m.buffered_calls, m.failed_calls), (1000, 0));
}

/// Owned permits taken on four threads (each on its own thread's handle)
/// and recorded on another count exactly once each.
#[test]
fn owned_permits_from_many_threads_record_exactly() {
    let breaker = CircuitBreaker::builder("threads")
        .sliding_window(SlidingWindow::count(1_000))
        .minimum_number_of_calls(1_000)
        .build()
        .unwrap();
    let permits = made_on_threads(4, 100, || breaker.try_acquire_owned().unwrap());
    for (i, permit) in permits.into_iter().enumerate() {
        permit.record(if i % 4 == 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        });
    }
    let m = breaker.metrics();
    assert_eq!(m.buffered_calls, 400);
    assert_eq!(m.failed_calls, 100);
    assert_eq!(m.successful_calls, 300);
}
