//! Shared bench plumbing: a minimal executor and a two-thread harness, so
//! every contender is driven the same way.

#![allow(dead_code)]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};
use tower::Service;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the current thread (parks on `Pending`).
pub fn thread_waker() -> Waker {
    Waker::from(Arc::new(Unpark(thread::current())))
}

/// Polls `fut` to completion on this thread.
#[inline]
pub fn block_on<F: Future>(fut: F, cx: &mut Context<'_>) -> F::Output {
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return v;
        }
        thread::park();
    }
}

/// One call through a tower service the way tower drives it: `poll_ready`
/// until ready, then `call`, then the response future to completion.
#[inline]
pub fn call<S: Service<Req>, Req>(
    svc: &mut S,
    req: Req,
    cx: &mut Context<'_>,
) -> Result<S::Response, S::Error> {
    loop {
        match svc.poll_ready(cx) {
            Poll::Ready(Ok(())) => break,
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => thread::park(),
        }
    }
    block_on(svc.call(req), cx)
}

/// Runs `per_thread(iters)` on `threads` threads started together; returns
/// the wall time until the last finishes (per-call latency with contention).
pub fn run_threads<F>(threads: usize, iters: u64, make: impl Fn() -> F) -> Duration
where
    F: FnOnce(u64) + Send,
{
    let barrier = Barrier::new(threads + 1);
    thread::scope(|s| {
        for _ in 0..threads {
            let work = make();
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                work(iters);
                barrier.wait();
            });
        }
        barrier.wait();
        let start = Instant::now();
        barrier.wait();
        start.elapsed()
    })
}

/// Benches `svc` (one thread) and clones of it on two threads (one shared
/// instance behind them), through `poll_ready` + `call` + polls.
pub fn layer_contender<S>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    svc: S,
) where
    S: Service<u64> + Clone + Send,
{
    layer_contender_with(g, name, svc, |i| i, None);
}

/// [`layer_contender`] with requests made by `make` from the iteration
/// number (made inside the timed loop, as a caller would), inside `runtime`
/// when a contender needs one (e.g. it arms timers eagerly).
pub fn layer_contender_with<S, Req>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    mut svc: S,
    make: fn(u64) -> Req,
    runtime: Option<&tokio::runtime::Handle>,
) where
    S: Service<Req> + Clone + Send,
{
    use criterion::BenchmarkId;
    use std::hint::black_box;
    let _entered = runtime.map(|rt| rt.enter());
    let waker = thread_waker();
    let mut cx = Context::from_waker(&waker);
    g.bench_function(BenchmarkId::new(name, "1 thread"), |b| {
        b.iter(|| black_box(call(&mut svc, make(black_box(7)), &mut cx).is_ok()))
    });
    g.bench_function(BenchmarkId::new(name, "2 threads"), |b| {
        b.iter_custom(|iters| {
            run_threads(2, iters, || {
                let mut svc = svc.clone();
                let runtime = runtime.cloned();
                move |iters| {
                    let _entered = runtime.as_ref().map(|rt| rt.enter());
                    let waker = thread_waker();
                    let mut cx = Context::from_waker(&waker);
                    for i in 0..iters {
                        black_box(call(&mut svc, make(black_box(i)), &mut cx).is_ok());
                    }
                }
            })
        })
    });
}

/// The bare service every layer bench wraps: a `service_fn` whose future is
/// ready at once.
pub type Bare =
    tower::util::ServiceFn<fn(u64) -> std::future::Ready<Result<u64, std::convert::Infallible>>>;

/// A [`Bare`] service.
pub fn bare() -> Bare {
    tower::service_fn(|x: u64| std::future::ready(Ok::<u64, std::convert::Infallible>(x)))
}

/// tower's retry policy that copies each request (as any retry must, to be
/// able to retry) and never retries.
#[derive(Clone)]
pub struct CopyNeverRetry;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for CopyNeverRetry {
    type Future = std::future::Ready<()>;
    fn retry(&mut self, _: &mut Req, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}
