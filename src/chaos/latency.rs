//! How long an injected delay lasts: fixed, uniform, or heavy-tailed.

use crate::error::ConfigError;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, LogNormal, Pareto};
use std::sync::Arc;
use std::time::Duration;

/// The delays a [`Chaos`](super::Chaos) injects before calls.
///
/// Heavy tails are what real latency looks like: most calls a little slow,
/// a few very slow. The heavy-tailed kinds are capped at their `max`, so
/// a draw from far in the tail cannot stall a test for hours.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let heavy_tail = Latency::LogNormal {
///     median: Duration::from_millis(50),
///     sigma: 1.0,
///     max: Duration::from_secs(5),
/// };
/// let chaos = Chaos::builder("inventory").latency(0.2, heavy_tail).build()?;
/// # let _ = chaos; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this long.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// The shortest delay.
        min: Duration,
        /// The longest delay.
        max: Duration,
    },
    /// Log-normal: half the delays are below `median`; `sigma` (the
    /// standard deviation of the delay's logarithm) sets the tail — 0.5 is
    /// mild, 1.5 spiky (p99 ≈ `median · e^(2.33·sigma)`, so 33× the
    /// median). Capped at `max`.
    LogNormal {
        /// The median delay.
        median: Duration,
        /// The spread of the logarithm; above 0.
        sigma: f64,
        /// No delay is longer.
        max: Duration,
    },
    /// Pareto: never below `min`, and the chance of a delay above `x` is
    /// `(min / x)^shape` — shape 1.5 makes one delay in 100 at least 21×
    /// `min`. Capped at `max`.
    Pareto {
        /// The shortest delay (the scale).
        min: Duration,
        /// The tail index; above 0 (smaller: heavier).
        shape: f64,
        /// No delay is longer.
        max: Duration,
    },
}

impl Latency {
    /// Checks the parameters, naming the field in error.
    pub(crate) fn validate(&self, name: &Arc<str>) -> Result<(), ConfigError> {
        let bad = |field, msg: String| Err(ConfigError::new(name, field, msg));
        match *self {
            Latency::Fixed(_) => Ok(()),
            Latency::Uniform { min, max } if min > max => bad(
                "latency",
                format!("uniform range is inverted: min {min:?} > max {max:?}"),
            ),
            Latency::LogNormal { sigma, .. } if !(sigma.is_finite() && sigma > 0.0) => bad(
                "latency",
                format!("log-normal sigma must be above 0, got {sigma}"),
            ),
            Latency::LogNormal { median, max, .. } if median.is_zero() || median > max => bad(
                "latency",
                format!("log-normal median must be in (0, max], got {median:?} (max {max:?})"),
            ),
            Latency::Pareto { shape, .. } if !(shape.is_finite() && shape > 0.0) => bad(
                "latency",
                format!("Pareto shape must be above 0, got {shape}"),
            ),
            Latency::Pareto { min, max, .. } if min.is_zero() || min > max => bad(
                "latency",
                format!("Pareto min must be in (0, max], got {min:?} (max {max:?})"),
            ),
            _ => Ok(()),
        }
    }

    /// A delay, drawn with a generator seeded from `seed` (one per draw, so
    /// a seeded `Chaos` repeats its delays exactly).
    pub fn sample(&self, seed: u64) -> Duration {
        let mut rng = SmallRng::seed_from_u64(seed);
        let secs = |d: Duration| d.as_secs_f64();
        // Past what a `Duration` holds (a far-tail draw): the cap.
        let capped =
            |s: f64, max: Duration| Duration::try_from_secs_f64(s).map_or(max, |d| d.min(max));
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => {
                let span = max.saturating_sub(min).as_nanos().min(u128::from(u64::MAX)) as u64;
                let offset = if span == 0 {
                    0
                } else {
                    rand::Rng::random_range(&mut rng, 0..=span)
                };
                min + Duration::from_nanos(offset)
            }
            Latency::LogNormal { median, sigma, max } => {
                // Validated: median > 0, sigma > 0.
                match LogNormal::new(secs(median).ln(), sigma) {
                    Ok(d) => capped(d.sample(&mut rng), max),
                    Err(_) => median,
                }
            }
            Latency::Pareto { min, shape, max } => match Pareto::new(secs(min), shape) {
                Ok(d) => capped(d.sample(&mut rng), max),
                Err(_) => min,
            },
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    fn quantile(l: Latency, q: f64) -> Duration {
        let mut v: Vec<_> = (0..20_000).map(|i| l.sample(i)).collect();
        v.sort();
        v[(q * v.len() as f64) as usize]
    }

    #[test]
    fn tails_have_their_documented_shape() {
        let ms = Duration::from_millis;
        let log = Latency::LogNormal {
            median: ms(10),
            sigma: 1.0,
            max: Duration::from_secs(60),
        };
        let median = quantile(log, 0.5).as_secs_f64();
        assert!((0.0093..0.0107).contains(&median), "{median}");
        // p99 ≈ median · e^2.326 ≈ 102 ms.
        let p99 = quantile(log, 0.99).as_secs_f64();
        assert!((0.085..0.12).contains(&p99), "{p99}");
        let pareto = Latency::Pareto {
            min: ms(10),
            shape: 1.5,
            max: Duration::from_secs(60),
        };
        assert!(quantile(pareto, 0.0) >= ms(10));
        // P(X > x) = (min/x)^1.5 = 0.01 at x = 10 ms · 100^(2/3) ≈ 215 ms.
        let p99 = quantile(pareto, 0.99).as_secs_f64();
        assert!((0.17..0.27).contains(&p99), "{p99}");
        let uniform = Latency::Uniform {
            min: ms(5),
            max: ms(7),
        };
        assert!((0..1000)
            .map(|i| uniform.sample(i))
            .all(|d| (ms(5)..=ms(7)).contains(&d)));
        // Capped, and the same seed gives the same delay.
        let spiky = Latency::Pareto {
            min: ms(10),
            shape: 0.1,
            max: ms(50),
        };
        assert!((0..1000).map(|i| spiky.sample(i)).all(|d| d <= ms(50)));
        assert_eq!(log.sample(42), log.sample(42));
    }

    #[test]
    fn bad_parameters_are_config_errors() {
        let name: Arc<str> = Arc::from("c");
        let ms = Duration::from_millis;
        for bad in [
            Latency::Uniform {
                min: ms(2),
                max: ms(1),
            },
            Latency::LogNormal {
                median: ms(1),
                sigma: 0.0,
                max: ms(9),
            },
            Latency::LogNormal {
                median: ms(1),
                sigma: f64::NAN,
                max: ms(9),
            },
            Latency::LogNormal {
                median: ms(10),
                sigma: 1.0,
                max: ms(9),
            },
            Latency::Pareto {
                min: ms(0),
                shape: 1.0,
                max: ms(9),
            },
            Latency::Pareto {
                min: ms(1),
                shape: -1.0,
                max: ms(9),
            },
        ] {
            assert_eq!(
                bad.validate(&name).unwrap_err().field(),
                "latency",
                "{bad:?}"
            );
        }
    }
}
