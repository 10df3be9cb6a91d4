//! Per-method policies on one channel: each gRPC method (or service) to a
//! stack of its own, as a gRPC service config's `methodConfig` does.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower::util::Oneshot;
use tower_layer::Layer;
use tower_service::Service;

/// Sends each gRPC call through the stack configured for its method: one
/// channel can carry unary calls with retries and streaming calls without,
/// a slow report with a long deadline and a lookup with a short one, as a
/// gRPC service config's per-method `methodConfig` does.
///
/// A call is matched by its path, `/package.Service/Method` (what tonic's
/// generated clients send, and what their `GrpcMethod` extension names):
/// first a [`method`](Self::method) route, then a [`service`](Self::service)
/// route, then the default. Every route wraps its own clone of the inner
/// service, and each stack keeps its own instances: build a route from
/// layers that share a breaker or a bulkhead (`.with_circuit_breaker(
/// shared.layer())`) when the methods should share one.
///
/// ```
/// use seawall::grpc::PerMethodLayer;
/// use seawall::prelude::*;
/// use seawall::stack::Stack;
///
/// # fn main() -> Result<(), seawall::ConfigError> {
/// // A server stream: one attempt (its messages cannot be taken back).
/// let one_attempt = Retry::builder("inventory.watch")
///     .max_attempts(1)
///     .build()?
///     .layer()
///     .retry_if(seawall::grpc::RetryGrpc::new())
///     .replay(seawall::grpc::GrpcReplay);
/// let layer = PerMethodLayer::new(Stack::grpc_client("inventory")?)
///     .method(
///         "inventory.Inventory",
///         "Watch",
///         Stack::grpc_client("inventory.watch")?.with_retry(one_attempt),
///     );
/// // ServiceBuilder::new().layer(layer).service(channel)
/// # let _ = layer; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PerMethodLayer<L> {
    default: L,
    routes: Vec<(Route, L)>,
}

/// What a route matches: one method's path, or a service's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Method(String),
    Service(String),
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        match self {
            Route::Method(p) => p == path,
            Route::Service(prefix) => path.starts_with(prefix.as_str()),
        }
    }

    /// Method routes before service routes.
    fn rank(&self) -> u8 {
        match self {
            Route::Method(_) => 0,
            Route::Service(_) => 1,
        }
    }
}

impl<L> PerMethodLayer<L> {
    /// Every call through `default`, until routes are added.
    pub fn new(default: L) -> Self {
        Self {
            default,
            routes: Vec::new(),
        }
    }

    /// Calls of `method` of `service` (its full name, with the package:
    /// `inventory.Inventory`) through `layer`. A later route for the same
    /// method replaces an earlier one.
    pub fn method(self, service: &str, method: &str, layer: L) -> Self {
        self.route(Route::Method(format!("/{service}/{method}")), layer)
    }

    /// Calls of every method of `service` without a route of its own
    /// through `layer`.
    pub fn service(self, service: &str, layer: L) -> Self {
        self.route(Route::Service(format!("/{service}/")), layer)
    }

    fn route(mut self, route: Route, layer: L) -> Self {
        self.routes.retain(|(r, _)| *r != route);
        self.routes.push((route, layer));
        self.routes.sort_by_key(|(r, _)| r.rank());
        self
    }

    /// The default route's layer (for its handles).
    pub fn default_layer(&self) -> &L {
        &self.default
    }

    /// The layer a call of `path` (`/package.Service/Method`) goes
    /// through.
    pub fn layer_for(&self, path: &str) -> &L {
        self.routes
            .iter()
            .find(|(r, _)| r.matches(path))
            .map_or(&self.default, |(_, l)| l)
    }
}

impl<L: fmt::Debug> fmt::Debug for PerMethodLayer<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMethodLayer")
            .field("default", &self.default)
            .field("routes", &self.routes)
            .finish()
    }
}

impl<S: Clone, L: Layer<S>> Layer<S> for PerMethodLayer<L> {
    type Service = PerMethod<L::Service>;

    fn layer(&self, inner: S) -> Self::Service {
        PerMethod {
            default: self.default.layer(inner.clone()),
            routes: self
                .routes
                .iter()
                .map(|(r, l)| (r.clone(), l.layer(inner.clone())))
                .collect::<Vec<_>>()
                .into(),
        }
    }
}

/// The service of [`PerMethodLayer`]. Like seawall's waiting layers,
/// `poll_ready` reserves nothing: a call readies a clone of its route's
/// service, so no route holds a slot of the channel while another is used.
///
/// ```
/// use seawall::grpc::PerMethodLayer;
/// use seawall::prelude::*;
/// use tower::Layer;
///
/// # fn main() -> Result<(), BoxError> {
/// let quick = Timeout::builder("rpc").duration(Duration::from_secs(1)).build()?;
/// let slow = Timeout::builder("report").duration(Duration::from_secs(60)).build()?;
/// let layer = PerMethodLayer::new(quick).method("inventory.Inventory", "Report", slow);
/// assert_eq!(layer.layer_for("/inventory.Inventory/Report").duration(), Duration::from_secs(60));
/// let svc = layer.layer(tower::service_fn(|_req: http::Request<()>| async { Ok::<_, BoxError>(()) }));
/// # let _ = svc; Ok(()) }
/// ```
#[derive(Clone)]
pub struct PerMethod<S> {
    default: S,
    routes: Arc<[(Route, S)]>,
}

impl<S> PerMethod<S> {
    fn route_for(&self, path: &str) -> &S {
        self.routes
            .iter()
            .find(|(r, _)| r.matches(path))
            .map_or(&self.default, |(_, s)| s)
    }
}

impl<S, B> Service<http::Request<B>> for PerMethod<S>
where
    S: Service<http::Request<B>> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Oneshot<S, http::Request<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let svc = self.route_for(req.uri().path()).clone();
        Oneshot::new(svc, req)
    }
}

impl<S> fmt::Debug for PerMethod<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerMethod")
            .field("routes", &self.routes.len())
            .finish()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn methods_win_over_services_over_the_default() {
        let layer = PerMethodLayer::new("default")
            .service("pkg.Svc", "service")
            .method("pkg.Svc", "Watch", "method")
            .method("pkg.Svc", "Watch", "method, replaced");
        assert_eq!(*layer.layer_for("/pkg.Svc/Watch"), "method, replaced");
        assert_eq!(*layer.layer_for("/pkg.Svc/Get"), "service");
        assert_eq!(*layer.layer_for("/pkg.SvcOther/Get"), "default");
        assert_eq!(*layer.layer_for("/other.Svc/Watch"), "default");
    }
}
