//! Escalation to a human: a webhook server on 127.0.0.1 stands in for a
//! pager; a rule pages once the database's breaker has been open for a
//! second (five minutes in production), and tells the pager again when it
//! resolves. The notifier posts each notification as JSON.
//!
//! `cargo run --example escalation`

use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use seawall::health::escalation::{Escalation, Notification, Rule};
use seawall::prelude::*;
use seawall::slo::Severity;
use std::sync::{Arc, Mutex};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    // The "pager": prints and keeps what it is sent.
    let received = Arc::new(Mutex::new(Vec::<String>::new()));
    let r = received.clone();
    let pager = Router::new().route(
        "/hooks/pager",
        post(move |body: String| async move {
            println!("pager received: {body}");
            r.lock().unwrap().push(body);
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, pager).await });

    let database = CircuitBreaker::builder("database").build()?;
    let b = database.clone();
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let escalation = Escalation::new(move |n: Notification| {
        let client = client.clone();
        async move {
            let req = http::Request::post(format!("http://{addr}/hooks/pager"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(n.to_json())))
                .expect("a valid request");
            if let Err(e) = client.request(req).await {
                eprintln!("the pager did not answer: {e}");
            }
        }
    })
    .rule(
        Rule::new(
            "database breaker open",
            Severity::Page,
            Duration::from_secs(1),
            move || matches!(b.state(), CircuitState::Open | CircuitState::ForcedOpen),
        )
        .clear_after(Duration::from_millis(500)),
    );
    let task = escalation.spawn(Duration::from_millis(100));

    println!("the database's breaker opens...");
    database.force_open();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    println!("...and closes again");
    database.reset();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    task.abort();

    let got = received.lock().unwrap().clone();
    if got.len() != 2 || !got[0].contains("\"firing\":true") || !got[1].contains("\"firing\":false")
    {
        return Err(format!("expected a page and its resolution, got {got:?}").into());
    }
    Ok(())
}
