//! A call that completes at once through a timeout layer, against the bare
//! service and tower's `Timeout`. `cargo bench --bench timeout`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::timeout::Timeout;
use std::time::Duration;
use support::{bare, layer_contender};
use tower::Layer;

fn layers(c: &mut Criterion) {
    // tower's Timeout creates its timer in `call`: that needs a runtime.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("timeout/layer");
    layer_contender(&mut g, "bare", bare());
    let ours = Timeout::builder("bench")
        .duration(Duration::from_secs(1))
        .build()
        .unwrap();
    layer_contender(&mut g, "seawall", ours.layer(bare()));
    g.bench_function("tower Timeout/1 thread", |b| {
        use std::task::Context;
        let waker = support::thread_waker();
        let mut cx = Context::from_waker(&waker);
        let mut svc = tower::timeout::TimeoutLayer::new(Duration::from_secs(1)).layer(bare());
        b.iter(|| std::hint::black_box(support::call(&mut svc, 7, &mut cx).is_ok()))
    });
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
