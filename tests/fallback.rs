//! Fallbacks answer exactly the failures their predicate selects.

use seawall::fallback::{Failed, Fallback};
use seawall::prelude::*;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

fn flaky() -> impl Service<i32, Response = i32, Error = std::io::Error> + Clone {
    // Negative requests fail; 0 answers with a "503"; others echo.
    service_fn(|x: i32| async move {
        match x {
            x if x < 0 => Err(std::io::Error::other("boom")),
            0 => Ok(503),
            x => Ok(x),
        }
    })
}

#[tokio::test]
async fn a_value_answers_errors_and_successes_pass_untouched() {
    let layer = Fallback::builder("value").value(-1);
    let mut svc = layer.layer(flaky());
    assert_eq!(svc.ready().await.unwrap().call(5).await.unwrap(), 5);
    assert_eq!(svc.ready().await.unwrap().call(-5).await.unwrap(), -1);
    assert_eq!(
        svc.ready().await.unwrap().call(0).await.unwrap(),
        503,
        "responses succeed by default"
    );
    assert_eq!(layer.answered_calls(), 1);
}

#[tokio::test]
async fn responses_the_classifier_fails_are_answered_too() {
    let layer = Fallback::builder("responses")
        .classify_responses(|r: &i32| {
            if *r == 503 {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        })
        .from_fn(|failed: Failed<i32>| match failed {
            Failed::Response(code) => Ok(1000 + code),
            Failed::Error(e) => Err(e),
        });
    let mut svc = layer.layer(flaky());
    assert_eq!(svc.ready().await.unwrap().call(0).await.unwrap(), 1503);
    assert_eq!(
        svc.ready()
            .await
            .unwrap()
            .call(-1)
            .await
            .unwrap_err()
            .to_string(),
        "boom"
    );
    assert_eq!(svc.ready().await.unwrap().call(7).await.unwrap(), 7);
}

#[tokio::test]
async fn the_predicate_selects_what_is_answered() {
    // Answer only seawall rejections (a local decision), not dependency errors.
    let breaker = CircuitBreaker::builder("dep").build().unwrap();
    let layer = Fallback::builder("rejections")
        .when(|f: &Failed<i32>| f.rejection().is_some())
        .value(42);
    let mut svc = ServiceBuilder::new()
        .layer(layer.clone())
        .layer(breaker.layer())
        .service(flaky());
    assert_eq!(
        svc.ready()
            .await
            .unwrap()
            .call(-1)
            .await
            .unwrap_err()
            .to_string(),
        "boom"
    );
    breaker.force_open();
    assert_eq!(svc.ready().await.unwrap().call(-1).await.unwrap(), 42);
    assert_eq!(
        svc.ready().await.unwrap().call(9).await.unwrap(),
        42,
        "open: answered without calling"
    );
    assert_eq!(layer.answered_calls(), 2);
}

#[tokio::test]
async fn an_async_fallback_gets_the_request() {
    let layer = Fallback::builder("async").from_async(|req: i32, failed: Failed<i32>| async move {
        assert!(matches!(failed, Failed::Error(_)));
        Ok::<_, BoxError>(req * 100)
    });
    let mut svc = layer.layer(flaky());
    assert_eq!(svc.ready().await.unwrap().call(-3).await.unwrap(), -300);
    assert_eq!(svc.ready().await.unwrap().call(3).await.unwrap(), 3);
}

#[tokio::test]
async fn a_failing_fallback_reports_its_own_error() {
    let layer =
        Fallback::builder("fails").from_fn(|_: Failed<i32>| Err("fallback also down".into()));
    let err = layer.layer(flaky()).oneshot(-1).await.unwrap_err();
    assert_eq!(err.to_string(), "fallback also down");
}

mod degradation {
    use super::*;
    use seawall::fallback::{DegradationSwitch, FeatureState};
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn the_switch_follows_a_breaker_through_open_and_close_and_routes_calls() {
        let breaker = CircuitBreaker::builder("recommender")
            .failure_rate_threshold(100.0)
            .sliding_window(SlidingWindow::count(2))
            .minimum_number_of_calls(2)
            .wait_duration_in_open_state(Duration::from_secs(10))
            .permitted_number_of_calls_in_half_open_state(1)
            .build()
            .unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let e2 = events.clone();
        let switch = DegradationSwitch::builder("storefront")
            .on_event(move |e| {
                if let EventKind::FeatureChanged {
                    feature,
                    from,
                    to,
                    reason,
                } = &e.kind
                {
                    e2.lock()
                        .unwrap()
                        .push((feature.to_string(), *from, *to, reason.to_string()));
                }
            })
            .build();
        let recs = switch.feature("recommendations").follow_breaker(&breaker);
        let mut svc = ServiceBuilder::new()
            .layer(recs.layer(|_: i32| async { Ok::<i32, BoxError>(0) }))
            .layer(breaker.layer())
            .service(flaky());

        assert_eq!(
            svc.ready().await.unwrap().call(5).await.unwrap(),
            5,
            "enabled: the normal path"
        );
        for _ in 0..2 {
            svc.ready().await.unwrap().call(-1).await.unwrap_err();
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        assert_eq!(
            svc.ready().await.unwrap().call(5).await.unwrap(),
            0,
            "degraded: the degraded path"
        );
        assert_eq!(recs.state(), FeatureState::Degraded);

        recs.set(FeatureState::Disabled, "kill switch");
        let err = svc.ready().await.unwrap().call(5).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::FeatureDisabled
        );
        recs.clear_override("back on");

        tokio::time::advance(Duration::from_secs(10)).await;
        breaker.half_open();
        breaker.try_acquire().unwrap().record(Outcome::Success);
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(
            svc.ready().await.unwrap().call(5).await.unwrap(),
            5,
            "enabled again"
        );

        use FeatureState::*;
        let seen: Vec<_> = events
            .lock()
            .unwrap()
            .iter()
            .map(|(f, a, b, _)| (f.clone(), *a, *b))
            .collect();
        let r = |a, b| ("recommendations".to_string(), a, b);
        assert_eq!(
            seen,
            vec![
                r(Enabled, Degraded),
                r(Degraded, Disabled),
                r(Disabled, Degraded),
                r(Degraded, Enabled)
            ]
        );
        let reasons: Vec<_> = events.lock().unwrap().iter().map(|e| e.3.clone()).collect();
        assert_eq!(reasons[0], "breaker `recommender` is open");
        assert_eq!(reasons[1], "set by hand: kill switch");
        assert_eq!(reasons[3], "breaker `recommender` is closed");
    }

    #[test]
    fn a_feature_can_follow_bulkhead_saturation() {
        let bulkhead = Bulkhead::builder("search")
            .max_concurrent_calls(4)
            .build()
            .unwrap();
        let switch = DegradationSwitch::builder("s").build();
        let search = switch.feature("search").follow_bulkhead(&bulkhead, 0.75);
        let held: Vec<_> = (0..2).map(|_| bulkhead.try_acquire().unwrap()).collect();
        assert_eq!(search.state(), FeatureState::Enabled);
        let more = bulkhead.try_acquire().unwrap();
        assert_eq!(search.state(), FeatureState::Degraded);
        drop((held, more));
        assert_eq!(search.state(), FeatureState::Enabled);
        assert_eq!(
            switch.states(),
            vec![("search".to_string(), FeatureState::Enabled)]
        );
    }
}

mod infallible {
    use super::*;
    use std::convert::Infallible;
    use std::task::{Context, Poll};

    /// A service that cannot become ready.
    #[derive(Clone)]
    struct Broken;
    impl Service<i32> for Broken {
        type Response = i32;
        type Error = std::io::Error;
        type Future = std::future::Ready<Result<i32, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Err(std::io::Error::other("not ready")))
        }
        fn call(&mut self, _: i32) -> Self::Future {
            unreachable!("never ready, never called")
        }
    }

    #[tokio::test]
    async fn always_answers_errors_failed_responses_and_readiness_failures() {
        let answer = |f: Failed<i32>| match f {
            Failed::Response(r) => -r,
            Failed::Error(e) if e.to_string() == "not ready" => -2,
            Failed::Error(_) => -1,
        };
        let layer = Fallback::builder("always")
            .classify_responses(|r: &i32| {
                if *r == 503 {
                    Outcome::Failure
                } else {
                    Outcome::Success
                }
            })
            .always(answer);
        let mut svc = layer.layer(flaky());
        let r: Result<i32, Infallible> = svc.ready().await.unwrap().call(-5).await;
        assert_eq!(r.unwrap(), -1);
        assert_eq!(svc.ready().await.unwrap().call(0).await.unwrap(), -503);
        assert_eq!(svc.ready().await.unwrap().call(4).await.unwrap(), 4);
        let mut broken = layer.layer(Broken);
        assert_eq!(broken.ready().await.unwrap().call(1).await.unwrap(), -2);
    }
}
