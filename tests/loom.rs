//! loom models of the breaker's lock-free core. Run with
//! `RUSTFLAGS="--cfg seawall_loom" cargo test --release --test loom`.
#![cfg(seawall_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use seawall::prelude::*;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

fn half_open_breaker(permitted: u32) -> CircuitBreaker {
    let b = CircuitBreaker::builder("loom")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(1)
        .permitted_number_of_calls_in_half_open_state(permitted)
        .clock(ManualClock::new())
        .build()
        .unwrap();
    b.half_open();
    b
}

/// Two threads race for one probe slot, then give it back (one by dropping
/// the permit, one by recording an ignored outcome). Never more than one
/// probe is inside, and afterwards exactly one slot is free again.
#[test]
fn half_open_probe_slots_are_never_exceeded_and_never_leak() {
    loom::model(|| {
        let b = half_open_breaker(1);
        let inside = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let (b, inside) = (b.clone(), inside.clone());
                thread::spawn(move || {
                    if let Ok(p) = b.try_acquire() {
                        assert_eq!(
                            inside.fetch_add(1, Ordering::SeqCst),
                            0,
                            "two probes inside"
                        );
                        inside.fetch_sub(1, Ordering::SeqCst);
                        if i == 0 {
                            drop(p);
                        } else {
                            p.record(Outcome::Ignored);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let p = b.try_acquire().expect("the slot came back");
        assert!(b.try_acquire().is_err(), "only one slot");
        drop(p);
        assert_eq!(b.state(), CircuitState::HalfOpen);
    });
}

/// Two probes recorded concurrently: exactly one of them decides, and the
/// breaker closes exactly once.
#[test]
fn concurrent_probes_decide_exactly_once() {
    loom::model(|| {
        let closes = std::sync::Arc::new(StdAtomicUsize::new(0));
        let c2 = closes.clone();
        let b = CircuitBreaker::builder("loom")
            .permitted_number_of_calls_in_half_open_state(2)
            .clock(ManualClock::new())
            .on_event(move |e| {
                if e.kind
                    == (EventKind::StateTransition {
                        from: CircuitState::HalfOpen,
                        to: CircuitState::Closed,
                    })
                {
                    c2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .build()
            .unwrap();
        b.half_open();
        let permits = [
            b.try_acquire_owned().unwrap(),
            b.try_acquire_owned().unwrap(),
        ];
        let handles: Vec<_> = permits
            .into_iter()
            .map(|p| thread::spawn(move || p.record(Outcome::Success)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(closes.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

/// Two failures recorded at once into the count window trip the breaker
/// once; the window's packed aggregate is exact afterwards.
#[test]
fn concurrent_failures_open_once_and_the_window_stays_exact() {
    loom::model(|| {
        let opens = std::sync::Arc::new(StdAtomicUsize::new(0));
        let o2 = opens.clone();
        let b = CircuitBreaker::builder("loom")
            .sliding_window(SlidingWindow::count(4))
            .minimum_number_of_calls(2)
            .failure_rate_threshold(100.0)
            .clock(ManualClock::new())
            .on_event(move |e| {
                if matches!(
                    e.kind,
                    EventKind::StateTransition {
                        to: CircuitState::Open,
                        ..
                    }
                ) {
                    o2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
            .build()
            .unwrap();
        b.metrics_only();
        b.close();
        let permits = [
            b.try_acquire_owned().unwrap(),
            b.try_acquire_owned().unwrap(),
        ];
        let handles: Vec<_> = permits
            .into_iter()
            .map(|p| thread::spawn(move || p.record(Outcome::Failure)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(opens.load(std::sync::atomic::Ordering::SeqCst), 1);
    });
}

/// Two threads overwrite the single slot of a one-call window at once (the
/// evicting swap can land before the other's addition): the aggregate still
/// ends with exactly one call in the window.
#[test]
fn evictions_racing_additions_conserve_the_window_count() {
    loom::model(|| {
        let b = CircuitBreaker::builder("loom")
            .sliding_window(SlidingWindow::count(1))
            .minimum_number_of_calls(1)
            .failure_rate_threshold(100.0)
            .clock(ManualClock::new())
            .build()
            .unwrap();
        b.metrics_only();
        let outcomes = [Outcome::Failure, Outcome::Success];
        let permits = [
            b.try_acquire_owned().unwrap(),
            b.try_acquire_owned().unwrap(),
        ];
        let handles: Vec<_> = permits
            .into_iter()
            .zip(outcomes)
            .map(|(p, o)| thread::spawn(move || p.record(o)))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let m = b.metrics();
        assert_eq!(m.buffered_calls, 1);
        assert!(m.failed_calls <= 1);
    });
}

/// Two threads race the GCRA CAS for a bucket holding one token at a time:
/// exactly as many calls are admitted as a serial order would admit.
#[test]
fn gcra_cas_never_admits_more_than_a_serial_order() {
    loom::model(|| {
        let clock = ManualClock::new();
        let limiter = seawall::rate_limit::RateLimiter::builder("loom")
            .rate(1, Duration::from_secs(1))
            .burst(2)
            .clock(clock)
            .build()
            .unwrap();
        let admitted = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let (l, admitted) = (limiter.clone(), admitted.clone());
                thread::spawn(move || {
                    // Each thread asks for 2 tokens, one at a time.
                    for _ in 0..2 {
                        if l.try_acquire().is_ok() {
                            admitted.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        // Serially, a burst of 2 at one instant admits exactly 2 of the 4.
        assert_eq!(admitted.load(Ordering::SeqCst), 2);
        assert!(limiter.try_acquire().is_err());
    });
}
