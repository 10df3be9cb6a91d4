//! The closed-state call through a circuit breaker, against the bare call
//! and against peer crates, single-threaded and with two threads sharing
//! one breaker. `cargo bench --bench circuit_breaker`.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use seawall::prelude::*;
use std::hint::black_box;
use std::time::Duration;
use support::{bare, layer_contender, run_threads};
use tower::Layer;

fn seawall_breaker() -> CircuitBreaker {
    CircuitBreaker::builder("bench")
        .sliding_window(SlidingWindow::count(100))
        .failure_rate_threshold(50.0)
        .build()
        .unwrap()
}

fn tower_resilience_layer() -> tower_resilience::circuitbreaker::CircuitBreakerLayer<
    tower_resilience::circuitbreaker::DefaultClassifier,
> {
    tower_resilience::circuitbreaker::CircuitBreakerLayer::builder()
        .failure_rate_threshold(0.5)
        .sliding_window_size(100)
        .build()
        .unwrap()
}

fn recloser_breaker() -> recloser::Recloser {
    recloser::Recloser::custom()
        .error_rate(0.5)
        .closed_len(100)
        .build()
}

fn failsafe_breaker() -> impl failsafe::CircuitBreaker + Clone + Send + Sync {
    failsafe::Config::new().build()
}

/// The layer: each contender's service, and clones of it on two threads
/// sharing one breaker.
fn layer_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/layer");
    layer_contender(&mut group, "bare", bare());
    let breaker = seawall_breaker();
    layer_contender(&mut group, "seawall", breaker.layer().layer(bare()));
    layer_contender(
        &mut group,
        "tower-resilience",
        tower_resilience_layer().layer(bare()),
    );
    group.finish();
}

/// The primitive: guard a synchronous call, against recloser and failsafe.
fn primitive_benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuit_breaker/primitive");

    #[inline]
    fn work(x: u64) -> Result<u64, ()> {
        Ok(black_box(x))
    }

    macro_rules! contender {
        ($name:expr, $guard:expr, $call:expr) => {{
            let guard = $guard;
            let call = $call;
            group.bench_function(BenchmarkId::new($name, "1 thread"), |b| {
                b.iter(|| black_box(call(&guard, black_box(7))))
            });
            group.bench_function(BenchmarkId::new($name, "2 threads"), |b| {
                b.iter_custom(|iters| {
                    run_threads(2, iters, || {
                        let guard = &guard;
                        move |iters| {
                            for i in 0..iters {
                                black_box(call(guard, black_box(i)));
                            }
                        }
                    })
                })
            });
        }};
    }

    /// A call guarded by a seawall breaker, its outcome recorded.
    fn guarded(b: &CircuitBreaker, x: u64) -> bool {
        match b.try_acquire() {
            Ok(permit) => {
                let r = work(x);
                permit.record(if r.is_ok() {
                    Outcome::Success
                } else {
                    Outcome::Failure
                });
                r.is_ok()
            }
            Err(_) => false,
        }
    }

    contender!("bare", (), |_: &(), x| work(x).is_ok());
    contender!(
        "seawall (time window, slow-call detection)",
        CircuitBreaker::builder("bench-timed")
            .sliding_window(SlidingWindow::time(Duration::from_secs(60)))
            .slow_call_duration_threshold(Duration::from_secs(1))
            .build()
            .unwrap(),
        guarded
    );
    contender!("seawall", seawall_breaker(), guarded);
    contender!(
        "recloser",
        recloser_breaker(),
        |b: &recloser::Recloser, x| b.call(|| work(x)).is_ok()
    );
    contender!("failsafe", failsafe_breaker(), |b: &_, x| {
        failsafe::CircuitBreaker::call(b, || work(x)).is_ok()
    });
    group.finish();
}

criterion_group!(benches, layer_benches, primitive_benches);
criterion_main!(benches);
