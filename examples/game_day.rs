//! A game day: an axum server whose handlers run behind a fault injector,
//! and an operator endpoint that switches the faults over HTTP —
//! `POST /chaos/on`, `POST /chaos/off`, `PUT /chaos/error_rate/0.5`,
//! `GET /chaos` — with a blast-radius guard that turns injection off by
//! itself past 20 injections a second.
//!
//! `cargo run --example game_day` starts it on 127.0.0.1, plays the
//! operator (fault on, 50 % errors, then off) and a caller, prints what the
//! caller got at each step, and exits.

use axum::error_handling::HandleErrorLayer;
use axum::extract::{Path, State};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::chaos::{Chaos, FaultKind};
use seawall::prelude::*;
use tower::ServiceBuilder;

async fn handler() -> &'static str {
    "in stock"
}

/// `GET /chaos`: whether it injects, its error rate and what it injected.
async fn status(State(chaos): State<Chaos>) -> String {
    let m = chaos.metrics();
    format!(
        "enabled: {}, error_rate: {}, errors injected: {}\n",
        m.enabled,
        chaos.rate(FaultKind::Error),
        m.injected(FaultKind::Error)
    )
}

/// `PUT /chaos/error_rate/{rate}`: a bad rate is a 400 naming the field.
async fn set_error_rate(State(chaos): State<Chaos>, Path(rate): Path<f64>) -> (StatusCode, String) {
    match chaos.set_rate(FaultKind::Error, rate) {
        Ok(()) => (StatusCode::OK, format!("error_rate = {rate}\n")),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // Off until the operator says so; never more than 20 injections a
    // second, whatever the operator sets.
    let chaos = Chaos::builder("storefront")
        .enabled(false)
        .max_injections_per_sec(20)
        .seed(2026) // the same faults every run
        .on_event(|e| {
            if !matches!(e.kind, EventKind::FaultInjected { .. }) {
                println!("    [event] chaos `{}`: {:?}", e.name, e.kind);
            }
        })
        .build()?;
    let operator = Router::new()
        .route("/chaos", get(status))
        .route(
            "/chaos/on",
            post(|State(c): State<Chaos>| async move { c.enable() }),
        )
        .route(
            "/chaos/off",
            post(|State(c): State<Chaos>| async move { c.disable() }),
        )
        .route("/chaos/error_rate/{rate}", put(set_error_rate))
        .with_state(chaos.clone());
    let app = Router::new()
        .route("/", get(handler))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|err: BoxError| async move {
                    seawall::http::error_response(&err)
                }))
                .layer(chaos.layer()),
        )
        .merge(operator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("serving on http://{addr}/ (operator: http://{addr}/chaos)");

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let send = |method: Method, path: &str| {
        let client = client.clone();
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .body(Empty::new());
        async move {
            let res = client.request(req?).await?;
            let status = res.status();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, BoxError>((status, String::from_utf8_lossy(&body).trim().to_owned()))
        }
    };
    let callers = |label: &'static str| async move {
        let mut ok = 0;
        for _ in 0..10 {
            if send(Method::GET, "/").await?.0 == StatusCode::OK {
                ok += 1;
            }
        }
        println!("  caller, {label}: {ok}/10 answered 200");
        Ok::<_, BoxError>(ok)
    };

    let quiet = callers("before the game day").await?;
    for (method, path) in [
        (Method::PUT, "/chaos/error_rate/1.5"),
        (Method::PUT, "/chaos/error_rate/0.5"),
        (Method::POST, "/chaos/on"),
    ] {
        let (status, body) = send(method.clone(), path).await?;
        println!("operator: {method} {path} -> {status} {body}");
    }
    let during = callers("with 50% errors injected").await?;
    println!(
        "operator: GET /chaos -> {}",
        send(Method::GET, "/chaos").await?.1
    );
    let (status, _) = send(Method::POST, "/chaos/off").await?;
    println!("operator: POST /chaos/off -> {status}");
    let after = callers("after").await?;
    if quiet != 10 || after != 10 || during == 10 {
        return Err("the switch did not do what it says".into());
    }
    Ok(())
}
