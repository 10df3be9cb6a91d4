//! A guide to seawall, in the order a service meets it: one circuit
//! breaker, then every pattern around a client call and the standard
//! stack that puts them in order, then servers, then the SRE layer (chaos
//! experiments, SLOs, health), then fleet-wide limits and configuration
//! files, and last, testing code that uses seawall. Every chapter's code
//! compiles and runs as a doc test (`cargo test --doc`).
//!
//! 1. [`one_breaker`] — a breaker as a primitive and a layer, what it
//!    counts, what it rejects with, how to watch it.
//! 2. [`client_calls`] — rate limits, bulkheads, timeouts and deadlines,
//!    fallbacks and the degradation switch, retries, hedging, failover,
//!    client-side throttling; then the standard stack, its HTTP and gRPC
//!    presets, reqwest and tonic.
//! 3. [`servers`] — protecting a server: the server preset on axum,
//!    adaptive concurrency, load shedding by priority.
//! 4. [`sre`] — fault injection and chaos experiments, SLOs and burn-rate
//!    alerts, health and escalation, the metric catalogue, events.
//! 5. [`fleet_and_config`] — one rate limit for a whole fleet on Redis;
//!    configuration files, a registry and live reload.
//! 6. [`testing`] — time you control, faults you choose.
//!
//! What each layer costs, measured against the bare service and the crates
//! people use today, is in `benches/README.md`.
//!
//! ## Coming from another library
//!
//! The same ideas under seawall's names (a builder's setters are named as
//! resilience4j names its settings, in snake case):
//!
//! | seawall | resilience4j | Polly v8 | tower / tower-resilience | governor |
//! |---|---|---|---|---|
//! | `CircuitBreaker::builder(name)` | `CircuitBreaker`, `CircuitBreakerConfig` | `AddCircuitBreaker` | tower-resilience `CircuitBreakerLayer` | — |
//! | `failure_rate_threshold(50.0)` (percent) | `failureRateThreshold` | `FailureRatio` (0–1) | — | — |
//! | `minimum_number_of_calls` | `minimumNumberOfCalls` | `MinimumThroughput` | — | — |
//! | `SlidingWindow::count(n)` / `::time(d)` | `slidingWindowType`, `slidingWindowSize` | `SamplingDuration` | — | — |
//! | `wait_duration_in_open_state` | `waitDurationInOpenState` | `BreakDuration` | — | — |
//! | `RateLimiter::builder(name).rate(n, per).burst(b)` | `RateLimiter` (`limitForPeriod`, `limitRefreshPeriod`) | `AddRateLimiter` | tower `RateLimit`; tower-resilience `RateLimiterLayer` | `RateLimiter::direct(Quota::..)` |
//! | `KeyedRateLimiter` | — | `PartitionedRateLimiter` | — | `RateLimiter::keyed` |
//! | `Bulkhead` (`max_concurrent_calls`, `max_wait`) | `Bulkhead` (`maxConcurrentCalls`, `maxWaitDuration`) | `AddConcurrencyLimiter` | tower `ConcurrencyLimit`, `GlobalConcurrencyLimit` | — |
//! | `Timeout::builder(name).duration(d)` | `TimeLimiter` (`timeoutDuration`) | `AddTimeout` | tower `Timeout`; tower-resilience `TimeLimiterLayer` | — |
//! | `Retry` (`max_attempts`, `Backoff`, `Jitter`, `RetryBudget`) | `Retry` (`maxAttempts`, `IntervalFunction`) | `AddRetry` (`MaxRetryAttempts`, `BackoffType`, `UseJitter`) | tower `Retry` + `Policy`, `TpsBudget` | — |
//! | `Fallback::builder(name)` | `Decorators::withFallback` | `AddFallback` | — | — |
//! | `Hedge` | — | `AddHedging` | tower `Hedge` | — |
//! | `Chaos`, `Latency`, `chaos::experiment` | — | Simmy (`AddChaosFault`, `AddChaosLatency`) | tower-resilience `ChaosLayer` | — |
//! | `AdaptiveLimiter` (AIMD, Vegas, Gradient2) | — | — | tower-resilience `AdaptiveLimiterLayer` | — |
//! | `LoadShedder` | — | — | tower `LoadShed` | — |
//! | `on_event`, `EventKind::event_name` | `getEventPublisher()` | `OnOpened`, `OnRetry`, telemetry | — | — |
//! | `config::Registry`, `SeawallConfig` | Spring Boot `resilience4j.*` properties, registries | options from configuration | — | — |

#[doc = include_str!("one_breaker.md")]
pub mod one_breaker {}

#[doc = include_str!("client_calls.md")]
pub mod client_calls {}

#[doc = include_str!("servers.md")]
pub mod servers {}

#[doc = include_str!("sre.md")]
pub mod sre {}

#[doc = include_str!("fleet_and_config.md")]
pub mod fleet_and_config {}

#[doc = include_str!("testing.md")]
pub mod testing {}
