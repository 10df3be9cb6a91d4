//! The first-attempt-success path through a retry layer, against the bare
//! service, tower's `Retry` (with a policy that never retries, and with a
//! `TpsBudget` policy as tower's docs recommend) and tower-resilience's
//! retry; and the floor: the least any retry with shared state can cost.
//! `cargo bench --bench retry`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::retry::Retry;
use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use support::{bare, layer_contender, Bare, CopyNeverRetry};
use tower::retry::budget::{Budget, TpsBudget};
use tower::{Layer, Service};

/// tower's retry policy with a budget, as in tower's docs: successes
/// deposit, retries withdraw.
#[derive(Clone)]
struct Budgeted(Arc<TpsBudget>);

impl<Req: Clone, Res, E> tower::retry::Policy<Req, Res, E> for Budgeted {
    type Future = Ready<()>;
    fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
        match result {
            Ok(_) => {
                self.0.deposit();
                None
            }
            Err(_) => self.0.withdraw().then(|| std::future::ready(())),
        }
    }
    fn clone_request(&mut self, req: &Req) -> Option<Req> {
        Some(req.clone())
    }
}

/// The floor under any retry whose calls share a budget and counts: a
/// layer that counts each call and whose response future holds a reference
/// count on the shared state — the future must reach the budget when the
/// call fails, and may outlive the service (`oneshot` drops it). It does
/// nothing else: no verdict, no copy, never a retry.
#[derive(Clone)]
struct Floor {
    shared: Arc<AtomicU64>,
    inner: Bare,
}

struct FloorFuture {
    _shared: Arc<AtomicU64>,
    inner: Ready<Result<u64, Infallible>>,
}

impl Future for FloorFuture {
    type Output = Result<u64, Infallible>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl Service<u64> for Floor {
    type Response = u64;
    type Error = Infallible;
    type Future = FloorFuture;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: u64) -> FloorFuture {
        // A plain load and store, what seawall's per-thread count stripes
        // cost. (On two threads both write this one word and may lose
        // counts, and share the reference count: a cost floor for one
        // thread, not a counter.)
        let calls = &*self.shared;
        calls.store(calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        FloorFuture {
            _shared: self.shared.clone(),
            inner: self.inner.call(req),
        }
    }
}

fn layers(c: &mut Criterion) {
    let mut g = c.benchmark_group("retry/first_attempt_succeeds");
    layer_contender(&mut g, "bare", bare());
    let retry = Retry::builder("bench").build().unwrap();
    layer_contender(
        &mut g,
        "seawall (default budget)",
        retry.layer().layer(bare()),
    );
    let unbudgeted = Retry::builder("bench").no_budget().build().unwrap();
    layer_contender(
        &mut g,
        "seawall (no budget)",
        unbudgeted.layer().layer(bare()),
    );
    layer_contender(
        &mut g,
        "tower Retry (never)",
        tower::retry::RetryLayer::new(CopyNeverRetry).layer(bare()),
    );
    let budget = Arc::new(TpsBudget::new(std::time::Duration::from_secs(10), 10, 0.2));
    layer_contender(
        &mut g,
        "tower Retry (TpsBudget)",
        tower::retry::RetryLayer::new(Budgeted(budget)).layer(bare()),
    );
    let resilience = tower_resilience::retry::RetryLayer::<u64, u64, Infallible>::builder()
        .max_attempts(3)
        .build();
    layer_contender(&mut g, "tower-resilience", resilience.layer(bare()));
    let floor = Floor {
        shared: Arc::new(AtomicU64::new(0)),
        inner: bare(),
    };
    layer_contender(&mut g, "floor: count + shared state held", floor);
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
