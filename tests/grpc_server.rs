//! The gRPC server preset on a tonic server on 127.0.0.1: a full bulkhead
//! answers `UNAVAILABLE` (not a reset stream), per-client limits outside it
//! answer `RESOURCE_EXHAUSTED` before an abusive client can take a slot,
//! and the standard health service reports `NOT_SERVING` while the server
//! sheds or a critical dependency's breaker is open.
#![cfg(feature = "grpc")]

use seawall::grpc::GrpcStatusLayer;
use seawall::prelude::*;
use seawall::stack::Stack;
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn check() -> tonic::Request<HealthCheckRequest> {
    tonic::Request::new(HealthCheckRequest {
        service: "inventory".into(),
    })
}

fn from(client: &str) -> tonic::Request<HealthCheckRequest> {
    let mut req = check();
    req.metadata_mut()
        .insert("x-client", client.parse().unwrap());
    req
}

async fn connect(url: String) -> HealthClient<Channel> {
    HealthClient::new(Channel::from_shared(url).unwrap().connect().await.unwrap())
}

#[tokio::test]
async fn per_client_limits_answer_before_the_shared_bulkhead() {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    // One call per client per hour; one call at a time in the handlers.
    let per_client = RateLimiter::builder("per-client")
        .rate(1, Duration::from_secs(3600))
        .max_keys(100)
        .build_keyed::<String>()
        .unwrap();
    let client_id = |req: &http::Request<tonic::body::Body>| {
        req.headers()
            .get("x-client")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_owned()
    };
    let bulkhead = Bulkhead::builder("api")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let preset = Stack::grpc_server("api")
        .unwrap()
        .bulkhead(bulkhead.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _keep = reporter;
        Server::builder()
            .layer(GrpcStatusLayer::new())
            .layer(per_client.layer(client_id))
            .layer(preset)
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap();
    });
    let mut client = connect(url).await;

    // The handlers are busy: the abusive client's first call is shed...
    let busy = bulkhead.try_acquire().unwrap();
    let status = client.check(from("abusive")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    // ...and its next is refused by its own limit, before the bulkhead.
    let status = client.check(from("abusive")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert!(status.metadata().get("grpc-retry-pushback-ms").is_some());
    drop(busy);
    // A polite client gets the free slot; the abusive one still its limit.
    client.check(from("polite")).await.unwrap();
    let status = client.check(from("abusive")).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    let m = bulkhead.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (2, 1));
}

/// The next status the health service's watchers are sent.
#[cfg(feature = "grpc-health")]
async fn next(changes: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>) -> i32 {
    let msg = tokio::time::timeout(Duration::from_secs(10), changes.message())
        .await
        .expect("a change is reported")
        .unwrap()
        .unwrap();
    msg.status
}

#[cfg(feature = "grpc-health")]
#[tokio::test]
async fn health_is_not_serving_while_shedding_or_a_dependency_is_down() {
    use seawall::grpc::HealthWatch;
    use tonic_health::pb::health_check_response::ServingStatus;
    const SERVING: i32 = ServingStatus::Serving as i32;
    const NOT_SERVING: i32 = ServingStatus::NotServing as i32;
    let (reporter, health) = tonic_health::server::health_reporter();
    let preset = Stack::grpc_server("api").unwrap();
    let bulkhead = preset.bulkhead_layer().handle().clone();
    let database = CircuitBreaker::builder("database").build().unwrap();
    let cache = CircuitBreaker::builder("cache").build().unwrap();
    let registry = seawall::health::HealthRegistry::new().breaker(
        "cache",
        &cache,
        seawall::health::Criticality::Critical,
    );
    let watch = HealthWatch::new()
        .period(Duration::from_millis(10))
        .shedding(&bulkhead)
        .dependency(&database)
        .registry(&registry)
        .report(reporter, "inventory")
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .layer(preset)
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let mut client = connect(url).await;
    // Each change, as the health service's watchers see it.
    let mut changes = client.watch(check()).await.unwrap().into_inner();
    assert_eq!(next(&mut changes).await, SERVING);
    // The database is down: the breaker opens.
    database.force_open();
    assert_eq!(next(&mut changes).await, NOT_SERVING);
    database.reset();
    assert_eq!(next(&mut changes).await, SERVING);
    // A critical component of the health registry is down: not ready.
    cache.force_open();
    assert_eq!(next(&mut changes).await, NOT_SERVING);
    cache.reset();
    assert_eq!(next(&mut changes).await, SERVING);
    // The server sheds: every slot taken, a call refused.
    let held: Vec<_> = (0..512).map(|_| bulkhead.try_acquire().unwrap()).collect();
    assert!(bulkhead.try_acquire().is_err());
    assert_eq!(next(&mut changes).await, NOT_SERVING);
    drop(held);
    // No refusal since: serving again.
    assert_eq!(next(&mut changes).await, SERVING);
    watch.abort();
}
