//! Fleet-wide limits against a real `redis-server` on 127.0.0.1: four
//! instances sharing one key admit no more than the GCRA allows over any
//! interval (checked on Redis's own timestamps); keys expire when full;
//! `SCRIPT FLUSH` is recovered through `NOSCRIPT`; a killed server switches
//! each degraded mode with no call hanging, and a restarted one recovers;
//! refusals remembered locally keep a flood from reaching Redis; bad input
//! gives clear errors.
#![cfg(feature = "redis")]

use seawall::prelude::*;
use seawall::redis::{Degraded, Redis, RedisLimitError, RedisRateLimiter, MAX_KEY_LEN};
use std::sync::{Arc, Mutex};

#[path = "support/redis.rs"]
mod redis_server;
use redis_server::RedisServer;

fn limiter(url: &str, name: &str, count: u32, per: Duration, burst: u32) -> RedisRateLimiter {
    RateLimiter::builder(name)
        .rate(count, per)
        .burst(burst)
        .build_on_redis(&Redis::connect(url).unwrap())
        .unwrap()
        .timeout(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_admit_no_more_than_the_gcra_allows() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // 100 a second (T = 10 ms), a burst of 10, shared by four "processes".
    let (t_us, burst) = (10_000u64, 10u64);
    let instances: Vec<_> = (0..4)
        .map(|_| limiter(&server.url(), "shared", 100, Duration::from_secs(1), 10))
        .collect();
    let admitted = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = tokio::task::JoinSet::new();
    for l in instances {
        let admitted = admitted.clone();
        tasks.spawn(async move {
            for _ in 0..150 {
                let (ok, _, at) = l.decide_on_redis("k").await.expect("redis answers");
                if ok {
                    admitted.lock().unwrap().push(at);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut at = admitted.lock().unwrap().clone();
    at.sort();
    assert!(at.len() as u64 > burst, "some admitted: {}", at.len());
    // Over every interval between two admissions: at most burst + elapsed / T.
    for i in 0..at.len() {
        for j in i..at.len() {
            let allowed = burst + (at[j] - at[i]) / t_us;
            assert!(
                (j - i + 1) as u64 <= allowed,
                "{} admitted in {} µs (at most {allowed})",
                j - i + 1,
                at[j] - at[i]
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_are_batched_and_admitted_exactly_the_burst() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // One a minute, a burst of 25: nothing refills during the test, so
    // exactly the burst is admitted however the calls are batched.
    let l = limiter(&server.url(), "batched", 1, Duration::from_secs(60), 25);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..400u32 {
        let l = l.clone();
        tasks.spawn(async move {
            match i % 4 {
                // The direct limit, one call and weighted calls of 3.
                0 => u32::from(l.try_acquire().await.is_ok()),
                1 => 3 * u32::from(l.try_acquire_n(3).await.is_ok()),
                // Two keys, each its own burst.
                k => u32::from(l.try_acquire_key(&format!("key-{k}")).await.is_ok()) << (8 * k),
            }
        });
    }
    let mut admitted = [0u32; 4];
    while let Some(a) = tasks.join_next().await {
        let a = a.unwrap();
        admitted[0] += a & 0xff;
        admitted[2] += (a >> 16) & 0xff;
        admitted[3] += a >> 24;
    }
    // The direct limit: 1s and 3s filling 25 with nothing spilling over.
    assert!(
        (23..=25).contains(&admitted[0]),
        "direct: {} of a burst of 25",
        admitted[0]
    );
    assert_eq!(admitted[2], 25, "key-2");
    assert_eq!(admitted[3], 25, "key-3");
    assert_eq!(l.breaker().metrics().total_failures, 0);
    // Fewer Redis calls than decisions: calls that came together went together.
    assert!(l.redis_calls() < 200, "{} Redis calls", l.redis_calls());
}

#[tokio::test]
async fn retry_after_is_exact_for_weighted_calls() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // One a second, a burst of 2: two calls empty it.
    let l = limiter(&server.url(), "weighted", 1, Duration::from_secs(1), 2);
    l.try_acquire_n(2).await.unwrap();
    let retry = |e| match e {
        seawall::rate_limit::LimitError::Limited(l) => seawall::Rejection::retry_after(&l).unwrap(),
        other => panic!("{other:?}"),
    };
    // One call conforms in 1 s, two in 2 s (less what the calls took).
    let one = retry(l.try_acquire_n(1).await.unwrap_err());
    let two = retry(l.try_acquire_n(2).await.unwrap_err());
    assert!(
        one <= Duration::from_secs(1) && one > Duration::from_millis(900),
        "{one:?}"
    );
    assert!(
        two <= Duration::from_secs(2) && two > Duration::from_millis(1900),
        "{two:?}"
    );
    // Refused from what Redis said: no further call went to it.
    assert_eq!(l.redis_calls(), 1);
}

#[tokio::test]
async fn keys_expire_when_full_and_script_flush_is_recovered() {
    use redis::AsyncCommands;
    let Some(server) = RedisServer::start() else {
        return;
    };
    let mut raw = server.raw().await;
    // T = 100 ms: one call leaves the key for at most 100 ms.
    let l = limiter(&server.url(), "expiring", 10, Duration::from_secs(1), 5);
    l.try_acquire_key("tenant-a").await.unwrap();
    let key = "{seawall:expiring:tenant-a}";
    let ttl: i64 = raw.pttl(key).await.unwrap();
    assert!((1..=100).contains(&ttl), "pttl {ttl}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let exists: bool = raw.exists(key).await.unwrap();
    assert!(!exists, "full again: gone");
    // Redis loses its scripts: the next call loads it again.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    l.try_acquire_key("tenant-a").await.unwrap();
    assert_eq!(l.breaker().metrics().total_failures, 0);
}

#[tokio::test]
async fn a_flood_is_refused_locally_after_redis_says_when() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    // 20 a second, burst 2; a flood of 200 calls a second for one second.
    let l = limiter(&server.url(), "flooded", 20, Duration::from_secs(1), 2);
    let mut admitted = 0u64;
    let start = tokio::time::Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        if l.try_acquire().await.is_ok() {
            admitted += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let calls = l.redis_calls();
    assert!(admitted >= 10, "{admitted}");
    assert!(
        calls as f64 <= 1.1 * admitted as f64 + 2.0,
        "{calls} Redis calls for {admitted} admitted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_redis_is_decided_as_configured_and_recovered() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let redis = Redis::connect(&server.url()).unwrap();
    let make = |name: &str, mode| {
        let e = e.clone();
        RateLimiter::builder(name)
            .rate(4, Duration::from_secs(1))
            .burst(4)
            .on_event(move |ev| {
                if let EventKind::FleetLimitDegraded { degraded, .. } = ev.kind {
                    e.lock().unwrap().push(degraded);
                }
            })
            .build_on_redis(&redis)
            .unwrap()
            .timeout(Duration::from_millis(100))
            .degraded(mode)
    };
    let open = make("open", Degraded::FailOpen);
    let closed = make("closed", Degraded::FailClosed);
    let local = make("local", Degraded::Local { fleet_size: 4 });
    for l in [&open, &closed, &local] {
        l.try_acquire().await.unwrap();
    }
    server.stop();
    // No call hangs: each answers within its timeout (and 2 s of slack).
    let within = |f| async move {
        tokio::time::timeout(Duration::from_secs(2), f)
            .await
            .expect("no call hangs past its timeout")
    };
    for _ in 0..3 {
        assert!(within(open.try_acquire()).await.is_ok());
        assert!(within(closed.try_acquire()).await.is_err());
    }
    // The local share: 4 / 4 a second, a burst of 4 / 4 = 1.
    assert!(within(local.try_acquire()).await.is_ok());
    assert!(within(local.try_acquire()).await.is_err());
    assert!(events.lock().unwrap().iter().filter(|d| **d).count() >= 3);
    // Health reports it.
    let health = seawall::health::HealthRegistry::new().fleet_limiter("limits", &closed);
    let r = health.report().await;
    assert_eq!(
        (r.ready, r.status),
        (true, seawall::health::HealthState::Degraded)
    );
    server.restart();
    // Once its breaker lets a call through again, Redis decides.
    let recovered = async {
        loop {
            if closed.try_acquire().await.is_ok()
                && closed.breaker().state() == CircuitState::Closed
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), recovered)
        .await
        .expect("recovers after a restart");
    assert!(events.lock().unwrap().contains(&false), "a recovery event");
    assert_eq!(
        health.report().await.status,
        seawall::health::HealthState::Up
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_error() {
    let field = |r: Result<RedisRateLimiter, ConfigError>| r.unwrap_err().field();
    let redis = Redis::connect("redis://127.0.0.1:1/").unwrap(); // lazy: no I/O
    assert_eq!(
        field(
            RateLimiter::builder("z")
                .rate(0, Duration::from_secs(1))
                .build_on_redis(&redis)
        ),
        "rate"
    );
    assert_eq!(
        field(RateLimiter::builder("z").burst(0).build_on_redis(&redis)),
        "burst"
    );
    assert_eq!(
        field(
            RateLimiter::builder("z")
                .sliding_window(5, Duration::from_secs(1))
                .build_on_redis(&redis)
        ),
        "sliding_window"
    );
    assert_eq!(Redis::connect("not a url").unwrap_err().field(), "url");
    let l = RateLimiter::builder("z").build_on_redis(&redis).unwrap();
    let long = "k".repeat(MAX_KEY_LEN + 1);
    assert!(matches!(
        l.try_acquire_key(&long).await,
        Err(RedisLimitError::KeyTooLong { len }) if len == MAX_KEY_LEN + 1
    ));
    // Unreachable: decided as configured (fail open), quickly.
    assert!(l.try_acquire().await.is_ok());
    assert!(matches!(
        l.try_acquire_n(1000).await,
        Err(seawall::rate_limit::LimitError::Capacity(_))
    ));
}

#[test]
fn connecting_outside_a_runtime_does_not_panic() {
    // Built in plain `main` before the runtime starts, as apps often do.
    let redis = Redis::connect("redis://127.0.0.1:1/").unwrap();
    let l = RateLimiter::builder("early")
        .build_on_redis(&redis)
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(
        rt.block_on(l.try_acquire()).is_ok(),
        "unreachable: fail open"
    );
}

#[tokio::test]
async fn the_waiting_layer_waits_for_the_fleets_limit() {
    use tower::{service_fn, Layer, ServiceExt};
    let Some(server) = RedisServer::start() else {
        return;
    };
    // 10 a second, a burst of 1, waits of up to 1 s.
    let l = RateLimiter::builder("waiting")
        .rate(10, Duration::from_secs(1))
        .burst(1)
        .max_wait(Duration::from_secs(1))
        .build_on_redis(&Redis::connect(&server.url()).unwrap())
        .unwrap();
    let svc = l
        .waiting_layer()
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    for n in 0..5 {
        assert_eq!(
            svc.clone().oneshot(n).await.unwrap(),
            n,
            "waited, not refused"
        );
    }
    assert!(
        l.acquire_n(2).await.is_err(),
        "more than the burst: refused at once"
    );
}

#[tokio::test]
async fn the_keyed_layer_limits_each_key_and_exempts_or_fails_as_told() {
    use tower::{service_fn, Layer, ServiceExt};
    let Some(server) = RedisServer::start() else {
        return;
    };
    // One a minute per tenant, a burst of 1.
    let l = limiter(&server.url(), "tenants", 1, Duration::from_secs(60), 1);
    // (tenant, n): no tenant is exempt; tenant "" is refused.
    let svc = l
        .keyed_layer(|req: &(Option<&'static str>, u32)| match req.0 {
            Some("") => Err("no tenant"),
            Some(t) => Ok(Some(t.to_owned())),
            None => Ok(None),
        })
        .layer(service_fn(|req: (Option<&'static str>, u32)| async move {
            Ok::<_, BoxError>(req.1)
        }));
    assert_eq!(svc.clone().oneshot((Some("a"), 1)).await.unwrap(), 1);
    let refused = svc.clone().oneshot((Some("a"), 2)).await.unwrap_err();
    assert_eq!(
        seawall::rejection(&refused).map(|r| r.kind()),
        Some(RejectionKind::RateLimited)
    );
    assert_eq!(svc.clone().oneshot((Some("b"), 3)).await.unwrap(), 3);
    for n in 4..8 {
        assert_eq!(svc.clone().oneshot((None, n)).await.unwrap(), n, "exempt");
    }
    let failed = svc.oneshot((Some(""), 9)).await.unwrap_err();
    assert_eq!(failed.to_string(), "no tenant");
    assert_eq!(
        l.redis_calls(),
        2,
        "exempt and failed calls never reach Redis"
    );
}
