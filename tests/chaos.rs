//! Fault injection: each kind at its rate (within 99.9 % binomial bounds
//! over 100,000 calls) and exactly repeatable from a seed; delays exact on
//! paused time; the filter, the switch and the blast-radius guard stop
//! injection when they should; injected errors are failures to breakers
//! and retries; bad settings name their field.

use seawall::chaos::{Chaos, FaultKind, Latency};
use seawall::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tower::{service_fn, Layer, ServiceExt};

mod support;

/// `k` successes in `n` trials at `p` lie within 3.29 standard deviations
/// of the mean (99.9 %, two-sided).
fn within_binomial(k: u64, n: u64, p: f64) -> bool {
    let (n, k) = (n as f64, k as f64);
    let sd = (n * p * (1.0 - p)).sqrt();
    (k - n * p).abs() <= 3.29 * sd + 1.0
}

#[test]
fn each_kind_is_injected_at_its_rate() {
    const N: u64 = 100_000;
    for rate in [0.001, 0.05, 0.3, 0.5, 0.97] {
        let chaos = Chaos::builder("rates")
            .error_rate(rate)
            .latency(rate, Latency::Fixed(Duration::from_millis(1)))
            .outcome_rate(rate)
            .behaviour(rate, || {})
            .seed(11)
            .build()
            .unwrap();
        let mut seen = [0u64; 4];
        for _ in 0..N {
            let f = chaos.decide();
            seen[0] += u64::from(f.error);
            seen[1] += u64::from(f.latency.is_some());
            seen[2] += u64::from(f.outcome);
            seen[3] += u64::from(f.behaviour);
        }
        for kind in FaultKind::ALL {
            let k = seen[kind as usize];
            assert!(within_binomial(k, N, rate), "{kind:?} at {rate}: {k}");
            assert_eq!(chaos.metrics().injected(kind), k);
        }
        assert_eq!(chaos.metrics().calls, N);
    }
}

#[test]
fn the_same_seed_injects_the_same_faults() {
    let run = |seed| {
        let chaos = Chaos::builder("seeded")
            .error_rate(0.2)
            .latency(
                0.2,
                Latency::LogNormal {
                    median: Duration::from_millis(20),
                    sigma: 1.0,
                    max: Duration::from_secs(5),
                },
            )
            .seed(seed)
            .build()
            .unwrap();
        (0..2000).map(|_| chaos.decide()).collect::<Vec<_>>()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn disabled_chaos_never_injects() {
    let chaos = Chaos::builder("off")
        .error_rate(1.0)
        .enabled(false)
        .build()
        .unwrap();
    assert!((0..100_000).all(|_| chaos.decide().is_none()));
    chaos.enable();
    assert!(chaos.decide().error);
    chaos.disable();
    assert!(chaos.decide().is_none());
    assert_eq!(chaos.metrics().injected(FaultKind::Error), 1);
    // Rates change at run time.
    chaos.enable();
    chaos.set_rate(FaultKind::Error, 0.0).unwrap();
    assert!(chaos.decide().is_none());
    assert_eq!(chaos.rate(FaultKind::Error), 0.0);
}

#[test]
fn counts_are_exact_across_threads() {
    let chaos = Chaos::builder("threads").error_rate(0.5).build().unwrap();
    let injected: u64 = support::on_threads(4, |_| {
        (0..25_000).filter(|_| chaos.decide().error).count() as u64
    })
    .into_iter()
    .sum();
    let m = chaos.metrics();
    assert_eq!((m.calls, m.injected(FaultKind::Error)), (100_000, injected));
    assert!(within_binomial(injected, 100_000, 0.5), "{injected}");
}

#[tokio::test(start_paused = true)]
async fn delays_are_exact_on_paused_time() {
    let chaos = Chaos::builder("slow")
        .latency(1.0, Latency::Fixed(Duration::from_millis(800)))
        .build()
        .unwrap();
    let svc = chaos
        .layer()
        .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
    let start = tokio::time::Instant::now();
    svc.clone().oneshot(()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_millis(800));
    // Uniform delays: each in range, the same ones again from the same seed.
    let delays = |seed| async move {
        let chaos = Chaos::builder("uniform")
            .latency(
                1.0,
                Latency::Uniform {
                    min: Duration::from_millis(100),
                    max: Duration::from_millis(300),
                },
            )
            .seed(seed)
            .build()
            .unwrap();
        let svc = chaos
            .layer()
            .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }));
        let mut out = Vec::new();
        for _ in 0..20 {
            let start = tokio::time::Instant::now();
            svc.clone().oneshot(()).await.unwrap();
            out.push(start.elapsed());
        }
        out
    };
    let first = delays(3).await;
    assert!(first
        .iter()
        .all(|d| (Duration::from_millis(100)..=Duration::from_millis(300)).contains(d)));
    assert_eq!(first, delays(3).await);
}

#[tokio::test(start_paused = true)]
async fn injected_errors_are_failures_to_breakers_and_retries() {
    let chaos = Chaos::builder("dep").error_rate(1.0).build().unwrap();
    let breaker = CircuitBreaker::builder("dep")
        .sliding_window(SlidingWindow::count(10))
        .minimum_number_of_calls(5)
        .build()
        .unwrap();
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let inner = service_fn(move |()| {
        c.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, BoxError>(()) }
    });
    let svc = tower::ServiceBuilder::new()
        .layer(breaker.layer())
        .layer(chaos.layer())
        .service(inner);
    for _ in 0..5 {
        let err = svc.clone().oneshot(()).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::Injected
        );
    }
    assert_eq!(breaker.state(), CircuitState::Open, "5 failures of 5");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "the dependency never called"
    );
    // A retry retries it; with injection off, the retry succeeds.
    let flaky = Chaos::builder("flaky").error_rate(1.0).build().unwrap();
    let f = flaky.clone();
    let retry = Retry::builder("r").max_attempts(3).build().unwrap();
    let out = retry
        .call(|attempt| {
            let f = f.clone();
            async move {
                if attempt == 2 {
                    f.disable();
                }
                match f.decide().error {
                    true => Err(f.error()),
                    false => Ok(attempt),
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(out, 2);
}

#[tokio::test]
async fn outcomes_behaviours_and_errors_of_your_own() {
    let ran = Arc::new(AtomicU32::new(0));
    let r = ran.clone();
    let chaos = Chaos::builder("own")
        .outcome_rate(1.0)
        .behaviour(1.0, move || {
            r.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    let svc = chaos
        .layer()
        .outcome(|| 503u16)
        .layer(service_fn(|()| async { Ok::<_, BoxError>(200u16) }));
    assert_eq!(svc.oneshot(()).await.unwrap(), 503);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    // Without an outcome to give, the layer never draws one.
    let svc = chaos
        .layer()
        .layer(service_fn(|()| async { Ok::<_, BoxError>(200u16) }));
    assert_eq!(svc.oneshot(()).await.unwrap(), 200);
    assert_eq!(chaos.metrics().injected(FaultKind::Outcome), 1);
    let own = Chaos::builder("io")
        .error_rate(1.0)
        .error_with(|| Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)))
        .build()
        .unwrap();
    let err = own
        .layer()
        .layer(service_fn(|()| async { Ok::<_, BoxError>(()) }))
        .oneshot(())
        .await
        .unwrap_err();
    let io = err.downcast_ref::<std::io::Error>().unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn the_filter_picks_which_calls_are_injected() {
    let chaos = Chaos::builder("tagged").error_rate(1.0).build().unwrap();
    let svc = chaos
        .layer()
        .when(|n: &u32| n % 10 == 0)
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let mut failed = 0;
    for n in 0..1000u32 {
        if svc.clone().oneshot(n).await.is_err() {
            assert_eq!(n % 10, 0);
            failed += 1;
        }
    }
    assert_eq!(failed, 100);
    let m = chaos.metrics();
    assert_eq!(
        (m.calls, m.injected(FaultKind::Error)),
        (100, 100),
        "only picked calls are drawn"
    );
}

#[test]
fn the_blast_radius_guard_stops_injection_by_itself() {
    let clock = ManualClock::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    let chaos = Chaos::builder("guarded")
        .error_rate(1.0)
        .max_injections_per_sec(5)
        .clock(clock.clone())
        .on_events(seawall::telemetry::EventMask::TRANSITIONS, move |ev| {
            e.lock().unwrap().push(ev.kind.clone())
        })
        .build()
        .unwrap();
    let injected = (0..10).filter(|_| chaos.decide().error).count();
    assert_eq!(injected, 5, "five in the second, then it stopped");
    assert!(!chaos.is_enabled());
    assert_eq!(
        *events.lock().unwrap(),
        [EventKind::BlastRadiusReached {
            reason: "max_injections_per_sec"
        }]
    );
    // Re-enabled by the operator a second later: five more.
    clock.advance(Duration::from_secs(1));
    chaos.enable();
    assert_eq!((0..10).filter(|_| chaos.decide().error).count(), 5);
    assert_eq!(
        events.lock().unwrap().len(),
        3,
        "enabled, then stopped again"
    );

    // A share: every call injected trips it when the window's 100th call
    // would make it 100 %.
    let share = Chaos::builder("share")
        .error_rate(1.0)
        .max_injected_share(0.5, Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!((0..1000).filter(|_| share.decide().error).count(), 99);
    assert!(!share.is_enabled());
    // Under the share it never trips.
    let under = Chaos::builder("under")
        .error_rate(0.3)
        .seed(1)
        .max_injected_share(0.5, Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    let k = (0..10_000).filter(|_| under.decide().error).count() as u64;
    assert!(under.is_enabled() && within_binomial(k, 10_000, 0.3), "{k}");
}

#[test]
fn bad_settings_name_their_field() {
    let field = |b: seawall::chaos::ChaosBuilder| b.build().unwrap_err().field();
    let b = || Chaos::builder("bad");
    for rate in [-0.1, 1.5, f64::NAN] {
        assert_eq!(field(b().error_rate(rate)), "error_rate");
        assert_eq!(field(b().outcome_rate(rate)), "outcome_rate");
        assert_eq!(field(b().behaviour(rate, || {})), "behaviour_rate");
        assert_eq!(
            field(b().latency(rate, Latency::Fixed(Duration::ZERO))),
            "latency_rate"
        );
    }
    let inverted = Latency::Uniform {
        min: Duration::from_secs(2),
        max: Duration::from_secs(1),
    };
    assert_eq!(field(b().latency(0.5, inverted)), "latency");
    assert_eq!(
        field(b().max_injections_per_sec(0)),
        "max_injections_per_sec"
    );
    assert_eq!(
        field(b().max_injected_share(0.0, Duration::from_secs(1))),
        "max_injected_share"
    );
    assert_eq!(
        field(b().max_injected_share(0.5, Duration::ZERO)),
        "max_injected_share"
    );
    let chaos = b().build().unwrap();
    assert_eq!(
        chaos.set_rate(FaultKind::Error, 2.0).unwrap_err().field(),
        "error_rate"
    );
}
