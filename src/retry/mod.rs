//! Retries — work in progress (issue 6). What is here: backoff policies
//! (constant, linear, exponential, custom) and jitter (none, full, equal,
//! decorrelated) from a seedable generator, with exact sequences tested.
//! The retry primitive, budget and tower layer are not built yet.

mod backoff;

pub use self::backoff::{Backoff, Delays, Jitter};
