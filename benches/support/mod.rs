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
pub fn call<S: Service<u64>>(
    svc: &mut S,
    req: u64,
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
