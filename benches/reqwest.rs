//! What the preset costs a reqwest-middleware user: a `ClientWithMiddleware`
//! call with and without `SeawallMiddleware(Stack::http_client)`, in the
//! same run. The chain ends in a middleware that answers 200 itself, so the
//! rows differ by seawall alone (no socket noise); a second pair makes the
//! same calls to a real server on 127.0.0.1, for scale.
//! `cargo bench --features reqwest --bench reqwest`.

use criterion::{criterion_group, criterion_main, Criterion};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Middleware, Next};
use seawall::reqwest::SeawallMiddleware;
use seawall::stack::Stack;
use std::hint::black_box;

/// The end of the chain: 200, at once.
struct Answer;

#[async_trait::async_trait]
impl Middleware for Answer {
    async fn handle(
        &self,
        _req: reqwest::Request,
        _extensions: &mut http::Extensions,
        _next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        Ok(reqwest::Response::from(http::Response::new("ok")))
    }
}

/// A server on 127.0.0.1 (a thread and runtime of its own) answering 200.
fn server() -> std::net::SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|_req| async {
                        Ok::<_, std::convert::Infallible>(http::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                        ))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn call(rt: &tokio::runtime::Runtime, client: &ClientWithMiddleware, req: &reqwest::Request) {
    let res = rt.block_on(client.execute(req.try_clone().unwrap()));
    black_box(res.unwrap());
}

fn middleware(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let with_seawall = |builder: ClientBuilder| {
        builder.with(SeawallMiddleware::new(Stack::http_client("bench").unwrap()))
    };
    let bare = ClientBuilder::new(http.clone()).with(Answer).build();
    let seawall = with_seawall(ClientBuilder::new(http.clone()))
        .with(Answer)
        .build();
    let req = http.get("http://127.0.0.1:1/items/7").build().unwrap();

    let mut g = c.benchmark_group("reqwest_middleware/answered in the chain");
    g.bench_function("bare ClientWithMiddleware", |b| {
        b.iter(|| call(&rt, &bare, &req))
    });
    g.bench_function("seawall http_client", |b| {
        b.iter(|| call(&rt, &seawall, &req))
    });
    g.finish();

    let addr = server();
    let bare = ClientBuilder::new(http.clone()).build();
    let seawall = with_seawall(ClientBuilder::new(http.clone())).build();
    let req = http.get(format!("http://{addr}/items/7")).build().unwrap();
    let mut g = c.benchmark_group("reqwest_middleware/127.0.0.1");
    g.sample_size(20);
    g.bench_function("bare ClientWithMiddleware", |b| {
        b.iter(|| call(&rt, &bare, &req))
    });
    g.bench_function("seawall http_client", |b| {
        b.iter(|| call(&rt, &seawall, &req))
    });
    g.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
