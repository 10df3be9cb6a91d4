//! Server side: seawall's rejections as HTTP responses.

use super::RejectionResponse;
use bytes::Bytes;
use http::Response;
use tower::BoxError;

/// The HTTP response for an error out of a seawall-protected server stack,
/// for axum's `HandleErrorLayer` or a hyper service: the default
/// [`RejectionResponse`] (429/503/504, `Retry-After` when known, 500 for
/// anything else; the status's reason phrase as the body, naming no
/// instance). Use [`RejectionResponse`] to write the body or to answer
/// without `HandleErrorLayer`.
///
/// ```
/// use seawall::http::error_response;
/// use std::time::Duration;
///
/// let err: seawall::BoxError = Box::new(seawall::RateLimited::new("api".into(), Duration::from_millis(1500)));
/// let res = error_response(&err);
/// assert_eq!(res.status(), 429);
/// assert_eq!(res.headers()["retry-after"], "2");
/// assert_eq!(res.body(), "Too Many Requests");
/// ```
///
/// With axum: `HandleErrorLayer::new(|err: BoxError| async move { seawall::http::error_response(&err) })`.
pub fn error_response(err: &BoxError) -> Response<String> {
    RejectionResponse::new()
        .response::<Bytes>(err)
        .map(|body| String::from_utf8_lossy(&body).into_owned())
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
