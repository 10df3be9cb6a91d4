//! The examples' local HTTP backend: one accept loop on 127.0.0.1, each
//! example choosing only what request number `n` gets.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Serves HTTP/1 on 127.0.0.1 (a free port): request number `n`, counted
/// from 0 over all connections, gets `answer(n)`. Returns the address and
/// the number of requests served so far.
pub async fn serve<F, Fut>(answer: F) -> (SocketAddr, Arc<AtomicU64>)
where
    F: Fn(u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let (count, answer) = (count.clone(), answer.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let response = answer(count.fetch_add(1, Ordering::Relaxed));
                    async move { Ok::<_, std::convert::Infallible>(response.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, served)
}

/// A response with `status` and a static body.
pub fn respond(status: StatusCode, body: &'static [u8]) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(body)));
    *res.status_mut() = status;
    res
}

/// A server on 127.0.0.1 failing every third request with 503 (the
/// client examples' dependency); the address and its count of requests.
#[allow(dead_code)]
pub async fn flaky_server() -> (SocketAddr, Arc<AtomicU64>) {
    serve(|n| async move {
        let status = if n % 3 == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        respond(status, b"in stock")
    })
    .await
}
