//! Retrying HTTP calls: which responses to retry, `Retry-After`, and which
//! requests may be sent twice.

use crate::clock::ClockHandle;
use crate::http::{HttpResponse, ReplayBody, StatusSet};
use crate::retry::{Attempt, ReplayRequest, RetryLayer, RetryVerdict, ShouldRetry};
use http::{HeaderMap, Method, StatusCode};
use std::time::{Duration, SystemTime};

/// Parses a `Retry-After` value: delta-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2026 07:28:00 GMT`, measured from `now`; a date already
/// past means "now"). `None` for anything else.
pub fn parse_retry_after(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // Huge values saturate rather than fail: the deadline still bounds them.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The `Retry-After` of a response's headers, if present and valid.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    parse_retry_after(headers.get(http::header::RETRY_AFTER)?.as_bytes(), now)
}

/// The retry predicate for `http::Response`s: errors, and responses whose
/// status is retryable (by default 429, 502, 503, 504), are retried; a
/// `Retry-After` header sets the next delay when it is longer than the
/// backoff's. Other responses, 500 included (it may have had effects), are
/// accepted.
///
/// ```
/// use seawall::http::RetryHttp;
/// use http::StatusCode;
///
/// let rules = RetryHttp::new();                        // 429, 502, 503, 504 by default
/// assert!(rules.is_retryable(StatusCode::SERVICE_UNAVAILABLE));
/// assert!(!rules.is_retryable(StatusCode::NOT_FOUND));
/// let mine = RetryHttp::new().statuses([StatusCode::INTERNAL_SERVER_ERROR]);
/// assert!(mine.is_retryable(StatusCode::INTERNAL_SERVER_ERROR));
/// ```
#[derive(Debug, Clone)]
pub struct RetryHttp {
    statuses: StatusSet,
    clock: ClockHandle,
}

impl Default for RetryHttp {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryHttp {
    /// Retries errors and 429, 502, 503, 504.
    pub fn new() -> Self {
        Self {
            statuses: StatusSet::empty(),
            clock: ClockHandle::default(),
        }
        .statuses([
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
        ])
    }

    /// Retries exactly these statuses (and errors).
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = StatusCode>) -> Self {
        self.statuses = StatusSet::of(statuses);
        self
    }

    /// The clock whose wall time an HTTP-date `Retry-After` is measured
    /// from (default: the system's).
    pub fn clock(mut self, clock: impl Into<ClockHandle>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Whether `status` is retried.
    pub fn is_retryable(&self, status: StatusCode) -> bool {
        self.statuses.contains(status)
    }
}

impl<Res: HttpResponse, E> ShouldRetry<Res, E> for RetryHttp {
    fn verdict(&self, result: &Result<Res, E>) -> RetryVerdict {
        match result {
            Err(_) => RetryVerdict::Retry,
            Ok(res) if self.is_retryable(res.status()) => {
                match retry_after(res.headers(), self.clock.wall()) {
                    Some(d) => RetryVerdict::RetryAfter(d),
                    None => RetryVerdict::Retry,
                }
            }
            Ok(_) => RetryVerdict::Accept,
        }
    }

    /// A response below 500, but not 429 (what the breaker's HTTP
    /// classifier counts as no failure), refills a retry throttle.
    #[inline]
    fn is_success(&self, result: &Result<Res, E>) -> bool {
        matches!(result, Ok(res) if res.status().as_u16() < 500 && res.status().as_u16() != 429)
    }
}

/// Marks a request safe to resend even if its method is not idempotent
/// (e.g. a POST carrying an idempotency key): insert it in the request's
/// extensions.
///
/// ```
/// use seawall::http::RetrySafe;
///
/// // A POST carrying an idempotency key may be sent again after a failure.
/// let mut req = http::Request::post("/payments").body(String::from("{}")).unwrap();
/// req.headers_mut().insert("idempotency-key", "7f3a".parse().unwrap());
/// req.extensions_mut().insert(RetrySafe);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySafe;

/// Replays `http::Request`s whose body is buffered (`Full<Bytes>`,
/// `String`, `()`, ...: see [`ReplayBody`]); a request with a streaming
/// body (`Incoming`, `BoxBody`, ...) gets one attempt, never an error. Only idempotent methods (GET, HEAD,
/// OPTIONS, TRACE, PUT, DELETE) are resent after a failure that may have
/// reached the server; a POST or PATCH is resent only when marked
/// [`RetrySafe`] or when the failure proves it never left (a local
/// rejection, a refused connection). Each retry's request (and, with a
/// retry deadline, the first too) carries its [`Attempt`] in its
/// extensions — read it with [`Attempt::of`] — and so [`Deadline::of`](crate::http::Deadline::of) sees the retry's
/// deadline.
///
/// ```
/// use seawall::http::HttpReplay;
/// use seawall::retry::ReplayRequest;
///
/// let get = http::Request::get("/items").body(String::new()).unwrap();
/// assert!(HttpReplay.replay(&get).is_some() && HttpReplay.is_idempotent(&get));
/// let post = http::Request::post("/orders").body(String::new()).unwrap();
/// assert!(!HttpReplay.is_idempotent(&post));   // resent only if it never left
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpReplay;

impl<B: ReplayBody> ReplayRequest<http::Request<B>> for HttpReplay {
    fn replay(&self, req: &http::Request<B>) -> Option<http::Request<B>> {
        let mut copy = http::Request::new(req.body().replay_body()?);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }

    fn is_idempotent(&self, req: &http::Request<B>) -> bool {
        matches!(
            *req.method(),
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::TRACE
                | Method::PUT
                | Method::DELETE
        ) || req.extensions().get::<RetrySafe>().is_some()
    }

    fn before_attempt(&self, req: &mut http::Request<B>, attempt: Attempt) {
        attempt.mark(req);
    }

    fn deadline(&self, req: &http::Request<B>) -> Option<tokio::time::Instant> {
        crate::http::Deadline::of(req).map(|d| d.0)
    }
}

impl Attempt {
    /// Puts this attempt in `req`'s extensions, where `Attempt::of` and
    /// `Deadline::of` read it — unless it is a first attempt without a
    /// deadline, which has nothing to tell that `Attempt::of` does not
    /// already say (and an extension costs an allocation).
    #[inline]
    pub(crate) fn mark<B>(self, req: &mut http::Request<B>) {
        self.mark_extensions(req.extensions_mut());
    }

    /// [`mark`](Self::mark), on a request's extensions.
    #[inline]
    pub(crate) fn mark_extensions(self, ext: &mut http::Extensions) {
        if self.number > 1 || self.deadline.is_some() {
            ext.insert(self);
        }
    }

    /// The attempt `req` is: from its extensions, or the first attempt with
    /// no retry deadline when it carries none.
    #[inline]
    pub fn of<B>(req: &http::Request<B>) -> Attempt {
        Self::in_extensions(req.extensions())
    }

    /// The attempt a request's extensions say (as [`of`](Self::of) reads
    /// them): for clients whose requests keep extensions apart, as
    /// `reqwest-middleware` does.
    #[inline]
    pub fn in_extensions(ext: &http::Extensions) -> Attempt {
        ext.get::<Attempt>().copied().unwrap_or(Attempt {
            number: 1,
            remaining: None,
            deadline: None,
        })
    }
}

impl<R, C> crate::hedge::HedgeLayer<R, C> {
    /// Hedges HTTP the standard way: only idempotent requests (GET, HEAD,
    /// OPTIONS, TRACE, PUT, DELETE, or marked [`RetrySafe`]) with a buffered
    /// body ([`HttpReplay`]: each copy carries its `Attempt`, and a request's
    /// [`Deadline`](crate::http::Deadline) bounds the copies), and a 5xx
    /// answer is a failed attempt ([`HttpClassifier`](crate::http::HttpClassifier)):
    /// the next copy goes at once while another may still answer well.
    pub fn for_http(self) -> crate::hedge::HedgeLayer<HttpReplay, crate::http::HttpClassifier> {
        self.replay(HttpReplay)
            .classify(crate::http::HttpClassifier::new())
    }
}

impl<R, C> crate::failover::FailoverBuilder<R, C> {
    /// Fails over HTTP the standard way: a call moves to the next endpoint
    /// only if idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or
    /// marked [`RetrySafe`]) with a buffered body ([`HttpReplay`]); a 5xx
    /// is the endpoint's failure, an error a local one
    /// ([`HttpClassifier`](crate::http::HttpClassifier)).
    pub fn for_http(
        self,
    ) -> crate::failover::FailoverBuilder<HttpReplay, crate::http::HttpClassifier> {
        self.replay(HttpReplay)
            .classify(crate::http::HttpClassifier::new())
    }
}

impl<P, R> RetryLayer<P, R> {
    /// Retries HTTP the standard way: [`RetryHttp`] decides (errors and
    /// 429/502/503/504, honouring `Retry-After`), [`HttpReplay`] copies
    /// (idempotent requests only, attempt and deadline in extensions).
    pub fn for_http(self) -> RetryLayer<RetryHttp, HttpReplay> {
        self.retry_if(RetryHttp::new()).replay(HttpReplay)
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_retry_after(b"120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(b" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(later.as_bytes(), now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(earlier.as_bytes(), now),
            Some(Duration::ZERO)
        );
        for bad in [&b""[..], b"-1", b"1.5", b"soon", b"\xff"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad:?}");
        }
        assert_eq!(
            parse_retry_after(b"99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn statuses_and_methods() {
        let p = RetryHttp::new();
        for (s, yes) in [(429, true), (503, true), (500, false), (404, false)] {
            assert_eq!(p.is_retryable(StatusCode::from_u16(s).unwrap()), yes);
        }
        let p = p.statuses([StatusCode::INTERNAL_SERVER_ERROR]);
        assert!(p.is_retryable(StatusCode::INTERNAL_SERVER_ERROR));
        assert!(!p.is_retryable(StatusCode::SERVICE_UNAVAILABLE));
        let req = |m: Method| http::Request::builder().method(m).body(()).unwrap();
        assert!(HttpReplay.is_idempotent(&req(Method::GET)));
        assert!(HttpReplay.is_idempotent(&req(Method::PUT)));
        assert!(!HttpReplay.is_idempotent(&req(Method::POST)));
        let mut post = req(Method::PATCH);
        post.extensions_mut().insert(RetrySafe);
        assert!(HttpReplay.is_idempotent(&post));
    }
}
