//! The demo's SLO summary: one SLO per client (99.9 % of requests
//! answered), alerts it would have fired, and the readiness the seawall
//! client's health registry reported at the end of each phase.

use seawall::health::{HealthRegistry, HealthReport};
use seawall::prelude::*;
use seawall::slo::{Severity, Slo};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// The alerts an SLO fired, as text.
pub type Fired = Arc<Mutex<Vec<String>>>;

/// An SLO for one client, and the alerts it fires.
pub fn slo(name: &str) -> Result<(Slo, Fired), ConfigError> {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let f = fired.clone();
    let slo = Slo::builder(name)
        .objective(99.9)
        .on_event(move |e| {
            if let EventKind::SloAlert {
                severity,
                burn_rate,
                long_window,
                firing: true,
                ..
            } = e.kind
            {
                let who = if severity == Severity::Page {
                    "page"
                } else {
                    "ticket"
                };
                f.lock().unwrap().push(format!(
                    "{who} ({:.0}x over {}h)",
                    burn_rate,
                    long_window.as_secs() / 3600
                ));
            }
        })
        .build()?;
    Ok((slo, fired))
}

/// At the end of each phase: the SLOs evaluated, the registry's report.
pub async fn readiness_by_phase(
    started: Instant,
    phase: Duration,
    phases: &[&str],
    slos: Vec<Slo>,
    health: HealthRegistry,
) -> Vec<(String, HealthReport)> {
    let mut out = Vec::new();
    for (i, name) in phases.iter().enumerate() {
        tokio::time::sleep_until(started + phase * (i as u32 + 1) - Duration::from_millis(50))
            .await;
        for slo in &slos {
            slo.evaluate();
        }
        out.push((name.to_string(), health.report().await));
    }
    out
}

/// Prints the SLOs side by side and the readiness per phase.
pub fn print(clients: [(&Slo, &Fired); 2], readiness: &[(String, HealthReport)]) {
    println!("\nSLO: 99.9 % of requests answered (30-day period), over the run:");
    println!(
        "{:<38} {:>14} {:>22}",
        "", "bare client", "seawall http_client"
    );
    println!("{}", "-".repeat(76));
    let cell = |f: &dyn Fn(&Slo, &Fired) -> String| {
        (f(clients[0].0, clients[0].1), f(clients[1].0, clients[1].1))
    };
    let rows: [(&str, (String, String)); 4] = [
        (
            "SLI (share answered)",
            cell(&|s, _| format!("{:.2}%", s.sli(s.period()).unwrap_or(100.0))),
        ),
        (
            "error budget spent",
            cell(&|s, _| {
                let b = s.budget();
                format!("{:.0}%", 100.0 - b.remaining_percent)
            }),
        ),
        (
            "burn rate, last 5 min",
            cell(&|s, _| format!("{:.1}x", s.burn_rate(Duration::from_secs(300)))),
        ),
        (
            "burn-rate alerts fired",
            cell(&|_, f| {
                let f = f.lock().unwrap();
                let pages = f.iter().filter(|a| a.starts_with("page")).count();
                match (pages, f.len() - pages) {
                    (0, 0) => "none".into(),
                    (p, t) => format!("{p} page, {t} ticket"),
                }
            }),
        ),
    ];
    for (label, (left, right)) in rows {
        println!("{label:<38} {left:>14} {right:>22}");
    }
    for (slo, fired) in clients {
        for alert in fired.lock().unwrap().iter() {
            println!("  {}: {alert}", slo.name());
        }
    }
    println!(
        "\nReadiness the seawall client's health registry reported, at the end of each phase:"
    );
    for (phase, r) in readiness {
        let why: Vec<_> = r
            .components
            .iter()
            .filter(|c| c.state != seawall::health::HealthState::Up)
            .map(|c| format!("{}: {}", c.name, c.reason))
            .collect();
        println!(
            "  {:<16} {:<9} {:<9} {}",
            phase,
            if r.ready { "ready" } else { "NOT ready" },
            r.status.as_str(),
            why.join("; ")
        );
    }
}
