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

/// What `make` returns when called `each` times on each of `threads`
/// threads at once: e.g. permits taken on several threads, to be dropped
/// or recorded on another.
pub fn made_on_threads<T: Send>(
    threads: usize,
    each: usize,
    make: impl Fn() -> T + Sync,
) -> Vec<T> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| (0..each).map(|_| make()).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}
