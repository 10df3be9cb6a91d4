//! A degradation switch: named features, each Enabled, Degraded or
//! Disabled, set by hand (an operator's kill switch) or following a circuit
//! breaker or a bulkhead; and a layer that routes each call by its feature's
//! state.
//!
//! ```
//! use seawall::prelude::*;
//! use seawall::fallback::{DegradationSwitch, FeatureState};
//!
//! # fn main() -> Result<(), seawall::ConfigError> {
//! let breaker = CircuitBreaker::builder("recommender").build()?;
//! let switch = DegradationSwitch::builder("storefront").build();
//! let recs = switch.feature("recommendations").follow_breaker(&breaker);
//! assert_eq!(recs.state(), FeatureState::Enabled);
//! breaker.force_open();
//! assert_eq!(recs.state(), FeatureState::Degraded);      // follows the breaker
//! recs.set(FeatureState::Disabled, "incident 4711");      // an operator overrides
//! breaker.close();
//! assert_eq!(recs.state(), FeatureState::Disabled);
//! recs.clear_override("incident resolved");
//! assert_eq!(recs.state(), FeatureState::Enabled);
//! # Ok(()) }
//! ```
//!
//! Reading a feature's state is one or two atomic loads (the override, and
//! the bound breaker's state word or bulkhead's counter); a change is noticed
//! when it is read and reported once, as an event with its reason.

use super::FeatureState;
use crate::clock::ClockHandle;
use crate::error::FeatureDisabled;
use crate::telemetry::{CircuitState, EventKind, Listeners, Pattern};
use crate::watch::{Occupancy, Watchable};
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::BoxError;
use tower_layer::Layer;
use tower_service::Service;

type Source = Box<dyn Fn() -> (FeatureState, String) + Send + Sync>;

struct Feature {
    name: Arc<str>,
    /// 0: no override; else the state set by hand.
    manual: AtomicU8,
    /// The state last reported, to report each change once.
    reported: AtomicU8,
    /// What the state follows when not overridden.
    follow: arc_cell::ArcCell<Source>,
}

mod arc_cell {
    //! A read-mostly slot: reads take an uncontended read lock and clone
    //! nothing; writes (binding a source) are rare.
    use parking_lot::RwLock;
    use std::sync::Arc;

    pub(super) struct ArcCell<T: ?Sized>(RwLock<Option<Arc<T>>>);

    impl<T: ?Sized> ArcCell<T> {
        pub(super) fn empty() -> Self {
            Self(RwLock::new(None))
        }
        pub(super) fn set(&self, v: Arc<T>) {
            *self.0.write() = Some(v);
        }
        pub(super) fn with<R>(&self, f: impl FnOnce(Option<&T>) -> R) -> R {
            f(self.0.read().as_deref())
        }
    }
}

struct SwitchInner {
    name: Arc<str>,
    features: Mutex<HashMap<Arc<str>, Arc<Feature>>>,
    listeners: Listeners,
    clock: ClockHandle,
}

/// A shared set of feature states; a cheap `Clone` handle.
///
/// ```
/// use seawall::prelude::*;
///
/// let switch = DegradationSwitch::builder("storefront").build();
/// switch.feature("recommendations").set(FeatureState::Disabled, "incident 4711");
/// assert_eq!(
///     switch.states(),
///     vec![("recommendations".to_string(), FeatureState::Disabled)]
/// );
/// ```
#[derive(Clone)]
pub struct DegradationSwitch {
    inner: Arc<SwitchInner>,
}

/// Builds a [`DegradationSwitch`].
///
/// ```
/// use seawall::prelude::*;
///
/// let switch = DegradationSwitch::builder("storefront")
///     .on_event(|e| println!("{e:?}"))          // FeatureChanged { feature, from, to, reason }
///     .build();
/// # let _ = switch;
/// ```
#[derive(Debug)]
#[must_use]
pub struct DegradationSwitchBuilder {
    name: Arc<str>,
    listeners: Listeners,
    clock: ClockHandle,
}

impl DegradationSwitchBuilder {
    crate::telemetry::builder_telemetry_setters!();

    /// Builds the switch (nothing to validate).
    pub fn build(self) -> DegradationSwitch {
        DegradationSwitch {
            inner: Arc::new(SwitchInner {
                name: self.name,
                features: Mutex::new(HashMap::new()),
                listeners: self.listeners,
                clock: self.clock,
            }),
        }
    }
}

impl DegradationSwitch {
    /// Starts configuring a switch; `name` labels its events.
    pub fn builder(name: &str) -> DegradationSwitchBuilder {
        DegradationSwitchBuilder {
            name: Arc::from(name),
            listeners: Listeners::default(),
            clock: ClockHandle::default(),
        }
    }

    /// The handle of feature `name`, created Enabled if new.
    pub fn feature(&self, name: &str) -> FeatureHandle {
        let mut features = self.inner.features.lock();
        let feature = features
            .entry(Arc::from(name))
            .or_insert_with(|| {
                Arc::new(Feature {
                    name: Arc::from(name),
                    manual: AtomicU8::new(0),
                    reported: AtomicU8::new(FeatureState::Enabled.to_u8()),
                    follow: arc_cell::ArcCell::empty(),
                })
            })
            .clone();
        FeatureHandle {
            feature,
            switch: self.clone(),
        }
    }

    /// Every feature and its current state.
    pub fn states(&self) -> Vec<(String, FeatureState)> {
        let handles: Vec<_> = self.inner.features.lock().keys().cloned().collect();
        handles
            .iter()
            .map(|n| (n.to_string(), self.feature(n).state()))
            .collect()
    }
}

impl fmt::Debug for DegradationSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DegradationSwitch")
            .field("name", &self.inner.name)
            .finish()
    }
}

/// One feature of a switch.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let breaker = CircuitBreaker::builder("recommender").build()?;
/// let switch = DegradationSwitch::builder("storefront").build();
/// let recs = switch.feature("recommendations").follow_breaker(&breaker);
/// breaker.force_open();
/// assert_eq!(recs.state(), FeatureState::Degraded);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct FeatureHandle {
    feature: Arc<Feature>,
    switch: DegradationSwitch,
}

impl FeatureHandle {
    /// The current state: the override if one is set, else what it follows
    /// (Enabled when it follows nothing). A change is reported here, once.
    #[inline]
    pub fn state(&self) -> FeatureState {
        if let Some(s) = FeatureState::from_u8(self.feature.manual.load(Ordering::Acquire)) {
            return s;
        }
        let followed = self.feature.follow.with(|f| f.map(|f| f()));
        let (state, reason) = followed.unwrap_or((FeatureState::Enabled, String::new()));
        self.report(state, || reason);
        state
    }

    /// Overrides the state by hand (an operator's kill switch) until
    /// [`clear_override`](Self::clear_override).
    pub fn set(&self, state: FeatureState, reason: &str) {
        self.feature.manual.store(state.to_u8(), Ordering::Release);
        self.report(state, || format!("set by hand: {reason}"));
    }

    /// Removes a hand override: the feature follows its source again.
    pub fn clear_override(&self, reason: &str) {
        self.feature.manual.store(0, Ordering::Release);
        let state = self
            .feature
            .follow
            .with(|f| f.map(|f| f().0))
            .unwrap_or(FeatureState::Enabled);
        self.report(state, || format!("override cleared: {reason}"));
    }

    /// Follows `breaker`: open (or forced open, or half-open) ⇒ Degraded,
    /// otherwise Enabled.
    pub fn follow_breaker(self, breaker: &impl Watchable<CircuitState>) -> Self {
        let b = breaker.watch();
        let source: Source = Box::new(move || {
            let s = b.read();
            let state = if s.allows_calls() {
                FeatureState::Enabled
            } else {
                FeatureState::Degraded
            };
            (state, format!("breaker `{}` is {}", b.name(), s.as_str()))
        });
        self.follow(source)
    }

    /// Follows `bulkhead`: at least `saturation` (0..=1) of its slots in
    /// use ⇒ Degraded, otherwise Enabled.
    pub fn follow_bulkhead(self, bulkhead: &impl Watchable<Occupancy>, saturation: f64) -> Self {
        let b = bulkhead.watch();
        let source: Source = Box::new(move || {
            let m = b.read();
            let used = m.in_flight as f64 / m.max.max(1) as f64;
            let state = if used >= saturation {
                FeatureState::Degraded
            } else {
                FeatureState::Enabled
            };
            (
                state,
                format!(
                    "bulkhead `{}` at {:.0}% of its slots",
                    b.name(),
                    used * 100.0
                ),
            )
        });
        self.follow(source)
    }

    fn follow(self, source: Source) -> Self {
        self.feature.follow.set(Arc::new(source));
        self
    }

    /// Reports a change from the last reported state, once per change.
    fn report(&self, state: FeatureState, reason: impl FnOnce() -> String) {
        let prev = self.feature.reported.swap(state.to_u8(), Ordering::AcqRel);
        if prev == state.to_u8() {
            return;
        }
        let from = FeatureState::from_u8(prev).unwrap_or(FeatureState::Enabled);
        let inner = &self.switch.inner;
        inner.listeners.emit_now(
            Pattern::DegradationSwitch,
            &inner.name,
            &inner.clock,
            EventKind::FeatureChanged {
                feature: self.feature.name.clone(),
                from,
                to: state,
                reason: Arc::from(reason()),
            },
        );
    }

    /// A layer routing each call by this feature's state: Enabled calls the
    /// inner service, Degraded answers with `degraded(request)`, Disabled
    /// fails with [`FeatureDisabled`].
    pub fn layer<D>(&self, degraded: D) -> DegradationLayer<D> {
        DegradationLayer {
            feature: self.clone(),
            degraded,
        }
    }
}

impl fmt::Debug for FeatureHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FeatureHandle")
            .field("feature", &self.feature.name)
            .field("state", &self.state())
            .finish()
    }
}

/// Routes calls by a feature's state; made by [`FeatureHandle::layer`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let switch = DegradationSwitch::builder("storefront").build();
/// let recs = switch.feature("recommendations");
/// let mut svc = recs
///     .layer(|_user: u32| async { Ok::<_, BoxError>("bestsellers") })   // the degraded path
///     .layer(service_fn(|_user: u32| async { Ok::<_, BoxError>("for you") }));
/// assert_eq!(svc.ready().await?.call(7).await?, "for you");
/// recs.set(FeatureState::Degraded, "recommender slow");
/// assert_eq!(svc.ready().await?.call(7).await?, "bestsellers");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DegradationLayer<D> {
    feature: FeatureHandle,
    degraded: D,
}

impl<S, D: Clone> Layer<S> for DegradationLayer<D> {
    type Service = DegradationService<S, D>;
    fn layer(&self, inner: S) -> Self::Service {
        DegradationService {
            inner,
            feature: self.feature.clone(),
            degraded: self.degraded.clone(),
        }
    }
}

/// A service routed by a feature's state.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{service_fn, Layer, Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let recs = DegradationSwitch::builder("storefront").build().feature("recommendations");
/// let mut svc = recs
///     .layer(|_user: u32| async { Ok::<_, BoxError>("bestsellers") })
///     .layer(service_fn(|_user: u32| async { Ok::<_, BoxError>("for you") }));
/// recs.set(FeatureState::Disabled, "kill switch");
/// assert!(svc.ready().await?.call(7).await.is_err()); // FeatureDisabled
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct DegradationService<S, D> {
    inner: S,
    feature: FeatureHandle,
    degraded: D,
}

impl<S, D, Fut, Req> Service<Req> for DegradationService<S, D>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    D: Fn(Req) -> Fut,
    Fut: Future<Output = Result<S::Response, BoxError>>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = RouteFuture<S::Future, Fut>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let route = match self.feature.state() {
            FeatureState::Enabled => Route::Normal {
                future: self.inner.call(req),
            },
            FeatureState::Degraded => Route::Degraded {
                future: (self.degraded)(req),
            },
            FeatureState::Disabled => Route::Disabled {
                error: Some(FeatureDisabled::new(
                    self.feature.switch.inner.name.clone(),
                    self.feature.feature.name.clone(),
                )),
            },
        };
        RouteFuture { route }
    }
}

pin_project! {
    /// The response future of [`DegradationService`].
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use tower::{service_fn, Layer, Service, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), BoxError> {
    /// let recs = DegradationSwitch::builder("storefront").build().feature("recommendations");
    /// let mut svc = recs
    ///     .layer(|_user: u32| async { Ok::<_, BoxError>("bestsellers") })
    ///     .layer(service_fn(|_user: u32| async { Ok::<_, BoxError>("for you") }));
    /// let future = svc.ready().await?.call(7);   // the normal or the degraded path's future
    /// assert_eq!(future.await?, "for you");
    /// # Ok(()) }
    /// ```
    pub struct RouteFuture<F, G> {
        #[pin]
        route: Route<F, G>,
    }
}

pin_project! {
    #[project = RouteProj]
    enum Route<F, G> {
        Normal { #[pin] future: F },
        Degraded { #[pin] future: G },
        Disabled { error: Option<FeatureDisabled> },
    }
}

impl<F, G, T, E> Future for RouteFuture<F, G>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    G: Future<Output = Result<T, BoxError>>,
{
    type Output = Result<T, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().route.project() {
            RouteProj::Normal { future } => future.poll(cx).map_err(Into::into),
            RouteProj::Degraded { future } => future.poll(cx),
            RouteProj::Disabled { error } => Poll::Ready(Err(Box::new(
                error.take().expect("RouteFuture polled after completion"),
            ))),
        }
    }
}

impl<F, G> fmt::Debug for RouteFuture<F, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RouteFuture")
    }
}
