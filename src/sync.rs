//! Atomics and locks used by the lock-free cores.
//!
//! Under `--cfg seawall_loom` these are loom's types so the models in
//! `tests/loom.rs` explore every interleaving; otherwise they are std's atomics
//! and a `parking_lot` mutex. Nothing outside the crate sees this module.

#[cfg(seawall_loom)]
pub(crate) use loom::sync::atomic::fence;
#[cfg(seawall_loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};
#[cfg(not(seawall_loom))]
pub(crate) use std::sync::atomic::fence;
#[cfg(not(seawall_loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicU8, AtomicUsize,
};

pub(crate) use std::sync::atomic::Ordering;

/// A mutex for cold paths (state transitions, window rotation).
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(seawall_loom))] parking_lot::Mutex<T>,
    #[cfg(seawall_loom)] loom::sync::Mutex<T>,
);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(not(seawall_loom))]
        return Self(parking_lot::Mutex::new(value));
        #[cfg(seawall_loom)]
        return Self(loom::sync::Mutex::new(value));
    }

    #[cfg(not(seawall_loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }

    /// The lock if free now: for work any caller may do, so none waits.
    #[cfg(not(seawall_loom))]
    pub(crate) fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        self.0.try_lock()
    }

    /// The lock if free now: for work any caller may do, so none waits.
    #[cfg(seawall_loom)]
    pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        self.0.try_lock().ok()
    }

    #[cfg(seawall_loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        // A poisoned lock only means a listener panicked elsewhere; the data
        // it guards is `()` or plain counters, so carry on.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps a hot atomic on its own cache line (128 bytes covers the adjacent-line
/// prefetcher on x86 and the 128-byte lines of Apple silicon), so counters
/// written by different threads, and the `Arc` refcount every future touches,
/// do not false-share.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A duration changed at run time (a reconfiguration) and read where a
/// call waits or is timed: one relaxed load, nanoseconds to ~584 years.
#[derive(Debug, Default)]
pub(crate) struct AtomicDuration(AtomicU64);

impl AtomicDuration {
    pub(crate) fn new(d: std::time::Duration) -> Self {
        Self(AtomicU64::new(crate::clock::nanos(d)))
    }

    #[inline]
    pub(crate) fn get(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.load(Ordering::Relaxed))
    }

    /// Sets `d`, returning what it replaced.
    pub(crate) fn set(&self, d: std::time::Duration) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.swap(crate::clock::nanos(d), Ordering::Relaxed))
    }
}
