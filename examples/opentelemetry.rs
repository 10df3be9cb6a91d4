//! seawall's telemetry into OpenTelemetry, through the well-kept bridges:
//! its `tracing` events as OTel log records (`opentelemetry-appender-tracing`)
//! and as events on your request spans (`tracing-opentelemetry`), with the
//! resilience attributes Polly's telemetry uses (`event.name`,
//! `strategy.name`, `attempt.number`); its `metrics` as OTel metrics with
//! their descriptions (`metrics-exporter-opentelemetry`). Here the
//! exporters print to stdout; swap in `opentelemetry-otlp`'s to reach a
//! collector.
//!
//! `cargo run --example opentelemetry`

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::PeriodicReader;
use opentelemetry_sdk::trace::SdkTracerProvider;
use seawall::prelude::*;
use tracing_subscriber::layer::SubscriberExt;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Logs and traces: seawall's `tracing` events, bridged.
    let logger = SdkLoggerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::LogExporter::default())
        .build();
    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(opentelemetry_stdout::SpanExporter::default())
        .build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(OpenTelemetryTracingBridge::new(&logger))
            .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("inventory-client"))),
    )?;
    // Metrics: the `metrics` facade, bridged; seawall's exporter publishes
    // its instances' counts (and their descriptions) to it.
    let (meters, recorder) = metrics_exporter_opentelemetry::Recorder::builder("inventory-client")
        .with_meter_provider(|b| {
            b.with_reader(
                PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build(),
            )
        })
        .build();
    metrics::set_global_recorder(recorder)?;

    // A call that fails twice, then succeeds, inside a request's span: its
    // retries are log records and events on the span.
    let retry = Retry::builder("inventory")
        .max_attempts(3)
        .backoff(Backoff::Constant(Duration::from_millis(10)))
        .build()?;
    let request = tracing::info_span!("GET /items/7");
    let answer = {
        let _entered = request.enter();
        retry
            .call(|attempt| async move {
                if attempt < 3 {
                    Err("503 Service Unavailable")
                } else {
                    Ok("in stock")
                }
            })
            .await
    };
    drop(request);
    println!("answer: {answer:?}\n");

    // A breaker opening is a log record too (`OnCircuitOpened`).
    let breaker = CircuitBreaker::builder("inventory").build()?;
    breaker.force_open();

    seawall::telemetry::export_metrics();
    meters.force_flush()?;
    tracer.force_flush()?;
    logger.force_flush()?;
    if answer.is_err() {
        return Err("the third attempt should have succeeded".into());
    }
    Ok(())
}
