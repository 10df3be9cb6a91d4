//! Server side: seawall's rejections as HTTP responses.

use crate::error::{rejection, RejectionKind};
use http::{header, HeaderValue, Response, StatusCode};
use tower::BoxError;

/// The HTTP response for an error out of a seawall-protected server stack,
/// for axum's `HandleErrorLayer` or a hyper service:
///
/// | error | status |
/// |---|---|
/// | `RateLimited`, `KeyLimitReached` | 429 Too Many Requests, `Retry-After` when known |
/// | `BulkheadFull`, `CircuitOpen`, `FeatureDisabled`, `RetriesExhausted` | 503 Service Unavailable, `Retry-After` when known |
/// | `Elapsed` (seawall's timeout) | 504 Gateway Timeout |
/// | anything else | 500 Internal Server Error |
///
/// `Retry-After` is in whole seconds, rounded up (never 0 when a wait is
/// known: a client told "0" would come straight back). The body is a short
/// plain-text reason.
///
/// ```
/// use seawall::http::error_response;
/// use std::time::Duration;
///
/// let err: seawall::BoxError = Box::new(seawall::RateLimited::new("api".into(), Duration::from_millis(1500)));
/// let res = error_response(&err);
/// assert_eq!(res.status(), 429);
/// assert_eq!(res.headers()["retry-after"], "2");
/// ```
///
/// With axum: `HandleErrorLayer::new(|err: BoxError| async move { seawall::http::error_response(&err) })`.
pub fn error_response(err: &BoxError) -> Response<String> {
    let Some(r) = rejection(err) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into());
    };
    let status = match r.kind() {
        RejectionKind::RateLimited | RejectionKind::KeyLimitReached => {
            StatusCode::TOO_MANY_REQUESTS
        }
        RejectionKind::Elapsed => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut res = plain(status, r.to_string());
    if let Some(after) = r.retry_after() {
        // Saturating: a wait of `Duration::MAX` is "much later", never "1".
        let secs = after
            .as_secs()
            .saturating_add(u64::from(after.subsec_nanos() > 0));
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    res
}

fn plain(status: StatusCode, body: String) -> Response<String> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use crate::error::{BulkheadFull, CircuitOpen, Elapsed};
    use std::time::Duration;

    #[test]
    fn each_rejection_has_its_status() {
        let cases: Vec<(BoxError, u16, Option<&str>)> = vec![
            (
                Box::new(CircuitOpen::new("b".into(), Some(Duration::from_secs(30)))),
                503,
                Some("30"),
            ),
            (Box::new(BulkheadFull::new("p".into(), 8)), 503, None),
            (
                Box::new(Elapsed::new("t".into(), Duration::from_secs(1))),
                504,
                None,
            ),
            (
                Box::new(crate::RateLimited::new(
                    "r".into(),
                    Duration::from_millis(1),
                )),
                429,
                Some("1"),
            ),
            (
                // The longest wait saturates; it once wrapped to "1" (come
                // back at once) in release and panicked in debug.
                Box::new(crate::RateLimited::new("r".into(), Duration::MAX)),
                429,
                Some("18446744073709551615"),
            ),
            ("boom".into(), 500, None),
        ];
        for (err, status, retry_after) in cases {
            let res = error_response(&err);
            assert_eq!(res.status(), status, "{err}");
            assert_eq!(
                res.headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap()),
                retry_after
            );
        }
    }
}
