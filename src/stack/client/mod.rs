//! The client presets ([`Stack::http_client`](super::Stack::http_client),
//! and `Stack::grpc_client` with the `grpc` feature): the standard stack's
//! client slots fused into one service.
//!
//! A [`ClientStack`] holds the same layers as the [`Stack`] it stands for —
//! total timeout, retry, circuit breaker, bulkhead, attempt timeout, and an
//! optional fallback on top — and behaves as they do nested (the tests in
//! `tests/fused_client.rs` run both against the same scripts), but its
//! service makes a call's first attempt itself: one reference count, one
//! move of the request, one future. Later attempts go through the layers.
//!
//! - Swap a slot's layer for another of the same kind (`with_retry`,
//!   `with_circuit_breaker`, ...) or put a `fallback` on top: still fused.
//! - Put any other layer in a slot (`.rate_limit(..)`, `.retry(my_layer)`)
//!   or empty one (`.without_bulkhead()`): you get the layered [`Stack`]
//!   ([`into_stack`](ClientStack::into_stack)), same behaviour, each layer's
//!   own cost.
//!
//! ```
//! use seawall::stack::Stack;
//! use seawall::BoxError;
//! use http::{Request, Response};
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let preset = Stack::http_client("inventory")?;
//! let breaker = preset.circuit_breaker_layer().handle().clone();
//! let client = preset.layer(service_fn(|_req: Request<()>| async {
//!     Ok::<_, BoxError>(Response::new("in stock"))
//! }));
//! let res = client.oneshot(Request::new(())).await?;
//! assert_eq!(*res.body(), "in stock");
//! assert_eq!(breaker.metrics().total_successes, 1);
//! # Ok(()) }
//! ```

mod future;
mod service;

pub use self::future::ResponseFuture;
pub use self::service::{Attempts, ClientService};

use super::Stack;
use crate::bulkhead::BulkheadLayer;
use crate::circuit_breaker::{CircuitBreaker, CircuitBreakerLayer};
use crate::outcome::{Classify, DefaultClassifier, Outcome};
use crate::retry::RetryLayer;
use crate::timeout::{Fixed, TimeoutLayer, WithinDeadline};
use std::any::TypeId;
use std::fmt;
use tower_layer::{Identity, Layer};

/// The layered stack a [`ClientStack`] stands for.
///
/// ```
/// use seawall::prelude::*;
/// use seawall::stack::client::LayeredClientStack;
///
/// # fn main() -> Result<(), BoxError> {
/// // The same preset as nested layers: what any change of slot gives.
/// let layered: LayeredClientStack<_, _, _> = Stack::http_client("inventory")?.into_stack();
/// # let _ = layered; Ok(()) }
/// ```
pub type LayeredClientStack<P, R, C, F = Identity> =
    Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, Identity, PerAttempt>;

/// A client preset with a hedge `L` (made by [`ClientStack::hedge`]):
/// its layers, nested.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// let hedge = Hedge::builder("search").delay(HedgeDelay::P95).build()?;
/// let hedged = Stack::http_client("search")?.hedge(hedge.layer().for_http());
/// # let _ = hedged; Ok(()) }
/// ```
pub type HedgedClientStack<P, R, C, F, L> = Stack<
    F,
    Total,
    RetryLayer<P, R>,
    CircuitBreakerLayer<C>,
    BulkheadLayer,
    Identity,
    PerAttempt,
    L,
>;

/// A client preset: retry predicate `P`, request replay `R`, breaker
/// classifier `C`, fallback `F` (none: [`Identity`]). See the
/// [module docs](self).
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let preset = Stack::http_client("inventory")?;
/// let mut client = preset.layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, BoxError>(http::Response::new(String::from("in stock")))
/// }));
/// let res = client.ready().await?.call(http::Request::new(String::new())).await?;
/// assert_eq!(res.body(), "in stock");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientStack<P, R, C, F = Identity> {
    fallback: F,
    total_timeout: TimeoutLayer<Fixed>,
    retry: RetryLayer<P, R>,
    circuit_breaker: CircuitBreakerLayer<C>,
    bulkhead: BulkheadLayer,
    attempt_timeout: TimeoutLayer<WithinDeadline>,
}

impl<P, R, C> ClientStack<P, R, C> {
    pub(crate) fn new(
        total_timeout: TimeoutLayer<Fixed>,
        retry: RetryLayer<P, R>,
        circuit_breaker: CircuitBreakerLayer<C>,
        bulkhead: BulkheadLayer,
        attempt_timeout: TimeoutLayer<WithinDeadline>,
    ) -> Self {
        ClientStack {
            fallback: Identity::new(),
            total_timeout,
            retry,
            circuit_breaker,
            bulkhead,
            attempt_timeout,
        }
    }
}

/// The classifier of a breaker swapped into a client preset
/// ([`ClientStack::with_circuit_breaker`]): the breaker's own (`Own`), or,
/// when it was built without one ([`DefaultClassifier`], which sees every
/// answer as a success), the preset's protocol classifier (`Preset`). The
/// choice is made by type, so it costs nothing per call.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// // A breaker of your own in the preset's slot, classifying with the preset's
/// // HTTP rules: the preset wraps its classifier and yours.
/// let mine = CircuitBreaker::builder("inventory").failure_rate_threshold(25.0).build()?;
/// let client = Stack::http_client("inventory")?.with_circuit_breaker(mine.layer());
/// # let _ = client; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SwappedClassifier<Preset, Own> {
    preset: Preset,
    own: Own,
}

impl<Res, E, Preset, Own> Classify<Res, E> for SwappedClassifier<Preset, Own>
where
    Preset: Classify<Res, E>,
    Own: Classify<Res, E> + 'static,
{
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        // Constant once monomorphised.
        if TypeId::of::<Own>() == TypeId::of::<DefaultClassifier>() {
            self.preset.classify(result)
        } else {
            self.own.classify(result)
        }
    }
}

/// The two timeout layers' types, for short.
type Total = TimeoutLayer<Fixed>;
type PerAttempt = TimeoutLayer<WithinDeadline>;

/// A generic slot setter and emptier: they give the layered [`Stack`].
macro_rules! to_stack {
    ($with:ident, $without:ident, $doc:literal, $filled:ty, $emptied:ty) => {
        #[doc = concat!("Puts any `layer` in the ", $doc, " slot: the layered [`Stack`].")]
        pub fn $with<L>(self, layer: L) -> $filled {
            self.into_stack().$with(layer)
        }

        #[doc = concat!("Empties the ", $doc, " slot: the layered [`Stack`].")]
        pub fn $without(self) -> $emptied {
            self.into_stack().$without()
        }
    };
}

impl<P, R, C, F> ClientStack<P, R, C, F> {
    /// The same layers, nested: the layered [`Stack`].
    pub fn into_stack(self) -> LayeredClientStack<P, R, C, F> {
        Stack::new()
            .fallback(self.fallback)
            .total_timeout(self.total_timeout)
            .retry(self.retry)
            .circuit_breaker(self.circuit_breaker)
            .bulkhead(self.bulkhead)
            .attempt_timeout(self.attempt_timeout)
    }

    /// Puts `layer` on top as the fallback (still fused).
    pub fn fallback<L>(self, layer: L) -> ClientStack<P, R, C, L> {
        ClientStack {
            fallback: layer,
            total_timeout: self.total_timeout,
            retry: self.retry,
            circuit_breaker: self.circuit_breaker,
            bulkhead: self.bulkhead,
            attempt_timeout: self.attempt_timeout,
        }
    }

    /// Removes the fallback (still fused).
    pub fn without_fallback(self) -> ClientStack<P, R, C> {
        self.fallback(Identity::new())
    }

    /// Replaces the total timeout (still fused).
    pub fn with_total_timeout(mut self, layer: TimeoutLayer<Fixed>) -> Self {
        self.total_timeout = layer;
        self
    }

    /// Replaces the retry (still fused).
    pub fn with_retry<P2, R2>(self, layer: RetryLayer<P2, R2>) -> ClientStack<P2, R2, C, F> {
        ClientStack {
            fallback: self.fallback,
            total_timeout: self.total_timeout,
            retry: layer,
            circuit_breaker: self.circuit_breaker,
            bulkhead: self.bulkhead,
            attempt_timeout: self.attempt_timeout,
        }
    }

    /// Replaces the circuit breaker (still fused). A breaker built without
    /// a classifier keeps the preset's (HTTP: 5xx and errors are failures,
    /// 4xx ignored; gRPC: the failing status codes), so a swapped-in
    /// breaker never counts an HTTP 500 as a success; one built with
    /// `.classify(..)` uses its own. See [`SwappedClassifier`].
    pub fn with_circuit_breaker<C2>(
        self,
        layer: CircuitBreakerLayer<C2>,
    ) -> ClientStack<P, R, SwappedClassifier<C, C2>, F>
    where
        C: Clone,
        C2: Clone + 'static,
    {
        let preset = self.circuit_breaker.handle().classifier.clone();
        let breaker = layer.handle();
        let swapped = CircuitBreaker {
            core: breaker.core.clone(),
            classifier: SwappedClassifier {
                preset,
                own: breaker.classifier.clone(),
            },
        };
        ClientStack {
            fallback: self.fallback,
            total_timeout: self.total_timeout,
            retry: self.retry,
            circuit_breaker: CircuitBreakerLayer::new(swapped),
            bulkhead: self.bulkhead,
            attempt_timeout: self.attempt_timeout,
        }
    }

    /// Replaces the bulkhead (still fused).
    pub fn with_bulkhead(mut self, layer: BulkheadLayer) -> Self {
        self.bulkhead = layer;
        self
    }

    /// Replaces the attempt timeout (still fused).
    pub fn with_attempt_timeout(mut self, layer: TimeoutLayer<WithinDeadline>) -> Self {
        self.attempt_timeout = layer;
        self
    }

    to_stack!(total_timeout, without_total_timeout, "total timeout",
        Stack<F, L, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, Identity, PerAttempt>,
        Stack<F, Identity, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, Identity, PerAttempt>);
    to_stack!(retry, without_retry, "retry",
        Stack<F, Total, L, CircuitBreakerLayer<C>, BulkheadLayer, Identity, PerAttempt>,
        Stack<F, Total, Identity, CircuitBreakerLayer<C>, BulkheadLayer, Identity, PerAttempt>);
    to_stack!(circuit_breaker, without_circuit_breaker, "circuit breaker",
        Stack<F, Total, RetryLayer<P, R>, L, BulkheadLayer, Identity, PerAttempt>,
        Stack<F, Total, RetryLayer<P, R>, Identity, BulkheadLayer, Identity, PerAttempt>);
    to_stack!(bulkhead, without_bulkhead, "bulkhead",
        Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, L, Identity, PerAttempt>,
        Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, Identity, Identity, PerAttempt>);
    to_stack!(rate_limit, without_rate_limit, "rate limit",
        Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, L, PerAttempt>,
        LayeredClientStack<P, R, C, F>);
    to_stack!(attempt_timeout, without_attempt_timeout, "attempt timeout",
        Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, Identity, L>,
        Stack<F, Total, RetryLayer<P, R>, CircuitBreakerLayer<C>, BulkheadLayer, Identity, Identity>);

    /// Puts `layer` in the hedge slot, between the retry and the breaker
    /// (e.g. `Hedge::builder(name).build()?.layer().for_http()`): the
    /// stack is then the layered [`Stack`], not fused. Without a hedge (the
    /// default) it stays fused.
    pub fn hedge<L>(self, layer: L) -> HedgedClientStack<P, R, C, F, L> {
        self.into_stack().hedge(layer)
    }

    /// The fallback layer.
    pub fn fallback_layer(&self) -> &F {
        &self.fallback
    }

    /// The total timeout layer.
    pub fn total_timeout_layer(&self) -> &TimeoutLayer<Fixed> {
        &self.total_timeout
    }

    /// The retry layer (for its `handle()`).
    pub fn retry_layer(&self) -> &RetryLayer<P, R> {
        &self.retry
    }

    /// The circuit breaker layer (for its `handle()`).
    pub fn circuit_breaker_layer(&self) -> &CircuitBreakerLayer<C> {
        &self.circuit_breaker
    }

    /// The bulkhead layer (for its `handle()`).
    pub fn bulkhead_layer(&self) -> &BulkheadLayer {
        &self.bulkhead
    }

    /// The rate limit slot: empty in a preset.
    pub fn rate_limit_layer(&self) -> &Identity {
        const EMPTY: &Identity = &Identity::new();
        EMPTY
    }

    /// The attempt timeout layer.
    pub fn attempt_timeout_layer(&self) -> &TimeoutLayer<WithinDeadline> {
        &self.attempt_timeout
    }
}

impl<S, P, R, C, F> Layer<S> for ClientStack<P, R, C, F>
where
    S: Clone,
    P: Clone,
    R: Clone,
    F: Layer<ClientService<S, P, R, C>>,
{
    type Service = F::Service;

    fn layer(&self, service: S) -> Self::Service {
        let attempts = self.circuit_breaker.layer(
            self.bulkhead
                .layer(self.attempt_timeout.layer(service.clone())),
        );
        let shared = service::Shared {
            total: self.total_timeout.shared().clone(),
            total_timeout: self.total_timeout.timeout().clone(),
            attempt: self.attempt_timeout.shared().clone(),
            attempt_timeout: self.attempt_timeout.timeout().clone(),
            breaker: self.circuit_breaker.breaker().clone(),
            bulkhead: self.bulkhead.handle().clone(),
            retry: self.retry.backup(attempts),
        };
        self.fallback.layer(ClientService::new(service, shared))
    }
}

impl<P, R, C, F> fmt::Debug for ClientStack<P, R, C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStack")
            .field("fallback", &std::any::type_name::<F>())
            .field("total_timeout", &self.total_timeout)
            .field("retry", &self.retry.handle().name())
            .field("circuit_breaker", &self.circuit_breaker.handle().name())
            .field("bulkhead", &self.bulkhead.handle().name())
            .field("attempt_timeout", &self.attempt_timeout)
            .finish()
    }
}
