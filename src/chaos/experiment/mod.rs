//! Hypothesis-driven chaos experiments on Chaos Toolkit's model, in a
//! `#[tokio::test]`: a **steady-state hypothesis** stated as SLI bounds, a
//! **method** of phases (each a duration, a load and the faults switched on
//! for it), **rollbacks** run at the end whatever happened, and a
//! **verdict** — the hypothesis checked before the faults, during every
//! phase and after recovery.
//!
//! ```
//! use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
//! use seawall::chaos::{Chaos, FaultKind};
//! use seawall::prelude::*;
//! use tower::{service_fn, Layer};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), BoxError> {
//! let chaos = Chaos::builder("dependency").enabled(false).seed(1).build()?;
//! let dependency = chaos.layer().layer(service_fn(|n: u64| async move { Ok::<_, BoxError>(n) }));
//! // The system under test: a retry in front of the flaky dependency.
//! let system = Retry::builder("client").max_attempts(4).build()?.layer().layer(dependency);
//!
//! let (on, off) = (chaos.clone(), chaos.clone());
//! let experiment = Experiment::builder("the retry hides 20% errors")
//!     .hypothesis(Hypothesis::new().availability_at_least(99.0))
//!     .steady_state(Duration::from_secs(10), Load::per_second(50))
//!     .phase(
//!         Phase::new("20% errors", Duration::from_secs(60), Load::per_second(50))
//!             .on_start(move || {
//!                 on.set_rate(FaultKind::Error, 0.2).unwrap();
//!                 on.enable();
//!             })
//!             .on_end(move || off.disable()),
//!     )
//!     .build()?;
//! // 80 s of load on paused time: done at once.
//! let report = experiment.run(system, |n| n).await;
//! assert!(report.verdict.passed(), "{report}");
//! # Ok(()) }
//! ```
//!
//! The experiment drives any `tower::Service` (a client stack in front of a
//! real server, or a server's own stack) and records each request's
//! outcome, latency and seawall rejection kind; hand it a [`Timeline`] and
//! the events of the instances you watch (breaker transitions,
//! degradations, budget exhaustion) go on the report's timeline. On paused
//! tokio time it is deterministic and fast; on real time it runs against
//! real servers as long as its phases say.

#[cfg(feature = "chart")]
mod chart;
mod hypothesis;
mod report;

pub use self::hypothesis::{Check, Hypothesis, Stats};
pub use self::report::{Mark, Report, Sample, Status, Stretch, StretchKind, Timeline, Verdict};

use crate::error::{rejection, ConfigError};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::{BoxError, Service};

type Hook = Arc<dyn Fn() + Send + Sync>;

/// What an experiment can drive: any tower service that is `Clone + Send
/// + 'static`, with `Send` futures and responses (implemented for all).
///
/// ```
/// use seawall::chaos::experiment::Target;
///
/// // Any `Clone + Send` tower service is a target.
/// fn drivable<T: Target<u64>>(_: &T) {}
/// drivable(&tower::service_fn(|n: u64| async move { Ok::<_, seawall::BoxError>(n) }));
/// ```
pub trait Target<Req>:
    Service<Req, Response: Send + 'static, Error: Into<BoxError>, Future: Send> + Clone + Send + 'static
{
}

impl<S, Req> Target<Req> for S where
    S: Service<Req, Response: Send + 'static, Error: Into<BoxError>, Future: Send>
        + Clone
        + Send
        + 'static
{
}

/// Makes request `n`.
trait MakeRequest<Req>: Fn(u64) -> Req + Send + Sync + 'static {}
impl<Req, F: Fn(u64) -> Req + Send + Sync + 'static> MakeRequest<Req> for F {}

/// Says whether a result was served.
trait Judge<Res>: Fn(&Result<Res, BoxError>) -> bool + Send + Sync + 'static {}
impl<Res, F: Fn(&Result<Res, BoxError>) -> bool + Send + Sync + 'static> Judge<Res> for F {}

/// How much load a stretch offers.
///
/// ```
/// use seawall::chaos::experiment::Load;
///
/// let open_loop = Load::per_second(200);   // arrivals whatever the answers (real callers)
/// let closed_loop = Load::workers(16);     // each worker waits for its answer
/// assert_ne!(open_loop, closed_loop);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    /// Open loop: this many requests each second, sent whether or not
    /// earlier ones have answered (how real callers arrive).
    PerSecond(u32),
    /// Closed loop: this many workers, each sending its next request when
    /// its last one answered (at most one a millisecond each).
    Workers(u32),
}

impl Load {
    /// [`Load::PerSecond`].
    pub fn per_second(n: u32) -> Self {
        Load::PerSecond(n)
    }

    /// [`Load::Workers`].
    pub fn workers(n: u32) -> Self {
        Load::Workers(n)
    }
}

/// One phase of an experiment's method: a duration, a load, and the
/// faults switched on for it (`on_start`) and off after it (`on_end`).
///
/// ```
/// use seawall::chaos::experiment::{Load, Phase};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let chaos = Chaos::builder("inventory").enabled(false).build()?;
/// let (on, off) = (chaos.clone(), chaos.clone());
/// let phase = Phase::new("inventory down", Duration::from_secs(60), Load::workers(8))
///     .on_start(move || on.enable())
///     .on_end(move || off.disable());
/// # let _ = phase; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Phase {
    name: String,
    duration: Duration,
    load: Load,
    on_start: Option<Hook>,
    on_end: Option<Hook>,
}

impl Phase {
    /// A phase named `name` running `duration` under `load`.
    pub fn new(name: &str, duration: Duration, load: Load) -> Self {
        Self {
            name: name.to_owned(),
            duration,
            load,
            on_start: None,
            on_end: None,
        }
    }

    /// Run when the phase begins: switch its faults on.
    pub fn on_start(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_start = Some(Arc::new(f));
        self
    }

    /// Run when the phase ends: switch its faults off.
    pub fn on_end(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_end = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Phase")
            .field("name", &self.name)
            .field("duration", &self.duration)
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

/// A chaos experiment; build it with [`Experiment::builder`], run it with
/// [`run`](Experiment::run).
///
/// ```
/// use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// use seawall::chaos::FaultKind;
/// use seawall::prelude::*;
/// use tower::Layer;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), BoxError> {
/// let chaos = Chaos::builder("dependency").seed(3).build()?;
/// let system = chaos.layer().layer(tower::service_fn(|n: u64| async move { Ok::<_, BoxError>(n) }));
/// let on = chaos.clone();
/// let report = Experiment::builder("a bare client does not hide errors")
///     .hypothesis(Hypothesis::new().availability_at_least(99.0))
///     .steady_state(Duration::from_secs(5), Load::per_second(20))
///     .phase(Phase::new("50% errors", Duration::from_secs(10), Load::per_second(20))
///         .on_start(move || on.set_rate(FaultKind::Error, 0.5).unwrap()))
///     .rollback(move || chaos.disable())
///     .build()?
///     .run(system, |n| n)
///     .await;
/// assert!(!report.verdict.passed());            // as it should: nothing in front of the faults
/// assert_eq!(report.first_breach().unwrap().0.name, "50% errors");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Experiment {
    title: String,
    hypothesis: Hypothesis,
    steady: Option<(Duration, Load)>,
    phases: Vec<Phase>,
    rollbacks: Vec<Hook>,
    run_rollbacks: bool,
    abort_on_breach: bool,
    drain: Duration,
    timeline: Option<Timeline>,
}

/// Builds an [`Experiment`].
///
/// ```
/// use seawall::chaos::experiment::{Experiment, Hypothesis, Load, Phase};
/// use seawall::prelude::*;
///
/// # fn main() -> Result<(), ConfigError> {
/// let experiment = Experiment::builder("checkout survives a slow inventory")
///     .hypothesis(Hypothesis::new().availability_at_least(99.5).latency_at_most(0.99, Duration::from_millis(800)))
///     .steady_state(Duration::from_secs(30), Load::per_second(50))
///     .phase(Phase::new("inventory +500 ms", Duration::from_secs(60), Load::per_second(50)))
///     .abort_on_breach(true)                     // stop the method at the first breach
///     .build()?;
/// # let _ = experiment; Ok(()) }
/// ```
#[must_use]
pub struct ExperimentBuilder {
    experiment: Experiment,
}

impl Experiment {
    /// A builder for an experiment titled `title`.
    pub fn builder(title: &str) -> ExperimentBuilder {
        ExperimentBuilder {
            experiment: Experiment {
                title: title.to_owned(),
                hypothesis: Hypothesis::new(),
                steady: None,
                phases: Vec::new(),
                rollbacks: Vec::new(),
                run_rollbacks: true,
                abort_on_breach: false,
                drain: Duration::from_secs(30),
                timeline: None,
            },
        }
    }
}

impl ExperimentBuilder {
    /// The steady-state hypothesis (at least one bound).
    pub fn hypothesis(mut self, h: Hypothesis) -> Self {
        self.experiment.hypothesis = h;
        self
    }

    /// Probe the steady state for `duration` under `load` before the first
    /// phase (the system must be steady to begin with) and after the last
    /// (it must recover). Without it only the phases are judged.
    pub fn steady_state(mut self, duration: Duration, load: Load) -> Self {
        self.experiment.steady = Some((duration, load));
        self
    }

    /// Adds a phase to the method, run in the order added.
    pub fn phase(mut self, phase: Phase) -> Self {
        self.experiment.phases.push(phase);
        self
    }

    /// Adds a rollback, run at the end whatever happened (in the order
    /// added), unless [`rollbacks`](Self::rollbacks) says not to.
    pub fn rollback(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.experiment.rollbacks.push(Arc::new(f));
        self
    }

    /// Whether to run the rollbacks (default: yes).
    pub fn rollbacks(mut self, run: bool) -> Self {
        self.experiment.run_rollbacks = run;
        self
    }

    /// Stop at once when a phase breaks the hypothesis: the phase is then
    /// judged every second on its requests so far, and ends at the first
    /// second that breaks it (default: run every phase whole and report
    /// all).
    pub fn abort_on_breach(mut self, yes: bool) -> Self {
        self.experiment.abort_on_breach = yes;
        self
    }

    /// How long, after a stretch's load stops, its requests still running
    /// may take before they are judged `unfinished` (default: 30 s).
    pub fn drain(mut self, d: Duration) -> Self {
        self.experiment.drain = d;
        self
    }

    /// Put the events this timeline collects on the report.
    pub fn timeline(mut self, timeline: &Timeline) -> Self {
        self.experiment.timeline = Some(timeline.clone());
        self
    }

    /// Validates and builds.
    pub fn build(self) -> Result<Experiment, ConfigError> {
        let e = self.experiment;
        let name: Arc<str> = Arc::from(e.title.as_str());
        e.hypothesis.validate(&name)?;
        if e.phases.is_empty() {
            return Err(ConfigError::new(&name, "phases", "the method has no phase"));
        }
        let stretches = e
            .phases
            .iter()
            .map(|p| (p.name.as_str(), p.duration, p.load))
            .chain(e.steady.map(|(d, l)| ("steady state", d, l)));
        for (which, duration, load) in stretches {
            if duration.is_zero() {
                return Err(ConfigError::new(
                    &name,
                    "duration",
                    format!("`{which}` lasts zero time"),
                ));
            }
            if matches!(load, Load::PerSecond(0) | Load::Workers(0)) {
                return Err(ConfigError::new(
                    &name,
                    "load",
                    format!("`{which}` offers no load"),
                ));
            }
        }
        Ok(e)
    }
}

/// One request's record: start, latency, and why it was not served.
type Record = (Duration, Duration, Option<String>);

impl Experiment {
    /// Runs the experiment against `system`, request `n` being
    /// `request(n)`; a request is served when it returns `Ok`.
    pub async fn run<S, Req>(
        &self,
        system: S,
        request: impl Fn(u64) -> Req + Send + Sync + 'static,
    ) -> Report
    where
        S: Target<Req>,
        Req: Send + 'static,
    {
        self.run_judged(system, request, |r: &Result<S::Response, BoxError>| {
            r.is_ok()
        })
        .await
    }

    /// [`run`](Self::run), with `served` saying which results count as
    /// served (an HTTP 503 is `Ok` to tower, a failure to a caller).
    pub async fn run_judged<S, Req>(
        &self,
        system: S,
        request: impl Fn(u64) -> Req + Send + Sync + 'static,
        served: impl Fn(&Result<S::Response, BoxError>) -> bool + Send + Sync + 'static,
    ) -> Report
    where
        S: Target<Req>,
        Req: Send + 'static,
    {
        let driver = Driver {
            system,
            request: Arc::new(request),
            served: Arc::new(served),
            start: Instant::now(),
            drain: self.drain,
            sent: 0,
        };
        self.method(driver).await
    }

    async fn method<S, Req, R, J>(&self, mut driver: Driver<S, R, J>) -> Report
    where
        S: Target<Req>,
        Req: Send + 'static,
        R: MakeRequest<Req>,
        J: Judge<S::Response>,
    {
        let mut stretches = Vec::new();
        let mut samples = Vec::new();
        let mut verdict = Verdict {
            status: Status::Completed,
            deviated: false,
        };
        let mut plan: Vec<(String, StretchKind, Duration, Load, Option<&Phase>)> = Vec::new();
        if let Some((d, l)) = self.steady {
            plan.push((
                "steady state (before)".into(),
                StretchKind::Before,
                d,
                l,
                None,
            ));
        }
        for p in &self.phases {
            plan.push((
                p.name.clone(),
                StretchKind::Phase,
                p.duration,
                p.load,
                Some(p),
            ));
        }
        if let Some((d, l)) = self.steady {
            plan.push((
                "steady state (after)".into(),
                StretchKind::After,
                d,
                l,
                None,
            ));
        }
        for (name, kind, duration, load, phase) in plan {
            if let Some(f) = phase.and_then(|p| p.on_start.as_ref()) {
                f();
            }
            let start = driver.start.elapsed();
            let records = if self.abort_on_breach && kind == StretchKind::Phase {
                self.drive_watching(&mut driver, duration, load).await
            } else {
                driver.drive(duration, load).await
            };
            if let Some(f) = phase.and_then(|p| p.on_end.as_ref()) {
                f();
            }
            let duration = duration.min(driver.start.elapsed().saturating_sub(start));
            let stats = stats_of(&records);
            samples.extend(records.iter().map(|(at, latency, why)| Sample {
                at: *at,
                latency: *latency,
                served: why.is_none(),
            }));
            let checks = self.hypothesis.judge(&stats);
            let stretch = Stretch {
                name,
                kind,
                start,
                duration,
                stats,
                checks,
            };
            let broke = !stretch.passed();
            stretches.push(stretch);
            if broke {
                match kind {
                    // Not steady to begin with: no fault is injected.
                    StretchKind::Before => {
                        verdict.status = Status::Aborted;
                        break;
                    }
                    _ => {
                        verdict.deviated = true;
                        verdict.status = Status::Failed;
                        if self.abort_on_breach && kind == StretchKind::Phase {
                            verdict.status = Status::Aborted;
                            break;
                        }
                    }
                }
            }
        }
        let mut rollbacks_run = 0;
        // (`duration` of a stretch cut short by a breach is what it ran.)
        if self.run_rollbacks {
            for r in &self.rollbacks {
                r();
                rollbacks_run += 1;
            }
        }
        let marks = self
            .timeline
            .as_ref()
            .map(|t| t.marks(driver.start))
            .unwrap_or_default();
        Report {
            title: self.title.clone(),
            verdict,
            stretches,
            marks,
            samples,
            rollbacks_run,
        }
    }
}

impl Experiment {
    /// A phase of an experiment that aborts on a breach: driven a second
    /// at a time and judged after each, so it stops at the first second
    /// that leaves its requests so far outside the hypothesis.
    async fn drive_watching<S, Req, R, J>(
        &self,
        driver: &mut Driver<S, R, J>,
        duration: Duration,
        load: Load,
    ) -> Vec<Record>
    where
        S: Target<Req>,
        Req: Send + 'static,
        R: MakeRequest<Req>,
        J: Judge<S::Response>,
    {
        const CHECK_EVERY: Duration = Duration::from_secs(1);
        let mut records = Vec::new();
        let mut left = duration;
        while !left.is_zero() {
            let chunk = left.min(CHECK_EVERY);
            records.append(&mut driver.drive(chunk, load).await);
            left -= chunk;
            if self
                .hypothesis
                .judge(&stats_of(&records))
                .iter()
                .any(|c| !c.passed)
            {
                break;
            }
        }
        records
    }
}

/// Sends the load and records what came back.
struct Driver<S, R, J> {
    system: S,
    request: Arc<R>,
    served: Arc<J>,
    start: Instant,
    drain: Duration,
    /// Requests sent so far (request `n`'s number).
    sent: u64,
}

impl<S, R, J> Driver<S, R, J> {
    /// Offers `load` for `duration`, then waits (up to the drain) for what
    /// is still running; the records in the order sent.
    async fn drive<Req>(&mut self, duration: Duration, load: Load) -> Vec<Record>
    where
        S: Target<Req>,
        Req: Send + 'static,
        R: MakeRequest<Req>,
        J: Judge<S::Response>,
    {
        let until = Instant::now() + duration;
        let mut tasks: JoinSet<Vec<Record>> = JoinSet::new();
        match load {
            Load::PerSecond(rate) => {
                let every = Duration::from_secs(1) / rate;
                let mut ticks = tokio::time::interval(every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                loop {
                    let tick = ticks.tick().await;
                    if tick >= until {
                        break;
                    }
                    let one = self.one();
                    tasks.spawn(async move { vec![one.await] });
                }
            }
            Load::Workers(n) => {
                for _ in 0..n {
                    let (system, request, served, start) = (
                        self.system.clone(),
                        self.request.clone(),
                        self.served.clone(),
                        self.start,
                    );
                    let first = self.sent;
                    // Each worker numbers its requests apart from the others.
                    self.sent += 1 << 32;
                    tasks.spawn(async move {
                        let mut out = Vec::new();
                        let mut n = first;
                        while Instant::now() < until {
                            let sent = Instant::now();
                            out.push(call(system.clone(), request(n), &*served, start).await);
                            n += 1;
                            // At most one request a millisecond per worker:
                            // a system answering at once on paused time still
                            // lets the clock move.
                            tokio::time::sleep_until(sent + Duration::from_millis(1)).await;
                        }
                        out
                    });
                }
            }
        }
        let mut records = Vec::new();
        let deadline = until.max(Instant::now()) + self.drain;
        loop {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(Ok(mut r))) => records.append(&mut r),
                Ok(Some(Err(_))) => {} // a request task panicked: nothing recorded
                Ok(None) => break,
                Err(_) => {
                    // Past the drain: what still runs is unfinished.
                    let unfinished = tasks.len();
                    tasks.abort_all();
                    let at = until - self.start;
                    records.extend(
                        (0..unfinished).map(|_| (at, self.drain, Some("unfinished".to_owned()))),
                    );
                    break;
                }
            }
        }
        records.sort_by_key(|r| r.0);
        records
    }

    /// The next open-loop request, ready to spawn.
    fn one<Req>(&mut self) -> impl std::future::Future<Output = Record> + Send + 'static
    where
        S: Target<Req>,
        Req: Send + 'static,
        R: MakeRequest<Req>,
        J: Judge<S::Response>,
    {
        let req = (self.request)(self.sent);
        self.sent += 1;
        let (system, served, start) = (self.system.clone(), self.served.clone(), self.start);
        async move { call(system, req, &*served, start).await }
    }
}

/// One request through `system`: when it was sent, how long it took, and
/// why it was not served (`None`: served).
async fn call<S, Req, J>(mut system: S, req: Req, served: &J, start: Instant) -> Record
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
    J: Fn(&Result<S::Response, BoxError>) -> bool,
{
    let sent = Instant::now();
    let ready: Result<(), BoxError> = std::future::poll_fn(|cx| system.poll_ready(cx))
        .await
        .map_err(Into::into);
    let result = match ready {
        Ok(()) => system.call(req).await.map_err(Into::into),
        Err(e) => Err(e),
    };
    let latency = sent.elapsed();
    let why = if served(&result) {
        None
    } else {
        Some(match &result {
            Ok(_) => "response".to_owned(),
            Err(e) => {
                rejection(e).map_or_else(|| "error".to_owned(), |r| format!("{:?}", r.kind()))
            }
        })
    };
    (sent - start, latency, why)
}

/// The SLIs of a stretch's records.
fn stats_of(records: &[Record]) -> Stats {
    let mut stats = Stats {
        requests: records.len() as u64,
        ..Stats::default()
    };
    for (_, latency, why) in records {
        stats.latencies.push(*latency);
        match why {
            None => stats.successes += 1,
            Some(why) => *stats.errors.entry(why.clone()).or_insert(0) += 1,
        }
    }
    stats.latencies.sort();
    stats
}

impl fmt::Debug for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Experiment")
            .field("title", &self.title)
            .field("phases", &self.phases)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for ExperimentBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.experiment.fmt(f)
    }
}
