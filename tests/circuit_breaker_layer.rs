//! The breaker as a tower layer, under paused tokio time.

use seawall::prelude::*;
use std::future::pending;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, Layer, Service, ServiceBuilder, ServiceExt};

fn counted_service(
    hits: Arc<AtomicUsize>,
    status: u16,
) -> impl Service<
    (),
    Response = u16,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = Result<u16, std::io::Error>> + Send,
> + Clone {
    service_fn(move |()| {
        hits.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<u16, std::io::Error>(status) }
    })
}

fn by_status(r: &Result<u16, std::io::Error>) -> Outcome {
    match r {
        Ok(s) if *s >= 500 => Outcome::Failure,
        Ok(s) if *s >= 400 => Outcome::Ignored,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

fn builder(name: &str) -> seawall::CircuitBreakerBuilder {
    CircuitBreaker::builder(name)
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(4)
        .wait_duration_in_open_state(Duration::from_secs(5))
        .permitted_number_of_calls_in_half_open_state(1)
}

#[tokio::test(start_paused = true)]
async fn typed_classification_opens_and_rejections_never_reach_the_service() {
    let breaker = builder("typed").classify(by_status).build().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let mut svc = breaker.layer().layer(counted_service(hits.clone(), 503));
    for _ in 0..4 {
        // The typed 503 passes through as a response, but counts as a failure.
        assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), 503);
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
    let r = seawall::rejection(&err).unwrap();
    assert_eq!((r.kind(), r.name()), (RejectionKind::CircuitOpen, "typed"));
    assert_eq!(r.retry_after(), Some(Duration::from_secs(5)));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "the rejected call never reached the service"
    );
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_ignored_by_the_classifier() {
    let breaker = builder("ignored").classify(by_status).build().unwrap();
    let mut svc = breaker.layer().layer(counted_service(Arc::default(), 404));
    for _ in 0..20 {
        svc.ready().await.unwrap().call(()).await.unwrap();
    }
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(breaker.metrics().total_ignored, 20);
}

#[tokio::test(start_paused = true)]
async fn every_service_of_a_layer_shares_one_breaker() {
    let breaker = builder("shared").classify(by_status).build().unwrap();
    let layer = breaker.layer();
    let mut a = layer.layer(counted_service(Arc::default(), 500));
    let mut b = layer.clone().layer(counted_service(Arc::default(), 500));
    let mut c = a.clone();
    for _ in 0..2 {
        a.ready().await.unwrap().call(()).await.unwrap();
    }
    b.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Closed);
    c.ready().await.unwrap().call(()).await.unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    assert_eq!(a.handle().state(), CircuitState::Open);
    assert!(layer.handle().try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_dropped_response_future_returns_its_half_open_slot() {
    let breaker = builder("dropped").classify(by_status).build().unwrap();
    breaker.half_open();
    let slow = service_fn(|()| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<u16, std::io::Error>(200)
    });
    let mut svc = breaker.layer().layer(slow);
    let in_flight = svc.ready().await.unwrap().call(());
    // The only probe slot is taken: the next call is rejected at once.
    assert!(svc.ready().await.unwrap().call(()).await.is_err());
    drop(in_flight);
    let probe = svc.ready().await.unwrap().call(());
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(probe.await.unwrap(), 200);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_classifier_that_panics_does_not_keep_the_half_open_slot() {
    let breaker = builder("panicky")
        .classify(|r: &Result<u16, std::io::Error>| match r {
            Ok(418) => panic!("classifier bug"),
            _ => by_status(r),
        })
        .build()
        .unwrap();
    breaker.half_open();
    let teapot = breaker
        .layer()
        .layer(counted_service(Arc::new(AtomicUsize::new(0)), 418));
    let probe = tokio::spawn(teapot.oneshot(()));
    assert!(probe.await.unwrap_err().is_panic());
    // The probe's slot came back (counted as cancelled): the next probe runs.
    let hits = Arc::new(AtomicUsize::new(0));
    let fine = breaker.layer().layer(counted_service(hits.clone(), 200));
    assert_eq!(fine.oneshot(()).await.unwrap(), 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(breaker.state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_hung_dependency_behind_an_outer_timeout_trips_the_breaker() {
    let breaker = builder("hung")
        .slow_call_duration_threshold(Duration::from_millis(500))
        .slow_call_rate_threshold(100.0)
        .build()
        .unwrap();
    let hung = service_fn(|()| pending::<Result<u16, std::io::Error>>());
    let mut svc = ServiceBuilder::new()
        .timeout(Duration::from_secs(1))
        .layer(breaker.layer())
        .service(hung);
    for _ in 0..4 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert!(err.is::<tower::timeout::error::Elapsed>());
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    let m = breaker.metrics();
    assert_eq!((m.total_cancelled, m.total_slow), (4, 4));
}

#[tokio::test(start_paused = true)]
async fn the_default_classifier_ignores_an_inner_breakers_rejection() {
    // An inner breaker that is forced open rejects every call; the outer
    // breaker must not count those local rejections against the dependency.
    let inner = builder("inner").build().unwrap();
    inner.force_open();
    let outer = builder("outer").build().unwrap();
    let mut svc = ServiceBuilder::new()
        .layer(outer.layer())
        .layer(inner.layer())
        .service(counted_service(Arc::default(), 200));
    for _ in 0..10 {
        let err = svc.ready().await.unwrap().call(()).await.unwrap_err();
        assert_eq!(seawall::rejection(&err).unwrap().name(), "inner");
    }
    assert_eq!(outer.state(), CircuitState::Closed);
    assert_eq!(outer.metrics().total_ignored, 10);
}

#[tokio::test(start_paused = true)]
async fn poll_ready_forwards_the_inner_services_readiness() {
    let breaker = builder("ready").build().unwrap();
    let (inner, mut handle) = tower_test_like();
    let mut svc = breaker.layer().layer(inner);
    handle.allow(0);
    let ready = tokio::time::timeout(Duration::from_secs(1), svc.ready()).await;
    assert!(ready.is_err(), "not ready while the inner service is not");
    handle.allow(1);
    svc.ready().await.unwrap();
}

/// A tiny service whose readiness the test controls (a concurrency limit
/// whose permits the test hands out).
fn tower_test_like() -> (
    tower::limit::ConcurrencyLimit<impl Service<(), Response = (), Error = std::io::Error> + Clone>,
    Allow,
) {
    let sem = Arc::new(tokio::sync::Semaphore::new(0));
    let svc = service_fn(|()| async { Ok::<(), std::io::Error>(()) });
    (
        tower::limit::ConcurrencyLimit::with_semaphore(svc, sem.clone()),
        Allow(sem),
    )
}

struct Allow(Arc<tokio::sync::Semaphore>);
impl Allow {
    fn allow(&mut self, n: usize) {
        self.0.add_permits(n);
    }
}
