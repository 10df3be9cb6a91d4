//! The first-attempt-success path through a retry layer, against the bare
//! service, tower's `Retry` (with a policy that never retries, and with a
//! `TpsBudget` policy as tower's docs recommend) and tower-resilience's
//! retry. `cargo bench --bench retry`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::retry::Retry;
use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use support::{bare, layer_contender, CopyNeverRetry};
use tower::retry::budget::{Budget, TpsBudget};
use tower::Layer;

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
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
