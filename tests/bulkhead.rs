//! Bulkheads under paused tokio time: exact limits, waits, cancellation.

mod support;

use seawall::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::made_on_threads;
use tower::{service_fn, Layer, Service, ServiceExt};

const MS: Duration = Duration::from_millis(1);

fn full_again(b: &Bulkhead) {
    let m = b.metrics();
    assert_eq!(
        (m.available, m.in_flight, m.waiting),
        (m.max_concurrent_calls, 0, 0),
        "{m:?}"
    );
}

#[test]
fn invalid_config_names_the_field() {
    for (b, field) in [
        (
            Bulkhead::builder("x").max_concurrent_calls(0),
            "max_concurrent_calls",
        ),
        (
            Bulkhead::builder("x").max_wait(Duration::from_secs(7200)),
            "max_wait",
        ),
    ] {
        assert_eq!(b.build().unwrap_err().field(), field);
    }
    let b = Bulkhead::builder("x").build().unwrap();
    assert_eq!(
        b.set_max_concurrent(0).unwrap_err().field(),
        "max_concurrent_calls"
    );
}

/// A service that records how many calls are inside it at once.
fn gauge_service(
    inside: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
) -> impl Service<(), Response = (), Error = std::io::Error, Future = impl Send> + Clone {
    service_fn(move |()| {
        let (inside, peak) = (inside.clone(), peak.clone());
        async move {
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(MS).await;
            inside.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn limit_is_exact_under_ten_thousand_concurrent_tasks() {
    let b = Bulkhead::builder("exact")
        .max_concurrent_calls(7)
        .max_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (inside, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let svc = b
        .waiting_layer()
        .layer(gauge_service(inside.clone(), peak.clone()));
    let tasks: Vec<_> = (0..10_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(())))
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 7);
    let m = b.metrics();
    assert_eq!((m.permitted_calls, m.rejected_calls), (10_000, 0));
    full_again(&b);
}

#[tokio::test(start_paused = true)]
async fn rejecting_layer_refuses_exactly_the_overflow() {
    let b = Bulkhead::builder("reject")
        .max_concurrent_calls(3)
        .build()
        .unwrap();
    let (inside, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let svc = b.layer().layer(gauge_service(inside, peak.clone()));
    let tasks: Vec<_> = (0..10)
        .map(|_| tokio::spawn(svc.clone().oneshot(())))
        .collect();
    let mut full = 0;
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            assert_eq!(
                seawall::rejection(&e).unwrap().kind(),
                RejectionKind::BulkheadFull
            );
            full += 1;
        }
    }
    assert_eq!((full, peak.load(Ordering::SeqCst)), (7, 3));
    full_again(&b);
}

#[tokio::test(start_paused = true)]
async fn a_waiter_gives_up_exactly_at_max_wait() {
    let b = Bulkhead::builder("wait")
        .max_concurrent_calls(1)
        .max_wait(100 * MS)
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let start = tokio::time::Instant::now();
    let err = b.acquire().await.unwrap_err();
    assert_eq!(start.elapsed(), 100 * MS);
    assert_eq!(err.name(), "wait");
    // A slot freed in time is taken at that moment.
    let b2 = b.clone();
    tokio::spawn(async move {
        tokio::time::sleep(40 * MS).await;
        drop(held);
        let _ = b2;
    });
    let start = tokio::time::Instant::now();
    let p = b.acquire().await.unwrap();
    assert_eq!(start.elapsed(), 40 * MS);
    drop(p);
    full_again(&b);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let b = Bulkhead::builder("fifo")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let first = b.try_acquire().unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (b, order) = (b.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _p = b.acquire().await.unwrap();
            order.lock().unwrap().push(i);
            tokio::time::sleep(MS).await;
        }));
        tokio::task::yield_now().await; // let it queue before the next
    }
    assert_eq!(b.metrics().waiting, 5);
    assert!(b.try_acquire().is_err(), "no barging past the queue");
    drop(first);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    full_again(&b);
}

#[tokio::test(start_paused = true)]
async fn cancellation_at_every_await_point_returns_the_slot() {
    let b = Bulkhead::builder("cancel")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let slow = service_fn(|()| async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok::<_, std::io::Error>(())
    });
    let svc = b.waiting_layer().layer(slow);
    // In flight, then dropped.
    let in_flight = tokio::spawn(svc.clone().oneshot(()));
    tokio::time::sleep(MS).await;
    assert_eq!(b.metrics().in_flight, 1);
    // Waiting, then dropped.
    let waiting = tokio::spawn(svc.clone().oneshot(()));
    tokio::time::sleep(MS).await;
    assert_eq!(b.metrics().waiting, 1);
    waiting.abort();
    let _ = waiting.await;
    assert_eq!(b.metrics().waiting, 0);
    in_flight.abort();
    let _ = in_flight.await;
    full_again(&b);
    // A panic inside the call unwinds through the future and frees the slot.
    let boom = b.layer().layer(service_fn(|()| async {
        if true {
            panic!("inner service panicked");
        }
        Ok::<(), std::io::Error>(())
    }));
    let r = tokio::spawn(boom.oneshot(())).await;
    assert!(r.unwrap_err().is_panic());
    full_again(&b);
}

#[tokio::test(start_paused = true)]
async fn set_max_concurrent_keeps_calls_in_flight() {
    let b = Bulkhead::builder("resize")
        .max_concurrent_calls(3)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let held: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    b.set_max_concurrent(1).unwrap();
    let m = b.metrics();
    assert_eq!((m.in_flight, m.available), (3, 0), "nothing dropped");
    let mut held = held.into_iter();
    drop(held.next());
    drop(held.next());
    assert!(b.try_acquire().is_err(), "still at the new limit of 1");
    drop(held.next());
    let p = b.try_acquire().unwrap();
    b.set_max_concurrent(2).unwrap();
    let q = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err());
    drop((p, q));
    full_again(&b);
}

/// A resize is constant work in the increase: raising to the accepted
/// maximum (2^40 slots) once released the added slots one at a time, about
/// 11 ns each, holding the caller for hours.
#[tokio::test(start_paused = true)]
async fn raising_the_limit_to_its_maximum_returns_at_once_and_serves_every_waiter() {
    let b = Bulkhead::builder("raise")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let held = b.try_acquire().unwrap();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move { b.acquire().await.map(|_permit| ()) })
        })
        .collect();
    tokio::time::sleep(MS).await;
    assert_eq!(b.metrics().waiting, 3);
    b.set_max_concurrent(seawall::bulkhead::MAX_CONCURRENT_CALLS)
        .unwrap();
    for w in waiters {
        w.await.unwrap().expect("served by the new slots");
    }
    let m = b.metrics();
    assert_eq!(m.max_concurrent_calls, 1 << 40);
    assert_eq!((m.in_flight, m.waiting), (1, 0), "{m:?}");
    drop(held);
    full_again(&b);
    b.set_max_concurrent(1).unwrap();
    full_again(&b);
}

/// resilience4j's bulkhead publishes `CallPermitted` and `CallFinished`;
/// seawall does for listeners that ask for per-call events, exactly once
/// per admitted call, with the wait of a call that queued.
#[tokio::test(start_paused = true)]
async fn permitted_and_finished_events_come_once_per_call_when_asked() {
    use seawall::telemetry::EventMask;
    let events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = events.clone();
    let b = Bulkhead::builder("events")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(5))
        .on_events(EventMask::SUCCESSES, move |e| {
            seen.lock().unwrap().push(e.kind.clone())
        })
        .build()
        .unwrap();
    let first = b.try_acquire().unwrap();
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move { drop(b.acquire().await.unwrap()) })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(first);
    waiting.await.unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        [
            EventKind::CallPermitted { waited: None },
            EventKind::CallFinished,
            EventKind::CallPermitted {
                waited: Some(Duration::from_secs(2))
            },
            EventKind::CallFinished,
        ]
    );
    // A listener to rejections only hears nothing per call.
    let quiet_events = Arc::new(std::sync::Mutex::new(0));
    let q = quiet_events.clone();
    let quiet = Bulkhead::builder("quiet")
        .on_events(EventMask::REJECTIONS, move |_| *q.lock().unwrap() += 1)
        .build()
        .unwrap();
    drop(quiet.try_acquire().unwrap());
    assert_eq!(*quiet_events.lock().unwrap(), 0);
}

#[test]
fn counts_are_exact_under_eight_threads() {
    let b = Bulkhead::builder("stress")
        .max_concurrent_calls(3)
        .build()
        .unwrap();
    let inside = AtomicUsize::new(0);
    let peak = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    if let Ok(p) = b.try_acquire() {
                        let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        inside.fetch_sub(1, Ordering::SeqCst);
                        drop(p);
                    }
                }
            });
        }
    });
    let m = b.metrics();
    assert_eq!(m.permitted_calls + m.rejected_calls, 160_000);
    assert!(peak.load(Ordering::SeqCst) <= 3);
    full_again(&b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_offs_race_releases_across_threads_without_losing_a_slot() {
    let b = Bulkhead::builder("mt")
        .max_concurrent_calls(2)
        .max_wait(Duration::from_secs(3600))
        .build()
        .unwrap();
    let (inside, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (i2, p2) = (inside.clone(), peak.clone());
    let svc = b.waiting_layer().layer(service_fn(move |()| {
        let (inside, peak) = (i2.clone(), p2.clone());
        async move {
            let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(n, Ordering::SeqCst);
            tokio::task::yield_now().await;
            inside.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, std::io::Error>(())
        }
    }));
    let tasks: Vec<_> = (0..5_000)
        .map(|_| tokio::spawn(svc.clone().oneshot(())))
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert_eq!(b.metrics().permitted_calls, 5_000);
    full_again(&b);
}

mod keyed {
    use super::*;
    use seawall::bulkhead::{KeyedBulkhead, KeyedBulkheadError};

    #[test]
    fn one_key_cannot_take_every_slot_and_busy_keys_are_never_evicted() {
        let b = KeyedBulkhead::<u32>::new("tenants", 2, 2).unwrap();
        let a1 = b.try_acquire(&1).unwrap();
        let a2 = b.try_acquire(&1).unwrap();
        assert!(matches!(
            b.try_acquire(&1),
            Err(KeyedBulkheadError::Full(_))
        ));
        let b1 = b.try_acquire(&2).unwrap();
        // Both keys busy and the map full: a third key is refused, not made room for.
        assert!(matches!(
            b.try_acquire(&3),
            Err(KeyedBulkheadError::KeyLimitReached(_))
        ));
        assert_eq!(b.in_flight(&1), 2);
        drop((a1, a2));
        // Key 1 is idle now and may be evicted for key 3; key 2 stays.
        let c1 = b.try_acquire(&3).unwrap();
        assert_eq!((b.len(), b.in_flight(&2), b.in_flight(&1)), (2, 1, 0));
        assert_eq!(b.counts().2, 1, "one eviction");
        drop((b1, c1));
        assert_eq!(
            KeyedBulkhead::<u32>::new("x", 0, 1).unwrap_err().field(),
            "max_concurrent_calls"
        );
        assert_eq!(
            KeyedBulkhead::<u32>::new("x", 1, 0).unwrap_err().field(),
            "max_keys"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_function_may_exempt_a_request_or_fail_it() {
        use tower::{service_fn, Layer, ServiceExt};
        let b = KeyedBulkhead::<u32>::new("per-client", 1, 100).unwrap();
        // (client, delay): no client is exempt; client 0 is refused.
        let svc = b
            .layer(|req: &(Option<u32>, u64)| match req.0 {
                Some(0) => Err("client 0 is unknown"),
                other => Ok(other),
            })
            .layer(service_fn(|req: (Option<u32>, u64)| async move {
                tokio::time::sleep(Duration::from_secs(req.1)).await;
                Ok::<_, BoxError>(req.0)
            }));
        // Client 1 holds its one slot; more of client 1 are refused, any
        // number without a client go through.
        let busy = tokio::spawn(svc.clone().oneshot((Some(1), 10)));
        tokio::task::yield_now().await;
        assert_eq!(b.in_flight(&1), 1);
        assert!(svc.clone().oneshot((Some(1), 0)).await.is_err());
        let exempt: Vec<_> = (0..3).map(|_| svc.clone().oneshot((None, 1))).collect();
        for call in exempt {
            assert_eq!(call.await.unwrap(), None);
        }
        let err = svc.clone().oneshot((Some(0), 0)).await.unwrap_err();
        assert_eq!(err.to_string(), "client 0 is unknown");
        assert_eq!(busy.await.unwrap().unwrap(), Some(1));
        assert_eq!(b.in_flight(&1), 0, "the slot came back");
    }

    #[tokio::test(start_paused = true)]
    async fn the_keyed_layer_bounds_each_key() {
        let b = KeyedBulkhead::<u32>::new("per-client", 1, 100).unwrap();
        let slow = service_fn(|_: u32| async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok::<_, std::io::Error>(())
        });
        let svc = b.layer(|req: &u32| *req).layer(slow);
        let first = tokio::spawn(svc.clone().oneshot(7));
        tokio::task::yield_now().await;
        let err = svc.clone().oneshot(7).await.unwrap_err();
        assert_eq!(
            seawall::rejection(&err).unwrap().kind(),
            RejectionKind::BulkheadFull
        );
        svc.clone().oneshot(8).await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(b.in_flight(&7), 0, "slot returned when the call ended");
    }
}

/// Permits taken on four threads (each on its own thread's handle) and
/// dropped on another give back every slot, exactly.
#[test]
fn permits_taken_on_many_threads_and_dropped_elsewhere_free_every_slot() {
    let bulkhead = Bulkhead::builder("threads")
        .max_concurrent_calls(400)
        .build()
        .unwrap();
    let permits = made_on_threads(4, 100, || bulkhead.try_acquire().unwrap());
    assert_eq!(bulkhead.metrics().in_flight, 400);
    assert!(bulkhead.try_acquire().is_err());
    assert_eq!(permits.len(), 400);
    drop(permits);
    assert_eq!(bulkhead.metrics().available, 400);
    assert_eq!(bulkhead.metrics().in_flight, 0);
}
