//! The README's metric catalogue matches what an export emits.
#![cfg(feature = "metrics")]

use metrics_util::debugging::DebuggingRecorder;
use metrics_util::MetricKind;
use seawall::prelude::*;
use std::collections::BTreeSet;

type Row = (String, &'static str, Vec<String>);

/// Rows of the README table: `| `name` | type | `label`, `label` | meaning |`.
fn catalogue(prefix: &str) -> BTreeSet<Row> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
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
                other => panic!("unknown metric type {other} in README"),
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

    let mut emitted = BTreeSet::new();
    let mut rejected = None;
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        if !key
            .labels()
            .any(|l| l.key() == "name" && l.value() == "catalogue")
        {
            continue;
        }
        let kind = match kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "histogram",
        };
        let mut labels: Vec<String> = key.labels().map(|l| l.key().to_string()).collect();
        labels.sort();
        if key.name() == "seawall_circuit_breaker_not_permitted_calls_total" {
            rejected = Some(value);
        }
        emitted.insert((key.name().to_string(), kind, labels));
    }
    assert_eq!(emitted, catalogue("seawall_circuit_breaker_"));
    assert_eq!(
        rejected,
        Some(metrics_util::debugging::DebugValue::Counter(1))
    );
}
