//! The thresholds a recorded call is judged by, read on every call that
//! is not a quiet success while a reconfiguration may change them. Behind
//! the `ArcSwap` of the whole configuration, a read would cost two locked
//! instructions; here it is a sequence lock over atomics: a reader takes
//! one reconfiguration's values whole, never a mix, for two loads more.

use super::config::Config;
use crate::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// The thresholds, read together.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Judge {
    pub(crate) minimum_number_of_calls: u32,
    pub(crate) failure_rate_threshold: f64,
    pub(crate) slow_call_rate_threshold: f64,
    /// Nanoseconds; `None`: slow-call detection is off.
    pub(crate) slow_call_duration_threshold: Option<u64>,
}

impl Judge {
    pub(crate) fn of(c: &Config) -> Self {
        Judge {
            minimum_number_of_calls: c.minimum_number_of_calls,
            failure_rate_threshold: c.failure_rate_threshold,
            slow_call_rate_threshold: c.slow_call_rate_threshold,
            slow_call_duration_threshold: c.slow_call_duration_threshold,
        }
    }

    /// Whether the breaker should open for these window counts.
    #[inline]
    pub(crate) fn should_open(&self, calls: u64, failures: u64, slow: u64) -> bool {
        calls >= u64::from(self.minimum_number_of_calls)
            && self.rates_exceeded(calls, failures, slow)
    }

    /// Whether the failure or slow-call rate of `calls` reaches its threshold.
    #[inline]
    pub(crate) fn rates_exceeded(&self, calls: u64, failures: u64, slow: u64) -> bool {
        calls > 0
            && (failures as f64 * 100.0 >= self.failure_rate_threshold * calls as f64
                || (self.slow_call_duration_threshold.is_some()
                    && slow as f64 * 100.0 >= self.slow_call_rate_threshold * calls as f64))
    }
}

/// [`Judge`] under a sequence lock: even `version`, stable; odd, a writer
/// is storing.
pub(crate) struct Thresholds {
    version: AtomicU64,
    minimum_number_of_calls: AtomicU32,
    failure_rate_threshold: AtomicU64,
    slow_call_rate_threshold: AtomicU64,
    /// Nanoseconds; 0: off (a threshold is never zero).
    slow_call_duration_threshold: AtomicU64,
}

impl Thresholds {
    pub(crate) fn new(j: Judge) -> Self {
        Thresholds {
            version: AtomicU64::new(0),
            minimum_number_of_calls: AtomicU32::new(j.minimum_number_of_calls),
            failure_rate_threshold: AtomicU64::new(j.failure_rate_threshold.to_bits()),
            slow_call_rate_threshold: AtomicU64::new(j.slow_call_rate_threshold.to_bits()),
            slow_call_duration_threshold: AtomicU64::new(
                j.slow_call_duration_threshold.unwrap_or(0),
            ),
        }
    }

    /// The thresholds, all from one write.
    #[inline]
    pub(crate) fn read(&self) -> Judge {
        loop {
            let before = self.version.load(Ordering::Acquire);
            let j = Judge {
                minimum_number_of_calls: self.minimum_number_of_calls.load(Ordering::Relaxed),
                failure_rate_threshold: f64::from_bits(
                    self.failure_rate_threshold.load(Ordering::Relaxed),
                ),
                slow_call_rate_threshold: f64::from_bits(
                    self.slow_call_rate_threshold.load(Ordering::Relaxed),
                ),
                slow_call_duration_threshold: match self
                    .slow_call_duration_threshold
                    .load(Ordering::Relaxed)
                {
                    0 => None,
                    ns => Some(ns),
                },
            };
            // The loads above happen before the check below.
            fence(Ordering::Acquire);
            if before & 1 == 0 && self.version.load(Ordering::Relaxed) == before {
                return j;
            }
            #[cfg(seawall_loom)]
            loom::thread::yield_now();
            #[cfg(not(seawall_loom))]
            std::hint::spin_loop();
        }
    }

    /// Stores `j`; writers must be serialised (the breaker's lock).
    pub(crate) fn write(&self, j: Judge) {
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Relaxed);
        // The odd version is seen before any of the stores below.
        fence(Ordering::Release);
        (self.minimum_number_of_calls).store(j.minimum_number_of_calls, Ordering::Relaxed);
        (self.failure_rate_threshold).store(j.failure_rate_threshold.to_bits(), Ordering::Relaxed);
        (self.slow_call_rate_threshold)
            .store(j.slow_call_rate_threshold.to_bits(), Ordering::Relaxed);
        (self.slow_call_duration_threshold).store(
            j.slow_call_duration_threshold.unwrap_or(0),
            Ordering::Relaxed,
        );
        self.version.store(v.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(all(test, seawall_loom))]
mod loom_models {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_reader_sees_one_write_whole() {
        loom::model(|| {
            let a = Judge {
                minimum_number_of_calls: 1,
                failure_rate_threshold: 10.0,
                slow_call_rate_threshold: 20.0,
                slow_call_duration_threshold: Some(5),
            };
            let b = Judge {
                minimum_number_of_calls: 2,
                failure_rate_threshold: 30.0,
                slow_call_rate_threshold: 40.0,
                slow_call_duration_threshold: None,
            };
            let t = Arc::new(Thresholds::new(a));
            let writer = {
                let t = t.clone();
                loom::thread::spawn(move || t.write(b))
            };
            let seen = t.read();
            assert!(seen == a || seen == b, "a mix: {seen:?}");
            writer.join().unwrap();
            assert_eq!(t.read(), b);
        });
    }
}
