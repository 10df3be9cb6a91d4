//! The same SLO as Prometheus recording and alerting rules, over the
//! crate's exported counters, in the naming Prometheus's own SLO tools use
//! (`level:metric:operations`).

use super::Slo;
use std::time::Duration;

/// A window as Prometheus writes durations: `5m`, `1h`, `3d`, `90s`.
pub(crate) fn window(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The rules file: one group, a recording rule per window (the bad share
/// of calls over it) and an alerting rule per burn-rate alert.
pub(crate) fn rules(slo: &Slo) -> String {
    let name = slo.name();
    let selector = format!("{{name=\"{}\"}}", escape(name));
    let allowed = 1.0 - slo.objective() / 100.0;
    let mut windows: Vec<Duration> = slo
        .inner
        .alerts
        .iter()
        .flat_map(|a| [a.short, a.long])
        .collect();
    windows.sort();
    windows.dedup();
    let record = |w: Duration| format!("seawall_slo:error_ratio:rate{}", window(w));
    let mut rules: Vec<serde_json::Value> = windows
        .iter()
        .map(|&w| {
            let range = window(w);
            serde_json::json!({
                "record": record(w),
                "expr": format!(
                    "1 - (sum by (name) (rate(seawall_slo_good_total{selector}[{range}])) \
                     / sum by (name) (rate(seawall_slo_valid_total{selector}[{range}])))"
                ),
                "labels": { "name": name },
            })
        })
        .collect();
    for a in &slo.inner.alerts {
        let factor = a.factor(slo.period());
        let threshold = number(factor * allowed);
        let severity = a.severity.as_str();
        rules.push(serde_json::json!({
            "alert": format!("SeawallSloErrorBudgetBurn{}", capitalised(severity)),
            "expr": format!(
                "{long}{selector} > {threshold} and {short}{selector} > {threshold}",
                long = record(a.long),
                short = record(a.short),
            ),
            "labels": {
                "severity": severity,
                "name": name,
                "long_window": window(a.long),
                "short_window": window(a.short),
            },
            "annotations": {
                "summary": format!(
                    "SLO `{name}` ({}% over {}) burns its error budget at {factor:.3}x or faster over {} and {}",
                    slo.objective(),
                    window(slo.period()),
                    window(a.long),
                    window(a.short),
                ),
            },
        }));
    }
    let doc = serde_json::json!({
        "groups": [{ "name": format!("seawall-slo-{name}"), "rules": rules }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// `x` to nine decimals, without trailing zeros (0.0144, not
/// 0.014399999999998414).
fn number(x: f64) -> String {
    let s = format!("{x:.9}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
