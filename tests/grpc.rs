//! A tonic client channel through the `grpc_client` preset against a tonic
//! server on 127.0.0.1 (the standard health service) that answers its first
//! two calls `UNAVAILABLE`: the call is retried and succeeds; each attempt
//! tells the server its time left in `grpc-timeout`; `NOT_FOUND` is neither
//! retried nor a breaker failure. And `BufferRequestLayer`'s limit: bodies
//! up to it are held for replay, longer ones are sent on as they come and
//! get one attempt.
#![cfg(feature = "grpc")]

use seawall::grpc::{BufferRequestLayer, GrpcReplay, RetryGrpc};
use seawall::prelude::*;
use seawall::stack::Stack;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tower::{ServiceBuilder, ServiceExt};

type Body = tonic::body::Body;

#[path = "support/grpc.rs"]
mod grpc_support;
use grpc_support::{micros, start_server, start_slow_server};

#[tokio::test]
async fn unavailable_is_retried_and_not_found_is_ignored() {
    let (url, calls, timeouts, previous) = start_server(2).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    // The preset, with a 10 s deadline for the retry, so each attempt tells
    // the server its time left.
    let preset = Stack::grpc_client("inventory").unwrap();
    let retry = Retry::builder("inventory")
        .deadline(Duration::from_secs(10))
        .build()
        .unwrap()
        .layer()
        .retry_if(RetryGrpc::new())
        .replay(GrpcReplay);
    let stack = preset.with_retry(retry);
    let (retry, breaker) = (
        stack.retry_layer().handle(),
        stack.circuit_breaker_layer().handle().clone(),
    );
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new())
        .layer(stack)
        .service(channel);
    let mut client = HealthClient::new(svc);

    let res = client
        .check(HealthCheckRequest {
            service: "inventory".into(),
        })
        .await
        .unwrap();
    assert_eq!(res.into_inner().status, 1, "SERVING, on the third attempt");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(retry.metrics().retries(), 2);
    // Each attempt told the server its time left.
    let told = timeouts.lock().unwrap().clone();
    assert_eq!(told.len(), 3);
    for t in &told {
        // Under 100 s left: in microseconds, the finest unit that fits.
        let t = t.as_deref().unwrap();
        let us: u64 = t.strip_suffix('u').expect(t).parse().unwrap();
        assert!((9_000_000..=10_000_000).contains(&us), "{t}");
    }
    // gRFC A6: each retry says how many attempts came before it.
    assert_eq!(
        *previous.lock().unwrap(),
        [None, Some("1".to_owned()), Some("2".to_owned())]
    );
    let m = breaker.metrics();
    assert_eq!((m.total_failures, m.total_successes), (2, 1));

    // An unknown service: NOT_FOUND, not retried, ignored by the breaker.
    let err = client
        .check(HealthCheckRequest {
            service: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(breaker.metrics().total_ignored, 1);
}

/// A caller's `set_timeout(300 ms)` through the preset (whose retry has a
/// 10 s deadline): the server is told at most 300 ms, never the retry's
/// 10 s (it once was: a 1.5 s call then returned `Ok` where a plain
/// channel cancels it at 300 ms).
#[tokio::test]
async fn a_callers_grpc_timeout_is_never_lengthened() {
    let (url, _calls, timeouts, _) = start_server(0).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new())
        .layer(Stack::grpc_client("inventory").unwrap())
        .service(channel);
    let mut client = HealthClient::new(svc);
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: "inventory".into(),
    });
    req.set_timeout(Duration::from_millis(300));
    client.check(req).await.unwrap();
    let told = micros(&timeouts.lock().unwrap());
    assert_eq!(told.len(), 1);
    assert!(told[0] <= 300_000 && told[0] > 200_000, "{told:?}");
    // Without a caller's timeout the preset tells its own 10 s total.
    client
        .check(HealthCheckRequest {
            service: "inventory".into(),
        })
        .await
        .unwrap();
    let told = micros(&timeouts.lock().unwrap());
    assert!((9_000_000..=10_000_000).contains(&told[1]), "{told:?}");
}

/// The caller's deadline covers every attempt (gRPC's retry design): a
/// server answering `UNAVAILABLE` after 250 ms to a call with
/// `set_timeout(300 ms)` leaves no time for the next 250 ms attempt; the
/// call fails instead of returning `Ok` after 600 ms, and each attempt is
/// told only the time left.
#[tokio::test]
async fn a_callers_grpc_timeout_bounds_every_attempt() {
    let (url, calls, timeouts, _) = start_slow_server(2, Duration::from_millis(250)).await;
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let stack = Stack::grpc_client("inventory").unwrap();
    let retry = stack.retry_layer().handle();
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new())
        .layer(stack)
        .service(channel);
    let mut client = HealthClient::new(svc);
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: "inventory".into(),
    });
    req.set_timeout(Duration::from_millis(300));
    let err = client
        .check(req)
        .await
        .expect_err("no time for a third attempt");
    assert_ne!(err.code(), tonic::Code::Ok);
    let told = micros(&timeouts.lock().unwrap());
    assert!(calls.load(Ordering::SeqCst) <= 2, "{told:?}");
    assert!(told[0] <= 300_000, "{told:?}");
    if let [first, second] = told[..] {
        // What the second attempt was told: what was left after 250 ms.
        assert!(second < first && second <= 50_000, "{told:?}");
    }
    assert!(retry.metrics().retries() <= 1);
}

/// A body backed by a channel: its frames come as the sender sends them,
/// and it ends when the sender is dropped.
struct Streaming(tokio::sync::mpsc::UnboundedReceiver<http_body::Frame<bytes::Bytes>>);

impl http_body::Body for Streaming {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

fn data(chunk: &'static str) -> http_body::Frame<bytes::Bytes> {
    http_body::Frame::data(bytes::Bytes::from_static(chunk.as_bytes()))
}

/// A request whose body is `chunks`, then trailers if asked, then the end.
fn request_of(chunks: &[&'static str], trailers: bool) -> http::Request<Body> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    for chunk in chunks {
        tx.send(data(chunk)).unwrap();
    }
    if trailers {
        let mut t = http::HeaderMap::new();
        t.insert("x-sum", "7".parse().unwrap());
        tx.send(http_body::Frame::trailers(t)).unwrap();
    }
    http::Request::new(Body::new(Streaming(rx)))
}

/// What the service under the buffer saw: the buffered copy, if any, the
/// body it was sent and the body's trailers.
type Seen = (Option<bytes::Bytes>, bytes::Bytes, Option<http::HeaderMap>);

async fn seen(req: http::Request<Body>) -> Result<Seen, tonic::Status> {
    use http_body_util::BodyExt;
    let buffered = req
        .extensions()
        .get::<seawall::grpc::BufferedBody>()
        .map(|b| b.0.clone());
    let collected = req.into_body().collect().await?;
    let trailers = collected.trailers().cloned();
    Ok((buffered, collected.to_bytes(), trailers))
}

#[tokio::test]
async fn bodies_up_to_the_limit_are_buffered_and_longer_ones_sent_unbuffered() {
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_bytes(8))
        .service(tower::service_fn(seen));
    let call = |req| svc.clone().oneshot(req);
    // In several chunks, up to the limit: held, as one copy.
    let (buffered, sent, _) = call(request_of(&["abc", "defgh"], false)).await.unwrap();
    assert_eq!(buffered.as_deref(), Some(&b"abcdefgh"[..]));
    assert_eq!(sent, "abcdefgh");
    assert_eq!(
        call(request_of(&[], false)).await.unwrap().0.as_deref(),
        Some(&b""[..])
    );
    // Past it: sent on whole and in order, with nothing to replay.
    let (buffered, sent, _) = call(request_of(&["abcde", "fghij", "kl"], false))
        .await
        .unwrap();
    assert_eq!(
        (buffered, sent),
        (None, bytes::Bytes::from_static(b"abcdefghijkl"))
    );
    // Trailers, which a replay would drop: sent on with them, not held.
    let (buffered, sent, trailers) = call(request_of(&["ab"], true)).await.unwrap();
    assert_eq!((buffered, sent), (None, bytes::Bytes::from_static(b"ab")));
    assert_eq!(trailers.unwrap()["x-sum"], "7");
}

#[tokio::test(start_paused = true)]
async fn a_body_past_the_limit_is_sent_on_before_it_ends() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (called_tx, called) = tokio::sync::oneshot::channel();
    let called_tx = Arc::new(Mutex::new(Some(called_tx)));
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_bytes(4))
        .service(tower::service_fn(move |req: http::Request<Body>| {
            if let Some(tx) = called_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            seen(req)
        }));
    let call = tokio::spawn(svc.oneshot(http::Request::new(Body::new(Streaming(rx)))));
    for chunk in ["abc", "def"] {
        tx.send(data(chunk)).unwrap();
    }
    // The body is still open, and the request has gone on.
    tokio::time::timeout(Duration::from_secs(5), called)
        .await
        .expect("sent on before the body ended")
        .unwrap();
    tx.send(data("ghi")).unwrap();
    drop(tx);
    let (buffered, sent, _) = call.await.unwrap().unwrap();
    assert_eq!(
        (buffered, sent),
        (None, bytes::Bytes::from_static(b"abcdefghi"))
    );
}

/// Behind the buffer, a retry on UNAVAILABLE: a body it held is sent again,
/// one past its limit gets the one attempt.
#[tokio::test(start_paused = true)]
async fn only_buffered_requests_are_retried() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let unavailable_once = tower::service_fn(move |req: http::Request<Body>| {
        let first = c.fetch_add(1, Ordering::SeqCst) % 2 == 0;
        async move {
            let _ = seen(req).await?;
            Ok::<_, tonic::Status>(if first {
                tonic::Status::unavailable("once").into_http()
            } else {
                http::Response::new(Body::empty())
            })
        }
    });
    let retry = Retry::builder("buffered")
        .build()
        .unwrap()
        .layer()
        .retry_if(RetryGrpc::new())
        .replay(GrpcReplay);
    let handle = retry.handle();
    let svc = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_bytes(4))
        .layer(retry)
        .service(unavailable_once);
    let res = svc
        .clone()
        .oneshot(request_of(&["abcd"], false))
        .await
        .unwrap();
    assert!(
        res.headers().get("grpc-status").is_none(),
        "retried, then OK"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let res = svc.oneshot(request_of(&["abcde"], false)).await.unwrap();
    assert_eq!(seawall::grpc::status_code(&res), tonic::Code::Unavailable);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "one attempt");
    // Counted, so a forgotten `BufferRequestLayer` (every call unbuffered)
    // shows as retries switched off rather than as nothing at all.
    assert_eq!(handle.metrics().not_replayable_calls, 1);
}
