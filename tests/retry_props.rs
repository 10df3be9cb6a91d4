//! Property tests: the `Retry-After` parser and the retry's configuration
//! never panic, whatever they are given.
#![cfg(feature = "http")]

use proptest::prelude::*;
use seawall::http::parse_retry_after;
use seawall::retry::{Backoff, Jitter, Retry, RetryBudget};
use std::time::{Duration, SystemTime};

proptest! {
    #[test]
    fn retry_after_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64), now in any::<u32>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(now));
        let _ = parse_retry_after(&bytes, now);
    }

    #[test]
    fn delta_seconds_parse_exactly(secs in any::<u64>()) {
        prop_assert_eq!(
            parse_retry_after(secs.to_string().as_bytes(), SystemTime::UNIX_EPOCH),
            Some(Duration::from_secs(secs))
        );
    }

    #[test]
    fn no_retry_configuration_panics(
        attempts in any::<u32>(),
        base in any::<u64>(),
        cap in any::<u64>(),
        factor in any::<f64>(),
        ratio in any::<f64>(),
        floor in any::<u32>(),
        max in any::<u32>(),
        deadline in any::<u64>(),
        jitter in 0..4u8,
    ) {
        let jitter = [Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Decorrelated][jitter as usize];
        let mut b = Retry::builder("prop")
            .max_attempts(attempts)
            .backoff(Backoff::Exponential {
                initial: Duration::from_nanos(base),
                multiplier: factor,
                max: Duration::from_nanos(cap),
            })
            .jitter(jitter)
            .deadline(Duration::from_nanos(deadline));
        if let Ok(budget) = RetryBudget::new(ratio, floor, max) {
            b = b.budget(budget);
        }
        if let Ok(retry) = b.build() {
            // A built retry draws its delays without panicking either.
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
            let r = rt.block_on(retry.call(|_| async { Err::<(), _>(std::io::Error::other("x")) }));
            prop_assert!(r.is_err());
        }
    }
}
