//! What resilience4j's breaker users have and rely on: opening by hand for
//! a time, an initial state, threshold events, durations and slow calls
//! split by outcome, and an answer that says how long to stay away.

mod support;

use seawall::prelude::*;
use seawall::telemetry::EventMask;
use std::sync::{Arc, Mutex};
use support::record;
use tower::{service_fn, Layer, ServiceExt};

use Outcome::{Failure as F, Success as S};

fn breaker(clock: &ManualClock) -> seawall::CircuitBreakerBuilder {
    CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(5)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(10))
        .permitted_number_of_calls_in_half_open_state(4)
        .clock(clock.clone())
}

/// Every event a breaker emits, in order.
fn events_of(
    builder: seawall::CircuitBreakerBuilder,
) -> (CircuitBreaker, Arc<Mutex<Vec<EventKind>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let b = builder
        .on_events(EventMask::ALL, move |e| {
            s.lock().unwrap().push(e.kind.clone())
        })
        .build()
        .unwrap();
    (b, seen)
}

#[test]
fn open_for_rejects_for_exactly_that_long_then_half_opens() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    b.open_for(Duration::from_secs(45)); // resilience4j: transitionToOpenStateFor
    assert_eq!(b.state(), CircuitState::Open);
    let open = b.try_acquire().unwrap_err();
    assert_eq!(open.retry_after(), Some(Duration::from_secs(45)));
    clock.advance(Duration::from_secs(44));
    assert!(b.try_acquire().is_err());
    clock.advance(Duration::from_secs(1));
    b.try_acquire().expect("a probe").record(S);
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[test]
fn open_until_a_wall_time() {
    let clock = ManualClock::new();
    let b = breaker(&clock).build().unwrap();
    let until = clock.wall() + Duration::from_secs(90);
    b.open_until(until); // resilience4j: transitionToOpenStateUntil
    assert_eq!(
        b.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(90))
    );
    clock.advance(Duration::from_secs(90));
    assert!(b.try_acquire().is_ok());
    // A time already past: the next call half-opens.
    b.open_until(clock.wall() - Duration::from_secs(5));
    assert!(b.try_acquire().is_ok());
    assert_eq!(b.state(), CircuitState::HalfOpen);
}

#[test]
fn a_breaker_starts_in_its_initial_state_without_an_event() {
    let clock = ManualClock::new();
    let (forced, events) = events_of(breaker(&clock).initial_state(CircuitState::ForcedOpen));
    assert_eq!(forced.state(), CircuitState::ForcedOpen);
    assert!(forced.try_acquire().is_err());
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .all(|e| !matches!(e, EventKind::StateTransition { .. })));

    let open = breaker(&clock)
        .initial_state(CircuitState::Open)
        .build()
        .unwrap();
    assert_eq!(
        open.try_acquire().unwrap_err().retry_after(),
        Some(Duration::from_secs(10))
    );
    clock.advance(Duration::from_secs(10));
    assert!(open.try_acquire().is_ok(), "half-opens after the wait");

    let watching = breaker(&clock)
        .initial_state(CircuitState::MetricsOnly)
        .build()
        .unwrap();
    record(&watching, &[F; 10]);
    assert_eq!(watching.state(), CircuitState::MetricsOnly);
    assert_eq!(watching.metrics().failure_rate, Some(100.0));
}

#[test]
fn the_threshold_crossed_is_announced_before_the_transition() {
    let clock = ManualClock::new();
    let (b, events) = events_of(breaker(&clock));
    record(&b, &[S, F, S, F, F]); // 3 of 5: 60 %
    let events = events.lock().unwrap().clone();
    let tail: Vec<_> = events
        .iter()
        .filter(|e| !matches!(e, EventKind::Success { .. } | EventKind::Error { .. }))
        .collect();
    assert_eq!(
        tail,
        [
            &EventKind::FailureRateExceeded {
                failure_rate: 60.0,
                calls: 5
            },
            &EventKind::StateTransition {
                from: CircuitState::Closed,
                to: CircuitState::Open
            },
        ]
    );
}

#[test]
fn slow_probes_that_reopen_announce_the_slow_call_rate() {
    let clock = ManualClock::new();
    let (b, events) = events_of(
        breaker(&clock)
            .slow_call_duration_threshold(Duration::from_secs(1))
            .slow_call_rate_threshold(50.0),
    );
    record(&b, &[F; 5]);
    clock.advance(Duration::from_secs(10));
    for d in [2, 2, 0, 2] {
        b.try_acquire()
            .unwrap()
            .record_with_duration(S, Duration::from_secs(d));
    }
    assert_eq!(b.state(), CircuitState::Open);
    let events = events.lock().unwrap();
    assert!(events.contains(&EventKind::SlowCallRateExceeded {
        slow_call_rate: 75.0,
        calls: 4
    }));
    assert!(!events.contains(&EventKind::FailureRateExceeded {
        failure_rate: 0.0,
        calls: 4
    }));
}

#[test]
fn durations_and_slow_calls_are_split_by_outcome() {
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .minimum_number_of_calls(100)
        .slow_call_duration_threshold(Duration::from_millis(500))
        .build()
        .unwrap();
    for (outcome, ms) in [(S, 100), (S, 700), (F, 900), (F, 300), (S, 600)] {
        b.try_acquire()
            .unwrap()
            .record_with_duration(outcome, Duration::from_millis(ms));
    }
    let m = b.metrics();
    assert_eq!(m.total_slow, 3);
    assert_eq!((m.total_slow_successes, m.total_slow_failures), (2, 1));
    assert_eq!(m.total_call_duration, Duration::from_millis(2600));
    assert_eq!(m.mean_call_duration, Some(Duration::from_millis(520)));
    let quiet = breaker(&clock).build().unwrap();
    record(&quiet, &[S]);
    assert_eq!(quiet.metrics().mean_call_duration, None, "nothing measured");
}

/// A dependency that answers 503 with `Retry-After: 120` keeps a breaker
/// classifying with `open_for_retry_after` open for those 120 s, though
/// one failure is far from its failure rate.
#[tokio::test]
async fn a_retry_after_answer_opens_the_breaker_until_then() {
    use http::{Response, StatusCode};
    use seawall::http::HttpClassifier;
    let clock = ManualClock::new();
    let b = breaker(&clock)
        .classify(HttpClassifier::new().open_for_retry_after(true))
        .build()
        .unwrap();
    let busy = service_fn(|_: ()| async {
        Ok::<_, BoxError>(
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header("retry-after", "120")
                .body(())
                .unwrap(),
        )
    });
    let svc = b.layer().layer(busy);
    let res = svc.clone().oneshot(()).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(b.state(), CircuitState::Open);
    let err = svc.clone().oneshot(()).await.unwrap_err();
    let open = seawall::rejection(&err).expect("rejected");
    assert_eq!(open.retry_after(), Some(Duration::from_secs(120)));
    clock.advance(Duration::from_secs(120));
    assert!(b.try_acquire().is_ok(), "half-open after the wait it asked");
}
