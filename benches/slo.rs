//! A call recorded by an SLO: `SloLayer` against the bare service, with
//! and without a latency threshold (one clock read or two), beside a clock
//! read alone, in the same run. `cargo bench --bench slo`.

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use seawall::slo::Slo;
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use support::{bare, layer_contender};
use tower::{Layer, Service};

/// The floor: what recording a call's outcome by time needs at the least —
/// a reference count the response future holds (the SLO must outlive the
/// service), one clock read when the call ends, and one count on a counter
/// of this thread's own.
#[derive(Clone)]
struct Floor<S> {
    inner: S,
    clock: Arc<seawall::ClockHandle>,
}

thread_local! {
    static COUNTED: Cell<u64> = const { Cell::new(0) };
}

struct FloorFuture<F> {
    inner: F,
    clock: Arc<seawall::ClockHandle>,
}

impl<S: Service<u64>> Service<u64> for Floor<S>
where
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = FloorFuture<S::Future>;
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }
    fn call(&mut self, req: u64) -> Self::Future {
        FloorFuture {
            inner: self.inner.call(req),
            clock: self.clock.clone(),
        }
    }
}

impl<F: Future + Unpin> Future for FloorFuture<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let out = ready!(Pin::new(&mut self.inner).poll(cx));
        let second = self.clock.now() / 1_000_000_000;
        COUNTED.with(|c| c.set(c.get() + second));
        Poll::Ready(out)
    }
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("slo/record");
    layer_contender(&mut g, "bare", bare());
    let availability = Slo::builder("availability").build().unwrap();
    layer_contender(
        &mut g,
        "seawall SloLayer",
        availability.layer().layer(bare()),
    );
    let latency = Slo::builder("latency")
        .latency_threshold(Duration::from_millis(300))
        .build()
        .unwrap();
    layer_contender(
        &mut g,
        "seawall SloLayer, latency threshold",
        latency.layer().layer(bare()),
    );
    let floor = Floor {
        inner: bare(),
        clock: Arc::new(seawall::ClockHandle::default()),
    };
    layer_contender(
        &mut g,
        "floor: count + clock read + shared state held",
        floor,
    );
    // What one clock read costs here (the default clock: the TSC).
    let clock = seawall::ClockHandle::default();
    g.bench_function("a clock read", |b| {
        b.iter(|| std::hint::black_box(clock.now()))
    });
    g.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
