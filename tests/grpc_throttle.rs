//! gRPC's retry throttling (gRFC A6) against a tonic server on 127.0.0.1
//! whose first three calls answer `UNAVAILABLE`: failed attempts drain the
//! throttle, retries stop at half its tokens, successes refill it. Through
//! the fused preset and through the same layers nested.
#![cfg(feature = "grpc")]

use seawall::grpc::{GrpcReplay, RetryGrpc};
use seawall::prelude::*;
use seawall::retry::{GaveUp, RetryThrottle};
use seawall::stack::Stack;
use std::sync::atomic::Ordering;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{Layer, ServiceBuilder};

#[path = "support/grpc.rs"]
mod grpc_support;
use grpc_support::start_server;

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: "inventory".into(),
    }
}

#[tokio::test]
async fn failures_drain_the_throttle_and_successes_refill_it() {
    for fused in [true, false] {
        let (url, calls, _, previous) = start_server(3).await;
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        // 4 tokens: a failure leaves 3 (a retry may follow), the next 2 (half:
        // no more retries).
        let throttle = RetryThrottle::new(4, 1.0).unwrap();
        let retry = Retry::builder("inventory")
            .max_attempts(5)
            .no_budget()
            .throttle(throttle.clone())
            .build()
            .unwrap();
        let handle = retry.clone();
        let stack = Stack::grpc_client("inventory")
            .unwrap()
            .with_retry(retry.layer().retry_if(RetryGrpc::new()).replay(GrpcReplay));
        let svc = if fused {
            tower::util::BoxCloneService::new(ServiceBuilder::new().service(stack.layer(channel)))
        } else {
            tower::util::BoxCloneService::new(
                ServiceBuilder::new().service(stack.into_stack().layer(channel)),
            )
        };
        let mut client = HealthClient::new(svc);

        // Call 1: fails (3 tokens), retried, fails again (2): throttled.
        let err = client.check(check()).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::Unavailable, "fused: {fused}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(throttle.tokens(), 2.0);
        assert!(throttle.is_throttling());
        // Call 2: its one failure leaves 1 token and no retry.
        client.check(check()).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "no retry while throttled");
        assert_eq!(throttle.tokens(), 1.0);
        let m = handle.metrics();
        assert_eq!((m.retries(), m.gave_up_throttled), (1, 2), "fused: {fused}");
        // The server is back: each success gives a token back.
        for tokens in [2.0, 3.0, 4.0, 4.0] {
            client.check(check()).await.unwrap();
            assert_eq!(throttle.tokens(), tokens, "fused: {fused}");
        }
        assert!(!throttle.is_throttling());
        assert_eq!(
            previous.lock().unwrap()[..3],
            [None, Some("1".to_owned()), None]
        );
    }
}

#[tokio::test]
async fn a_not_found_neither_drains_nor_refills_it() {
    let (url, calls, _, _) = start_server(0).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let throttle = RetryThrottle::new(10, 0.5).unwrap();
    // Drained to 8 by hand: only an OK answer adds to it.
    assert!(throttle.on_failure() && throttle.on_failure());
    let retry = Retry::builder("inventory")
        .throttle(throttle.clone())
        .build()
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(retry.layer().retry_if(RetryGrpc::new()).replay(GrpcReplay))
        .service(channel);
    let mut client = HealthClient::new(svc);
    let err = client
        .check(HealthCheckRequest {
            service: "unknown".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(throttle.tokens(), 8.0);
    client.check(check()).await.unwrap();
    assert_eq!(throttle.tokens(), 8.5);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn retry_call_is_throttled_too() {
    let throttle = RetryThrottle::new(4, 1.0).unwrap();
    let retry = Retry::builder("op")
        .max_attempts(10)
        .no_budget()
        .throttle(throttle.clone())
        .build()
        .unwrap();
    let err = retry
        .call(|_| async { Err::<(), _>(std::io::Error::other("down")) })
        .await
        .unwrap_err();
    assert_eq!((err.attempts, err.gave_up), (2, GaveUp::Throttled));
    assert_eq!(retry.metrics().gave_up_throttled, 1);
    retry
        .call(|_| async { Ok::<_, std::io::Error>(()) })
        .await
        .unwrap();
    assert_eq!(throttle.tokens(), 3.0);
}
