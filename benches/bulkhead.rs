//! An uncontended call through a bulkhead against the bare service, tower's
//! `GlobalConcurrencyLimit` (one semaphore shared by all clones, like ours)
//! and tower-resilience's bulkhead; one thread, and two threads sharing one
//! limit. `cargo bench --bench bulkhead`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::prelude::*;
use support::{bare, layer_contender};
use tower::Layer;

const LIMIT: usize = 1_000;

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead/layer");
    layer_contender(&mut g, "bare", bare());
    let bulkhead = Bulkhead::builder("bench")
        .max_concurrent_calls(LIMIT)
        .build()
        .unwrap();
    layer_contender(&mut g, "seawall", bulkhead.layer().layer(bare()));
    layer_contender(
        &mut g,
        "tower GlobalConcurrencyLimit",
        tower::limit::GlobalConcurrencyLimitLayer::new(LIMIT).layer(bare()),
    );
    let tr = tower_resilience::bulkhead::BulkheadLayer::builder()
        .max_concurrent_calls(LIMIT)
        .build()
        .unwrap();
    layer_contender(&mut g, "tower-resilience", tr.layer(bare()));
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
