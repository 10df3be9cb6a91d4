//! Deadlines in request extensions and the degraded marker (feature `http`).
#![cfg(feature = "http")]

use seawall::fallback::{Failed, Fallback};
use seawall::http::{is_degraded, mark_degraded, Deadline, DeadlineLayer};
use seawall::timeout::Timeout;
use std::time::Duration;
use tokio::time::Instant;
use tower::{service_fn, ServiceBuilder, ServiceExt};

fn sleeper() -> impl tower::Service<
    http::Request<Duration>,
    Response = http::Response<()>,
    Error = std::io::Error,
> + Clone {
    service_fn(|req: http::Request<Duration>| async move {
        tokio::time::sleep(*req.body()).await;
        Ok::<_, std::io::Error>(http::Response::new(()))
    })
}

#[tokio::test(start_paused = true)]
async fn an_outer_budget_shortens_inner_timeouts_and_an_earlier_deadline_wins() {
    let inner = Timeout::builder("attempt")
        .duration(Duration::from_secs(5))
        .build()
        .unwrap()
        .within_deadline();
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::from_secs(3)))
        .layer(inner)
        .service(sleeper());

    // No deadline yet: the budget sets one 3 s out, shorter than the 5 s attempt.
    let start = Instant::now();
    assert!(svc
        .clone()
        .oneshot(http::Request::new(Duration::from_secs(60)))
        .await
        .is_err());
    assert_eq!(start.elapsed(), Duration::from_secs(3));

    // A caller's earlier deadline (1 s) is kept, not extended to 3 s.
    let mut req = http::Request::new(Duration::from_secs(60));
    req.extensions_mut()
        .insert(Deadline(Instant::now() + Duration::from_secs(1)));
    let start = Instant::now();
    assert!(svc.clone().oneshot(req).await.is_err());
    assert_eq!(start.elapsed(), Duration::from_secs(1));

    // Within the budget the call succeeds.
    assert!(svc
        .oneshot(http::Request::new(Duration::from_millis(500)))
        .await
        .is_ok());
}

#[tokio::test(start_paused = true)]
async fn an_unbounded_budget_is_taken_as_the_longest_timeout_not_a_panic() {
    let svc = ServiceBuilder::new()
        .layer(DeadlineLayer::new(Duration::MAX))
        .service(service_fn(|req: http::Request<()>| async move {
            Ok::<_, std::io::Error>(Deadline::of(&req).map(|d| d.remaining()))
        }));
    let left = svc.oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(left, Some(seawall::timeout::MAX_TIMEOUT));
}

#[tokio::test]
async fn a_fallback_answer_is_marked_degraded() {
    let failing = service_fn(|_: ()| async {
        Err::<http::Response<&'static str>, _>(std::io::Error::other("down"))
    });
    let svc = ServiceBuilder::new()
        .layer(
            Fallback::builder("page").from_fn(|_: Failed<http::Response<&'static str>>| {
                Ok(mark_degraded(http::Response::new("cached page")))
            }),
        )
        .service(failing);
    let res = svc.oneshot(()).await.unwrap();
    assert!(is_degraded(&res));
    assert_eq!(*res.body(), "cached page");
    assert!(!is_degraded(&http::Response::new(())));
}
