//! A tonic client channel through the `grpc_client` preset against a tonic
//! server on 127.0.0.1 (the standard health service) that answers its first
//! two calls `UNAVAILABLE`: the call is retried and succeeds; each attempt
//! tells the server its time left in `grpc-timeout`; `NOT_FOUND` is neither
//! retried nor a breaker failure. And the retry buffer: messages go on as
//! written and are recorded for a retry, up to a limit past which a call
//! gets one attempt.
#![cfg(feature = "grpc")]

use seawall::grpc::{BufferRequestLayer, GrpcReplay, RetryGrpc};
use seawall::prelude::*;
use seawall::retry::RetryLayer;
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
    let svc = ServiceBuilder::new().layer(stack).service(channel);
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
    let svc = ServiceBuilder::new().layer(stack).service(channel);
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

/// The body a service was sent, and its trailers.
async fn seen(
    req: http::Request<Body>,
) -> Result<(bytes::Bytes, Option<http::HeaderMap>), tonic::Status> {
    use http_body_util::BodyExt;
    let collected = req.into_body().collect().await?;
    let trailers = collected.trailers().cloned();
    Ok((collected.to_bytes(), trailers))
}

/// A retry on UNAVAILABLE whose attempts' bodies are recorded in `bodies`;
/// every other call fails.
fn unavailable_every_other_call(
    bodies: Arc<Mutex<Vec<bytes::Bytes>>>,
) -> impl tower::Service<
    http::Request<Body>,
    Response = http::Response<Body>,
    Error = tonic::Status,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |req: http::Request<Body>| {
        let bodies = bodies.clone();
        async move {
            let (body, _) = seen(req).await?;
            let mut bodies = bodies.lock().unwrap();
            bodies.push(body);
            Ok::<_, tonic::Status>(if bodies.len() % 2 == 1 {
                tonic::Status::unavailable("once").into_http()
            } else {
                http::Response::new(Body::empty())
            })
        }
    })
}

fn grpc_retry(name: &str) -> RetryLayer<RetryGrpc, GrpcReplay> {
    Retry::builder(name)
        .build()
        .unwrap()
        .layer()
        .retry_if(RetryGrpc::new())
        .replay(GrpcReplay)
}

/// The retry records each request by itself (no `BufferRequestLayer`; once,
/// forgetting it meant no retries at all): the retry sends the same bytes,
/// trailers included. Past `BufferRequestLayer`'s limit a call is sent
/// whole but gets one attempt, counted.
#[tokio::test(start_paused = true)]
async fn retries_replay_what_was_recorded_up_to_the_limit() {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let retry = grpc_retry("recorded");
    let handle = retry.handle();
    let svc = ServiceBuilder::new()
        .layer(retry)
        .service(unavailable_every_other_call(bodies.clone()));
    let res = svc
        .clone()
        .oneshot(request_of(&["abc", "defgh"], true))
        .await
        .unwrap();
    assert_eq!(seawall::grpc::status_code(&res), tonic::Code::Ok);
    assert_eq!(*bodies.lock().unwrap(), ["abcdefgh", "abcdefgh"]);
    assert_eq!(handle.metrics().retries(), 1);

    // With a limit of 8 bytes in front: 12 are sent whole, once.
    bodies.lock().unwrap().clear();
    let limited = ServiceBuilder::new()
        .layer(BufferRequestLayer::new().max_bytes(8))
        .service(svc);
    let res = limited
        .clone()
        .oneshot(request_of(&["abcde", "fghij", "kl"], false))
        .await
        .unwrap();
    assert_eq!(seawall::grpc::status_code(&res), tonic::Code::Unavailable);
    assert_eq!(*bodies.lock().unwrap(), ["abcdefghijkl"]);
    assert_eq!(handle.metrics().not_replayable_calls, 1);
    // Up to it: replayed.
    bodies.lock().unwrap().clear();
    limited
        .oneshot(request_of(&["abcd", "efgh"], false))
        .await
        .unwrap();
    assert_eq!(*bodies.lock().unwrap(), ["abcdefgh", "abcdefgh"]);
}

/// A client stream's messages go on as the caller writes them (they were
/// once held until the stream ended), and a retry after the server gave up
/// half-way replays those sent, then goes on with the caller's stream.
#[tokio::test(start_paused = true)]
async fn messages_are_sent_on_as_written_and_a_retry_continues_the_stream() {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (first_tx, first_rx) = tokio::sync::mpsc::unbounded_channel::<bytes::Bytes>();
    let attempts = Arc::new(AtomicU32::new(0));
    let a = attempts.clone();
    // Attempt 1 reads one message and answers UNAVAILABLE; attempt 2 reads
    // the whole stream.
    let server = tower::service_fn(move |req: http::Request<Body>| {
        let first = a.fetch_add(1, Ordering::SeqCst) == 0;
        let first_tx = first_tx.clone();
        async move {
            use http_body_util::BodyExt;
            let mut body = req.into_body();
            if first {
                let frame = body.frame().await.unwrap()?;
                first_tx.send(frame.into_data().unwrap()).unwrap();
                return Ok(tonic::Status::unavailable("draining").into_http());
            }
            let all = body.collect().await?.to_bytes();
            let mut res = http::Response::new(Body::empty());
            res.headers_mut()
                .insert("x-got", all.as_ref().try_into().unwrap());
            Ok::<_, tonic::Status>(res)
        }
    });
    let svc = ServiceBuilder::new()
        .layer(grpc_retry("stream"))
        .service(server);
    let call = tokio::spawn(svc.oneshot(http::Request::new(Body::new(Streaming(rx)))));
    tx.send(data("one")).unwrap();
    // The first message reached the server while the stream is still open.
    let mut first_rx = first_rx;
    let got = tokio::time::timeout(Duration::from_secs(5), first_rx.recv())
        .await
        .expect("sent on before the stream ended");
    assert_eq!(got.unwrap(), "one");
    tx.send(data("two")).unwrap();
    tx.send(data("three")).unwrap();
    drop(tx);
    let res = call.await.unwrap().unwrap();
    assert_eq!(res.headers()["x-got"], "onetwothree");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

/// A client-streaming call on a real tonic server (a hand-written
/// `Collector` that joins the messages it is sent): through the preset,
/// with nothing in front, the first message reaches the server while the
/// caller's stream is still open; the server refuses the call after one
/// message, and the retry sends that one again, then the rest as the caller
/// writes them.
mod client_stream {
    use super::*;
    use std::convert::Infallible;
    use std::future::Future;
    use tonic_prost::ProstCodec;

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Chunk {
        #[prost(string, tag = "1")]
        pub text: String,
    }

    /// The first call reads one message, reports it and answers
    /// `UNAVAILABLE`; later calls join every message.
    #[derive(Clone)]
    struct Collector {
        calls: Arc<AtomicU32>,
        first: tokio::sync::mpsc::UnboundedSender<String>,
    }

    impl tonic::server::NamedService for Collector {
        const NAME: &'static str = "test.Collector";
    }

    impl tower::Service<http::Request<Body>> for Collector {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, req: http::Request<Body>) -> Self::Future {
            let me = self.clone();
            Box::pin(async move {
                let join =
                    tower::service_fn(move |req: tonic::Request<tonic::Streaming<Chunk>>| {
                        let me = me.clone();
                        async move {
                            let mut messages = req.into_inner();
                            if me.calls.fetch_add(1, Ordering::SeqCst) == 0 {
                                let one = messages.message().await?.unwrap();
                                me.first.send(one.text).unwrap();
                                return Err(tonic::Status::unavailable("draining"));
                            }
                            let mut text = String::new();
                            while let Some(chunk) = messages.message().await? {
                                text.push_str(&chunk.text);
                            }
                            Ok(tonic::Response::new(Chunk { text }))
                        }
                    });
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<Chunk, Chunk>::default());
                Ok(grpc.client_streaming(join, req).await)
            })
        }
    }

    #[tokio::test]
    async fn a_client_stream_streams_and_its_retry_continues_it() {
        let calls = Arc::new(AtomicU32::new(0));
        let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel();
        let collector = Collector {
            calls: calls.clone(),
            first: first_tx,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(collector)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
        let preset = Stack::grpc_client("collector").unwrap();
        let retry = preset.retry_layer().handle();
        let mut client =
            tonic::client::Grpc::new(ServiceBuilder::new().layer(preset).service(channel));
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let messages = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
        let call = tokio::spawn(async move {
            client.ready().await.unwrap();
            client
                .client_streaming(
                    tonic::Request::new(messages),
                    http::uri::PathAndQuery::from_static("/test.Collector/Collect"),
                    ProstCodec::<Chunk, Chunk>::default(),
                )
                .await
        });
        let chunk = |text: &str| Chunk { text: text.into() };
        tx.send(chunk("one")).unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), first_rx.recv())
            .await
            .expect("the first message is sent on before the stream ends");
        assert_eq!(first.unwrap(), "one");
        tx.send(chunk("two")).unwrap();
        tx.send(chunk("three")).unwrap();
        drop(tx);
        let res = call.await.unwrap().unwrap();
        assert_eq!(res.into_inner().text, "onetwothree");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert_eq!(retry.metrics().retries(), 1);
    }
}
