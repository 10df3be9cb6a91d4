//! seawall's rejections reach gRPC callers as statuses, on a tonic client
//! and on a tonic server, against a real tonic server on 127.0.0.1 (the
//! standard health service): an open breaker and a full bulkhead are
//! `UNAVAILABLE`, a rate limit `RESOURCE_EXHAUSTED` with the pushback a
//! gRPC client reads, not `Unknown` or a reset stream.
#![cfg(feature = "grpc")]

use seawall::grpc::GrpcStatusLayer;
use seawall::prelude::*;
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceBuilder;

async fn health_server(bulkhead: Option<Bulkhead>) -> String {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tokio::spawn(async move {
        let _keep = reporter;
        match bulkhead {
            Some(b) => Server::builder()
                .layer(GrpcStatusLayer::new())
                .layer(b.layer())
                .add_service(health)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
            None => Server::builder()
                .add_service(health)
                .serve_with_incoming(incoming)
                .await
                .unwrap(),
        }
    });
    format!("http://{addr}")
}

/// The `grpc-retry-pushback-ms` a status carries, in milliseconds.
fn pushback_ms(status: &tonic::Status) -> u64 {
    let v = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("pushback");
    v.to_str().unwrap().parse().unwrap()
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: "inventory".into(),
    }
}

#[tokio::test]
async fn an_open_breaker_is_unavailable_to_a_tonic_client() {
    let url = health_server(None).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let breaker = CircuitBreaker::builder("inventory-breaker")
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(GrpcStatusLayer::new())
        .layer(breaker.layer())
        .service(channel);
    let mut client = HealthClient::new(svc);
    client
        .check(check())
        .await
        .expect("closed: the call passes");
    breaker.open_for(Duration::from_secs(30));
    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert!(
        !status.message().contains("inventory-breaker"),
        "no instance internals: {status:?}"
    );
    let pushback = pushback_ms(&status);
    assert!((29_000..=30_000).contains(&pushback), "{pushback}");
}

#[tokio::test]
async fn a_rate_limit_is_resource_exhausted_with_pushback() {
    let url = health_server(None).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let limiter = RateLimiter::builder("per-hour")
        .rate(1, Duration::from_secs(3600))
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(GrpcStatusLayer::new().with_details(true))
        .layer(limiter.layer())
        .service(channel);
    let mut client = HealthClient::new(svc);
    client.check(check()).await.unwrap();
    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(
        status.message().contains("per-hour"),
        "with details: {status:?}"
    );
    let pushback = pushback_ms(&status);
    assert!((3_599_000..=3_600_000).contains(&pushback), "{pushback}");
}

/// Server side: a full bulkhead answers `UNAVAILABLE`; without the layer
/// tonic cannot send seawall's error and resets the stream.
#[tokio::test]
async fn a_full_bulkhead_on_a_tonic_server_answers_unavailable() {
    let bulkhead = Bulkhead::builder("server")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let url = health_server(Some(bulkhead.clone())).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut client = HealthClient::new(channel);
    client.check(check()).await.expect("a free slot");
    let held = bulkhead.try_acquire().unwrap();
    let status = client.check(check()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    drop(held);
    client.check(check()).await.expect("the slot is back");
}
