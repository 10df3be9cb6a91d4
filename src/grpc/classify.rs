//! Status codes: the breaker's classifier, the retry's predicate, and how
//! requests are replayed.

use super::buffer::{record, Recorded, DEFAULT_MAX_BYTES};
use super::status_code;
use crate::outcome::{classify_error, Classify, Outcome};
use crate::retry::{Attempt, ReplayRequest, RetryVerdict, ShouldRetry};
use std::time::Duration;
use tonic::Code;

/// A set of gRPC status codes.
///
/// ```
/// use seawall::grpc::CodeSet;
/// use tonic::Code;
///
/// let transient = CodeSet::of([Code::Unavailable, Code::ResourceExhausted]);
/// assert!(transient.contains(Code::Unavailable));
/// assert!(!transient.contains(Code::InvalidArgument));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CodeSet(u32);

impl CodeSet {
    /// The set of `codes`.
    pub fn of(codes: impl IntoIterator<Item = Code>) -> Self {
        Self(codes.into_iter().fold(0, |m, c| m | 1 << (c as u32 & 31)))
    }

    /// Whether `code` is in the set.
    #[inline]
    pub fn contains(self, code: Code) -> bool {
        self.0 & (1 << (code as u32 & 31)) != 0
    }

    fn with(self, code: Code) -> Self {
        Self(self.0 | 1 << (code as u32 & 31))
    }

    fn without(self, code: Code) -> Self {
        Self(self.0 & !(1 << (code as u32 & 31)))
    }
}

/// The breaker's classifier for gRPC: `UNAVAILABLE`, `RESOURCE_EXHAUSTED`
/// and `DEADLINE_EXCEEDED` are failures (the dependency is down, overloaded
/// or too slow); every other non-`OK` code (`INVALID_ARGUMENT`,
/// `NOT_FOUND`, `PERMISSION_DENIED`, ...) is ignored — it says nothing
/// about the dependency's health; `OK` is a success. Transport errors
/// follow [`DefaultClassifier`](crate::DefaultClassifier).
///
/// ```
/// use seawall::grpc::GrpcClassifier;
/// use seawall::{Classify, Outcome};
/// use tonic::Code;
///
/// let c = GrpcClassifier::new().failure(Code::Internal);
/// let status = |code: Code| Err::<tonic::Response<()>, _>(tonic::Status::new(code, ""));
/// assert_eq!(c.classify(&status(Code::Unavailable)), Outcome::Failure);
/// assert_eq!(c.classify(&status(Code::Internal)), Outcome::Failure);
/// assert_eq!(c.classify(&status(Code::NotFound)), Outcome::Ignored);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GrpcClassifier {
    failures: CodeSet,
}

impl Default for GrpcClassifier {
    fn default() -> Self {
        Self::new()
    }
}

impl GrpcClassifier {
    /// `UNAVAILABLE`, `RESOURCE_EXHAUSTED`, `DEADLINE_EXCEEDED` are failures.
    pub fn new() -> Self {
        Self {
            failures: CodeSet::of([
                Code::Unavailable,
                Code::ResourceExhausted,
                Code::DeadlineExceeded,
            ]),
        }
    }

    /// Count `code` as a failure too.
    pub fn failure(mut self, code: Code) -> Self {
        self.failures = self.failures.with(code);
        self
    }

    /// Ignore `code` (not a failure).
    pub fn ignore(mut self, code: Code) -> Self {
        self.failures = self.failures.without(code);
        self
    }

    /// The outcome of a call that ended with `code`.
    #[inline]
    pub fn classify_code(&self, code: Code) -> Outcome {
        if code == Code::Ok {
            Outcome::Success
        } else if self.failures.contains(code) {
            Outcome::Failure
        } else {
            Outcome::Ignored
        }
    }
}

impl<B, E: 'static> Classify<http::Response<B>, E> for GrpcClassifier {
    #[inline]
    fn classify(&self, result: &Result<http::Response<B>, E>) -> Outcome {
        match result {
            Ok(res) => self.classify_code(status_code(res)),
            Err(e) => classify_error(e),
        }
    }
}

impl<T> Classify<tonic::Response<T>, tonic::Status> for GrpcClassifier {
    fn classify(&self, result: &Result<tonic::Response<T>, tonic::Status>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(status) => self.classify_code(status.code()),
        }
    }
}

/// The retry predicate for gRPC: transport errors and `UNAVAILABLE` are
/// retried (gRPC's own retry policy: the server did not process the call);
/// a `grpc-retry-pushback-ms` header sets the next delay, and one that is
/// negative, not a number, or given twice means "do not retry" (as in
/// gRPC's retry design and its implementations): the response is returned
/// as it came.
///
/// One difference from gRFC A6: there the pushback *replaces* the backoff
/// (the next retry waits exactly that long); here the wait is the longer of
/// the pushback and the backoff's own delay, as for HTTP's `Retry-After`.
/// A server's pushback is never cut short; a backoff longer than it (its
/// cap is 2 s in the preset) is kept, so a fleet told "retry in 10 ms"
/// still spreads out. A pushback longer than the retry's `max_retry_after`
/// (5 s in the preset), or past its deadline, ends the retries at once.
///
/// ```
/// use seawall::grpc::RetryGrpc;
/// use seawall::prelude::*;
/// use seawall::retry::ShouldRetry;
///
/// // An answer carrying UNAVAILABLE in its trailers-only headers is retried.
/// let unavailable = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
/// let verdict = RetryGrpc::new().verdict(&Ok::<_, BoxError>(unavailable));
/// assert_eq!(verdict, RetryVerdict::Retry);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RetryGrpc {
    codes: CodeSet,
}

impl Default for RetryGrpc {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryGrpc {
    /// Retries transport errors and `UNAVAILABLE`.
    pub fn new() -> Self {
        Self {
            codes: CodeSet::of([Code::Unavailable]),
        }
    }

    /// Retries exactly these codes (and transport errors).
    pub fn codes(mut self, codes: impl IntoIterator<Item = Code>) -> Self {
        self.codes = CodeSet::of(codes);
        self
    }
}

impl<B, E> ShouldRetry<http::Response<B>, E> for RetryGrpc {
    fn verdict(&self, result: &Result<http::Response<B>, E>) -> RetryVerdict {
        match result {
            Err(_) => RetryVerdict::Retry,
            Ok(res) if self.codes.contains(status_code(res)) => {
                let mut pushback = res.headers().get_all("grpc-retry-pushback-ms").iter();
                match (pushback.next(), pushback.next()) {
                    (None, _) => RetryVerdict::Retry,
                    (Some(v), None) => {
                        match v.to_str().ok().and_then(|t| t.trim().parse::<u64>().ok()) {
                            Some(ms) => RetryVerdict::RetryAfter(Duration::from_millis(ms)),
                            // The server asked for no retry.
                            None => RetryVerdict::Accept,
                        }
                    }
                    (Some(_), Some(_)) => RetryVerdict::Accept,
                }
            }
            Ok(_) => RetryVerdict::Accept,
        }
    }

    /// An `OK` status (or one still to come in trailers) refills a retry
    /// throttle; other codes neither refill nor drain it unless retried, as
    /// in gRFC A6.
    #[inline]
    fn is_success(&self, result: &Result<http::Response<B>, E>) -> bool {
        matches!(result, Ok(res) if status_code(res) == Code::Ok)
    }
}

/// Replays gRPC requests as gRPC's own retry buffer does: each request's
/// messages go on to the server as the caller writes them and are recorded
/// as they pass (up to 1 MiB a call, or what a
/// [`BufferRequestLayer`](super::BufferRequestLayer) in front says), so a
/// retry sends them again; a call past the limit keeps its one attempt.
/// Every gRPC method may be retried on the codes [`RetryGrpc`] picks, as in
/// gRPC's retry policy (a retry happens only before the response's headers
/// arrive, so a server stream that has begun is never restarted). Each
/// retry carries its [`Attempt`] in its extensions (see `Attempt::of`) and,
/// as gRFC A6 says, a `grpc-previous-rpc-attempts` header (1 on the first
/// retry).
///
/// **Deadlines.** The caller's own `grpc-timeout` (tonic's
/// `Request::set_timeout`) is the call's deadline, covering every attempt
/// as gRPC's retry design says: the retry's deadline is the earlier of its
/// own and the caller's, no attempt starts after it, and each attempt
/// carries a `grpc-timeout` of the time left before it — never more than
/// the caller gave, shrinking from attempt to attempt.
///
/// ```
/// use seawall::grpc::{GrpcReplay, RetryGrpc};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), BoxError> {
/// // A retry for tonic channels: status codes decide, the body is replayed.
/// let retry = Retry::builder("inventory").build()?.layer().retry_if(RetryGrpc::new()).replay(GrpcReplay);
/// # let _ = retry; Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcReplay;

impl ReplayRequest<http::Request<tonic::body::Body>> for GrpcReplay {
    /// Records the request's messages as they are sent, unless a
    /// [`BufferRequestLayer`](super::BufferRequestLayer) already does.
    fn prepare(&self, req: &mut http::Request<tonic::body::Body>) {
        record(req, DEFAULT_MAX_BYTES);
    }

    fn replay(
        &self,
        req: &http::Request<tonic::body::Body>,
    ) -> Option<http::Request<tonic::body::Body>> {
        let body = req.extensions().get::<Recorded>()?.replay()?;
        let mut copy = http::Request::new(body);
        *copy.method_mut() = req.method().clone();
        *copy.uri_mut() = req.uri().clone();
        *copy.version_mut() = req.version();
        *copy.headers_mut() = req.headers().clone();
        *copy.extensions_mut() = req.extensions().clone();
        Some(copy)
    }

    fn can_replay(&self, copy: &http::Request<tonic::body::Body>) -> bool {
        copy.extensions()
            .get::<Recorded>()
            .is_some_and(Recorded::can_replay)
    }

    /// The caller's own `grpc-timeout` (tonic's `Request::set_timeout`):
    /// the retry's deadline is at most that, so every attempt is told at
    /// most what the caller allowed, and the retries stop there.
    fn budget(&self, req: &http::Request<tonic::body::Body>) -> Option<Duration> {
        req.headers()
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.as_bytes()))
    }

    fn before_attempt(&self, req: &mut http::Request<tonic::body::Body>, attempt: Attempt) {
        // `remaining` is the time left before the earlier of the retry's
        // deadline and the caller's `grpc-timeout`: never more than either.
        if let Some(left) = attempt.remaining {
            let mut buf = [0; 9];
            if let Ok(v) = http::HeaderValue::from_bytes(grpc_timeout(left, &mut buf)) {
                req.headers_mut().insert("grpc-timeout", v);
            }
        }
        if attempt.number > 1 {
            // gRFC A6: a retry tells the server how many attempts came before.
            req.headers_mut().insert(
                "grpc-previous-rpc-attempts",
                http::HeaderValue::from(attempt.number - 1),
            );
        }
        attempt.mark(req);
    }
}

/// A `grpc-timeout` value (1 to 8 digits and a unit: `H`, `M`, `S`, `m`,
/// `u`, `n`), as gRPC's HTTP/2 protocol spec defines it; `None` for
/// anything else.
pub fn parse_grpc_timeout(value: &[u8]) -> Option<Duration> {
    let (&unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// `left` in gRPC's `grpc-timeout` format, at most 8 digits and a unit:
/// the finest unit whose count fits (as gRPC's Java and Go clients choose),
/// rounded down, so it never says more than the time left and at most one
/// unit less (1 ns under 0.1 s, 1 µs under 100 s, 1 ms under 27 hours).
/// Written into `buf`, not formatted.
fn grpc_timeout(left: Duration, buf: &mut [u8; 9]) -> &[u8] {
    const MAX: u128 = 99_999_999;
    const UNITS: [(u128, u8); 6] = [
        (1, b'n'),
        (1_000, b'u'),
        (1_000_000, b'm'),
        (1_000_000_000, b'S'),
        (60_000_000_000, b'M'),
        (3_600_000_000_000, b'H'),
    ];
    let nanos = left.as_nanos();
    let (count, unit) = UNITS
        .iter()
        .map(|&(per, unit)| (nanos / per, unit))
        .find(|&(count, _)| count <= MAX)
        .unwrap_or((MAX, b'H')); // over 11,000 years: said as the most there is
    let mut n = count as u64;
    let mut start = buf.len() - 1;
    buf[start] = unit;
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[start..]
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_writes_them() {
        for (text, d) in [
            ("300m", Duration::from_millis(300)),
            ("99999999n", Duration::from_nanos(99_999_999)),
            ("1H", Duration::from_secs(3600)),
            ("2M", Duration::from_secs(120)),
            ("5S", Duration::from_secs(5)),
            ("10u", Duration::from_micros(10)),
        ] {
            assert_eq!(parse_grpc_timeout(text.as_bytes()), Some(d), "{text}");
        }
        for bad in ["", "m", "123456789m", "12x", "-1S", "1.5S", "S1"] {
            assert_eq!(parse_grpc_timeout(bad.as_bytes()), None, "{bad}");
        }
        // What seawall writes, it reads back, never longer than the time.
        for left in [
            Duration::from_nanos(1),
            Duration::from_millis(1500),
            Duration::MAX,
        ] {
            let mut buf = [0; 9];
            let read = parse_grpc_timeout(grpc_timeout(left, &mut buf)).unwrap();
            assert!(read <= left, "{left:?} read back as {read:?}");
        }
    }

    fn trailers_only(code: Code, pushback: Option<&str>) -> http::Response<()> {
        let mut res = http::Response::new(());
        res.headers_mut()
            .insert("grpc-status", (code as i32).to_string().parse().unwrap());
        if let Some(ms) = pushback {
            res.headers_mut()
                .insert("grpc-retry-pushback-ms", ms.parse().unwrap());
        }
        res
    }

    #[test]
    fn retry_follows_codes_and_pushback() {
        let r = RetryGrpc::new();
        let verdict = |res: http::Response<()>| r.verdict(&Ok::<_, std::io::Error>(res));
        assert_eq!(
            verdict(trailers_only(Code::Unavailable, None)),
            RetryVerdict::Retry
        );
        assert_eq!(
            verdict(trailers_only(Code::Unavailable, Some("250"))),
            RetryVerdict::RetryAfter(Duration::from_millis(250))
        );
        // A negative or unreadable pushback, or two of them: do not retry.
        for bad in ["-1", "soon", ""] {
            assert_eq!(
                verdict(trailers_only(Code::Unavailable, Some(bad))),
                RetryVerdict::Accept,
                "{bad:?}"
            );
        }
        let mut twice = trailers_only(Code::Unavailable, Some("100"));
        twice
            .headers_mut()
            .append("grpc-retry-pushback-ms", "200".parse().unwrap());
        assert_eq!(verdict(twice), RetryVerdict::Accept);
        assert_eq!(
            verdict(trailers_only(Code::InvalidArgument, None)),
            RetryVerdict::Accept
        );
        assert_eq!(
            verdict(http::Response::new(())),
            RetryVerdict::Accept,
            "status in trailers"
        );
        let r = r.codes([Code::ResourceExhausted]);
        assert_eq!(
            r.verdict(&Ok::<_, std::io::Error>(trailers_only(
                Code::ResourceExhausted,
                None
            ))),
            RetryVerdict::Retry
        );
    }

    #[test]
    fn grpc_timeout_format() {
        let f = |d: Duration| String::from_utf8(grpc_timeout(d, &mut [0; 9]).to_vec()).unwrap();
        assert_eq!(f(Duration::ZERO), "0n");
        assert_eq!(f(Duration::from_micros(500)), "500000n");
        assert_eq!(f(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(f(Duration::from_millis(100)), "100000u");
        assert_eq!(f(Duration::from_nanos(9_870_000_999)), "9870000u");
        assert_eq!(f(Duration::from_secs(100)), "100000m");
        assert_eq!(f(Duration::from_secs(200_000)), "200000S");
        assert_eq!(f(Duration::from_secs(100_000_000)), "1666666M");
        assert_eq!(f(Duration::from_secs(6_000_000_000)), "1666666H");
        assert_eq!(f(Duration::MAX), "99999999H");
    }

    #[test]
    fn classifier_and_replay() {
        let c = GrpcClassifier::new().ignore(Code::ResourceExhausted);
        let classify = |code| c.classify(&Ok::<_, std::io::Error>(trailers_only(code, None)));
        assert_eq!(classify(Code::Unavailable), Outcome::Failure);
        assert_eq!(classify(Code::ResourceExhausted), Outcome::Ignored);
        assert_eq!(classify(Code::Ok), Outcome::Success);
        // Nothing recorded, nothing to replay.
        let req = http::Request::new(tonic::body::Body::empty());
        assert!(GrpcReplay.replay(&req).is_none());
        let mut req = http::Request::new(tonic::body::Body::empty());
        GrpcReplay.prepare(&mut req);
        req.headers_mut().insert("x-id", "7".parse().unwrap());
        let copy = GrpcReplay.replay(&req).unwrap();
        assert_eq!(copy.headers()["x-id"], "7");
    }
}
