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
