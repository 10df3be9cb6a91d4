//! The standard stack: every pattern in the recommended order, each one
//! optional, outermost first:
//!
//! ```text
//! fallback → total timeout → retry (with budget) → hedge → circuit breaker → bulkhead → rate limit → attempt timeout → service
//! ```
//!
//! Why this order — each choice prevents a failure:
//!
//! - **Fallback outermost**: it sees every failure of everything inside —
//!   an open breaker, a full bulkhead, retries given up, the total timeout —
//!   and turns it into a degraded answer.
//! - **Total timeout outside the retry**: it bounds the whole call, retries
//!   and their sleeps included, so a caller's wait is capped however many
//!   attempts the retry would still make.
//! - **Retry outside the breaker**: each attempt passes the breaker, so a
//!   breaker that opens mid-retry stops the retries; and the retry never
//!   retries the breaker's `CircuitOpen` (a stop signal), so an open breaker
//!   is not hammered by retries.
//! - **Hedge between the retry and the breaker**: every copy passes the
//!   breaker and the bulkhead as an attempt does (a sick dependency opens
//!   the breaker and stops the copies), and a call the hedges could not
//!   save is the retry's to try again. Empty by default.
//! - **Breaker outside the bulkhead and rate limiter**: a call the breaker
//!   rejects takes no bulkhead slot and is not charged to the rate limiter;
//!   and a full bulkhead or a limiter's rejection is a local decision the
//!   breaker ignores (it says nothing about the dependency). Presets keep
//!   the bulkhead and limiter in reject mode here, so time queued locally is
//!   never counted as a slow call of the dependency.
//! - **Attempt timeout innermost**: it bounds one attempt against the
//!   dependency, and its `Elapsed` reaches the breaker as a failure (a hung
//!   dependency trips the breaker) and the retry as retryable.
//!
//! Each slot holds any tower layer (seawall's or another), or nothing
//! ([`Identity`]); which slots are filled is part of
//! the type, so an empty slot costs nothing at run time.
//!
//! **A slot does not check what you put in it.** It takes any layer so that
//! tower's own and other crates' layers fit (a `tower::limit::RateLimit`
//! in the rate-limit slot, a `Buffer` under the bulkhead). So the order is
//! yours to keep:
//! - a retry in the breaker slot and a breaker in the retry slot compiles
//!   and runs reversed (the retry then retries `CircuitOpen`);
//! - a *waiting* bulkhead or limiter (`waiting_layer()`) under a breaker
//!   with slow-call detection counts the time a call queues locally as the
//!   dependency's: a healthy dependency can trip the breaker. Under a
//!   breaker use their rejecting `layer()`, as the presets do, or put the
//!   waiting layer above the retry;
//! - a breaker built without `.classify(..)` counts every `Ok` as a
//!   success, HTTP 500s included: build it with `.for_http()` (feature
//!   `http`) or your own classifier. (The client presets' `with_circuit_breaker`
//!   gives such a breaker the preset's classifier.)
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::stack::Stack;
//! use tower::{service_fn, Layer, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let breaker = CircuitBreaker::builder("inventory").build()?;
//! let stack = Stack::new()
//!     .total_timeout(Timeout::builder("inventory.total").duration(Duration::from_secs(5)).build()?)
//!     .retry(Retry::builder("inventory").max_attempts(3).build()?.layer())
//!     .circuit_breaker(breaker.layer())
//!     .bulkhead(Bulkhead::builder("inventory").max_concurrent_calls(32).build()?.layer())
//!     .attempt_timeout(Timeout::builder("inventory.attempt").duration(Duration::from_secs(1)).build()?);
//! let svc = stack.layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n * 2) }));
//! assert_eq!(svc.oneshot(21).await?, 42);
//! # Ok(()) }
//! ```
//!
//! Presets with documented defaults: [`Stack::http_client`] and
//! [`Stack::server`] (feature `http`), and `Stack::grpc_client` (feature
//! `grpc`). The two client presets are a [`ClientStack`]: the same layers
//! fused into one service, which behaves as them nested at a lower cost
//! per call (see [`client`]).

#[cfg(feature = "http")]
pub mod client;
#[cfg(feature = "http")]
mod presets;

#[cfg(feature = "http")]
pub use self::client::{ClientService, ClientStack, HedgedClientStack, SwappedClassifier};
#[cfg(feature = "grpc")]
pub use self::presets::{GrpcClientStack, GrpcServerStack};
#[cfg(feature = "http")]
pub use self::presets::{HttpClientStack, ServerStack};

use std::fmt;
use tower_layer::{Identity, Layer};

/// The standard stack; see the [module docs](self) for the order and why.
/// Type parameters are the layers in each slot, outermost first, but the
/// hedge's (`HG`), last: it goes between the retry and the breaker.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let breaker = CircuitBreaker::builder("inventory").build()?;
/// let retry = Retry::builder("inventory").build()?;
/// // Any layers in their slots; the stack nests them in the recommended order.
/// let stack = Stack::new().circuit_breaker(breaker.layer()).retry(retry.layer());
/// let mut svc = stack.layer(service_fn(|x: u32| async move { Ok::<_, BoxError>(x) }));
/// assert_eq!(svc.ready().await?.call(7).await?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Stack<
    F = Identity,
    TT = Identity,
    RT = Identity,
    CB = Identity,
    BH = Identity,
    RL = Identity,
    AT = Identity,
    HG = Identity,
> {
    fallback: F,
    total_timeout: TT,
    retry: RT,
    circuit_breaker: CB,
    bulkhead: BH,
    rate_limit: RL,
    attempt_timeout: AT,
    hedge: HG,
}

impl Stack {
    /// An empty stack: every slot empty.
    pub fn new() -> Self {
        Stack {
            fallback: Identity::new(),
            total_timeout: Identity::new(),
            retry: Identity::new(),
            circuit_breaker: Identity::new(),
            bulkhead: Identity::new(),
            rate_limit: Identity::new(),
            attempt_timeout: Identity::new(),
            hedge: Identity::new(),
        }
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

/// Replaces one slot, keeping the others; `$with` fills it, `$without`
/// empties it, `$get` reads it.
macro_rules! slot {
    ($field:ident: $T:ident, $with:ident, $without:ident, $get:ident,
     [$($bf:ident: $bt:ident),*], [$($af:ident: $at:ident),*], $doc:literal) => {
        impl<F, TT, RT, CB, BH, RL, AT, HG> Stack<F, TT, RT, CB, BH, RL, AT, HG> {
            #[doc = concat!("Puts `layer` in the ", $doc, " slot.")]
            pub fn $with<L>(self, layer: L) -> Stack<$($bt,)* L, $($at),*> {
                Stack {
                    $($bf: self.$bf,)*
                    $field: layer,
                    $($af: self.$af,)*
                }
            }

            #[doc = concat!("Empties the ", $doc, " slot.")]
            pub fn $without(self) -> Stack<$($bt,)* Identity, $($at),*> {
                self.$with(Identity::new())
            }

            #[doc = concat!("The layer in the ", $doc, " slot (e.g. for its `handle()`).")]
            pub fn $get(&self) -> &$T {
                &self.$field
            }
        }
    };
}

slot!(fallback: F, fallback, without_fallback, fallback_layer, [],
    [total_timeout: TT, retry: RT, circuit_breaker: CB, bulkhead: BH, rate_limit: RL, attempt_timeout: AT, hedge: HG],
    "fallback");
slot!(total_timeout: TT, total_timeout, without_total_timeout, total_timeout_layer, [fallback: F],
    [retry: RT, circuit_breaker: CB, bulkhead: BH, rate_limit: RL, attempt_timeout: AT, hedge: HG],
    "total timeout");
slot!(retry: RT, retry, without_retry, retry_layer, [fallback: F, total_timeout: TT],
    [circuit_breaker: CB, bulkhead: BH, rate_limit: RL, attempt_timeout: AT, hedge: HG],
    "retry");
slot!(circuit_breaker: CB, circuit_breaker, without_circuit_breaker, circuit_breaker_layer,
    [fallback: F, total_timeout: TT, retry: RT],
    [bulkhead: BH, rate_limit: RL, attempt_timeout: AT, hedge: HG],
    "circuit breaker");
slot!(bulkhead: BH, bulkhead, without_bulkhead, bulkhead_layer,
    [fallback: F, total_timeout: TT, retry: RT, circuit_breaker: CB],
    [rate_limit: RL, attempt_timeout: AT, hedge: HG],
    "bulkhead");
slot!(rate_limit: RL, rate_limit, without_rate_limit, rate_limit_layer,
    [fallback: F, total_timeout: TT, retry: RT, circuit_breaker: CB, bulkhead: BH],
    [attempt_timeout: AT, hedge: HG],
    "rate limit");
slot!(attempt_timeout: AT, attempt_timeout, without_attempt_timeout, attempt_timeout_layer,
    [fallback: F, total_timeout: TT, retry: RT, circuit_breaker: CB, bulkhead: BH, rate_limit: RL],
    [hedge: HG],
    "attempt timeout");
slot!(hedge: HG, hedge, without_hedge, hedge_layer,
    [fallback: F, total_timeout: TT, retry: RT, circuit_breaker: CB, bulkhead: BH, rate_limit: RL, attempt_timeout: AT],
    [],
    "hedge (between the retry and the breaker)");

impl<S, F, TT, RT, CB, BH, RL, AT, HG> Layer<S> for Stack<F, TT, RT, CB, BH, RL, AT, HG>
where
    AT: Layer<S>,
    RL: Layer<AT::Service>,
    BH: Layer<RL::Service>,
    CB: Layer<BH::Service>,
    HG: Layer<CB::Service>,
    RT: Layer<HG::Service>,
    TT: Layer<RT::Service>,
    F: Layer<TT::Service>,
{
    type Service = F::Service;

    fn layer(&self, service: S) -> Self::Service {
        let service = self.attempt_timeout.layer(service);
        let service = self.rate_limit.layer(service);
        let service = self.bulkhead.layer(service);
        let service = self.circuit_breaker.layer(service);
        let service = self.hedge.layer(service);
        let service = self.retry.layer(service);
        let service = self.total_timeout.layer(service);
        self.fallback.layer(service)
    }
}

impl<F, TT, RT, CB, BH, RL, AT, HG> fmt::Debug for Stack<F, TT, RT, CB, BH, RL, AT, HG> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use std::any::type_name;
        f.debug_struct("Stack")
            .field("fallback", &type_name::<F>())
            .field("total_timeout", &type_name::<TT>())
            .field("retry", &type_name::<RT>())
            .field("hedge", &type_name::<HG>())
            .field("circuit_breaker", &type_name::<CB>())
            .field("bulkhead", &type_name::<BH>())
            .field("rate_limit", &type_name::<RL>())
            .field("attempt_timeout", &type_name::<AT>())
            .finish()
    }
}
