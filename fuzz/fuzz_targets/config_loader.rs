//! The configuration loaders: any text in any format is a config or a
//! `ConfigError`, never a panic; a config that loads is valid, so it
//! builds a registry and reloads onto it (a change of nothing); and what
//! loads survives its own TOML (written out and read back, it is the same
//! config).
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall::config::{Registry, SeawallConfig};

fuzz_target!(|input: (u8, &str)| {
    let (format, text) = input;
    let loaded = match format % 3 {
        0 => SeawallConfig::from_toml(text),
        1 => SeawallConfig::from_yaml(text),
        _ => SeawallConfig::from_json(text),
    };
    let Ok(config) = loaded else {
        return;
    };
    let registry = Registry::from_config(&config).expect("a loaded config is valid");
    let report = registry.reload(&config).expect("and reloads");
    assert!(report.is_empty(), "{report:?}");
    // Percentages and durations from any format read back alike (NaN
    // percentages aside: NaN is not equal to itself).
    let toml = config.to_toml().expect("a loaded config writes out");
    let again = SeawallConfig::from_toml(&toml).expect("its own TOML loads");
    let nan = format!("{config:?}").contains("NaN");
    assert!(nan || again == config, "{config:?}\n{again:?}");
});
