//! Rate limiters against governor (direct and keyed, 1,000 and 1,000,000
//! keys) and, as tower layers, against tower's `RateLimit` and
//! tower-resilience's rate limiter; one thread and two threads.
//! `cargo bench --bench rate_limit`. Every limit is set high enough that no
//! call is refused: this is the cost of saying yes.

#[path = "support/limits.rs"]
mod limits;
mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use governor::RateLimiter as Governor;
use limits::{quota, seawall_default, seawall_with, tower_rate_limit_row, BURST, PER_SECOND};
use seawall::prelude::*;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use support::{bare, layer_contender, run_threads};
use tower::Layer;

/// Runs `check` in the one- and two-thread shapes under `name`.
fn both<G: Sync>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    guard: &G,
    check: impl Fn(&G, u64) -> bool + Sync,
) {
    c.bench_function(BenchmarkId::new(name, "1 thread"), |b| {
        let mut i = 0u64;
        b.iter(|| {
            i = i.wrapping_add(1);
            black_box(check(guard, black_box(i)))
        })
    });
    // Each thread walks the keys from its own starting point, as two
    // threads serving different clients do. (Both walking the same keys in
    // lockstep makes every call contend for the same entry and shard lock;
    // whether they stay in lockstep varies from sample to sample, which
    // made this row swing between ~50 and ~140 ns for both crates.)
    c.bench_function(BenchmarkId::new(name, "2 threads"), |b| {
        b.iter_custom(|iters| {
            let threads = AtomicU64::new(0);
            run_threads(2, iters, || {
                let check = &check;
                let start = threads.fetch_add(1, Ordering::Relaxed) << 32;
                move |iters| {
                    for i in 0..iters {
                        black_box(check(guard, black_box(start + i)));
                    }
                }
            })
        })
    });
}

fn direct(c: &mut Criterion) {
    let mut g = c.benchmark_group("rate_limit/direct");
    let default = seawall_default();
    both(
        &mut g,
        "seawall (default: quanta clock)",
        &default,
        |l, _| l.try_acquire().is_ok(),
    );
    both(
        &mut g,
        "governor (default: quanta clock)",
        &Governor::direct(quota()),
        |l, _| l.check().is_ok(),
    );
    let tokio_clock = seawall_with(seawall::TokioClock::new());
    both(&mut g, "seawall (tokio clock)", &tokio_clock, |l, _| {
        l.try_acquire().is_ok()
    });
    let mono = Governor::direct_with_clock(quota(), governor::clock::MonotonicClock);
    both(&mut g, "governor (std clock)", &mono, |l, _| {
        l.check().is_ok()
    });
    g.finish();
}

fn keyed(c: &mut Criterion) {
    for keys in [1_000u64, 1_000_000] {
        let mut g = c.benchmark_group(format!("rate_limit/keyed {keys} keys"));
        let ours = RateLimiter::builder("bench")
            .rate(PER_SECOND, Duration::from_secs(1))
            .burst(BURST)
            .max_keys(2 * keys as usize)
            .clock(seawall::QuantaClock::new())
            .build_keyed::<u64>()
            .unwrap();
        let theirs = Governor::keyed(quota());
        for k in 0..keys {
            ours.try_acquire(&k).unwrap();
            theirs.check_key(&k).unwrap();
        }
        // Keys visited in a scattered order, as client ids arrive.
        let key = move |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) % keys;
        both(&mut g, "seawall (quanta clock)", &ours, |l, i| {
            l.try_acquire(&key(i)).is_ok()
        });
        both(&mut g, "governor (quanta clock)", &theirs, |l, i| {
            l.check_key(&key(i)).is_ok()
        });
        g.finish();
        println!(
            "seawall keyed limiter, {keys} keys: {:.1} bytes per key",
            ours.memory_bytes() as f64 / keys as f64
        );
    }
}

fn layers(c: &mut Criterion) {
    // tower's RateLimit builds a tokio `Sleep` up front, so enter a runtime.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("rate_limit/layer");
    layer_contender(&mut g, "bare", bare());
    layer_contender(
        &mut g,
        "seawall (default: quanta clock)",
        seawall_default().layer().layer(bare()),
    );
    let limiter = seawall_with(seawall::TokioClock::new());
    layer_contender(
        &mut g,
        "seawall (tokio clock)",
        limiter.layer().layer(bare()),
    );
    tower_rate_limit_row(&mut g);
    let tr =
        tower_resilience::ratelimiter::RateLimiterLayer::burst(PER_SECOND as usize, BURST as usize)
            .build()
            .unwrap();
    layer_contender(&mut g, "tower-resilience", tr.layer(bare()));
    g.finish();
}

criterion_group!(benches, direct, keyed, layers);
criterion_main!(benches);
