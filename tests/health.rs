//! Health and readiness follow a breaker (open, half-open, closed), an SLO
//! (a page alert, then recovery) and your own checks (failing, timing out),
//! and `/health/live` and `/health/ready` answer over real HTTP on
//! 127.0.0.1 with the right codes.

use seawall::health::{Criticality, HealthRegistry, HealthState};
use seawall::prelude::*;
use seawall::slo::Slo;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

mod support;

#[tokio::test(start_paused = true)]
async fn readiness_follows_a_critical_breaker_and_an_optional_one() {
    let clock = ManualClock::new();
    let breaker = |name| {
        CircuitBreaker::builder(name)
            .sliding_window(SlidingWindow::count(4))
            .minimum_number_of_calls(4)
            .wait_duration_in_open_state(Duration::from_secs(10))
            .automatic_transition_from_open_to_half_open(true)
            .clock(clock.clone())
            .build()
            .unwrap()
    };
    let (database, recommendations) = (breaker("database"), breaker("recommendations"));
    let changes = Arc::new(Mutex::new(Vec::new()));
    let c = changes.clone();
    let health = HealthRegistry::new()
        .breaker("database", &database, Criticality::Critical)
        .breaker("recommendations", &recommendations, Criticality::Optional)
        .on_event(move |e| {
            if let EventKind::ReadinessChanged { ready, .. } = e.kind {
                c.lock().unwrap().push(ready);
            }
        });
    let r = health.report().await;
    assert!(r.ready && r.live);
    assert_eq!(r.status, HealthState::Up);
    // The optional dependency fails: degraded, still ready.
    support::record(&recommendations, &[Outcome::Failure; 4]);
    let r = health.report().await;
    assert!(r.ready);
    assert_eq!(r.status, HealthState::Degraded);
    assert_eq!(r.components[1].reason, "circuit open");
    // The critical one fails: not ready.
    support::record(&database, &[Outcome::Failure; 4]);
    let r = health.report().await;
    assert!(!r.ready && r.live);
    assert_eq!(r.status, HealthState::Down);
    // Its wait over, it probes: half-open is degraded but ready.
    clock.advance(Duration::from_secs(10));
    let r = health.report().await;
    assert!(r.ready);
    assert_eq!(r.components[0].state, HealthState::Degraded);
    assert_eq!(r.components[0].reason, "circuit half-open: probing");
    // Its probes succeed: closed, up.
    support::record(&database, &[Outcome::Success; 10]);
    support::record(&recommendations, &[Outcome::Success; 10]);
    let r = health.report().await;
    assert_eq!((r.ready, r.status), (true, HealthState::Up), "{r:?}");
    // Each readiness change once: ready, not ready, ready.
    assert_eq!(*changes.lock().unwrap(), [true, false, true]);
}

#[tokio::test(start_paused = true)]
async fn an_slo_paging_degrades_and_its_recovery_clears_it() {
    let clock = ManualClock::new();
    let slo = Slo::builder("checkout")
        .clock(clock.clone())
        .build()
        .unwrap();
    let health = HealthRegistry::new().slo(&slo);
    let second = |good: bool| {
        for _ in 0..10 {
            slo.record(
                if good {
                    Outcome::Success
                } else {
                    Outcome::Failure
                },
                Duration::ZERO,
            );
        }
        clock.advance(Duration::from_secs(1));
        slo.evaluate();
    };
    (0..3600).for_each(|_| second(true));
    assert_eq!(health.report().await.status, HealthState::Up);
    (0..60).for_each(|_| second(false));
    let r = health.report().await;
    assert_eq!((r.ready, r.status), (true, HealthState::Degraded));
    // Both page alerts fired; the slower one's 30 min window clears last.
    (0..1700).for_each(|_| second(true));
    assert_eq!(health.report().await.status, HealthState::Degraded);
    (0..200).for_each(|_| second(true));
    assert_eq!(health.report().await.status, HealthState::Up);
}

#[tokio::test(start_paused = true)]
async fn shedding_and_limiting_are_degraded_until_they_stop() {
    let bulkhead = seawall::bulkhead::Bulkhead::builder("api")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let limiter = RateLimiter::builder("api")
        .rate(1, Duration::from_secs(3600))
        .build()
        .unwrap();
    let health = HealthRegistry::new()
        .bulkhead("api", &bulkhead)
        .rate_limiter("api", &limiter);
    let _held = bulkhead.try_acquire().unwrap();
    assert!(bulkhead.try_acquire().is_err());
    limiter.try_acquire().unwrap();
    assert!(limiter.try_acquire().is_err());
    let r = health.report().await;
    assert_eq!((r.ready, r.status), (true, HealthState::Degraded));
    assert_eq!(r.components[0].reason, "shedding: 1 calls refused");
    assert_eq!(r.components[1].reason, "limiting: 1 calls refused");
    // Nothing refused since: up again.
    assert_eq!(health.report().await.status, HealthState::Up);
}

#[tokio::test(start_paused = true)]
async fn your_checks_count_as_their_criticality_says() {
    let db_up = Arc::new(AtomicBool::new(true));
    let up = db_up.clone();
    let health = HealthRegistry::new()
        .check(
            "database",
            Criticality::Critical,
            Duration::from_secs(1),
            move || {
                let up = up.load(Ordering::SeqCst);
                async move {
                    if up {
                        Ok(())
                    } else {
                        Err("connection refused".to_owned())
                    }
                }
            },
        )
        .check(
            "cache",
            Criticality::Optional,
            Duration::from_secs(1),
            || async {
                tokio::time::sleep(Duration::from_secs(5)).await; // hangs
                Ok(())
            },
        )
        .liveness_check("event loop", Duration::from_secs(1), || async { Ok(()) });
    let r = health.report().await;
    assert!(r.ready && r.live);
    assert_eq!(r.components[1].reason, "timed out after 1s");
    assert_eq!(r.status, HealthState::Degraded);
    db_up.store(false, Ordering::SeqCst);
    let r = health.report().await;
    assert!(!r.ready && r.live);
    assert_eq!(r.components[0].reason, "connection refused");
}

#[tokio::test]
async fn the_endpoints_answer_over_http() {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let database = CircuitBreaker::builder("database").build().unwrap();
    let health = HealthRegistry::new().breaker("database", &database, Criticality::Critical);
    let service = health.http_service();
    let addr = support::serve_on_thread(move |_| {
        let service = service.clone();
        move |req: http::Request<hyper::body::Incoming>| {
            let service = service.clone();
            async move { service.oneshot(req).await.unwrap() }
        }
    });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let get = |path: &str| {
        let client = client.clone();
        let uri: http::Uri = format!("http://{addr}{path}").parse().unwrap();
        async move {
            let res = client.get(uri).await.unwrap();
            let (parts, body) = res.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            (
                parts,
                serde_json::from_slice::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (parts, json) = get("/health/ready").await;
    assert_eq!(parts.status, 200);
    assert_eq!(parts.headers["cache-control"], "no-store");
    assert_eq!(parts.headers["content-type"], "application/json");
    assert_eq!(json["ready"], true);
    database.force_open();
    let (parts, json) = get("/health/ready").await;
    assert_eq!(parts.status, 503);
    assert_eq!(json["components"][0]["reason"], "circuit forced open");
    assert_eq!(json["status"], "down");
    let (parts, json) = get("/health/live").await;
    assert_eq!(
        (parts.status.as_u16(), &json["live"]),
        (200, &serde_json::Value::Bool(true))
    );
    let (parts, _) = get("/elsewhere").await;
    assert_eq!(parts.status, 404);
}
