//! The Prometheus rules an SLO writes: they pass `promtool check rules`
//! (when promtool is installed; CI installs it and fails without it), they
//! read only metrics of the guide's catalogue (`seawall::guide::sre`), and their thresholds are
//! the alerts' burn rates times the allowed error share.

use seawall::slo::{BurnAlert, Slo};

#[test]
fn the_rules_pass_promtool_and_use_catalogued_metrics() {
    let slo = Slo::builder("checkout")
        .objective(99.9)
        .alerts(
            BurnAlert::workbook()
                .into_iter()
                .chain([BurnAlert::sloth_ticket()]),
        )
        .build()
        .unwrap();
    let rules = slo.prometheus_rules();
    let doc: serde_json::Value = serde_json::from_str(&rules).unwrap();
    let rules_list = doc["groups"][0]["rules"].as_array().unwrap();
    let alerts: Vec<_> = rules_list
        .iter()
        .filter(|r| r.get("alert").is_some())
        .collect();
    assert_eq!(alerts.len(), 4);
    // 14.4 × 0.1 %: the first page's threshold.
    let first = alerts[0]["expr"].as_str().unwrap();
    assert!(
        first.contains("rate1h{name=\"checkout\"} > 0.0144"),
        "{first}"
    );
    assert!(
        first.contains("rate5m{name=\"checkout\"} > 0.0144"),
        "{first}"
    );
    assert_eq!(alerts[0]["labels"]["severity"], "page");
    assert_eq!(alerts[3]["labels"]["severity"], "ticket");

    // Every metric the rules read is in the guide's catalogue.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/guide/sre.md")).unwrap();
    for metric in ["seawall_slo_good_total", "seawall_slo_valid_total"] {
        assert!(rules.contains(metric));
        assert!(
            readme.contains(&format!("| `{metric}` |")),
            "{metric} not in the catalogue"
        );
    }

    let path = std::env::temp_dir().join(format!("seawall-slo-rules-{}.json", std::process::id()));
    std::fs::write(&path, &rules).unwrap();
    match std::process::Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(&path)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool rejected the rules:\n{}\n{}\n{rules}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("promtool is needed in CI (apt-get install prometheus): {e}")
        }
        Err(e) => eprintln!(
            "SKIPPED: promtool check rules — promtool not found ({e}); install the `prometheus` package to run it"
        ),
    }
    let _ = std::fs::remove_file(path);
}
