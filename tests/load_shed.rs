//! Load shedding by priority: the lowest priorities go first, counted
//! exactly; a standing queue (CoDel) sheds whole tiers; a service that is
//! not ready sheds everything, as tower's `LoadShed`.

mod support;

use seawall::error::{rejection, Overloaded, RejectionKind};
use seawall::load_shed::{LoadShedder, Priority};
use seawall::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tower::{service_fn, Layer, Service, ServiceExt};

fn shed_priority(e: &BoxError) -> Option<u8> {
    assert_eq!(rejection(e).unwrap().kind(), RejectionKind::Overloaded);
    e.downcast_ref::<Overloaded>().unwrap().priority()
}

/// A service whose calls all wait on `gate`.
fn gated(
    gate: Arc<tokio::sync::Semaphore>,
) -> impl Service<
    Priority,
    Response = (),
    Error = BoxError,
    Future = impl std::future::Future<Output = Result<(), BoxError>> + Send,
> + Clone {
    service_fn(move |_: Priority| {
        let gate = gate.clone();
        async move {
            let _ = gate.acquire().await.unwrap();
            Ok::<_, BoxError>(())
        }
    })
}

#[tokio::test]
async fn a_scripted_overload_sheds_the_lowest_priorities_first_counted_exactly() {
    // Room by priority, for 8 in flight and min_share ½: sheddable 4,
    // default ⌈8 · (½ + ½ · 128/255)⌉ = 7, critical 8.
    let shedder = LoadShedder::builder("api")
        .max_in_flight(8)
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let svc = shedder
        .layer()
        .priority_by(|p: &Priority| *p)
        .layer(gated(gate.clone()));
    let mut held = Vec::new();
    let mut shed = Vec::new();
    // Arrivals in waves: sheddable, default, critical, then more of each.
    let script = [Priority::SHEDDABLE; 6]
        .into_iter()
        .chain([Priority::DEFAULT; 5])
        .chain([Priority::SHEDDABLE; 2])
        .chain([Priority::CRITICAL; 3])
        .chain([Priority::DEFAULT; 2]);
    for p in script {
        let mut s = svc.clone();
        s.ready().await.unwrap();
        let mut f = Box::pin(s.call(p));
        match poll_once(&mut f) {
            None => held.push(f),
            Some(Err(e)) => shed.push(shed_priority(&e).unwrap()),
            Some(Ok(())) => unreachable!("the gate is shut"),
        }
    }
    // 4 sheddable fit; 2 shed. 3 default fit (7 in flight); 2 shed. Both
    // later sheddable shed. 1 critical fits (8); 2 shed. Both default shed.
    assert_eq!(held.len(), 8);
    assert_eq!(shed, vec![0, 0, 128, 128, 0, 0, 255, 255, 128, 128]);
    assert_eq!(shedder.shed_calls(Priority::SHEDDABLE), 4);
    assert_eq!(shedder.shed_calls(Priority::DEFAULT), 4);
    assert_eq!(shedder.shed_calls(Priority::CRITICAL), 2);
    let m = shedder.metrics();
    assert_eq!((m.in_flight, m.admitted_calls, m.shed_calls), (8, 8, 10));
    gate.add_permits(100);
    for f in held {
        f.await.unwrap();
    }
    assert_eq!(shedder.metrics().in_flight, 0);
    // A dropped call gives its room back too.
    let f = svc.clone().oneshot(Priority::CRITICAL);
    drop(f);
    assert_eq!(shedder.metrics().in_flight, 0);
}

fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn an_inner_service_not_ready_sheds_every_priority_as_tower_load_shed() {
    let shedder = LoadShedder::builder("busy").build().unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let limited = tower::limit::ConcurrencyLimitLayer::new(1).layer(gated(gate.clone()));
    let mut svc = shedder
        .layer()
        .priority_by(|p: &Priority| *p)
        .layer(limited);
    svc.ready().await.unwrap();
    let first = svc.call(Priority::DEFAULT);
    // The one slot below is taken: not ready, so even critical is shed.
    svc.ready().await.unwrap();
    let e = svc.call(Priority::CRITICAL).await.unwrap_err();
    assert_eq!(shed_priority(&e), Some(255));
    assert!(e.to_string().contains("not ready"), "{e}");
    gate.add_permits(1);
    first.await.unwrap();
    svc.ready().await.unwrap();
    gate.add_permits(1);
    svc.call(Priority::SHEDDABLE).await.unwrap();
}

async fn busy(_: Priority) -> Result<(), BoxError> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    Ok(())
}

fn by_itself(p: &Priority) -> Priority {
    *p
}

#[tokio::test(start_paused = true)]
async fn a_standing_queue_sheds_whole_tiers_lowest_first_and_heals() {
    // Two in flight, 50 ms a call: 40 calls a second get through. Offered
    // 120 a second (40 of each priority), a queue stands.
    let shedder = LoadShedder::builder("codel")
        .max_in_flight(2)
        .min_share(1.0)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let busy = service_fn(busy);
    let svc = shedder.layer().priority_by(by_itself).waiting().layer(busy);
    let done = Arc::new([
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]);
    let mut levels = Vec::new();
    let mut tasks = Vec::new();
    for tick in 0..200 {
        // Every 25 ms, one call of each priority.
        for (i, p) in [Priority::SHEDDABLE, Priority::DEFAULT, Priority::CRITICAL]
            .into_iter()
            .enumerate()
        {
            let svc = svc.clone();
            let done = done.clone();
            tasks.push(tokio::spawn(async move {
                if svc.oneshot(p).await.is_ok() {
                    done[i].fetch_add(1, Ordering::SeqCst);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        if tick % 4 == 3 {
            levels.push(shedder.shed_below());
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let shed: Vec<u64> = [0u8, 128, 255]
        .iter()
        .map(|&p| shedder.shed_calls(p))
        .collect();
    let served: Vec<usize> = done.iter().map(|d| d.load(Ordering::SeqCst)).collect();
    // Every call was either served or shed.
    for i in 0..3 {
        assert_eq!(served[i] as u64 + shed[i], 200, "{served:?} {shed:?}");
    }
    // The queue stood: sheddable went first, critical last and least.
    // Tier by tier it rose to shed all but critical, which the service
    // can just keep up with: no critical call was lost.
    assert_eq!(&levels[..5], &[0, 0, 64, 128, 192], "{levels:?}");
    assert!(levels[5..].iter().all(|&l| l == 192), "{levels:?}");
    assert!(
        shed[0] > shed[1] && shed[1] > shed[2],
        "{shed:?} {levels:?}"
    );
    assert_eq!(shed[2], 0, "{shed:?}");
    // Heals: no load, and a call in the next interval finds room at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    for _ in 0..5 {
        svc.clone().oneshot(Priority::DEFAULT).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(shedder.shed_below(), 0, "{levels:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_is_exact_under_ten_thousand_concurrent_tasks() {
    let shedder = LoadShedder::builder("exact")
        .max_in_flight(7)
        .min_share(1.0)
        .max_wait(Duration::from_secs(3600))
        .codel(Duration::from_secs(3600), Duration::from_secs(3600))
        .build()
        .unwrap();
    let peak = Arc::new(AtomicUsize::new(0));
    let svc = shedder
        .layer()
        .waiting()
        .layer(support::peak_gauge(peak.clone()));
    support::call_all_at_once(svc, 10_000).await;
    assert!(peak.load(Ordering::SeqCst) <= 7);
    let m = shedder.metrics();
    assert_eq!(
        (m.admitted_calls, m.shed_calls, m.in_flight, m.waiting),
        (10_000, 0, 0, 0)
    );
}

#[test]
fn bad_settings_are_config_errors_naming_the_field() {
    let field = |b: seawall::load_shed::LoadShedderBuilder| b.build().unwrap_err().field();
    let b = || LoadShedder::builder("bad");
    assert_eq!(field(b().max_in_flight(0)), "max_in_flight");
    assert_eq!(field(b().min_share(0.0)), "min_share");
    assert_eq!(field(b().min_share(1.5)), "min_share");
    assert_eq!(
        field(b().codel(Duration::ZERO, Duration::from_millis(100))),
        "codel"
    );
    assert_eq!(
        field(b().codel(Duration::from_millis(200), Duration::from_millis(100))),
        "codel"
    );
    assert_eq!(
        field(b().max_in_flight(5).max_wait(Duration::MAX)),
        "max_wait"
    );
    // Only a call past its room waits: no room, no wait.
    let e = b().max_wait(Duration::from_millis(5)).build().unwrap_err();
    assert_eq!(e.field(), "max_wait");
    assert!(e.to_string().contains("max_in_flight"), "{e}");
}

/// As the README layers it: the priority from a request header.
#[cfg(feature = "http")]
#[tokio::test]
async fn a_header_gives_the_priority_as_in_the_readme() {
    use http::Request;
    let shedder = LoadShedder::builder("api")
        .max_in_flight(2)
        .build()
        .unwrap();
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handler = service_fn({
        let gate = gate.clone();
        move |_: Request<()>| {
            let gate = gate.clone();
            async move {
                let _ = gate.acquire().await.unwrap();
                Ok::<_, BoxError>(())
            }
        }
    });
    let app = tower::ServiceBuilder::new()
        .layer(shedder.layer().priority_by(
            |req: &Request<()>| match req.headers().get("x-priority") {
                Some(v) if v == "batch" => Priority::SHEDDABLE,
                Some(v) if v == "critical" => Priority::CRITICAL,
                _ => Priority::DEFAULT,
            },
        ))
        .service(handler);
    let req = |p: &str| Request::get("/").header("x-priority", p).body(()).unwrap();
    // One in flight: half the room, all a batch call may use.
    let mut held = Box::pin(app.clone().oneshot(req("default")));
    assert!(poll_once(&mut held).is_none());
    let e = app.clone().oneshot(req("batch")).await.unwrap_err();
    assert_eq!(shed_priority(&e), Some(0));
    let mut critical = Box::pin(app.clone().oneshot(req("critical")));
    assert!(poll_once(&mut critical).is_none(), "admitted");
    gate.add_permits(2);
    held.await.unwrap();
    critical.await.unwrap();
    assert_eq!(shedder.shed_calls(Priority::SHEDDABLE), 1);
}

#[tokio::test(start_paused = true)]
async fn a_waiting_shedder_keeps_the_room_of_higher_priorities() {
    let shedder = LoadShedder::builder("wait")
        .max_in_flight(4)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    // Sheddable calls may use 2 of the 4 slots.
    let _a = shedder.acquire(Priority::SHEDDABLE).await.unwrap();
    let _b = shedder.acquire(Priority::SHEDDABLE).await.unwrap();
    // Two slots are free but kept: a third sheddable call is shed at once
    // rather than queued onto them.
    let start = tokio::time::Instant::now();
    let e = shedder.acquire(Priority::SHEDDABLE).await.unwrap_err();
    assert_eq!((e.priority(), start.elapsed()), (Some(0), Duration::ZERO));
    let c = shedder.acquire(Priority::CRITICAL).await.unwrap();
    let _d = shedder.acquire(Priority::CRITICAL).await.unwrap();
    // Every slot taken: a critical call waits its turn, and gets the next.
    let waiting = tokio::spawn({
        let s = shedder.clone();
        async move { s.acquire(Priority::CRITICAL).await.map(drop) }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(shedder.metrics().waiting, 1);
    drop(c);
    waiting.await.unwrap().unwrap();
    assert_eq!(shedder.shed_calls(Priority::SHEDDABLE), 1);
}
