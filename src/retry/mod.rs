//! Retries — work in progress (issue 6). What is here: backoff policies
//! (constant, linear, exponential, custom) and jitter (none, full, equal,
//! decorrelated) from a seedable generator, with exact sequences tested; and
//! the [`RetryBudget`] retries spend from. The retry primitive and the tower
//! layer are not built yet.

mod backoff;
mod budget;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::budget::{RetryBudget, FLOOR_PERIOD};
