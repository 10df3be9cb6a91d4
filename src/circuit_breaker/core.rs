//! The breaker's shared state and its state machine.

use super::config::{Config, SlidingWindow};
use super::state::{Word, GENERATION_MASK};
use super::thresholds::{Judge, Thresholds};
use super::window::{Counts, Window};
use super::CircuitState;
use crate::clock::{nanos, ClockHandle};
use crate::error::{CircuitOpen, ConfigError};
use crate::outcome::Outcome;
use crate::stripes::Striped;
use crate::sync::{AtomicU32, AtomicU64, CachePadded, Mutex, Ordering};
use crate::telemetry::{EventKind, EventMask, Listeners, Pattern};
use std::sync::Arc;
use std::time::Duration;

// Lifetime per-call counters (for metrics), indices into `Core::calls`.
pub(crate) const SUCCESS: usize = 0;
pub(crate) const FAILURE: usize = 1;
pub(crate) const IGNORED: usize = 2;
pub(crate) const CANCELLED: usize = 3;
pub(crate) const SLOW: usize = 4;
pub(crate) const SLOW_SUCCESS: usize = 5;
pub(crate) const SLOW_FAILURE: usize = 6;
/// Nanoseconds summed over calls with a measured duration.
pub(crate) const DURATION: usize = 7;
/// Calls with a measured duration.
pub(crate) const TIMED: usize = 8;
/// How many lifetime counters there are.
pub(crate) const COUNTERS: usize = 9;

/// What a permit is entitled to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TicketKind {
    /// Closed or metrics-only: the outcome goes to the window.
    Counted = 0,
    /// Half-open: holds one of the probe slots.
    Probe = 1,
    /// Disabled: nothing is recorded.
    Passthrough = 2,
}

/// The part of a permit that is plain data, packed into one word so it
/// moves in a register (a multi-field struct is copied through the stack
/// with wide loads that stall on store forwarding):
///
/// ```text
///  63                      23 22          2 1    0
/// +--------------------------+-------------+------+
/// | start, µs (41 bits, wraps)| generation  | kind |
/// +--------------------------+-------------+------+
/// ```
///
/// The start time wraps every 2^41 µs (25 days); elapsed times are taken
/// modulo that, so calls shorter than 25 days are measured exactly to the µs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

const START_SHIFT: u32 = 23;
const START_MASK: u64 = (1 << (64 - START_SHIFT)) - 1;

impl Ticket {
    #[inline(always)]
    fn new(kind: TicketKind, generation: u32, start_nanos: u64) -> Self {
        let start = (start_nanos / 1000) & START_MASK;
        Ticket(kind as u64 | u64::from(generation & GENERATION_MASK) << 2 | start << START_SHIFT)
    }

    #[inline(always)]
    pub(crate) fn kind(self) -> TicketKind {
        match self.0 & 0b11 {
            0 => TicketKind::Counted,
            1 => TicketKind::Probe,
            _ => TicketKind::Passthrough,
        }
    }

    #[inline(always)]
    pub(crate) fn generation(self) -> u32 {
        ((self.0 >> 2) as u32) & GENERATION_MASK
    }

    /// Nanoseconds from admission to `now_nanos`, to the microsecond.
    fn elapsed(self, now_nanos: u64) -> u64 {
        let now = (now_nanos / 1000) & START_MASK;
        (now.wrapping_sub(self.0 >> START_SHIFT) & START_MASK) * 1000
    }
}

pub(crate) struct Core {
    // The `Arc` refcount sits in the line before: `CachePadded` aligns the
    // whole struct to 128 bytes, so `word` starts a fresh line.
    word: CachePadded<AtomicU64>,
    pub(crate) window: Window,
    pub(crate) calls: Striped<COUNTERS>,
    pub(crate) not_permitted: CachePadded<std::sync::atomic::AtomicU64>,
    pub(crate) transitions: [std::sync::atomic::AtomicU64; 6],
    open_until: AtomicU64,
    half_open_since: AtomicU64,
    /// The state word as the last half-open phase ended (its probe counts
    /// and generation): what an Open state entered from it reports, since
    /// those probes, not the closed window before, made the decision.
    /// Written under `lock` before the next word is published.
    last_probes: AtomicU64,
    consecutive_openings: AtomicU32,
    lock: Mutex<()>,
    /// Swapped whole by a reconfiguration; read on the cold paths only
    /// (the hot ones read `word` and the flags below, fixed at build).
    config: arc_swap::ArcSwap<Config>,
    /// What each recorded call is judged by: read per call, cheaply.
    thresholds: Thresholds,
    pub(crate) clock: ClockHandle,
    pub(crate) listeners: Listeners,
    pub(crate) name: Arc<str>,
    /// Slow-call detection is on: read the clock at admission.
    needs_start: bool,
    /// Recording needs the time (slow-call detection or a time window).
    needs_end: bool,
    /// A success needs no clock read and no event.
    quiet_success: bool,
}

impl Core {
    pub(crate) fn new(
        name: Arc<str>,
        config: Config,
        clock: ClockHandle,
        listeners: Listeners,
    ) -> Self {
        let initial = config.initial_state;
        let window = Window::new(config.window);
        let needs_start = config.slow_call_duration_threshold.is_some();
        let needs_end = needs_start || window.needs_time();
        let quiet_success = !needs_end && !listeners.wants(EventMask::SUCCESSES);
        let core = Self {
            word: CachePadded(AtomicU64::new(Word::new(initial, 0).0)),
            window,
            calls: Striped::new(),
            not_permitted: CachePadded(Default::default()),
            transitions: Default::default(),
            open_until: AtomicU64::new(0),
            half_open_since: AtomicU64::new(0),
            last_probes: AtomicU64::new(0),
            consecutive_openings: AtomicU32::new(0),
            lock: Mutex::new(()),
            thresholds: Thresholds::new(Judge::of(&config)),
            config: arc_swap::ArcSwap::from_pointee(config),
            clock,
            listeners,
            name,
            needs_start,
            needs_end,
            quiet_success,
        };
        // The side data of a state other than Closed (an open wait, the
        // half-open start); no event: nothing moved.
        core.enter(initial, core.clock.now());
        core
    }

    /// The settings now in force.
    #[inline]
    pub(crate) fn config(&self) -> arc_swap::Guard<Arc<Config>> {
        self.config.load()
    }

    /// Whether `next` may replace the settings of this running breaker:
    /// what it measures must stay the same (the window it keeps, and
    /// whether calls are timed, which admission decided at build).
    pub(crate) fn check_reconfigure(&self, next: &Config) -> Result<(), ConfigError> {
        self.config().check_replace(&self.name, next)
    }

    /// Puts `next` in force (checked by `check_reconfigure`), keeping the
    /// state, the window and the calls in flight; one event per setting
    /// that changed.
    pub(crate) fn reconfigure(&self, next: Config) {
        let changes = self.config().changes(&next);
        {
            // Writers of the thresholds one at a time.
            let _serial = self.lock.lock();
            self.thresholds.write(Judge::of(&next));
            self.config.store(Arc::new(next));
        }
        for (setting, from, to) in changes {
            self.emit(EventKind::Reconfigured { setting, from, to });
        }
    }

    #[inline]
    pub(crate) fn word(&self) -> Word {
        Word(self.word.load(Ordering::Acquire))
    }

    // ---- admission ------------------------------------------------------

    #[inline(always)]
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Result<Ticket, CircuitOpen> {
        // Fast path, inlined into the caller: closed, no clock needed.
        let w = self.word();
        if w.state() == CircuitState::Closed && !self.needs_start {
            return Ok(Ticket::new(TicketKind::Counted, w.generation(), 0));
        }
        self.try_acquire_slow()
    }

    #[inline(never)]
    fn try_acquire_slow(self: &Arc<Self>) -> Result<Ticket, CircuitOpen> {
        loop {
            let w = self.word();
            let generation = w.generation();
            match w.state() {
                CircuitState::Closed | CircuitState::MetricsOnly => {
                    let start = if self.needs_start {
                        self.clock.now()
                    } else {
                        0
                    };
                    return Ok(Ticket::new(TicketKind::Counted, generation, start));
                }
                CircuitState::Disabled => {
                    return Ok(Ticket::new(TicketKind::Passthrough, generation, 0))
                }
                CircuitState::HalfOpen => {
                    // The probes' time is up whatever slots remain.
                    if self.half_open_expired() {
                        self.expire_half_open(generation);
                        continue;
                    }
                    if w.admitted() < self.config().permitted_number_of_calls_in_half_open_state {
                        if self.cas(w, w.admit()) {
                            let start = if self.needs_start {
                                self.clock.now()
                            } else {
                                0
                            };
                            return Ok(Ticket::new(TicketKind::Probe, generation, start));
                        }
                        continue;
                    }
                    return Err(self.reject(None));
                }
                CircuitState::Open => {
                    let now = self.clock.now();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now >= until {
                        self.transition(generation, CircuitState::Open, CircuitState::HalfOpen);
                        continue;
                    }
                    return Err(self.reject(Some(Duration::from_nanos(until - now))));
                }
                CircuitState::ForcedOpen => return Err(self.reject(None)),
            }
        }
    }

    fn cas(&self, from: Word, to: Word) -> bool {
        self.word
            .compare_exchange(from.0, to.0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether `max_wait_duration_in_half_open_state` has passed since the
    /// breaker entered half-open (never, when it is zero). One clock read.
    pub(crate) fn half_open_expired(&self) -> bool {
        let max_wait = self.config().max_wait_duration_in_half_open_state;
        max_wait > 0
            && self
                .clock
                .now()
                .saturating_sub(self.half_open_since.load(Ordering::Acquire))
                >= max_wait
    }

    /// Leaves a half-open phase whose probes ran out of time, for the state
    /// the configuration names (open by default, as resilience4j).
    #[cold]
    pub(crate) fn expire_half_open(self: &Arc<Self>, generation: u32) {
        let to = self.config().transition_to_state_after_wait_duration;
        self.transition(generation, CircuitState::HalfOpen, to);
    }

    #[cold]
    fn reject(&self, retry_after: Option<Duration>) -> CircuitOpen {
        self.not_permitted.fetch_add(1, Ordering::Relaxed);
        if self.listeners.wants(EventMask::REJECTIONS) || tracing_wants_rejections() {
            self.emit(EventKind::CallRejected { retry_after });
        }
        CircuitOpen::new(self.name.clone(), retry_after)
    }

    // ---- recording ------------------------------------------------------

    /// Records `outcome` for a permit. `duration` is the call's run time when
    /// the caller measured it; otherwise it is measured here if needed.
    #[inline(always)]
    pub(crate) fn record(self: &Arc<Self>, t: Ticket, outcome: Outcome, duration: Option<u64>) {
        // Fast path, inlined into the caller: a success that needs no clock
        // and no event, into a count window holding nothing but successes,
        // changes nothing but the lifetime counter.
        if self.quiet_success
            && outcome == Outcome::Success
            && t.kind() == TicketKind::Counted
            && duration.is_none()
        {
            if let Window::Count(w) = &self.window {
                if w.is_full_of_successes() {
                    self.calls.incr(SUCCESS);
                    return;
                }
            }
        }
        self.record_slow(t, outcome, duration)
    }

    #[inline(never)]
    fn record_slow(self: &Arc<Self>, t: Ticket, outcome: Outcome, duration: Option<u64>) {
        if t.kind() == TicketKind::Passthrough {
            return;
        }
        let now = if self.needs_end { self.clock.now() } else { 0 };
        let duration = match duration {
            Some(d) => Some(d),
            None if self.needs_start => Some(t.elapsed(now)),
            None => None,
        };
        let slow = matches!(
            (self.thresholds.read().slow_call_duration_threshold, duration),
            (Some(limit), Some(d)) if d >= limit
        );
        let field = match outcome {
            Outcome::Success => SUCCESS,
            Outcome::Failure => FAILURE,
            Outcome::Ignored => IGNORED,
        };
        self.calls.incr(field);
        if let Some(d) = duration {
            self.calls.add(DURATION, d);
            self.calls.incr(TIMED);
        }
        if slow {
            self.calls.incr(SLOW);
            match outcome {
                Outcome::Success => self.calls.incr(SLOW_SUCCESS),
                Outcome::Failure => self.calls.incr(SLOW_FAILURE),
                Outcome::Ignored => {}
            }
        }
        self.per_call_events(outcome, duration, slow);
        match outcome {
            Outcome::Ignored => {
                if t.kind() == TicketKind::Probe {
                    // An ignored probe says nothing: give its slot back.
                    self.release_probe(t.generation());
                }
            }
            _ => self.count(t, outcome == Outcome::Failure, slow, now),
        }
    }

    /// A permit dropped unrecorded: the call was cancelled. It counts only if
    /// it had already run past the slow-call threshold (a hung dependency
    /// behind an outer timeout must still trip the breaker).
    pub(crate) fn cancel(self: &Arc<Self>, t: Ticket) {
        if t.kind() == TicketKind::Passthrough {
            return;
        }
        self.calls.incr(CANCELLED);
        if let Some(limit) = self.thresholds.read().slow_call_duration_threshold {
            let now = self.clock.now();
            let ran = t.elapsed(now);
            if ran >= limit {
                self.calls.incr(SLOW);
                if self.listeners.wants(EventMask::SLOW_CALLS) {
                    self.emit(EventKind::SlowCall {
                        duration: Duration::from_nanos(ran),
                    });
                }
                return self.count(t, false, true, now);
            }
        }
        if t.kind() == TicketKind::Probe {
            self.release_probe(t.generation());
        }
    }

    fn per_call_events(&self, outcome: Outcome, duration: Option<u64>, slow: bool) {
        let d = duration.map(Duration::from_nanos);
        let kind = match outcome {
            Outcome::Success => EventMask::SUCCESSES,
            Outcome::Failure => EventMask::ERRORS,
            Outcome::Ignored => EventMask::IGNORED,
        };
        if self.listeners.wants(kind) {
            self.emit(match outcome {
                Outcome::Success => EventKind::Success { duration: d },
                Outcome::Failure => EventKind::Error { duration: d },
                Outcome::Ignored => EventKind::Ignored,
            });
        }
        if slow && self.listeners.wants(EventMask::SLOW_CALLS) {
            self.emit(EventKind::SlowCall {
                duration: d.unwrap_or_default(),
            });
        }
    }

    /// Counts a failure/slow verdict toward the window or the probes.
    #[inline]
    fn count(self: &Arc<Self>, t: Ticket, failure: bool, slow: bool, now: u64) {
        if t.kind() == TicketKind::Probe {
            return self.record_probe(t.generation(), failure, slow);
        }
        let w = self.word();
        if w.generation() != t.generation() {
            return; // from an earlier phase: it no longer counts
        }
        if let Some(counts) = self
            .window
            .record(&self.thresholds.read(), failure, slow, now)
        {
            if w.state() == CircuitState::Closed {
                self.transition_with(
                    t.generation(),
                    CircuitState::Closed,
                    CircuitState::Open,
                    Some(counts),
                );
            }
        }
    }

    fn release_probe(&self, generation: u32) {
        loop {
            let w = self.word();
            if w.generation() != generation || w.state() != CircuitState::HalfOpen {
                return;
            }
            if self.cas(w, w.release()) {
                return;
            }
        }
    }

    fn record_probe(self: &Arc<Self>, generation: u32, failure: bool, slow: bool) {
        let permitted = self.config().permitted_number_of_calls_in_half_open_state;
        let done = loop {
            let w = self.word();
            if w.generation() != generation || w.state() != CircuitState::HalfOpen {
                return;
            }
            let next = w.record(failure, slow);
            if self.cas(w, next) {
                break next;
            }
        };
        if done.recorded() < permitted {
            return;
        }
        let (calls, failed, slow) = (
            u64::from(done.recorded()),
            u64::from(done.failed()),
            u64::from(done.slow()),
        );
        let reopen = match self.config().window {
            SlidingWindow::ConsecutiveFailures(_) => failed > 0,
            _ => self.thresholds.read().rates_exceeded(calls, failed, slow),
        };
        if reopen {
            let counts = Counts {
                calls,
                failures: failed,
                slow,
            };
            self.transition_with(
                generation,
                CircuitState::HalfOpen,
                CircuitState::Open,
                Some(counts),
            );
        } else {
            self.transition(generation, CircuitState::HalfOpen, CircuitState::Closed);
        }
    }

    // ---- transitions (cold) ----------------------------------------------

    /// Moves `from` (in `generation`) to `to`; false if another transition
    /// got there first. Serialised by `lock`; listeners run after it.
    #[cold]
    pub(crate) fn transition(
        self: &Arc<Self>,
        generation: u32,
        from: CircuitState,
        to: CircuitState,
    ) -> bool {
        self.transition_with(generation, from, to, None)
    }

    /// [`transition`](Self::transition), for a move the rates of `tripped`
    /// decided: listeners hear which thresholds they crossed first, as
    /// resilience4j publishes `FailureRateExceeded` before the transition.
    #[cold]
    fn transition_with(
        self: &Arc<Self>,
        generation: u32,
        from: CircuitState,
        to: CircuitState,
        tripped: Option<Counts>,
    ) -> bool {
        let now = self.clock.now();
        {
            let _guard = self.lock.lock();
            let w = self.word();
            if w.generation() != generation || w.state() != from {
                return false;
            }
            self.leave(w);
            self.enter(to, now);
            self.publish(to);
        }
        if let Some(counts) = tripped {
            self.rates_exceeded_events(counts);
        }
        self.after_transition(from, to, now);
        true
    }

    /// The threshold events for the counts that tripped the breaker
    /// (none for the consecutive-failures model, which has no rates).
    fn rates_exceeded_events(&self, c: Counts) {
        if matches!(self.config().window, SlidingWindow::ConsecutiveFailures(_)) || c.calls == 0 {
            return;
        }
        let rate = |n: u64| (n as f64 * 100.0 / c.calls as f64) as f32;
        let cfg = self.config();
        if c.failures as f64 * 100.0 >= cfg.failure_rate_threshold * c.calls as f64 {
            self.emit(EventKind::FailureRateExceeded {
                failure_rate: rate(c.failures),
                calls: c.calls,
            });
        }
        if cfg.slow_call_duration_threshold.is_some()
            && c.slow as f64 * 100.0 >= cfg.slow_call_rate_threshold * c.calls as f64
        {
            self.emit(EventKind::SlowCallRateExceeded {
                slow_call_rate: rate(c.slow),
                calls: c.calls,
            });
        }
    }

    /// Opens the breaker for `wait` ns from now, whatever its state (by
    /// hand: resilience4j's `transitionToOpenStateFor`), or, with
    /// `only_extend`, because a dependency said when to come back: then
    /// only a breaker that calls pass (closed, half-open, open) moves, and
    /// an open one only ever waits longer.
    #[cold]
    pub(crate) fn open_for(self: &Arc<Self>, wait: u64, only_extend: bool) {
        let now = self.clock.now();
        let until = now.saturating_add(wait);
        let from = {
            let _guard = self.lock.lock();
            let w = self.word();
            let from = w.state();
            if only_extend {
                let open_longer =
                    from == CircuitState::Open && self.open_until.load(Ordering::Acquire) >= until;
                if open_longer
                    || matches!(
                        from,
                        CircuitState::ForcedOpen
                            | CircuitState::Disabled
                            | CircuitState::MetricsOnly
                    )
                {
                    return;
                }
            }
            self.leave(w);
            self.enter(CircuitState::Open, now);
            self.open_until.store(until, Ordering::Release);
            self.publish(CircuitState::Open);
            from
        };
        self.after_transition(from, CircuitState::Open, now);
    }

    /// Moves to `to` from whatever state the breaker is in (manual control).
    /// With `reset`, the window and the opening count are cleared too.
    #[cold]
    pub(crate) fn force(self: &Arc<Self>, to: CircuitState, reset: bool) {
        let now = self.clock.now();
        let from = {
            let _guard = self.lock.lock();
            let w = self.word();
            let from = w.state();
            if from == to && !reset {
                return;
            }
            self.leave(w);
            if reset {
                self.consecutive_openings.store(0, Ordering::Release);
                self.window.clear();
            }
            self.enter(to, now);
            self.publish(to);
            from
        };
        if reset {
            self.emit(EventKind::Reset);
        }
        if from != to {
            self.after_transition(from, to, now);
        }
    }

    /// Keeps what the phase ending with word `w` leaves behind: a half-open
    /// phase's probe counts, for the snapshot of the state after it.
    fn leave(&self, w: Word) {
        if w.state() == CircuitState::HalfOpen {
            self.last_probes.store(w.0, Ordering::Release);
        }
    }

    /// Prepares the side data of state `to` before the word publishes it.
    fn enter(&self, to: CircuitState, now: u64) {
        match to {
            CircuitState::Open => {
                let openings = self
                    .consecutive_openings
                    .fetch_add(1, Ordering::AcqRel)
                    .saturating_add(1);
                let wait = self
                    .config()
                    .wait_duration_in_open_state
                    .for_opening(openings);
                self.open_until
                    .store(now.saturating_add(nanos(wait)), Ordering::Release);
            }
            CircuitState::HalfOpen => self.half_open_since.store(now, Ordering::Release),
            CircuitState::Closed => {
                self.consecutive_openings.store(0, Ordering::Release);
                self.window.clear();
            }
            CircuitState::MetricsOnly => self.window.clear(),
            CircuitState::ForcedOpen | CircuitState::Disabled => {}
        }
    }

    /// Installs the next phase's word. Under the lock only probe counters can
    /// change the word concurrently, so the CAS loop ends quickly.
    fn publish(&self, to: CircuitState) {
        loop {
            let w = self.word();
            if self.cas(w, w.next(to)) {
                return;
            }
        }
    }

    fn after_transition(self: &Arc<Self>, from: CircuitState, to: CircuitState, now: u64) {
        self.transitions[to.index()].fetch_add(1, Ordering::Relaxed);
        self.emit(EventKind::StateTransition { from, to });
        if !self.config().automatic_transition_from_open_to_half_open {
            return;
        }
        let max_wait = self.config().max_wait_duration_in_half_open_state;
        match to {
            CircuitState::Open => {
                let wait = self.open_until.load(Ordering::Acquire).saturating_sub(now);
                self.schedule(wait, Core::automatic_half_open);
            }
            CircuitState::HalfOpen if max_wait > 0 => {
                self.schedule(max_wait, |core, generation| {
                    let w = core.word();
                    if w.state() == CircuitState::HalfOpen
                        && w.generation() == generation
                        && core.half_open_expired()
                    {
                        core.expire_half_open(generation);
                    }
                });
            }
            _ => {}
        }
    }

    /// Runs `then` on the breaker after `wait` ns, with the generation of
    /// the phase in force now (a tokio task, when built inside a runtime;
    /// `state()` observes the same moves without one).
    fn schedule(self: &Arc<Self>, wait: u64, then: fn(&Arc<Core>, u32)) {
        let generation = self.word().generation();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let weak = Arc::downgrade(self);
            rt.spawn(async move {
                tokio::time::sleep(Duration::from_nanos(wait)).await;
                if let Some(core) = weak.upgrade() {
                    then(&core, generation);
                }
            });
        }
    }

    /// The automatic Open → HalfOpen move, if its time has come.
    pub(crate) fn automatic_half_open(self: &Arc<Self>, generation: u32) {
        let w = self.word();
        if w.state() == CircuitState::Open
            && w.generation() == generation
            && self.clock.now() >= self.open_until.load(Ordering::Acquire)
        {
            self.transition(generation, CircuitState::Open, CircuitState::HalfOpen);
        }
    }

    // ---- telemetry --------------------------------------------------------

    pub(crate) fn emit(&self, kind: EventKind) {
        self.listeners
            .emit_now(Pattern::CircuitBreaker, &self.name, &self.clock, kind);
    }

    /// The counts a snapshot reports, and whether they are probes: the
    /// probes' in half-open and in an Open state the probes decided, the
    /// window's otherwise.
    pub(crate) fn counts(&self) -> (Counts, bool) {
        let w = self.word();
        let probes = match w.state() {
            CircuitState::HalfOpen => w,
            CircuitState::Open => {
                let last = Word(self.last_probes.load(Ordering::Acquire));
                if last.generation().wrapping_add(1) & GENERATION_MASK != w.generation()
                    || last.state() != CircuitState::HalfOpen
                {
                    return (self.window.counts(self.clock.now()), false);
                }
                last
            }
            _ => return (self.window.counts(self.clock.now()), false),
        };
        let counts = Counts {
            calls: u64::from(probes.recorded()),
            failures: u64::from(probes.failed()),
            slow: u64::from(probes.slow()),
        };
        (counts, true)
    }

    /// Remaining time in the open state, if open.
    pub(crate) fn remaining_open(&self) -> Option<Duration> {
        (self.word().state() == CircuitState::Open).then(|| {
            let until = self.open_until.load(Ordering::Acquire);
            Duration::from_nanos(until.saturating_sub(self.clock.now()))
        })
    }
}

#[inline]
fn tracing_wants_rejections() -> bool {
    #[cfg(feature = "tracing")]
    return tracing::enabled!(target: "seawall", tracing::Level::DEBUG);
    #[cfg(not(feature = "tracing"))]
    return false;
}
