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
