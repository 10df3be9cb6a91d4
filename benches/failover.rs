//! A call through a set of three endpoints that answer at once: the path
//! every call pays (pick an endpoint, count, judge the answer), against the
//! bare service, by priority and by least outstanding (two random choices),
//! and the floor under any exact least-outstanding choice.
//! `cargo bench --bench failover`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::failover::{Failover, Routing};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use support::{bare, layer_contender};

/// The floor under any exact least-outstanding choice: a count of calls in
/// flight per endpoint that every thread sees, read for two endpoints and
/// moved up and down once per call (nothing else: no routing, no health).
#[derive(Clone)]
struct SharedCounts(Arc<[AtomicU64; 3]>);

impl tower::Service<u64> for SharedCounts {
    type Response = u64;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<u64, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, x: u64) -> Self::Future {
        let c = &self.0;
        let (a, b) = ((x % 3) as usize, ((x + 1) % 3) as usize);
        let pick = if c[b].load(Ordering::Relaxed) < c[a].load(Ordering::Relaxed) {
            b
        } else {
            a
        };
        c[pick].fetch_add(1, Ordering::Relaxed);
        c[pick].fetch_sub(1, Ordering::Relaxed);
        std::future::ready(Ok(x))
    }
}

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
    layer_contender(
        &mut g,
        "floor: shared in-flight counts, read and moved",
        SharedCounts(Arc::new(Default::default())),
    );
    g.finish();
}

criterion_group!(benches, sets);
criterion_main!(benches);
