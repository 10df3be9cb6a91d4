//! Escalation: conditions held for a while become notifications to a
//! human — where automation hands over.
//!
//! A rule fires once its condition has held for `hold`, notifies again
//! every `renotify` while it holds, and resolves once the condition has
//! been false for `clear` (one notification each way): a condition that
//! flips faster than `hold` never pages, and one that dips for less than
//! `clear` does not resolve and fire again.

use crate::telemetry::Severity;
use parking_lot::Mutex;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

type Condition = Arc<dyn Fn() -> bool + Send + Sync>;
type Notifier = Arc<dyn Fn(Notification) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What the notifier is told.
///
/// ```
/// use seawall::health::escalation::{Escalation, Notification, Rule};
/// use seawall::telemetry::Severity;
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let sent: Arc<Mutex<Vec<Notification>>> = Arc::default();
/// let outbox = sent.clone();
/// let escalation = Escalation::new(move |n: Notification| {
///     outbox.lock().unwrap().push(n);
///     async {}
/// })
/// .rule(Rule::new("always", Severity::Ticket, Duration::ZERO, || true));
/// escalation.evaluate().await;
/// let n = sent.lock().unwrap()[0].clone();
/// assert!(n.firing && n.severity == Severity::Ticket);
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The rule's name ("database down for 5 minutes").
    pub rule: String,
    /// Page or ticket.
    pub severity: Severity,
    /// `true` when it fires (or re-notifies), `false` when it resolves.
    pub firing: bool,
    /// How long the condition has held (firing) or held before it cleared.
    pub held: Duration,
    /// 0 for the first notification of a firing, 1, 2, ... for reminders.
    pub reminder: u32,
}

impl Notification {
    /// As JSON, for a webhook: `{"rule", "severity", "firing", "held_secs", "reminder"}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "rule": self.rule,
            "severity": self.severity.as_str(),
            "firing": self.firing,
            "held_secs": self.held.as_secs_f64(),
            "reminder": self.reminder,
        })
        .to_string()
    }
}

/// One escalation rule: a condition, how long it must hold, who is told.
///
/// ```
/// use seawall::health::escalation::{Escalation, Rule};
/// use seawall::prelude::*;
/// use seawall::telemetry::Severity;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let database = CircuitBreaker::builder("database").build()?;
/// let db = database.clone();
/// let rule = Rule::new("database down for 5 minutes", Severity::Page, Duration::from_secs(300), move || {
///     db.state() == CircuitState::ForcedOpen
/// });
/// let escalation = Escalation::new(|n| async move { println!("page: {}", n.rule) }).rule(rule);
/// database.force_open();
/// assert_eq!(escalation.evaluate().await, 0);       // not held long enough yet
/// tokio::time::advance(Duration::from_secs(300)).await;
/// assert_eq!(escalation.evaluate().await, 1);       // fired: one notification
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Rule {
    name: String,
    severity: Severity,
    condition: Condition,
    hold: Duration,
    clear: Duration,
    renotify: Option<Duration>,
}

impl Rule {
    /// Fires once `condition` has held for `hold` ("a critical breaker open
    /// for 5 minutes": `hold` 5 min); resolves once it has been false for a
    /// minute, unless [`clear_after`](Self::clear_after) says otherwise.
    pub fn new(
        name: &str,
        severity: Severity,
        hold: Duration,
        condition: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Self {
        Self {
            name: name.to_owned(),
            severity,
            condition: Arc::new(condition),
            hold,
            clear: Duration::from_secs(60),
            renotify: None,
        }
    }

    /// How long the condition must be false before the rule resolves.
    pub fn clear_after(mut self, clear: Duration) -> Self {
        self.clear = clear;
        self
    }

    /// Notify again every `every` while it fires (default: once).
    pub fn renotify_every(mut self, every: Duration) -> Self {
        self.renotify = Some(every);
        self
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("name", &self.name)
            .field("severity", &self.severity)
            .field("hold", &self.hold)
            .finish_non_exhaustive()
    }
}

/// Where a rule is.
#[derive(Debug, Clone, Copy, Default)]
struct State {
    /// Since when the condition has held (true) or been false (while
    /// firing), as last seen.
    true_since: Option<Instant>,
    false_since: Option<Instant>,
    /// Firing: since when, the last notification, reminders sent.
    fired_at: Option<Instant>,
    last_notified: Option<Instant>,
    reminders: u32,
}

/// An escalation policy: rules checked on tokio's clock, notifications
/// sent through your async notifier (a pager, a chat, a webhook). A cheap
/// `Clone` handle.
///
/// ```
/// use seawall::health::escalation::{Escalation, Rule};
/// use seawall::prelude::*;
/// use seawall::slo::Severity;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let database = CircuitBreaker::builder("database").build()?;
/// let b = database.clone();
/// let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
/// let s = sent.clone();
/// let escalation = Escalation::new(move |n| {
///     let s = s.clone();
///     async move { s.lock().unwrap().push(n) } // post it to your pager here
/// })
/// .rule(Rule::new("database down for 5 minutes", Severity::Page, Duration::from_secs(300), move || {
///     b.state() == CircuitState::ForcedOpen || b.state() == CircuitState::Open
/// }));
/// database.force_open();
/// for _ in 0..301 {
///     escalation.evaluate().await;
///     tokio::time::advance(Duration::from_secs(1)).await;
/// }
/// assert_eq!(sent.lock().unwrap().len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Escalation {
    inner: Arc<Inner>,
}

struct Inner {
    rules: Vec<Rule>,
    states: Mutex<Vec<State>>,
    notifier: Notifier,
}

impl Escalation {
    /// A policy telling `notifier`, with no rule yet.
    pub fn new<F, Fut>(notifier: F) -> Self
    where
        F: Fn(Notification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            inner: Arc::new(Inner {
                rules: Vec::new(),
                states: Mutex::new(Vec::new()),
                notifier: Arc::new(move |n| Box::pin(notifier(n))),
            }),
        }
    }

    /// Adds a rule. (Added to a policy already shared, it makes this
    /// handle a policy of its own, its rules' states copied.)
    pub fn rule(mut self, rule: Rule) -> Self {
        if Arc::get_mut(&mut self.inner).is_none() {
            let states = self.inner.states.lock().clone();
            self.inner = Arc::new(Inner {
                rules: self.inner.rules.clone(),
                states: Mutex::new(states),
                notifier: self.inner.notifier.clone(),
            });
        }
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.rules.push(rule);
            inner.states.get_mut().push(State::default());
        }
        self
    }

    /// Checks every rule now and sends what changed; returns how many
    /// notifications went out.
    pub async fn evaluate(&self) -> usize {
        let now = Instant::now();
        let mut out = Vec::new();
        {
            let mut states = self.inner.states.lock();
            for (rule, st) in self.inner.rules.iter().zip(states.iter_mut()) {
                if let Some(n) = step(rule, st, (rule.condition)(), now) {
                    out.push(n);
                }
            }
        }
        let sent = out.len();
        for n in out {
            (self.inner.notifier)(n).await;
        }
        sent
    }

    /// Spawns a tokio task calling [`evaluate`](Self::evaluate) every
    /// `every`.
    pub fn spawn(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                this.evaluate().await;
            }
        })
    }
}

/// One rule's step at `now` with its condition `holds`: the notification
/// to send, if any.
fn step(rule: &Rule, st: &mut State, holds: bool, now: Instant) -> Option<Notification> {
    let notify = |st: &State, firing: bool, held: Duration| Notification {
        rule: rule.name.clone(),
        severity: rule.severity,
        firing,
        held,
        reminder: st.reminders,
    };
    if holds {
        st.false_since = None;
        let since = *st.true_since.get_or_insert(now);
        match st.fired_at {
            None if now - since >= rule.hold => {
                st.fired_at = Some(now);
                st.last_notified = Some(now);
                st.reminders = 0;
                Some(notify(st, true, now - since))
            }
            Some(_) => {
                let last = st.last_notified.unwrap_or(now);
                match rule.renotify {
                    Some(every) if now - last >= every => {
                        st.reminders += 1;
                        st.last_notified = Some(now);
                        Some(notify(st, true, now - since))
                    }
                    _ => None,
                }
            }
            None => None,
        }
    } else {
        match st.fired_at {
            // Not firing: the hold starts over.
            None => {
                st.true_since = None;
                None
            }
            Some(_) => {
                let off = *st.false_since.get_or_insert(now);
                if now - off < rule.clear {
                    return None;
                }
                let held = st.true_since.map_or(Duration::ZERO, |t| off - t);
                let n = notify(st, false, held);
                *st = State::default();
                Some(n)
            }
        }
    }
}

impl fmt::Debug for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Escalation")
            .field("rules", &self.inner.rules)
            .finish_non_exhaustive()
    }
}
