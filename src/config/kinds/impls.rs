//! Each kind of instance a file configures: its section, how it is built
//! and checked, and how a change is put in force.

use super::{Kind, Shared};
use crate::adaptive::{
    AdaptiveLimiter, AdaptiveLimiterBuilder, AdaptiveThrottle, AdaptiveThrottleBuilder,
};
use crate::bulkhead::{Bulkhead, BulkheadBuilder, KeyedBulkhead};
use crate::chaos::{Chaos, ChaosBuilder};
use crate::circuit_breaker::{self, CircuitBreaker, KeyedCircuitBreaker};
use crate::config::patterns::{
    AdaptiveLimiterConfig, BulkheadConfig, ChaosConfig, CircuitBreakerConfig, HedgeConfig,
    KeyedBulkheadConfig, KeyedCircuitBreakerConfig, KeyedRateLimiterConfig, LoadShedderConfig,
    OutlierDetectionConfig, RateLimiterConfig, RetryConfig, SloConfig, ThrottleConfig,
    TimeoutConfig,
};
use crate::config::{SeawallConfig, Section};
use crate::error::ConfigError;
use crate::failover::OutlierSettings;
use crate::hedge::{Hedge, HedgeBuilder};
use crate::load_shed::{LoadShedder, LoadShedderBuilder};
use crate::rate_limit::{KeyedRateLimiter, LimitParams, RateLimiter};
use crate::retry::{Retry, RetryBuilder};
use crate::slo::{Slo, SloBuilder};
use crate::telemetry::{reconfigured, Pattern};
use crate::timeout::{Fixed, TimeoutLayer};
use std::time::Duration;

/// The section accessors and the merge every kind shares.
macro_rules! section {
    ($field:ident) => {
        const SECTION: &'static str = stringify!($field);
        fn section(c: &SeawallConfig) -> &Section<Self::Config> {
            &c.$field
        }
        fn section_mut(c: &mut SeawallConfig) -> &mut Section<Self::Config> {
            &mut c.$field
        }
        fn merged(defaults: &Self::Config, own: &Self::Config) -> Self::Config {
            defaults.merged(own)
        }
    };
}

/// A kind whose running instance takes a whole builder: `check(&b)`
/// says whether it may, `put(&b)` puts it in force.
macro_rules! builder_kind {
    ($kind:ty, $config:ty, $builder:ty, $pattern:expr, $section:ident) => {
        impl Kind for $kind {
            type Config = $config;
            type Checked = $builder;
            const PATTERN: Pattern = $pattern;
            section!($section);

            fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
                c.builder(name)?.validate()
            }

            fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
                c.builder(name)?
                    .telemetry(&shared.clock, &shared.listeners)
                    .build()
            }

            fn check(
                &self,
                _: &Self::Config,
                next: &Self::Config,
                name: &str,
            ) -> Result<Self::Checked, ConfigError> {
                let b = next.builder(name)?;
                <$kind>::check(self, &b)?;
                Ok(b)
            }

            fn put(&self, checked: Self::Checked, _: &Shared, _: &str) {
                <$kind>::put(self, &checked);
            }
        }
    };
}

builder_kind!(
    Bulkhead,
    BulkheadConfig,
    BulkheadBuilder,
    Pattern::Bulkhead,
    bulkheads
);
builder_kind!(
    LoadShedder,
    LoadShedderConfig,
    LoadShedderBuilder,
    Pattern::LoadShedder,
    load_shedders
);
builder_kind!(Chaos, ChaosConfig, ChaosBuilder, Pattern::Chaos, chaos);
builder_kind!(Slo, SloConfig, SloBuilder, Pattern::Slo, slos);

impl Kind for CircuitBreaker {
    type Config = CircuitBreakerConfig;
    type Checked = circuit_breaker::Config;
    const PATTERN: Pattern = Pattern::CircuitBreaker;
    section!(circuit_breakers);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name)?.validate().map(drop)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name)?
            .telemetry(&shared.clock, &shared.listeners)
            .build()
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        self.checked(&next.builder(name)?)
    }

    fn put(&self, checked: Self::Checked, _: &Shared, _: &str) {
        CircuitBreaker::put(self, checked);
    }
}

impl Kind for RateLimiter {
    type Config = RateLimiterConfig;
    type Checked = (LimitParams, Duration);
    const PATTERN: Pattern = Pattern::RateLimiter;
    section!(rate_limiters);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name)?.checked().map(drop)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name)?
            .telemetry(&shared.clock, &shared.listeners)
            .build()
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        self.checked(&next.builder(name)?)
    }

    fn put(&self, (params, max_wait): Self::Checked, _: &Shared, _: &str) {
        RateLimiter::put(self, params, max_wait);
    }
}

impl Kind for TimeoutLayer<Fixed> {
    type Config = TimeoutConfig;
    type Checked = Duration;
    const PATTERN: Pattern = Pattern::Timeout;
    section!(timeouts);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name)?.validate().map(drop)
    }

    fn build(c: &Self::Config, name: &str, _: &Shared) -> Result<Self, ConfigError> {
        c.builder(name)?.build()
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        next.builder(name)?.validate()
    }

    /// A timeout has no listeners of its own: the registry's hear of it.
    fn put(&self, d: Duration, shared: &Shared, name: &str) {
        if let Some(kind) = reconfigured("duration", TimeoutLayer::put(self, d), d) {
            shared.emit(Pattern::Timeout, name, kind);
        }
    }
}

impl Kind for AdaptiveLimiter {
    type Config = AdaptiveLimiterConfig;
    type Checked = AdaptiveLimiterBuilder;
    const PATTERN: Pattern = Pattern::AdaptiveLimiter;
    section!(adaptive_limiters);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name, true)?.validate()
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name, true)?
            .telemetry(&shared.clock, &shared.listeners)
            .build()
    }

    /// The algorithm is replaced (and its estimates restarted) only when
    /// its own settings changed.
    fn check(
        &self,
        now: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        let b = next.builder(name, now.algorithm_differs(next))?;
        AdaptiveLimiter::check(self, &b)?;
        Ok(b)
    }

    fn put(&self, checked: Self::Checked, _: &Shared, _: &str) {
        AdaptiveLimiter::put(self, checked);
    }
}

impl Kind for Retry {
    type Config = RetryConfig;
    /// The new waits and attempts, and the budget's settings if they changed.
    type Checked = (RetryBuilder, Option<(f64, u32, u32)>);
    const PATTERN: Pattern = Pattern::Retry;
    section!(retries);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        RetryConfig::validate(&c.builder(name, &Default::default())?)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name, &shared.clock)?
            .telemetry(&shared.clock, &shared.listeners)
            .build()
    }

    /// The budget is this retry's own: its settings change in place.
    fn check(
        &self,
        now: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        let b = next.builder(name, &Default::default())?;
        RetryConfig::validate(&b)?;
        let budget = (now.budget() != next.budget()).then(|| next.budget());
        Ok((b, budget))
    }

    fn put(&self, (b, budget): Self::Checked, _: &Shared, name: &str) {
        Retry::put(self, &b);
        if let (Some((ratio, floor, max)), Some(own)) = (budget, self.budget()) {
            // Checked when the builder made a budget of these settings.
            let _ = own.reconfigure(name, ratio, floor, max);
        }
    }
}

impl Kind for KeyedRateLimiter<String> {
    type Config = KeyedRateLimiterConfig;
    type Checked = (LimitParams, Duration);
    const PATTERN: Pattern = Pattern::RateLimiter;
    section!(keyed_rate_limiters);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        let b = c.builder(name)?;
        if b.keys() == 0 {
            return Err(ConfigError::new(
                &name.into(),
                "max_keys",
                "must be at least 1, got 0",
            ));
        }
        b.checked().map(drop)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name)?
            .telemetry(&shared.clock, &shared.listeners)
            .build_keyed()
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        self.checked(&next.builder(name)?)
    }

    fn put(&self, (params, max_wait): Self::Checked, _: &Shared, _: &str) {
        KeyedRateLimiter::put(self, params, max_wait);
    }
}

impl Kind for AdaptiveThrottle {
    type Config = ThrottleConfig;
    type Checked = AdaptiveThrottleBuilder;
    const PATTERN: Pattern = Pattern::Throttle;
    section!(throttles);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name)?.validate().map(drop)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name)?.clock(shared.clock.clone()).build()
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        let b = next.builder(name)?;
        AdaptiveThrottle::check(self, &b)?;
        Ok(b)
    }

    /// A throttle has no listeners of its own: the registry's hear of it.
    fn put(&self, b: Self::Checked, shared: &Shared, name: &str) {
        for kind in AdaptiveThrottle::put(self, &b) {
            shared.emit(Pattern::Throttle, name, kind);
        }
    }
}

impl Kind for Hedge {
    type Config = HedgeConfig;
    /// The new settings, and the budget's if they changed.
    type Checked = (HedgeBuilder, Option<(f64, u32, u32)>);
    const PATTERN: Pattern = Pattern::Hedge;
    section!(hedges);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        c.builder(name, &Default::default())?.validate()
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        c.builder(name, &shared.clock)?
            .telemetry(&shared.clock, &shared.listeners)
            .build()
    }

    /// The budget is this hedge's own: its settings change in place.
    fn check(
        &self,
        now: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        let b = next.builder(name, &Default::default())?;
        Hedge::check(self, &b)?;
        let budget = (now.budget() != next.budget()).then(|| next.budget());
        Ok((b, budget))
    }

    fn put(&self, (b, budget): Self::Checked, _: &Shared, name: &str) {
        Hedge::put(self, &b);
        if let (Some((ratio, floor, max)), Some(own)) = (budget, self.budget()) {
            // Checked when the builder made a budget of these settings.
            let _ = own.reconfigure(name, ratio, floor, max);
        }
    }
}

impl Kind for KeyedCircuitBreaker<String> {
    type Config = KeyedCircuitBreakerConfig;
    type Checked = circuit_breaker::Config;
    const PATTERN: Pattern = Pattern::CircuitBreaker;
    section!(keyed_circuit_breakers);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        if c.keys() == 0 {
            return Err(ConfigError::new(
                &name.into(),
                "max_keys",
                "must be at least 1, got 0",
            ));
        }
        c.breaker.builder(name)?.validate().map(drop)
    }

    fn build(c: &Self::Config, name: &str, shared: &Shared) -> Result<Self, ConfigError> {
        (c.breaker.builder(name)?)
            .telemetry(&shared.clock, &shared.listeners)
            .build_keyed(c.keys())
    }

    fn check(
        &self,
        now: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        if now.keys() != next.keys() {
            return Err(ConfigError::new(
                &name.into(),
                "max_keys",
                "cannot change while the breaker runs; build a new one",
            ));
        }
        self.checked(&next.breaker.builder(name)?)
    }

    fn put(&self, checked: Self::Checked, _: &Shared, _: &str) {
        KeyedCircuitBreaker::put(self, checked);
    }
}

impl Kind for KeyedBulkhead<String> {
    type Config = KeyedBulkheadConfig;
    type Checked = usize;
    const PATTERN: Pattern = Pattern::Bulkhead;
    section!(keyed_bulkheads);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        let (per_key, keys) = c.limits();
        KeyedBulkhead::<String>::new(name, per_key, keys).map(drop)
    }

    fn build(c: &Self::Config, name: &str, _: &Shared) -> Result<Self, ConfigError> {
        let (per_key, keys) = c.limits();
        KeyedBulkhead::new(name, per_key, keys)
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        Self::validate(next, name)?;
        let (per_key, keys) = next.limits();
        if keys != self.max_keys() {
            return Err(ConfigError::new(
                &name.into(),
                "max_keys",
                "cannot change while the bulkhead runs; build a new one",
            ));
        }
        Ok(per_key)
    }

    /// A keyed bulkhead has no listeners of its own: the registry's hear of it.
    fn put(&self, per_key: usize, shared: &Shared, name: &str) {
        if let Some(kind) = reconfigured(
            "max_concurrent_calls",
            KeyedBulkhead::put(self, per_key),
            per_key,
        ) {
            shared.emit(Pattern::Bulkhead, name, kind);
        }
    }
}

impl Kind for OutlierSettings {
    type Config = OutlierDetectionConfig;
    type Checked = crate::failover::OutlierDetection;
    const PATTERN: Pattern = Pattern::Failover;
    section!(outlier_detections);

    fn validate(c: &Self::Config, name: &str) -> Result<(), ConfigError> {
        OutlierSettings::new(name, c.settings()).map(drop)
    }

    fn build(c: &Self::Config, name: &str, _: &Shared) -> Result<Self, ConfigError> {
        OutlierSettings::new(name, c.settings())
    }

    fn check(
        &self,
        _: &Self::Config,
        next: &Self::Config,
        name: &str,
    ) -> Result<Self::Checked, ConfigError> {
        Self::validate(next, name)?;
        Ok(next.settings())
    }

    /// Outlier settings have no listeners of their own: the registry's
    /// hear of each one that changed.
    fn put(&self, next: Self::Checked, shared: &Shared, name: &str) {
        let old = OutlierSettings::put(self, next.clone());
        let (old, next) = (format!("{old:?}"), format!("{next:?}"));
        if let Some(kind) = reconfigured("outlier_detection", old, next) {
            shared.emit(Pattern::Failover, name, kind);
        }
    }
}
