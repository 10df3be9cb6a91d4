//! Client-side adaptive throttling (Google SRE book): drops at the
//! formula's rate (checked against binomial bounds over seeded draws),
//! none while the dependency accepts, at most `max_reject`, a window that
//! forgets, reproducible draws, and bad input refused.

use seawall::adaptive::AdaptiveThrottle;
use seawall::prelude::*;

/// Makes `n` calls, the dependency accepting each when `accept(i)`; the
/// calls dropped, and the sum and variance of the drop probabilities seen.
fn run(t: &AdaptiveThrottle, n: usize, accept: impl Fn(usize) -> bool) -> (u64, f64, f64) {
    let (mut dropped, mut mean, mut var) = (0, 0.0, 0.0);
    for i in 0..n {
        let p = t.reject_probability();
        mean += p;
        var += p * (1.0 - p);
        match t.try_acquire() {
            Ok(ticket) => ticket.record(accept(i)),
            Err(e) => {
                assert_eq!(seawall::Rejection::kind(&e), RejectionKind::Overloaded);
                dropped += 1;
            }
        }
    }
    (dropped, mean, var)
}

fn throttle(clock: &ManualClock, seed: u64) -> AdaptiveThrottle {
    AdaptiveThrottle::builder("search")
        .seed(seed)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[test]
fn nothing_is_dropped_while_the_dependency_accepts() {
    let clock = ManualClock::new();
    let t = throttle(&clock, 1);
    let (dropped, mean, _) = run(&t, 10_000, |_| true);
    assert_eq!((dropped, mean), (0, 0.0));
    assert_eq!(t.window_counts(), (10_000, 10_000));
}

#[test]
fn drops_follow_the_formula_within_binomial_bounds() {
    let clock = ManualClock::new();
    for seed in [1, 2, 3] {
        let t = throttle(&clock, seed);
        // 10,000 calls accepted, then the dependency refuses everything: p
        // climbs from 0 as requests − 2·accepts over requests + 1 says.
        run(&t, 10_000, |_| true);
        let (dropped, expected, var) = run(&t, 20_000, |_| false);
        let sigma = var.sqrt();
        assert!(
            (dropped as f64 - expected).abs() < 4.0 * sigma,
            "seed {seed}: {dropped} dropped, {expected:.0} ± {sigma:.0} expected"
        );
        assert!(expected > 1_000.0, "it did throttle: {expected:.0}");
        let (requests, accepts) = t.window_counts();
        assert_eq!((requests, accepts), (30_000, 10_000));
        let p = (requests as f64 - 2.0 * accepts as f64) / (requests as f64 + 1.0);
        assert!(
            (t.reject_probability() - p).abs() < 1e-12,
            "{}",
            t.reject_probability()
        );
    }
}

#[test]
fn a_dependency_refusing_everything_is_probed_at_the_cap() {
    let clock = ManualClock::new();
    let t = throttle(&clock, 9);
    run(&t, 1_000, |_| false); // the probability climbs to the cap
    assert_eq!(t.reject_probability(), 0.9);
    let (dropped, expected, var) = run(&t, 10_000, |_| false);
    assert!(
        (dropped as f64 - expected).abs() < 4.0 * var.sqrt(),
        "{dropped} vs {expected}"
    );
    assert!(
        (8_800..=9_200).contains(&dropped),
        "one in ten still probes: {dropped}"
    );
}

#[test]
fn the_window_forgets_and_draws_are_reproducible() {
    let clock = ManualClock::new();
    let (a, b) = (throttle(&clock, 42), throttle(&clock, 42));
    let drops = |t: &AdaptiveThrottle| {
        (0..2_000)
            .map(|_| t.try_acquire().map(|k| k.record(false)).is_err())
            .collect::<Vec<_>>()
    };
    assert_eq!(drops(&a), drops(&b), "the same seed drops the same calls");
    // Two minutes on, the refusals are out of the window.
    clock.advance(Duration::from_secs(121));
    assert_eq!(a.reject_probability(), 0.0);
    assert_eq!(a.window_counts(), (0, 0));
}

#[tokio::test]
async fn the_layer_judges_answers_by_its_classifier() {
    use tower::{service_fn, Layer, ServiceExt};
    let clock = ManualClock::new();
    let t = throttle(&clock, 5);
    // 503s are refusals: counted as not accepted.
    let overloaded = service_fn(|_req: ()| async {
        Ok::<_, BoxError>(http::Response::builder().status(503).body(()).unwrap())
    });
    let svc = t
        .layer()
        .classify(seawall::http::HttpClassifier::new())
        .layer(overloaded);
    let mut refused_locally = 0;
    for _ in 0..1_000 {
        if let Err(e) = svc.clone().oneshot(()).await {
            assert_eq!(
                seawall::rejection(&e).unwrap().kind(),
                RejectionKind::Overloaded
            );
            refused_locally += 1;
        }
    }
    assert_eq!(t.dropped(), refused_locally);
    assert!(refused_locally > 700, "{refused_locally}");
    assert_eq!(t.window_counts(), (1_000, 0));
}

#[test]
fn bad_input_is_a_config_error() {
    let field =
        |b: seawall::adaptive::AdaptiveThrottleBuilder| b.build().unwrap_err().field().to_owned();
    assert_eq!(field(AdaptiveThrottle::builder("t").k(0.5)), "k");
    assert_eq!(field(AdaptiveThrottle::builder("t").k(f64::NAN)), "k");
    assert_eq!(
        field(AdaptiveThrottle::builder("t").max_reject(1.5)),
        "max_reject"
    );
    assert_eq!(
        field(AdaptiveThrottle::builder("t").window(Duration::ZERO)),
        "window"
    );
}
