//! Timeouts under paused tokio time.

use seawall::prelude::*;
use seawall::timeout::Timeout;
use std::future::pending;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

fn sleeper() -> impl Service<Duration, Response = Duration, Error = std::io::Error> + Clone {
    service_fn(|d: Duration| async move {
        tokio::time::sleep(d).await;
        Ok::<_, std::io::Error>(d)
    })
}

#[test]
fn invalid_config_names_the_field() {
    for d in [Duration::ZERO, Duration::from_secs(8 * 24 * 3600)] {
        assert_eq!(
            Timeout::builder("x")
                .duration(d)
                .build()
                .unwrap_err()
                .field(),
            "duration"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn fires_at_the_deadline_and_not_before() {
    let layer = Timeout::builder("db")
        .duration(Duration::from_millis(100))
        .build()
        .unwrap();
    let mut svc = layer.layer(sleeper());
    let ok = svc
        .ready()
        .await
        .unwrap()
        .call(Duration::from_millis(100) - Duration::from_nanos(1));
    assert!(ok.await.is_ok(), "just inside the deadline");
    let start = tokio::time::Instant::now();
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(start.elapsed(), Duration::from_millis(100));
    let r = seawall::rejection(&err).unwrap();
    assert_eq!((r.kind(), r.name()), (RejectionKind::Elapsed, "db"));
    assert_eq!(err.to_string(), "timeout `db` elapsed after 100ms");
    assert_eq!(layer.elapsed_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn per_request_timeouts() {
    // The request carries its own budget (as a deadline propagated from an
    // outer total timeout would); `None` means no timeout.
    let layer = Timeout::builder("per-request")
        .per_request(|d: &Duration| (*d > Duration::from_secs(1)).then_some(*d / 2));
    let mut svc = layer.layer(sleeper());
    assert!(svc
        .ready()
        .await
        .unwrap()
        .call(Duration::from_millis(900))
        .await
        .is_ok());
    let start = tokio::time::Instant::now();
    assert!(svc
        .ready()
        .await
        .unwrap()
        .call(Duration::from_secs(4))
        .await
        .is_err());
    assert_eq!(start.elapsed(), Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_timeout_counts_as_a_failure_to_an_enclosing_breaker() {
    let breaker = CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(4)
        .build()
        .unwrap();
    let hung = service_fn(|()| pending::<Result<(), std::io::Error>>());
    let mut svc = ServiceBuilder::new()
        .layer(breaker.layer())
        .layer(
            Timeout::builder("attempt")
                .duration(Duration::from_secs(1))
                .build()
                .unwrap(),
        )
        .service(hung);
    for _ in 0..4 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::Elapsed
        );
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(breaker.metrics().total_failures, 4);
}
