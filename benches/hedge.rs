//! A call that answers at once through a hedge (no copy sent: the success
//! path every call pays), against the bare service and tower's `Hedge` in
//! the same run, both learning their delay from latencies (p95). tower's
//! `Hedge` needs a runtime for its timer; both get one. (tower's `Hedge`
//! is not `Clone`, so it has no two-thread row.)
//! `cargo bench --bench hedge`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::hedge::{Hedge, HedgeDelay};
use std::time::Duration;
use support::{bare, layer_contender_with};
use tower::Layer;

/// tower's hedging policy: copy every request, always allow the hedge.
#[derive(Clone)]
struct CopyAll;

impl tower::hedge::Policy<u64> for CopyAll {
    fn clone_request(&self, req: &u64) -> Option<u64> {
        Some(*req)
    }
    fn can_retry(&self, _: &u64) -> bool {
        true
    }
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let handle = rt.handle().clone();
    let mut g = c.benchmark_group("hedge/layer");
    let same = |i| i;
    layer_contender_with(&mut g, "bare", bare(), same, Some(&handle));
    let fixed = Hedge::builder("bench-fixed")
        .delay(HedgeDelay::Fixed(Duration::from_millis(10)))
        .build()
        .unwrap();
    layer_contender_with(
        &mut g,
        "seawall fixed delay",
        fixed.layer().layer(bare()),
        same,
        Some(&handle),
    );
    let learned = Hedge::builder("bench-p95")
        .delay(HedgeDelay::P95)
        .build()
        .unwrap();
    layer_contender_with(
        &mut g,
        "seawall p95",
        learned.layer().layer(bare()),
        same,
        Some(&handle),
    );
    // tower's Hedge is not `Clone`: one thread only.
    g.bench_function("tower Hedge p95/1 thread", |b| {
        use std::task::Context;
        let _entered = handle.enter();
        let waker = support::thread_waker();
        let mut cx = Context::from_waker(&waker);
        let mut svc =
            tower::hedge::Hedge::new::<u64>(bare(), CopyAll, 100, 0.95, Duration::from_secs(10));
        b.iter(|| std::hint::black_box(support::call(&mut svc, 7, &mut cx).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
