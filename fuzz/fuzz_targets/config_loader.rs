//! The configuration loaders: any text in any format is a config or a
//! `ConfigError`, never a panic; a config that loads builds a registry or
//! names an instance and a field; and what loads survives its own TOML
//! (written out and read back, it is the same config).
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
    if let Err(e) = Registry::from_config(&config) {
        assert!(!e.instance().is_empty() && !e.field().is_empty(), "{e}");
    }
    // Percentages and durations from any format read back alike (NaN
    // percentages aside: NaN is not equal to itself).
    let toml = config.to_toml().expect("a loaded config writes out");
    let again = SeawallConfig::from_toml(&toml).expect("its own TOML loads");
    let nan = format!("{config:?}").contains("NaN");
    assert!(nan || again == config, "{config:?}\n{again:?}");
});
