//! A call through a set of three endpoints that answer at once: the path
//! every call pays (pick an endpoint, count, judge the answer), against the
//! bare service, by priority and by least outstanding (two random choices).
//! `cargo bench --bench failover`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::failover::{Failover, Routing};
use support::{bare, layer_contender};

fn sets(c: &mut Criterion) {
    let mut g = c.benchmark_group("failover/3 endpoints");
    layer_contender(&mut g, "bare", bare());
    for (name, routing) in [
        ("seawall priority", Routing::Priority),
        ("seawall least outstanding", Routing::LeastOutstanding),
    ] {
        let set = Failover::builder("bench")
            .routing(routing)
            .build(vec![bare(), bare(), bare()])
            .unwrap();
        layer_contender(&mut g, name, set);
    }
    g.finish();
}

criterion_group!(benches, sets);
criterion_main!(benches);
