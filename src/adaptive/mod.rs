//! Adapting to what is measured rather than to a number set once:
//! client-side adaptive throttling ([`AdaptiveThrottle`], the Google SRE
//! book's "Handling Overload"): a client whose dependency refuses calls
//! drops some of its own calls locally, in proportion.
//!
//! Over a rolling window (2 minutes by default) the client counts
//! `requests` (every call it was asked to make, those it dropped
//! included) and `accepts` (calls the dependency answered without
//! refusing: by the classifier, not a `Failure`). Each call is dropped
//! with probability
//!
//! ```text
//! p = max(0, (requests − K·accepts) / (requests + 1)),  at most max_reject
//! ```
//!
//! With `K = 2` (the book's default) the client lets through about twice
//! what the dependency accepts: while it accepts everything, `p` is 0;
//! when it accepts nothing, `p` climbs towards `max_reject` (0.9 here:
//! one call in ten still probes, so recovery is seen). Lower `K` is more
//! aggressive.
//!
//! grpc-go's RLS throttler is a variant: `(requests − 2·accepts) /
//! (requests + 8)` over 30 s kept in 100 bins, with no cap — slower to
//! start dropping (the `+ 8`) and quicker to forget. Here the window is
//! kept in 20 bins; a bin older than the window counts for nothing.
//!
//! Draws are reproducible: the `n`-th call of a throttle built with
//! `.seed(s)` draws the same number every run (a counter through
//! SplitMix64), so tests can count drops exactly.

mod throttle;

pub use self::throttle::{
    AdaptiveThrottle, AdaptiveThrottleBuilder, AdaptiveThrottleLayer, AdaptiveThrottleService,
    ThrottleFuture, Ticket,
};
