//! The blast-radius guard: limits on how fast and into how large a share
//! of calls a `Chaos` injects, past which it stops by itself.
//!
//! Touched only when a draw says "inject", under a lock: the passing path
//! never reaches it.

use crate::error::ConfigError;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Calls a share window must have seen before its share is judged.
pub(crate) const MIN_CALLS: u64 = 100;

pub(crate) struct Guard {
    max_per_sec: Option<u32>,
    /// Share and window length in nanoseconds.
    max_share: Option<(f64, u64)>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The second (on the clock) of `in_second`.
    second: u64,
    in_second: u32,
    /// Where the current share window began: its start, and the calls
    /// counted before it.
    window_start: u64,
    calls_before: u64,
    in_window: u64,
}

impl Guard {
    /// The limits it was built with: per second, and (share, window).
    pub(crate) fn limits(&self) -> (Option<u32>, Option<(f64, Duration)>) {
        let share = self.max_share.map(|(s, w)| (s, Duration::from_nanos(w)));
        (self.max_per_sec, share)
    }

    pub(crate) fn new(
        name: &Arc<str>,
        max_per_sec: Option<u32>,
        max_share: Option<(f64, Duration)>,
    ) -> Result<Option<Self>, ConfigError> {
        if max_per_sec == Some(0) {
            return Err(ConfigError::new(
                name,
                "max_injections_per_sec",
                "must be at least 1, got 0 (disable the injector instead)",
            ));
        }
        if let Some((share, window)) = max_share {
            if !(share > 0.0 && share <= 1.0) {
                return Err(ConfigError::new(
                    name,
                    "max_injected_share",
                    format!("must be in (0, 1], got {share}"),
                ));
            }
            if window.is_zero() {
                return Err(ConfigError::new(
                    name,
                    "max_injected_share",
                    "the window must be longer than zero",
                ));
            }
        }
        if max_per_sec.is_none() && max_share.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            max_per_sec,
            max_share: max_share.map(|(s, w)| (s, w.as_nanos().min(u128::from(u64::MAX)) as u64)),
            state: Mutex::new(State::default()),
        }))
    }

    /// Starts counting afresh (at build, and when re-enabled).
    pub(crate) fn restart(&self, now: u64, calls: u64) {
        *self.state.lock() = State {
            second: now / NANOS_PER_SEC,
            in_second: 0,
            window_start: now,
            calls_before: calls,
            in_window: 0,
        };
    }

    /// One more injection at `now`, `calls` calls decided so far (this one
    /// included): `Ok` to inject it, or why the limits say stop.
    pub(crate) fn admit(&self, now: u64, calls: u64) -> Result<(), &'static str> {
        let mut s = self.state.lock();
        if let Some(max) = self.max_per_sec {
            let second = now / NANOS_PER_SEC;
            if second != s.second {
                s.second = second;
                s.in_second = 0;
            }
            if s.in_second >= max {
                return Err("max_injections_per_sec");
            }
        }
        if let Some((share, window)) = self.max_share {
            if now.saturating_sub(s.window_start) >= window {
                // A new window, end to end with the last.
                let windows = (now - s.window_start) / window;
                s.window_start += windows * window;
                s.calls_before = calls.saturating_sub(1);
                s.in_window = 0;
            }
            let seen = calls.saturating_sub(s.calls_before);
            let injected = s.in_window + 1;
            if seen >= MIN_CALLS && injected as f64 > share * seen as f64 {
                return Err("max_injected_share");
            }
        }
        s.in_second += 1;
        s.in_window += 1;
        Ok(())
    }
}
