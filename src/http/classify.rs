//! Classifying HTTP responses for a circuit breaker (or a fallback).

use super::{HttpResponse, StatusSet};
use crate::outcome::{classify_error, Classify, Outcome};
use http::StatusCode;
use std::time::{Duration, SystemTime};

/// The breaker's classifier for `http::Response`s. Defaults: 5xx is a
/// failure; 4xx, 429 included, is ignored (a throttling dependency is not a
/// broken one, and a bad request says nothing about its health); anything
/// else is a success. Errors follow [`DefaultClassifier`](crate::DefaultClassifier):
/// seawall's local rejections are ignored, everything else (timeouts
/// included) is a failure.
///
/// ```
/// use seawall::http::HttpClassifier;
/// use seawall::{Classify, Outcome};
/// use http::{Response, StatusCode};
///
/// let c = HttpClassifier::new().failure(StatusCode::TOO_MANY_REQUESTS); // count 429s too
/// let res = |s: u16| Ok::<_, std::io::Error>(Response::builder().status(s).body(()).unwrap());
/// assert_eq!(c.classify(&res(503)), Outcome::Failure);
/// assert_eq!(c.classify(&res(429)), Outcome::Failure);
/// assert_eq!(c.classify(&res(404)), Outcome::Ignored);
/// assert_eq!(c.classify(&res(200)), Outcome::Success);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct HttpClassifier {
    failures: StatusSet,
    ignored: StatusSet,
    open_for_retry_after: bool,
}

impl Default for HttpClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClassifier {
    /// 5xx failures, 4xx ignored, the rest successes.
    pub fn new() -> Self {
        Self {
            failures: StatusSet::range(500, 599),
            ignored: StatusSet::range(400, 499),
            open_for_retry_after: false,
        }
    }

    /// Keep the breaker open as long as a 429 or 503 response's
    /// `Retry-After` asks (seconds or an HTTP date), whatever its rates: a
    /// dependency that says when to come back is not called before then.
    /// Off by default.
    ///
    /// ```
    /// use seawall::http::HttpClassifier;
    /// use seawall::Classify;
    /// use http::Response;
    /// use std::time::Duration;
    ///
    /// let c = HttpClassifier::new().open_for_retry_after(true);
    /// let busy = Ok::<_, std::io::Error>(
    ///     Response::builder().status(503).header("retry-after", "120").body(()).unwrap(),
    /// );
    /// assert_eq!(c.open_for(&busy), Some(Duration::from_secs(120)));
    /// ```
    pub fn open_for_retry_after(mut self, enabled: bool) -> Self {
        self.open_for_retry_after = enabled;
        self
    }

    /// Count `status` as a failure.
    pub fn failure(mut self, status: StatusCode) -> Self {
        self.failures.insert(status);
        self.ignored.remove(status);
        self
    }

    /// Ignore `status` (neither success nor failure).
    pub fn ignore(mut self, status: StatusCode) -> Self {
        self.ignored.insert(status);
        self.failures.remove(status);
        self
    }

    /// Count `status` as a success.
    pub fn success(mut self, status: StatusCode) -> Self {
        self.failures.remove(status);
        self.ignored.remove(status);
        self
    }

    /// The outcome of a response with `status`.
    #[inline]
    pub fn classify_status(&self, status: StatusCode) -> Outcome {
        if self.failures.contains(status) {
            Outcome::Failure
        } else if self.ignored.contains(status) {
            Outcome::Ignored
        } else {
            Outcome::Success
        }
    }
}

impl<Res: HttpResponse, E: 'static> Classify<Res, E> for HttpClassifier {
    #[inline]
    fn classify(&self, result: &Result<Res, E>) -> Outcome {
        match result {
            Ok(res) => self.classify_status(res.status()),
            Err(e) => classify_error(e),
        }
    }

    fn open_for(&self, result: &Result<Res, E>) -> Option<Duration> {
        let res = result.as_ref().ok().filter(|_| self.open_for_retry_after)?;
        match res.status() {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                super::retry_after(res.headers(), SystemTime::now())
            }
            _ => None,
        }
    }
}

impl<C> crate::circuit_breaker::CircuitBreakerBuilder<C> {
    /// Classifies HTTP responses with [`HttpClassifier::new`] (5xx and
    /// errors fail, 4xx is ignored): `CircuitBreaker::builder(name).for_http()`.
    /// Without a classifier a breaker counts every response, 500s
    /// included, as a success.
    ///
    /// ```
    /// use seawall::prelude::*;
    /// use http::Response;
    ///
    /// let breaker = CircuitBreaker::builder("inventory").for_http().build()?;
    /// let answer = Ok::<_, BoxError>(Response::builder().status(503).body(()).unwrap());
    /// assert_eq!(breaker.classify(&answer), Outcome::Failure);
    /// # Ok::<(), seawall::ConfigError>(())
    /// ```
    pub fn for_http(self) -> crate::circuit_breaker::CircuitBreakerBuilder<HttpClassifier> {
        self.classify(HttpClassifier::new())
    }
}
