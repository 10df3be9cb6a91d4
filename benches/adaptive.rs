//! A call that answers at once through the client-side adaptive throttle
//! (nothing dropped: the path every call pays), against the bare service.
//! No Rust peer has one to measure beside it.
//! `cargo bench --bench adaptive`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::adaptive::AdaptiveThrottle;
use support::{bare, layer_contender};
use tower::Layer;

fn throttle(c: &mut Criterion) {
    let mut g = c.benchmark_group("adaptive/throttle");
    layer_contender(&mut g, "bare", bare());
    let t = AdaptiveThrottle::builder("bench").build().unwrap();
    layer_contender(
        &mut g,
        "seawall AdaptiveThrottleLayer",
        t.layer().layer(bare()),
    );
    g.finish();
}

criterion_group!(benches, throttle);
criterion_main!(benches);
