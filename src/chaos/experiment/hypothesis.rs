//! The steady-state hypothesis: bounds on what callers saw, and the
//! service-level indicators they are checked against.

use crate::error::ConfigError;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// What callers saw during one stretch of an experiment: the SLIs a
/// [`Hypothesis`] bounds.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// let stats = &report.stretches[0].stats;
/// assert_eq!(stats.requests, stats.successes);
/// assert_eq!(stats.availability(), 100.0);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stats {
    /// Requests made.
    pub requests: u64,
    /// Requests the judge counted as served.
    pub successes: u64,
    /// Latencies, in ascending order (every request, served or not).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub latencies: Vec<Duration>,
    /// Requests not served, by why: a seawall rejection kind
    /// (`CircuitOpen`, `Injected`, ...), `response` (an answer the judge
    /// refused, e.g. an HTTP 503), `error` (any other error) or
    /// `unfinished` (still running when the stretch was judged).
    pub errors: BTreeMap<String, u64>,
}

impl Stats {
    /// Served requests, in percent (100 when there were none).
    pub fn availability(&self) -> f64 {
        if self.requests == 0 {
            100.0
        } else {
            self.successes as f64 * 100.0 / self.requests as f64
        }
    }

    /// The `q` quantile of latency (nearest rank; zero without requests).
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }

    /// Requests not served for `why` (see [`errors`](Self::errors)).
    pub fn errors(&self, why: &str) -> u64 {
        self.errors.get(why).copied().unwrap_or(0)
    }
}

type CustomCheck = Arc<dyn Fn(&Stats) -> bool + Send + Sync>;

/// One bound of a hypothesis.
#[derive(Clone)]
enum Bound {
    Availability(f64),
    Latency(f64, Duration),
    MaxErrors(String, u64),
    Custom(String, CustomCheck),
}

/// What "still fine" means, as bounds on what callers see — checked before
/// the faults (the system must be steady to begin with), during every
/// phase, and after recovery. Chaos Toolkit's steady-state hypothesis, in
/// SLIs.
///
/// ```
/// use seawall::chaos::experiment::Hypothesis;
/// use std::time::Duration;
///
/// let h = Hypothesis::new()
///     .availability_at_least(99.0)
///     .latency_at_most(0.99, Duration::from_millis(500))
///     .errors_at_most("CircuitOpen", 100)
///     .check("no unfinished calls", |s| s.errors("unfinished") == 0);
/// # let _ = h;
/// ```
#[derive(Clone, Default)]
pub struct Hypothesis {
    bounds: Vec<Bound>,
}

/// One bound checked against one stretch.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// let check = &report.stretches[0].checks[0];  // one per bound of the hypothesis
/// assert!(check.passed);
/// println!("{}: {} (bound {})", check.sli, check.observed, check.bound);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Check {
    /// The indicator: `availability`, `p99`, `errors(CircuitOpen)`, or a
    /// custom check's name.
    pub sli: String,
    /// The bound, as text: `>= 99%`, `<= 500ms`.
    pub bound: String,
    /// What was observed, as text.
    pub observed: String,
    /// Whether the bound held.
    pub passed: bool,
}

impl Hypothesis {
    /// A hypothesis with no bound yet (an experiment refuses it as it is).
    pub fn new() -> Self {
        Self::default()
    }

    /// At least `percent` of requests served.
    pub fn availability_at_least(mut self, percent: f64) -> Self {
        self.bounds.push(Bound::Availability(percent));
        self
    }

    /// The `quantile` (0.99 for p99) of latency at most `max`.
    pub fn latency_at_most(mut self, quantile: f64, max: Duration) -> Self {
        self.bounds.push(Bound::Latency(quantile, max));
        self
    }

    /// At most `n` requests not served for `why` (a rejection kind such as
    /// `CircuitOpen`, or `response`, `error`, `unfinished`).
    pub fn errors_at_most(mut self, why: &str, n: u64) -> Self {
        self.bounds.push(Bound::MaxErrors(why.to_owned(), n));
        self
    }

    /// A check of your own over the stretch's [`Stats`].
    pub fn check(
        mut self,
        name: &str,
        holds: impl Fn(&Stats) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.bounds
            .push(Bound::Custom(name.to_owned(), Arc::new(holds)));
        self
    }

    pub(super) fn validate(&self, name: &Arc<str>) -> Result<(), ConfigError> {
        if self.bounds.is_empty() {
            return Err(ConfigError::new(
                name,
                "hypothesis",
                "states no bound: add availability_at_least, latency_at_most, errors_at_most or check",
            ));
        }
        for b in &self.bounds {
            match *b {
                Bound::Availability(p) if !(0.0..=100.0).contains(&p) => {
                    return Err(ConfigError::new(
                        name,
                        "hypothesis",
                        format!("availability must be a percentage in [0, 100], got {p}"),
                    ))
                }
                Bound::Latency(q, _) if !(q > 0.0 && q <= 1.0) => {
                    return Err(ConfigError::new(
                        name,
                        "hypothesis",
                        format!("a latency quantile must be in (0, 1], got {q}"),
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Every bound checked against `stats`.
    pub fn judge(&self, stats: &Stats) -> Vec<Check> {
        self.bounds
            .iter()
            .map(|b| match b {
                Bound::Availability(min) => {
                    let a = stats.availability();
                    Check {
                        sli: "availability".into(),
                        bound: format!(">= {min}%"),
                        observed: format!("{a:.2}%"),
                        passed: a >= *min,
                    }
                }
                Bound::Latency(q, max) => {
                    let l = stats.latency(*q);
                    Check {
                        sli: quantile_name(*q),
                        bound: format!("<= {max:?}"),
                        observed: format!("{l:?}"),
                        passed: l <= *max,
                    }
                }
                Bound::MaxErrors(why, max) => {
                    let n = stats.errors(why);
                    Check {
                        sli: format!("errors({why})"),
                        bound: format!("<= {max}"),
                        observed: n.to_string(),
                        passed: n <= *max,
                    }
                }
                Bound::Custom(name, holds) => {
                    let passed = holds(stats);
                    Check {
                        sli: name.clone(),
                        bound: "holds".into(),
                        observed: if passed { "holds" } else { "does not hold" }.into(),
                        passed,
                    }
                }
            })
            .collect()
    }
}

/// `p99`, `p50`, `p99.9`.
fn quantile_name(q: f64) -> String {
    let p = q * 100.0;
    if (p - p.round()).abs() < 1e-9 {
        format!("p{}", p.round())
    } else {
        format!("p{p}")
    }
}

impl fmt::Debug for Hypothesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hypothesis")
            .field("bounds", &self.bounds.len())
            .finish()
    }
}
