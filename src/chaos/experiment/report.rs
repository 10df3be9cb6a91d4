//! What an experiment found: a table of stretches × SLIs × bounds, the
//! events in order, and the verdict.

use super::hypothesis::{Check, Stats};
use crate::telemetry::{Event, EventKind};
use parking_lot::Mutex;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How an experiment ended (Chaos Toolkit's statuses).
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// use seawall::chaos::experiment::Status;
/// assert_eq!(report.verdict.status, Status::Completed); // not Failed, not Aborted
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Status {
    /// Every stretch kept to the hypothesis.
    Completed,
    /// A phase or the recovery broke the hypothesis.
    Failed,
    /// Stopped early: the system was not steady before any fault (nothing
    /// was injected), or a phase broke the hypothesis and the experiment
    /// aborts on a breach.
    Aborted,
}

/// The verdict: the status, and whether the system deviated from its
/// steady state under the faults.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// let verdict = &report.verdict;
/// assert_eq!(verdict.status, seawall::chaos::experiment::Status::Completed);
/// assert!(verdict.passed() && !verdict.deviated);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Verdict {
    /// How it ended.
    pub status: Status,
    /// Whether a bound broke once the faults began.
    pub deviated: bool,
}

impl Verdict {
    /// Whether the hypothesis held throughout.
    pub fn passed(&self) -> bool {
        self.status == Status::Completed
    }
}

/// What a stretch of the experiment was.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// use seawall::chaos::experiment::StretchKind;
/// assert_eq!(report.stretches[0].kind, StretchKind::Before);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum StretchKind {
    /// The steady-state probe before any fault.
    Before,
    /// A phase of the method.
    Phase,
    /// The steady-state probe after the faults (recovery).
    After,
}

/// One stretch of the experiment and how it did.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// let before = report.stretch("steady state (before)").expect("before the faults");
/// assert!(before.passed());
/// assert_eq!(before.duration, Duration::from_secs(10));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Stretch {
    /// Its name (`steady state (before)`, a phase's name, ...).
    pub name: String,
    /// What it was.
    pub kind: StretchKind,
    /// When it began, from the experiment's start.
    pub start: Duration,
    /// How long it ran.
    pub duration: Duration,
    /// What callers saw.
    pub stats: Stats,
    /// The hypothesis, bound by bound.
    pub checks: Vec<Check>,
}

impl Stretch {
    /// Whether every bound held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }
}

/// One request as the experiment saw it.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// let first = &report.samples[0];          // one per request: when, how long, served or not
/// assert!(first.served);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sample {
    /// When it was sent, from the experiment's start.
    pub at: Duration,
    /// How long it took.
    pub latency: Duration,
    /// Whether it was served.
    pub served: bool,
}

/// An event of a seawall instance, on the experiment's timeline.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// // Events of watched instances (through a `Timeline`) mark the report.
/// for mark in &report.marks {
///     println!("{:?} {}: {}", mark.at, mark.source, mark.what);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Mark {
    /// When, from the experiment's start.
    pub at: Duration,
    /// The instance: `circuit_breaker inventory`.
    pub source: String,
    /// What happened: `Closed -> Open`, `BlastRadiusReached`, ...
    pub what: String,
    /// For a breaker's transition, the state it entered.
    pub breaker_state: Option<String>,
}

/// Collects the events of the seawall instances an experiment watches:
/// pass [`listener`](Timeline::listener) to their builders' `on_event`,
/// and the timeline to [`ExperimentBuilder::timeline`](super::ExperimentBuilder::timeline).
///
/// ```
/// use seawall::chaos::experiment::Timeline;
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let timeline = Timeline::new();
/// // Its listener puts the breaker's transitions on the experiment's report.
/// let breaker = CircuitBreaker::builder("inventory").on_event(timeline.listener()).build()?;
/// # let _ = breaker; Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Timeline {
    events: Arc<Mutex<Vec<(Instant, Event)>>>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// A listener for a builder's `on_event`: stamps each event with
    /// tokio's clock (the experiment's) as it arrives.
    pub fn listener(&self) -> impl Fn(&Event) + Send + Sync + 'static {
        let events = self.events.clone();
        move |e: &Event| events.lock().push((Instant::now(), e.clone()))
    }

    /// The events from `start` on, as marks.
    pub(super) fn marks(&self, start: Instant) -> Vec<Mark> {
        self.events
            .lock()
            .iter()
            .filter(|(at, _)| *at >= start)
            .filter_map(|(at, e)| {
                let (what, state) = match &e.kind {
                    EventKind::StateTransition { from, to } => {
                        (format!("{from:?} -> {to:?}"), Some(format!("{to:?}")))
                    }
                    // Per-call events would drown the timeline.
                    EventKind::Success { .. }
                    | EventKind::Error { .. }
                    | EventKind::Ignored
                    | EventKind::SlowCall { .. }
                    | EventKind::CallPermitted { .. }
                    | EventKind::CallFinished
                    | EventKind::CallRejected { .. }
                    | EventKind::FaultInjected { .. }
                    | EventKind::RetryScheduled { .. } => return None,
                    other => (variant_name(other), None),
                };
                Some(Mark {
                    at: *at - start,
                    source: format!("{} {}", e.pattern.as_str(), e.name),
                    what,
                    breaker_state: state,
                })
            })
            .collect()
    }
}

/// `BlastRadiusReached { reason: .. }` → `BlastRadiusReached`.
fn variant_name(kind: &EventKind) -> String {
    let text = format!("{kind:?}");
    let end = text.find([' ', '{', '(']).unwrap_or(text.len());
    text[..end].to_owned()
}

impl fmt::Debug for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timeline({} events)", self.events.lock().len())
    }
}

/// An experiment's report: the verdict, each stretch's SLIs against the
/// hypothesis, every request and the watched instances' events in order.
/// `Display` prints it for a terminal; with feature `serde` it serializes
/// (to JSON for a CI artifact); with feature `chart`, [`svg`](Report::svg)
/// draws it.
///
/// ```
/// # use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// # use seawall::prelude::*;
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// # let system = tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) });
/// # let experiment = Experiment::builder("the service answers")
/// #     .hypothesis(Hypothesis::new().availability_at_least(99.0))
/// #     .steady_state(Duration::from_secs(10), Load::per_second(10))
/// #     .phase(Phase::new("a quiet minute", Duration::from_secs(60), Load::per_second(10)))
/// #     .build()?;
/// # let report = experiment.run(system, |n| n).await;
/// println!("{report}");                     // the text report; .to_json(), .svg() too
/// assert!(report.verdict.passed());
/// assert_eq!(report.title, "the service answers");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Report {
    /// The experiment's title.
    pub title: String,
    /// How it ended.
    pub verdict: Verdict,
    /// Its stretches, in order (those run).
    pub stretches: Vec<Stretch>,
    /// The events of the watched instances, in order.
    pub marks: Vec<Mark>,
    /// Every request, in the order sent.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub samples: Vec<Sample>,
    /// The rollbacks run at the end (their number).
    pub rollbacks_run: usize,
}

impl Report {
    /// The first stretch that broke the hypothesis, and its failed checks.
    pub fn first_breach(&self) -> Option<(&Stretch, Vec<&Check>)> {
        self.stretches.iter().find(|s| !s.passed()).map(|s| {
            let failed = s.checks.iter().filter(|c| !c.passed).collect();
            (s, failed)
        })
    }

    /// The stretch named `name`.
    pub fn stretch(&self, name: &str) -> Option<&Stretch> {
        self.stretches.iter().find(|s| s.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "experiment: {}", self.title)?;
        writeln!(
            f,
            "{:<28} {:>8}  {:<18} {:<10} {:>14}",
            "stretch", "requests", "sli", "bound", "observed"
        )?;
        for s in &self.stretches {
            for (i, c) in s.checks.iter().enumerate() {
                let (name, requests) = if i == 0 {
                    (s.name.as_str(), s.stats.requests.to_string())
                } else {
                    ("", String::new())
                };
                writeln!(
                    f,
                    "{:<28} {:>8}  {:<18} {:<10} {:>14}  {}",
                    name,
                    requests,
                    c.sli,
                    c.bound,
                    c.observed,
                    if c.passed { "pass" } else { "FAIL" }
                )?;
            }
        }
        if !self.marks.is_empty() {
            writeln!(f, "events:")?;
            // A flapping breaker makes hundreds: the first ones and a count
            // (all are in `marks`, the JSON and the chart).
            const SHOWN: usize = 16;
            for m in self.marks.iter().take(SHOWN) {
                writeln!(
                    f,
                    "  {:>9.3}s  {}: {}",
                    m.at.as_secs_f64(),
                    m.source,
                    m.what
                )?;
            }
            if self.marks.len() > SHOWN {
                writeln!(f, "  ... and {} more", self.marks.len() - SHOWN)?;
            }
        }
        let deviated = if self.verdict.deviated {
            " (deviated)"
        } else {
            ""
        };
        write!(f, "verdict: {:?}{deviated}", self.verdict.status)?;
        if let Some((s, failed)) = self.first_breach() {
            let what: Vec<_> = failed
                .iter()
                .map(|c| format!("{} {} (observed {})", c.sli, c.bound, c.observed))
                .collect();
            write!(f, "; first broken in `{}`: {}", s.name, what.join(", "))?;
        }
        Ok(())
    }
}
