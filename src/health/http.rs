//! `/health/live` and `/health/ready` as a tower service (feature `http`).

use super::{HealthRegistry, HealthReport};
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Answers `GET /health/live` and `GET /health/ready` from a
/// [`HealthRegistry`]: 200 when live (ready), 503 when not, the report as
/// JSON, `Cache-Control: no-store`; any other path 404. Mount it in axum
/// with `Router::route_service("/health/{*probe}", registry.http_service())`
/// or serve it with hyper.
///
/// ```
/// use seawall::prelude::*;
/// use tower::{Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut probes = HealthRegistry::new().http_service();
/// let req: http::Request<()> = http::Request::get("/health/ready").body(())?;
/// let res = ServiceExt::<http::Request<()>>::ready(&mut probes).await?.call(req).await?;
/// assert_eq!(res.status(), 200);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct HealthService {
    registry: HealthRegistry,
}

/// The response future of [`HealthService`].
///
/// ```
/// use seawall::prelude::*;
/// use tower::{Service, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), BoxError> {
/// let mut probes = HealthRegistry::new().http_service();
/// let req: http::Request<()> = http::Request::get("/health/live").body(())?;
/// let future = ServiceExt::<http::Request<()>>::ready(&mut probes).await?.call(req);
/// assert_eq!(future.await?.status(), 200);
/// # Ok(()) }
/// ```
pub type HealthFuture =
    Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl HealthRegistry {
    /// The HTTP service answering `/health/live` and `/health/ready`.
    pub fn http_service(&self) -> HealthService {
        HealthService {
            registry: self.clone(),
        }
    }
}

impl<B> tower_service::Service<Request<B>> for HealthService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = HealthFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let registry = self.registry.clone();
        let probe: Option<fn(&HealthReport) -> bool> = match req.uri().path() {
            "/health/live" => Some(|r| r.live),
            "/health/ready" => Some(|r| r.ready),
            _ => None,
        };
        Box::pin(async move {
            let Some(passes) = probe else {
                return Ok(reply(
                    StatusCode::NOT_FOUND,
                    "{\"error\":\"not found\"}".into(),
                ));
            };
            let report = registry.report().await;
            let status = if passes(&report) {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Ok(reply(status, report.to_json()))
        })
    }
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}
