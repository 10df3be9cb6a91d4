//! Shared test plumbing (each test crate uses part of it).

#![allow(dead_code)]

/// A runtime on tokio's paused clock.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

/// What `work(t)` returns on each thread `t` of `threads`, all started
/// together (a barrier), in thread order.
pub fn on_threads<T: Send>(threads: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (start, work) = (&start, &work);
                s.spawn(move || {
                    start.wait();
                    work(t)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// What `make` returns when called `each` times on each of `threads`
/// threads at once: e.g. permits taken on several threads, to be dropped
/// or recorded on another.
pub fn made_on_threads<T: Send>(
    threads: usize,
    each: usize,
    make: impl Fn() -> T + Sync,
) -> Vec<T> {
    on_threads(threads, |_| (0..each).map(|_| make()).collect::<Vec<_>>())
        .into_iter()
        .flatten()
        .collect()
}

/// Records each outcome through a permit of `b`, in order; every call must
/// be admitted.
pub fn record(b: &seawall::CircuitBreaker, outcomes: &[seawall::Outcome]) {
    for &o in outcomes {
        b.try_acquire().expect("admitted").record(o);
    }
}

/// Serves HTTP/1 on 127.0.0.1 from a thread and a runtime of its own (real
/// time, whatever the test's own runtime does with its clock). Each
/// connection `n` (from 1) gets the handler `per_connection(n)` makes;
/// returns the address.
pub fn serve_on_thread<H, Fut>(
    per_connection: impl Fn(u64) -> H + Send + 'static,
) -> std::net::SocketAddr
where
    H: Fn(http::Request<hyper::body::Incoming>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            for n in 1.. {
                let (stream, _) = listener.accept().await.unwrap();
                let handle = std::sync::Arc::new(per_connection(n));
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let handle = handle.clone();
                        async move { Ok::<_, std::convert::Infallible>(handle(req).await) }
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

/// A service that counts the calls inside it at once and keeps the most
/// seen in `peak`, yielding once per call (so calls overlap on a
/// multi-threaded runtime): the exact-count stress tests' backend.
pub fn peak_gauge(
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl tower::Service<
    (),
    Response = (),
    Error = tower::BoxError,
    Future = impl std::future::Future<Output = Result<(), tower::BoxError>> + Send,
> + Clone {
    use std::sync::atomic::Ordering;
    let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tower::service_fn(move |()| {
        let (inside, peak) = (inside.clone(), peak.clone());
        async move {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::task::yield_now().await;
            inside.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    })
}

/// Sends `n` calls through clones of `svc` at once, each on its own task,
/// and waits for every one to succeed.
pub async fn call_all_at_once<S>(svc: S, n: usize)
where
    S: tower::Service<()> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send + 'static,
    S::Error: std::fmt::Debug + Send + 'static,
{
    use tower::ServiceExt;
    let tasks: Vec<_> = (0..n)
        .map(|_| tokio::spawn(svc.clone().oneshot(())))
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}
