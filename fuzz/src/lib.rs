//! What the fuzz targets share.

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use std::time::Duration;

/// Any `Duration`, up to `Duration::MAX`.
#[derive(Debug, Arbitrary)]
pub struct Span(u64, u32);

impl Span {
    /// The duration.
    pub fn get(&self) -> Duration {
        Duration::new(self.0, self.1 % 1_000_000_000)
    }
}

/// A refused configuration names the instance, the field and the bound.
pub fn check_config_error(e: &seawall::ConfigError, instance: &str) {
    assert_eq!(e.instance(), instance);
    assert!(!e.field().is_empty() && !e.message().is_empty(), "{e}");
}
