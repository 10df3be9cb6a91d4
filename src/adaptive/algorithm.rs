//! The rules that move an adaptive limit: [`LimitAlgorithm`], and the
//! three of Netflix's concurrency-limits with their published defaults.

use std::fmt;
use std::time::Duration;

/// What one window of finished calls measured: the input to a
/// [`LimitAlgorithm`]. Netflix's `onSample(rtt, inflight, didDrop)`, taken
/// over a window rather than per call (its `WindowedLimit`).
///
/// ```
/// use seawall::adaptive::{Aimd, LimitAlgorithm, Sample};
/// use std::time::Duration;
///
/// // What a window of calls measured, as an algorithm sees it.
/// let sample = Sample { rtt: Duration::from_millis(20), in_flight: 100, did_drop: true, calls: 500 };
/// let mut aimd = Aimd::default();
/// assert!(aimd.update(100, &sample) < 100); // a drop: the limit backs off
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// The mean round-trip time of the calls not dropped (a refusal comes
    /// back fast and says nothing of queueing); the last window's when all
    /// were dropped.
    pub rtt: Duration,
    /// The most calls in flight when any of them started (itself included).
    pub in_flight: usize,
    /// At least one was dropped: a `Failure` by the classifier (a 503, a
    /// timeout, a refusal), or slower than the algorithm's timeout.
    pub did_drop: bool,
    /// How many calls the window holds.
    pub calls: u64,
}

/// A rule that moves a concurrency limit from what calls measured.
///
/// [`Aimd`], [`Vegas`] and [`Gradient2`] are provided; implement it for
/// your own. `update` runs off the hot path, once per window, by whichever
/// call closes the window, never while another call waits on it.
///
/// ```
/// use seawall::adaptive::{LimitAlgorithm, Sample};
///
/// /// Halves on any drop, else grows by one.
/// struct Halving;
/// impl LimitAlgorithm for Halving {
///     fn initial_limit(&self) -> usize { 10 }
///     fn update(&mut self, limit: usize, sample: &Sample) -> usize {
///         if sample.did_drop { limit / 2 } else { limit + 1 }
///     }
/// }
/// let mut h = Halving;
/// let s = Sample { rtt: std::time::Duration::from_millis(5), in_flight: 10, did_drop: true, calls: 20 };
/// assert_eq!(h.update(10, &s), 5);
/// ```
pub trait LimitAlgorithm: Send + 'static {
    /// The limit before any sample.
    fn initial_limit(&self) -> usize;

    /// The new limit after `sample`, given the current one. The limiter
    /// keeps the answer within `1..=MAX_LIMIT`.
    fn update(&mut self, limit: usize, sample: &Sample) -> usize;

    /// Checks the settings: `Err((field, why))` for one out of range,
    /// which the limiter's `build` reports as a `ConfigError`.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        Ok(())
    }

    /// The least and the most limit it allows (default: any): a limiter
    /// given this algorithm while it runs moves its limit into them at once.
    fn limit_bounds(&self) -> (usize, usize) {
        (1, usize::MAX)
    }

    /// Its name, for events (default: the type's name).
    fn name(&self) -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }
}

/// Plain setters: `fn field(mut self, v) -> Self`, each with its doc.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)+) => {
        $($(#[$doc])* pub fn $field(mut self, value: $ty) -> Self {
            self.$field = value;
            self
        })+
    };
}

fn check_bounds(min: usize, initial: usize, max: usize) -> Result<(), (&'static str, String)> {
    if min == 0 {
        return Err(("min_limit", "must be at least 1, got 0".into()));
    }
    if max < min {
        return Err((
            "max_limit",
            format!("must be at least min_limit ({min}), got {max}"),
        ));
    }
    if !(min..=max).contains(&initial) {
        return Err((
            "initial_limit",
            format!("must be in min_limit..=max_limit ({min}..={max}), got {initial}"),
        ));
    }
    Ok(())
}

fn check_unit(field: &'static str, x: f64, low_open: bool) -> Result<(), (&'static str, String)> {
    let ok = if low_open {
        x > 0.0 && x <= 1.0
    } else {
        (0.0..1.0).contains(&x)
    };
    if ok {
        Ok(())
    } else if low_open {
        Err((field, format!("must be in (0, 1], got {x}")))
    } else {
        Err((field, format!("must be in [0, 1), got {x}")))
    }
}

/// Additive increase, multiplicative decrease (Netflix's `AIMDLimit`):
///
/// ```text
/// drop, or rtt > timeout:       limit ← ⌊limit · backoff_ratio⌋
/// else if 2·in_flight ≥ limit:  limit ← limit + 1
/// then clamp to [min_limit, max_limit]
/// ```
///
/// Defaults as Netflix's: initial 20, min 20, max 200, backoff 0.9,
/// timeout 5 s. The `2·in_flight ≥ limit` test keeps a limit from growing
/// while calls do not use it (an app-limited client).
#[derive(Debug, Clone)]
pub struct Aimd {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    backoff_ratio: f64,
    timeout: Duration,
}

impl Default for Aimd {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

impl Aimd {
    setters! {
        /// The limit before any sample (default 20).
        initial_limit: usize,
        /// The lowest limit (default 20).
        min_limit: usize,
        /// The highest limit (default 200).
        max_limit: usize,
        /// The factor applied on a drop (default 0.9; in (0, 1)).
        backoff_ratio: f64,
        /// A window slower than this on average counts as a drop (default 5 s).
        timeout: Duration,
    }
}

impl LimitAlgorithm for Aimd {
    fn initial_limit(&self) -> usize {
        self.initial_limit
    }

    fn limit_bounds(&self) -> (usize, usize) {
        (self.min_limit, self.max_limit)
    }

    fn update(&mut self, limit: usize, s: &Sample) -> usize {
        let next = if s.did_drop || s.rtt > self.timeout {
            (limit as f64 * self.backoff_ratio) as usize
        } else if s.in_flight * 2 >= limit {
            limit + 1
        } else {
            limit
        };
        next.clamp(self.min_limit, self.max_limit)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        check_bounds(self.min_limit, self.initial_limit, self.max_limit)?;
        if !(self.backoff_ratio > 0.0 && self.backoff_ratio < 1.0) {
            return Err((
                "backoff_ratio",
                format!("must be in (0, 1), got {}", self.backoff_ratio),
            ));
        }
        if self.timeout.is_zero() {
            return Err(("timeout", "must be positive, got 0".into()));
        }
        Ok(())
    }
}

/// `max(1, ⌊log10 n⌋)`: Vegas's step, as Netflix's `Log10RootFunction`.
fn log10_step(limit: f64) -> f64 {
    limit.max(1.0).log10().floor().max(1.0)
}

/// TCP Vegas applied to concurrency (Netflix's `VegasLimit`): the
/// queue the dependency holds is estimated from how far the round trip
/// has grown past the best seen (`rtt_noload`),
///
/// ```text
/// queue = ⌈limit · (1 − rtt_noload / rtt)⌉      l = max(1, ⌊log10 limit⌋)
/// alpha = 3·l   beta = 6·l   threshold = l
/// drop:                  limit − l
/// 2·in_flight < limit:   unchanged (app-limited)
/// queue ≤ threshold:     limit + beta
/// queue < alpha:         limit + l
/// queue > beta:          limit − l
/// then limit ← (1 − smoothing)·limit + smoothing·new, within [1, max_limit]
/// ```
///
/// The best round trip is re-probed now and then (after `probe_multiplier
/// · limit` windows, jittered by ½–1), so a dependency that got slower for
/// good is not read as queueing forever. Defaults as Netflix's: initial
/// 20, max 1000, smoothing 1, probe multiplier 30.
#[derive(Debug, Clone)]
pub struct Vegas {
    initial_limit: usize,
    max_limit: usize,
    smoothing: f64,
    probe_multiplier: u32,
    estimate: f64,
    rtt_noload: Option<Duration>,
    probes: u64,
    jitter: f64,
    draws: u64,
}

impl Default for Vegas {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            max_limit: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
            estimate: 20.0,
            rtt_noload: None,
            probes: 0,
            jitter: 0.75,
            draws: 0,
        }
    }
}

impl Vegas {
    /// The limit before any sample (default 20).
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.initial_limit = n;
        self.estimate = n as f64;
        self
    }
    setters! {
        /// The highest limit (default 1000).
        max_limit: usize,
        /// How much of each step is taken (default 1; in (0, 1]).
        smoothing: f64,
        /// Windows between probes of the best round trip, per unit of limit
        /// (default 30).
        probe_multiplier: u32,
    }

    fn next_jitter(&mut self) -> f64 {
        // A fixed sequence in [0.5, 1): reproducible runs, no shared RNG.
        self.draws += 1;
        0.5 + (self.draws.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11) as f64
            / (1u64 << 53) as f64
            / 2.0
    }
}

impl LimitAlgorithm for Vegas {
    fn initial_limit(&self) -> usize {
        self.initial_limit
    }

    fn limit_bounds(&self) -> (usize, usize) {
        (1, self.max_limit)
    }

    fn update(&mut self, limit: usize, s: &Sample) -> usize {
        // The limiter may have clamped the last answer: start from what it holds.
        let est = if (self.estimate as usize) == limit {
            self.estimate
        } else {
            limit as f64
        };
        self.probes += 1;
        if self.probes as f64 > self.jitter * self.probe_multiplier as f64 * est {
            self.probes = 0;
            self.jitter = self.next_jitter();
            self.rtt_noload = Some(s.rtt);
            return est as usize;
        }
        let noload = match self.rtt_noload {
            Some(n) if s.rtt >= n => n,
            _ => {
                self.rtt_noload = Some(s.rtt);
                return est as usize;
            }
        };
        let l = log10_step(est);
        let new = if s.did_drop {
            est - l
        } else if s.in_flight * 2 < est as usize {
            return est as usize;
        } else {
            let queue = (est * (1.0 - noload.as_secs_f64() / s.rtt.as_secs_f64())).ceil();
            let (alpha, beta, threshold) = (3.0 * l, 6.0 * l, l);
            if queue <= threshold {
                est + beta
            } else if queue < alpha {
                est + l
            } else if queue > beta {
                est - l
            } else {
                return est as usize;
            }
        };
        let new = new.clamp(1.0, self.max_limit as f64);
        self.estimate = (1.0 - self.smoothing) * est + self.smoothing * new;
        self.estimate as usize
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        check_bounds(1, self.initial_limit, self.max_limit)?;
        check_unit("smoothing", self.smoothing, true)?;
        if self.probe_multiplier == 0 {
            return Err(("probe_multiplier", "must be at least 1, got 0".into()));
        }
        Ok(())
    }
}

/// Netflix's `Gradient2Limit`: the limit follows the ratio of a long-term
/// round trip (an exponential average over `long_window` windows) to the
/// latest one, with headroom for a small queue,
///
/// ```text
/// long      ← long + (rtt − long) · 2/(long_window + 1)   (plain mean for the first 10)
///             and × 0.95 when long / rtt > 2 (recovering from an overload)
/// a drop:              gradient = 0.5 (seawall's; `ignore_drops` for Netflix's rule)
/// 2·in_flight < limit:  unchanged (app-limited)
/// gradient  = clamp(rtt_tolerance · long / rtt, 0.5, 1)
/// new       = limit · gradient + queue_size
/// limit     ← (1 − smoothing)·limit + smoothing·new, within [min_limit, max_limit]
/// ```
///
/// While the round trip stays within `rtt_tolerance` of the long-term one
/// the limit grows by `smoothing · queue_size` a window; past it, it falls
/// in proportion, never by more than half at once (an outlier cannot
/// collapse it). Defaults as Netflix's: initial 20, min 20, max 200,
/// smoothing 0.2, queue size 4, long window 600, RTT tolerance 1.5.
///
/// One departure: Netflix's Gradient2 reads round trips only, so a
/// dependency that refuses calls quickly (a 503 from a full queue) looks
/// idle to it and the limit climbs to `max_limit` while most calls are
/// refused. Here a window with a drop takes the lowest gradient, 0.5 (with
/// the default smoothing, the limit × 0.9 + 0.8 — AIMD's back-off);
/// [`ignore_drops`](Self::ignore_drops) restores the published rule.
///
/// `rtt_tolerance` is how much queueing is accepted: against a dependency
/// that queues past `k` workers, the limit settles near
/// `rtt_tolerance · k` unless drops stop it first.
#[derive(Debug, Clone)]
pub struct Gradient2 {
    initial_limit: usize,
    min_limit: usize,
    max_limit: usize,
    smoothing: f64,
    queue_size: usize,
    long_window: u32,
    rtt_tolerance: f64,
    ignore_drops: bool,
    estimate: f64,
    long_rtt: f64,
    long_samples: u32,
}

impl Default for Gradient2 {
    fn default() -> Self {
        Self {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            smoothing: 0.2,
            queue_size: 4,
            long_window: 600,
            rtt_tolerance: 1.5,
            ignore_drops: false,
            estimate: 20.0,
            long_rtt: 0.0,
            long_samples: 0,
        }
    }
}

/// Samples averaged plainly before the long-term average turns exponential.
const WARMUP: u32 = 10;

impl Gradient2 {
    /// The limit before any sample (default 20).
    pub fn initial_limit(mut self, n: usize) -> Self {
        self.initial_limit = n;
        self.estimate = n as f64;
        self
    }
    setters! {
        /// The lowest limit (default 20).
        min_limit: usize,
        /// The highest limit (default 200).
        max_limit: usize,
        /// How much of each step is taken (default 0.2; in (0, 1]).
        smoothing: f64,
        /// Headroom added each window, in calls (default 4).
        queue_size: usize,
        /// Windows the long-term round trip averages over (default 600).
        long_window: u32,
        /// How much slower than the long-term round trip is still no queue
        /// (default 1.5; at least 1).
        rtt_tolerance: f64,
    }

    /// Drops do not move the limit, as in Netflix's `Gradient2Limit`
    /// (default: a window with a drop takes the lowest gradient).
    pub fn ignore_drops(mut self) -> Self {
        self.ignore_drops = true;
        self
    }

    /// The long-term round trip now, in seconds.
    fn add_long(&mut self, rtt: f64) -> f64 {
        if self.long_samples < WARMUP {
            self.long_samples += 1;
            let n = self.long_samples as f64;
            self.long_rtt += (rtt - self.long_rtt) / n;
        } else {
            let factor = 2.0 / (self.long_window as f64 + 1.0);
            self.long_rtt += (rtt - self.long_rtt) * factor;
        }
        self.long_rtt
    }
}

impl LimitAlgorithm for Gradient2 {
    fn initial_limit(&self) -> usize {
        self.initial_limit
    }

    fn limit_bounds(&self) -> (usize, usize) {
        (self.min_limit, self.max_limit)
    }

    fn update(&mut self, limit: usize, s: &Sample) -> usize {
        let est = if (self.estimate as usize) == limit {
            self.estimate
        } else {
            limit as f64
        };
        let short = s.rtt.as_secs_f64().max(1e-9);
        let long = self.add_long(short);
        if long / short > 2.0 {
            self.long_rtt *= 0.95;
        }
        let dropped = s.did_drop && !self.ignore_drops;
        if !dropped && s.in_flight * 2 < est as usize {
            return est as usize;
        }
        let gradient = if dropped {
            0.5
        } else {
            (self.rtt_tolerance * long / short).clamp(0.5, 1.0)
        };
        let new = est * gradient + self.queue_size as f64;
        let new = (est * (1.0 - self.smoothing) + new * self.smoothing)
            .clamp(self.min_limit as f64, self.max_limit as f64);
        self.estimate = new;
        new as usize
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        check_bounds(self.min_limit, self.initial_limit, self.max_limit)?;
        check_unit("smoothing", self.smoothing, true)?;
        if self.long_window == 0 {
            return Err(("long_window", "must be at least 1, got 0".into()));
        }
        if !(self.rtt_tolerance.is_finite() && self.rtt_tolerance >= 1.0) {
            return Err((
                "rtt_tolerance",
                format!("must be at least 1, got {}", self.rtt_tolerance),
            ));
        }
        Ok(())
    }
}

/// A boxed algorithm, as the limiter holds it.
pub(crate) type BoxAlgorithm = Box<dyn LimitAlgorithm>;

impl fmt::Debug for dyn LimitAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LimitAlgorithm")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(rtt_ms: u64, in_flight: usize, did_drop: bool) -> Sample {
        Sample {
            rtt: Duration::from_millis(rtt_ms),
            in_flight,
            did_drop,
            calls: 10,
        }
    }

    #[test]
    fn aimd_adds_one_when_used_and_backs_off_on_a_drop_or_a_timeout() {
        let mut a = Aimd::default();
        assert_eq!(a.update(20, &sample(10, 10, false)), 21);
        assert_eq!(a.update(21, &sample(10, 5, false)), 21, "app-limited");
        assert_eq!(a.update(100, &sample(10, 100, true)), 90);
        assert_eq!(a.update(100, &sample(6_000, 100, false)), 90, "timeout");
        assert_eq!(a.update(21, &sample(10, 21, true)), 20, "min");
        assert_eq!(a.update(200, &sample(10, 200, false)), 200, "max");
    }

    #[test]
    fn vegas_grows_by_beta_without_queue_and_shrinks_past_beta() {
        let mut v = Vegas::default();
        assert_eq!(
            v.update(20, &sample(10, 20, false)),
            20,
            "first sets rtt_noload"
        );
        // No queue: + beta (6 at a limit in 10..100).
        assert_eq!(v.update(20, &sample(10, 20, false)), 26);
        // rtt doubled at 26: queue ⌈26·½⌉ = 13 > beta: − 1.
        assert_eq!(v.update(26, &sample(20, 26, false)), 25);
        // queue ⌈25·(1 − 10/12)⌉ = 5, between alpha and beta: unchanged.
        assert_eq!(v.update(25, &sample(12, 25, false)), 25);
        assert_eq!(v.update(25, &sample(10, 25, true)), 24, "drop: − l");
    }

    #[test]
    fn gradient2_grows_by_smoothed_queue_size_and_falls_with_the_gradient() {
        let mut g = Gradient2::default();
        // Flat round trips: + 0.2 · 4 a window.
        let mut limit = 20;
        for _ in 0..10 {
            limit = g.update(limit, &sample(10, limit, false));
        }
        assert_eq!(limit, 28);
        // Round trip at 3× the long-term one: gradient 0.5.
        let before = g.estimate;
        let l = g.update(limit, &sample(30, limit, false));
        let long = g.long_rtt;
        let gradient = (1.5 * long / 0.030_f64).clamp(0.5, 1.0);
        let expected = before * 0.8 + (before * gradient + 4.0) * 0.2;
        assert_eq!(l, expected as usize);
        assert!(l < limit);
    }

    #[test]
    fn bad_settings_name_their_field() {
        assert_eq!(
            Aimd::default().min_limit(0).validate().unwrap_err().0,
            "min_limit"
        );
        assert_eq!(
            Aimd::default()
                .min_limit(50)
                .max_limit(10)
                .validate()
                .unwrap_err()
                .0,
            "max_limit"
        );
        assert_eq!(
            Gradient2::default()
                .smoothing(0.0)
                .validate()
                .unwrap_err()
                .0,
            "smoothing"
        );
        assert_eq!(
            Gradient2::default()
                .smoothing(1.5)
                .validate()
                .unwrap_err()
                .0,
            "smoothing"
        );
        assert_eq!(
            Vegas::default().initial_limit(0).validate().unwrap_err().0,
            "initial_limit"
        );
        assert_eq!(
            Aimd::default().backoff_ratio(1.0).validate().unwrap_err().0,
            "backoff_ratio"
        );
        assert_eq!(
            Gradient2::default()
                .rtt_tolerance(0.5)
                .validate()
                .unwrap_err()
                .0,
            "rtt_tolerance"
        );
        assert!(Gradient2::default().validate().is_ok());
    }
}
