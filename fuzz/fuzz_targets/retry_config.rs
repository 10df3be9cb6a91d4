//! Retry configuration over its whole range: building gives a retry or a
//! `ConfigError` naming a field, never a panic; every backoff's delays
//! keep to their documented bounds under each jitter; a retry budget
//! never allows more retries than its floor, its ratio of the requests
//! deposited and its per-second floor credit add up to, nor holds more
//! than its maximum balance.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use seawall::clock::ManualClock;
use seawall::retry::{Backoff, Jitter, Retry, RetryBudget};
use seawall_fuzz::{check_config_error, Span};
use std::time::Duration;

#[derive(Debug, Arbitrary)]
enum BackoffInput {
    Constant(Span),
    Linear { base: Span, cap: Span },
    Exponential { base: Span, factor: f64, cap: Span },
}

#[derive(Debug, Arbitrary)]
enum BudgetOp {
    Deposit(u8),
    Withdraw,
    Advance(u32),
    Leap(Span),
}

#[derive(Debug, Arbitrary)]
struct Input {
    backoff: BackoffInput,
    jitter: u8,
    seed: u64,
    max_attempts: Option<u32>,
    deadline: Option<Span>,
    max_retry_after: Option<Span>,
    budget: Option<(f64, u32, u32)>,
    no_budget: bool,
    retry_stop_signals: bool,
    draws: u8,
    budget_ops: Vec<BudgetOp>,
}

fuzz_target!(|input: Input| {
    let backoff = match input.backoff {
        BackoffInput::Constant(d) => Backoff::Constant(d.get()),
        BackoffInput::Linear { base, cap } => Backoff::Linear {
            initial: base.get(),
            max: cap.get(),
        },
        BackoffInput::Exponential { base, factor, cap } => Backoff::Exponential {
            initial: base.get(),
            multiplier: factor,
            max: cap.get(),
        },
    };
    let jitter = [
        Jitter::None,
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        // A factor in [0, 1] from the same byte.
        Jitter::Randomized(f64::from(input.jitter) / 255.0),
    ][usize::from(input.jitter % 5)];

    // The whole builder: a retry or an error naming its field.
    let mut b = Retry::builder("fuzz")
        .backoff(backoff.clone())
        .jitter(jitter)
        .seed(input.seed)
        .retry_stop_signals(input.retry_stop_signals);
    if let Some(n) = input.max_attempts {
        b = b.max_attempts(n);
    }
    if let Some(d) = &input.deadline {
        b = b.deadline(d.get());
    }
    if let Some(d) = &input.max_retry_after {
        b = b.max_retry_after(d.get());
    }
    let clock = ManualClock::new();
    let budget = input.budget.map(|(ratio, floor, max)| {
        (
            ratio,
            floor,
            max,
            RetryBudget::with_clock(ratio, floor, max, clock.clone()),
        )
    });
    match &budget {
        Some((_, _, _, Ok(budget))) => b = b.budget(budget.clone()),
        Some((_, _, _, Err(e))) => check_config_error(e, "retry budget"),
        None => {}
    }
    if input.no_budget {
        b = b.no_budget();
    }
    if let Err(e) = b.build() {
        check_config_error(&e, "fuzz");
    }

    // Delays: within the backoff's bounds, whatever the jitter.
    if backoff.validate("fuzz").is_ok() {
        let (base, cap) = match &backoff {
            Backoff::Constant(d) => (*d, *d),
            Backoff::Linear { initial: base, max: cap } | Backoff::Exponential { initial: base, max: cap, .. } => (*base, *cap),
            Backoff::Custom(_) => unreachable!(),
        };
        let mut prev = base;
        for (i, delay) in backoff
            .delays(jitter, input.seed)
            .take(usize::from(input.draws % 32))
            .enumerate()
        {
            let n = i as u32 + 1;
            let d = backoff.delay(n);
            assert!(
                d <= cap && d >= base.min(cap),
                "retry {n}: {d:?} outside [{base:?}, {cap:?}]"
            );
            assert!(backoff.delay(n + 1) >= d, "backoff shrank after retry {n}");
            let (lo, hi) = match jitter {
                Jitter::None => (d, d),
                Jitter::Full => (Duration::ZERO, d),
                Jitter::Equal => (d / 2, d),
                Jitter::Decorrelated => (base, prev.saturating_mul(3).max(base).min(cap)),
                // d·(1 ∓ f), not capped; a nanosecond either way for the
                // rounding of d·f.
                Jitter::Randomized(f) => {
                    let spread = Duration::try_from_secs_f64(d.as_secs_f64() * f)
                        .unwrap_or(d)
                        .min(d);
                    (
                        (d - spread).saturating_sub(Duration::from_nanos(1)),
                        d.saturating_add(spread).saturating_add(Duration::from_nanos(1)),
                    )
                }
            };
            assert!(
                lo <= delay && delay <= hi,
                "{jitter:?} retry {n}: {delay:?} outside [{lo:?}, {hi:?}]"
            );
            prev = delay;
        }
    }

    // The budget's arithmetic, in thousandths of a retry as documented:
    // each deposit credits round(ratio·1000), each whole second the floor.
    if let Some((ratio, floor, max, Ok(budget))) = budget {
        let per_deposit = (ratio * 1000.0).round() as u128;
        let start = u128::from(floor.min(max)) * 1000;
        let (mut deposits, mut withdrawn) = (0u128, 0u128);
        for op in input.budget_ops {
            match op {
                BudgetOp::Deposit(n) => {
                    for _ in 0..n {
                        budget.deposit();
                    }
                    deposits += u128::from(n);
                }
                BudgetOp::Withdraw => withdrawn += u128::from(budget.try_withdraw()),
                BudgetOp::Advance(ns) => clock.advance(Duration::from_nanos(ns.into())),
                BudgetOp::Leap(d) => clock.advance(d.get()),
            }
            let secs = u128::from(clock.elapsed().as_secs());
            let credit = start + deposits * per_deposit + secs * u128::from(floor) * 1000;
            assert!(
                withdrawn * 1000 <= credit,
                "{withdrawn} retries from {credit} thousandths"
            );
            assert!(budget.balance() <= u64::from(max), "balance over {max}");
        }
    }
});
