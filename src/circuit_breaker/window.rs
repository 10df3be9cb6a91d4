//! The rolling windows a closed breaker judges the dependency by. Each keeps
//! its aggregate incrementally: recording a call never scans the window.

use super::config::SlidingWindow;
use super::thresholds::Judge;
use crate::sync::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, CachePadded, Mutex, Ordering};

/// Calls, failures and slow calls currently in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counts {
    pub(crate) calls: u64,
    pub(crate) failures: u64,
    pub(crate) slow: u64,
}

pub(crate) enum Window {
    Count(CountWindow),
    Time(TimeWindow),
    Consecutive(ConsecutiveFailures),
}

impl Window {
    pub(crate) fn new(window: SlidingWindow) -> Self {
        match window {
            SlidingWindow::Count(n) => Window::Count(CountWindow::new(n)),
            SlidingWindow::Time(d) => Window::Time(TimeWindow::new(d.as_secs() as usize)),
            SlidingWindow::ConsecutiveFailures(k) => Window::Consecutive(ConsecutiveFailures {
                run: CachePadded(AtomicU32::new(0)),
                k,
            }),
        }
    }

    /// Whether recording needs the current time.
    pub(crate) fn needs_time(&self) -> bool {
        matches!(self, Window::Time(_))
    }

    /// Records one counted (not ignored) call at `now`; returns the
    /// window's counts when they say the breaker should open.
    #[inline]
    pub(crate) fn record(
        &self,
        judge: &Judge,
        failure: bool,
        slow: bool,
        now: u64,
    ) -> Option<Counts> {
        let c = match self {
            Window::Count(w) => w.record(failure, slow)?,
            Window::Time(w) => w.record(failure, slow, now),
            Window::Consecutive(w) => {
                return w.record(failure).then(|| {
                    let run = u64::from(w.k);
                    Counts {
                        calls: run,
                        failures: run,
                        slow: 0,
                    }
                })
            }
        };
        judge.should_open(c.calls, c.failures, c.slow).then_some(c)
    }

    /// The window's current counts (a time window is first moved to `now`).
    pub(crate) fn counts(&self, now: u64) -> Counts {
        match self {
            Window::Count(w) => decode(w.agg.load(Ordering::Acquire)),
            Window::Time(w) => {
                w.advance(now / NANOS_PER_SEC);
                w.totals()
            }
            Window::Consecutive(w) => {
                let run = u64::from(w.run.load(Ordering::Acquire));
                Counts {
                    calls: run,
                    failures: run,
                    slow: 0,
                }
            }
        }
    }

    /// Empties the window. Safe against concurrent recorders: what it takes
    /// out of each slot it subtracts from the aggregate, so the aggregate
    /// always equals the sum of the slots once writers finish.
    pub(crate) fn clear(&self) {
        match self {
            Window::Count(w) => {
                for slot in w.slots.iter() {
                    let old = slot.swap(0, Ordering::AcqRel);
                    w.agg.fetch_sub(weight(old), Ordering::AcqRel);
                }
            }
            Window::Time(w) => {
                for b in w.buckets.iter() {
                    w.take_bucket(b);
                }
            }
            Window::Consecutive(w) => w.run.store(0, Ordering::Release),
        }
    }
}

// ---- count window -------------------------------------------------------
//
// A ring of one-byte outcome slots and one packed aggregate:
//
//   agg = (calls + B) | (failures + B) << 21 | (slow + B) << 42,  B = 2^20
//
// Recording writes the slot at `cursor.fetch_add(1) % n` with `swap`, which
// hands back the evicted outcome exactly once, then adds
// `weight(new) - weight(old)` to `agg` in one `fetch_add`. Between another
// thread's swap and its fetch_add a field can be transiently below its true
// value (we may subtract an outcome whose addition has not landed yet); the
// bias B keeps each field positive (it would take 2^20 threads mid-record to
// exhaust), so no field ever borrows from its neighbour and the wrapping
// sum of packed deltas is exact. Window sizes are capped at 2^19 < B.

const FIELD: u32 = 21;
const MASK: u64 = (1 << FIELD) - 1;
const BIAS: u64 = 1 << 20;
const CALL: u64 = 1;
const FAIL: u64 = 1 << FIELD;
const SLOW: u64 = 1 << (2 * FIELD);
const EMPTY_AGG: u64 = BIAS | BIAS << FIELD | BIAS << (2 * FIELD);
const SUCCESS_SLOT: u8 = 1;

#[inline]
fn encode(failure: bool, slow: bool) -> u8 {
    1 | (failure as u8) << 1 | (slow as u8) << 2
}

#[inline]
fn weight(slot: u8) -> u64 {
    if slot == 0 {
        return 0;
    }
    CALL + u64::from(slot >> 1 & 1) * FAIL + u64::from(slot >> 2 & 1) * SLOW
}

#[inline]
fn decode(agg: u64) -> Counts {
    let field = |i: u32| ((agg >> (i * FIELD)) & MASK).saturating_sub(BIAS);
    let calls = field(0);
    Counts {
        calls,
        failures: field(1).min(calls),
        slow: field(2).min(calls),
    }
}

pub(crate) struct CountWindow {
    agg: CachePadded<AtomicU64>,
    cursor: CachePadded<AtomicUsize>,
    slots: Box<[AtomicU8]>,
    /// `agg` when every slot holds a plain success.
    full_of_successes: u64,
}

impl CountWindow {
    fn new(n: u32) -> Self {
        Self {
            agg: CachePadded(AtomicU64::new(EMPTY_AGG)),
            cursor: CachePadded(AtomicUsize::new(0)),
            slots: (0..n).map(|_| AtomicU8::new(0)).collect(),
            full_of_successes: EMPTY_AGG + u64::from(n) * CALL,
        }
    }

    /// Whether every slot holds a plain success (so recording another
    /// success would change nothing).
    #[inline]
    pub(crate) fn is_full_of_successes(&self) -> bool {
        self.agg.load(Ordering::Relaxed) == self.full_of_successes
    }

    /// Returns the counts after recording, or `None` when nothing changed.
    #[inline]
    fn record(&self, failure: bool, slow: bool) -> Option<Counts> {
        let new = encode(failure, slow);
        // Replacing a success in a window of nothing but successes changes
        // nothing: skip every write, so a healthy dependency costs one load.
        if new == SUCCESS_SLOT && self.is_full_of_successes() {
            return None;
        }
        let i = self.cursor.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let old = self.slots[i].swap(new, Ordering::AcqRel);
        if old == new {
            return None;
        }
        let delta = weight(new).wrapping_sub(weight(old));
        let after = self
            .agg
            .fetch_add(delta, Ordering::AcqRel)
            .wrapping_add(delta);
        Some(decode(after))
    }
}

// ---- time window --------------------------------------------------------
//
// One bucket per second in a ring of `n`; totals are kept alongside. A call
// at second s adds to bucket s % n and to the totals. When time reaches a
// new second, the buckets of the seconds that fell out of the window are
// emptied (under a lock, at most once per second) and what they held is
// subtracted from the totals, so totals = Σ buckets of the last n seconds.
// Fields are separate u64s (a busy service can record millions of calls per
// window); a snapshot may be one call apart between fields, so failures and
// slow are clamped to calls.

const NANOS_PER_SEC: u64 = 1_000_000_000;

#[derive(Default)]
struct Triple {
    calls: AtomicU64,
    failures: AtomicU64,
    slow: AtomicU64,
}

impl Triple {
    #[inline]
    fn add(&self, failure: bool, slow: bool) {
        self.calls.fetch_add(1, Ordering::AcqRel);
        if failure {
            self.failures.fetch_add(1, Ordering::AcqRel);
        }
        if slow {
            self.slow.fetch_add(1, Ordering::AcqRel);
        }
    }
}

pub(crate) struct TimeWindow {
    totals: CachePadded<Triple>,
    buckets: Box<[CachePadded<Triple>]>,
    /// The latest second whose bucket has been made current.
    latest: AtomicU64,
    rotate: Mutex<()>,
}

impl TimeWindow {
    fn new(seconds: usize) -> Self {
        Self {
            totals: CachePadded(Triple::default()),
            buckets: (0..seconds)
                .map(|_| CachePadded(Triple::default()))
                .collect(),
            latest: AtomicU64::new(0),
            rotate: Mutex::new(()),
        }
    }

    #[inline]
    fn record(&self, failure: bool, slow: bool, now: u64) -> Counts {
        let sec = now / NANOS_PER_SEC;
        let n = self.buckets.len() as u64;
        let latest = self.latest.load(Ordering::Acquire);
        if sec > latest {
            self.advance(sec);
        } else if sec + n <= latest {
            // Timestamped before the window began (a thread stalled for
            // a whole window): it no longer belongs to any bucket.
            return self.totals();
        }
        self.buckets[(sec % n) as usize].add(failure, slow);
        self.totals.add(failure, slow);
        self.totals()
    }

    /// Empties the buckets of seconds that have left the window by `sec`.
    fn advance(&self, sec: u64) {
        let _guard = self.rotate.lock();
        let latest = self.latest.load(Ordering::Acquire);
        if sec <= latest {
            return;
        }
        let n = self.buckets.len() as u64;
        // Seconds latest+1 ..= sec become current; each reuses the bucket of
        // the second n before it, which has left the window.
        let first = (latest + 1).max(sec.saturating_sub(n - 1));
        for s in first..=sec {
            self.take_bucket(&self.buckets[(s % n) as usize]);
        }
        self.latest.store(sec, Ordering::Release);
    }

    fn take_bucket(&self, b: &Triple) {
        let calls = b.calls.swap(0, Ordering::AcqRel);
        let failures = b.failures.swap(0, Ordering::AcqRel);
        let slow = b.slow.swap(0, Ordering::AcqRel);
        self.totals.calls.fetch_sub(calls, Ordering::AcqRel);
        self.totals.failures.fetch_sub(failures, Ordering::AcqRel);
        self.totals.slow.fetch_sub(slow, Ordering::AcqRel);
    }

    fn totals(&self) -> Counts {
        // Read the dependent fields first so calls is never behind them.
        // Fields may be transiently "negative" (wrapped) mid-rotation.
        let as_count = |v: u64| if v > i64::MAX as u64 { 0 } else { v };
        let failures = as_count(self.totals.failures.load(Ordering::Acquire));
        let slow = as_count(self.totals.slow.load(Ordering::Acquire));
        let calls = as_count(self.totals.calls.load(Ordering::Acquire));
        Counts {
            calls,
            failures: failures.min(calls),
            slow: slow.min(calls),
        }
    }
}

// ---- consecutive failures -------------------------------------------------

pub(crate) struct ConsecutiveFailures {
    run: CachePadded<AtomicU32>,
    k: u32,
}

impl ConsecutiveFailures {
    #[inline]
    fn record(&self, failure: bool) -> bool {
        if failure {
            self.run.fetch_add(1, Ordering::AcqRel).saturating_add(1) >= self.k
        } else {
            // Only write when there is a run to break: a healthy dependency
            // costs one load.
            if self.run.load(Ordering::Relaxed) != 0 {
                self.run.store(0, Ordering::Release);
            }
            false
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn packed_fields_survive_transient_negatives() {
        let mut agg = EMPTY_AGG;
        // Evict a failure whose addition has not landed yet.
        agg = agg.wrapping_add(0u64.wrapping_sub(weight(encode(true, true))));
        assert_eq!(decode(agg), Counts::default());
        agg = agg.wrapping_add(weight(encode(true, true)));
        agg = agg.wrapping_add(weight(encode(false, false)));
        assert_eq!(
            decode(agg),
            Counts {
                calls: 1,
                failures: 0,
                slow: 0
            }
        );
    }

    #[test]
    fn count_window_is_rolling() {
        let w = CountWindow::new(3);
        w.record(true, false);
        w.record(true, false);
        let c = w.record(false, false).unwrap();
        assert_eq!(
            c,
            Counts {
                calls: 3,
                failures: 2,
                slow: 0
            }
        );
        // Two successes push both failures out of the window.
        w.record(false, false);
        let c = w.record(false, true).unwrap();
        assert_eq!(
            c,
            Counts {
                calls: 3,
                failures: 0,
                slow: 1
            }
        );
        // A success into a window full of successes writes nothing.
        w.record(false, false);
        assert_eq!(w.record(false, false), None);
        assert_eq!(decode(w.agg.load(Ordering::Relaxed)).calls, 3);
    }

    #[test]
    fn time_window_drops_seconds_that_leave_it() {
        let w = TimeWindow::new(2);
        w.record(true, false, 0);
        w.record(false, false, NANOS_PER_SEC);
        assert_eq!(
            w.totals(),
            Counts {
                calls: 2,
                failures: 1,
                slow: 0
            }
        );
        let c = w.record(false, false, 2 * NANOS_PER_SEC);
        assert_eq!(
            c,
            Counts {
                calls: 2,
                failures: 0,
                slow: 0
            }
        );
        w.advance(10);
        assert_eq!(w.totals(), Counts::default());
    }
}
