//! The retry layer over a real hyper client against a real HTTP server on
//! 127.0.0.1 that answers 503 with `Retry-After: 1` twice, then 200.
//!
//! The server runs on its own thread and runtime (real time); the client's
//! runtime has paused time, so the waits the server asked for are checked
//! exactly without sleeping on the wall clock.
#![cfg(feature = "http")]

mod support;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use seawall::retry::{Attempt, Retry};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::{Layer, ServiceExt};

/// Serves on a thread of its own; returns the address and the attempt
/// numbers it saw in the `x-attempt` header.
fn serve_flaky() -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (log, hits) = (seen.clone(), Arc::new(AtomicUsize::new(0)));
    let addr = support::serve_on_thread(move |_connection| {
        let (hits, log) = (hits.clone(), log.clone());
        move |req: Request<Incoming>| {
            let n = hits.fetch_add(1, Ordering::SeqCst);
            let attempt = req
                .headers()
                .get("x-attempt")
                .map(|v| v.to_str().unwrap().to_owned());
            log.lock().unwrap().push(attempt.unwrap_or_default());
            async move {
                let res = if n < 2 {
                    Response::builder()
                        .status(StatusCode::SERVICE_UNAVAILABLE)
                        .header("retry-after", "1")
                        .body(Full::new(Bytes::from_static(b"busy")))
                } else {
                    Response::builder().body(Full::new(Bytes::from_static(b"done")))
                };
                res.unwrap()
            }
        }
    });
    (addr, seen)
}

#[tokio::test(start_paused = true)]
async fn the_client_gets_200_after_waiting_as_told() {
    let (addr, seen) = serve_flaky();
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    // Put the attempt number (from the request's extensions) on the wire.
    let client = tower::service_fn(move |mut req: Request<Full<Bytes>>| {
        let attempt = Attempt::of(&req).number;
        req.headers_mut().insert("x-attempt", attempt.into());
        client.request(req)
    });
    let retry = Retry::builder("backend").max_attempts(4).build().unwrap();
    let svc = retry.layer().for_http().layer(client);

    let start = tokio::time::Instant::now();
    let req = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let waited = start.elapsed();

    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "done");
    // Twice told "1 second", longer than the default backoff (≤ 100 ms).
    assert_eq!(waited, Duration::from_secs(2));
    assert_eq!(*seen.lock().unwrap(), ["1", "2", "3"]);
    let m = retry.metrics();
    assert_eq!((m.calls, m.retries_throttled), (1, 2));
}

/// The README's promise, for the preset as shipped: a request whose body
/// streams (here a `BoxBody`, as a proxy forwards) cannot be copied, so it
/// gets one attempt, and the caller gets the server's answer, never an
/// error. (Real time: the preset's timers must not fire while the real
/// server answers; with one attempt nothing waits.)
#[tokio::test]
async fn a_streaming_body_gets_one_attempt_through_the_http_preset() {
    use http_body_util::combinators::BoxBody;
    use seawall::stack::Stack;
    let (addr, seen) = serve_flaky();
    let client: Client<HttpConnector, BoxBody<Bytes, std::convert::Infallible>> =
        Client::builder(TokioExecutor::new()).build_http();
    let svc = Stack::http_client("proxy").unwrap().layer(client);
    let req = Request::get(format!("http://{addr}/"))
        .body(BoxBody::new(Full::new(Bytes::from_static(b"streamed"))))
        .unwrap();
    let res = svc.oneshot(req).await.expect("an answer, not an error");
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(seen.lock().unwrap().len(), 1, "sent once");
}

/// What a proxy forwards, hyper's own streaming body, is known to the
/// replay (feature `hyper`): it compiles into the preset and is sent once.
#[cfg(feature = "hyper")]
#[test]
fn hyper_incoming_is_a_body_the_replay_knows() {
    fn knows<B: seawall::http::ReplayBody>() {}
    knows::<Incoming>();
}
