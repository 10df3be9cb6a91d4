//! gRPC response headers and the `grpc-timeout` seawall writes: any
//! `grpc-status` and `grpc-retry-pushback-ms` values (several, garbage,
//! non-UTF-8) are classified and judged without a panic, as documented —
//! a retryable code retries, after the pushback when there is exactly one
//! readable, not at all when it is unreadable or repeated; and the
//! `grpc-timeout` of any time left is at most 8 digits and a unit, never
//! more than the time left, and at most one unit less.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use seawall::grpc::{status_code, GrpcClassifier, GrpcReplay, RetryGrpc};
use seawall::retry::{Attempt, ReplayRequest, RetryVerdict, ShouldRetry};
use seawall::{Classify, Outcome};
use seawall_fuzz::Span;
use std::time::Duration;
use tonic::Code;

#[derive(Debug, Arbitrary)]
struct Input {
    statuses: Vec<Vec<u8>>,
    pushbacks: Vec<Vec<u8>>,
    retry_codes: Vec<u8>,
    left: Span,
}

fuzz_target!(|input: Input| {
    let mut res = http::Response::new(());
    for v in &input.statuses {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            res.headers_mut().append("grpc-status", v);
        }
    }
    for v in &input.pushbacks {
        if let Ok(v) = http::HeaderValue::from_bytes(v) {
            res.headers_mut().append("grpc-retry-pushback-ms", v);
        }
    }
    let code = status_code(&res);
    if res.headers().get("grpc-status").is_none() {
        assert_eq!(
            code,
            Code::Ok,
            "no status header: the status comes in trailers"
        );
    }
    let ok = Ok::<_, std::io::Error>(res);

    let classifier = GrpcClassifier::new();
    let outcome = classifier.classify(&ok);
    assert_eq!(outcome, classifier.classify_code(code));
    let expected = match code {
        Code::Ok => Outcome::Success,
        Code::Unavailable | Code::ResourceExhausted | Code::DeadlineExceeded => Outcome::Failure,
        _ => Outcome::Ignored,
    };
    assert_eq!(outcome, expected, "{code:?}");

    let codes: Vec<Code> = input
        .retry_codes
        .iter()
        .map(|&c| Code::from(i32::from(c % 17)))
        .collect();
    let retry = if codes.is_empty() {
        RetryGrpc::new()
    } else {
        RetryGrpc::new().codes(codes.iter().copied())
    };
    let retried = if codes.is_empty() {
        code == Code::Unavailable
    } else {
        codes.contains(&code)
    };
    let verdict = retry.verdict(&ok);
    let res = ok.as_ref().unwrap();
    let pushbacks: Vec<_> = res
        .headers()
        .get_all("grpc-retry-pushback-ms")
        .iter()
        .collect();
    let expected = if !retried {
        RetryVerdict::Accept
    } else {
        match pushbacks.as_slice() {
            [] => RetryVerdict::Retry,
            // One pushback: a non-negative integer (an optional `+`, then
            // digits, as gRPC's own parsers take it) around optional blanks.
            [one] => {
                let digits = one
                    .to_str()
                    .ok()
                    .map(|t| t.trim_matches([' ', '\t']))
                    .map(|t| t.strip_prefix('+').unwrap_or(t))
                    .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
                match digits.map(|t| t.parse::<u64>()) {
                    Some(Ok(ms)) => RetryVerdict::RetryAfter(Duration::from_millis(ms)),
                    _ => RetryVerdict::Accept, // unreadable, negative or too long
                }
            }
            _ => RetryVerdict::Accept,
        }
    };
    assert_eq!(verdict, expected, "{code:?} {pushbacks:?}");

    // The grpc-timeout a retry with a deadline sends.
    let left = input.left.get();
    let mut req = http::Request::new(tonic::body::Body::empty());
    GrpcReplay.before_attempt(
        &mut req,
        Attempt {
            number: 1,
            remaining: Some(left),
            deadline: None,
        },
    );
    let header = req
        .headers()
        .get("grpc-timeout")
        .expect("a deadline sets grpc-timeout");
    let text = header.to_str().unwrap();
    let (digits, unit) = text.split_at(text.len() - 1);
    assert!(
        (1..=8).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
        "{text}"
    );
    let n: u128 = digits.parse().unwrap();
    let step = match unit {
        "n" => Duration::from_nanos(1),
        "u" => Duration::from_micros(1),
        "m" => Duration::from_millis(1),
        "S" => Duration::from_secs(1),
        "M" => Duration::from_secs(60),
        "H" => Duration::from_secs(3600),
        _ => panic!("unit {unit:?}"),
    };
    let said = step * n as u32;
    let capped = Duration::from_secs(3600 * 99_999_999);
    assert!(said <= left, "{text} for {left:?}");
    assert!(said + step > left.min(capped), "{text} for {left:?}");
    // The finest unit whose count fits: one finer would need 9 digits.
    let finer = [1, 1_000, 1_000_000, 1_000_000_000, 60_000_000_000u128]
        .into_iter()
        .take_while(|&per| per < step.as_nanos())
        .last();
    if let Some(per) = finer {
        assert!(left.as_nanos() / per > 99_999_999, "{text} for {left:?}");
    }
});
