//! The breaker guarding a real hyper client against a real HTTP server on
//! 127.0.0.1 that fails on purpose.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use seawall::circuit_breaker::CircuitBreakerService;
use seawall::prelude::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{Layer, Service, ServiceExt};

#[derive(Default)]
struct Backend {
    failing: AtomicBool,
    hits: AtomicUsize,
}

async fn serve(backend: Arc<Backend>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let backend = backend.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let backend = backend.clone();
                    async move {
                        backend.hits.fetch_add(1, Ordering::SeqCst);
                        let status = if backend.failing.load(Ordering::SeqCst) {
                            StatusCode::INTERNAL_SERVER_ERROR
                        } else {
                            StatusCode::OK
                        };
                        let mut res = Response::new(Full::new(Bytes::from_static(b"hi")));
                        *res.status_mut() = status;
                        Ok::<_, std::convert::Infallible>(res)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

fn server_errors(r: &Result<Response<Incoming>, hyper_util::client::legacy::Error>) -> Outcome {
    match r {
        Ok(res) if res.status().is_server_error() => Outcome::Failure,
        Ok(_) => Outcome::Success,
        Err(_) => Outcome::Failure,
    }
}

#[tokio::test]
async fn breaker_opens_rejects_half_opens_and_closes_against_a_real_server() {
    let backend = Arc::new(Backend::default());
    let addr = serve(backend.clone()).await;
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("backend")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(5)
        .failure_rate_threshold(50.0)
        .wait_duration_in_open_state(Duration::from_secs(30))
        .permitted_number_of_calls_in_half_open_state(2)
        .clock(clock.clone())
        .classify(server_errors)
        .build()
        .unwrap();
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut svc = breaker.layer().layer(client);
    let uri = format!("http://{addr}/");
    let get = async |svc: &mut CircuitBreakerService<_, _>| -> Result<StatusCode, BoxError> {
        let req = Request::get(&uri).body(Empty::<Bytes>::new()).unwrap();
        let res: Response<Incoming> = svc.ready().await?.call(req).await?;
        let status = res.status();
        res.into_body().collect().await?;
        Ok(status)
    };

    assert_eq!(get(&mut svc).await.unwrap(), StatusCode::OK);
    backend.failing.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(
            get(&mut svc).await.unwrap(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    assert_eq!(breaker.state(), CircuitState::Open, "4 of 5 failed");
    assert_eq!(backend.hits.load(Ordering::SeqCst), 5);

    let err = get(&mut svc).await.unwrap_err();
    let r = seawall::rejection(&err).expect("a breaker rejection");
    assert_eq!(r.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(
        backend.hits.load(Ordering::SeqCst),
        5,
        "rejected calls never reach the server"
    );

    // The backend recovers; after the wait two probes get through and close it.
    backend.failing.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(30));
    assert_eq!(get(&mut svc).await.unwrap(), StatusCode::OK);
    assert_eq!(breaker.state(), CircuitState::HalfOpen);
    assert_eq!(get(&mut svc).await.unwrap(), StatusCode::OK);
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(backend.hits.load(Ordering::SeqCst), 7);
}

/// Following the README: a breaker of one's own swapped into the HTTP
/// preset, built without `.classify(..)`. The preset's classifier still
/// judges the answers: twenty 500s were once twenty successes.
#[tokio::test]
async fn a_breaker_swapped_into_the_http_preset_counts_500s_as_failures() {
    let backend = Arc::new(Backend::default());
    backend.failing.store(true, Ordering::SeqCst);
    let addr = serve(backend.clone()).await;
    let mine = CircuitBreaker::builder("backend")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(5)
        .failure_rate_threshold(50.0)
        .build()
        .unwrap();
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let stack = seawall::stack::Stack::http_client("backend")
        .unwrap()
        .with_circuit_breaker(mine.layer());
    let svc = stack.layer(client);
    let uri = format!("http://{addr}/");
    let mut rejected = 0;
    for _ in 0..20 {
        let req = Request::get(&uri).body(Empty::<Bytes>::new()).unwrap();
        match svc.clone().oneshot(req).await {
            Ok(res) => assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR),
            Err(e) => {
                assert!(seawall::rejection(&e).is_some(), "{e}");
                rejected += 1;
            }
        }
    }
    assert_eq!(mine.state(), CircuitState::Open);
    let m = mine.metrics();
    assert_eq!((m.total_failures, m.total_successes), (5, 0));
    assert_eq!(rejected, 15);
    assert_eq!(backend.hits.load(Ordering::SeqCst), 5);
}

/// A breaker with its own classifier keeps it in the preset.
#[tokio::test]
async fn a_swapped_breaker_with_its_own_classifier_keeps_it() {
    let backend = Arc::new(Backend::default());
    backend.failing.store(true, Ordering::SeqCst);
    let addr = serve(backend.clone()).await;
    let lenient = CircuitBreaker::builder("backend")
        .minimum_number_of_calls(5)
        .classify(|_: &Result<Response<Incoming>, BoxError>| Outcome::Success)
        .build()
        .unwrap();
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let svc = seawall::stack::Stack::http_client("backend")
        .unwrap()
        .with_circuit_breaker(lenient.layer())
        .layer(client);
    for _ in 0..10 {
        let req = Request::get(format!("http://{addr}/"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(lenient.metrics().total_successes, 10);
    assert_eq!(lenient.state(), CircuitState::Closed);
}
