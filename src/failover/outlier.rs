//! Outlier ejection as Envoy does it (`outlier_detection.proto`): an
//! endpoint that fails where its peers do not is taken out of rotation
//! for a while, longer each time.

use crate::error::ConfigError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// When an endpoint is ejected, and for how long. The defaults are
/// Envoy's (`outlier_detection.proto`):
///
/// | setting | default |
/// |---|---|
/// | `consecutive_failures` | 5 (ejected at once, not at a sweep) |
/// | `consecutive_local_origin_failures` | 5 (with `split_local_origin`) |
/// | `interval` (sweeps) | 10 s |
/// | `base_ejection_time` | 30 s, × the times ejected in a row |
/// | `max_ejection_time` | 300 s |
/// | `max_ejection_percent` | 10 % (but one endpoint may always be ejected) |
/// | `success_rate_stdev_factor` | 1.9 (ejected below mean − 1.9·stdev) |
/// | `success_rate_minimum_hosts` / `_request_volume` | 5 endpoints / 100 calls per interval |
/// | `failure_percentage_threshold` | 85 % |
/// | `failure_percentage_minimum_hosts` / `_request_volume` | 5 endpoints / 50 calls per interval |
/// | `ejection_jitter` | none |
///
/// An endpoint's failures are of two origins: its own answers (a 5xx,
/// by the classifier) and failures made locally on the way to it (a
/// connect error, a timeout: an `Err`). By default both count alike, as in
/// Envoy; with `split_local_origin(true)` local failures have their own
/// consecutive count and stay out of the success rate and failure
/// percentage.
///
/// An endpoint returns when its ejection time is over; each sweep in which
/// it is not ejected takes one off its count of ejections, so one that is
/// bad again at once is ejected for longer (30 s, 60 s, 90 s, ... up to the
/// cap).
///
/// ```
/// use seawall::failover::OutlierDetection;
/// use std::time::Duration;
///
/// // Envoy's defaults, with a shorter first ejection.
/// let outliers = OutlierDetection::new()
///     .consecutive_failures(5)
///     .base_ejection_time(Duration::from_secs(10))
///     .max_ejection_percent(50);
/// # let _ = outliers;
/// ```
#[derive(Debug, Clone)]
pub struct OutlierDetection {
    pub(crate) consecutive_failures: u32,
    pub(crate) consecutive_local_origin_failures: u32,
    pub(crate) split_local_origin: bool,
    pub(crate) interval: Duration,
    pub(crate) base_ejection_time: Duration,
    pub(crate) max_ejection_time: Duration,
    pub(crate) max_ejection_percent: u32,
    pub(crate) success_rate_stdev_factor: f64,
    pub(crate) success_rate_minimum_hosts: usize,
    pub(crate) success_rate_request_volume: u64,
    pub(crate) failure_percentage_threshold: u32,
    pub(crate) failure_percentage_minimum_hosts: usize,
    pub(crate) failure_percentage_request_volume: u64,
    pub(crate) ejection_jitter: Duration,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            consecutive_local_origin_failures: 5,
            split_local_origin: false,
            interval: Duration::from_secs(10),
            base_ejection_time: Duration::from_secs(30),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 10,
            success_rate_stdev_factor: 1.9,
            success_rate_minimum_hosts: 5,
            success_rate_request_volume: 100,
            failure_percentage_threshold: 85,
            failure_percentage_minimum_hosts: 5,
            failure_percentage_request_volume: 50,
            ejection_jitter: Duration::ZERO,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $t:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $t) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

/// Outlier-detection settings one or more running failover sets follow
/// ([`FailoverBuilder::outlier_settings`](super::FailoverBuilder::outlier_settings)):
/// [`reconfigure`](Self::reconfigure) changes them in place, keeping each
/// endpoint's counts and ejections. A cheap `Clone`; read on the failure
/// path only.
///
/// ```
/// use seawall::failover::{OutlierDetection, OutlierSettings};
///
/// let settings = OutlierSettings::new("inventory", OutlierDetection::new())?;
/// settings.reconfigure(|o| o.consecutive_failures(3))?;
/// assert!(settings.reconfigure(|o| o.max_ejection_percent(101)).is_err());
/// # Ok::<(), seawall::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct OutlierSettings {
    name: Arc<str>,
    settings: Arc<arc_swap::ArcSwap<OutlierDetection>>,
}

impl fmt::Debug for OutlierSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OutlierSettings")
            .field(&**self.settings.load())
            .finish()
    }
}

impl OutlierSettings {
    /// `settings`, checked, to share; `name` names them in errors.
    pub fn new(name: &str, settings: OutlierDetection) -> Result<Self, ConfigError> {
        let name: Arc<str> = Arc::from(name);
        settings.validate(&name)?;
        Ok(Self {
            name,
            settings: Arc::new(arc_swap::ArcSwap::from_pointee(settings)),
        })
    }

    /// The settings in force.
    pub fn get(&self) -> OutlierDetection {
        OutlierDetection::clone(&self.settings.load())
    }

    /// Changes the settings: `f` gets those in force. Invalid ones are a
    /// [`ConfigError`] and change nothing. A new `interval` applies from
    /// the next sweep.
    pub fn reconfigure(
        &self,
        f: impl FnOnce(OutlierDetection) -> OutlierDetection,
    ) -> Result<(), ConfigError> {
        let next = f(self.get());
        next.validate(&self.name)?;
        self.put(next);
        Ok(())
    }

    /// Puts checked settings in force; those they replaced.
    pub(crate) fn put(&self, next: OutlierDetection) -> Arc<OutlierDetection> {
        self.settings.swap(Arc::new(next))
    }

    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<OutlierDetection>> {
        self.settings.load()
    }
}

impl OutlierDetection {
    /// Envoy's defaults (see the table).
    pub fn new() -> Self {
        Self::default()
    }

    setters! {
        /// Failures in a row that eject an endpoint at once (0: never).
        consecutive_failures: u32,
        /// Local failures in a row that eject it, with `split_local_origin`.
        consecutive_local_origin_failures: u32,
        /// Counts local failures (connect errors, timeouts) apart from the
        /// endpoint's own answers.
        split_local_origin: bool,
        /// How often the success rate and failure percentage are judged.
        interval: Duration,
        /// An ejection's length, times the ejections in a row.
        base_ejection_time: Duration,
        /// The longest ejection.
        max_ejection_time: Duration,
        /// The most endpoints ejected at once, in percent (at least one may
        /// always be).
        max_ejection_percent: u32,
        /// Ejected below mean − factor × stdev of the peers' success rates.
        success_rate_stdev_factor: f64,
        /// Endpoints with enough calls needed to judge success rates.
        success_rate_minimum_hosts: usize,
        /// Calls an endpoint needs in an interval to be judged by them.
        success_rate_request_volume: u64,
        /// Ejected at or above this failure percentage.
        failure_percentage_threshold: u32,
        /// Endpoints with enough calls needed to judge failure percentages.
        failure_percentage_minimum_hosts: usize,
        /// Calls an endpoint needs in an interval to be judged by them.
        failure_percentage_request_volume: u64,
        /// Up to this much is added to each ejection, at random.
        ejection_jitter: Duration,
    }

    pub(crate) fn validate(&self, name: &Arc<str>) -> Result<(), ConfigError> {
        let bad = |field: &'static str, why: String| Err(ConfigError::new(name, field, why));
        if self.max_ejection_percent > 100 {
            return bad(
                "max_ejection_percent",
                format!("must be at most 100, got {}", self.max_ejection_percent),
            );
        }
        if self.failure_percentage_threshold > 100 {
            return bad(
                "failure_percentage_threshold",
                format!(
                    "must be at most 100, got {}",
                    self.failure_percentage_threshold
                ),
            );
        }
        if self.interval.is_zero() {
            return bad("interval", "must be longer than 0".into());
        }
        if self.base_ejection_time.is_zero() {
            return bad("base_ejection_time", "must be longer than 0".into());
        }
        if self.max_ejection_time < self.base_ejection_time {
            return bad(
                "max_ejection_time",
                format!(
                    "must be at least base_ejection_time ({:?}), got {:?}",
                    self.base_ejection_time, self.max_ejection_time
                ),
            );
        }
        if !(self.success_rate_stdev_factor.is_finite() && self.success_rate_stdev_factor >= 0.0) {
            return bad(
                "success_rate_stdev_factor",
                format!(
                    "must be a number at least 0, got {}",
                    self.success_rate_stdev_factor
                ),
            );
        }
        Ok(())
    }

    /// How many endpoints of `n` may be ejected at once.
    pub(crate) fn max_ejected(&self, n: usize) -> usize {
        (n * self.max_ejection_percent as usize / 100).max(1)
    }

    /// The ejection time for an endpoint ejected `times` times in a row.
    pub(crate) fn ejection_time(&self, times: u32, jitter: u64) -> Duration {
        let base = self.base_ejection_time.saturating_mul(times.max(1));
        let jitter = if self.ejection_jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(jitter % crate::clock::nanos(self.ejection_jitter).max(1))
        };
        base.min(self.max_ejection_time) + jitter
    }
}

/// One endpoint's counts over an interval, as a sweep reads them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct IntervalCounts {
    pub(crate) successes: u64,
    pub(crate) failures: u64,
}

impl IntervalCounts {
    fn total(&self) -> u64 {
        self.successes + self.failures
    }
}

/// Which endpoints a sweep ejects: by success rate (below mean − factor ×
/// stdev of those with enough calls, when enough have), then by failure
/// percentage (at or above the threshold, likewise); `ejected` says which
/// are out already (they are not judged).
pub(crate) fn sweep(
    config: &OutlierDetection,
    counts: &[IntervalCounts],
    ejected: &[bool],
) -> Vec<usize> {
    let mut out = Vec::new();
    let rate = |c: &IntervalCounts| 100.0 * c.successes as f64 / c.total() as f64;
    let judged: Vec<usize> = (0..counts.len())
        .filter(|&i| !ejected[i] && counts[i].total() >= config.success_rate_request_volume)
        .collect();
    if judged.len() >= config.success_rate_minimum_hosts && !judged.is_empty() {
        let rates: Vec<f64> = judged.iter().map(|&i| rate(&counts[i])).collect();
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        let var = rates.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / rates.len() as f64;
        let floor = mean - config.success_rate_stdev_factor * var.sqrt();
        out.extend(
            judged
                .iter()
                .zip(&rates)
                .filter(|(_, r)| **r < floor)
                .map(|(i, _)| *i),
        );
    }
    let judged: Vec<usize> = (0..counts.len())
        .filter(|&i| !ejected[i] && counts[i].total() >= config.failure_percentage_request_volume)
        .collect();
    if judged.len() >= config.failure_percentage_minimum_hosts {
        for i in judged {
            let failed = 100.0 - rate(&counts[i]);
            if failed >= config.failure_percentage_threshold as f64 && !out.contains(&i) {
                out.push(i);
            }
        }
    }
    out
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    fn counts(rates: &[(u64, u64)]) -> Vec<IntervalCounts> {
        rates
            .iter()
            .map(|&(successes, failures)| IntervalCounts {
                successes,
                failures,
            })
            .collect()
    }

    #[test]
    fn success_rate_ejects_below_mean_minus_1_9_stdev() {
        let c = OutlierDetection::new();
        // Five endpoints, one at 60% where the others are at 100%.
        let five = counts(&[(100, 0), (100, 0), (100, 0), (100, 0), (60, 40)]);
        assert_eq!(sweep(&c, &five, &[false; 5]), vec![4]);
        // Too few calls in the interval: not judged.
        let thin = counts(&[(99, 0), (99, 0), (99, 0), (99, 0), (59, 40)]);
        assert_eq!(sweep(&c, &thin, &[false; 5]), Vec::<usize>::new());
        // Too few endpoints: not judged by either rule.
        let four = counts(&[(100, 0), (100, 0), (100, 0), (10, 90)]);
        assert_eq!(sweep(&c, &four, &[false; 4]), Vec::<usize>::new());
    }

    #[test]
    fn failure_percentage_ejects_at_85_percent() {
        let c = OutlierDetection::new()
            .success_rate_minimum_hosts(100) // success rate off
            .failure_percentage_minimum_hosts(3);
        let three = counts(&[(50, 0), (7, 43), (8, 42)]);
        assert_eq!(sweep(&c, &three, &[false; 3]), vec![1]);
    }

    #[test]
    fn ejections_grow_and_cap() {
        let c = OutlierDetection::new();
        assert_eq!(c.ejection_time(1, 0), Duration::from_secs(30));
        assert_eq!(c.ejection_time(2, 0), Duration::from_secs(60));
        assert_eq!(c.ejection_time(50, 0), Duration::from_secs(300));
        assert_eq!(
            (c.max_ejected(3), c.max_ejected(20), c.max_ejected(25)),
            (1, 2, 2)
        );
        let name: Arc<str> = Arc::from("x");
        assert_eq!(
            OutlierDetection::new()
                .max_ejection_percent(101)
                .validate(&name)
                .unwrap_err()
                .field(),
            "max_ejection_percent"
        );
    }
}
