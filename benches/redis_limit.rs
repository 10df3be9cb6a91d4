//! Fleet-wide limiting on a real `redis-server` (skipped without one):
//! decisions per second and latency for 1, 16 and 256 concurrent callers on
//! one limiter handle, against the local limiter and a naive fixed-window
//! `INCR` + `EXPIRE` limiter, in the same run; then a flood 10× over the
//! limit, with and without a local pre-check, and the Redis calls it costs.
//! `cargo bench --all-features --bench redis_limit`.

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::prelude::*;
use seawall::redis::{Redis, RedisRateLimiter};
use std::sync::Arc;
use std::time::Instant;

#[path = "../tests/support/redis.rs"]
mod redis_server;

const CALLERS: [usize; 3] = [1, 16, 256];

/// Time per decision with `callers` concurrent tasks making `iters` in all.
fn concurrent<F, Fut>(
    rt: &tokio::runtime::Runtime,
    callers: usize,
    iters: u64,
    decide: F,
) -> std::time::Duration
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let each = iters.div_ceil(callers as u64);
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..callers {
            let decide = decide.clone();
            tasks.spawn(async move {
                for _ in 0..each {
                    decide().await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        start
            .elapsed()
            .mul_f64(iters as f64 / (each * callers as u64) as f64)
    })
}

/// p50 and p99 of one decision's latency with `callers` concurrent tasks.
fn latencies<F, Fut>(rt: &tokio::runtime::Runtime, callers: usize, decide: F) -> (f64, f64, f64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..callers {
            let decide = decide.clone();
            tasks.spawn(async move {
                let mut l = Vec::new();
                for _ in 0..(20_000 / callers).max(50) {
                    let t = Instant::now();
                    decide().await;
                    l.push(t.elapsed());
                }
                l
            });
        }
        let mut all = Vec::new();
        while let Some(l) = tasks.join_next().await {
            all.extend(l.unwrap());
        }
        let per_sec = all.len() as f64 / start.elapsed().as_secs_f64();
        all.sort();
        let q =
            |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1e6;
        (per_sec, q(0.5), q(0.99))
    })
}

fn limiters(c: &mut Criterion) {
    let Some(server) = redis_server::RedisServer::start() else {
        eprintln!("redis_limit: skipped (no redis-server)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = Redis::connect(&server.url()).unwrap();
    // A limit never reached: every decision goes to Redis and is admitted.
    let fleet: RedisRateLimiter = RateLimiter::builder("bench")
        .rate(1_000_000, Duration::from_secs(1))
        .burst(1_000_000)
        .build_on_redis(&redis)
        .unwrap();
    let local = RateLimiter::builder("bench-local")
        .rate(1_000_000_000, Duration::from_secs(1))
        .burst(1_000_000)
        .build()
        .unwrap();
    let naive = rt.block_on(server.raw());
    let mut g = c.benchmark_group("redis_limit/decision");
    g.sample_size(10);
    for callers in CALLERS {
        let f = fleet.clone();
        let seawall = move || {
            let f = f.clone();
            async move {
                let _ = f.try_acquire().await;
            }
        };
        let n = naive.clone();
        let fixed_window = move || {
            let mut n = n.clone();
            async move {
                // The usual hand-written limiter: INCR, then EXPIRE the window.
                let (count, _): (u64, bool) = redis::pipe()
                    .incr("naive:window", 1u64)
                    .expire("naive:window", 1)
                    .query_async(&mut n)
                    .await
                    .unwrap();
                std::hint::black_box(count);
            }
        };
        let l = local.clone();
        let in_process = move || {
            let l = l.clone();
            async move {
                let _ = std::hint::black_box(l.try_acquire());
            }
        };
        g.bench_function(format!("seawall on redis/{callers} callers"), |b| {
            b.iter_custom(|iters| concurrent(&rt, callers, iters, seawall.clone()))
        });
        g.bench_function(format!("naive INCR+EXPIRE/{callers} callers"), |b| {
            b.iter_custom(|iters| concurrent(&rt, callers, iters, fixed_window.clone()))
        });
        g.bench_function(format!("local limiter/{callers} callers"), |b| {
            b.iter_custom(|iters| concurrent(&rt, callers, iters, in_process.clone()))
        });
        let (per_sec, p50, p99) = latencies(&rt, callers, seawall.clone());
        println!("seawall on redis, {callers} callers: {per_sec:.0} decisions/s, p50 {p50:.0} µs, p99 {p99:.0} µs");
        let (per_sec, p50, p99) = latencies(&rt, callers, fixed_window.clone());
        println!("naive INCR+EXPIRE, {callers} callers: {per_sec:.0} decisions/s, p50 {p50:.0} µs, p99 {p99:.0} µs");
    }
    g.finish();

    // A flood 10× over a 1,000/s limit for one second, 16 callers.
    for precheck in [false, true] {
        let mut l = RateLimiter::builder(if precheck { "flood-pre" } else { "flood" })
            .rate(1000, Duration::from_secs(1))
            .burst(10)
            .build_on_redis(&redis)
            .unwrap();
        if precheck {
            l = l.precheck(
                RateLimiter::builder("flood-pre.local")
                    .rate(1100, Duration::from_secs(1))
                    .burst(11)
                    .build()
                    .unwrap(),
            );
        }
        let admitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
        rt.block_on(async {
            let start = tokio::time::Instant::now();
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..16 {
                let (l, admitted) = (l.clone(), admitted.clone());
                tasks.spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_micros(1600)); // 10,000/s in all
                    while start.elapsed() < Duration::from_secs(1) {
                        tick.tick().await;
                        if l.try_acquire().await.is_ok() {
                            admitted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        });
        let admitted = admitted.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "flood 10x over 1,000/s, pre-check {}: {admitted} admitted, {} Redis calls ({:.2} per admitted)",
            if precheck { "on" } else { "off" },
            l.redis_calls(),
            l.redis_calls() as f64 / admitted.max(1) as f64
        );
    }
}

criterion_group!(benches, limiters);
criterion_main!(benches);
