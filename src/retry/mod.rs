//! Retries — work in progress (issue 6). What is here: backoff policies
//! (constant, linear, exponential, custom) and jitter (none, full, equal,
//! decorrelated) from a seedable generator, with exact sequences tested; and
//! the [`RetryBudget`] retries spend from; and the [`Retry`] primitive
//! (`retry.call(|attempt| async { .. })`) and its [`RetryLayer`]. Not built
//! yet: HTTP `Retry-After` and non-idempotent-request handling, a clone
//! function for requests that are not `Clone`, events and metrics, and a
//! bench against tower's `Retry`.

mod backoff;
mod budget;
mod layer;
mod primitive;

pub use self::backoff::{Backoff, Delays, Jitter};
pub use self::budget::{RetryBudget, FLOOR_PERIOD};
pub use self::layer::{ResponseFuture, RetryLayer, RetryService};
pub use self::primitive::{GaveUp, Retry, RetryBuilder, RetryError};
