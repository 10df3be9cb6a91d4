//! seawall's telemetry reaches OpenTelemetry through the well-kept
//! bridges: its `tracing` events become OTel log records
//! (`opentelemetry-appender-tracing`) and span events
//! (`tracing-opentelemetry`) carrying the resilience attributes Polly's
//! telemetry uses (`event.name`, `strategy.name`, `attempt.number`), and
//! its `metrics` become OTel metrics with their descriptions
//! (`metrics-exporter-opentelemetry`). In-memory exporters stand in for
//! the collector.
#![cfg(all(feature = "tracing", feature = "metrics"))]

use opentelemetry::logs::AnyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::{InMemoryLogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use seawall::prelude::*;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::test(start_paused = true)]
async fn events_and_metrics_reach_opentelemetry_with_its_attribute_names() {
    let logs = InMemoryLogExporter::default();
    let logger = SdkLoggerProvider::builder()
        .with_simple_exporter(logs.clone())
        .build();
    let spans = InMemorySpanExporter::default();
    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(OpenTelemetryTracingBridge::new(&logger))
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    // A call that fails twice and then succeeds, inside a request's span.
    let retry = Retry::builder("inventory").max_attempts(3).build().unwrap();
    let span = tracing::info_span!("GET /items");
    let answer = {
        let _entered = span.enter();
        retry
            .call(|attempt| async move {
                if attempt < 3 {
                    Err("busy")
                } else {
                    Ok(attempt)
                }
            })
            .await
    };
    drop(span);
    assert_eq!(answer.unwrap(), 3);

    // Logs: one record per retry, with OTel's resilience attributes.
    let attr = |record: &opentelemetry_sdk::logs::SdkLogRecord, key: &str| {
        record
            .attributes_iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v.clone())
    };
    let retries: Vec<_> = logs
        .get_emitted_logs()
        .unwrap()
        .into_iter()
        .filter(|l| attr(&l.record, "event.name") == Some(AnyValue::from("OnRetry")))
        .collect();
    assert_eq!(retries.len(), 2);
    let numbers: Vec<_> = retries
        .iter()
        .map(|l| attr(&l.record, "attempt.number"))
        .collect();
    assert_eq!(numbers, [Some(AnyValue::Int(2)), Some(AnyValue::Int(3))]);
    assert_eq!(
        attr(&retries[0].record, "strategy.name"),
        Some(AnyValue::from("inventory"))
    );

    // Traces: the request's span carries the retries as its events.
    tracer.force_flush().unwrap();
    let finished = spans.get_finished_spans().unwrap();
    let request = finished.iter().find(|s| s.name == "GET /items").unwrap();
    assert_eq!(request.events.events.len(), 2, "{:?}", request.events);

    // Metrics: exported through the bridge, described (help, unit).
    let exporter = InMemoryMetricExporter::default();
    let (provider, recorder) = metrics_exporter_opentelemetry::Recorder::builder("test")
        .with_meter_provider(|b| b.with_reader(PeriodicReader::builder(exporter.clone()).build()))
        .build();
    metrics::with_local_recorder(&recorder, seawall::telemetry::export_metrics);
    provider.force_flush().unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let retries_total = exported
        .iter()
        .flat_map(|r| r.scope_metrics())
        .flat_map(|s| s.metrics())
        .find(|m| m.name() == "seawall_retry_retries_total")
        .expect("the retries counter reached OpenTelemetry");
    assert!(retries_total
        .description()
        .starts_with("Retries, by `reason`"));
    drop(retry);
}
