//! The rate limiter as users run it: the default configuration (no
//! `.clock(..)`), built against tokio without `test-util` (which the main
//! crate's benches cannot avoid: its dev-dependencies turn it on), beside
//! governor's default (`RateLimiter::direct`, quanta clock) and tower's
//! `RateLimit`, in the same run.
//! `cargo bench --manifest-path benches/production/Cargo.toml`.

#[path = "../../support/limits.rs"]
mod limits;
#[path = "../../support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use governor::RateLimiter as Governor;
use limits::{quota, seawall_default, seawall_with, tower_rate_limit_row, BURST};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use support::{bare, layer_contender};
use tower::Layer;

/// The floor of a limiter shared between threads: one TSC read and one
/// compare-and-swap of the bucket's theoretical arrival time, in raw ticks
/// (no scaling, no counters, no configuration to read). Anything shared
/// pays at least this; tower's `RateLimit` pays less only because it is
/// not shared (`&mut self` state per service, not `Clone`).
struct Floor {
    tat: AtomicU64,
    clock: quanta::Clock,
    t: u64,
    tau: u64,
}

impl Floor {
    fn new() -> Self {
        Self {
            tat: AtomicU64::new(0),
            clock: quanta::Clock::new(),
            t: 1,
            tau: u64::from(BURST),
        }
    }

    #[inline]
    fn check(&self) -> bool {
        let now = self.clock.raw();
        let mut current = self.tat.load(Ordering::Acquire);
        loop {
            let next = current.max(now) + self.t;
            if next - now > self.tau {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}

fn direct(c: &mut Criterion) {
    let mut g = c.benchmark_group("production/direct");
    let floor = Floor::new();
    g.bench_function(
        BenchmarkId::new("floor (TSC read + CAS)", "1 thread"),
        |b| b.iter(|| black_box(floor.check())),
    );
    let ours = seawall_default();
    g.bench_function(BenchmarkId::new("seawall (default)", "1 thread"), |b| {
        b.iter(|| black_box(ours.try_acquire().is_ok()))
    });
    let theirs = Governor::direct(quota());
    g.bench_function(BenchmarkId::new("governor (default)", "1 thread"), |b| {
        b.iter(|| black_box(theirs.check().is_ok()))
    });
    let tokio_clock = seawall_with(seawall::TokioClock::new());
    g.bench_function(BenchmarkId::new("seawall (tokio clock)", "1 thread"), |b| {
        b.iter(|| black_box(tokio_clock.try_acquire().is_ok()))
    });
    g.finish();
}

fn layers(c: &mut Criterion) {
    // tower's RateLimit builds a tokio `Sleep` up front, so enter a runtime.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("production/layer");
    layer_contender(&mut g, "bare", bare());
    layer_contender(
        &mut g,
        "seawall (default)",
        seawall_default().layer().layer(bare()),
    );
    layer_contender(
        &mut g,
        "seawall (tokio clock)",
        seawall_with(seawall::TokioClock::new())
            .layer()
            .layer(bare()),
    );
    tower_rate_limit_row(&mut g);
    g.finish();
}

criterion_group!(benches, direct, layers);
criterion_main!(benches);
