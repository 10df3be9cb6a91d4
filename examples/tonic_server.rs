//! A tonic server behind seawall's `grpc_server` preset, on 127.0.0.1 (the
//! standard gRPC health service, so no code generation is needed):
//! per-client limits outside the shared bulkhead, rejections answered as
//! gRPC statuses, and the health service reporting `NOT_SERVING` while the
//! server sheds load or its database's breaker is open. A client on the
//! same machine shows each.
//!
//! `cargo run --all-features --example tonic_server` (needs feature
//! `grpc-health`).

use seawall::grpc::{GrpcStatusLayer, HealthWatch};
use seawall::prelude::*;
use seawall::stack::Stack;
use tonic::transport::{Channel, Server};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

fn check(client: &str) -> tonic::Request<HealthCheckRequest> {
    let mut req = tonic::Request::new(HealthCheckRequest {
        service: "inventory".into(),
    });
    req.metadata_mut()
        .insert("x-client", client.parse().expect("ASCII"));
    req
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Each client: 2 calls at once, then 1 a second.
    let per_client = RateLimiter::builder("per-client")
        .rate(1, Duration::from_secs(1))
        .burst(2)
        .max_keys(10_000)
        .build_keyed::<String>()?;
    let client_id = |req: &http::Request<tonic::body::Body>| {
        req.headers()
            .get("x-client")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("anonymous")
            .to_owned()
    };
    // The preset: 30 s a call, 512 calls at once, rejections as statuses.
    let preset = Stack::grpc_server("inventory")?;
    let bulkhead = preset.bulkhead_layer().handle().clone();
    // A dependency the service cannot work without.
    let database = CircuitBreaker::builder("database").build()?;

    let (reporter, health) = tonic_health::server::health_reporter();
    let watch = HealthWatch::new()
        .period(Duration::from_millis(50))
        .shedding(&bulkhead)
        .dependency(&database)
        .report(reporter, "inventory")
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(
        Server::builder()
            // Per-client limits outside the shared bulkhead: a client over
            // its limit is answered RESOURCE_EXHAUSTED before it takes a
            // slot from the others.
            .layer(GrpcStatusLayer::new())
            .layer(per_client.layer(client_id))
            .layer(preset)
            .add_service(health)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    println!("serving on {url}");

    let mut client = HealthClient::new(Channel::from_shared(url)?.connect().await?);
    for n in 1..=3 {
        match client.check(check("eager")).await {
            Ok(res) => println!("eager call {n}: status {}", res.into_inner().status),
            Err(status) => println!(
                "eager call {n}: {:?} ({}), come back in {} ms",
                status.code(),
                status.message(),
                status
                    .metadata()
                    .get("grpc-retry-pushback-ms")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("?")
            ),
        }
    }
    let res = client.check(check("polite")).await?;
    println!(
        "polite call: status {} (1 = SERVING)",
        res.into_inner().status
    );

    // The health service as a load balancer watches it.
    let mut changes = client.watch(check("probe")).await?.into_inner();
    let mut next = async || -> Result<i32, BoxError> {
        Ok(changes
            .message()
            .await?
            .ok_or("health stream ended")?
            .status)
    };
    println!("health: {} (1 = SERVING)", next().await?);
    database.force_open();
    println!(
        "database down -> health: {} (2 = NOT_SERVING)",
        next().await?
    );
    database.reset();
    println!("database back -> health: {}", next().await?);
    let held: Vec<_> = std::iter::from_fn(|| bulkhead.try_acquire().ok()).collect();
    let status = client.check(check("late")).await.unwrap_err();
    println!(
        "{} calls in flight, the next: {:?} ({})",
        held.len(),
        status.code(),
        status.message()
    );
    println!("shedding -> health: {}", next().await?);
    drop(held);
    println!("load gone -> health: {}", next().await?);
    watch.abort();
    Ok(())
}
