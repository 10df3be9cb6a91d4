//! Live reconfiguration: `Registry::reload` and each pattern's
//! `reconfigure` change running instances without losing their state.
#![cfg(feature = "config")]

use seawall::circuit_breaker::CircuitState;
use seawall::clock::ManualClock;
use seawall::config::{Registry, SeawallConfig};
use seawall::prelude::*;
use seawall::telemetry::{Event, EventKind, Pattern};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn toml(text: &str) -> SeawallConfig {
    SeawallConfig::from_toml(text).unwrap()
}

/// A registry on `clock` whose events are kept.
fn registry(clock: &ManualClock, text: &str) -> (Registry, Arc<Mutex<Vec<Event>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let registry = Registry::builder()
        .clock(clock.clone())
        .on_event(move |e| seen.lock().unwrap().push(e.clone()))
        .build(&toml(text))
        .unwrap();
    (registry, events)
}

fn reconfigured(
    events: &Mutex<Vec<Event>>,
) -> Vec<(Pattern, String, &'static str, String, String)> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Reconfigured { setting, from, to } => Some((
                e.pattern,
                e.name.to_string(),
                *setting,
                from.clone(),
                to.clone(),
            )),
            _ => None,
        })
        .collect()
}

/// `c` with a bulkhead `reports` of no room: invalid.
fn invalid_bulkhead(mut c: SeawallConfig) -> SeawallConfig {
    c.bulkheads.instances.insert(
        "reports".into(),
        seawall::config::BulkheadConfig {
            max_concurrent_calls: Some(0),
            max_wait: None,
        },
    );
    c
}

const BREAKER: &str = r#"
[circuit_breakers.instances.payments]
sliding_window_type = "count"
sliding_window_size = 10
minimum_number_of_calls = 10
failure_rate_threshold = "60%"
wait_duration_in_open_state = "30s"
"#;

#[test]
fn a_reloaded_breaker_keeps_its_window_and_its_state() {
    let clock = ManualClock::new();
    let (registry, events) = registry(&clock, BREAKER);
    let breaker = registry.circuit_breaker("payments").unwrap();
    for failed in [true, true, true, true, false, false, false, false, false] {
        let p = breaker.try_acquire().unwrap();
        p.record(if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        });
    }
    // 4 of 9 failed; the 60% threshold would need 6 of 10.
    let report = registry
        .reload(&toml(&BREAKER.replace("\"60%\"", "\"50%\"")))
        .unwrap();
    assert_eq!(
        report.changed,
        [(Pattern::CircuitBreaker, "payments".to_string())]
    );
    assert_eq!(
        reconfigured(&events),
        [(
            Pattern::CircuitBreaker,
            "payments".to_string(),
            "failure_rate_threshold",
            "60.0".to_string(),
            "50.0".to_string()
        )]
    );
    // The same window: one more failure is 5 of 10, at the new threshold.
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert_eq!(breaker.state(), CircuitState::Open);

    // An open breaker stays open through a reload; the new wait applies
    // from the next opening, the one in force runs out as it was set.
    registry
        .reload(&toml(&BREAKER.replace("\"30s\"", "\"5s\"")))
        .unwrap();
    assert_eq!(breaker.state(), CircuitState::Open);
    clock.advance(Duration::from_secs(29));
    assert!(breaker.try_acquire().is_err());
    clock.advance(Duration::from_secs(1));
    assert!(
        breaker.try_acquire().is_ok(),
        "half-open after the 30 s in force"
    );
}

#[test]
fn a_reloaded_limiter_keeps_the_tokens_taken() {
    let clock = ManualClock::new();
    let file = |burst: u32| {
        format!("[rate_limiters.instances.search]\nrate = 10\nper = \"1s\"\nburst = {burst}\n")
    };
    let (registry, events) = registry(&clock, &file(10));
    let limiter = registry.rate_limiter("search").unwrap();
    assert_eq!(
        (0..20).filter(|_| limiter.try_acquire().is_ok()).count(),
        10
    );
    registry.reload(&toml(&file(25))).unwrap();
    // Ten of 25 are spent: fifteen more, not 25.
    assert_eq!(
        (0..40).filter(|_| limiter.try_acquire().is_ok()).count(),
        15
    );
    assert_eq!(
        reconfigured(&events),
        [(
            Pattern::RateLimiter,
            "search".to_string(),
            "burst",
            "10".to_string(),
            "25".to_string()
        )]
    );
}

#[test]
fn a_reloaded_bulkhead_keeps_its_calls_in_flight() {
    let clock = ManualClock::new();
    let file = |n: usize| format!("[bulkheads.instances.reports]\nmax_concurrent_calls = {n}\n");
    let (registry, _) = registry(&clock, &file(4));
    let bulkhead = registry.bulkhead("reports").unwrap();
    let mut held: Vec<_> = (0..4).map(|_| bulkhead.try_acquire().unwrap()).collect();
    registry.reload(&toml(&file(2))).unwrap();
    assert!(bulkhead.try_acquire().is_err());
    held.truncate(2); // two finish: two in flight, the new limit
    assert!(bulkhead.try_acquire().is_err());
    held.truncate(1);
    let one = bulkhead.try_acquire().expect("one under the new limit");
    assert!(bulkhead.try_acquire().is_err());
    drop((one, held));
    assert_eq!(bulkhead.metrics().in_flight, 0);
    assert_eq!(bulkhead.metrics().available, 2);
}

#[tokio::test(start_paused = true)]
async fn a_reloaded_timeout_reaches_services_already_built() {
    use tower::{service_fn, Layer, Service, ServiceExt};
    let file = |d: &str| format!("[timeouts.instances.inventory]\nduration = \"{d}\"\n");
    let registry = Registry::from_config(&toml(&file("1s"))).unwrap();
    let mut svc = registry
        .timeout("inventory")
        .unwrap()
        .layer(service_fn(|_: ()| async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok::<_, std::io::Error>("done")
        }));
    assert!(svc.ready().await.unwrap().call(()).await.is_err());
    registry.reload(&toml(&file("3s"))).unwrap();
    assert_eq!(svc.ready().await.unwrap().call(()).await.unwrap(), "done");
}

#[test]
fn a_reloaded_adaptive_limiter_keeps_its_limit_unless_its_algorithm_changes() {
    let clock = ManualClock::new();
    let file = |initial: usize, max_limit: usize, max_wait: &str| {
        format!(
            "[adaptive_limiters.instances.search]\nalgorithm = \"aimd\"\n\
             initial_limit = {initial}\nmin_limit = 2\nmax_limit = {max_limit}\n\
             max_wait = \"{max_wait}\"\n"
        )
    };
    let (registry, events) = registry(&clock, &file(10, 200, "0s"));
    let limiter = registry.adaptive_limiter("search").unwrap();
    registry.reload(&toml(&file(10, 200, "10ms"))).unwrap();
    assert_eq!(limiter.limit(), 10);
    let settings: Vec<_> = reconfigured(&events).into_iter().map(|c| c.2).collect();
    assert_eq!(settings, ["max_wait"], "the algorithm is kept");
    // A new algorithm takes over from the limit in force (10, not its
    // initial 3), moved into its bounds.
    registry.reload(&toml(&file(3, 8, "10ms"))).unwrap();
    assert_eq!(limiter.limit(), 8, "moved into the new bounds at once");
    let held: Vec<_> = (0..20).filter_map(|_| limiter.try_acquire().ok()).collect();
    assert_eq!(held.len(), 8);
}

#[test]
fn a_reloaded_load_shedder_keeps_its_calls_in_flight() {
    let clock = ManualClock::new();
    let file = |n: usize| {
        format!("[load_shedders.instances.api]\nmax_in_flight = {n}\nmin_share = \"100%\"\n")
    };
    let (registry, _) = registry(&clock, &file(4));
    let shedder = registry.load_shedder("api").unwrap();
    let held: Vec<_> = (0..4).map(|_| shedder.try_acquire(0).unwrap()).collect();
    registry.reload(&toml(&file(6))).unwrap();
    assert_eq!(shedder.metrics().in_flight, 4);
    let more: Vec<_> = (0..5).filter_map(|_| shedder.try_acquire(0).ok()).collect();
    assert_eq!(more.len(), 2);
    drop((held, more));
    assert_eq!(shedder.metrics().in_flight, 0);
}

#[test]
fn instances_come_and_go_with_the_file() {
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock, "[bulkheads.instances.a]\n[bulkheads.instances.b]\n");
    let a = registry.bulkhead("a").unwrap();
    let report = registry
        .reload(&toml("[bulkheads.instances.a]\n[bulkheads.instances.c]\n"))
        .unwrap();
    assert!(report.changed.is_empty());
    assert_eq!(report.added, [(Pattern::Bulkhead, "c".to_string())]);
    assert_eq!(report.removed, [(Pattern::Bulkhead, "b".to_string())]);
    assert_eq!(registry.bulkhead_names(), ["a", "c"]);
    assert!(registry.bulkhead("b").is_none());
    assert!(
        a.try_acquire().is_ok(),
        "a handle taken before is the same instance"
    );
    assert!(registry.reload(&registry.config()).unwrap().is_empty());
}

#[test]
fn an_invalid_reload_changes_nothing() {
    let clock = ManualClock::new();
    let text = format!("{BREAKER}\n[bulkheads.instances.reports]\nmax_concurrent_calls = 4\n");
    let (registry, events) = registry(&clock, &text);
    let before = registry.config();

    // A valid change to the breaker, an invalid value for the bulkhead.
    let bad = text
        .replace("\"60%\"", "\"50%\"")
        .replace("max_concurrent_calls = 4", "max_concurrent_calls = 0");
    // Read from a file, the loader refuses it, at its line.
    let err = SeawallConfig::from_toml(&bad).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration for `reports`: max_concurrent_calls must be in 1..=1099511627776, got 0 (line 10)"
    );
    // Made in code, the reload does.
    let err = registry
        .reload(&invalid_bulkhead(toml(&text.replace("\"60%\"", "\"50%\""))))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid configuration for `reports`: max_concurrent_calls must be in 1..=1099511627776, got 0"
    );
    // A change a running breaker cannot take, and an added instance.
    let bad = text.replace("sliding_window_size = 10", "sliding_window_size = 20")
        + "\n[bulkheads.instances.new]\n";
    let err = registry.reload(&toml(&bad)).unwrap_err();
    assert_eq!(err.field(), "sliding_window");
    assert!(
        err.to_string()
            .contains("cannot change while the breaker runs"),
        "{err}"
    );

    assert_eq!(registry.config(), before);
    assert!(registry.bulkhead("new").is_none());
    assert!(reconfigured(&events).is_empty());
    assert_eq!(
        registry
            .bulkhead("reports")
            .unwrap()
            .metrics()
            .max_concurrent_calls,
        4
    );
}

/// Two threads call through a breaker and a limiter while the file
/// changes 1,000 times. Time stands still, so the limiter refills
/// nothing: the tokens spent are the calls admitted, and every burst in
/// force bounds what was admitted under it.
#[test]
fn a_thousand_reloads_under_load_lose_no_call_and_admit_no_extra() {
    const CALLS: usize = 6_000; // per thread
    let file = |k: usize| {
        format!(
            "[circuit_breakers.instances.db]\nminimum_number_of_calls = 20\n\
             failure_rate_threshold = \"{}%\"\n\
             [rate_limiters.instances.db]\nrate = 1\nper = \"1h\"\nburst = {}\n",
            50 + k % 2 * 10,
            2000 - k
        )
    };
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock, &file(0));
    let breaker = registry.circuit_breaker("db").unwrap();
    let limiter = registry.rate_limiter("db").unwrap();
    // `epoch` = k once file k is in force.
    let epoch = AtomicUsize::new(0);
    // Admissions by the epoch read before the call.
    let admitted_at: Vec<AtomicU64> = (0..=1000).map(|_| AtomicU64::new(0)).collect();
    let (refused, calls, failures) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    std::thread::scope(|s| {
        for _ in 0..2 {
            let (breaker, limiter) = (&breaker, &limiter);
            let (epoch, admitted_at, refused) = (&epoch, &admitted_at, &refused);
            let (calls, failures) = (&calls, &failures);
            s.spawn(move || {
                // At least CALLS each, and on until the last reload.
                let mut i = 0;
                while i < CALLS || epoch.load(Ordering::SeqCst) < 1000 {
                    let permit = breaker.try_acquire().expect("the breaker stays closed");
                    let e = epoch.load(Ordering::SeqCst);
                    match limiter.try_acquire() {
                        Ok(()) => admitted_at[e].fetch_add(1, Ordering::Relaxed),
                        Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                    };
                    // One call in ten fails: 10%, under either threshold.
                    let failed = i % 10 == 0;
                    failures.fetch_add(failed as u64, Ordering::Relaxed);
                    permit.record(if failed {
                        Outcome::Failure
                    } else {
                        Outcome::Success
                    });
                    i += 1;
                }
                calls.fetch_add(i as u64, Ordering::Relaxed);
            });
        }
        for k in 1..=1000 {
            if k == 500 {
                let bad = invalid_bulkhead(toml(&file(k)));
                assert!(registry.reload(&bad).is_err());
                assert_eq!(limiter.policy().burst_capacity, 2000 - 499, "unchanged");
            }
            registry.reload(&toml(&file(k))).unwrap();
            epoch.store(k, Ordering::SeqCst);
        }
    });
    let admitted: Vec<u64> = admitted_at
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    let total: u64 = admitted.iter().sum();
    // No call lost: each admitted or refused, each recorded by the breaker.
    let calls = calls.load(Ordering::Relaxed);
    assert!(calls >= 2 * CALLS as u64);
    assert_eq!(total + refused.load(Ordering::Relaxed), calls);
    let m = breaker.metrics();
    assert_eq!(m.total_successes + m.total_failures, calls);
    assert_eq!(m.total_failures, failures.load(Ordering::Relaxed));
    assert_eq!(m.state, CircuitState::Closed);
    let lm = limiter.metrics();
    assert_eq!(
        (lm.permitted_calls, lm.rejected_calls),
        (total, refused.load(Ordering::Relaxed))
    );
    // Calls that read epoch e ran under burst 2000 − e or less (later
    // files only lower it), and each saw fewer tokens spent than its
    // burst: so at most 2000 − e of them.
    for e in 0..=1000 {
        let since: u64 = admitted[e..].iter().sum();
        assert!(
            since <= 2000 - e as u64,
            "{since} admitted under burst {}",
            2000 - e
        );
    }
    // The last burst is 1,000 and 12,000 calls or more were made: used up.
    assert!(total >= 1000);
    assert!(limiter.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn a_reloaded_retry_reaches_layers_already_built() {
    use tower::{service_fn, Layer, Service, ServiceExt};
    let file = |attempts: u32, floor: u32| {
        format!(
            "[retries.instances.inventory]\nmax_attempts = {attempts}\n\
             budget_min_retries_per_second = {floor}\nbudget_max_balance = 100\n"
        )
    };
    let registry = Registry::from_config(&toml(&file(2, 50))).unwrap();
    let retry = registry.retry("inventory").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mut svc = retry.layer().layer(service_fn(move |_: ()| {
        seen.fetch_add(1, Ordering::Relaxed);
        async { Err::<(), _>(std::io::Error::other("down")) }
    }));
    let before = calls.load(Ordering::Relaxed);
    assert!(svc.ready().await.unwrap().call(()).await.is_err());
    assert_eq!(calls.load(Ordering::Relaxed) - before, 2);
    registry.reload(&toml(&file(4, 50))).unwrap();
    let before = calls.load(Ordering::Relaxed);
    assert!(svc.ready().await.unwrap().call(()).await.is_err());
    assert_eq!(
        calls.load(Ordering::Relaxed) - before,
        4,
        "the layer built before"
    );
    // The budget is the retry's own: its settings change, its balance stays.
    let balance = retry.budget().unwrap().balance();
    registry.reload(&toml(&file(4, 7))).unwrap();
    assert_eq!(retry.budget().unwrap().settings(), (0.2, 7, 100));
    assert_eq!(retry.budget().unwrap().balance(), balance);
}

/// The README's file for the `http_client` preset: the preset's own
/// defaults, its instances in the stack, reloads reaching them.
#[tokio::test(start_paused = true)]
async fn the_http_client_preset_from_a_file_follows_reloads() {
    use http::{Request, Response, StatusCode};
    use tower::{service_fn, Layer, ServiceExt};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/config/http_client.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let registry = Registry::from_config(&SeawallConfig::from_path(path).unwrap()).unwrap();
    let stack = registry.http_client("inventory").unwrap();
    let preset = seawall::stack::Stack::http_client("inventory").unwrap();
    assert_eq!(
        stack.total_timeout_layer().duration(),
        preset.total_timeout_layer().duration()
    );
    assert_eq!(
        stack.attempt_timeout_layer().duration(),
        preset.attempt_timeout_layer().duration()
    );
    assert_eq!(
        stack
            .bulkhead_layer()
            .handle()
            .metrics()
            .max_concurrent_calls,
        64
    );

    // A backend taking 1 s, answering 500 while `failing`.
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = failing.clone();
    let svc = stack.layer(service_fn(move |_: Request<()>| {
        let fail = f.load(Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut res = Response::new(());
            if fail {
                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
            Ok::<_, std::io::Error>(res)
        }
    }));
    let get = || Request::get("http://inventory/items").body(()).unwrap();
    assert_eq!(
        svc.clone().oneshot(get()).await.unwrap().status(),
        StatusCode::OK
    );

    // A shorter attempt timeout, from the file, reaches the stack.
    let at = text.rfind("duration = \"2s\"").unwrap(); // the attempt timeout's
    let shorter = format!("{}duration = \"500ms\"{}", &text[..at], &text[at + 15..]);
    let report = registry
        .reload(&SeawallConfig::from_toml(&shorter).unwrap())
        .unwrap();
    assert_eq!(
        report.changed,
        [(Pattern::Timeout, "inventory.attempt".to_string())]
    );
    let err = svc.clone().oneshot(get()).await.unwrap_err();
    assert!(seawall::rejection(&err).is_some(), "{err}");

    // The breaker in the stack is the registry's, judging HTTP answers.
    registry
        .reload(&SeawallConfig::from_toml(&text).unwrap())
        .unwrap();
    failing.store(true, Ordering::SeqCst);
    let breaker = registry.circuit_breaker("inventory").unwrap();
    for _ in 0..20 {
        let _ = svc.clone().oneshot(get()).await;
    }
    assert_eq!(
        breaker.state(),
        CircuitState::Open,
        "5xx counted as failures"
    );
}

/// A game day run from the file: rates turned up, then the injector
/// switched off, on the same layer.
#[tokio::test(start_paused = true)]
async fn a_reloaded_fault_injector_changes_its_rates_and_switch() {
    use tower::{service_fn, Layer, ServiceExt};
    let file = |enabled: bool, rate: &str| {
        format!(
            "[chaos.instances.inventory]\nenabled = {enabled}\nerror_rate = \"{rate}\"\nseed = 7\n"
        )
    };
    let clock = ManualClock::new();
    let (registry, events) = registry(&clock, &file(true, "0%"));
    let chaos = registry.chaos("inventory").unwrap();
    let svc = chaos
        .layer()
        .layer(service_fn(|n: u32| async move { Ok::<_, BoxError>(n) }));
    let failed = || {
        let svc = svc.clone();
        async move {
            let mut n = 0;
            for i in 0..1000 {
                n += svc.clone().oneshot(i).await.is_err() as u32;
            }
            n
        }
    };
    assert_eq!(failed().await, 0);
    registry.reload(&toml(&file(true, "100%"))).unwrap();
    assert_eq!(failed().await, 1000);
    registry.reload(&toml(&file(false, "100%"))).unwrap();
    assert_eq!(failed().await, 0, "switched off from the file");
    let settings: Vec<_> = reconfigured(&events).into_iter().map(|c| c.2).collect();
    assert_eq!(settings, ["error_rate"]);
    let seeded = toml(&file(true, "100%").replace("seed = 7", "seed = 8"));
    assert_eq!(registry.reload(&seeded).unwrap_err().field(), "seed");
}

#[test]
fn a_reloaded_keyed_limiter_keeps_each_keys_tokens() {
    let file = |burst: u32| {
        format!(
            "[keyed_rate_limiters.instances.per_client]\nrate = 1\nper = \"1h\"\n\
             burst = {burst}\nmax_keys = 100\n"
        )
    };
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock, &file(3));
    let limiter = registry.keyed_rate_limiter("per_client").unwrap();
    let take = |key: &str, n: usize| {
        (0..n)
            .filter(|_| limiter.try_acquire(&key.to_string()).is_ok())
            .count()
    };
    assert_eq!(take("alice", 2), 2);
    assert_eq!(take("bob", 5), 3);
    registry.reload(&toml(&file(5))).unwrap();
    // Each key keeps what it spent: alice 2 of 5, bob 3 of 5.
    assert_eq!(take("alice", 10), 3);
    assert_eq!(take("bob", 10), 2);
    assert_eq!(take("carol", 10), 5, "a new key gets the new burst");
    let more_keys = toml(&file(5).replace("max_keys = 100", "max_keys = 200"));
    assert_eq!(registry.reload(&more_keys).unwrap_err().field(), "max_keys");
}

#[test]
fn a_reloaded_throttle_keeps_its_window() {
    let file = |k: f64| format!("[throttles.instances.search]\nk = {k:?}\nmax_reject = \"90%\"\n");
    let clock = ManualClock::new();
    let (registry, events) = registry(&clock, &file(2.0));
    let throttle = registry.throttle("search").unwrap();
    // 100 requests, 40 accepted: with K = 2, (100 − 80) / 101 ≈ 0.198.
    for i in 0..100 {
        throttle.try_acquire().map(|t| t.record(i < 40)).ok();
    }
    let before = throttle.reject_probability();
    registry.reload(&toml(&file(1.1))).unwrap();
    assert_eq!(throttle.settings(), (1.1, 0.9));
    // The same window under the new K: (100 − 44) / 101 ≈ 0.554.
    for _ in 0..64 {
        throttle.try_acquire().map(|t| t.record(false)).ok();
    }
    let after = throttle.reject_probability();
    assert!(after > before + 0.2, "{before} -> {after}");
    assert_eq!(
        reconfigured(&events),
        [(
            Pattern::Throttle,
            "search".to_string(),
            "k",
            "2.0".to_string(),
            "1.1".to_string()
        )]
    );
    let wider = toml(&format!("{}window = \"5m\"\n", file(1.1)));
    assert_eq!(registry.reload(&wider).unwrap_err().field(), "window");
}

/// A listener may look instances up while a reload puts its changes in
/// force (the registry's entries are not locked then).
#[test]
fn a_listener_may_use_the_registry_during_a_reload() {
    let me = Arc::new(std::sync::OnceLock::<Registry>::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (me2, seen2) = (me.clone(), seen.clone());
    let registry = Registry::builder()
        .clock(ManualClock::new())
        .on_event(move |e| {
            if let (EventKind::Reconfigured { .. }, Some(r)) = (&e.kind, me2.get()) {
                seen2.lock().unwrap().push(r.circuit_breaker_names());
            }
        })
        .build(&toml(BREAKER))
        .unwrap();
    let _ = me.set(registry.clone());
    registry
        .reload(&toml(&BREAKER.replace("\"60%\"", "\"50%\"")))
        .unwrap();
    assert_eq!(*seen.lock().unwrap(), [["payments"]]);
}

#[tokio::test(start_paused = true)]
async fn a_reloaded_hedge_sends_its_copy_after_the_new_delay() {
    use tower::{service_fn, Layer, ServiceExt};
    let file = |delay: &str| format!("[hedges.instances.search]\ndelay = \"{delay}\"\n");
    let registry = Registry::from_config(&toml(&file("500ms"))).unwrap();
    let hedge = registry.hedge("search").unwrap();
    // The first attempt hangs for 10 s; any copy answers at once.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let svc = hedge.layer().layer(service_fn(move |_: ()| {
        let first = seen.fetch_add(1, Ordering::SeqCst) % 2 == 0;
        async move {
            if first {
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            Ok::<_, std::io::Error>(())
        }
    }));
    let took = |svc: tower::util::BoxCloneService<(), (), BoxError>| async move {
        let start = tokio::time::Instant::now();
        svc.oneshot(()).await.unwrap();
        start.elapsed()
    };
    let boxed = tower::util::BoxCloneService::new(svc.map_err(BoxError::from));
    assert_eq!(took(boxed.clone()).await, Duration::from_millis(500));
    registry.reload(&toml(&file("100ms"))).unwrap();
    assert_eq!(took(boxed.clone()).await, Duration::from_millis(100));
    let parallel = toml("[hedges.instances.search]\nparallel = true\n");
    assert_eq!(registry.reload(&parallel).unwrap_err().field(), "delay");
}

#[test]
fn a_reloaded_slo_judges_its_record_by_the_new_objective() {
    let file =
        |objective: &str| format!("[slos.instances.checkout]\nobjective = \"{objective}\"\n");
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock, &file("99.9%"));
    let slo = registry.slo("checkout").unwrap();
    for i in 0..10_000 {
        let outcome = if i < 5 {
            Outcome::Failure
        } else {
            Outcome::Success
        };
        slo.record(outcome, Duration::ZERO);
    }
    let before = slo.budget();
    assert_eq!((before.spent, before.allowed.round()), (5, 10.0));
    registry.reload(&toml(&file("99.95%"))).unwrap();
    let after = slo.budget();
    assert_eq!(
        (after.spent, after.allowed.round()),
        (5, 5.0),
        "the record kept"
    );
    let monthly = toml(&format!("{}period = \"7days\"\n", file("99.95%")));
    assert_eq!(registry.reload(&monthly).unwrap_err().field(), "period");
}

#[test]
fn a_reloaded_keyed_breaker_changes_every_keys_breaker_in_place() {
    let file = |threshold: &str| {
        format!(
            "[keyed_circuit_breakers.instances.per_host]\nmax_keys = 100\n\
             [keyed_circuit_breakers.instances.per_host.breaker]\n\
             sliding_window_size = 10\nminimum_number_of_calls = 10\n\
             failure_rate_threshold = \"{threshold}\"\n"
        )
    };
    let clock = ManualClock::new();
    let (registry, _) = registry(&clock, &file("60%"));
    let keyed = registry.keyed_circuit_breaker("per_host").unwrap();
    let key = "a.example".to_string();
    // 4 failures of 9 in a.example's window: under either threshold yet.
    for failed in [true, true, true, true, false, false, false, false, false] {
        let p = keyed.try_acquire(&key).unwrap();
        p.record(if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        });
    }
    registry.reload(&toml(&file("50%"))).unwrap();
    keyed.try_acquire(&key).unwrap().record(Outcome::Failure);
    assert_eq!(
        keyed.get(&key).unwrap().state(),
        CircuitState::Open,
        "5 of 10 at 50%"
    );
    // A key made after the reload takes the new settings too.
    let other = "b.example".to_string();
    for i in 0..10 {
        let p = keyed.try_acquire(&other).unwrap();
        p.record(if i < 5 {
            Outcome::Failure
        } else {
            Outcome::Success
        });
    }
    assert_eq!(keyed.get(&other).unwrap().state(), CircuitState::Open);
    let e = SeawallConfig::from_toml(&file("150%")).unwrap_err();
    assert_eq!(
        (e.instance(), e.field(), e.line()),
        ("per_host", "failure_rate_threshold", Some(6))
    );
    let more = toml(&file("50%").replace("max_keys = 100", "max_keys = 5"));
    assert_eq!(registry.reload(&more).unwrap_err().field(), "max_keys");
}

#[test]
fn a_reloaded_keyed_bulkhead_keeps_each_keys_calls_in_flight() {
    let file = |n: usize| {
        format!(
            "[keyed_bulkheads.instances.per_tenant]\nmax_concurrent_calls = {n}\nmax_keys = 10\n"
        )
    };
    let clock = ManualClock::new();
    let (registry, events) = registry(&clock, &file(3));
    let bulkhead = registry.keyed_bulkhead("per_tenant").unwrap();
    let acme = "acme".to_string();
    let held: Vec<_> = (0..3)
        .map(|_| bulkhead.try_acquire(&acme).unwrap())
        .collect();
    registry.reload(&toml(&file(5))).unwrap();
    let more: Vec<_> = (0..5)
        .filter_map(|_| bulkhead.try_acquire(&acme).ok())
        .collect();
    assert_eq!(more.len(), 2, "3 in flight of the new 5");
    let globex = "globex".to_string();
    let other: Vec<_> = (0..9)
        .filter_map(|_| bulkhead.try_acquire(&globex).ok())
        .collect();
    assert_eq!(other.len(), 5, "a new key has the new 5");
    drop((held, more, other));
    assert_eq!(bulkhead.in_flight(&acme), 0);
    assert_eq!(
        reconfigured(&events),
        [(
            Pattern::Bulkhead,
            "per_tenant".to_string(),
            "max_concurrent_calls",
            "3".to_string(),
            "5".to_string()
        )]
    );
}

#[cfg(feature = "grpc")]
#[test]
fn the_grpc_client_preset_takes_the_files_instances() {
    let text = "[circuit_breakers.instances.inventory]\nminimum_number_of_calls = 5\n\
                [retries.instances.inventory]\nmax_attempts = 2\ndeadline = \"10s\"\n\
                [timeouts.instances.\"inventory.attempt\"]\nduration = \"750ms\"\n";
    let registry = Registry::from_config(&toml(text)).unwrap();
    let stack = registry.grpc_client("inventory").unwrap();
    assert_eq!(
        stack.attempt_timeout_layer().duration(),
        Duration::from_millis(750)
    );
    // The stack's breaker is the registry's, its total timeout the preset's.
    registry.circuit_breaker("inventory").unwrap().force_open();
    assert_eq!(
        stack.circuit_breaker_layer().handle().state(),
        CircuitState::ForcedOpen
    );
    assert_eq!(
        stack.total_timeout_layer().duration(),
        Duration::from_secs(10)
    );
    registry
        .reload(&toml(&text.replace("750ms", "250ms")))
        .unwrap();
    assert_eq!(
        stack.attempt_timeout_layer().duration(),
        Duration::from_millis(250)
    );
}

/// A failover set's endpoints are services, built in code; its outlier
/// detection comes from the file and follows reloads.
#[tokio::test(start_paused = true)]
async fn a_reloaded_outlier_detection_reaches_a_running_failover_set() {
    use seawall::failover::Failover;
    use tower::{service_fn, ServiceExt};
    let file =
        |n: u32| format!("[outlier_detections.instances.inventory]\nconsecutive_failures = {n}\n");
    let registry = Registry::from_config(&toml(&file(5))).unwrap();
    let endpoint = |fails: bool| {
        tower::util::BoxCloneService::new(service_fn(move |_: u32| async move {
            if fails {
                Err::<u32, BoxError>("down".into())
            } else {
                Ok(1)
            }
        }))
    };
    let set = Failover::builder("inventory")
        .outlier_settings(registry.outlier_detection("inventory").unwrap())
        .build(vec![endpoint(true), endpoint(false)])
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            set.clone().oneshot(7).await.unwrap(),
            1,
            "moved to the second"
        );
    }
    assert_eq!(
        set.metrics().ejected,
        [false, false],
        "2 failures of the 5 needed"
    );
    registry.reload(&toml(&file(3))).unwrap();
    set.clone().oneshot(7).await.unwrap();
    assert_eq!(
        set.metrics().ejected,
        [true, false],
        "the third, at the new 3"
    );
}
