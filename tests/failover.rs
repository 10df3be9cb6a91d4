//! Failover over three real hyper backends on 127.0.0.1, one killed
//! mid-test: calls keep being answered, the dead one is ejected (never
//! more than the allowed share, even with two dead), it returns after its
//! ejection time, and is ejected for twice as long if still dead. The
//! set's clock is a `ManualClock`, so ejection times are checked exactly.
#![cfg(feature = "http")]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use seawall::failover::{Failover, OutlierDetection, Routing};
use seawall::prelude::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tower::{service_fn, Service, ServiceExt};

/// A backend that answers 200 with its number, until killed.
struct Backend {
    addr: SocketAddr,
    tasks: Option<tokio::task::JoinHandle<()>>,
    n: u8,
}

impl Backend {
    async fn start(n: u8, addr: Option<SocketAddr>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr.unwrap_or(([127, 0, 0, 1], 0).into()))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                connections.spawn(async move {
                    let svc = hyper::service::service_fn(move |_req| async move {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            vec![b'0' + n],
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Backend {
            addr,
            tasks: Some(tasks),
            n,
        }
    }

    /// Kills it: the listener and every connection close.
    async fn kill(&mut self) {
        if let Some(t) = self.tasks.take() {
            t.abort();
            let _ = t.await;
        }
    }

    /// Starts it again on its address.
    async fn heal(&mut self) {
        *self = Backend::start(self.n, Some(self.addr)).await;
    }
}

type Endpoint = tower::util::BoxCloneSyncService<Request<Full<Bytes>>, Response<Bytes>, BoxError>;

/// One endpoint: the shared client, sent to `addr`.
fn endpoint(client: &Client<HttpConnector, Full<Bytes>>, addr: SocketAddr) -> Endpoint {
    let client = client.clone();
    tower::util::BoxCloneSyncService::new(service_fn(move |mut req: Request<Full<Bytes>>| {
        let client = client.clone();
        *req.uri_mut() = format!("http://{addr}{}", req.uri().path())
            .parse()
            .unwrap();
        async move {
            let res = client.request(req).await?;
            let (parts, body) = res.into_parts();
            let body = http_body_util::BodyExt::collect(body).await?.to_bytes();
            Ok::<_, BoxError>(Response::from_parts(parts, body))
        }
    }))
}

/// `calls` GETs from 16 tasks: the share answered 200.
async fn availability<S>(set: &S, calls: usize) -> f64
where
    S: Service<Request<Full<Bytes>>, Response = Response<Bytes>, Error = BoxError>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    let ok = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (set, ok) = (set.clone(), ok.clone());
        tasks.spawn(async move {
            for _ in 0..calls / 16 {
                let req = Request::get("/item").body(Full::default()).unwrap();
                if let Ok(res) = set.clone().oneshot(req).await {
                    if res.status() == StatusCode::OK {
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    ok.load(Ordering::Relaxed) as f64 / (calls / 16 * 16) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backend_is_ejected_returned_and_ejected_longer() {
    let mut backends = Vec::new();
    for n in 0..3 {
        backends.push(Backend::start(n, None).await);
    }
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let clock = ManualClock::new();
    let ejections = Arc::new(Mutex::new(Vec::new()));
    let log = ejections.clone();
    let set = Failover::builder("inventory")
        .routing(Routing::LeastOutstanding)
        .outlier_detection(OutlierDetection::new())
        .clock(clock.clone())
        .on_event(move |e| {
            if let EventKind::EndpointEjected {
                endpoint, duration, ..
            } = e.kind
            {
                log.lock().unwrap().push((endpoint, duration));
            }
        })
        .for_http()
        .build(backends.iter().map(|b| endpoint(&client, b.addr)).collect())
        .unwrap();

    // All up, then one killed mid-run.
    assert!(availability(&set, 2_000).await >= 0.999);
    backends[1].kill().await;
    let served = availability(&set, 10_000).await;
    assert!(served >= 0.999, "availability {served}");
    assert_eq!(set.metrics().ejected, [false, true, false]);
    assert_eq!(*ejections.lock().unwrap(), [(1, Duration::from_secs(30))]);
    // Health reports the pool degraded, and says which endpoint is out.
    let health = seawall::health::HealthRegistry::new().failover("inventory", &set);
    let report = health.report().await;
    assert_eq!(report.status, seawall::health::HealthState::Degraded);
    assert!(
        format!("{report:?}").contains("endpoints ejected: 1"),
        "{report:?}"
    );

    // Its 30 s pass: back in rotation, still dead, ejected again for 60 s.
    clock.advance(Duration::from_secs(30));
    assert!(availability(&set, 1_000).await >= 0.999);
    assert_eq!(
        ejections.lock().unwrap().last(),
        Some(&(1, Duration::from_secs(60)))
    );
    // Healed: after its 60 s it returns and stays.
    backends[1].heal().await;
    clock.advance(Duration::from_secs(60));
    assert!(availability(&set, 1_000).await >= 0.999);
    assert_eq!(set.metrics().ejected, [false, false, false]);
    assert_eq!(ejections.lock().unwrap().len(), 2);
    assert_eq!(
        health.report().await.status,
        seawall::health::HealthState::Up
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_of_three_dead_no_more_than_one_is_ejected_and_calls_are_answered() {
    let mut backends = Vec::new();
    for n in 0..3 {
        backends.push(Backend::start(n, None).await);
    }
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let set = Failover::builder("pair")
        .routing(Routing::Priority)
        .clock(ManualClock::new())
        .for_http()
        .build(backends.iter().map(|b| endpoint(&client, b.addr)).collect())
        .unwrap();
    backends[0].kill().await;
    backends[1].kill().await;
    let served = availability(&set, 2_000).await;
    assert!(served >= 0.999, "availability {served}");
    let ejected = set.metrics().ejected;
    assert_eq!(ejected.iter().filter(|e| **e).count(), 1, "{ejected:?}");
    assert!(set.metrics().failovers > 0);
}

#[tokio::test]
async fn a_post_stays_on_its_endpoint() {
    let down = service_fn(|_req: Request<Full<Bytes>>| async {
        Err::<Response<Bytes>, BoxError>("connection refused".into())
    });
    let up = service_fn(|_req: Request<Full<Bytes>>| async {
        Ok::<_, BoxError>(Response::new(Bytes::new()))
    });
    let set = Failover::builder("orders")
        .for_http()
        .build(vec![
            tower::util::BoxCloneSyncService::new(down),
            tower::util::BoxCloneSyncService::new(up),
        ])
        .unwrap();
    let post = Request::post("/orders").body(Full::default()).unwrap();
    assert!(set.clone().oneshot(post).await.is_err(), "not sent twice");
    let get = Request::get("/orders/7").body(Full::default()).unwrap();
    assert!(set.oneshot(get).await.is_ok(), "moved to the secondary");
}

#[test]
fn bad_input_is_a_config_error() {
    let none: Vec<Endpoint> = Vec::new();
    assert_eq!(
        Failover::builder("x").build(none).unwrap_err().field(),
        "endpoints"
    );
    let one = vec![service_fn(|x: u8| async move { Ok::<_, BoxError>(x) })];
    assert_eq!(
        Failover::builder("x")
            .outlier_detection(OutlierDetection::new().max_ejection_percent(150))
            .build(one)
            .unwrap_err()
            .field(),
        "max_ejection_percent"
    );
}

/// One breaker per endpoint from one builder: the dead endpoint's opens,
/// and calls then go past it without touching it (its `CircuitOpen` is a
/// local refusal: moved on, not counted against the endpoint).
#[tokio::test]
async fn keyed_breakers_guard_each_endpoint() {
    use tower::Layer;
    let per_endpoint = CircuitBreaker::builder("replica")
        .minimum_number_of_calls(5)
        .build_keyed::<usize>(8)
        .unwrap();
    let hits = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let endpoint = |i: usize| {
        let hits = hits.clone();
        let svc = service_fn(move |x: u32| {
            hits[i].fetch_add(1, Ordering::SeqCst);
            async move {
                if i == 0 {
                    Err::<u32, BoxError>("connection refused".into())
                } else {
                    Ok(x)
                }
            }
        });
        tower::util::BoxCloneSyncService::new(per_endpoint.layer_for(&i).unwrap().layer(svc))
    };
    let set = Failover::builder("replicas")
        .routing(Routing::Priority)
        .outlier_detection(OutlierDetection::new().consecutive_failures(0)) // breakers only
        .build(vec![endpoint(0), endpoint(1)])
        .unwrap();
    for x in 0..100 {
        assert_eq!(set.clone().oneshot(x).await.unwrap(), x);
    }
    // Five failures opened the primary's breaker; the rest never reached it.
    assert_eq!(hits[0].load(Ordering::SeqCst), 5);
    assert_eq!(hits[1].load(Ordering::SeqCst), 100);
    let states = per_endpoint.states();
    assert!(states.contains(&(0, CircuitState::Open)), "{states:?}");
    assert!(states.contains(&(1, CircuitState::Closed)), "{states:?}");
}

#[test]
fn keyed_breakers_are_bounded_and_evict_only_idle_closed_ones() {
    let clock = ManualClock::new();
    let keyed = CircuitBreaker::builder("tenants")
        .minimum_number_of_calls(1)
        .clock(clock.clone())
        .build_keyed::<u32>(2)
        .unwrap()
        .idle_after(Duration::from_secs(60));
    keyed.try_acquire(&1).unwrap().record(Outcome::Failure); // 1 opens
    keyed.try_acquire(&2).unwrap().record(Outcome::Success);
    assert_eq!(keyed.get(&1).unwrap().name(), "tenants:1");
    // Full, nothing idle: a third key is refused.
    assert!(matches!(
        keyed.try_acquire(&3),
        Err(seawall::circuit_breaker::KeyedBreakerError::KeyLimitReached(_))
    ));
    // A minute on, 2 is idle and closed; 1 is open: 2 makes room.
    clock.advance(Duration::from_secs(61));
    assert!(keyed.try_acquire(&3).is_ok());
    assert_eq!((keyed.len(), keyed.evicted()), (2, 1));
    assert!(
        keyed.get(&1).unwrap().state() != CircuitState::Closed,
        "the open one stays"
    );
    assert_eq!(
        CircuitBreaker::builder("x")
            .build_keyed::<u32>(0)
            .unwrap_err()
            .field(),
        "max_keys"
    );
}
