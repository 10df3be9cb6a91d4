//! What a gRPC server tells health checkers (feature `grpc-health`): the
//! standard health service (`tonic-health`) reporting `NOT_SERVING` while
//! the server sheds load or a dependency it cannot work without is down.

use crate::bulkhead::Bulkhead;
use crate::circuit_breaker::{CircuitBreaker, CircuitState};
use std::fmt;
use std::time::Duration;
use tokio::task::JoinHandle;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

type Signal = Box<dyn FnMut() -> bool + Send>;

/// Watches seawall's instances and reports a service's health through
/// `tonic-health`: `NOT_SERVING` while any signal says so, `SERVING`
/// otherwise. So a load balancer or Kubernetes probe using the standard
/// gRPC health protocol stops sending to a replica that is shedding load or
/// whose critical dependency is down, and sends again once it recovers.
///
/// Signals, read every [`period`](Self::period) (1 s unless set):
/// - [`dependency`](Self::dependency): a breaker is open (or forced open);
/// - [`shedding`](Self::shedding): a bulkhead refused a call since the last
///   reading;
/// - [`registry`](Self::registry): a [`HealthRegistry`](crate::health::HealthRegistry)
///   is not ready;
/// - [`when`](Self::when): any test of your own.
///
/// ```no_run
/// use seawall::grpc::HealthWatch;
/// use seawall::stack::Stack;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let preset = Stack::grpc_server("inventory")?;
/// let (reporter, health_service) = tonic_health::server::health_reporter();
/// let database = seawall::CircuitBreaker::builder("database").build()?;
/// HealthWatch::new()
///     .shedding(preset.bulkhead_layer().handle())
///     .dependency(&database)
///     .report(reporter, "inventory.Inventory")
///     .await;
/// // Server::builder().layer(preset).add_service(health_service).add_service(..)
/// # let _ = health_service; Ok(()) }
/// ```
pub struct HealthWatch {
    signals: Vec<Signal>,
    registries: Vec<crate::health::HealthRegistry>,
    period: Duration,
}

impl HealthWatch {
    /// A watch with no signals (always `SERVING`), read every second.
    pub fn new() -> Self {
        Self {
            signals: Vec::new(),
            registries: Vec::new(),
            period: Duration::from_secs(1),
        }
    }

    /// How often the signals are read (and so how long a shedding episode
    /// keeps the service `NOT_SERVING` at least). Zero is read as 1 ms.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period.max(Duration::from_millis(1));
        self
    }

    /// `NOT_SERVING` while `breaker` is open or forced open: the
    /// dependency it guards is down, and this service cannot work without
    /// it. (Half-open is serving: the breaker is probing.)
    pub fn dependency<C: Clone + Send + Sync + 'static>(self, breaker: &CircuitBreaker<C>) -> Self {
        let breaker = breaker.clone();
        self.when(move || {
            matches!(
                breaker.state(),
                CircuitState::Open | CircuitState::ForcedOpen
            )
        })
    }

    /// `NOT_SERVING` for a period after `bulkhead` refused a call: the
    /// server is shedding load.
    pub fn shedding(self, bulkhead: &Bulkhead) -> Self {
        let bulkhead = bulkhead.clone();
        let mut seen = bulkhead.metrics().rejected_calls;
        self.when(move || {
            let rejected = bulkhead.metrics().rejected_calls;
            std::mem::replace(&mut seen, rejected) != rejected
        })
    }

    /// `NOT_SERVING` while `registry` is not ready: the watch asks it for
    /// a report every period, so the gRPC health service follows the same
    /// readiness as `/health/ready`.
    pub fn registry(mut self, registry: &crate::health::HealthRegistry) -> Self {
        let r = registry.clone();
        self.registries.push(registry.clone());
        self.when(move || !r.last_ready())
    }

    /// `NOT_SERVING` while `down()` says so.
    pub fn when(mut self, down: impl FnMut() -> bool + Send + 'static) -> Self {
        self.signals.push(Box::new(down));
        self
    }

    /// Reads every signal once: `SERVING` when none is down.
    pub fn read(&mut self) -> ServingStatus {
        // Every signal is read, so each keeps its own state current.
        let down = self.signals.iter_mut().fold(false, |down, s| s() | down);
        if down {
            ServingStatus::NotServing
        } else {
            ServingStatus::Serving
        }
    }

    /// Reports `service`'s status through `reporter`: once before it
    /// returns (so the service is registered with the health service), then
    /// after every period on a task of the current tokio runtime, until the
    /// handle is aborted. Only changes are sent, so watchers of the health
    /// service see each transition once.
    pub async fn report(
        mut self,
        reporter: HealthReporter,
        service: impl Into<String>,
    ) -> JoinHandle<()> {
        let service = service.into();
        for r in &self.registries {
            r.report().await;
        }
        let mut last = self.read();
        reporter.set_service_status(&service, last).await;
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await; // the first tick is now: already read
            loop {
                ticks.tick().await;
                for r in &self.registries {
                    r.report().await;
                }
                let status = self.read();
                if status != last {
                    reporter.set_service_status(&service, status).await;
                    last = status;
                }
            }
        })
    }
}

impl Default for HealthWatch {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HealthWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthWatch")
            .field("signals", &self.signals.len())
            .field("period", &self.period)
            .finish()
    }
}
