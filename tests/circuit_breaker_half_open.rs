//! The half-open phase: what its probes decide, what the snapshot says
//! about them, and how long they may take. Driven by `ManualClock`, or
//! paused tokio time where the breaker moves by itself.

mod support;

use seawall::prelude::*;
use support::record;

use Outcome::{Failure as F, Success as S};

/// Opens after 4 calls at 50 %; 4 probes; 10 s open.
fn breaker(clock: &ManualClock) -> seawall::CircuitBreakerBuilder {
    CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(4)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(10))
        .permitted_number_of_calls_in_half_open_state(4)
        .clock(clock.clone())
}

/// Trips the breaker, then waits out the open state.
fn open_then_half_open(b: &CircuitBreaker, clock: &ManualClock) {
    record(b, &[F; 4]);
    assert_eq!(b.state(), CircuitState::Open);
    clock.advance(Duration::from_secs(10));
}

/// A breaker whose probes get 5 s, just half-opened.
fn half_open_with_a_5_s_max_wait(clock: &ManualClock) -> CircuitBreaker {
    let b = breaker(clock)
        .max_wait_duration_in_half_open_state(Duration::from_secs(5))
        .build()
        .unwrap();
    open_then_half_open(&b, clock);
    b
}

#[test]
fn an_open_state_the_probes_decided_shows_the_probes() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    record(&b, &[S, F, S, S, F]); // 2 of 5 after the fourth: closed
    b.try_acquire().unwrap().record(F); // 3 of 6: 50 %, opens
    assert_eq!(b.state(), CircuitState::Open);
    let tripped = b.metrics();
    assert_eq!((tripped.buffered_calls, tripped.failed_calls), (6, 3));
    assert_eq!(tripped.failure_rate, Some(50.0));

    clock.advance(Duration::from_secs(10));
    record(&b, &[F, S, F, F]);
    assert_eq!(b.state(), CircuitState::Open);
    // resilience4j's OpenState keeps the half-open metrics: 75 % of 4.
    let m = b.metrics();
    assert_eq!(m.failure_rate, Some(75.0));
    assert_eq!(
        (m.buffered_calls, m.failed_calls, m.successful_calls),
        (4, 3, 1)
    );
    // Until new calls are recorded: the next half-open phase's probes.
    clock.advance(Duration::from_secs(10));
    record(&b, &[S]);
    let m = b.metrics();
    assert_eq!(m.state, CircuitState::HalfOpen);
    assert_eq!((m.buffered_calls, m.failed_calls), (1, 0));
    assert_eq!(m.failure_rate, None, "fewer than the permitted probes");
}

#[test]
fn slow_probes_that_reopen_are_counted_in_the_snapshot() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .slow_call_duration_threshold(Duration::from_secs(1))
        .slow_call_rate_threshold(50.0)
        .build()
        .unwrap();
    open_then_half_open(&b, &clock);
    for slow in [true, true, false, true] {
        let probe = b.try_acquire().expect("probe");
        if slow {
            clock.advance(Duration::from_secs(2));
        }
        probe.record(S);
    }
    assert_eq!(b.state(), CircuitState::Open);
    let m = b.metrics();
    assert_eq!((m.buffered_calls, m.slow_calls, m.failed_calls), (4, 3, 0));
    assert_eq!(m.slow_call_rate, Some(75.0));
    assert_eq!(m.failure_rate, Some(0.0));
}

#[test]
fn a_closed_state_the_probes_decided_starts_an_empty_window() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    open_then_half_open(&b, &clock);
    record(&b, &[S, S, S, F]);
    assert_eq!(b.state(), CircuitState::Closed);
    let m = b.metrics();
    assert_eq!((m.buffered_calls, m.failure_rate), (0, None));
}

#[test]
fn half_open_ends_at_its_max_wait_while_probe_slots_remain() {
    let clock = ManualClock::new();
    let b = half_open_with_a_5_s_max_wait(&clock);
    let hung: Vec<_> = (0..3).map(|_| b.try_acquire().expect("probe")).collect();
    clock.advance(Duration::from_millis(4_999));
    assert_eq!(b.state(), CircuitState::HalfOpen);
    clock.advance(Duration::from_millis(1));
    // One slot of four is free, but the probes' time is up.
    assert_eq!(b.state(), CircuitState::Open);
    let open = b.try_acquire().expect_err("no fourth probe");
    assert_eq!(open.retry_after(), Some(Duration::from_secs(10)));
    drop(hung);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_call_after_the_max_wait_ends_half_open_without_a_state_read() {
    let clock = ManualClock::new();
    let b = half_open_with_a_5_s_max_wait(&clock);
    let _hung = b.try_acquire().expect("probe");
    clock.advance(Duration::from_secs(3600));
    assert!(b.try_acquire().is_err(), "a probe admitted an hour late");
    assert_eq!(b.metrics().state, CircuitState::Open);
}

#[test]
fn the_state_after_the_max_wait_can_be_closed() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .max_wait_duration_in_half_open_state(Duration::from_secs(5))
        .transition_to_state_after_wait_duration(CircuitState::Closed)
        .build()
        .unwrap();
    open_then_half_open(&b, &clock);
    let hung = b.try_acquire().expect("probe");
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), CircuitState::Closed);
    hung.record(F); // from the ended phase: it no longer counts
    assert_eq!(b.metrics().buffered_calls, 0);
    record(&b, &[S; 20]);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn the_state_after_the_max_wait_is_open_or_closed_only() {
    for state in [
        CircuitState::HalfOpen,
        CircuitState::ForcedOpen,
        CircuitState::Disabled,
        CircuitState::MetricsOnly,
    ] {
        let err = CircuitBreaker::builder("x")
            .transition_to_state_after_wait_duration(state)
            .build()
            .expect_err("refused");
        assert_eq!(err.field(), "transition_to_state_after_wait_duration");
    }
}

#[tokio::test(start_paused = true)]
async fn with_automatic_transitions_half_open_ends_by_itself() {
    let b = CircuitBreaker::builder("auto")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(2)
        .wait_duration_in_open_state(Duration::from_secs(30))
        .permitted_number_of_calls_in_half_open_state(4)
        .max_wait_duration_in_half_open_state(Duration::from_secs(5))
        .automatic_transition_from_open_to_half_open(true)
        .build()
        .unwrap();
    record(&b, &[F, F]);
    tokio::time::sleep(Duration::from_secs(30)).await;
    tokio::task::yield_now().await;
    let _hung = b.try_acquire_owned().expect("probe");
    assert_eq!(b.metrics().state, CircuitState::HalfOpen);
    tokio::time::sleep(Duration::from_secs(5)).await;
    tokio::task::yield_now().await;
    // `metrics()` reads the word without moving it: the task did.
    assert_eq!(b.metrics().state, CircuitState::Open);
}
