//! Backoff policies and jitter, as defined in the AWS architecture blog
//! "Exponential Backoff And Jitter": the delay before retry `n` (1-based) is
//!
//! ```text
//! constant:     d(n) = d
//! linear:       d(n) = min(max, initial·n)
//! exponential:  d(n) = min(max, initial·multiplierⁿ⁻¹)
//! ```
//!
//! and jitter spreads it: none `d`; full `U(0, d)`; equal `d/2 + U(0, d/2)`;
//! decorrelated `min(max, U(initial, 3·prev))` with `prev` the previous delay
//! (starting at `initial`). Draws come from a seedable generator, so a test
//! can pin the exact sequence.

use crate::error::ConfigError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How the delay grows from one retry to the next.
///
/// ```
/// use seawall::prelude::*;
///
/// let exponential = Backoff::Exponential {
///     initial: Duration::from_millis(100),
///     multiplier: 2.0,
///     max: Duration::from_secs(1),
/// };
/// assert_eq!(exponential.delay(1), Duration::from_millis(100));
/// assert_eq!(exponential.delay(3), Duration::from_millis(400));
/// assert_eq!(exponential.delay(10), Duration::from_secs(1));
/// let linear = Backoff::Linear { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
/// assert_eq!(linear.delay(3), Duration::from_millis(300));
/// ```
#[derive(Clone)]
pub enum Backoff {
    /// The same delay every time.
    Constant(Duration),
    /// `initial·n`, at most `max`.
    Linear {
        /// The first delay.
        initial: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// `initial·multiplierⁿ⁻¹`, at most `max` (the names resilience4j
    /// and the circuit breaker's `WaitDuration::Exponential` use).
    Exponential {
        /// The first delay.
        initial: Duration,
        /// Growth per retry, at least 1.
        multiplier: f64,
        /// The longest delay.
        max: Duration,
    },
    /// A user's function of the retry number (1-based).
    Custom(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backoff::Constant(d) => f.debug_tuple("Constant").field(d).finish(),
            Backoff::Linear { initial, max } => f
                .debug_struct("Linear")
                .field("initial", initial)
                .field("max", max)
                .finish(),
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => f
                .debug_struct("Exponential")
                .field("initial", initial)
                .field("multiplier", multiplier)
                .field("max", max)
                .finish(),
            Backoff::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// How the delay is randomised.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let retry = Retry::builder("inventory")
///     .backoff(Backoff::Constant(Duration::from_millis(100)))
///     .jitter(Jitter::Full)        // each delay uniform in [0, 100 ms]
///     .build()?;
/// let backoff = Backoff::Constant(Duration::from_millis(100));
/// assert!(backoff.delays(Jitter::Full, 7).take(10).all(|d| d <= Duration::from_millis(100)));
/// # let _ = retry; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// The delay as computed.
    None,
    /// Uniform in `[0, d]`.
    Full,
    /// Uniform in `[d/2, d]`.
    Equal,
    /// Uniform in `[initial, 3·previous]`, at most `max` (for `Custom`
    /// backoff the first delay is the initial one and there is no maximum).
    Decorrelated,
    /// Uniform in `[d·(1 - f), d·(1 + f)]` for a randomization factor `f`
    /// in `[0, 1]`: resilience4j's and tower-resilience's
    /// `randomizationFactor` (resilience4j's default is 0.5). Not capped:
    /// a delay at the maximum may exceed it by up to `f`. A builder refuses `f`
    /// outside `[0, 1]` (`ConfigError` on `jitter`); a value built by hand
    /// is clamped into it.
    Randomized(f64),
}

impl Jitter {
    /// Checks the randomization factor; `instance` names the retry.
    pub fn validate(&self, instance: &str) -> Result<(), ConfigError> {
        match *self {
            Jitter::Randomized(f) if !(0.0..=1.0).contains(&f) => Err(ConfigError::new(
                &Arc::from(instance),
                "jitter",
                format!("randomization factor must be in [0, 1], got {f}"),
            )),
            _ => Ok(()),
        }
    }
}

impl Backoff {
    /// The delay before retry `n` (1-based: 1 is the first retry; 0 has no
    /// meaning and gives the first retry's delay, as 1 does), before jitter.
    ///
    /// Never panics, whatever the values: an exponential `multiplier` that
    /// [`validate`](Self::validate) refuses (below 1, NaN, infinite) is read
    /// as 1, giving `initial` every time; a `max` below `initial` gives `max`.
    pub fn delay(&self, n: u32) -> Duration {
        let n = n.max(1);
        match self {
            Backoff::Constant(d) => *d,
            Backoff::Linear { initial, max } => initial.saturating_mul(n).min(*max),
            Backoff::Exponential {
                initial,
                multiplier,
                max,
            } => crate::growth::exponential(*initial, *multiplier, n, *max),
            Backoff::Custom(f) => f(n),
        }
    }

    fn initial_and_max(&self) -> (Duration, Duration) {
        match self {
            Backoff::Constant(d) => (*d, *d),
            Backoff::Linear { initial, max } | Backoff::Exponential { initial, max, .. } => {
                (*initial, *max)
            }
            Backoff::Custom(f) => (f(1), Duration::MAX),
        }
    }

    /// Checks the parameters (multiplier ≥ 1, max ≥ initial); `instance` names the
    /// retry in the error.
    pub fn validate(&self, instance: &str) -> Result<(), ConfigError> {
        let instance: Arc<str> = Arc::from(instance);
        let err = |field, m: String| Err(ConfigError::new(&instance, field, m));
        match self {
            Backoff::Linear { initial, max } | Backoff::Exponential { initial, max, .. }
                if max < initial =>
            {
                err(
                    "backoff.max",
                    format!("must be >= initial ({initial:?}), got {max:?}"),
                )
            }
            Backoff::Exponential { multiplier, .. }
                if !(multiplier.is_finite() && *multiplier >= 1.0) =>
            {
                err(
                    "backoff.multiplier",
                    format!("must be finite and >= 1, got {multiplier}"),
                )
            }
            _ => Ok(()),
        }
    }

    /// The delays before retries 1, 2, 3, ... with `jitter`, drawing from a
    /// generator seeded with `seed`.
    pub fn delays(&self, jitter: Jitter, seed: u64) -> Delays {
        let (base, cap) = self.initial_and_max();
        Delays {
            backoff: self.clone(),
            jitter,
            rng: SplitMix64(seed),
            n: 0,
            prev: base,
            base,
            cap,
        }
    }
}

/// The sequence of delays of a [`Backoff`] with jitter; endless.
///
/// ```
/// use seawall::prelude::*;
///
/// let backoff = Backoff::Exponential {
///     initial: Duration::from_millis(10),
///     multiplier: 2.0,
///     max: Duration::from_millis(50),
/// };
/// let delays: Vec<Duration> = backoff.delays(Jitter::None, 0).take(4).collect();
/// assert_eq!(delays, [10, 20, 40, 50].map(Duration::from_millis));
/// ```
#[derive(Debug, Clone)]
pub struct Delays {
    backoff: Backoff,
    jitter: Jitter,
    rng: SplitMix64,
    n: u32,
    prev: Duration,
    base: Duration,
    cap: Duration,
}

impl Iterator for Delays {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.n = self.n.saturating_add(1);
        let d = self.backoff.delay(self.n);
        let delay = match self.jitter {
            Jitter::None => d,
            Jitter::Full => self.rng.between(Duration::ZERO, d),
            Jitter::Equal => self.rng.between(d / 2, d),
            Jitter::Decorrelated => {
                let hi = self.prev.saturating_mul(3).max(self.base);
                self.rng.between(self.base, hi).min(self.cap)
            }
            Jitter::Randomized(f) => {
                // NaN and out-of-range factors clamp into [0, 1].
                let f = if f.is_nan() { 0.0 } else { f.clamp(0.0, 1.0) };
                // Via `try_`: at `Duration::MAX` the product rounds past it.
                let spread = Duration::try_from_secs_f64(d.as_secs_f64() * f)
                    .unwrap_or(d)
                    .min(d);
                self.rng.between(d - spread, d.saturating_add(spread))
            }
        };
        self.prev = delay;
        Some(delay)
    }
}

/// SplitMix64: small, fast, seedable, and good enough for spreading
/// retries (not for anything secret).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi]` at nanosecond resolution.
    pub(crate) fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        if hi <= lo {
            return lo;
        }
        let span = crate::clock::nanos(hi - lo);
        let r = (u128::from(self.next_u64()) * (u128::from(span) + 1)) >> 64;
        lo + Duration::from_nanos(r as u64)
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn exact_sequences_without_jitter() {
        let take = |b: Backoff| b.delays(Jitter::None, 0).take(6).collect::<Vec<_>>();
        assert_eq!(take(Backoff::Constant(5 * MS)), vec![5 * MS; 6]);
        assert_eq!(
            take(Backoff::Linear {
                initial: 10 * MS,
                max: 35 * MS
            }),
            vec![10 * MS, 20 * MS, 30 * MS, 35 * MS, 35 * MS, 35 * MS]
        );
        assert_eq!(
            take(Backoff::Exponential {
                initial: 10 * MS,
                multiplier: 2.0,
                max: 100 * MS
            }),
            vec![10 * MS, 20 * MS, 40 * MS, 80 * MS, 100 * MS, 100 * MS]
        );
        assert_eq!(
            take(Backoff::Custom(Arc::new(|n| MS * n * n))),
            vec![MS, 4 * MS, 9 * MS, 16 * MS, 25 * MS, 36 * MS]
        );
    }

    #[test]
    fn exponential_delays_stay_within_base_and_cap_however_long() {
        // Found by `cargo fuzz run retry_config`: a base past f64's
        // nanosecond precision came back rounded below itself.
        let base = Duration::from_secs(5_283_475_648_931_677_380);
        let cap = Duration::from_secs(7_089_336_938_131_513_954);
        let b = Backoff::Exponential {
            initial: base,
            multiplier: 1.0,
            max: cap,
        };
        assert_eq!(b.delay(1), base);
        assert!((1..40).all(|n| (base..=cap).contains(&b.delay(n))));
    }

    #[test]
    fn a_seed_pins_the_exact_jittered_sequence() {
        let b = Backoff::Exponential {
            initial: 10 * MS,
            multiplier: 2.0,
            max: Duration::from_secs(1),
        };
        let first: Vec<_> = b.delays(Jitter::Full, 42).take(8).collect();
        let again: Vec<_> = b.delays(Jitter::Full, 42).take(8).collect();
        let other: Vec<_> = b.delays(Jitter::Full, 43).take(8).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        // Golden values from an independent SplitMix64 (seed 42): the
        // sequence is exactly reproducible across versions and platforms.
        let golden =
            [7_415_649, 3_198_208, 11_144_045, 27_535_257, 6_084_827].map(Duration::from_nanos);
        assert_eq!(first[..5], golden);
    }

    fn mean(v: &[Duration]) -> f64 {
        v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn jitter_bounds_and_means_over_ten_thousand_draws() {
        let d = 100 * MS;
        let b = Backoff::Constant(d);
        let full: Vec<_> = b.delays(Jitter::Full, 1).take(10_000).collect();
        assert!(full.iter().all(|x| *x <= d));
        assert!(
            (mean(&full) - 0.050).abs() < 0.002,
            "full jitter mean {}",
            mean(&full)
        );
        let equal: Vec<_> = b.delays(Jitter::Equal, 2).take(10_000).collect();
        assert!(equal.iter().all(|x| *x >= d / 2 && *x <= d));
        assert!(
            (mean(&equal) - 0.075).abs() < 0.002,
            "equal jitter mean {}",
            mean(&equal)
        );

        let (base, cap) = (10 * MS, Duration::from_secs(2));
        let b = Backoff::Exponential {
            initial: base,
            multiplier: 2.0,
            max: cap,
        };
        let mut prev = base;
        for x in b.delays(Jitter::Decorrelated, 3).take(10_000) {
            assert!(x >= base && x <= cap.min(prev * 3), "{x:?} after {prev:?}");
            prev = x;
        }
    }

    #[test]
    fn values_the_builders_refuse_still_give_a_delay_without_panicking() {
        let cap = Duration::from_secs(1);
        for factor in [-2.0, 0.5, 0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let b = Backoff::Exponential {
                initial: MS,
                multiplier: factor,
                max: cap,
            };
            for n in [0, 1, 2, 3, u32::MAX] {
                assert_eq!(b.delay(n), MS, "factor {factor}, n {n}");
            }
            for jitter in [
                Jitter::None,
                Jitter::Full,
                Jitter::Equal,
                Jitter::Decorrelated,
            ] {
                assert!(b.delays(jitter, 7).take(50).all(|d| d <= cap));
            }
        }
        // A cap below the base caps.
        let inverted = Backoff::Exponential {
            initial: Duration::from_secs(2),
            multiplier: 2.0,
            max: cap,
        };
        assert_eq!(inverted.delay(3), cap);
        assert!(inverted
            .delays(Jitter::Decorrelated, 1)
            .take(50)
            .all(|d| d <= Duration::from_secs(2)));
    }

    /// resilience4j's randomized interval: `d · U[1 - f, 1 + f]`, with its
    /// documented default factor of 0.5 (a 100 ms delay lands in [50, 150]
    /// ms, mean 100 ms).
    #[test]
    fn a_randomization_factor_spreads_each_delay_around_it() {
        let d = 100 * MS;
        let b = Backoff::Constant(d);
        let draws: Vec<_> = b.delays(Jitter::Randomized(0.5), 11).take(10_000).collect();
        assert!(draws.iter().all(|x| *x >= 50 * MS && *x <= 150 * MS));
        let mean = draws.iter().sum::<Duration>() / 10_000;
        assert!(mean > 98 * MS && mean < 102 * MS, "mean {mean:?}");
        assert!(draws.iter().any(|x| *x < 60 * MS) && draws.iter().any(|x| *x > 140 * MS));
        // f = 0 is no jitter; factors out of [0, 1] built by hand clamp.
        assert!(b
            .delays(Jitter::Randomized(0.0), 1)
            .take(100)
            .all(|x| x == d));
        assert!(b
            .delays(Jitter::Randomized(7.0), 1)
            .take(100)
            .all(|x| x <= 2 * d));
        let huge = Backoff::Constant(Duration::MAX);
        assert!(huge.delays(Jitter::Randomized(1.0), 1).take(10).count() == 10);
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = Jitter::Randomized(bad).validate("r").unwrap_err();
            assert_eq!(err.field(), "jitter");
        }
        assert!(Jitter::Randomized(1.0).validate("r").is_ok());
    }

    #[test]
    fn invalid_parameters_are_config_errors() {
        let name = "r";
        let bad = [
            Backoff::Exponential {
                initial: MS,
                multiplier: 0.5,
                max: Duration::from_secs(1),
            },
            Backoff::Exponential {
                initial: MS,
                multiplier: f64::NAN,
                max: Duration::from_secs(1),
            },
            Backoff::Exponential {
                initial: Duration::from_secs(2),
                multiplier: 2.0,
                max: Duration::from_secs(1),
            },
            Backoff::Linear {
                initial: Duration::from_secs(2),
                max: Duration::from_secs(1),
            },
        ];
        for b in bad {
            assert!(b
                .validate(name)
                .unwrap_err()
                .field()
                .starts_with("backoff."));
        }
        assert!(Backoff::Constant(MS).validate(name).is_ok());
    }
}
