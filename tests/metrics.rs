//! The guide's metric catalogue (`seawall::guide::sre`) matches what an export emits.
#![cfg(feature = "metrics")]

mod support;

use metrics_util::debugging::DebuggingRecorder;
use metrics_util::MetricKind;
use seawall::prelude::*;
use std::collections::BTreeSet;

type Row = (String, &'static str, Vec<String>);

/// Rows of the guide's catalogue table: `| `name` | type | `label`, `label` | meaning |`.
fn catalogue(prefix: &str) -> BTreeSet<Row> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide/sre.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with(&format!("| `{prefix}")))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_string();
            let kind = match cells[2] {
                "counter" => "counter",
                "gauge" => "gauge",
                "histogram" => "histogram",
                other => panic!("unknown metric type {other} in the guide's catalogue"),
            };
            let mut labels: Vec<String> = cells[3]
                .split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .collect();
            labels.sort();
            (name, kind, labels)
        })
        .collect()
}

/// What a snapshot holds for the instance `name`, as catalogue rows.
fn emitted(snapshotter: &metrics_util::debugging::Snapshotter, name: &str) -> BTreeSet<Row> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, _)| {
            let (kind, key) = key.into_parts();
            if !key.labels().any(|l| l.key() == "name" && l.value() == name) {
                return None;
            }
            let kind = match kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Histogram => "histogram",
            };
            let mut labels: Vec<String> = key.labels().map(|l| l.key().to_string()).collect();
            labels.sort();
            Some((key.name().to_string(), kind, labels))
        })
        .collect()
}

#[test]
fn circuit_breaker_metrics_match_the_readme_catalogue() {
    let breaker = CircuitBreaker::builder("catalogue")
        .sliding_window(SlidingWindow::count(4))
        .minimum_number_of_calls(2)
        .build()
        .unwrap();
    breaker.try_acquire().unwrap().record(Outcome::Success);
    breaker.try_acquire().unwrap().record(Outcome::Failure);
    assert!(breaker.try_acquire().is_err());

    // The recorder is installed after the breaker was built and still sees it.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);

    let rejected = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            (key.name() == "seawall_circuit_breaker_not_permitted_calls_total"
                && key.labels().any(|l| l.value() == "catalogue"))
            .then_some(value)
        });
    assert_eq!(
        emitted(&snapshotter, "catalogue"),
        catalogue("seawall_circuit_breaker_")
    );
    assert_eq!(
        rejected,
        Some(metrics_util::debugging::DebugValue::Counter(1))
    );
}

#[test]
fn rate_limiter_metrics_match_the_readme_catalogue() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let keyed = RateLimiter::builder("catalogue-rl")
        .rate(1, Duration::from_secs(1))
        .burst(1)
        .build_keyed::<u8>()
        .unwrap();
    let rt = support::paused_runtime();
    // Built inside the paused runtime, so its clock follows the pause.
    let direct = rt.block_on(async {
        RateLimiter::builder("catalogue-rl")
            .rate(1, Duration::from_secs(1))
            .burst(1)
            .max_wait(Duration::from_secs(2))
            .build()
            .unwrap()
    });
    metrics::with_local_recorder(&recorder, || {
        keyed.try_acquire(&1).unwrap();
        assert!(keyed.try_acquire(&1).is_err());
        rt.block_on(async {
            direct.acquire_n(1).await.unwrap();
            direct.acquire_n(1).await.unwrap(); // waits 1 s
        });
        seawall::telemetry::export_metrics();
    });
    assert_eq!(
        emitted(&snapshotter, "catalogue-rl"),
        catalogue("seawall_rate_limiter_")
    );
}

#[test]
fn bulkhead_metrics_match_the_readme_catalogue() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let b = Bulkhead::builder("catalogue-bh")
        .max_concurrent_calls(1)
        .max_wait(Duration::from_secs(1))
        .build()
        .unwrap();
    let rt = support::paused_runtime();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let held = b.try_acquire().unwrap();
            let b2 = b.clone();
            let waiter = tokio::spawn(async move { b2.acquire().await.map(drop) });
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(held);
            waiter.await.unwrap().unwrap();
        });
        seawall::telemetry::export_metrics();
    });
    assert_eq!(
        emitted(&snapshotter, "catalogue-bh"),
        catalogue("seawall_bulkhead_")
    );
}

#[tokio::test(start_paused = true)]
async fn timeout_metrics_match_the_readme_catalogue() {
    use tower::{Layer, ServiceExt};
    let layer = seawall::timeout::Timeout::builder("catalogue-to")
        .duration(Duration::from_millis(5))
        .build()
        .unwrap();
    let svc = layer.layer(tower::service_fn(|()| {
        std::future::pending::<Result<(), std::io::Error>>()
    }));
    assert!(svc.oneshot(()).await.is_err());
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-to"),
        catalogue("seawall_timeout_")
    );
}

#[tokio::test]
async fn fallback_metrics_match_the_readme_catalogue() {
    use tower::{Layer, ServiceExt};
    let layer = seawall::fallback::Fallback::builder("catalogue-fb").value(1u8);
    let svc = layer.layer(tower::service_fn(|()| async {
        Err::<u8, _>(std::io::Error::other("x"))
    }));
    assert_eq!(svc.oneshot(()).await.unwrap(), 1);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-fb"),
        catalogue("seawall_fallback_")
    );
}

#[test]
fn retry_metrics_match_the_readme_catalogue() {
    use tower::{Layer, ServiceExt};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let retry = seawall::retry::Retry::builder("catalogue-rt")
        .max_attempts(2)
        .build()
        .unwrap();
    let svc = retry.layer().layer(tower::service_fn(|()| async {
        Err::<(), BoxError>("down".into())
    }));
    let rt = support::paused_runtime();
    metrics::with_local_recorder(&recorder, || {
        assert!(rt.block_on(svc.oneshot(())).is_err()); // one retry, then gives up
        seawall::telemetry::export_metrics();
    });
    assert_eq!(
        emitted(&snapshotter, "catalogue-rt"),
        catalogue("seawall_retry_")
    );
}

#[test]
fn chaos_metrics_match_the_readme_catalogue() {
    let chaos = seawall::chaos::Chaos::builder("catalogue-chaos")
        .error_rate(1.0)
        .build()
        .unwrap();
    assert!(chaos.decide().error);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-chaos"),
        catalogue("seawall_chaos_")
    );
}

#[test]
fn slo_metrics_match_the_readme_catalogue() {
    let slo = seawall::slo::Slo::builder("catalogue-slo").build().unwrap();
    slo.record(Outcome::Success, Duration::ZERO);
    slo.record(Outcome::Failure, Duration::ZERO);
    slo.evaluate();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-slo"),
        catalogue("seawall_slo_")
    );
}

/// The descriptions seawall gives the recorder (HELP lines, units) are the
/// The guide's catalogue: the same names, types and meanings.
#[test]
fn the_described_metrics_are_the_readme_catalogue() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide/sre.md")).unwrap();
    let documented: Vec<(String, String, String)> = readme
        .lines()
        .filter(|l| l.starts_with("| `seawall_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].to_string(),
                cells[4].to_string(),
            )
        })
        .collect();
    let described: Vec<(String, String, String)> = seawall::telemetry::METRICS
        .iter()
        .map(|m| {
            let kind = match m.metric_type {
                seawall::telemetry::MetricType::Counter => "counter",
                seawall::telemetry::MetricType::Gauge => "gauge",
                _ => "histogram",
            };
            (m.name.to_string(), kind.to_string(), m.help.to_string())
        })
        .collect();
    // (That they reach a recorder, as HELP lines: tests/prometheus.rs.)
    assert_eq!(described, documented);
}

/// Two live instances of one pattern with one name would merge into one
/// series: each is told once, at the export that finds them (an event,
/// and a `tracing` warning); a name freed by a dropped instance is free.
#[test]
fn a_duplicate_name_is_told_at_export() {
    use std::sync::{Arc, Mutex};
    let told = Arc::new(Mutex::new(0));
    let build = || {
        let told = told.clone();
        CircuitBreaker::builder("duplicate-name")
            .on_event(move |e| {
                if matches!(e.kind, EventKind::DuplicateName) {
                    *told.lock().unwrap() += 1;
                }
            })
            .build()
            .unwrap()
    };
    let export = || {
        let recorder = DebuggingRecorder::new();
        metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    };
    let first = build();
    // Another pattern may share the name.
    let _bulkhead = Bulkhead::builder("duplicate-name").build().unwrap();
    export();
    assert_eq!(*told.lock().unwrap(), 0);
    let second = build();
    export();
    assert_eq!(*told.lock().unwrap(), 2, "both are told");
    export();
    assert_eq!(*told.lock().unwrap(), 2, "once");
    drop((first, second));
    let _third = build();
    export();
    assert_eq!(*told.lock().unwrap(), 2, "the name was free again");
}

#[tokio::test(start_paused = true)]
async fn hedge_metrics_match_the_readme_catalogue() {
    use seawall::hedge::{Hedge, HedgeDelay};
    use tower::{Layer, ServiceExt};
    let hedge = Hedge::builder("catalogue-hedge")
        .delay(HedgeDelay::Fixed(Duration::from_millis(5)))
        .build()
        .unwrap();
    let slow = tower::service_fn(|()| async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok::<_, BoxError>(())
    });
    hedge.layer().layer(slow).oneshot(()).await.unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-hedge"),
        catalogue("seawall_hedge_")
    );
}

#[tokio::test]
async fn failover_metrics_match_the_readme_catalogue() {
    use tower::ServiceExt;
    let set = seawall::failover::Failover::builder("catalogue-failover")
        .build(vec![tower::service_fn(|x: u8| async move {
            Ok::<_, BoxError>(x)
        })])
        .unwrap();
    set.clone().oneshot(1).await.unwrap();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    assert_eq!(
        emitted(&snapshotter, "catalogue-failover"),
        catalogue("seawall_failover_")
    );
}
