//! The breaker's state word.
//!
//! One `AtomicU64` holds everything a call's admission depends on:
//!
//! ```text
//!  63          43 42   33 32   23 22   13 12    3 2   0
//! +--------------+-------+-------+-------+-------+-----+
//! |  generation  | slow  | fails |recorded|admitted|state|
//! +--------------+-------+-------+-------+-------+-----+
//! ```
//!
//! `state` is the [`CircuitState`]; the four 10-bit counters are used in
//! half-open only (probes admitted and not yet returned, probes recorded,
//! failed and slow probes). Every transition bumps the 21-bit generation
//! (wrapping after two million transitions), and a permit remembers the
//! generation it was issued in: a permit from an earlier phase can neither
//! return a half-open slot nor decide a transition.

use super::CircuitState;

const STATE_BITS: u32 = 3;
const COUNTER_BITS: u32 = 10;
const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;
const ADMITTED: u32 = STATE_BITS;
const RECORDED: u32 = ADMITTED + COUNTER_BITS;
const FAILED: u32 = RECORDED + COUNTER_BITS;
const SLOW: u32 = FAILED + COUNTER_BITS;
const GENERATION: u32 = SLOW + COUNTER_BITS;
pub(crate) const GENERATION_MASK: u32 = (1 << (64 - GENERATION)) - 1;

/// A decoded view of the state word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word(pub(crate) u64);

impl Word {
    /// A fresh word for `state` in `generation`, all counters zero.
    pub(crate) fn new(state: CircuitState, generation: u32) -> Self {
        Word(state as u64 | u64::from(generation & GENERATION_MASK) << GENERATION)
    }

    #[inline]
    pub(crate) fn state(self) -> CircuitState {
        CircuitState::ALL[(self.0 & 0b111) as usize]
    }

    #[inline]
    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GENERATION) as u32
    }

    fn field(self, shift: u32) -> u32 {
        ((self.0 >> shift) & COUNTER_MASK) as u32
    }

    pub(crate) fn admitted(self) -> u32 {
        self.field(ADMITTED)
    }
    pub(crate) fn recorded(self) -> u32 {
        self.field(RECORDED)
    }
    pub(crate) fn failed(self) -> u32 {
        self.field(FAILED)
    }
    pub(crate) fn slow(self) -> u32 {
        self.field(SLOW)
    }

    /// One more probe admitted. The caller checks `admitted < permitted ≤ 1023`.
    pub(crate) fn admit(self) -> Self {
        Word(self.0 + (1 << ADMITTED))
    }

    /// A probe gave its slot back unrecorded.
    pub(crate) fn release(self) -> Self {
        debug_assert!(self.admitted() > 0);
        Word(self.0 - (1 << ADMITTED))
    }

    /// A probe recorded its outcome; its slot stays taken.
    pub(crate) fn record(self, failed: bool, slow: bool) -> Self {
        Word(self.0 + (1 << RECORDED) + (u64::from(failed) << FAILED) + (u64::from(slow) << SLOW))
    }

    /// The word of the next phase.
    pub(crate) fn next(self, state: CircuitState) -> Self {
        Word::new(state, self.generation().wrapping_add(1))
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let w = Word::new(CircuitState::HalfOpen, GENERATION_MASK);
        let mut x = w;
        for _ in 0..1023 {
            x = x.admit().record(true, true);
        }
        assert_eq!(x.state(), CircuitState::HalfOpen);
        assert_eq!(x.generation(), GENERATION_MASK);
        assert_eq!(
            (x.admitted(), x.recorded(), x.failed(), x.slow()),
            (1023, 1023, 1023, 1023)
        );
        assert_eq!(x.release().admitted(), 1022);
        // The generation wraps instead of overflowing into nothing.
        assert_eq!(w.next(CircuitState::Open).generation(), 0);
    }
}
