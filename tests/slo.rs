//! SLO arithmetic against hand-computed values, on a manual clock: the
//! SLI, the budget, burn rates, and each of the SRE workbook's alerts
//! firing and resolving at the second (windows up to an hour) or minute
//! (longer ones) its definition gives; the ring against a naive list of
//! every call; memory that does not grow; the layer; bad settings.

use proptest::prelude::*;
use seawall::prelude::*;
use seawall::slo::{BurnAlert, Severity, Slo};
use seawall::telemetry::EventMask;
use std::sync::{Arc, Mutex};

const SEC: Duration = Duration::from_secs(1);

/// Alert events seen: the second, severity, long window, firing.
type Seen = Arc<Mutex<Vec<(u64, Severity, Duration, bool)>>>;

/// An SLO of 99.9 % over 30 days on `clock`, its alert events kept.
fn slo(clock: &ManualClock) -> (Slo, Seen) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let (e, c) = (events.clone(), clock.clone());
    let slo = Slo::builder("checkout")
        .objective(99.9)
        .clock(clock.clone())
        .on_events(EventMask::TRANSITIONS, move |ev| {
            if let EventKind::SloAlert {
                severity,
                long_window,
                firing,
                ..
            } = ev.kind
            {
                e.lock()
                    .unwrap()
                    .push((c.now() / 1_000_000_000, severity, long_window, firing));
            }
        })
        .build()
        .unwrap();
    (slo, events)
}

/// Ten calls in the clock's current second, all good or all bad.
fn second(slo: &Slo, good: bool) {
    let outcome = if good {
        Outcome::Success
    } else {
        Outcome::Failure
    };
    for _ in 0..10 {
        slo.record(outcome, Duration::ZERO);
    }
}

#[test]
fn the_workbook_alerts_fire_and_resolve_when_their_definition_says() {
    let clock = ManualClock::new();
    let (slo, events) = slo(&clock);
    // Three days and an hour of good traffic, 10 calls a second.
    let warm_up: u64 = 3 * 86_400 + 3600;
    for _ in 0..warm_up {
        second(&slo, true);
        clock.advance(SEC);
    }
    assert!(slo.evaluate().is_empty());
    let t0 = clock.now() / 1_000_000_000; // on a minute boundary
    assert_eq!(t0 % 60, 0);
    // A total outage for 600 s, then good again; judged each second near
    // where something happens.
    for k in 0..22_260u64 {
        second(&slo, k >= 600);
        if k <= 2400 || k >= 22_100 {
            slo.evaluate();
        }
        if k == 100 {
            // 101 of the last 300 seconds bad.
            assert_eq!(
                slo.sli(Duration::from_secs(300)),
                Some(199.0 / 300.0 * 100.0)
            );
            assert!((slo.burn_rate(Duration::from_secs(300)) - 101.0 / 300.0 / 0.001).abs() < 1e-6);
        }
        clock.advance(SEC);
    }
    let h = |n: u64| Duration::from_secs(n * 3600);
    let seen: Vec<_> = events
        .lock()
        .unwrap()
        .iter()
        .map(|&(at, s, w, f)| (at - t0, s, w, f))
        .collect();
    assert_eq!(
        seen,
        [
            // 14.4 over 1 h: 1.44 % of an hour's calls bad = 51.84 s of
            // outage; fires once 52 s are counted (second 51).
            (51, Severity::Page, h(1), true),
            // 6 over 6 h: 0.6 % of 6 h = 129.6 s; the 6 h window is
            // counted by the minute (here 5 h 59 min and the current
            // minute's 10 s): fires once 130 s are counted.
            (129, Severity::Page, h(6), true),
            // 1 over 3 days: 0.1 % of 3 days = 259.2 s; fires at 260 s.
            (259, Severity::Ticket, h(72), true),
            // Resolved when the short window falls below: 5 min holding at
            // most 4 s of outage (4.32 allowed): seconds 596..=895.
            (895, Severity::Page, h(1), false),
            // 30 min holding at most 10 s (10.8 allowed): 590..=2389.
            (2389, Severity::Page, h(6), false),
            // 6 h counted by the minute, the oldest whole: the outage's
            // last minute (540..600) leaves once the window starts at 600,
            // at second 21_599 + 600.
            (22_199, Severity::Ticket, h(72), false),
        ]
    );
    // The budget over the period: every call so far, 6,000 of them bad.
    let valid = 10.0 * (warm_up + 22_260) as f64;
    let b = slo.budget();
    assert_eq!(b.spent, 6000);
    assert!((b.allowed - valid * 0.001).abs() < 1e-6);
    assert!(
        (b.remaining_percent - (valid * 0.001 - 6000.0) * 100.0 / (valid * 0.001)).abs() < 1e-9
    );
}

#[test]
fn factors_follow_the_period() {
    let thirty = Duration::from_secs(30 * 86_400);
    let twenty_eight = Duration::from_secs(28 * 86_400);
    let f = |p| {
        BurnAlert::workbook()
            .iter()
            .map(|a| a.factor(p))
            .collect::<Vec<_>>()
    };
    let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
    assert!(close(&f(thirty), &[14.4, 6.0, 1.0]));
    assert!(close(&f(twenty_eight), &[13.44, 5.6, 28.0 / 30.0]));
    assert!((BurnAlert::sloth_ticket().factor(thirty) - 3.0).abs() < 1e-9);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Windows up to an hour count exactly the calls in their seconds;
    /// longer ones the calls of their minutes (the oldest counting whole).
    #[test]
    fn the_ring_agrees_with_a_naive_list(
        steps in prop::collection::vec((0u64..120, any::<bool>(), 1u32..4), 1..400),
        windows in prop::collection::vec(1u64..20_000, 1..8),
    ) {
        let clock = ManualClock::new();
        let slo = Slo::builder("naive").clock(clock.clone()).build().unwrap();
        let mut calls: Vec<(u64, bool)> = Vec::new();
        for (gap, good, n) in steps {
            clock.advance(Duration::from_secs(gap));
            for _ in 0..n {
                slo.record(if good { Outcome::Success } else { Outcome::Failure }, Duration::ZERO);
                calls.push((clock.now() / 1_000_000_000, good));
            }
        }
        let now = clock.now() / 1_000_000_000;
        for w in windows {
            let from = if w <= 3600 { (now + 1).saturating_sub(w) } else { let f = (now + 1).saturating_sub(w); f - f % 60 };
            let inside: Vec<_> = calls.iter().filter(|(t, _)| *t >= from && *t <= now).collect();
            let good = inside.iter().filter(|(_, g)| *g).count();
            let expected = (!inside.is_empty()).then(|| good as f64 * 100.0 / inside.len() as f64);
            prop_assert_eq!(slo.sli(Duration::from_secs(w)), expected, "window {}", w);
        }
    }
}

#[test]
fn memory_does_not_grow_with_traffic() {
    let clock = ManualClock::new();
    let slo = Slo::builder("busy").clock(clock.clone()).build().unwrap();
    let before = slo.memory_bytes();
    assert!(before < 145 * 1024, "{before} bytes: the docs say 140 KiB");
    // Ten million calls over four days.
    for i in 0..10_000_000u64 {
        if i % 300 == 0 {
            clock.advance(Duration::from_millis(1000));
        }
        slo.record(Outcome::Success, Duration::ZERO);
    }
    assert_eq!(slo.memory_bytes(), before);
    let b = slo.budget();
    assert_eq!((b.spent, b.allowed.round()), (0, 10_000.0));
}

#[tokio::test(start_paused = true)]
async fn the_layer_counts_latency_and_leaves_ignored_calls_out() {
    use tower::{service_fn, Layer, ServiceExt};
    let slo = Slo::builder("api")
        .latency_threshold(Duration::from_millis(300))
        .build()
        .unwrap();
    let svc = slo
        .layer()
        .classify(seawall::http::HttpClassifier::new())
        .layer(service_fn(|(status, ms): (u16, u64)| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok::<_, BoxError>(http::Response::builder().status(status).body(()).unwrap())
        }));
    for req in [
        (200, 10),
        (200, 299),
        (200, 301),
        (500, 5),
        (404, 5),
        (429, 5),
    ] {
        svc.clone().oneshot(req).await.unwrap();
    }
    // Valid: the three 200s and the 500 (4xx are the caller's: not
    // counted); good: the two fast 200s.
    assert_eq!(slo.sli(Duration::from_secs(60)), Some(50.0));
}

#[test]
fn bad_settings_name_their_field() {
    let field = |b: seawall::slo::SloBuilder| b.build().unwrap_err().field();
    for objective in [0.0, 100.0, -1.0, f64::NAN] {
        assert_eq!(field(Slo::builder("s").objective(objective)), "objective");
    }
    assert_eq!(field(Slo::builder("s").period(Duration::ZERO)), "period");
    assert_eq!(
        field(Slo::builder("s").latency_threshold(Duration::ZERO)),
        "latency_threshold"
    );
    let h = |n: u64| Duration::from_secs(n * 3600);
    for bad in [
        BurnAlert::new(Severity::Page, 0.02, h(1), Duration::ZERO),
        BurnAlert::new(Severity::Page, 0.02, Duration::ZERO, Duration::ZERO),
        BurnAlert::new(Severity::Page, 0.02, h(1), h(2)),
        BurnAlert::new(Severity::Page, 0.0, h(1), h(1)),
        BurnAlert::new(Severity::Page, 0.02, h(24 * 31), h(1)),
    ] {
        assert_eq!(field(Slo::builder("s").alerts([bad])), "alerts", "{bad:?}");
    }
}

#[test]
fn the_budget_policy_switches_a_feature_and_back() {
    use seawall::fallback::{DegradationSwitch, FeatureState};
    let clock = ManualClock::new();
    let switch = DegradationSwitch::builder("shop").build();
    let recommendations = switch.feature("recommendations");
    let f = recommendations.clone();
    let slo = Slo::builder("checkout")
        .clock(clock.clone())
        .budget_policy(0.0, move |engaged, reason| {
            let state = if engaged {
                FeatureState::Disabled
            } else {
                FeatureState::Enabled
            };
            f.set(state, reason);
        })
        .build()
        .unwrap();
    for _ in 0..3600 {
        second(&slo, true);
        clock.advance(SEC);
    }
    slo.evaluate();
    assert_eq!(recommendations.state(), FeatureState::Enabled);
    // An outage fast enough to page: optional work is shed.
    for _ in 0..120 {
        second(&slo, false);
        clock.advance(SEC);
        slo.evaluate();
    }
    assert!(slo.paging());
    assert_eq!(recommendations.state(), FeatureState::Disabled);
}
