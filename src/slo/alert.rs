//! Multi-window, multi-burn-rate alerts (the SRE workbook, "Alerting on
//! SLOs"): an alert fires when the error budget burns faster than its
//! factor over both a long and a short window, and resolves when the short
//! window falls back.
//!
//! ```text
//! burn rate over w = (bad / valid over w) / (1 − objective)
//! factor           = budget share × period / long window     (2 % of 30 days in 1 h: 14.4)
//! fires            ⇔ burn(long) ≥ factor ∧ burn(short) ≥ factor
//! resolves         ⇔ burn(short) < factor
//! ```

use crate::error::ConfigError;
pub use crate::telemetry::Severity;
use std::sync::Arc;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

/// One burn-rate alert: who is told (`severity`), and how much of the
/// period's budget (`budget_share`) spent within `long` makes it fire,
/// confirmed over `short`.
///
/// ```
/// use seawall::slo::BurnAlert;
/// use seawall::telemetry::Severity;
/// use std::time::Duration;
///
/// // The SRE workbook's first page: 2% of a 30-day budget in an hour,
/// // confirmed over the last 5 minutes.
/// let page = &BurnAlert::workbook()[0];
/// assert_eq!(page.severity, Severity::Page);
/// assert_eq!((page.long, page.short), (Duration::from_secs(3600), Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurnAlert {
    /// Page or ticket.
    pub severity: Severity,
    /// The share of the period's error budget (0.02: 2 %) whose spending
    /// within `long` fires the alert.
    pub budget_share: f64,
    /// The long window.
    pub long: Duration,
    /// The short window (a twelfth of the long one in the workbook), which
    /// makes the alert resolve soon after the burning stops.
    pub short: Duration,
}

impl BurnAlert {
    /// An alert spending `budget_share` of the budget within `long`,
    /// confirmed over `short`.
    pub fn new(severity: Severity, budget_share: f64, long: Duration, short: Duration) -> Self {
        Self {
            severity,
            budget_share,
            long,
            short,
        }
    }

    /// The SRE workbook's table: page at 2 % of the budget in 1 h (5 min
    /// short window), page at 5 % in 6 h (30 min), ticket at 10 % in 3 days
    /// (6 h). Over 30 days: burn rates 14.4, 6 and 1; over 28 days: 13.44,
    /// 5.6 and 0.933.
    pub fn workbook() -> Vec<BurnAlert> {
        vec![
            BurnAlert::new(Severity::Page, 0.02, HOUR, 5 * MINUTE),
            BurnAlert::new(Severity::Page, 0.05, 6 * HOUR, 30 * MINUTE),
            BurnAlert::new(Severity::Ticket, 0.10, 72 * HOUR, 6 * HOUR),
        ]
    }

    /// Sloth's extra ticket: 10 % of the budget in 1 day (2 h short
    /// window; burn rate 3 over 30 days).
    pub fn sloth_ticket() -> BurnAlert {
        BurnAlert::new(Severity::Ticket, 0.10, 24 * HOUR, 2 * HOUR)
    }

    /// The burn rate that fires it over a `period`: budget share × period /
    /// long window.
    pub fn factor(&self, period: Duration) -> f64 {
        self.budget_share * period.as_secs_f64() / self.long.as_secs_f64()
    }

    pub(crate) fn validate(&self, name: &Arc<str>, period: Duration) -> Result<(), ConfigError> {
        let bad = |msg: String| Err(ConfigError::new(name, "alerts", msg));
        if self.short.is_zero() || self.long.is_zero() {
            return bad(format!("a window is zero: {self:?}"));
        }
        if self.short > self.long {
            return bad(format!(
                "the short window {:?} is longer than the long window {:?}",
                self.short, self.long
            ));
        }
        if self.long > period {
            return bad(format!(
                "the long window {:?} is longer than the period {period:?}",
                self.long
            ));
        }
        if self.short < Duration::from_secs(1) {
            return bad(format!(
                "windows are counted in whole seconds, got {:?}",
                self.short
            ));
        }
        if !(self.budget_share > 0.0 && self.budget_share <= 1.0) {
            return bad(format!(
                "budget_share must be in (0, 1], got {}",
                self.budget_share
            ));
        }
        Ok(())
    }
}

/// An alert and whether it fires now.
///
/// ```
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let slo = Slo::builder("checkout").objective(99.9).build()?;
/// for _ in 0..100 {
///     slo.record(Outcome::Failure, Duration::ZERO); // everything fails
/// }
/// let states = slo.evaluate();
/// assert!(states.iter().any(|s| s.firing));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertState {
    /// The alert.
    pub alert: BurnAlert,
    /// The burn rate that fires it over the SLO's period.
    pub factor: f64,
    /// The burn rates now: over the long window and the short one.
    pub burn_rates: (f64, f64),
    /// Whether it fires.
    pub firing: bool,
}
