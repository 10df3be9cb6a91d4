//! Circuit breakers over the whole configuration range, driven by any
//! sequence of calls, outcomes, cancellations, manual transitions and time
//! on a manual clock: building gives a breaker or a `ConfigError` naming a
//! field, never a panic; a forced-open breaker admits nothing; a closed,
//! disabled or metrics-only one admits everything; a half-open one never
//! has more probes out than `permitted_number_of_calls_in_half_open_state`
//! in one phase (phases told apart by the transition events).
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use seawall::circuit_breaker::{
    CircuitBreaker, CircuitState, OwnedPermit, SlidingWindow, WaitDuration,
};
use seawall::clock::ManualClock;
use seawall::telemetry::EventKind;
use seawall::Outcome;
use seawall_fuzz::{check_config_error, Span};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Arbitrary)]
enum Window {
    Count(u32),
    Time(Span),
    ConsecutiveFailures(u32),
}

#[derive(Debug, Arbitrary)]
enum Wait {
    Fixed(Span),
    Exponential {
        initial: Span,
        multiplier: f64,
        max: Span,
    },
}

#[derive(Debug, Arbitrary)]
struct Config {
    window: Option<Window>,
    minimum_number_of_calls: Option<u32>,
    failure_rate_threshold: Option<f32>,
    slow_call_rate_threshold: Option<f32>,
    slow_call_duration_threshold: Option<Span>,
    wait: Option<Wait>,
    permitted_in_half_open: Option<u32>,
    max_wait_in_half_open: Option<Span>,
    automatic_half_open: bool,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Acquire,
    Record {
        permit: u8,
        outcome: u8,
        took: Option<u32>,
    },
    Cancel {
        permit: u8,
    },
    Advance(u32),
    Leap(Span),
    Manual(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    config: Config,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let clock = ManualClock::new();
    let c = input.config;
    // Each transition starts a new phase (a manual `open()` of a half-open
    // breaker whose wait is over is half-open again at once, with fresh
    // probe slots), so phases are told apart by the transition events.
    let transitions = Arc::new(AtomicU64::new(0));
    let seen = transitions.clone();
    let mut b = CircuitBreaker::builder("fuzz")
        .clock(clock.clone())
        .on_event(move |e| {
            if matches!(e.kind, EventKind::StateTransition { .. }) {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        });
    if let Some(w) = c.window {
        b = b.sliding_window(match w {
            Window::Count(n) => SlidingWindow::count(n),
            Window::Time(d) => SlidingWindow::time(d.get()),
            Window::ConsecutiveFailures(k) => SlidingWindow::consecutive_failures(k),
        });
    }
    if let Some(n) = c.minimum_number_of_calls {
        b = b.minimum_number_of_calls(n);
    }
    if let Some(p) = c.failure_rate_threshold {
        b = b.failure_rate_threshold(p);
    }
    if let Some(p) = c.slow_call_rate_threshold {
        b = b.slow_call_rate_threshold(p);
    }
    if let Some(d) = c.slow_call_duration_threshold {
        b = b.slow_call_duration_threshold(d.get());
    }
    match c.wait {
        Some(Wait::Fixed(d)) => b = b.wait_duration_in_open_state(d.get()),
        Some(Wait::Exponential {
            initial,
            multiplier,
            max,
        }) => {
            b = b.wait_duration_in_open_state_backoff(WaitDuration::Exponential {
                initial: initial.get(),
                multiplier,
                max: max.get(),
            })
        }
        None => {}
    }
    if let Some(n) = c.permitted_in_half_open {
        b = b.permitted_number_of_calls_in_half_open_state(n);
    }
    if let Some(d) = c.max_wait_in_half_open {
        b = b.max_wait_duration_in_half_open_state(d.get());
    }
    b = b.automatic_transition_from_open_to_half_open(c.automatic_half_open);
    let breaker = match b.build() {
        Ok(breaker) => breaker,
        Err(e) => {
            check_config_error(&e, "fuzz");
            return;
        }
    };
    // The default is 10 probes (resilience4j's).
    let probes = c.permitted_in_half_open.unwrap_or(10) as usize;

    // Permits held, each marked when taken as a probe of the half-open
    // phase still current.
    let mut held: Vec<(OwnedPermit, bool)> = Vec::new();
    let mut state = breaker.state();
    let mut phase = transitions.load(Ordering::Relaxed);
    for op in input.ops {
        match op {
            Op::Acquire => {
                let permit = breaker.try_acquire_owned();
                match state {
                    CircuitState::ForcedOpen => assert!(permit.is_err(), "forced open admitted"),
                    CircuitState::Closed | CircuitState::Disabled | CircuitState::MetricsOnly => {
                        assert!(permit.is_ok(), "{state:?} refused")
                    }
                    CircuitState::Open | CircuitState::HalfOpen => {}
                }
                if let Ok(p) = permit {
                    held.push((p, state == CircuitState::HalfOpen));
                }
            }
            Op::Record {
                permit,
                outcome,
                took,
            } => {
                if !held.is_empty() {
                    let (p, _) = held.swap_remove(usize::from(permit) % held.len());
                    let outcome = [Outcome::Success, Outcome::Failure, Outcome::Ignored]
                        [usize::from(outcome % 3)];
                    match took {
                        Some(ns) => {
                            p.record_with_duration(outcome, Duration::from_nanos(ns.into()))
                        }
                        None => p.record(outcome),
                    }
                }
            }
            Op::Cancel { permit } => {
                if !held.is_empty() {
                    drop(held.swap_remove(usize::from(permit) % held.len()));
                }
            }
            Op::Advance(ns) => clock.advance(Duration::from_nanos(ns.into())),
            Op::Leap(d) => clock.advance(d.get()),
            Op::Manual(k) => match k % 7 {
                0 => breaker.force_open(),
                1 => breaker.disable(),
                2 => breaker.metrics_only(),
                3 => breaker.close(),
                4 => breaker.open(),
                5 => breaker.half_open(),
                _ => breaker.reset(),
            },
        }
        state = breaker.state();
        let now = transitions.load(Ordering::Relaxed);
        if now != phase {
            // A new phase: earlier probes no longer hold its slots.
            for (_, probe) in &mut held {
                *probe = false;
            }
            phase = now;
        }
        if state == CircuitState::HalfOpen {
            let out = held.iter().filter(|(_, probe)| *probe).count();
            assert!(out <= probes, "{out} probes out, {probes} permitted");
        }
        let m = breaker.metrics();
        let _ = format!("{m:?}");
    }
});
