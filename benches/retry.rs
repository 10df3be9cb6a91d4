//! The first-attempt-success path through a retry layer, against the bare
//! service and tower's `Retry` with a policy that never retries.
//! `cargo bench --bench retry`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::retry::Retry;
use std::future::Ready;
use support::{bare, layer_contender};
use tower::Layer;

/// tower's retry policy that never retries.
#[derive(Clone)]
struct Never;

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Never {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, _: &mut Result<Res, E>) -> Option<Self::Future> {
        None
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/first_attempt_succeeds");
    layer_contender(&mut g, "bare", bare());
    let retry = Retry::builder("bench").build().unwrap();
    layer_contender(&mut g, "seawall", retry.layer().layer(bare()));
    layer_contender(
        &mut g,
        "tower Retry",
        tower::retry::RetryLayer::new(Never).layer(bare()),
    );
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
