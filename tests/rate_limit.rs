//! Rate limiters: GCRA and sliding window, direct and keyed, with
//! `ManualClock` and paused tokio time.

use proptest::prelude::*;
use seawall::prelude::*;
use seawall::rate_limit::{KeyedLimitError, LimitError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, Layer, Service, ServiceExt};

mod support;

const MS: Duration = Duration::from_millis(1);

fn gcra(clock: &ManualClock, count: u32, per: Duration, burst: u32) -> RateLimiter {
    RateLimiter::builder("gcra")
        .rate(count, per)
        .burst(burst)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn invalid_config_names_the_field() {
    let b = || RateLimiter::builder("x");
    let cases = [
        (b().rate(0, Duration::from_secs(1)), "rate"),
        (b().rate(1, Duration::ZERO), "rate"),
        (b().rate(1_000_000, Duration::from_micros(1)), "rate"),
        (b().rate(1, Duration::from_secs(10_000_000)), "rate"),
        (b().burst(0), "burst"),
        (b().burst(u32::MAX), "burst"),
        (
            b().sliding_window(0, Duration::from_secs(1)),
            "sliding_window",
        ),
        (b().sliding_window(10, Duration::ZERO), "sliding_window"),
        (
            b().sliding_window(u32::MAX, Duration::from_secs(1)),
            "sliding_window",
        ),
        (b().max_wait(Duration::from_secs(86_401)), "max_wait"),
    ];
    for (builder, field) in cases {
        let err = builder.build().expect_err(field);
        assert_eq!(err.field(), field, "{err}");
    }
    let err = b().max_keys(0).build_keyed::<u64>().unwrap_err();
    assert_eq!(err.field(), "max_keys");
}

#[test]
fn burst_then_steady_rate_with_exact_retry_after() {
    let clock = ManualClock::new();
    let l = gcra(&clock, 10, Duration::from_secs(1), 5);
    for _ in 0..5 {
        l.try_acquire().unwrap();
    }
    let e = l.try_acquire().unwrap_err();
    assert_eq!(e.retry_after(), Some(100 * MS));
    assert_eq!(e.name(), "gcra");
    clock.advance(99 * MS);
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(MS));
    clock.advance(MS);
    l.try_acquire().unwrap();
    let m = l.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (6, 2));
}

#[test]
fn weighted_requests_and_requests_that_can_never_fit() {
    let clock = ManualClock::new();
    let l = gcra(&clock, 10, Duration::from_secs(1), 5);
    l.try_acquire_n(4).unwrap();
    match l.try_acquire_n(3) {
        Err(LimitError::Limited(e)) => assert_eq!(e.retry_after(), Some(200 * MS)),
        other => panic!("{other:?}"),
    }
    match l.try_acquire_n(6) {
        Err(LimitError::Capacity(c)) => assert_eq!((c.requested, c.capacity), (6, 5)),
        other => panic!("{other:?}"),
    }
    // Both refusals are counted, the one that can never fit included.
    let m = l.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (1, 2));
}

#[test]
fn set_rate_keeps_tokens_already_taken() {
    let clock = ManualClock::new();
    let l = gcra(&clock, 10, Duration::from_secs(1), 4);
    for _ in 0..4 {
        l.try_acquire().unwrap();
    }
    // Twice as fast: the 4 spent tokens now take 200 ms, not 400 ms, to refill.
    l.set_rate(20, Duration::from_secs(1), None).unwrap();
    assert_eq!(l.try_acquire().unwrap_err().retry_after(), Some(50 * MS));
    clock.advance(200 * MS);
    for _ in 0..4 {
        l.try_acquire().unwrap();
    }
    assert!(l.try_acquire().is_err(), "burst kept at 4");
    assert_eq!(
        l.set_rate(0, Duration::from_secs(1), None)
            .unwrap_err()
            .field(),
        "rate"
    );
}

#[test]
fn sliding_window_limits_and_tells_when() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("sw")
        .sliding_window(4, Duration::from_secs(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    for _ in 0..4 {
        l.try_acquire().unwrap();
    }
    let wait = l.try_acquire().unwrap_err().retry_after().unwrap();
    // Next window starts in 1 s, and 4 of the previous window's weight must
    // slide out to 3: another 250 ms.
    assert_eq!(wait, Duration::from_millis(1250));
    clock.advance(wait);
    l.try_acquire().unwrap();
}

/// A reference token bucket: credit in nanoseconds, capacity burst·T.
struct Bucket {
    t: u64,
    burst: u64,
    credit: u64,
    last: u64,
}

impl Bucket {
    fn admit(&mut self, now: u64, n: u64) -> Result<(), u64> {
        self.credit = (self.credit + (now - self.last)).min(self.burst * self.t);
        self.last = now;
        if self.credit >= n * self.t {
            self.credit -= n * self.t;
            Ok(())
        } else {
            Err(n * self.t - self.credit)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// GCRA admits exactly what a reference token bucket admits, says the
    /// same retry_after, and never more than burst + rate·t in any interval t.
    #[test]
    fn gcra_matches_a_token_bucket_and_its_interval_bound(
        t in 1u64..1_000,
        burst in 1u32..8,
        arrivals in proptest::collection::vec((0u64..3_000, 1u32..4), 1..80),
    ) {
        let clock = ManualClock::new();
        let l = RateLimiter::builder("p")
            .rate(1, Duration::from_nanos(t))
            .burst(burst)
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut model = Bucket { t, burst: burst.into(), credit: u64::from(burst) * t, last: 0 };
        let mut admitted: Vec<(u64, u64)> = Vec::new();
        let mut now = 0;
        for (gap, n) in arrivals {
            clock.advance(Duration::from_nanos(gap));
            now += gap;
            let real = l.try_acquire_n(n);
            let expected = if n > burst { None } else { Some(model.admit(now, n.into())) };
            match (real, expected) {
                (Ok(()), Some(Ok(()))) => admitted.push((now, n.into())),
                (Err(LimitError::Limited(e)), Some(Err(wait))) => {
                    prop_assert_eq!(e.retry_after(), Some(Duration::from_nanos(wait)));
                }
                (Err(LimitError::Capacity(_)), None) => {}
                (real, expected) => prop_assert!(false, "at {}: {:?} vs model {:?}", now, real, expected),
            }
        }
        for i in 0..admitted.len() {
            let mut tokens = 0;
            for j in i..admitted.len() {
                tokens += admitted[j].1;
                let span = admitted[j].0 - admitted[i].0;
                prop_assert!(tokens * t <= u64::from(burst) * t + span, "{} tokens in {} ns", tokens, span);
            }
        }
    }

    /// The sliding window admits at most `limit` per fixed window and at most
    /// `2·limit − 1` in any interval of one window's length (its documented
    /// bound against an exact sliding log).
    #[test]
    fn sliding_window_stays_within_its_documented_bound(
        limit in 1u32..10,
        arrivals in proptest::collection::vec(0u64..400, 1..150),
    ) {
        const W: u64 = 1_000;
        let clock = ManualClock::new();
        let l = RateLimiter::builder("p")
            .sliding_window(limit, Duration::from_nanos(W))
            .clock(clock.clone())
            .build()
            .unwrap();
        let mut admitted = Vec::new();
        let mut now = 0;
        for gap in arrivals {
            clock.advance(Duration::from_nanos(gap));
            now += gap;
            if l.try_acquire().is_ok() {
                admitted.push(now);
            }
        }
        for (i, &start) in admitted.iter().enumerate() {
            let fixed = admitted.iter().filter(|&&a| a / W == start / W).count();
            prop_assert!(fixed <= limit as usize);
            let sliding = admitted[i..].iter().take_while(|&&a| a < start + W).count();
            prop_assert!(sliding < 2 * limit as usize, "{} in one window of limit {}", sliding, limit);
        }
    }
}

#[test]
fn keyed_limits_are_independent_per_key() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("keyed")
        .rate(1, Duration::from_secs(1))
        .burst(2)
        .clock(clock.clone())
        .build_keyed::<&'static str>()
        .unwrap();
    l.try_acquire(&"a").unwrap();
    l.try_acquire(&"a").unwrap();
    assert!(matches!(
        l.try_acquire(&"a"),
        Err(KeyedLimitError::Limit(LimitError::Limited(_)))
    ));
    l.try_acquire(&"b").unwrap();
    l.try_acquire(&"b").unwrap();
    assert_eq!(l.len(), 2);
    assert_eq!(l.metrics().permitted_calls, 4);
}

/// Four threads take tokens for the same 20,000 keys (new keys insert and
/// grow the shard tables while other threads look keys up): with the
/// clock stopped every key admits exactly its burst, however the calls
/// interleave.
#[test]
fn keyed_counts_are_exact_across_threads_while_tables_grow() {
    const KEYS: u64 = 20_000;
    const BURST: u32 = 3;
    let clock = ManualClock::new();
    let l = RateLimiter::builder("keyed-threads")
        .rate(1, Duration::from_secs(60))
        .burst(BURST)
        .max_keys(KEYS as usize)
        .clock(clock)
        .build_keyed::<u64>()
        .unwrap();
    // All walk the keys in one order, twice, so they race to insert the
    // same new keys.
    let admitted = support::on_threads(4, |_| {
        (0..2 * KEYS)
            .filter(|i| l.try_acquire(&(i % KEYS)).is_ok())
            .count() as u64
    });
    assert_eq!(admitted.iter().sum::<u64>(), KEYS * u64::from(BURST));
    assert_eq!(l.len(), KEYS as usize);
    for key in 0..KEYS {
        assert!(l.try_acquire(&key).is_err(), "key {key} had tokens left");
    }
    let m = l.metrics();
    assert_eq!(m.permitted_calls, KEYS * u64::from(BURST));
    assert_eq!(
        m.rejected_calls,
        4 * 2 * KEYS - KEYS * u64::from(BURST) + KEYS
    );
}

/// Threads racing to insert the same new keys into a map with room for
/// exactly those keys: none is refused as "map full" (a key another thread
/// is inserting is not a second key), and every refusal is counted.
#[test]
fn racing_inserts_of_one_key_never_fill_the_map() {
    const KEYS: u64 = 8;
    const THREADS: u64 = 4;
    for round in 0..2000 {
        let l = RateLimiter::builder("keyed-full")
            .rate(1, Duration::from_secs(60))
            .burst(1)
            .max_keys(KEYS as usize)
            .clock(ManualClock::new())
            .build_keyed::<u64>()
            .unwrap();
        let results: Vec<_> = support::on_threads(THREADS as usize, |_| {
            (0..KEYS).map(|key| l.try_acquire(&key)).collect::<Vec<_>>()
        })
        .into_iter()
        .flatten()
        .collect();
        let admitted = results.iter().filter(|r| r.is_ok()).count() as u64;
        let full = results
            .iter()
            .filter(|r| matches!(r, Err(KeyedLimitError::KeyLimitReached(_))))
            .count();
        assert_eq!(full, 0, "round {round}: a key that fits was refused");
        assert_eq!(admitted, KEYS, "round {round}");
        let m = l.metrics();
        assert_eq!(m.permitted_calls, KEYS, "round {round}");
        assert_eq!(m.rejected_calls, (THREADS - 1) * KEYS, "round {round}");
        // A ninth key is refused, and counted as refused.
        assert!(matches!(
            l.try_acquire(&KEYS),
            Err(KeyedLimitError::KeyLimitReached(_))
        ));
        assert_eq!(l.metrics().rejected_calls, (THREADS - 1) * KEYS + 1);
    }
}

/// A full map of idle keys, and threads inserting new keys that fit once
/// the idle ones are evicted: however the threads' evictions interleave,
/// no new key is refused as "map full".
#[test]
fn concurrent_evictions_never_refuse_a_key_that_fits() {
    const KEYS: u64 = 64;
    const THREADS: u64 = 4;
    for round in 0..1000 {
        let clock = ManualClock::new();
        let l = RateLimiter::builder("keyed-evict")
            .rate(1, Duration::from_secs(1))
            .burst(1)
            .max_keys(KEYS as usize)
            .clock(clock.clone())
            .build_keyed::<u64>()
            .unwrap();
        for key in 0..KEYS {
            l.try_acquire(&key).unwrap();
        }
        clock.advance(Duration::from_secs(1)); // every key idle again
                                               // Each thread its own new keys, KEYS in all.
        let refused: usize = support::on_threads(THREADS as usize, |t| {
            let first = KEYS * (1 + t as u64);
            (first..first + KEYS / THREADS)
                .filter(|key| l.try_acquire(key).is_err())
                .count()
        })
        .into_iter()
        .sum();
        assert_eq!(refused, 0, "round {round}");
        assert_eq!(l.len(), KEYS as usize, "round {round}");
        assert_eq!(l.metrics().evicted_keys, KEYS, "round {round}");
    }
}

#[test]
fn eviction_never_frees_a_key_that_is_still_limited() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("evict")
        .rate(1, Duration::from_secs(1))
        .burst(2)
        .max_keys(2)
        .clock(clock.clone())
        .build_keyed::<u32>()
        .unwrap();
    for key in [1, 2] {
        l.try_acquire_n(&key, 2).unwrap();
    }
    // Full of limited keys: a new key is refused rather than evicting one.
    let err = l.try_acquire(&3).unwrap_err();
    assert!(matches!(err, KeyedLimitError::KeyLimitReached(_)), "{err}");
    assert!(
        l.try_acquire(&1).is_err(),
        "key 1 was not reset by the churn"
    );
    // Key 1 and 2 refill fully after 2 s; then they are idle and evictable.
    clock.advance(Duration::from_millis(1999));
    assert!(l.try_acquire(&3).is_err());
    clock.advance(MS);
    l.try_acquire(&3).unwrap();
    assert_eq!(l.metrics().evicted_keys, 2);
    assert_eq!(l.len(), 1);
    l.try_acquire_n(&3, 1).unwrap();
    assert!(l.try_acquire(&3).is_err());
    // Churning other keys through while 3 is limited does not reset 3: the
    // free slot goes to key 10, then new keys are refused, not made room for.
    l.try_acquire(&10).unwrap();
    for key in 11..20 {
        assert!(matches!(
            l.try_acquire(&key),
            Err(KeyedLimitError::KeyLimitReached(_))
        ));
    }
    assert!(
        matches!(l.try_acquire(&3), Err(KeyedLimitError::Limit(_))),
        "still limited after churn"
    );
}

#[test]
fn keyed_sliding_window_and_set_rate() {
    let clock = ManualClock::new();
    let l = RateLimiter::builder("ksw")
        .sliding_window(2, Duration::from_secs(1))
        .clock(clock.clone())
        .build_keyed::<u8>()
        .unwrap();
    l.try_acquire(&1).unwrap();
    l.try_acquire(&1).unwrap();
    assert!(l.try_acquire(&1).is_err());
    l.set_rate(3, Duration::from_secs(1), None).unwrap();
    l.try_acquire(&1).unwrap();
    assert!(
        l.try_acquire(&1).is_err(),
        "the two already counted stay counted"
    );
}

#[test]
fn keyed_footprint_is_reported() {
    let l = RateLimiter::builder("mem").build_keyed::<u64>().unwrap();
    for k in 0..10_000u64 {
        l.try_acquire(&k).unwrap();
    }
    let per_key = l.memory_bytes() as f64 / 10_000.0;
    // 8-byte key + 8-byte hash + 8-byte state + control byte, at the map's
    // load factor: well under 64 bytes.
    assert!(per_key <= 64.0, "{per_key} bytes per key");
}

#[tokio::test(start_paused = true)]
async fn rejecting_layer_answers_rate_limited() {
    let l = RateLimiter::builder("layer")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .build()
        .unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    let mut svc = l.layer().layer(service_fn(move |()| {
        h.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, std::io::Error>(()) }
    }));
    svc.ready().await.unwrap().call(()).await.unwrap();
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    let r = seawall::rejection(&err).unwrap();
    assert_eq!(r.kind(), RejectionKind::RateLimited);
    assert_eq!(r.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_layer_sleeps_exactly_to_the_slot_and_gives_up_beyond_max_wait() {
    let l = RateLimiter::builder("wait")
        .rate(10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_millis(250))
        .build()
        .unwrap();
    let svc = l.waiting_layer().layer(service_fn(|()| async {
        Ok::<_, std::io::Error>(tokio::time::Instant::now())
    }));
    let start = tokio::time::Instant::now();
    let calls: Vec<_> = (0..4)
        .map(|_| tokio::spawn(svc.clone().oneshot(())))
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    // Three go at 0, 100 and 200 ms; the fourth would need 300 ms > 250 ms
    // and is refused.
    let mut times: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|t| *t - start)
        .collect();
    times.sort();
    assert_eq!(times, vec![Duration::ZERO, 100 * MS, 200 * MS]);
    let err = results
        .into_iter()
        .find_map(Result::err)
        .expect("one refused");
    assert_eq!(
        seawall::rejection(&err).unwrap().kind(),
        RejectionKind::RateLimited
    );
    let m = l.metrics();
    assert_eq!(
        (m.permitted_calls, m.waited_calls, m.rejected_calls),
        (3, 2, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_consumes_nothing() {
    let l = RateLimiter::builder("drop")
        .rate(10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut svc = l
        .waiting_layer()
        .layer(service_fn(|()| async { Ok::<_, std::io::Error>(()) }));
    svc.ready().await.unwrap().call(()).await.unwrap();
    {
        let waiter = svc.ready().await.unwrap().call(());
        let _ = tokio::time::timeout(50 * MS, waiter)
            .await
            .expect_err("still waiting");
    }
    // At 100 ms exactly one token is back, and it is ours, not the dropped waiter's.
    tokio::time::sleep(50 * MS).await;
    l.try_acquire().expect("the dropped waiter took nothing");
}

#[tokio::test(start_paused = true)]
async fn primitive_acquire_waits_then_refuses_what_never_fits() {
    let l = RateLimiter::builder("prim")
        .rate(2, Duration::from_secs(1))
        .burst(2)
        .max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = tokio::time::Instant::now();
    l.acquire_n(2).await.unwrap();
    l.acquire_n(2).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert!(matches!(l.acquire_n(3).await, Err(LimitError::Capacity(_))));
    let m = l.metrics();
    assert_eq!(
        (m.permitted_calls, m.waited_calls, m.rejected_calls),
        (2, 1, 1)
    );
}

#[tokio::test(start_paused = true)]
async fn a_wait_is_bounded_even_when_the_limiter_clock_does_not_move() {
    // A ManualClock nobody advances: the limiter never sees time pass, but
    // the wait still ends at max_wait instead of sleeping forever.
    let l = RateLimiter::builder("stuck")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(3))
        .clock(ManualClock::new())
        .build()
        .unwrap();
    l.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    assert!(matches!(l.acquire_n(1).await, Err(LimitError::Limited(_))));
    assert!(start.elapsed() <= Duration::from_secs(3));
}
