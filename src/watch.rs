//! What one pattern reads of another it follows — a breaker's state, a
//! bulkhead's occupancy — without either importing the other: the followed
//! pattern hands out a [`Watch`] (its name and a cheap read of the value),
//! and the follower keeps it. A degradation switch follows a breaker this
//! way; so can your own code.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::watch::{Occupancy, Watch, Watchable};
//!
//! # fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder("payments").build()?;
//! let state: Watch<CircuitState> = breaker.watch();
//! breaker.force_open();
//! assert_eq!((state.name(), state.read()), ("payments", CircuitState::ForcedOpen));
//!
//! let bulkhead = Bulkhead::builder("reports").max_concurrent_calls(4).build()?;
//! let occupancy: Watch<Occupancy> = bulkhead.watch();
//! let _permit = bulkhead.try_acquire()?;
//! assert_eq!(occupancy.read(), Occupancy { in_flight: 1, max: 4 });
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;

/// A named value read on demand from a running pattern: a cheap `Clone`
/// handle that keeps what it reads alive.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::watch::{Watch, Watchable};
///
/// # fn main() -> Result<(), ConfigError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// let state: Watch<CircuitState> = breaker.watch();
/// breaker.force_open();
/// assert_eq!(state.read(), CircuitState::ForcedOpen);
/// # Ok(()) }
/// ```
pub struct Watch<T> {
    name: Arc<str>,
    read: Arc<dyn Fn() -> T + Send + Sync>,
}

impl<T> Watch<T> {
    /// A watch of `read`, named `name` (the watched instance's name).
    pub fn new(name: Arc<str>, read: impl Fn() -> T + Send + Sync + 'static) -> Self {
        Self {
            name,
            read: Arc::new(read),
        }
    }

    /// The watched instance's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value now.
    #[inline]
    pub fn read(&self) -> T {
        (self.read)()
    }
}

impl<T> Clone for Watch<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            read: self.read.clone(),
        }
    }
}

impl<T> fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("name", &self.name).finish()
    }
}

/// A pattern whose `T` can be watched: `CircuitBreaker` gives its
/// [`CircuitState`](crate::telemetry::CircuitState), `Bulkhead` its
/// [`Occupancy`].
///
/// ```
/// use seawall::prelude::*;
/// use seawall::watch::{Watch, Watchable};
///
/// // A follower takes anything it can watch, not a concrete pattern.
/// fn report(what: &impl Watchable<CircuitState>) -> String {
///     let w: Watch<CircuitState> = what.watch();
///     format!("{} is {}", w.name(), w.read().as_str())
/// }
/// # fn main() -> Result<(), ConfigError> {
/// let breaker = CircuitBreaker::builder("payments").build()?;
/// assert_eq!(report(&breaker), "payments is closed");
/// # Ok(()) }
/// ```
pub trait Watchable<T> {
    /// A watch of this instance's `T`.
    fn watch(&self) -> Watch<T>;
}

/// How full a concurrency limit is.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::watch::{Occupancy, Watchable};
///
/// # fn main() -> Result<(), BoxError> {
/// let bulkhead = Bulkhead::builder("reports").max_concurrent_calls(2).build()?;
/// let _slot = bulkhead.try_acquire()?;
/// assert_eq!(bulkhead.watch().read(), Occupancy { in_flight: 1, max: 2 });
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Occupancy {
    /// Calls in flight.
    pub in_flight: usize,
    /// The most allowed at once.
    pub max: usize,
}
