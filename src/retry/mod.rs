//! Retries — work in progress (issue 6). What is here: backoff policies
//! (constant, linear, exponential, custom) and jitter (none, full, equal,
//! decorrelated) from a seedable generator, with exact sequences tested; and
//! the [`RetryBudget`] retries spend from; and the [`Retry`] primitive
//! (`retry.call(|attempt| async { .. })`). The tower layer, request cloning
//! helpers, HTTP `Retry-After` parsing, events and metrics are not built yet.

mod backoff;
mod budget;
mod primitive;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::budget::{RetryBudget, FLOOR_PERIOD};
pub use self::primitive::{GaveUp, Retry, RetryBuilder, RetryError};
