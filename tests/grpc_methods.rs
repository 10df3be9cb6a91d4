//! Per-method stacks on one tonic channel, against a tonic server on
//! 127.0.0.1 whose first two calls answer `UNAVAILABLE`: the server stream
//! (`Watch`) has one attempt, the unary `Check` the preset's retries.
#![cfg(feature = "grpc")]

use seawall::grpc::{GrpcReplay, PerMethodLayer, RetryGrpc};
use seawall::prelude::*;
use seawall::stack::Stack;
use std::sync::atomic::Ordering;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::ServiceBuilder;

#[path = "support/grpc.rs"]
mod grpc_support;
use grpc_support::start_server;

#[tokio::test]
async fn each_method_goes_through_its_own_stack() {
    let (url, calls, _, previous) = start_server(2).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let one_attempt = Retry::builder("health.watch")
        .max_attempts(1)
        .build()
        .unwrap();
    let unary = Stack::grpc_client("health").unwrap();
    let (unary_retry, watch_retry) = (unary.retry_layer().handle(), one_attempt.clone());
    let layer = PerMethodLayer::new(unary).method(
        "grpc.health.v1.Health",
        "Watch",
        Stack::grpc_client("health.watch").unwrap().with_retry(
            one_attempt
                .layer()
                .retry_if(RetryGrpc::new())
                .replay(GrpcReplay),
        ),
    );
    let mut client = HealthClient::new(ServiceBuilder::new().layer(layer).service(channel));
    let req = || HealthCheckRequest {
        service: "inventory".into(),
    };

    // The stream: UNAVAILABLE, and no second attempt.
    let err = client.watch(req()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The unary call: UNAVAILABLE once more, retried, served.
    let res = client.check(req()).await.unwrap();
    assert_eq!(res.into_inner().status, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        (watch_retry.metrics().calls, watch_retry.metrics().retries()),
        (1, 0)
    );
    assert_eq!(
        (unary_retry.metrics().calls, unary_retry.metrics().retries()),
        (1, 1)
    );
    assert_eq!(
        *previous.lock().unwrap(),
        [None, None, Some("1".to_owned())]
    );
    // Now serving, the stream delivers its first message.
    let mut stream = client.watch(req()).await.unwrap().into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().status, 1);
}

/// A gRPC service config's policies, imported: `Check` retried on
/// `UNAVAILABLE` with its 1.5 s timeout told to the server, `Watch` (named
/// by no entry) one attempt, as a gRPC client would do with that config.
#[cfg(feature = "grpc-service-config")]
#[tokio::test]
async fn a_service_config_is_applied_per_method() {
    use seawall::grpc::ServiceConfig;
    let (url, calls, timeouts, _) = start_server(2).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let config = ServiceConfig::from_json(
        r#"{
          "methodConfig": [{
            "name": [{"service": "grpc.health.v1.Health", "method": "Check"}],
            "timeout": "1.5s",
            "retryPolicy": {
              "maxAttempts": 3, "initialBackoff": "0.01s", "maxBackoff": "0.1s",
              "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]
            }
          }],
          "retryThrottling": {"maxTokens": 100, "tokenRatio": 0.5}
        }"#,
    )
    .unwrap();
    let layer = config.layer("health").unwrap();
    let check = layer
        .layer_for("/grpc.health.v1.Health/Check")
        .retry_layer()
        .handle();
    let mut client = HealthClient::new(ServiceBuilder::new().layer(layer).service(channel));
    let req = || HealthCheckRequest {
        service: "inventory".into(),
    };
    let err = client.watch(req()).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "one attempt");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    client.check(req()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3, "retried once");
    assert_eq!(check.metrics().retries(), 1);
    assert_eq!(check.throttle().unwrap().tokens(), 99.5);
    let told = grpc_support::micros(&timeouts.lock().unwrap()[1..]);
    assert!(
        told.iter().all(|&us| us <= 1_500_000 && us > 1_000_000),
        "{told:?}"
    );
}
