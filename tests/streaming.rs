//! What a layer covers for a streaming response. Timeouts and the plain
//! bulkhead end when the response's headers arrive: a stream's body runs
//! on past both. `StreamingBulkheadLayer` holds its slot until the body
//! ends, fails or is dropped — shown on a tonic server's health `Watch`
//! streams on 127.0.0.1.
#![cfg(feature = "http")]

use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use seawall::http::StreamingBulkheadLayer;
use seawall::prelude::*;
use std::convert::Infallible;
use std::future::Future;
use tower::{service_fn, Layer, ServiceExt};

/// A streaming response: its headers at once, then a frame every 3 s for
/// 9 s.
async fn ticking(_req: http::Request<()>) -> Result<http::Response<Ticks>, Infallible> {
    Ok(http::Response::new(Ticks {
        sleep: Box::pin(tokio::time::sleep(Duration::from_secs(3))),
        left: 3,
    }))
}

struct Ticks {
    sleep: std::pin::Pin<Box<tokio::time::Sleep>>,
    left: u32,
}

impl http_body::Body for Ticks {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        std::task::ready!(self.sleep.as_mut().poll(cx));
        self.left -= 1;
        let next = tokio::time::Instant::now() + Duration::from_secs(3);
        self.sleep.as_mut().reset(next);
        std::task::Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"tick")))))
    }
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_the_bulkhead_end_at_the_headers() {
    let bulkhead = Bulkhead::builder("plain")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let timeout = Timeout::builder("attempt")
        .duration(Duration::from_secs(2))
        .build()
        .unwrap();
    let svc = tower::ServiceBuilder::new()
        .layer(timeout)
        .layer(bulkhead.layer())
        .service(service_fn(ticking));
    let start = tokio::time::Instant::now();
    let res = svc.oneshot(http::Request::new(())).await.unwrap();
    // Headers in: the slot is back while the body has yet to run.
    assert_eq!(bulkhead.metrics().in_flight, 0);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    // 9 s of body past a 2 s timeout, uncut.
    assert_eq!(body, "tickticktick");
    assert_eq!(start.elapsed(), Duration::from_secs(9));
}

#[tokio::test(start_paused = true)]
async fn the_streaming_bulkhead_holds_its_slot_until_the_body_ends() {
    let bulkhead = Bulkhead::builder("streams")
        .max_concurrent_calls(1)
        .build()
        .unwrap();
    let svc = StreamingBulkheadLayer::new(&bulkhead).layer(service_fn(ticking));
    let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 1, "the body holds it");
    let err = svc
        .clone()
        .oneshot(http::Request::new(()))
        .await
        .unwrap_err();
    assert!(err.is::<BulkheadFull>(), "{err}");
    let mut body = res.into_body();
    body.frame().await.unwrap().unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 1, "mid-stream");
    body.collect().await.unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 0, "ended: given back");
    // A body dropped mid-stream gives it back too.
    let res = svc.clone().oneshot(http::Request::new(())).await.unwrap();
    assert_eq!(bulkhead.metrics().in_flight, 1);
    drop(res);
    assert_eq!(bulkhead.metrics().in_flight, 0, "dropped: given back");
    let m = bulkhead.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (2, 1));
}

/// Two health `Watch` streams open on a tonic server: the plain bulkhead
/// shows none in flight, the streaming one both, refuses a third as
/// `UNAVAILABLE`, and admits one again once a stream is closed.
#[cfg(feature = "grpc")]
#[tokio::test]
async fn a_tonic_servers_streams_hold_their_slots() {
    use seawall::grpc::GrpcStatusLayer;
    use tonic::transport::{Channel, Server};
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let plain = Bulkhead::builder("plain")
        .max_concurrent_calls(2)
        .build()
        .unwrap();
    let streams = Bulkhead::builder("streams")
        .max_concurrent_calls(2)
        .build()
        .unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("inventory", tonic_health::ServingStatus::Serving)
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        Server::builder()
            .layer(GrpcStatusLayer::new())
            .layer(plain.layer())
            .layer(StreamingBulkheadLayer::new(&streams))
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut client = HealthClient::new(channel);
    let watch = || {
        tonic::Request::new(HealthCheckRequest {
            service: "inventory".into(),
        })
    };
    let mut first = client.watch(watch()).await.unwrap().into_inner();
    let second = client.watch(watch()).await.unwrap().into_inner();
    assert_eq!(first.message().await.unwrap().unwrap().status, 1);
    assert_eq!(plain.metrics().in_flight, 0, "ended at the headers");
    assert_eq!(streams.metrics().in_flight, 2, "held by the streams");
    let status = client.watch(watch()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    // The client closes a stream; the server drops its body when it learns
    // (asynchronously, over the connection), and the slot is free again.
    drop(second);
    let admitted = async {
        loop {
            match client.watch(watch()).await {
                Ok(stream) => return stream,
                Err(status) => assert_eq!(status.code(), tonic::Code::Unavailable),
            }
            tokio::task::yield_now().await;
        }
    };
    let _third = tokio::time::timeout(Duration::from_secs(10), admitted)
        .await
        .expect("a closed stream gives its slot back");
    assert_eq!(streams.metrics().in_flight, 2);
    drop(reporter);
}
