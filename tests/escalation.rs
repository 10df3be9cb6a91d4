//! Escalation on paused time: a rule fires once after its hold, reminds at
//! its interval, resolves once after its clear time, ignores a condition
//! flapping faster than its hold and a dip shorter than its clear time;
//! and a notifier posts JSON to a webhook server on 127.0.0.1.

use seawall::health::escalation::{Escalation, Notification, Rule};
use seawall::slo::Severity;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;

type Sent = Arc<Mutex<Vec<(u64, Notification)>>>;

/// A policy with one rule over `flag`, recording what it sends and when
/// (seconds since `start`).
fn policy(flag: &Arc<AtomicBool>, start: tokio::time::Instant) -> (Escalation, Sent) {
    let sent: Sent = Arc::default();
    let s = sent.clone();
    let f = flag.clone();
    let escalation = Escalation::new(move |n| {
        let s = s.clone();
        async move { s.lock().unwrap().push((start.elapsed().as_secs(), n)) }
    })
    .rule(
        Rule::new(
            "database down",
            Severity::Page,
            Duration::from_secs(300),
            move || f.load(Ordering::SeqCst),
        )
        .clear_after(Duration::from_secs(120))
        .renotify_every(Duration::from_secs(1800)),
    );
    (escalation, sent)
}

/// Runs `seconds` seconds, evaluating each, with the flag `script(t)` says.
async fn run(
    escalation: &Escalation,
    flag: &AtomicBool,
    start: tokio::time::Instant,
    seconds: u64,
    script: impl Fn(u64) -> bool,
) {
    for _ in 0..seconds {
        flag.store(script(start.elapsed().as_secs()), Ordering::SeqCst);
        escalation.evaluate().await;
        tokio::time::advance(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_rule_fires_once_reminds_and_resolves_once() {
    let start = tokio::time::Instant::now();
    let flag = Arc::new(AtomicBool::new(false));
    let (escalation, sent) = policy(&flag, start);
    // Down from second 100 to 2500, with a 60 s dip at 1000 (shorter than
    // the 120 s clear time), then up.
    run(&escalation, &flag, start, 3000, |t| {
        (100..2500).contains(&t) && !(1000..1060).contains(&t)
    })
    .await;
    let sent: Vec<_> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(t, n)| (*t, n.firing, n.reminder))
        .collect();
    assert_eq!(
        sent,
        [
            (400, true, 0),   // held 300 s: fires
            (2200, true, 1),  // 1800 s later: a reminder (the dip did not clear it)
            (2620, false, 1), // false for 120 s: resolves
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_flapping_condition_never_pages() {
    let start = tokio::time::Instant::now();
    let flag = Arc::new(AtomicBool::new(false));
    let (escalation, sent) = policy(&flag, start);
    // On for 200 s, off for 10 s, for an hour: never 300 s in a row.
    run(&escalation, &flag, start, 3600, |t| t % 210 < 200).await;
    assert!(sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_notifier_posts_json_to_a_webhook() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let r = received.clone();
    let addr = support::serve_on_thread(move |_| {
        let r = r.clone();
        move |req: http::Request<hyper::body::Incoming>| {
            let r = r.clone();
            async move {
                use http_body_util::BodyExt;
                let body = req.into_body().collect().await.unwrap().to_bytes();
                r.lock()
                    .unwrap()
                    .push(serde_json::from_slice::<serde_json::Value>(&body).unwrap());
                http::Response::new(http_body_util::Full::new(bytes::Bytes::new()))
            }
        }
    });
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let escalation = Escalation::new(move |n: Notification| {
        let client = client.clone();
        async move {
            let req = http::Request::post(format!("http://{addr}/hooks/pager"))
                .header("content-type", "application/json")
                .body(http_body_util::Full::new(bytes::Bytes::from(n.to_json())))
                .unwrap();
            client.request(req).await.unwrap();
        }
    })
    .rule(Rule::new(
        "always",
        Severity::Ticket,
        Duration::ZERO,
        || true,
    ));
    assert_eq!(escalation.evaluate().await, 1);
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["rule"], "always");
    assert_eq!(got[0]["severity"], "ticket");
    assert_eq!(got[0]["firing"], true);
}
