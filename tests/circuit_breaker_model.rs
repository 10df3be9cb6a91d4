//! A state-machine test: random sequences of calls, outcomes, cancellations,
//! time steps and manual controls, run against the breaker and against a
//! small reference model, comparing state and counts after every step.

use proptest::prelude::*;
use seawall::prelude::*;
use std::collections::VecDeque;

const WINDOW: usize = 5;
const MIN_CALLS: usize = 3;
const PERMITTED: u32 = 2;
const SLOW_MS: u64 = 100;
const WAIT_MS: u64 = 1000;
const MAX_WAIT_HALF_OPEN_MS: u64 = 3000;

#[derive(Debug, Clone)]
enum Op {
    Acquire,
    Record {
        which: usize,
        outcome: Outcome,
        ms: u64,
    },
    Drop {
        which: usize,
    },
    Advance {
        ms: u64,
    },
    ForceOpen,
    Close,
    Disable,
    MetricsOnly,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Ignored)
    ];
    prop_oneof![
        8 => Just(Op::Acquire),
        8 => (0..4usize, outcome, prop_oneof![Just(0u64), Just(99), Just(100), Just(250)])
            .prop_map(|(which, outcome, ms)| Op::Record { which, outcome, ms }),
        2 => (0..4usize).prop_map(|which| Op::Drop { which }),
        4 => prop_oneof![Just(1u64), Just(99), Just(500), Just(999), Just(1000), Just(3000)]
            .prop_map(|ms| Op::Advance { ms }),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::Close),
        1 => Just(Op::Disable),
        1 => Just(Op::MetricsOnly),
        1 => Just(Op::Reset),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counted,
    Probe,
    Passthrough,
}

#[derive(Debug, Clone, Copy)]
struct ModelPermit {
    generation: u64,
    kind: Kind,
    start: u64,
}

#[derive(Debug)]
struct Model {
    state: CircuitState,
    generation: u64,
    window: VecDeque<(bool, bool)>,
    open_until: u64,
    half_open_since: u64,
    admitted: u32,
    recorded: u32,
    failed: u32,
    slow: u32,
    /// The probes' (recorded, failed, slow) when the last phase was
    /// half-open: an Open state entered from it reports them.
    left_probes: Option<(u32, u32, u32)>,
    now: u64,
}

impl Model {
    fn new() -> Self {
        Model {
            state: CircuitState::Closed,
            generation: 0,
            window: VecDeque::new(),
            open_until: 0,
            half_open_since: 0,
            admitted: 0,
            recorded: 0,
            failed: 0,
            slow: 0,
            left_probes: None,
            now: 0,
        }
    }

    fn enter(&mut self, to: CircuitState) {
        self.left_probes = (self.state == CircuitState::HalfOpen).then_some((
            self.recorded,
            self.failed,
            self.slow,
        ));
        self.generation += 1;
        self.state = to;
        (self.admitted, self.recorded, self.failed, self.slow) = (0, 0, 0, 0);
        match to {
            CircuitState::Open => self.open_until = self.now + WAIT_MS,
            CircuitState::HalfOpen => self.half_open_since = self.now,
            CircuitState::Closed | CircuitState::MetricsOnly => self.window.clear(),
            _ => {}
        }
    }

    fn force(&mut self, to: CircuitState, reset: bool) {
        if reset {
            self.window.clear();
        }
        if self.state != to || reset {
            self.enter(to);
        }
    }

    /// `Ok(permit)` or `Err(retry_after_ms)`.
    fn acquire(&mut self) -> Result<ModelPermit, Option<u64>> {
        loop {
            let generation = self.generation;
            let permit = |kind| {
                Ok(ModelPermit {
                    generation,
                    kind,
                    start: self.now,
                })
            };
            match self.state {
                CircuitState::Closed | CircuitState::MetricsOnly => return permit(Kind::Counted),
                CircuitState::Disabled => return permit(Kind::Passthrough),
                // The probes' time is up whatever slots remain.
                CircuitState::HalfOpen
                    if self.now - self.half_open_since >= MAX_WAIT_HALF_OPEN_MS =>
                {
                    self.enter(CircuitState::Open)
                }
                CircuitState::HalfOpen if self.admitted < PERMITTED => {
                    self.admitted += 1;
                    return permit(Kind::Probe);
                }
                CircuitState::HalfOpen | CircuitState::ForcedOpen => return Err(None),
                CircuitState::Open if self.now >= self.open_until => {
                    self.enter(CircuitState::HalfOpen)
                }
                CircuitState::Open => return Err(Some(self.open_until - self.now)),
            }
        }
    }

    fn rates_exceeded(calls: usize, failed: usize, slow: usize) -> bool {
        calls > 0 && (failed * 100 >= 50 * calls || slow * 100 >= 60 * calls)
    }

    fn count(&mut self, p: ModelPermit, failure: bool, slow: bool) {
        if p.generation != self.generation {
            return;
        }
        if p.kind == Kind::Probe {
            self.recorded += 1;
            self.failed += failure as u32;
            self.slow += slow as u32;
            if self.recorded == PERMITTED {
                let reopen = Self::rates_exceeded(
                    self.recorded as usize,
                    self.failed as usize,
                    self.slow as usize,
                );
                self.enter(if reopen {
                    CircuitState::Open
                } else {
                    CircuitState::Closed
                });
            }
            return;
        }
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back((failure, slow));
        let (calls, failed, slow) = self.counts();
        if self.state == CircuitState::Closed
            && calls >= MIN_CALLS
            && Self::rates_exceeded(calls, failed, slow)
        {
            self.enter(CircuitState::Open);
        }
    }

    fn release(&mut self, p: ModelPermit) {
        if p.kind == Kind::Probe
            && p.generation == self.generation
            && self.state == CircuitState::HalfOpen
        {
            self.admitted -= 1;
        }
    }

    fn record(&mut self, p: ModelPermit, outcome: Outcome, ms: u64) {
        match (p.kind, outcome) {
            (Kind::Passthrough, _) => {}
            (_, Outcome::Ignored) => self.release(p),
            (_, o) => self.count(p, o == Outcome::Failure, ms >= SLOW_MS),
        }
    }

    fn cancel(&mut self, p: ModelPermit) {
        match p.kind {
            Kind::Passthrough => {}
            _ if self.now - p.start >= SLOW_MS => self.count(p, false, true),
            _ => self.release(p),
        }
    }

    fn counts(&self) -> (usize, usize, usize) {
        let failed = self.window.iter().filter(|c| c.0).count();
        let slow = self.window.iter().filter(|c| c.1).count();
        (self.window.len(), failed, slow)
    }

    fn expected_counts(&self) -> (u64, u64, u64) {
        if self.state == CircuitState::HalfOpen {
            return (self.recorded.into(), self.failed.into(), self.slow.into());
        }
        if let (CircuitState::Open, Some((r, f, s))) = (self.state, self.left_probes) {
            return (r.into(), f.into(), s.into());
        }
        let (c, f, s) = self.counts();
        (c as u64, f as u64, s as u64)
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("model")
        .sliding_window(SlidingWindow::count(WINDOW as u32))
        .minimum_number_of_calls(MIN_CALLS as u32)
        .failure_rate_threshold(50.0)
        .slow_call_rate_threshold(60.0)
        .slow_call_duration_threshold(Duration::from_millis(SLOW_MS))
        .wait_duration_in_open_state(Duration::from_millis(WAIT_MS))
        .permitted_number_of_calls_in_half_open_state(PERMITTED)
        .max_wait_duration_in_half_open_state(Duration::from_millis(MAX_WAIT_HALF_OPEN_MS))
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut model = Model::new();
    let mut held: Vec<(seawall::Permit, ModelPermit)> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op.clone() {
            Op::Acquire => match (breaker.try_acquire(), model.acquire()) {
                (Ok(p), Ok(m)) => held.push((p, m)),
                (Err(e), Err(ms)) => {
                    prop_assert_eq!(
                        e.retry_after(),
                        ms.map(Duration::from_millis),
                        "step {} {:?}",
                        step,
                        op
                    )
                }
                (real, expected) => {
                    prop_assert!(false, "step {step}: real {real:?} vs model {expected:?}")
                }
            },
            Op::Record { which, outcome, ms } if which < held.len() => {
                let (p, m) = held.remove(which);
                p.record_with_duration(outcome, Duration::from_millis(ms));
                model.record(m, outcome, ms);
            }
            Op::Drop { which } if which < held.len() => {
                let (p, m) = held.remove(which);
                drop(p);
                model.cancel(m);
            }
            Op::Record { .. } | Op::Drop { .. } => {}
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms;
            }
            Op::ForceOpen => {
                (
                    breaker.force_open(),
                    model.force(CircuitState::ForcedOpen, false),
                )
                    .1
            }
            Op::Close => (breaker.close(), model.force(CircuitState::Closed, false)).1,
            Op::Disable => {
                (
                    breaker.disable(),
                    model.force(CircuitState::Disabled, false),
                )
                    .1
            }
            Op::MetricsOnly => {
                (
                    breaker.metrics_only(),
                    model.force(CircuitState::MetricsOnly, false),
                )
                    .1
            }
            Op::Reset => (breaker.reset(), model.force(CircuitState::Closed, true)).1,
        }
        let m = breaker.metrics();
        prop_assert_eq!(m.state, model.state, "state after step {} {:?}", step, op);
        prop_assert_eq!(
            (m.buffered_calls, m.failed_calls, m.slow_calls),
            model.expected_counts(),
            "counts after step {} {:?}",
            step,
            op
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn breaker_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(f32::NEG_INFINITY),
        Just(0.0f32),
        Just(100.0f32),
        -1000.0f32..1000.0,
    ]
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::MAX),
        (0u64..u64::MAX, 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        (0u64..10_000).prop_map(Duration::from_millis),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Any configuration either builds or is a `ConfigError`; a built
    /// breaker survives calls and time steps without panicking.
    #[test]
    fn no_configuration_panics(
        window in prop_oneof![
            any::<u32>().prop_map(SlidingWindow::count),
            any_duration().prop_map(SlidingWindow::time),
            any::<u32>().prop_map(SlidingWindow::consecutive_failures),
        ],
        minimum in any::<u32>(),
        failure in any_f32(),
        slow_rate in any_f32(),
        slow in proptest::option::of(any_duration()),
        wait in any_duration(),
        multiplier in prop_oneof![Just(f64::NAN), Just(f64::INFINITY), -10.0f64..1e6],
        backoff in any::<bool>(),
        permitted in any::<u32>(),
        max_wait in any_duration(),
        steps in proptest::collection::vec((any::<bool>(), any_duration()), 0..20),
    ) {
        let clock = ManualClock::new();
        let mut b = CircuitBreaker::builder("fuzz")
            .sliding_window(window)
            .minimum_number_of_calls(minimum)
            .failure_rate_threshold(failure)
            .slow_call_rate_threshold(slow_rate)
            .wait_duration_in_open_state(wait)
            .permitted_number_of_calls_in_half_open_state(permitted)
            .max_wait_duration_in_half_open_state(max_wait)
            .clock(clock.clone());
        if let Some(d) = slow {
            b = b.slow_call_duration_threshold(d);
        }
        if backoff {
            b = b.wait_duration_in_open_state_backoff(WaitDuration::Exponential {
                initial: wait,
                multiplier,
                max: max_wait,
            });
        }
        match b.build() {
            Err(e) => prop_assert!(!e.field().is_empty()),
            Ok(b) => {
                for (fail, step) in steps {
                    if let Ok(p) = b.try_acquire() {
                        clock.advance(step.min(Duration::from_secs(86_400)));
                        p.record(if fail { Outcome::Failure } else { Outcome::Success });
                    }
                    clock.advance(step);
                    let _ = b.metrics();
                }
            }
        }
    }
}
